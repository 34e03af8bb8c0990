//! A load client for short-lived connections: each connection sends a request, shuts down
//! writing, reads the answer to the end (an echo server answers and closes), and closes.
//! Prints connections per second and latency percentiles. Runs on either stack through
//! `ringtcp::net` (`RINGTCP_STACK=kernel` or `ringtcp`, the default).
//!
//! Run: `churn <target> [seconds] [concurrency] [request bytes]`, e.g. against the echo
//! example from the kernel side: `RINGTCP_STACK=kernel cargo run --release -p
//! ringtcp-examples --bin churn -- 10.77.0.2:7 5 32`.
//!
//! On the kernel stack the client closes first, so each connection leaves a full
//! TIME-WAIT socket in the client's kernel; once thousands pile up, every connect pays a
//! long ephemeral-port search (Linux reuses TIME-WAIT ports for non-loopback peers only
//! with `net.ipv4.tcp_tw_reuse=1`). Measured here: 5.8k conn/s with a 26 ms p90 after
//! ~16k connections, 14k conn/s and a 5 ms p90 with `tcp_tw_reuse=1`. Set it on the client
//! side for long runs, or the client, not the server, is what gets measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ringtcp::net::TcpStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn one(target: &str, request: &[u8]) -> std::io::Result<Duration> {
    let start = Instant::now();
    let mut s = TcpStream::connect(target).await?;
    s.write_all(request).await?;
    s.shutdown().await?;
    let mut answer = Vec::with_capacity(request.len());
    s.read_to_end(&mut answer).await?;
    if answer.len() != request.len() {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("got {} of {} bytes back", answer.len(), request.len())));
    }
    Ok(start.elapsed())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(target) = args.get(1).cloned() else {
        eprintln!("usage: churn <target addr:port> [seconds] [concurrency] [request bytes]");
        std::process::exit(2);
    };
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let concurrency: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(32);
    let size: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(64);
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (target, stop, errors) = (target.clone(), stop.clone(), errors.clone());
            tokio::spawn(async move {
                let request = vec![b'x'; size];
                let mut lat = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match one(&target, &request).await {
                        Ok(d) => lat.push(d),
                        Err(e) => {
                            if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                                eprintln!("churn: {e}");
                            }
                        }
                    }
                }
                lat
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap_or_default());
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| lat.get(((lat.len().max(1) - 1) as f64 * p) as usize).copied().unwrap_or_default();
    println!(
        "churn: {} connections in {elapsed:.1} s = {:.0} conn/s ({:?} stack, concurrency {concurrency}, {size} B requests)",
        lat.len(),
        lat.len() as f64 / elapsed,
        ringtcp::net::backend()
    );
    println!("latency: p50 {:?}  p90 {:?}  p99 {:?}  max {:?}", pct(0.5), pct(0.9), pct(0.99), pct(1.0));
    println!("errors: {}", errors.load(Ordering::Relaxed));
    if errors.load(Ordering::Relaxed) > 0 {
        std::process::exit(1);
    }
}
