//! The peers the FIN-cache benchmarks use (criterion's `fincache` and `fincache_compare`):
//! 1,000,000 by default (`FINCACHE_RECORDS` to change it), numbered, as IPv4 addresses and
//! the same numbering in an IPv6 /64.

use std::net::{Ipv4Addr, Ipv6Addr};

use ringtcp_transport::fincache::{FinCache, FinCacheConfig, MslClass, TwKey, TwState};
use ringtcp_transport::{Instant, SeqNum};

/// Records held: 1,000,000, or `FINCACHE_RECORDS` (to see how the figures move once the
/// working set outgrows the last-level cache).
pub fn records() -> u32 {
    static N: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *N.get_or_init(|| std::env::var("FINCACHE_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000).clamp(1000, 4_000_000))
}

/// Peer `i` over IPv4: 16,384 ports on each of 10.0.0.0/8's first addresses.
pub fn key4(i: u32) -> TwKey {
    TwKey { local_idx: 0, local_port: 443, remote_ip: Ipv4Addr::from(0x0a00_0000 | (i >> 14)).into(), remote_port: 1024 + (i & 0x3fff) as u16 }
}

/// Peer `i` over IPv6: the same numbering in a /64 (SLAAC-like interface ids).
pub fn key6(i: u32) -> TwKey {
    let ip = Ipv6Addr::from((0x2001_0db8_0000_0001u128 << 64) | (u128::from(i >> 14) * 0x0201_5aff_fe00_0001));
    TwKey { remote_ip: ip.into(), ..key4(i) }
}

/// The TIME-WAIT state stored for peer `i`.
pub fn state(i: u32) -> TwState {
    TwState { snd_nxt: SeqNum(i), rcv_nxt: SeqNum(!i), ts_recent: Some(i), class: MslClass::Remote }
}

/// A cheap permutation of the peers, so lookups jump around the table as real traffic
/// would.
pub fn scatter(n: u64) -> u32 {
    ((n.wrapping_mul(2_654_435_761)) % u64::from(records())) as u32
}

/// A cache of `capacity` records holding peers `0..records()`, inserted a microsecond
/// apart, then settled.
pub fn filled(key: impl Fn(u32) -> TwKey, capacity: usize) -> FinCache {
    let mut fc = FinCache::new(FinCacheConfig { capacity, ..FinCacheConfig::default() });
    for i in 0..records() {
        fc.insert(Instant::from_micros(u64::from(i)), key(i), state(i));
    }
    settle(&mut fc, Instant::from_micros(u64::from(records())));
    fc
}

/// Runs the cache's housekeeping at `now` until none is left, as a shard's timer path
/// does between packets: an index that grew during a fill finishes moving its entries
/// (within milliseconds on a shard), so what is measured next is the steady state.
pub fn settle(fc: &mut FinCache, now: Instant) {
    while fc.expire(now) {}
}
