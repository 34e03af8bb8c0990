//! `FreedMemory::Keep`: once a stack is built with it, a large buffer the process
//! freed comes back for the next one without page faults, where glibc's own thresholds
//! would first hand it to `mmap` and fault it in afresh. Its own test binary: the
//! allocator's thresholds are the process's, and the first half measures them untouched.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

use std::hint::black_box;
use std::net::Ipv4Addr;

use ringtcp_runtime::freed_memory::FreedMemory;
use ringtcp_runtime::stack::{PairLink, StackConfig};

/// Minor page faults of this thread so far.
fn minor_faults() -> u64 {
    // SAFETY: rusage is plain integers, for which all zeros is a value.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut u) }, 0);
    u.ru_minflt as u64
}

/// Allocates `bytes`, writes every page, frees it: what a buffer that grows to `bytes`
/// during a transfer and is freed after it does.
fn use_buffer(bytes: usize) {
    let mut v: Vec<u8> = Vec::with_capacity(bytes);
    for page in (0..bytes).step_by(4096) {
        v.spare_capacity_mut()[page].write(page as u8);
    }
    black_box(&v);
}

/// Page faults taken by the second of two buffers of `bytes` in a row.
fn faults_of_reuse(bytes: usize) -> u64 {
    use_buffer(bytes);
    let before = minor_faults();
    use_buffer(bytes);
    minor_faults() - before
}

#[test]
fn with_keep_a_freed_buffer_is_reused_without_page_faults() {
    // glibc untouched: a 24 MB block is mmapped and unmapped, and the next one, which
    // the raised threshold then puts on the heap, grows the heap and faults every page
    // (6,144 faults of 4 KB pages; at least one per 2 MB where transparent huge pages
    // back the heap).
    let untouched = faults_of_reuse(24 << 20);
    assert!(untouched >= 12, "glibc's defaults fault the second buffer in: {untouched} faults");

    let cfg = StackConfig { shards: 1, freed_memory: FreedMemory::Keep { bytes: 64 << 20 }, ..StackConfig::default() };
    let (_a, _b) = cfg.start_pair(Ipv4Addr::new(10, 59, 0, 1), Ipv4Addr::new(10, 59, 0, 2), PairLink::InProcess).expect("stacks");
    // A size glibc's thresholds have not grown to yet (they follow the largest block freed).
    let kept = faults_of_reuse(28 << 20);
    assert!(kept <= untouched / 8, "with Keep the freed 28 MB is reused as it is: {kept} faults (untouched glibc: {untouched})");
}
