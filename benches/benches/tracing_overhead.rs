//! Short-connection churn over the in-memory link (2 shards each side, 16 connections in
//! flight), first with no `tracing` subscriber, then with a `fmt` subscriber at INFO
//! writing to a sink. At INFO the `lock_wait` spans (INFO) are live and the per-connection
//! spans (DEBUG) are off, as in a production service. A global subscriber cannot be
//! removed, so they run in that order, with a second run without a subscriber in between
//! to show the drift between two runs of the same thing; compare the medians.
//!
//! Run: `cargo bench -p ringtcp-benches --bench tracing_overhead`

use std::net::Ipv4Addr;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ringtcp::Stack;
use ringtcp_benches::churn::{churn, serve_echo};
use tracing_subscriber::layer::SubscriberExt;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 2);

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (client, server) = Stack::builder().shards(2).memory_pair(CLIENT, SERVER).unwrap();
    rt.block_on(async { serve_echo(server.bind((SERVER, 80)).await.unwrap()) });

    let mut g = c.benchmark_group("churn_tracing");
    g.throughput(criterion::Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("no_subscriber", |b| b.iter_custom(|n| rt.block_on(churn(&client, SERVER, n))));
    // The same again: how far the stack drifts between two runs of one configuration
    // (FIN cache filling, machine noise), the yardstick for the difference below.
    g.bench_function("no_subscriber_again", |b| b.iter_custom(|n| rt.block_on(churn(&client, SERVER, n))));
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink))
        .with(tracing_subscriber::filter::LevelFilter::INFO);
    tracing::subscriber::set_global_default(subscriber).unwrap();
    g.bench_function("info_subscriber", |b| b.iter_custom(|n| rt.block_on(churn(&client, SERVER, n))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
