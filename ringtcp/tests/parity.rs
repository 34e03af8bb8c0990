//! tokio API parity, checked two ways. Below, one call of every public method of tokio's
//! `TcpStream`, `TcpListener`, `TcpSocket` and stream halves (tokio as locked in
//! Cargo.lock) is type-checked on ringtcp's types and on the `ringtcp::net` switch's: a
//! method missing or with another signature fails the build. The test at the end reads
//! tokio's own sources and fails if tokio has a method these calls do not cover, or if
//! `docs/tokio-parity.md` lists a method tokio lacks, misses one, or names a test that
//! does not exist or does not call it.
#![allow(dead_code, deprecated, unused_variables, unused_mut, clippy::let_underscore_future)]

use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::task::Context;

use bytes::BytesMut;
use tokio::io::{Interest, ReadBuf};

fn std_stream() -> std::net::TcpStream {
    unreachable!("type-checked only")
}

fn std_listener() -> std::net::TcpListener {
    unreachable!("type-checked only")
}

fn addr() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], 80))
}

/// One call of every tokio TCP method, on the types of the module named.
macro_rules! every_tcp_method {
    ($($p:ident)::+) => {
        use $($p)::+::{TcpListener, TcpSocket, TcpStream};
        use $($p)::+::tcp::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};

        async fn tcpstream_connect(s: TcpStream, cx: &mut Context<'_>) { let _ = TcpStream::connect("10.0.0.1:80").await; } // parity: TcpStream::connect
        async fn tcpstream_from_std(s: TcpStream, cx: &mut Context<'_>) { let _ = TcpStream::from_std(std_stream()); } // parity: TcpStream::from_std
        async fn tcpstream_into_std(s: TcpStream, cx: &mut Context<'_>) { let _ = s.into_std(); } // parity: TcpStream::into_std
        async fn tcpstream_local_addr(s: TcpStream, cx: &mut Context<'_>) { let _ = s.local_addr(); } // parity: TcpStream::local_addr
        async fn tcpstream_take_error(s: TcpStream, cx: &mut Context<'_>) { let _ = s.take_error(); } // parity: TcpStream::take_error
        async fn tcpstream_peer_addr(s: TcpStream, cx: &mut Context<'_>) { let _ = s.peer_addr(); } // parity: TcpStream::peer_addr
        async fn tcpstream_poll_peek(mut s: TcpStream, cx: &mut Context<'_>) { let _ = s.poll_peek(cx, &mut ReadBuf::new(&mut [0u8; 1])); } // parity: TcpStream::poll_peek
        async fn tcpstream_ready(s: TcpStream, cx: &mut Context<'_>) { let _ = s.ready(Interest::READABLE).await; } // parity: TcpStream::ready
        async fn tcpstream_readable(s: TcpStream, cx: &mut Context<'_>) { let _ = s.readable().await; } // parity: TcpStream::readable
        async fn tcpstream_poll_read_ready(s: TcpStream, cx: &mut Context<'_>) { let _ = s.poll_read_ready(cx); } // parity: TcpStream::poll_read_ready
        async fn tcpstream_try_read(s: TcpStream, cx: &mut Context<'_>) { let _ = s.try_read(&mut [0u8; 1]); } // parity: TcpStream::try_read
        async fn tcpstream_try_read_vectored(s: TcpStream, cx: &mut Context<'_>) { let _ = s.try_read_vectored(&mut [IoSliceMut::new(&mut [0u8; 1])]); } // parity: TcpStream::try_read_vectored
        async fn tcpstream_try_read_buf(s: TcpStream, cx: &mut Context<'_>) { let _ = s.try_read_buf(&mut BytesMut::new()); } // parity: TcpStream::try_read_buf
        async fn tcpstream_writable(s: TcpStream, cx: &mut Context<'_>) { let _ = s.writable().await; } // parity: TcpStream::writable
        async fn tcpstream_poll_write_ready(s: TcpStream, cx: &mut Context<'_>) { let _ = s.poll_write_ready(cx); } // parity: TcpStream::poll_write_ready
        async fn tcpstream_try_write(s: TcpStream, cx: &mut Context<'_>) { let _ = s.try_write(b"x"); } // parity: TcpStream::try_write
        async fn tcpstream_try_write_vectored(s: TcpStream, cx: &mut Context<'_>) { let _ = s.try_write_vectored(&[IoSlice::new(b"x")]); } // parity: TcpStream::try_write_vectored
        async fn tcpstream_try_io(s: TcpStream, cx: &mut Context<'_>) { let _ = s.try_io(Interest::READABLE, || Ok(())); } // parity: TcpStream::try_io
        async fn tcpstream_async_io(s: TcpStream, cx: &mut Context<'_>) { let _ = s.async_io(Interest::READABLE, || Ok(())).await; } // parity: TcpStream::async_io
        async fn tcpstream_peek(mut s: TcpStream, cx: &mut Context<'_>) { let _ = s.peek(&mut [0u8; 1]).await; } // parity: TcpStream::peek
        async fn tcpstream_nodelay(s: TcpStream, cx: &mut Context<'_>) { let _ = s.nodelay(); } // parity: TcpStream::nodelay
        async fn tcpstream_set_nodelay(s: TcpStream, cx: &mut Context<'_>) { let _ = s.set_nodelay(true); } // parity: TcpStream::set_nodelay
        async fn tcpstream_quickack(s: TcpStream, cx: &mut Context<'_>) { let _ = s.quickack(); } // parity: TcpStream::quickack
        async fn tcpstream_set_quickack(s: TcpStream, cx: &mut Context<'_>) { let _ = s.set_quickack(true); } // parity: TcpStream::set_quickack
        async fn tcpstream_linger(s: TcpStream, cx: &mut Context<'_>) { let _ = s.linger(); } // parity: TcpStream::linger
        async fn tcpstream_set_linger(s: TcpStream, cx: &mut Context<'_>) { let _ = s.set_linger(None); } // parity: TcpStream::set_linger
        async fn tcpstream_set_zero_linger(s: TcpStream, cx: &mut Context<'_>) { let _ = s.set_zero_linger(); } // parity: TcpStream::set_zero_linger
        async fn tcpstream_ttl(s: TcpStream, cx: &mut Context<'_>) { let _ = s.ttl(); } // parity: TcpStream::ttl
        async fn tcpstream_set_ttl(s: TcpStream, cx: &mut Context<'_>) { let _ = s.set_ttl(64); } // parity: TcpStream::set_ttl
        async fn tcpstream_split(mut s: TcpStream, cx: &mut Context<'_>) { let _ = s.split(); } // parity: TcpStream::split
        async fn tcpstream_into_split(s: TcpStream, cx: &mut Context<'_>) { let _ = s.into_split(); } // parity: TcpStream::into_split
        async fn tcplistener_bind(s: TcpListener, cx: &mut Context<'_>) { let _ = TcpListener::bind("10.0.0.1:80").await; } // parity: TcpListener::bind
        async fn tcplistener_accept(s: TcpListener, cx: &mut Context<'_>) { let _ = s.accept().await; } // parity: TcpListener::accept
        async fn tcplistener_poll_accept(s: TcpListener, cx: &mut Context<'_>) { let _ = s.poll_accept(cx); } // parity: TcpListener::poll_accept
        async fn tcplistener_from_std(s: TcpListener, cx: &mut Context<'_>) { let _ = TcpListener::from_std(std_listener()); } // parity: TcpListener::from_std
        async fn tcplistener_into_std(s: TcpListener, cx: &mut Context<'_>) { let _ = s.into_std(); } // parity: TcpListener::into_std
        async fn tcplistener_local_addr(s: TcpListener, cx: &mut Context<'_>) { let _ = s.local_addr(); } // parity: TcpListener::local_addr
        async fn tcplistener_ttl(s: TcpListener, cx: &mut Context<'_>) { let _ = s.ttl(); } // parity: TcpListener::ttl
        async fn tcplistener_set_ttl(s: TcpListener, cx: &mut Context<'_>) { let _ = s.set_ttl(64); } // parity: TcpListener::set_ttl
        async fn tcpsocket_new_v4(s: TcpSocket, cx: &mut Context<'_>) { let _ = TcpSocket::new_v4(); } // parity: TcpSocket::new_v4
        async fn tcpsocket_new_v6(s: TcpSocket, cx: &mut Context<'_>) { let _ = TcpSocket::new_v6(); } // parity: TcpSocket::new_v6
        async fn tcpsocket_set_keepalive(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.set_keepalive(true); } // parity: TcpSocket::set_keepalive
        async fn tcpsocket_keepalive(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.keepalive(); } // parity: TcpSocket::keepalive
        async fn tcpsocket_set_reuseaddr(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.set_reuseaddr(true); } // parity: TcpSocket::set_reuseaddr
        async fn tcpsocket_reuseaddr(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.reuseaddr(); } // parity: TcpSocket::reuseaddr
        async fn tcpsocket_set_reuseport(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.set_reuseport(true); } // parity: TcpSocket::set_reuseport
        async fn tcpsocket_reuseport(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.reuseport(); } // parity: TcpSocket::reuseport
        async fn tcpsocket_set_send_buffer_size(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.set_send_buffer_size(4096); } // parity: TcpSocket::set_send_buffer_size
        async fn tcpsocket_send_buffer_size(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.send_buffer_size(); } // parity: TcpSocket::send_buffer_size
        async fn tcpsocket_set_recv_buffer_size(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.set_recv_buffer_size(4096); } // parity: TcpSocket::set_recv_buffer_size
        async fn tcpsocket_recv_buffer_size(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.recv_buffer_size(); } // parity: TcpSocket::recv_buffer_size
        async fn tcpsocket_set_linger(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.set_linger(None); } // parity: TcpSocket::set_linger
        async fn tcpsocket_set_zero_linger(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.set_zero_linger(); } // parity: TcpSocket::set_zero_linger
        async fn tcpsocket_linger(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.linger(); } // parity: TcpSocket::linger
        async fn tcpsocket_set_nodelay(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.set_nodelay(true); } // parity: TcpSocket::set_nodelay
        async fn tcpsocket_nodelay(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.nodelay(); } // parity: TcpSocket::nodelay
        async fn tcpsocket_tclass_v6(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.tclass_v6(); } // parity: TcpSocket::tclass_v6
        async fn tcpsocket_set_tclass_v6(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.set_tclass_v6(0); } // parity: TcpSocket::set_tclass_v6
        async fn tcpsocket_tos_v4(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.tos_v4(); } // parity: TcpSocket::tos_v4
        async fn tcpsocket_tos(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.tos(); } // parity: TcpSocket::tos
        async fn tcpsocket_set_tos_v4(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.set_tos_v4(0); } // parity: TcpSocket::set_tos_v4
        async fn tcpsocket_set_tos(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.set_tos(0); } // parity: TcpSocket::set_tos
        async fn tcpsocket_device(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.device(); } // parity: TcpSocket::device
        async fn tcpsocket_bind_device(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.bind_device(None); } // parity: TcpSocket::bind_device
        async fn tcpsocket_local_addr(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.local_addr(); } // parity: TcpSocket::local_addr
        async fn tcpsocket_take_error(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.take_error(); } // parity: TcpSocket::take_error
        async fn tcpsocket_bind(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.bind(addr()); } // parity: TcpSocket::bind
        async fn tcpsocket_connect(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.connect(addr()).await; } // parity: TcpSocket::connect
        async fn tcpsocket_listen(s: TcpSocket, cx: &mut Context<'_>) { let _ = s.listen(128); } // parity: TcpSocket::listen
        async fn tcpsocket_from_std_stream(s: TcpSocket, cx: &mut Context<'_>) { let _ = TcpSocket::from_std_stream(std_stream()); } // parity: TcpSocket::from_std_stream
        async fn readhalf_poll_peek<'a>(mut s: ReadHalf<'a>, cx: &mut Context<'_>) { let _ = s.poll_peek(cx, &mut ReadBuf::new(&mut [0u8; 1])); } // parity: ReadHalf::poll_peek
        async fn readhalf_peek<'a>(mut s: ReadHalf<'a>, cx: &mut Context<'_>) { let _ = s.peek(&mut [0u8; 1]).await; } // parity: ReadHalf::peek
        async fn readhalf_ready<'a>(s: ReadHalf<'a>, cx: &mut Context<'_>) { let _ = s.ready(Interest::READABLE).await; } // parity: ReadHalf::ready
        async fn readhalf_readable<'a>(s: ReadHalf<'a>, cx: &mut Context<'_>) { let _ = s.readable().await; } // parity: ReadHalf::readable
        async fn readhalf_try_read<'a>(s: ReadHalf<'a>, cx: &mut Context<'_>) { let _ = s.try_read(&mut [0u8; 1]); } // parity: ReadHalf::try_read
        async fn readhalf_try_read_vectored<'a>(s: ReadHalf<'a>, cx: &mut Context<'_>) { let _ = s.try_read_vectored(&mut [IoSliceMut::new(&mut [0u8; 1])]); } // parity: ReadHalf::try_read_vectored
        async fn readhalf_try_read_buf<'a>(s: ReadHalf<'a>, cx: &mut Context<'_>) { let _ = s.try_read_buf(&mut BytesMut::new()); } // parity: ReadHalf::try_read_buf
        async fn readhalf_peer_addr<'a>(s: ReadHalf<'a>, cx: &mut Context<'_>) { let _ = s.peer_addr(); } // parity: ReadHalf::peer_addr
        async fn readhalf_local_addr<'a>(s: ReadHalf<'a>, cx: &mut Context<'_>) { let _ = s.local_addr(); } // parity: ReadHalf::local_addr
        async fn writehalf_ready<'a>(s: WriteHalf<'a>, cx: &mut Context<'_>) { let _ = s.ready(Interest::WRITABLE).await; } // parity: WriteHalf::ready
        async fn writehalf_writable<'a>(s: WriteHalf<'a>, cx: &mut Context<'_>) { let _ = s.writable().await; } // parity: WriteHalf::writable
        async fn writehalf_try_write<'a>(s: WriteHalf<'a>, cx: &mut Context<'_>) { let _ = s.try_write(b"x"); } // parity: WriteHalf::try_write
        async fn writehalf_try_write_vectored<'a>(s: WriteHalf<'a>, cx: &mut Context<'_>) { let _ = s.try_write_vectored(&[IoSlice::new(b"x")]); } // parity: WriteHalf::try_write_vectored
        async fn writehalf_peer_addr<'a>(s: WriteHalf<'a>, cx: &mut Context<'_>) { let _ = s.peer_addr(); } // parity: WriteHalf::peer_addr
        async fn writehalf_local_addr<'a>(s: WriteHalf<'a>, cx: &mut Context<'_>) { let _ = s.local_addr(); } // parity: WriteHalf::local_addr
        async fn ownedreadhalf_reunite(s: OwnedReadHalf, cx: &mut Context<'_>, w: OwnedWriteHalf) { let _ = s.reunite(w); } // parity: OwnedReadHalf::reunite
        async fn ownedreadhalf_poll_peek(mut s: OwnedReadHalf, cx: &mut Context<'_>, w: OwnedWriteHalf) { let _ = s.poll_peek(cx, &mut ReadBuf::new(&mut [0u8; 1])); } // parity: OwnedReadHalf::poll_peek
        async fn ownedreadhalf_peek(mut s: OwnedReadHalf, cx: &mut Context<'_>, w: OwnedWriteHalf) { let _ = s.peek(&mut [0u8; 1]).await; } // parity: OwnedReadHalf::peek
        async fn ownedreadhalf_ready(s: OwnedReadHalf, cx: &mut Context<'_>, w: OwnedWriteHalf) { let _ = s.ready(Interest::READABLE).await; } // parity: OwnedReadHalf::ready
        async fn ownedreadhalf_readable(s: OwnedReadHalf, cx: &mut Context<'_>, w: OwnedWriteHalf) { let _ = s.readable().await; } // parity: OwnedReadHalf::readable
        async fn ownedreadhalf_try_read(s: OwnedReadHalf, cx: &mut Context<'_>, w: OwnedWriteHalf) { let _ = s.try_read(&mut [0u8; 1]); } // parity: OwnedReadHalf::try_read
        async fn ownedreadhalf_try_read_vectored(s: OwnedReadHalf, cx: &mut Context<'_>, w: OwnedWriteHalf) { let _ = s.try_read_vectored(&mut [IoSliceMut::new(&mut [0u8; 1])]); } // parity: OwnedReadHalf::try_read_vectored
        async fn ownedreadhalf_try_read_buf(s: OwnedReadHalf, cx: &mut Context<'_>, w: OwnedWriteHalf) { let _ = s.try_read_buf(&mut BytesMut::new()); } // parity: OwnedReadHalf::try_read_buf
        async fn ownedreadhalf_peer_addr(s: OwnedReadHalf, cx: &mut Context<'_>, w: OwnedWriteHalf) { let _ = s.peer_addr(); } // parity: OwnedReadHalf::peer_addr
        async fn ownedreadhalf_local_addr(s: OwnedReadHalf, cx: &mut Context<'_>, w: OwnedWriteHalf) { let _ = s.local_addr(); } // parity: OwnedReadHalf::local_addr
        async fn ownedwritehalf_reunite(s: OwnedWriteHalf, cx: &mut Context<'_>, r: OwnedReadHalf) { let _ = s.reunite(r); } // parity: OwnedWriteHalf::reunite
        async fn ownedwritehalf_forget(s: OwnedWriteHalf, cx: &mut Context<'_>, r: OwnedReadHalf) { s.forget(); } // parity: OwnedWriteHalf::forget
        async fn ownedwritehalf_ready(s: OwnedWriteHalf, cx: &mut Context<'_>, r: OwnedReadHalf) { let _ = s.ready(Interest::WRITABLE).await; } // parity: OwnedWriteHalf::ready
        async fn ownedwritehalf_writable(s: OwnedWriteHalf, cx: &mut Context<'_>, r: OwnedReadHalf) { let _ = s.writable().await; } // parity: OwnedWriteHalf::writable
        async fn ownedwritehalf_try_write(s: OwnedWriteHalf, cx: &mut Context<'_>, r: OwnedReadHalf) { let _ = s.try_write(b"x"); } // parity: OwnedWriteHalf::try_write
        async fn ownedwritehalf_try_write_vectored(s: OwnedWriteHalf, cx: &mut Context<'_>, r: OwnedReadHalf) { let _ = s.try_write_vectored(&[IoSlice::new(b"x")]); } // parity: OwnedWriteHalf::try_write_vectored
        async fn ownedwritehalf_peer_addr(s: OwnedWriteHalf, cx: &mut Context<'_>, r: OwnedReadHalf) { let _ = s.peer_addr(); } // parity: OwnedWriteHalf::peer_addr
        async fn ownedwritehalf_local_addr(s: OwnedWriteHalf, cx: &mut Context<'_>, r: OwnedReadHalf) { let _ = s.local_addr(); } // parity: OwnedWriteHalf::local_addr
    };
}

mod ringtcp_types {
    use super::*;
    every_tcp_method!(ringtcp);
}

mod switch_types {
    use super::*;
    every_tcp_method!(ringtcp::net);
}

/// tokio's public TCP methods, by type, read from its sources in the locked version.
fn tokio_methods() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"tokio\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")).map(|v| v.trim_end_matches('"').to_owned()))
        .expect("tokio in Cargo.lock");
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    let dir = std::fs::read_dir(cargo_home.join("registry/src"))
        .expect("cargo's registry sources")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join(format!("tokio-{version}/src/net/tcp")))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("tokio {version}'s sources are not in {}", cargo_home.display()));
    let mut out = Vec::new();
    for file in ["stream.rs", "listener.rs", "socket.rs", "split.rs", "split_owned.rs"] {
        let mut current: Option<String> = None;
        for line in std::fs::read_to_string(dir.join(file)).unwrap().lines() {
            let t = line.trim_start();
            if let Some(rest) = t.strip_prefix("impl") {
                current = if rest.contains(" for ") || !rest.trim_end().ends_with('{') {
                    None
                } else {
                    let name = rest.trim_start_matches(|c: char| c != ' ').trim();
                    Some(name.split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap_or("").to_owned())
                };
                continue;
            }
            let name = t.strip_prefix("pub fn ").or_else(|| t.strip_prefix("pub async fn ")).or_else(|| t.strip_prefix("pub unsafe fn "));
            if let (Some(rest), Some(ty)) = (name, &current) {
                let m: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                out.push((ty.clone(), m));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn every_tokio_tcp_method_is_type_checked_on_both_and_listed_with_a_test() {
    let tokio = tokio_methods();
    assert!(tokio.len() > 90, "read {} methods from tokio: the reader is broken", tokio.len());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    let this = std::fs::read_to_string(root.join("tests/parity.rs")).unwrap();
    let mut problems = Vec::new();
    let start = this.find("macro_rules! every_tcp_method").unwrap();
    let end = this[start..].find("\n}\n").map_or(this.len(), |e| start + e);
    let checked: std::collections::BTreeSet<(String, String)> = this[start..end]
        .lines()
        .filter_map(|l| l.split_once("// parity: ").map(|(_, m)| m.trim()))
        .filter_map(|l| l.split_once("::").map(|(t, m)| (t.to_owned(), m.to_owned())))
        .collect();
    for m in &tokio {
        if !checked.contains(m) {
            problems.push(format!("tokio's {}::{} is not called", m.0, m.1));
        }
    }
    for m in &checked {
        if !tokio.contains(m) {
            problems.push(format!("{}::{} is not a tokio method", m.0, m.1));
        }
    }
    for family in ["every_tcp_method!(ringtcp);", "every_tcp_method!(ringtcp::net);"] {
        if !this.contains(family) {
            problems.push(format!("the calls are not made on {family}"));
        }
    }
    // The table: | type | method | status | shown by |
    let table = std::fs::read_to_string(root.parent().unwrap().join("docs/tokio-parity.md")).unwrap();
    let rows: Vec<Vec<String>> = table
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.trim_matches('|').split('|').map(|c| c.trim().trim_matches('`').to_owned()).collect())
        .collect();
    let listed: std::collections::BTreeSet<(String, String)> = rows.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    for m in &tokio {
        if !listed.contains(m) {
            problems.push(format!("docs/tokio-parity.md does not list {}::{}", m.0, m.1));
        }
    }
    for r in &rows {
        if !tokio.contains(&(r[0].clone(), r[1].clone())) {
            problems.push(format!("docs/tokio-parity.md lists {}::{}, which tokio does not have", r[0], r[1]));
        }
        // "file.rs::test_name": the test exists and calls the method.
        let Some((file, test)) = r[3].split_once("::") else {
            problems.push(format!("{}::{}: no test named", r[0], r[1]));
            continue;
        };
        let src = std::fs::read_to_string(root.join("tests").join(file)).unwrap_or_default();
        let body = src.split(&format!("fn {test}(")).nth(1).map(|b| b.split("\nfn ").next().unwrap_or(b).split("\nasync fn ").next().unwrap_or(b));
        match body {
            None => problems.push(format!("{}::{}: test {file}::{test} does not exist", r[0], r[1])),
            Some(b) if !b.contains(&format!(".{}(", r[1])) && !b.contains(&format!("::{}(", r[1])) => {
                problems.push(format!("{}::{}: test {file}::{test} does not call it", r[0], r[1]))
            }
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "{} parity problems:\n{}", problems.len(), problems.join("\n"));
}
