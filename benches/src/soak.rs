//! The soak: short connections, bulk transfers and HTTP (axum) at once between two stacks
//! joined by the in-memory link through the impairment layer (loss, duplication,
//! reordering, delay), for a set time. It samples the process's memory and the stacks'
//! counters as it goes, checks every byte that comes back, and at the end lets everything
//! close and expire and checks that no connection and no TIME-WAIT record is left.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ringtcp::Stack;
use ringtcp::transport::Config;
use ringtcp::transport::fincache::FinCacheConfig;
use ringtcp_runtime::impair::{ImpairConfig, Impairment};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 2);
/// Longest any one operation may take before it counts as an error.
const OP_TIMEOUT: Duration = Duration::from_secs(60);

/// What to run and for how long.
#[derive(Clone, Debug)]
pub struct SoakConfig {
    /// How long the load runs.
    pub duration: Duration,
    /// How often memory and counters are sampled.
    pub sample_every: Duration,
    /// Samples before this are warm-up (not part of the flatness check).
    pub warm_up: Duration,
    /// Tasks running short connections (64 bytes each way, the server closes).
    pub churn: usize,
    /// Tasks running bulk transfers (echoed and checked byte for byte).
    pub bulk: usize,
    /// Bytes per bulk transfer.
    pub bulk_bytes: usize,
    /// Tasks making HTTP requests to an axum app (keep-alive, 10 per connection).
    pub http: usize,
    /// The impairment both ways.
    pub impair: Impairment,
    /// What becomes of freed memory (`StackBuilder::freed_memory`).
    pub freed_memory: ringtcp::FreedMemory,
}

impl SoakConfig {
    /// The CI mode: 20 seconds.
    pub fn short() -> SoakConfig {
        SoakConfig {
            duration: Duration::from_secs(20),
            sample_every: Duration::from_secs(1),
            warm_up: Duration::from_secs(8),
            churn: 8,
            bulk: 2,
            bulk_bytes: 1 << 20,
            http: 4,
            impair: Impairment {
                loss: 0.01,
                duplicate: 0.005,
                reorder: 0.01,
                reorder_delay: Duration::from_millis(2),
                delay: Duration::from_micros(200),
                jitter: Duration::from_micros(100),
            },
            freed_memory: ringtcp::FreedMemory::default(),
        }
    }
}

/// One sample.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Since the start.
    pub at: Duration,
    /// Resident memory of the process.
    pub rss: u64,
    /// Bytes the program holds allocated, as the allocator counts them (glibc's
    /// `mallinfo2`; 0 elsewhere): unlike `rss`, without what the allocator keeps free
    /// after the program freed it (and without code and stacks).
    pub heap_in_use: u64,
    /// Live connections on both stacks.
    pub connections: usize,
    /// TIME-WAIT records on both stacks.
    pub records: usize,
    /// Buffer bytes both stacks count.
    pub buffer_memory: usize,
    /// Bytes both stacks' FIN caches hold (records, spare chunks, indexes).
    pub fin_cache_bytes: u64,
    /// Bytes of the process's buffer pool (chunks in buffers or free for reuse).
    pub pool_bytes: usize,
    /// Operations completed so far.
    pub ops: u64,
}

/// What a soak found.
#[derive(Debug, Default)]
pub struct SoakReport {
    /// Samples, in time order.
    pub samples: Vec<Sample>,
    /// Short connections completed.
    pub churned: u64,
    /// Bulk bytes echoed and checked.
    pub bulk_bytes: u64,
    /// HTTP responses received and checked.
    pub http_responses: u64,
    /// Every error, with what it hit.
    pub errors: Vec<String>,
    /// Connections left once everything closed (should be none).
    pub leaked_connections: usize,
    /// TIME-WAIT records left once their time passed (should be none).
    pub leaked_records: usize,
    /// Packets the impairment layer and the stacks retransmitted, for the record.
    pub retransmissions: u64,
    /// What the two stacks' allocator trimming did, summed.
    pub allocator_trims: ringtcp_runtime::allocator_trim::TrimStats,
}

