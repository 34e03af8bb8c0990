//! The bytes the FIN cache reports are the bytes it holds, as the allocator sees them.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ringtcp_transport::fincache::{FinCache, FinCacheConfig, MslClass, TwKey, TwState};
use ringtcp_transport::{Instant, SeqNum};

struct Counting;

thread_local! {
    // Per thread: the test harness's own thread allocates while a test runs (seen once in
    // 300 runs on a loaded machine: 900 bytes more than the cache holds), and only the
    // test's thread touches the cache. No destructor, so reachable from the allocator at
    // any time.
    static LIVE_BYTES: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    LIVE_BYTES.set(LIVE_BYTES.get() + delta);
}

// SAFETY: every call forwards to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count(l.size() as isize);
        // SAFETY: same layout, forwarded.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        count(-(l.size() as isize));
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        count(new as isize - l.size() as isize);
        // SAFETY: forwarded as given.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peers of both families: every fourth record is IPv6.
fn peer(i: u32) -> IpAddr {
    if i % 4 == 0 {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, (i >> 16) as u16, 1))
    } else {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + (i >> 16)))
    }
}

#[test]
fn reported_bytes_equal_allocated_bytes() {
    // The hasher's process-wide seed is allocated on first use: take it before measuring.
    drop(FinCache::new(FinCacheConfig::default()));
    let cfg = FinCacheConfig { capacity: 1 << 17, ..FinCacheConfig::default() };
    let before = LIVE_BYTES.get();
    let mut fc = FinCache::new(cfg);
    for i in 0..100_000u32 {
        let key = TwKey { local_idx: 0, local_port: 80, remote_ip: peer(i), remote_port: i as u16 };
        let class = MslClass::ALL[(i % 3) as usize];
        let t = Instant::from_millis(u64::from(i / 100));
        fc.insert(t, key, TwState { snd_nxt: SeqNum(i), rcv_nxt: SeqNum(i), ts_recent: Some(i), class });
    }
    // Expire some, so spare chunks and trimmed time runs are part of what is counted.
    while fc.expire(Instant::from_millis(2_500)) {}
    let held = LIVE_BYTES.get() - before;
    assert_eq!(fc.memory() as isize, held, "reported {} vs allocated {held}", fc.memory());
    assert_eq!(fc.stats().bytes as isize, held);
    drop(fc);
    assert_eq!(LIVE_BYTES.get(), before, "everything given back");
}
