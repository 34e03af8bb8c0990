//! libFuzzer entry point for `ringtcp_fuzz::link`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringtcp_fuzz::link::run(data));
