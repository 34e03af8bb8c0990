//! libFuzzer entry point for `ringtcp_fuzz::wire`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringtcp_fuzz::wire::run(data));
