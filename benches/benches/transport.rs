//! Criterion benchmarks of the transport core alone.
//!
//! - `rx_in_order/{64,1448}`: one in-order data segment on an established connection
//!   (the timed part is `Shard::handle_packet`; segments are built and the buffer drained
//!   outside it).
//! - `lifecycle/connect_64B_close`: handshake, 64-byte request, 64-byte response, server
//!   closes first, client closes, between two shards on one core.
//!
//! Run: `cargo bench -p ringtcp-benches --bench transport`.

use std::hint::black_box;
use std::time::{Duration, Instant as WallInstant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringtcp_benches::{Pair, Receiver};
use ringtcp_transport::Config;

fn rx_in_order(c: &mut Criterion) {
    let mut g = c.benchmark_group("rx_in_order");
    for size in [64usize, 1448] {
        g.throughput(Throughput::Elements(1));
        g.bench_function(size.to_string(), |b| {
            let mut r = Receiver::new();
            let payload = vec![0x5au8; size];
            let mut scratch = vec![0u8; 256 * 1024];
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let k = (iters - done).min(64);
                    let segs: Vec<Vec<u8>> = (0..k).map(|_| r.next_segment(&payload)).collect();
                    let start = WallInstant::now();
                    for s in &segs {
                        r.receive(black_box(s));
                    }
                    total += start.elapsed();
                    let got = r.drain(&mut scratch);
                    assert_eq!(got, k as usize * size, "every segment was taken in order");
                    done += k;
                }
                total
            });
        });
    }
    g.finish();
}

fn lifecycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("lifecycle");
    g.throughput(Throughput::Elements(1));
    g.bench_function("connect_64B_close", |b| {
        // TIME-WAIT of 20 ms of virtual time, with time advancing 20 µs per connection,
        // keeps about a thousand TIME-WAIT connections alive, as a busy server would.
        let mut cfg = Config::default();
        cfg.fin_cache.time_wait = [Duration::from_millis(20); 3];
        let mut pair = Pair::new(cfg);
        let req = [1u8; 64];
        let resp = [2u8; 64];
        let mut scratch = vec![0u8; 4096];
        b.iter(|| {
            let n = pair.lifecycle(black_box(&req), black_box(&resp), &mut scratch).expect("lifecycle");
            pair.advance(Duration::from_micros(20));
            n
        });
    });
    g.finish();
}

criterion_group!(benches, rx_in_order, lifecycle);
criterion_main!(benches);