impl SoakReport {
    /// Largest resident memory after the warm-up, relative to the first sample after it
    /// (0.05 is 5 % above).
    pub fn rss_growth(&self, warm_up: Duration) -> f64 {
        let after: Vec<&Sample> = self.samples.iter().filter(|s| s.at >= warm_up).collect();
        let Some(first) = after.first() else { return 0.0 };
        let max = after.iter().map(|s| s.rss).max().unwrap_or(first.rss);
        (max as f64 - first.rss as f64) / first.rss.max(1) as f64
    }

    /// The trend under the load's ups and downs: the median resident memory of the last
    /// `window` of the run relative to that of the first `window` after the warm-up
    /// (0.05 is 5 % above). For the record beside [`rss_growth`](Self::rss_growth),
    /// whose single first sample moves with whatever the load held at that moment.
    pub fn rss_trend(&self, warm_up: Duration, window: Duration) -> f64 {
        let Some(end) = self.samples.last().map(|s| s.at) else { return 0.0 };
        let median = |from: Duration, to: Duration| {
            let mut v: Vec<u64> = self.samples.iter().filter(|s| s.at >= from && s.at <= to).map(|s| s.rss).collect();
            v.sort_unstable();
            v.get(v.len() / 2).copied()
        };
        match (median(warm_up, warm_up + window), median(end.saturating_sub(window), end)) {
            (Some(a), Some(b)) => (b as f64 - a as f64) / a.max(1) as f64,
            _ => 0.0,
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn heap_in_use() -> u64 {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let m = unsafe { libc::mallinfo2() };
    (m.uordblks + m.hblkhd) as u64
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn heap_in_use() -> u64 {
    0
}

fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn pattern(stream: u64, offset: usize) -> u8 {
    ((offset as u64).wrapping_mul(31).wrapping_add(stream.wrapping_mul(17)) % 251) as u8
}

struct Shared {
    stop: AtomicBool,
    ops: AtomicU64,
    churned: AtomicU64,
    bulk: AtomicU64,
    http: AtomicU64,
    errors: std::sync::Mutex<Vec<String>>,
}

impl Shared {
    fn error(&self, what: String) {
        self.errors.lock().expect("errors").push(what);
    }
}

async fn timed<T>(what: &str, f: impl Future<Output = std::io::Result<T>>) -> Result<T, String> {
    match tokio::time::timeout(OP_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no progress for {OP_TIMEOUT:?}")),
    }
}

async fn churn_task(client: Stack, sh: Arc<Shared>) {
    while !sh.stop.load(Ordering::Relaxed) {
        let r = timed("churn", async {
            let mut c = client.connect((SERVER, 80)).await?;
            c.write_all(&[7u8; 64]).await?;
            let mut back = [0u8; 64];
            c.read_exact(&mut back).await?;
            if back != [7u8; 64] {
                return Err(std::io::Error::other("wrong echo"));
            }
            Ok(())
        })
        .await;
        match r {
            Ok(()) => {
                sh.churned.fetch_add(1, Ordering::Relaxed);
                sh.ops.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => sh.error(e),
        }
    }
}

async fn bulk_task(client: Stack, sh: Arc<Shared>, id: u64, bytes: usize) {
    let mut round = 0u64;
    while !sh.stop.load(Ordering::Relaxed) {
        let stream = id << 32 | round;
        round += 1;
        let r = timed("bulk", async {
            let c = client.connect((SERVER, 81)).await?;
            let (mut r, mut w) = c.into_split();
            let writer = tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut sent = 0;
                while sent < bytes {
                    let n = buf.len().min(bytes - sent);
                    for (i, b) in buf[..n].iter_mut().enumerate() {
                        *b = pattern(stream, sent + i);
                    }
                    w.write_all(&buf[..n]).await?;
                    sent += n;
                }
                w.shutdown().await
            });
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = 0;
            loop {
                let n = r.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                if buf[..n].iter().enumerate().any(|(i, &b)| b != pattern(stream, got + i)) {
                    return Err(std::io::Error::other(format!("corrupt echo near offset {got}")));
                }
                got += n;
            }
            writer.await.map_err(std::io::Error::other)??;
            if got != bytes {
                return Err(std::io::Error::other(format!("echo ended after {got} of {bytes} bytes")));
            }
            Ok(got)
        })
        .await;
        match r {
            Ok(n) => {
                sh.bulk.fetch_add(n as u64, Ordering::Relaxed);
                sh.ops.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => sh.error(e),
        }
    }
}

async fn http_task(client: Stack, sh: Arc<Shared>) {
    while !sh.stop.load(Ordering::Relaxed) {
        let r = timed("http", async {
            let mut c = client.connect((SERVER, 82)).await?;
            let mut n = 0;
            for _ in 0..10 {
                c.write_all(b"GET /hello HTTP/1.1\r\nHost: soak\r\n\r\n").await?;
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if c.read(&mut byte).await? == 0 {
                        return Err(std::io::Error::other("connection closed mid-response"));
                    }
                    head.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
                if !text.starts_with("http/1.1 200") {
                    return Err(std::io::Error::other(format!("status: {}", text.lines().next().unwrap_or(""))));
                }
                let len: usize = text
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or_else(|| std::io::Error::other("no content-length"))?;
                let mut body = vec![0u8; len];
                c.read_exact(&mut body).await?;
                if body != b"hello soak\n" {
                    return Err(std::io::Error::other("wrong body"));
                }
                n += 1;
            }
            Ok(n)
        })
        .await;
        match r {
            Ok(n) => {
                sh.http.fetch_add(n, Ordering::Relaxed);
                sh.ops.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => sh.error(e),
        }
    }
}

fn serve(server: &Stack) {
    let s = server.clone();
    tokio::spawn(async move {
        let l = s.bind((SERVER, 80)).await.expect("bind 80");
        crate::churn::serve_echo(l);
    });
    let s = server.clone();
    tokio::spawn(async move {
        let l = s.bind((SERVER, 81)).await.expect("bind 81");
        while let Ok((c, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = c.into_split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    let s = server.clone();
    tokio::spawn(async move {
        let l = s.bind((SERVER, 82)).await.expect("bind 82");
        let app = axum::Router::new().route("/hello", axum::routing::get(|| async { "hello soak\n" }));
        let _ = axum::serve(l, app).await;
    });
}

/// What both stacks hold and have done, summed over their shards.
#[derive(Default)]
struct Totals {
    connections: usize,
    records: usize,
    buffer_memory: usize,
    retransmissions: u64,
    fin_cache_bytes: u64,
}

fn stack_totals(stacks: &[&Stack]) -> Totals {
    let mut t = Totals::default();
    for s in stacks {
        if let Ok(st) = s.stats() {
            t.connections += st.shards.iter().map(|x| x.live_connections).sum::<usize>();
            t.records += st.shards.iter().map(|x| x.fin_cache.live.iter().sum::<u64>() as usize).sum::<usize>();
            t.buffer_memory += st.shards.iter().map(|x| x.buffer_memory).sum::<usize>();
            t.retransmissions += st.transport().tcp_retrans_segs;
            t.fin_cache_bytes += st.shards.iter().map(|x| x.fin_cache.bytes).sum::<u64>();
        }
    }
    t
}

/// Runs a soak; `progress` sees each sample as it is taken.
pub fn run(cfg: &SoakConfig, mut progress: impl FnMut(&Sample)) -> SoakReport {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    // TIME-WAIT of a second, so that the end-of-run check sees every record expire soon.
    let config = Config {
        fin_cache: FinCacheConfig { time_wait: [Duration::from_secs(1); 3], ..FinCacheConfig::default() },
        ..Config::default()
    };
    let (client, server) = Stack::builder()
        .shards(2)
        .config(config)
        .impair(ImpairConfig::symmetric(cfg.impair.clone(), 0x50a4))
        .freed_memory(cfg.freed_memory)
        .memory_pair(CLIENT, SERVER)
        .expect("in-memory stacks");
    let sh = Arc::new(Shared {
        stop: AtomicBool::new(false),
        ops: AtomicU64::new(0),
        churned: AtomicU64::new(0),
        bulk: AtomicU64::new(0),
        http: AtomicU64::new(0),
        errors: std::sync::Mutex::new(Vec::new()),
    });
    let mut report = SoakReport::default();
    let tasks = rt.block_on(async {
        serve(&server);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut tasks = Vec::new();
        for _ in 0..cfg.churn {
            tasks.push(tokio::spawn(churn_task(client.clone(), sh.clone())));
        }
        for id in 0..cfg.bulk {
            tasks.push(tokio::spawn(bulk_task(client.clone(), sh.clone(), id as u64, cfg.bulk_bytes)));
        }
        for _ in 0..cfg.http {
            tasks.push(tokio::spawn(http_task(client.clone(), sh.clone())));
        }
        tasks
    });
    let start = Instant::now();
    while start.elapsed() < cfg.duration {
        std::thread::sleep(cfg.sample_every.min(cfg.duration.saturating_sub(start.elapsed())).max(Duration::from_millis(10)));
        let t = stack_totals(&[&client, &server]);
        let s = Sample {
            at: start.elapsed(),
            rss: rss(),
            heap_in_use: heap_in_use(),
            connections: t.connections,
            records: t.records,
            buffer_memory: t.buffer_memory,
            fin_cache_bytes: t.fin_cache_bytes,
            pool_bytes: ringtcp::transport::buffer_pool::stats().allocated_bytes,
            ops: sh.ops.load(Ordering::Relaxed),
        };
        progress(&s);
        report.samples.push(s);
    }
    sh.stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for t in tasks {
            if let Err(e) = t.await {
                sh.error(format!("a load task panicked: {e}"));
            }
        }
    });
    // Everything the load opened closes; TIME-WAIT (1 s) expires; nothing must be left
    // but the listeners.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let t = stack_totals(&[&client, &server]);
        report.leaked_connections = t.connections;
        report.leaked_records = t.records;
        report.retransmissions = t.retransmissions;
        if (t.connections == 0 && t.records == 0) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    report.churned = sh.churned.load(Ordering::Relaxed);
    report.bulk_bytes = sh.bulk.load(Ordering::Relaxed);
    report.http_responses = sh.http.load(Ordering::Relaxed);
    report.errors = std::mem::take(&mut *sh.errors.lock().expect("errors"));
    for stack in [&client, &server] {
        if let Ok(t) = stack.stats().map(|s| s.allocator_trims) {
            report.allocator_trims.trims += t.trims;
            report.allocator_trims.released += t.released;
            report.allocator_trims.time += t.time;
        }
    }
    drop((client, server));
    drop(rt);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(rss_mib: &[u64]) -> SoakReport {
        let samples = rss_mib
            .iter()
            .enumerate()
            .map(|(i, &m)| Sample { at: Duration::from_secs(10 * (i as u64 + 1)), rss: m << 20, heap_in_use: 0, connections: 0, records: 0, buffer_memory: 0, fin_cache_bytes: 0, pool_bytes: 0, ops: 0 })
            .collect();
        SoakReport { samples, ..SoakReport::default() }
    }

    #[test]
    fn the_trend_sees_through_a_low_first_sample_and_still_sees_a_climb() {
        // Samples every 10 s from 10 s; the windows take four samples each.
        let warm_up = Duration::from_secs(30);
        let window = Duration::from_secs(30);
        // Warm-up, then a first sample that happened to be low, then flat at 100.
        let flat = report(&[50, 80, 90, 100, 101, 99, 100, 100, 101, 100, 99, 100]);
        assert!((flat.rss_growth(warm_up) - 101.0 / 90.0 + 1.0).abs() < 1e-9);
        assert!(flat.rss_trend(warm_up, window).abs() < 1e-9, "{}", flat.rss_trend(warm_up, window));
        // A steady climb of 2 a sample: medians 104 (of 100..106) and 116 (of 112..118).
        let climb = report(&[50, 80, 100, 102, 104, 106, 108, 110, 112, 114, 116, 118]);
        assert!((climb.rss_trend(warm_up, window) - (116.0 / 104.0 - 1.0)).abs() < 1e-9, "{}", climb.rss_trend(warm_up, window));
    }
}
