//! FIN cache operations at 1,000,000 records: lookup hit, lookup miss, insert with room to
//! spare, and insert into a full cache (each insert also evicts the oldest: the steady
//! state of a busy server). Run for IPv4 peers (`fincache_1M`) and IPv6 peers
//! (`fincache_1M_v6`), side by side.
//!
//! Run: `cargo bench -p ringtcp-benches --bench fincache`.

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

use criterion::{Criterion, criterion_group, criterion_main};
use ringtcp_transport::fincache::{FinCache, FinCacheConfig, MslClass, TwKey, TwState};
use ringtcp_transport::{Instant, SeqNum};

const RECORDS: u32 = 1_000_000;

fn key4(i: u32) -> TwKey {
    TwKey { local_idx: 0, local_port: 443, remote_ip: Ipv4Addr::from(0x0a00_0000 | (i >> 14)).into(), remote_port: 1024 + (i & 0x3fff) as u16 }
}

/// The same 1,000,000 peers, numbered into an IPv6 /64 (SLAAC-like interface ids).
fn key6(i: u32) -> TwKey {
    let ip = Ipv6Addr::from((0x2001_0db8_0000_0001u128 << 64) | u128::from(i >> 14) * 0x0201_5aff_fe00_0001);
    TwKey { remote_ip: ip.into(), ..key4(i) }
}

fn state(i: u32) -> TwState {
    TwState { snd_nxt: SeqNum(i), rcv_nxt: SeqNum(!i), ts_recent: Some(i), class: MslClass::Remote }
}

fn filled(key: impl Fn(u32) -> TwKey) -> FinCache {
    let mut fc = FinCache::new(FinCacheConfig { capacity: RECORDS as usize, ..FinCacheConfig::default() });
    for i in 0..RECORDS {
        fc.insert(Instant::from_micros(u64::from(i)), key(i), state(i));
    }
    fc
}

/// A cheap permutation so lookups jump around the table as real traffic would.
fn scatter(n: u64) -> u32 {
    ((n.wrapping_mul(2_654_435_761)) % u64::from(RECORDS)) as u32
}

fn fincache(c: &mut Criterion) {
    family(c, "fincache_1M", key4);
    family(c, "fincache_1M_v6", key6);
}

/// One family's group. Generic over the key maker (not a `fn` pointer) so each group's
/// loop is compiled whole: with the key built behind an indirect call, the CPU could no
/// longer start one lookup's cache miss while the previous one waits, and a miss measured
/// 2.5 times slower.
fn family(c: &mut Criterion, name: &str, key: impl Fn(u32) -> TwKey + Copy) {
    let mut g = c.benchmark_group(name);
    let mut fc = filled(key);
    let mut n = 0u64;
    g.bench_function("lookup_hit", |b| {
        b.iter(|| {
            n += 1;
            let k = key(scatter(n));
            // Criterion black-boxes what the closure returns; wrapping the Option in
            // another black_box made the compiler store it piecewise and copy it back out
            // whole, a store-forwarding stall per lookup that no caller has.
            fc.get(black_box(&k)).expect("present")
        })
    });
    g.bench_function("lookup_miss", |b| {
        b.iter(|| {
            n += 1;
            let k = TwKey { local_port: 8443, ..key(scatter(n)) };
            assert!(black_box(fc.get(black_box(&k))).is_none());
        })
    });
    g.bench_function("insert", |b| {
        // Room for more: a cache of capacity 1,300,000 holding 1,000,000 records. Timed
        // inserts take it towards 1,250,000; then it is rebuilt (untimed) at a million.
        let build = || {
            let mut fc = FinCache::new(FinCacheConfig { capacity: 1_300_000, ..FinCacheConfig::default() });
            for i in 0..RECORDS {
                fc.insert(Instant::from_micros(u64::from(i)), key(i), state(i));
            }
            fc
        };
        let mut roomy = build();
        let mut fresh = RECORDS;
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            let mut done = 0;
            while done < iters {
                if roomy.len() >= RECORDS as usize * 5 / 4 {
                    roomy = build();
                    fresh = RECORDS;
                }
                let k = (iters - done).min(256) as u32;
                let start = std::time::Instant::now();
                for j in fresh..fresh + k {
                    roomy.insert(Instant::from_micros(u64::from(j)), key(j), state(j));
                }
                total += start.elapsed();
                fresh += k;
                done += u64::from(k);
            }
            total
        })
    });
    let mut next = RECORDS;
    g.bench_function("insert_evicting_oldest", |b| {
        b.iter(|| {
            next = next.wrapping_add(1);
            fc.insert(Instant::from_micros(u64::from(next)), key(next), state(next));
        })
    });
    assert_eq!(fc.len(), RECORDS as usize);
    g.finish();
}

criterion_group!(benches, fincache);
criterion_main!(benches);
