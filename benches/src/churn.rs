//! The short-connection churn the tracing benchmarks time: a stack's echo server and a
//! client that runs `n` connections (connect, 64 bytes each way, the server closes).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ringtcp::{Stack, TcpListener};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Connections in flight at once.
pub const IN_FLIGHT: u64 = 16;

/// Serves `listener` on the current runtime: each connection's 64-byte request is echoed,
/// then the connection is dropped (the server closes first).
pub fn serve_echo(listener: TcpListener) {
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

/// `n` connections from `client` to `server:80`, [`IN_FLIGHT`] at a time; the time they took.
pub async fn churn(client: &Stack, server: Ipv4Addr, n: u64) -> Duration {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..IN_FLIGHT {
        let client = client.clone();
        let share = n / IN_FLIGHT + u64::from(k < n % IN_FLIGHT);
        tasks.push(tokio::spawn(async move {
            for _ in 0..share {
                let mut c = client.connect((server, 80)).await.expect("connect");
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
