//! Short-connection churn over the in-memory link (2 shards each side, 16 connections in
//! flight), first with no `tracing` subscriber, then with a `fmt` subscriber at INFO
//! writing to a sink. At INFO the `lock_wait` spans (INFO) are live and the per-connection
//! spans (DEBUG) are off, as in a production service. A global subscriber cannot be
//! removed, so they run in that order, with a second run without a subscriber in between
//! to show the drift between two runs of the same thing; compare the medians.
//!
//! Run: `cargo bench -p ringtcp-benches --bench tracing_overhead`

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ringtcp::{Stack, TcpListener};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing_subscriber::layer::SubscriberExt;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 2);
const IN_FLIGHT: u64 = 16;

fn serve(listener: TcpListener) {
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut req = [0u8; 64];
                if s.read_exact(&mut req).await.is_ok() {
                    let _ = s.write_all(&req).await;
                }
            });
        }
    });
}

/// `n` connections (connect, 64 B each way, server closes), `IN_FLIGHT` at a time.
async fn churn(client: &Stack, n: u64) -> Duration {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..IN_FLIGHT {
        let client = client.clone();
        let share = n / IN_FLIGHT + u64::from(k < n % IN_FLIGHT);
        tasks.push(tokio::spawn(async move {
            for _ in 0..share {
                let mut c = client.connect((SERVER, 80)).await.expect("connect");
                c.write_all(&[1u8; 64]).await.expect("write");
                let mut resp = [0u8; 64];
                c.read_exact(&mut resp).await.expect("read");
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (client, server) = Stack::builder().shards(2).memory_pair(CLIENT, SERVER).unwrap();
    rt.block_on(async { serve(server.bind((SERVER, 80)).await.unwrap()) });

    let mut g = c.benchmark_group("churn_tracing");
    g.throughput(criterion::Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("no_subscriber", |b| b.iter_custom(|n| rt.block_on(churn(&client, n))));
    // The same again: how far the stack drifts between two runs of one configuration
    // (FIN cache filling, machine noise), the yardstick for the difference below.
    g.bench_function("no_subscriber_again", |b| b.iter_custom(|n| rt.block_on(churn(&client, n))));
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink))
        .with(tracing_subscriber::filter::LevelFilter::INFO);
    tracing::subscriber::set_global_default(subscriber).unwrap();
    g.bench_function("info_subscriber", |b| b.iter_custom(|n| rt.block_on(churn(&client, n))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
