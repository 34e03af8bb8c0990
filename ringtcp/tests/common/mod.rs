//! Shared test helpers: echo server and client, test data, and (from the runtime's
//! `testing` feature) test-made network namespaces.

#![allow(dead_code, unreachable_pub, unused_imports)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Deterministic test data.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| ((i * 13 + i / 509) as u8).wrapping_add(seed)).collect()
}

/// Echoes every connection back, then shuts down writing.
pub async fn echo_server(listener: ringtcp::TcpListener) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else { return };
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = s.shutdown().await;
        });
    }
}

/// A kernel-side client: sends `data`, half-closes, reads the answer to the end.
pub fn kernel_echo_client(addr: SocketAddr, data: Vec<u8>) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(30)).expect("kernel connect");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut r = s.try_clone().unwrap();
    let reader = std::thread::spawn(move || {
        let mut back = Vec::new();
        r.read_to_end(&mut back).expect("kernel read");
        back
    });
    s.write_all(&data).expect("kernel write");
    s.shutdown(Shutdown::Write).unwrap();
    reader.join().unwrap()
}

pub use ringtcp_runtime::testing::{Netns, privileged};
