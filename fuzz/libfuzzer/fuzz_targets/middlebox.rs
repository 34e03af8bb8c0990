//! libFuzzer entry point for `ringtcp_fuzz::middlebox`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringtcp_fuzz::middlebox::run(data));
