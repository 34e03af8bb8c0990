//! tokio's TCP behaviours through the `ringtcp::net` switch, the same test body on both of
//! its variants: the kernel's (tokio over loopback) and ringtcp's (two stacks over the
//! in-memory link). What an app sees must not depend on the variant: bytes intact, the
//! same readiness, the same error kinds, options that read back what was set.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use ringtcp::net::{TcpListener, TcpSocket, TcpStream};
use ringtcp::Stack;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};

/// One variant of the switch: how to listen and connect on it.
enum Variant {
    Kernel,
    Ringtcp { server: Stack, client: Stack },
}

const A: Ipv4Addr = Ipv4Addr::new(10, 61, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 61, 0, 2);

fn variants() -> Vec<Variant> {
    let (server, client) = Stack::builder().shards(1).memory_pair(A, B).expect("in-memory stacks");
    vec![Variant::Kernel, Variant::Ringtcp { server, client }]
}

impl Variant {
    fn name(&self) -> &'static str {
        match self {
            Variant::Kernel => "kernel",
            Variant::Ringtcp { .. } => "ringtcp",
        }
    }

    async fn listen(&self) -> TcpListener {
        match self {
            Variant::Kernel => TcpListener::Kernel(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
            Variant::Ringtcp { server, .. } => TcpListener::Ringtcp(server.bind((A, 0)).await.unwrap()),
        }
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        Ok(match self {
            Variant::Kernel => TcpStream::Kernel(tokio::net::TcpStream::connect(addr).await?),
            Variant::Ringtcp { client, .. } => TcpStream::Ringtcp(client.connect(addr).await?),
        })
    }

    fn socket(&self) -> TcpSocket {
        match self {
            Variant::Kernel => TcpSocket::Kernel(tokio::net::TcpSocket::new_v4().unwrap()),
            Variant::Ringtcp { client, .. } => TcpSocket::Ringtcp(ringtcp::TcpSocket::new_v4_on(client)),
        }
    }

    /// A socket on the stack that listens.
    fn server_socket(&self) -> TcpSocket {
        match self {
            Variant::Kernel => TcpSocket::Kernel(tokio::net::TcpSocket::new_v4().unwrap()),
            Variant::Ringtcp { server, .. } => TcpSocket::Ringtcp(ringtcp::TcpSocket::new_v4_on(server)),
        }
    }

    async fn pair(&self) -> (TcpListener, TcpStream, TcpStream) {
        let listener = self.listen().await;
        let addr = listener.local_addr().unwrap();
        let (c, s) = within(async { tokio::join!(self.connect(addr), listener.accept()) }).await;
        let (c, (s, peer)) = (c.unwrap(), s.unwrap());
        assert_eq!(peer, c.local_addr().unwrap(), "{}", self.name());
        (listener, c, s)
    }
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f).await.expect("did not hang")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_cross_intact_both_ways_with_halves_on_both_variants() {
    for v in variants() {
        let (_l, c, s) = v.pair().await;
        let data: Vec<u8> = (0..300_000u32).map(|i| (i ^ (i >> 9)) as u8).collect();
        let (mut cr, mut cw) = c.into_split();
        let (mut sr, mut sw) = s.into_split();
        let sent = data.clone();
        let echo = tokio::spawn(async move {
            let mut buf = vec![0u8; 300_000];
            sr.read_exact(&mut buf).await.unwrap();
            sw.write_all(&buf).await.unwrap();
            sw.shutdown().await.unwrap();
        });
        cw.write_all(&sent).await.unwrap();
        let mut back = Vec::new();
        within(cr.read_to_end(&mut back)).await.unwrap();
        assert!(back == data, "{}: echo intact", v.name());
        within(echo).await.unwrap();
        let stream = cr.reunite(cw).expect("halves of one stream");
        assert_eq!(stream.backend(), match v {
            Variant::Kernel => ringtcp::net::Backend::Kernel,
            Variant::Ringtcp { .. } => ringtcp::net::Backend::Ringtcp,
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_peek_and_try_calls_agree_on_both_variants() {
    for v in variants() {
        let (_l, c, mut s) = v.pair().await;
        let name = v.name();
        assert_eq!(c.try_read(&mut [0u8; 4]).unwrap_err().kind(), io::ErrorKind::WouldBlock, "{name}");
        c.writable().await.unwrap();
        assert_eq!(c.try_write(b"ping").unwrap(), 4, "{name}");
        let mut four = [0u8; 4];
        within(s.read_exact(&mut four)).await.unwrap();
        assert_eq!(&four, b"ping", "{name}");
        s.write_all(b"pong").await.unwrap();
        let ready = within(c.ready(Interest::READABLE)).await.unwrap();
        assert!(ready.is_readable(), "{name}");
        let mut peeked = [0u8; 4];
        let n = within(c.peek(&mut peeked)).await.unwrap();
        assert_eq!(&peeked[..n], &b"pong"[..n], "{name}");
        let mut buf = bytes::BytesMut::with_capacity(16);
        let got = within(c.async_io(Interest::READABLE, || c.try_read_buf(&mut buf))).await.unwrap();
        assert_eq!(&buf[..got], &b"pong"[..got], "{name}: peeked bytes still there");
        assert_eq!(c.try_io(Interest::WRITABLE, || c.try_write(b"!")).unwrap(), 1, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_eof_and_zero_linger_resets_on_both_variants() {
    for v in variants() {
        let name = v.name();
        let (_l, mut c, mut s) = v.pair().await;
        c.shutdown().await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(within(s.read(&mut buf)).await.unwrap(), 0, "{name}: EOF after shutdown");
        // Reading still works after our own shutdown.
        s.write_all(b"late").await.unwrap();
        let mut four = [0u8; 4];
        within(c.read_exact(&mut four)).await.unwrap();
        assert_eq!(&four, b"late", "{name}");

        let (_l, c, mut s) = v.pair().await;
        c.set_zero_linger().unwrap();
        assert_eq!(c.linger().unwrap(), Some(Duration::ZERO), "{name}");
        drop(c);
        let err = within(s.read(&mut buf)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_read_back_what_was_set_on_both_variants() {
    for v in variants() {
        let name = v.name();
        let (l, c, _s) = v.pair().await;
        c.set_nodelay(true).unwrap();
        assert!(c.nodelay().unwrap(), "{name}");
        c.set_ttl(42).unwrap();
        assert_eq!(c.ttl().unwrap(), 42, "{name}");
        c.set_quickack(true).unwrap();
        assert!(c.quickack().unwrap(), "{name}");
        l.set_ttl(33).unwrap();
        assert_eq!(l.ttl().unwrap(), 33, "{name}");
        assert!(c.take_error().unwrap().is_none(), "{name}");

        let socket = v.socket();
        socket.set_keepalive(true).unwrap();
        assert!(socket.keepalive().unwrap(), "{name}");
        socket.set_reuseaddr(true).unwrap();
        assert!(socket.reuseaddr().unwrap(), "{name}");
        socket.set_nodelay(true).unwrap();
        assert!(socket.nodelay().unwrap(), "{name}");
        socket.set_tos_v4(0x10).unwrap();
        assert_eq!(socket.tos_v4().unwrap(), 0x10, "{name}");
        socket.set_zero_linger().unwrap();
        assert_eq!(socket.linger().unwrap(), Some(Duration::ZERO), "{name}");
        let stream = within(socket.connect(l.local_addr().unwrap())).await.unwrap();
        assert!(stream.nodelay().unwrap(), "{name}: the connection has the socket's option");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_and_taken_ports_give_the_same_kinds_on_both_variants() {
    for v in variants() {
        let name = v.name();
        let l = v.listen().await;
        let taken = l.local_addr().unwrap();
        drop(l);
        // Nothing listens there any more.
        let err = within(v.connect(taken)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{name}");
        // Binding a port a listener holds fails at bind, as on Linux.
        let l = v.listen().await;
        let socket = v.server_socket();
        let err = socket.bind(l.local_addr().unwrap()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{name}");
        drop(l);
    }
}
