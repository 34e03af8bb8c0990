//! FIN cache operations at 1,000,000 records (`FINCACHE_RECORDS` to change it): lookup
//! hit, lookup miss, insert with room to spare, and insert into a full cache (each insert
//! also evicts the oldest: the steady state of a busy server). Each for IPv4 peers
//! (`.../v4`) and IPv6 peers (`.../v6`), back to back.
//!
//! Run: `cargo bench -p ringtcp-benches --bench fincache`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ringtcp_benches::fincache_keys::{filled, key4, key6, records, scatter, state};
use ringtcp_transport::Instant;
use ringtcp_transport::fincache::{FinCache, TwKey};

fn fincache(c: &mut Criterion) {
    let name = if records() == 1_000_000 { "fincache_1M".to_owned() } else { format!("fincache_{}", records()) };
    let mut g = c.benchmark_group(name);
    // Both caches filled up front, and each operation measured for IPv4 then IPv6 back to
    // back, so a change in the machine's load between the two families' runs (this is a
    // shared machine) lands on both alike.
    let mut fc4 = filled(key4, records() as usize);
    let mut fc6 = filled(key6, records() as usize);
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
        let build = || filled(key, records() as usize * 13 / 10);
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
