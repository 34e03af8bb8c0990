//! Shared test helpers: echo server and client, test data, and (from the runtime's
//! `testing` feature) test-made network namespaces.

#![allow(dead_code, unreachable_pub, unused_imports)]

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};

use ringtcp::Stack;
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

/// A kernel listener with a backlog of 1,024 (std's `bind` uses 128, which 500
/// simultaneous connects overflow: the kernel then falls back to SYN cookies).
pub fn kernel_listener(at: IpAddr, port: u16) -> std::net::TcpListener {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a descriptor owned here; each address outlives its
    // bind call.
    unsafe {
        let domain = if at.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
        let fd = libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let one: libc::c_int = 1;
        libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, (&one as *const libc::c_int).cast(), 4);
        let r = match at {
            IpAddr::V4(v4) => {
                let addr = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: port.to_be(),
                    sin_addr: libc::in_addr { s_addr: u32::from(v4).to_be() },
                    sin_zero: [0; 8],
                };
                libc::bind(fd, (&addr as *const libc::sockaddr_in).cast(), size_of::<libc::sockaddr_in>() as u32)
            }
            IpAddr::V6(v6) => {
                let addr = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: port.to_be(),
                    sin6_flowinfo: 0,
                    sin6_addr: libc::in6_addr { s6_addr: v6.octets() },
                    sin6_scope_id: 0,
                };
                libc::bind(fd, (&addr as *const libc::sockaddr_in6).cast(), size_of::<libc::sockaddr_in6>() as u32)
            }
        };
        assert_eq!(r, 0, "bind: {}", std::io::Error::last_os_error());
        assert_eq!(libc::listen(fd, 1024), 0, "listen: {}", std::io::Error::last_os_error());
        std::net::TcpListener::from_raw_fd(fd)
    }
}

/// A kernel echo server inside `ns`: every connection is echoed until EOF, then closed.
pub fn kernel_echo_server(ns: &Netns, at: IpAddr, port: u16) {
    let listener = ns.spawn(move || kernel_listener(at, port)).join().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { break };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = s.shutdown(Shutdown::Write);
            });
        }
    });
}

/// ringtcp client: sends `data`, half-closes, reads the echo to the end.
pub async fn ring_echo_client(stack: &Stack, addr: SocketAddr, data: Vec<u8>) -> Vec<u8> {
    echo_through(stack.connect(addr).await.expect("ringtcp connect"), data).await
}

/// Sends `data` on `c`, half-closes, reads the answer to the end (within a minute).
pub async fn echo_through(c: ringtcp::TcpStream, data: Vec<u8>) -> Vec<u8> {
    let (mut r, mut w) = c.into_split();
    let writer = tokio::spawn(async move {
        w.write_all(&data).await.unwrap();
        w.shutdown().await.unwrap();
        w
    });
    let mut back = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), r.read_to_end(&mut back)).await.expect("echo in time").unwrap();
    let _ = r.reunite(writer.await.unwrap());
    back
}

/// A kernel server for one connection: reads everything, sends it back reversed in 64 KiB
/// blocks, half-closes; the thread's result is the byte count and the peer's address.
pub fn kernel_reversing_server(listener: std::net::TcpListener) -> std::thread::JoinHandle<(usize, SocketAddr)> {
    std::thread::spawn(move || {
        let (mut s, peer) = listener.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        for chunk in got.chunks(65536).rev() {
            s.write_all(chunk).unwrap();
        }
        s.shutdown(Shutdown::Write).unwrap();
        (got.len(), peer)
    })
}

/// 10,000 sequential echo connections from ringtcp to `addr` (each asserted), then 500
/// at once; returns how many of the 500 failed or came back wrong.
pub async fn ring_short_connections(stack: &Stack, addr: SocketAddr) -> usize {
    for i in 0..10_000u32 {
        let back = ring_echo_client(stack, addr, i.to_be_bytes().to_vec()).await;
        assert_eq!(back, i.to_be_bytes(), "sequential connection {i}");
    }
    let tasks: Vec<_> = (0..500u32)
        .map(|i| {
            let stack = stack.clone();
            tokio::spawn(async move { ring_echo_client(&stack, addr, pattern(2000, i as u8)).await == pattern(2000, i as u8) })
        })
        .collect();
    let mut failed = 0;
    for t in tasks {
        if !matches!(t.await, Ok(true)) {
            failed += 1;
        }
    }
    failed
}

/// From inside `ns`: 10,000 sequential kernel connections to `addr`, each sending its
/// index and reading it back (asserted), then 500 at once echoing 3,000 bytes each.
pub fn kernel_short_connections(ns: &Netns, addr: SocketAddr) {
    ns.spawn(move || {
        for i in 0..10_000u32 {
            let msg = i.to_be_bytes();
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            s.write_all(&msg).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            let mut back = Vec::new();
            s.read_to_end(&mut back).unwrap();
            assert_eq!(back, msg, "connection {i}");
        }
    })
    .join()
    .expect("10,000 sequential connections from the kernel");
    let concurrent: Vec<_> = (0..500u32).map(|i| ns.spawn(move || kernel_echo_client(addr, pattern(3000, i as u8)) == pattern(3000, i as u8))).collect();
    for t in concurrent {
        assert!(t.join().unwrap(), "every concurrent connection from the kernel echoed intact");
    }
}

/// What [`kernel_reversing_server`] sends back for `data`.
pub fn reversed_blocks(data: &[u8]) -> Vec<u8> {
    data.chunks(65536).rev().flatten().copied().collect()
}

pub use ringtcp_runtime::testing::{Netns, VethPair, privileged, run_in};
