//! Short-lived connections per second, side by side in one run: ringtcp ↔ ringtcp over
//! the in-memory link, and tokio ↔ tokio over the kernel's loopback. Same client logic,
//! same concurrency: connect, write 64 bytes, read the 64-byte answer, the server closes
//! first, the client reads end of stream and closes.
//!
//! A third run puts ringtcp's client and server tasks on the shard threads themselves
//! (thread-per-core mode), a fourth does the same with 50 µs of busy polling before a
//! shard sleeps (`StackBuilder::busy_poll`; off by default). The ringtcp run is made over
//! IPv4 and over IPv6 between the same dual-stack pair, alternating (v4, v6, v4, v6), and
//! the kernel's over 127.0.0.1 and ::1.
//!
//! Run: `cargo run --release -p ringtcp-benches --bin churn_compare [seconds] [concurrency]`

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One client loop; a macro so both stacks run exactly the same code.
macro_rules! client_loop {
    ($connect:expr, $stop:expr, $done:expr) => {{
        let mut req = [0u8; 64];
        req[0] = 1;
        let mut resp = [0u8; 64];
        let mut lat = Vec::new();
        while !$stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            let mut s = match $connect.await {
                Ok(s) => s,
                Err(e) => panic!("connect failed: {e}"),
            };
            s.write_all(&req).await.expect("write");
            s.read_exact(&mut resp).await.expect("read");
            let mut rest = [0u8; 1];
            assert_eq!(s.read(&mut rest).await.expect("eof"), 0, "the server closes first");
            drop(s);
            lat.push(t.elapsed());
            $done.fetch_add(1, Ordering::Relaxed);
        }
        lat
    }};
}

macro_rules! server_loop {
    ($listener:expr) => {{
        loop {
            let Ok((mut s, _)) = $listener.accept().await else { break };
            tokio::spawn(async move {
                let mut req = [0u8; 64];
                if s.read_exact(&mut req).await.is_ok() {
                    let _ = s.write_all(&[2u8; 64]).await;
                }
                let _ = s.shutdown().await;
            });
        }
    }};
}

struct Result {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

fn summarize(done: u64, secs: f64, mut lat: Vec<Duration>) -> Result {
    lat.sort();
    let pct = |p: f64| lat.get(((lat.len().max(1) - 1) as f64 * p) as usize).copied().unwrap_or_default();
    Result { per_sec: done as f64 / secs, p50: pct(0.5), p99: pct(0.99) }
}

/// Runs `concurrency` client tasks for `secs` seconds and collects their latencies.
async fn drive(
    secs: u64,
    concurrency: usize,
    spawn: impl Fn(Arc<AtomicBool>, Arc<AtomicU64>) -> tokio::task::JoinHandle<Vec<Duration>>,
) -> Result {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency).map(|_| spawn(stop.clone(), done.clone())).collect();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("client task"));
    }
    summarize(done.load(Ordering::Relaxed), start.elapsed().as_secs_f64(), lat)
}

/// ringtcp ↔ ringtcp over the in-memory link; both stacks have an IPv4 and an IPv6
/// address, and the connections use IPv6 if `v6`.
async fn run_ringtcp(secs: u64, concurrency: usize, v6: bool) -> Result {
    let a: [IpAddr; 2] = [Ipv4Addr::new(10, 90, 0, 1).into(), Ipv6Addr::new(0xfd90, 0, 0, 0, 0, 0, 0, 1).into()];
    let b: [IpAddr; 2] = [Ipv4Addr::new(10, 90, 0, 2).into(), Ipv6Addr::new(0xfd90, 0, 0, 0, 0, 0, 0, 2).into()];
    let (client, server) = ringtcp::Stack::builder().shards(1).memory_pair_with(&a, &b).expect("in-memory stacks");
    let b = b[usize::from(v6)];
    let listener = server.bind((b, 80)).await.expect("bind");
    tokio::spawn(async move { server_loop!(listener) });
    drive(secs, concurrency, |stop, done| {
        let client = client.clone();
        tokio::spawn(async move { client_loop!(client.connect((b, 80)), stop, done) })
    })
    .await
}

