//! FIN cache operations at 1,000,000 records (`FINCACHE_RECORDS` to change it): lookup
//! hit, lookup miss, insert with room to spare, and insert into a full cache (each insert
//! also evicts the oldest: the steady state of a busy server). Each for IPv4 peers
//! (`.../v4`) and IPv6 peers (`.../v6`), back to back.
//!
//! Run: `cargo bench -p ringtcp-benches --bench fincache`.

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

use criterion::{Criterion, criterion_group, criterion_main};
use ringtcp_transport::fincache::{FinCache, FinCacheConfig, MslClass, TwKey, TwState};
use ringtcp_transport::{Instant, SeqNum};

/// Records held: 1,000,000, or `FINCACHE_RECORDS` (to see how the figures move once the
/// working set outgrows the last-level cache).
fn records() -> u32 {
    static N: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *N.get_or_init(|| std::env::var("FINCACHE_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000).clamp(1000, 4_000_000))
}

fn key4(i: u32) -> TwKey {
    TwKey { local_idx: 0, local_port: 443, remote_ip: Ipv4Addr::from(0x0a00_0000 | (i >> 14)).into(), remote_port: 1024 + (i & 0x3fff) as u16 }
}

/// The same 1,000,000 peers, numbered into an IPv6 /64 (SLAAC-like interface ids).
fn key6(i: u32) -> TwKey {
    let ip = Ipv6Addr::from((0x2001_0db8_0000_0001u128 << 64) | (u128::from(i >> 14) * 0x0201_5aff_fe00_0001));
    TwKey { remote_ip: ip.into(), ..key4(i) }
}

fn state(i: u32) -> TwState {
    TwState { snd_nxt: SeqNum(i), rcv_nxt: SeqNum(!i), ts_recent: Some(i), class: MslClass::Remote }
}

fn filled(key: impl Fn(u32) -> TwKey) -> FinCache {
    let mut fc = FinCache::new(FinCacheConfig { capacity: records() as usize, ..FinCacheConfig::default() });
    for i in 0..records() {
        fc.insert(Instant::from_micros(u64::from(i)), key(i), state(i));
    }
    fc
}

/// A cheap permutation so lookups jump around the table as real traffic would.
fn scatter(n: u64) -> u32 {
    ((n.wrapping_mul(2_654_435_761)) % u64::from(records())) as u32
}

fn fincache(c: &mut Criterion) {
    let name = if records() == 1_000_000 { "fincache_1M".to_owned() } else { format!("fincache_{}", records()) };
    let mut g = c.benchmark_group(name);
    // Both caches filled up front, and each operation measured for IPv4 then IPv6 back to
    // back, so a change in the machine's load between the two families' runs (this is a
    // shared machine) lands on both alike.
    let mut fc4 = filled(key4);
    let mut fc6 = filled(key6);
    lookups(&mut g, "v4", &fc4, key4);
    lookups(&mut g, "v6", &fc6, key6);
    insert_with_room(&mut g, "v4", key4);
    insert_with_room(&mut g, "v6", key6);
    insert_evicting(&mut g, "v4", &mut fc4, key4);
    insert_evicting(&mut g, "v6", &mut fc6, key6);
    assert_eq!((fc4.len(), fc6.len()), (records() as usize, records() as usize));
    g.finish();
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

// The helpers are generic over the key maker (not a `fn` pointer) so each loop is compiled
// whole: with the key built behind an indirect call, the CPU could no longer start one
// lookup's cache miss while the previous one waits, and a miss measured 2.5 times slower.

/// `lookup_hit/<family>` and `lookup_miss/<family>`.
fn lookups(g: &mut Group<'_>, family: &str, fc: &FinCache, key: impl Fn(u32) -> TwKey + Copy) {
    let mut n = 0u64;
    g.bench_function(format!("lookup_hit/{family}"), |b| {
        b.iter(|| {
            n += 1;
            let k = key(scatter(n));
            // Criterion black-boxes what the closure returns; wrapping the Option in
            // another black_box made the compiler store it piecewise and copy it back out
            // whole, a store-forwarding stall per lookup that no caller has.
            fc.get(black_box(&k)).expect("present")
        })
    });
    g.bench_function(format!("lookup_miss/{family}"), |b| {
        b.iter(|| {
            n += 1;
            let k = TwKey { local_port: 8443, ..key(scatter(n)) };
            assert!(black_box(fc.get(black_box(&k))).is_none());
        })
    });
}

/// `insert/<family>`: room for more, a cache with capacity for 1.3 times the records it
/// holds. Timed inserts take it towards 1.25 times; then it is rebuilt (untimed).
fn insert_with_room(g: &mut Group<'_>, family: &str, key: impl Fn(u32) -> TwKey + Copy) {
    g.bench_function(format!("insert/{family}"), |b| {
        let build = || {
            let mut fc = FinCache::new(FinCacheConfig { capacity: records() as usize * 13 / 10, ..FinCacheConfig::default() });
            for i in 0..records() {
                fc.insert(Instant::from_micros(u64::from(i)), key(i), state(i));
            }
            fc
        };
        let mut roomy = build();
        let mut fresh = records();
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            let mut done = 0;
            while done < iters {
                if roomy.len() >= records() as usize * 5 / 4 {
                    roomy = build();
                    fresh = records();
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
}

/// `insert_evicting_oldest/<family>`: the full cache's steady state.
fn insert_evicting(g: &mut Group<'_>, family: &str, fc: &mut FinCache, key: impl Fn(u32) -> TwKey + Copy) {
    let mut next = records();
    g.bench_function(format!("insert_evicting_oldest/{family}"), |b| {
        b.iter(|| {
            next = next.wrapping_add(1);
            fc.insert(Instant::from_micros(u64::from(next)), key(next), state(next));
        })
    });
}

criterion_group!(benches, fincache);
criterion_main!(benches);
