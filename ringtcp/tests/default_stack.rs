//! The default stack (built from the environment on first use) behind `TcpSocket::new_v4`,
//! `TcpSocket::new_v6` and the `ringtcp::net` switch's, inside a namespace this test
//! makes: a kernel client reaches a listener opened through them over IPv4 and IPv6,
//! bytes intact. Its own test binary, because the default stack is one per process.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use common::{Netns, privileged};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KERNEL: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
const RING: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);
const KERNEL6: Ipv6Addr = Ipv6Addr::new(0xfd78, 0, 0, 0, 0, 0, 0, 1);
const RING6: Ipv6Addr = Ipv6Addr::new(0xfd78, 0, 0, 0, 0, 0, 0, 2);

/// A kernel client in `ns`: connects to `to`, sends `hello`, returns what comes back.
fn kernel_echo(ns: &Netns, to: SocketAddr) -> [u8; 5] {
    ns.spawn(move || {
        let mut c = std::net::TcpStream::connect_timeout(&to, Duration::from_secs(10)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"hello").unwrap();
        let mut back = [0u8; 5];
        c.read_exact(&mut back).unwrap();
        back
    })
    .join()
    .unwrap()
}

/// Accepts one connection on `listener`, echoes five bytes, returns the peer address.
async fn echo_once(listener: &ringtcp::net::TcpListener) -> SocketAddr {
    let (mut s, peer) = listener.accept().await.unwrap();
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).await.unwrap();
    s.write_all(&buf).await.unwrap();
    peer
}

#[test]
fn tcp_socket_new_v4_and_new_v6_use_the_default_stack_built_from_the_environment() {
    if !privileged("tcp_socket_new_v4_and_new_v6_use_the_default_stack_built_from_the_environment") {
        return;
    }
    // SAFETY: set before any thread of this test binary reads the environment.
    unsafe {
        std::env::set_var("RINGTCP_TUN", "ringdef0");
        std::env::set_var("RINGTCP_KERNEL_ADDR", KERNEL.to_string());
        std::env::set_var("RINGTCP_ADDR", RING.to_string());
        std::env::set_var("RINGTCP_KERNEL_ADDR6", KERNEL6.to_string());
        std::env::set_var("RINGTCP_ADDR6", RING6.to_string());
        std::env::set_var("RINGTCP_SHARDS", "1");
        std::env::set_var("RINGTCP_STACK", "ringtcp");
    }
    let ns = std::sync::Arc::new(Netns::new("default"));
    // The default stack's TUN device is made by the first call, from a thread inside the
    // namespace.
    let (socket, switch_socket, socket6, switch_socket6) = ns
        .spawn(|| {
            (
                ringtcp::TcpSocket::new_v4(),
                ringtcp::net::TcpSocket::new_v4(),
                ringtcp::TcpSocket::new_v6(),
                ringtcp::net::TcpSocket::new_v6(),
            )
        })
        .join()
        .expect("set-up thread");
    let socket = socket.expect("TcpSocket::new_v4 on the default stack");
    let switch_socket = switch_socket.expect("the switch's TcpSocket::new_v4");
    assert!(matches!(switch_socket, ringtcp::net::TcpSocket::Ringtcp(_)));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let socket6 = socket6.expect("TcpSocket::new_v6 on the default stack");
    let switch_socket6 = switch_socket6.expect("the switch's TcpSocket::new_v6");
    for (port, listener) in [
        (7100u16, {
            socket.bind(SocketAddr::from((RING, 7100))).unwrap();
            ringtcp::net::TcpListener::Ringtcp(socket.listen(16).unwrap())
        }),
        (7101, {
            switch_socket.bind(SocketAddr::from((RING, 7101))).unwrap();
            switch_socket.listen(16).unwrap()
        }),
    ] {
        let server = rt.spawn(async move { echo_once(&listener).await });
        assert_eq!(&kernel_echo(&ns, SocketAddr::from((RING, port))), b"hello");
        assert_eq!(rt.block_on(server).unwrap().ip(), IpAddr::V4(KERNEL));
    }

    // IPv6 on the same TUN device (`RINGTCP_*ADDR6`): `new_v6` bound to `[::]` serves a
    // kernel client over IPv6 and, dual-stack, one over IPv4 (seen IPv4-mapped, as a Linux
    // IPv6 socket sees it); the switch's `new_v6` bound to the stack's IPv6 address.
    socket6.bind("[::]:7102".parse().unwrap()).unwrap();
    let dual = ringtcp::net::TcpListener::Ringtcp(socket6.listen(16).unwrap());
    switch_socket6.bind(SocketAddr::new(RING6.into(), 7103)).unwrap();
    let only6 = switch_socket6.listen(16).unwrap();
    for (to, listener, from) in [
        (SocketAddr::new(RING6.into(), 7102), &dual, IpAddr::V6(KERNEL6)),
        (SocketAddr::new(RING.into(), 7102), &dual, IpAddr::V6(KERNEL.to_ipv6_mapped())),
        (SocketAddr::new(RING6.into(), 7103), &only6, IpAddr::V6(KERNEL6)),
    ] {
        let peer = rt.block_on(async {
            let server = echo_once(listener);
            let client = tokio::task::spawn_blocking({
                let ns = ns.clone();
                move || kernel_echo(&ns, to)
            });
            let (peer, echoed) = tokio::join!(server, client);
            assert_eq!(&echoed.unwrap(), b"hello", "echo to {to}");
            peer
        });
        assert_eq!(peer.ip(), from, "a kernel client to {to}");
    }
}
