//! libFuzzer entry point for `ringtcp_fuzz::script`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringtcp_fuzz::script::run(data));
