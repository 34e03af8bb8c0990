//! IPv6 through ringtcp's tokio types, over the in-memory link between two dual-stack
//! stacks: `TcpSocket::new_v6`, dual-stack and IPv6-only listeners on `[::]`, addresses
//! reported as tokio reports them on Linux (IPv4 peers IPv4-mapped on an IPv6 socket),
//! the traffic class, wrong-family calls, and bytes intact both ways.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ringtcp::{Stack, TcpSocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const A4: Ipv4Addr = Ipv4Addr::new(10, 57, 0, 1);
const B4: Ipv4Addr = Ipv4Addr::new(10, 57, 0, 2);
const A6: Ipv6Addr = Ipv6Addr::new(0xfd57, 0, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0xfd57, 0, 0, 0, 0, 0, 0, 2);

/// (client, server): the client answers for A4 and A6, the server for B4 and B6.
fn pair() -> (Stack, Stack) {
    Stack::builder()
        .shards(2)
        .memory_pair_with(&[A4.into(), A6.into()], &[B4.into(), B6.into()])
        .expect("in-memory pair")
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f).await.expect("timed out")
}

fn mapped(v4: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dual_stack_listener_serves_both_families_and_reports_mapped_ipv4_peers() {
    let (client, server) = pair();
    let listener = server.bind("[::]:7100").await.unwrap();
    assert_eq!(listener.local_addr().unwrap(), "[::]:7100".parse().unwrap());
    for to in [SocketAddr::new(B6.into(), 7100), SocketAddr::new(B4.into(), 7100)] {
        let (c, accepted) = within(async { tokio::join!(client.connect(to), listener.accept()) }).await;
        let (mut c, (mut s, peer)) = (c.unwrap(), accepted.unwrap());
        if to.is_ipv6() {
            assert_eq!(peer, c.local_addr().unwrap());
            assert_eq!(s.local_addr().unwrap(), to);
            assert_eq!(c.local_addr().unwrap().ip(), IpAddr::V6(A6), "source of the same family");
        } else {
            // As tokio on Linux: an IPv6 socket shows IPv4 peers IPv4-mapped.
            let from = c.local_addr().unwrap();
            assert_eq!(from.ip(), IpAddr::V4(A4));
            assert_eq!(peer, mapped(A4, from.port()));
            assert_eq!(s.peer_addr().unwrap(), peer);
            assert_eq!(s.local_addr().unwrap(), mapped(B4, 7100));
            assert_eq!(c.peer_addr().unwrap(), to, "the IPv4 client's own socket stays IPv4");
        }
        c.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        within(s.read_exact(&mut buf)).await.unwrap();
        assert_eq!(&buf, b"ping");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_only_listener_refuses_ipv4_and_leaves_the_port_to_an_ipv4_one() {
    let (client, server) = pair();
    let socket = TcpSocket::new_v6_on(&server);
    socket.set_only_v6(true).unwrap();
    assert!(socket.only_v6().unwrap());
    socket.bind("[::]:7101".parse().unwrap()).unwrap();
    let v6only = socket.listen(16).unwrap();
    let refused = within(client.connect((B4, 7101))).await.unwrap_err();
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    // The IPv4 wildcard on the same port does not clash with an IPv6-only one.
    let v4 = server.bind((Ipv4Addr::UNSPECIFIED, 7101)).await.unwrap();
    let (c4, a4) = within(async { tokio::join!(client.connect((B4, 7101)), v4.accept()) }).await;
    assert_eq!(a4.unwrap().1, c4.unwrap().local_addr().unwrap(), "plain IPv4 on an IPv4 listener");
    let (c6, a6) = within(async { tokio::join!(client.connect((B6, 7101)), v6only.accept()) }).await;
    assert_eq!(a6.unwrap().1, c6.unwrap().local_addr().unwrap());
    // A dual-stack [::] on a port that 0.0.0.0 holds clashes, as on Linux.
    assert_eq!(server.bind("[::]:7101").await.unwrap_err().kind(), io::ErrorKind::AddrInUse);
    assert_eq!(TcpSocket::new_v4_on(&server).set_only_v6(true).unwrap_err().kind(), io::ErrorKind::InvalidInput);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_v6_binds_and_connects_and_refuses_the_other_family() {
    let (client, server) = pair();
    let listener = server.bind((B6, 7102)).await.unwrap();
    let socket = TcpSocket::new_v6_on(&client);
    assert_eq!(socket.bind(SocketAddr::from((A4, 0))).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    socket.bind(SocketAddr::new(A6.into(), 46_000)).unwrap();
    socket.set_tclass_v6(0xb8).unwrap();
    assert_eq!(socket.tclass_v6().unwrap(), 0xb8);
    assert_eq!(socket.set_tclass_v6(256).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    let (c, a) = within(async { tokio::join!(socket.connect(SocketAddr::new(B6.into(), 7102)), listener.accept()) }).await;
    let c = c.unwrap();
    assert_eq!(c.local_addr().unwrap(), SocketAddr::new(A6.into(), 46_000));
    assert_eq!(a.unwrap().1, c.local_addr().unwrap());
    // A v4 socket refuses an IPv6 peer; a v6 socket reaches an IPv4 listener through its
    // IPv4-mapped address and reports it mapped.
    let v4 = TcpSocket::new_v4_on(&client);
    assert_eq!(within(v4.connect(SocketAddr::new(B6.into(), 7102))).await.unwrap_err().kind(), io::ErrorKind::InvalidInput);
    let l4 = server.bind((B4, 7103)).await.unwrap();
    let v6 = TcpSocket::new_v6_on(&client);
    let (c, a) = within(async { tokio::join!(v6.connect(mapped(B4, 7103)), l4.accept()) }).await;
    let c = c.unwrap();
    assert_eq!(c.peer_addr().unwrap(), mapped(B4, 7103));
    assert_eq!(c.local_addr().unwrap().ip(), IpAddr::V6(A4.to_ipv6_mapped()));
    assert_eq!(a.unwrap().1.ip(), IpAddr::V4(A4), "the IPv4 listener sees a plain IPv4 peer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_each_way_arrives_intact_over_ipv6() {
    let (client, server) = pair();
    let listener = server.bind("[::]:7104").await.unwrap();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let expect = data.clone();
    let srv = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = vec![0u8; 1_000_000];
        s.read_exact(&mut got).await.unwrap();
        s.write_all(&got).await.unwrap();
        s.shutdown().await.unwrap();
        got
    });
    let mut c = within(client.connect((B6, 7104))).await.unwrap();
    let (mut r, mut w) = c.split();
    let (wrote, back) = within(async {
        tokio::join!(async { w.write_all(&data).await }, async {
            let mut back = Vec::new();
            r.read_to_end(&mut back).await.map(|_| back)
        })
    })
    .await;
    wrote.unwrap();
    assert!(back.unwrap() == expect, "echoed bytes differ");
    assert!(within(srv).await.unwrap() == expect, "server received other bytes");
    // Every packet in was IPv6 (the in-memory link carries super-segments, so a megabyte
    // is some dozens of packets, at most 64 KB each).
    let t = server.stats().unwrap().transport();
    assert_eq!(t.ip_in_receives, t.ip6_in_receives, "the bytes came over IPv6: {t:?}");
    assert!(t.ip6_in_receives >= 1_000_000 / 65_536, "{} IPv6 packets in", t.ip6_in_receives);
}