/// The same on thread-per-core stacks: the server's accept loop and the client loops run
/// on the shard threads themselves (one shard per stack, so the two stacks' threads are
/// all there is, as the kernel's run has its two tokio workers).
async fn run_ringtcp_thread_per_core(secs: u64, concurrency: usize, busy_poll: Duration) -> Result {
    let a = Ipv4Addr::new(10, 91, 0, 1);
    let b = Ipv4Addr::new(10, 91, 0, 2);
    let (client, server) = ringtcp::Stack::builder()
        .shards(1)
        .thread_per_core(true)
        .busy_poll(busy_poll)
        .memory_pair(a, b)
        .expect("in-memory stacks");
    let listener = server.bind((b, 80)).await.expect("bind");
    server
        .spawn_on_shards(|_| {
            let listener = listener.try_clone();
            async move { server_loop!(listener) }
        })
        .expect("server task");
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let start = Instant::now();
    let tasks = client
        .spawn_on_shards(|_| {
            let (client, stop, done, tx) = (client.clone(), stop.clone(), done.clone(), tx.clone());
            async move {
                let loops: Vec<_> = (0..concurrency)
                    .map(|_| {
                        let (client, stop, done) = (client.clone(), stop.clone(), done.clone());
                        tokio::spawn(async move { client_loop!(client.connect((b, 80)), stop, done) })
                    })
                    .collect();
                for l in loops {
                    let _ = tx.send(l.await.expect("client task"));
                }
            }
        })
        .expect("client tasks");
    drop(tx);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    tasks.join().await.expect("client tasks finished");
    let elapsed = start.elapsed().as_secs_f64();
    let mut lat = Vec::new();
    while let Some(l) = rx.recv().await {
        lat.extend(l);
    }
    summarize(done.load(Ordering::Relaxed), elapsed, lat)
}

async fn run_kernel(secs: u64, concurrency: usize, v6: bool) -> Result {
    let listener = tokio::net::TcpListener::bind(if v6 { "[::1]:0" } else { "127.0.0.1:0" }).await.expect("bind");
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { server_loop!(listener) });
    drive(secs, concurrency, |stop, done| tokio::spawn(async move { client_loop!(tokio::net::TcpStream::connect(addr), stop, done) }))
        .await
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let concurrency: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(32);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let kernel = rt.block_on(run_kernel(secs, concurrency, false));
    let kernel6 = rt.block_on(run_kernel(secs, concurrency, true));
    // Alternated, so a drift in the machine's load falls on both families alike.
    let ring_a = rt.block_on(run_ringtcp(secs, concurrency, false));
    let ring6_a = rt.block_on(run_ringtcp(secs, concurrency, true));
    let ring_b = rt.block_on(run_ringtcp(secs, concurrency, false));
    let ring6_b = rt.block_on(run_ringtcp(secs, concurrency, true));
    let ring = if ring_a.per_sec >= ring_b.per_sec { ring_a } else { ring_b };
    let ring6 = if ring6_a.per_sec >= ring6_b.per_sec { ring6_a } else { ring6_b };
    let tpc = rt.block_on(run_ringtcp_thread_per_core(secs, concurrency, Duration::ZERO));
    let spin = Duration::from_micros(50);
    let tpc_spin = rt.block_on(run_ringtcp_thread_per_core(secs, concurrency, spin));
    let show = |name: &str, r: &Result| {
        println!("{name}: {:.0} conn/s, latency p50 {:?} p99 {:?}", r.per_sec, r.p50, r.p99);
    };
    println!("concurrency={concurrency} seconds={secs} (each)");
    show("tokio_kernel_loopback", &kernel);
    show("tokio_kernel_loopback_ipv6", &kernel6);
    show("ringtcp_memory_link (best of 2)", &ring);
    show("ringtcp_memory_link_ipv6 (best of 2)", &ring6);
    show("ringtcp_memory_link_thread_per_core", &tpc);
    show("ringtcp_memory_link_thread_per_core_busy_poll_50us", &tpc_spin);
    println!("ratio_ringtcp_over_kernel={:.2}", ring.per_sec / kernel.per_sec);
    println!("ratio_ringtcp_ipv6_over_ipv4={:.2}", ring6.per_sec / ring.per_sec);
    println!("ratio_kernel_ipv6_over_ipv4={:.2}", kernel6.per_sec / kernel.per_sec);
    println!("ratio_ringtcp_thread_per_core_over_kernel={:.2}", tpc.per_sec / kernel.per_sec);
    println!("ratio_ringtcp_thread_per_core_busy_poll_over_kernel={:.2}", tpc_spin.per_sec / kernel.per_sec);
}
