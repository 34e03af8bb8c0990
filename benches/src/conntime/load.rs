//! The open-loop load: connections started at a fixed offered rate, whatever the server's
//! answers do (a closed loop would slow down with the server and hide its stalls). Each
//! connection sends `GET /` with `Connection: close`, so the server closes first and
//! TIME-WAIT lives on the server, and reads the answer to its end.
//!
//! Connections come from many source addresses in turn. From one address the client's
//! ports (about 14,000 for `connect` on Linux 6) would cap the TIME-WAIT population the
//! server can hold: every new connection would take over a 4-tuple still in TIME-WAIT.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a run of the load did.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadResult {
    /// Connections started.
    pub started: u64,
    /// Connections that got a complete `200 OK`.
    pub ok: u64,
    /// Connections that failed (refused, reset, timed out, wrong answer).
    pub failed: u64,
    /// Starts that fell more than 10 ms behind their schedule (the generator could not
    /// keep the rate: the run's offered rate was lower than asked).
    pub late: u64,
}

/// How long one connection may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(5);

async fn one(from: Ipv4Addr, addr: SocketAddr) -> bool {
    let attempt = async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        // The port is chosen at connect, for the whole 4-tuple (IP_BIND_ADDRESS_NO_PORT),
        // not reserved at bind for the address alone.
        let on: libc::c_int = 1;
        // SAFETY: setting an int option on a socket we own.
        unsafe {
            libc::setsockopt(socket.as_raw_fd(), libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, (&raw const on).cast(), size_of::<libc::c_int>() as u32)
        };
        socket.bind(SocketAddr::from((from, 0)))?;
        let mut s = socket.connect(addr).await?;
        s.set_nodelay(true)?;
        s.write_all(b"GET / HTTP/1.1\r\nHost: conntime\r\nConnection: close\r\n\r\n").await?;
        let mut body = Vec::with_capacity(256);
        s.read_to_end(&mut body).await?;
        Ok::<bool, std::io::Error>(body.starts_with(b"HTTP/1.1 200"))
    };
    matches!(tokio::time::timeout(TIMEOUT, attempt).await, Ok(Ok(true)))
}

/// Offers `rate` connections a second to `addr` for `secs`, from `sources` in turn, in
/// the calling thread's network namespace (a runtime of two workers started here, so its
/// threads are in the same namespace), and waits for every connection to end.
pub fn offer(addr: SocketAddr, sources: &[Ipv4Addr], rate: u64, secs: f64) -> LoadResult {
    let sources = sources.to_vec();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("load runtime");
    rt.block_on(async move {
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let total = (rate as f64 * secs).round() as u64;
        let gap = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
        let start = tokio::time::Instant::now();
        let mut late = 0;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..total {
            let due = start + gap.mul_f64(i as f64);
            tokio::time::sleep_until(due).await;
            if tokio::time::Instant::now() > due + Duration::from_millis(10) {
                late += 1;
            }
            let (ok, failed) = (ok.clone(), failed.clone());
            let from = sources[i as usize % sources.len()];
            tasks.spawn(async move {
                if one(from, addr).await {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            });
            // Reap finished tasks as we go, so the set stays small.
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
        LoadResult { started: total, ok: ok.load(Ordering::Relaxed), failed: failed.load(Ordering::Relaxed), late }
    })
}
