//! tokio's TCP behaviours, checked against ringtcp types over the in-memory link (what
//! tokio's tests/tcp_*.rs check, written anew): accept, connect, split halves,
//! into_split / reunite, peek, shutdown, readiness, try_* calls, options, TcpSocket.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use ringtcp::{Stack, TcpListener, TcpSocket, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};

const A: Ipv4Addr = Ipv4Addr::new(10, 56, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 56, 0, 2);

fn pair() -> (Stack, Stack) {
    Stack::builder().shards(2).memory_pair(A, B).expect("in-memory stacks")
}

async fn connected(client: &Stack, listener: &TcpListener) -> (TcpStream, TcpStream) {
    let addr = listener.local_addr().unwrap();
    let (c, s) = tokio::join!(client.connect(addr), listener.accept());
    (c.unwrap(), s.unwrap().0)
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f).await.expect("did not hang")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_and_connect_report_both_addresses() {
    let (client, server) = pair();
    let listener = server.bind((B, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    assert_eq!(addr.ip(), B);
    assert_ne!(addr.port(), 0, "port 0 binds an ephemeral port");
    let (c, accepted) = within(async { tokio::join!(client.connect(addr), listener.accept()) }).await;
    let (c, (s, peer)) = (c.unwrap(), accepted.unwrap());
    assert_eq!(c.peer_addr().unwrap(), addr);
    assert_eq!(s.local_addr().unwrap(), addr);
    assert_eq!(peer, c.local_addr().unwrap());
    assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
    assert_eq!(c.local_addr().unwrap().ip(), A);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_a_taken_port_or_a_foreign_address_fails_with_the_right_kind() {
    let (_client, server) = pair();
    let _l = server.bind((B, 80)).await.unwrap();
    assert_eq!(server.bind((B, 80)).await.unwrap_err().kind(), io::ErrorKind::AddrInUse);
    assert_eq!(server.bind((Ipv4Addr::new(192, 0, 2, 1), 80)).await.unwrap_err().kind(), io::ErrorKind::AddrNotAvailable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn borrowed_split_reads_and_writes_at_once() {
    let (client, server) = pair();
    let listener = server.bind((B, 0)).await.unwrap();
    let (mut c, mut s) = connected(&client, &listener).await;
    let data = vec![7u8; 300_000];
    let server_side = tokio::spawn(async move {
        let (mut r, mut w) = s.split();
        tokio::io::copy(&mut r, &mut w).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let (mut r, mut w) = c.split();
    let (_, back) = within(async {
        tokio::join!(
            async {
                w.write_all(&data).await.unwrap();
                w.shutdown().await.unwrap();
            },
            async {
                let mut back = Vec::new();
                r.read_to_end(&mut back).await.unwrap();
                back
            }
        )
    })
    .await;
    assert_eq!(back, data);
    server_side.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn into_split_halves_move_to_tasks_and_reunite() {
    let (client, server) = pair();
    let listener = server.bind((B, 0)).await.unwrap();
    let (c, mut s) = connected(&client, &listener).await;
    let (mut r, mut w) = c.into_split();
    let writer = tokio::spawn(async move {
        w.write_all(b"ping").await.unwrap();
        w
    });
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
    s.write_all(b"pong").await.unwrap();
    r.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"pong");
    let w = writer.await.unwrap();
    let mut c = r.reunite(w).expect("halves of one stream");
    c.write_all(b"again").await.unwrap();
    let mut five = [0u8; 5];
    s.read_exact(&mut five).await.unwrap();
    assert_eq!(&five, b"again");

    // Halves of two different streams do not reunite.
    let (c2, _s2) = connected(&client, &listener).await;
    let (c3, _s3) = connected(&client, &listener).await;
    let (r2, _w2) = c2.into_split();
    let (_r3, w3) = c3.into_split();
    assert!(r2.reunite(w3).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_owned_write_half_sends_fin() {
    let (client, server) = pair();
    let listener = server.bind((B, 0)).await.unwrap();
    let (c, mut s) = connected(&client, &listener).await;
    let (_r, w) = c.into_split();
    drop(w);
    let mut rest = Vec::new();
    within(s.read_to_end(&mut rest)).await.unwrap();
    assert!(rest.is_empty(), "EOF: the dropped write half shut down writing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peek_does_not_consume() {
    let (client, server) = pair();
    let listener = server.bind((B, 0)).await.unwrap();
    let (mut c, mut s) = connected(&client, &listener).await;
    c.write_all(b"hello world").await.unwrap();
    let mut buf = [0u8; 5];
    assert_eq!(within(s.peek(&mut buf)).await.unwrap(), 5);
    assert_eq!(&buf, b"hello");
    let mut all = [0u8; 11];
    s.read_exact(&mut all).await.unwrap();
    assert_eq!(&all, b"hello world");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_the_peer_eof_and_later_writes_fail() {
    let (client, server) = pair();
    let listener = server.bind((B, 0)).await.unwrap();
    let (mut c, mut s) = connected(&client, &listener).await;
    c.write_all(b"last words").await.unwrap();
    c.shutdown().await.unwrap();
    let mut got = Vec::new();
    within(s.read_to_end(&mut got)).await.unwrap();
    assert_eq!(got, b"last words", "queued data arrives before the FIN");
    assert_eq!(c.write_all(b"x").await.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    // The other direction still works after a half-close.
    s.write_all(b"reply").await.unwrap();
    let mut r = [0u8; 5];
    c.read_exact(&mut r).await.unwrap();
    assert_eq!(&r, b"reply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_and_try_calls() {
    let (client, server) = pair();
    let listener = server.bind((B, 0)).await.unwrap();
    let (c, s) = connected(&client, &listener).await;
    within(c.writable()).await.unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(s.try_read(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    assert_eq!(c.try_write(b"abc").unwrap(), 3);
    within(s.readable()).await.unwrap();
    let ready = within(s.ready(Interest::READABLE | Interest::WRITABLE)).await.unwrap();
    assert!(ready.is_readable() && ready.is_writable());
    let mut a = [0u8; 2];
    let mut b = [0u8; 8];
    let n = s.try_read_vectored(&mut [std::io::IoSliceMut::new(&mut a), std::io::IoSliceMut::new(&mut b)]).unwrap();
    assert_eq!((n, &a, &b[..1]), (3, b"ab", &b"c"[..]));
    assert_eq!(c.try_write_vectored(&[std::io::IoSlice::new(b"xy"), std::io::IoSlice::new(b"z")]).unwrap(), 3);
    within(s.readable()).await.unwrap();
    assert_eq!(s.try_read(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"xyz");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_stream_with_unread_data_resets_the_peer() {
    let (client, server) = pair();
    let listener = server.bind((B, 0)).await.unwrap();
    let (mut c, s) = connected(&client, &listener).await;
    c.write_all(b"never read").await.unwrap();
    within(s.readable()).await.unwrap();
    drop(s);
    let mut buf = [0u8; 8];
    let err = within(async {
        loop {
            match c.read(&mut buf).await {
                Ok(0) => panic!("expected a reset, got a clean EOF"),
                Ok(_) => continue,
                Err(e) => break e,
            }
        }
    })
    .await;
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_listener_resets_connections_never_accepted() {
    let (client, server) = pair();
    let listener = server.bind((B, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut waiting = Vec::new();
    for _ in 0..3 {
        waiting.push(client.connect(addr).await.unwrap());
    }
    // Established on both sides, queued, never accepted; then the listener goes.
    let queued = within(async {
        loop {
            let n: usize = server.stats().unwrap().shards.iter().map(|s| s.accept_queued).sum();
            if n == 3 {
                break n;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(queued, 3);
    drop(listener);
    for mut c in waiting {
        let mut buf = [0u8; 8];
        let r = within(c.read(&mut buf)).await;
        assert_eq!(r.map_err(|e| e.kind()), Err(io::ErrorKind::ConnectionReset), "as Linux resets its accept queue");
    }
    assert!(client.connect(addr).await.is_err(), "nobody listens any more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_round_trip() {
    let (client, server) = pair();
    let listener = server.bind((B, 0)).await.unwrap();
    let (c, _s) = connected(&client, &listener).await;
    assert!(!c.nodelay().unwrap());
    c.set_nodelay(true).unwrap();
    assert!(c.nodelay().unwrap());
    c.set_ttl(17).unwrap();
    assert_eq!(c.ttl().unwrap(), 17);
    assert_eq!(c.set_ttl(0).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    assert!(c.take_error().unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_socket_binds_then_connects_or_listens() {
    let (client, server) = pair();
    let ls = TcpSocket::new_v4_on(&server);
    ls.bind(SocketAddr::from((B, 6000))).unwrap();
    let listener = ls.listen(128).unwrap();
    let cs = TcpSocket::new_v4_on(&client);
    cs.bind(SocketAddr::from((A, 45_000))).unwrap();
    cs.set_nodelay(true).unwrap();
    assert_eq!(cs.bind(SocketAddr::from((A, 45_001))).unwrap_err().kind(), io::ErrorKind::InvalidInput, "bound twice");
    let (c, accepted) = within(async { tokio::join!(cs.connect(SocketAddr::from((B, 6000))), listener.accept()) }).await;
    let c = c.unwrap();
    assert_eq!(c.local_addr().unwrap(), SocketAddr::from((A, 45_000)));
    assert!(c.nodelay().unwrap());
    assert_eq!(accepted.unwrap().1, SocketAddr::from((A, 45_000)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_tries_each_address_in_turn_and_reports_the_last_error() {
    let (client, server) = pair();
    let listener = server.bind((B, 0)).await.unwrap();
    let good = listener.local_addr().unwrap();
    let refused = SocketAddr::from((B, good.port().wrapping_add(1)));
    let both = [refused, good];
    let (c, s) = within(async { tokio::join!(client.connect(&both[..]), listener.accept()) }).await;
    assert_eq!(c.unwrap().peer_addr().unwrap(), good, "the second address after the first was refused");
    drop(s.unwrap());
    let none = [refused, refused];
    let err = within(client.connect(&none[..])).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    // A string is resolved as tokio resolves it (a literal at once).
    let c = within(async { tokio::join!(client.connect(good.to_string()), listener.accept()) }).await.0.unwrap();
    assert_eq!(c.peer_addr().unwrap(), good);
}
