//! The default stack (built from the environment on first use) behind `TcpSocket::new_v4`
//! and the `ringtcp::net` switch's `TcpSocket::new_v4`, inside a namespace this test
//! makes: a kernel client reaches a listener opened through them, bytes intact. Its own
//! test binary, because the default stack is one per process.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::{Netns, privileged};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KERNEL: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
const RING: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);

#[test]
fn tcp_socket_new_v4_uses_the_default_stack_built_from_the_environment() {
    if !privileged("tcp_socket_new_v4_uses_the_default_stack_built_from_the_environment") {
        return;
    }
    // SAFETY: set before any thread of this test binary reads the environment.
    unsafe {
        std::env::set_var("RINGTCP_TUN", "ringdef0");
        std::env::set_var("RINGTCP_KERNEL_ADDR", KERNEL.to_string());
        std::env::set_var("RINGTCP_ADDR", RING.to_string());
        std::env::set_var("RINGTCP_SHARDS", "1");
        std::env::set_var("RINGTCP_STACK", "ringtcp");
    }
    let ns = Netns::new("default");
    // The default stack's TUN device is made by the first call, from a thread inside the
    // namespace.
    let (socket, switch_socket) = ns
        .spawn(|| (ringtcp::TcpSocket::new_v4(), ringtcp::net::TcpSocket::new_v4()))
        .join()
        .expect("set-up thread");
    let socket = socket.expect("TcpSocket::new_v4 on the default stack");
    let switch_socket = switch_socket.expect("the switch's TcpSocket::new_v4");
    assert!(matches!(switch_socket, ringtcp::net::TcpSocket::Ringtcp(_)));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
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
        let server = rt.spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
        let echoed = ns
            .spawn(move || {
                let mut c = std::net::TcpStream::connect_timeout(&SocketAddr::from((RING, port)), Duration::from_secs(10)).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                c.write_all(b"hello").unwrap();
                let mut back = [0u8; 5];
                c.read_exact(&mut back).unwrap();
                back
            })
            .join()
            .unwrap();
        assert_eq!(&echoed, b"hello");
        rt.block_on(server).unwrap();
    }
}
