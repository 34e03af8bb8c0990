//! Runs a short-connection churn for a few seconds between two ringtcp stacks joined by an
//! in-memory link (no root needed), with a `tracing` subscriber that sums the `lock_wait`
//! spans it sees; then prints that summary, `Stack::stats()` of the server as a table, and
//! with `--prometheus`, the Prometheus text a metrics route would serve.
//!
//! ```text
//! cargo run --release -p ringtcp-examples --bin observe -- [seconds] [--prometheus]
//! ```

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringtcp::Stack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
const CONCURRENCY: usize = 32;

/// Lock waits seen by the subscriber: (spans, nanoseconds) per lock name.
#[derive(Default)]
struct LockWaits(Mutex<BTreeMap<String, (u64, u64)>>);

struct WaitFields {
    lock: String,
    wait_ns: u64,
}

impl Visit for WaitFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "lock" {
            self.lock = value.to_owned();
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "wait_ns" {
            self.wait_ns = value;
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

struct SumLockWaits(Arc<LockWaits>);

impl<S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>> Layer<S> for SumLockWaits {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        if attrs.metadata().target() == "ringtcp::lock" && attrs.metadata().name() == "lock_wait" {
            let mut f = WaitFields { lock: String::new(), wait_ns: 0 };
            attrs.record(&mut f);
            let mut sums = self.0.0.lock().unwrap_or_else(|p| p.into_inner());
            let e = sums.entry(f.lock).or_default();
            e.0 += 1;
            e.1 += f.wait_ns;
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let prometheus = args.iter().any(|a| a == "--prometheus");
    let seconds: u64 = match args.iter().find(|a| !a.starts_with("--")) {
        Some(s) => s.parse().map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{s:?} is not a number of seconds")))?,
        None => 3,
    };
    let waits = Arc::new(LockWaits::default());
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(SumLockWaits(waits.clone())))
        .map_err(|e| std::io::Error::other(e.to_string()))?;

    let (client, server) = Stack::builder().shards(2).memory_pair(CLIENT, SERVER)?;
    let listener = server.bind((SERVER, 8080)).await?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut b = [0u8; 64];
                if let Ok(n) = s.read(&mut b).await {
                    let _ = s.write_all(&b[..n]).await;
                }
            });
        }
    });

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, stop, done, failed) = (client.clone(), stop.clone(), done.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let ok = async {
                    let mut c = client.connect((SERVER, 8080)).await?;
                    c.write_all(b"ping").await?;
                    let mut b = [0u8; 4];
                    c.read_exact(&mut b).await?;
                    std::io::Result::Ok(())
                }
                .await;
                match ok {
                    Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!("{n} connections in {elapsed:.1} s ({:.0}/s), {} failed\n", n as f64 / elapsed, failed.load(Ordering::Relaxed));

    println!("lock_wait spans seen by the subscriber (waits of 1 µs or more):");
    println!("{:<16} {:>10} {:>14}", "lock", "spans", "total_wait_us");
    for (lock, (count, ns)) in waits.0.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        println!("{lock:<16} {count:>10} {:>14.1}", *ns as f64 / 1e3);
    }
    let stats = server.stats()?;
    println!("\nserver Stack::stats():\n{stats}");
    if prometheus {
        println!("{}", stats.to_prometheus());
    }
    Ok(())
}
