//! libFuzzer entry point for `ringtcp_fuzz::packet`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringtcp_fuzz::packet::run(data));
