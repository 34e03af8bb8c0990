//! An uncontended traced lock against the plain `std::sync::Mutex` it wraps, per
//! acquisition (issue 6's goal: under 2 ns added).
//!
//! Run: `cargo bench -p ringtcp-benches --bench lock`.

use std::hint::black_box;
use std::sync::Mutex;

use criterion::{Criterion, criterion_group, criterion_main};
use ringtcp_runtime::lock::{LockScope, LockStats, TracedMutex};

static STATS: LockStats = LockStats::new("bench", LockScope::Shard);

fn lock(c: &mut Criterion) {
    let mut g = c.benchmark_group("uncontended_lock");
    let plain = Mutex::new(0u64);
    g.bench_function("std_mutex", |b| {
        b.iter(|| {
            let mut v = black_box(&plain).lock().unwrap();
            *v += 1;
        })
    });
    let traced = TracedMutex::new(0u64, &STATS, 0);
    g.bench_function("traced_mutex", |b| {
        b.iter(|| {
            let mut v = black_box(&traced).lock();
            *v += 1;
        })
    });
    g.finish();
}

criterion_group!(benches, lock);
criterion_main!(benches);
