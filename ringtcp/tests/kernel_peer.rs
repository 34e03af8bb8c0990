//! The Linux kernel as peer over TUN, inside a network namespace the test creates:
//! `std::net` sockets on the kernel side against ringtcp, both directions, each scenario
//! over IPv4 (`v4::`) and over IPv6 (`v6::`) on the same dual-stack device; and one
//! dual-stack listener serving kernel clients of both families at once.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use common::{kernel_short_connections, ring_short_connections, kernel_reversing_server, reversed_blocks, Netns, echo_server, kernel_echo_client, kernel_echo_server, pattern, privileged, ring_echo_client};
use ringtcp::Stack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KERNEL4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const RING4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const KERNEL6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1);
const RING6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 2);

/// The two ends' addresses in one family.
#[derive(Clone, Copy, Debug)]
struct Family {
    kernel: IpAddr,
    ring: IpAddr,
    /// The kernel side's address as `ip addr` writes it, with its prefix.
    kernel_cidr: &'static str,
}

const V4: Family = Family { kernel: IpAddr::V4(KERNEL4), ring: IpAddr::V4(RING4), kernel_cidr: "10.77.0.1/24" };
const V6: Family = Family { kernel: IpAddr::V6(KERNEL6), ring: IpAddr::V6(RING6), kernel_cidr: "fd77::1/64" };

/// Each scenario as two tests, `v4::name` and `v6::name`.
macro_rules! in_both_families {
    ($($name:ident),* $(,)?) => {
        mod v4 {
            $(#[test]
            fn $name() {
                super::$name(super::V4)
            })*
        }
        mod v6 {
            $(#[test]
            fn $name() {
                super::$name(super::V6)
            })*
        }
    };
}

in_both_families!(
    kernel_client_against_ringtcp_echo_server,
    ringtcp_client_against_kernel_listener,
    sequential_and_concurrent_short_connections_from_the_kernel,
    ringtcp_client_sizes_and_short_connections_against_the_kernel,
    keepalive_ends_a_connection_to_a_vanished_peer_with_timed_out,
    connections_from_bound_ports_reach_the_kernel_whatever_shard_the_port_steers_to,
);

/// A dual-stack ringtcp stack on a TUN device inside `ns` (created from a thread in the
/// namespace).
fn stack_in(ns: &Netns, shards: usize) -> Stack {
    ns.spawn(move || Stack::builder().shards(shards).tun("ringtcp0", KERNEL4, RING4, 24).tun_v6(KERNEL6, RING6, 64).build())
        .join()
        .expect("set-up thread")
        .expect("TUN stack")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn kernel_client_against_ringtcp_echo_server(fam: Family) {
    if !privileged(&format!("kernel_client_against_ringtcp_echo_server over {fam:?}")) {
        return;
    }
    let ns = Netns::new("echo");
    let stack = stack_in(&ns, 2);
    let rt = runtime();
    let listener = rt.block_on(stack.bind((fam.ring, 7))).unwrap();
    rt.spawn(echo_server(listener));
    let addr = SocketAddr::from((fam.ring, 7));
    for size in [1usize, 1000, 1 << 20, 50 << 20] {
        let data = pattern(size, size as u8);
        let back = ns.spawn({
            let data = data.clone();
            move || kernel_echo_client(addr, data)
        })
        .join()
        .unwrap();
        assert_eq!(back.len(), size, "echo of {size} bytes");
        assert!(back == data, "echo of {size} bytes intact");
    }
}

fn ringtcp_client_against_kernel_listener(fam: Family) {
    if !privileged(&format!("ringtcp_client_against_kernel_listener over {fam:?}")) {
        return;
    }
    let ns = Netns::new("client");
    let stack = stack_in(&ns, 2);
    let listener = ns.spawn(move || std::net::TcpListener::bind((fam.kernel, 9000)).unwrap()).join().unwrap();
    let size = 20 << 20;
    let server = kernel_reversing_server(listener);
    let rt = runtime();
    let data = pattern(size, 9);
    let back = rt.block_on(async {
        let mut c = stack.connect((fam.kernel, 9000)).await.unwrap();
        let (mut r, mut w) = tokio::io::split(c);
        let send = data.clone();
        let writer = tokio::spawn(async move {
            w.write_all(&send).await.unwrap();
            w.shutdown().await.unwrap();
            w
        });
        let mut back = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), r.read_to_end(&mut back)).await.unwrap().unwrap();
        c = r.unsplit(writer.await.unwrap());
        drop(c);
        back
    });
    let (received, peer) = server.join().unwrap();
    assert_eq!(received, size);
    assert_eq!(peer.ip(), fam.ring);
    let expected = reversed_blocks(&data);
    assert!(back == expected, "the kernel's reply arrived intact");
}

fn sequential_and_concurrent_short_connections_from_the_kernel(fam: Family) {
    if !privileged(&format!("sequential_and_concurrent_short_connections_from_the_kernel over {fam:?}")) {
        return;
    }
    let ns = Netns::new("churn");
    let stack = stack_in(&ns, 2);
    let rt = runtime();
    let listener = rt.block_on(stack.bind((fam.ring, 80))).unwrap();
    rt.spawn(echo_server(listener));
    let addr = SocketAddr::from((fam.ring, 80));
    kernel_short_connections(&ns, addr);
}

fn ringtcp_client_sizes_and_short_connections_against_the_kernel(fam: Family) {
    if !privileged(&format!("ringtcp_client_sizes_and_short_connections_against_the_kernel over {fam:?}")) {
        return;
    }
    let ns = Netns::new("rclient");
    let stack = stack_in(&ns, 2);
    kernel_echo_server(&ns, fam.kernel, 9200);
    let addr = SocketAddr::from((fam.kernel, 9200));
    let rt = runtime();
    rt.block_on(async {
        for size in [1usize, 1 << 20, 50 << 20] {
            let data = pattern(size, 3);
            let back = ring_echo_client(&stack, addr, data.clone()).await;
            assert!(back == data, "{size} bytes through the kernel and back");
        }
        // ringtcp closes first here, so its 4-tuples go through its own TIME-WAIT records
        // and come back by RFC 6191 reuse once the port range wraps.
        let failed = ring_short_connections(&stack, addr).await;
        if failed > 0 {
            let out = std::process::Command::new("ip").args(["netns", "exec", &ns.name, "nstat", "-az"]).output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            for line in text.lines().filter(|l| {
                let l = l.to_lowercase();
                (l.contains("listen") || l.contains("cookie") || l.contains("rst") || l.contains("abort") || l.contains("drop") || l.contains("reset"))
                    && !l.contains(" 0 ")
            }) {
                eprintln!("kernel: {line}");
            }
        }
        assert_eq!(failed, 0, "every concurrent connection echoed intact");
    });
}

/// A `TcpSocket` bound to a given port (or to port 0, which picks one at `bind`)
/// connects from that port. The TUN device steers the replies to the shard the port steers
/// to, so the connection must live on that shard: eight ports that steer to both shards
/// of the stack out of step with any rotation (asserted), then eight picked by `bind`;
/// each connection echoes its bytes.
fn connections_from_bound_ports_reach_the_kernel_whatever_shard_the_port_steers_to(fam: Family) {
    if !privileged(&format!("connections_from_bound_ports_reach_the_kernel_whatever_shard_the_port_steers_to over {fam:?}")) {
        return;
    }
    let ns = Netns::new("bound");
    let stack = stack_in(&ns, 2);
    kernel_echo_server(&ns, fam.kernel, 9300);
    let addr = SocketAddr::from((fam.kernel, 9300));
    let rt = runtime();
    rt.block_on(async {
        let new_socket = || if fam.ring.is_ipv4() { ringtcp::TcpSocket::new_v4_on(&stack) } else { ringtcp::TcpSocket::new_v6_on(&stack) };
        let mut ports = vec![46_002, 46_003, 46_000, 46_001, 46_006, 46_007, 46_004, 46_005];
        let shards: Vec<u16> = ports.iter().map(|&p| ringtcp::transport::flow_shard(p, 9300, 2)).collect();
        assert_eq!(shards, [0, 0, 1, 1, 0, 0, 1, 1], "two by two: no rotation matches");
        ports.extend([0; 8]);
        for (i, port) in ports.into_iter().enumerate() {
            let socket = new_socket();
            socket.bind(SocketAddr::new(fam.ring, port)).unwrap();
            let bound = socket.local_addr().unwrap();
            assert!(port == 0 || bound.port() == port, "{bound}");
            assert_ne!(bound.port(), 0, "bind picks a port");
            let c = tokio::time::timeout(Duration::from_secs(10), socket.connect(addr))
                .await
                .unwrap_or_else(|_| panic!("connect from {bound} timed out"))
                .unwrap_or_else(|e| panic!("connect from {bound}: {e}"));
            assert_eq!(c.local_addr().unwrap(), bound);
            let (mut r, mut w) = c.into_split();
            let data = pattern(3000, i as u8);
            w.write_all(&data).await.unwrap();
            w.shutdown().await.unwrap();
            let mut back = Vec::new();
            tokio::time::timeout(Duration::from_secs(10), r.read_to_end(&mut back)).await.expect("echo in time").unwrap();
            assert!(back == data, "echo from {bound} intact");
        }
    });
}

/// Keepalive finds a peer that vanished without a word: the kernel's side of the TUN
/// device loses its address (packets to it are dropped, nothing answers, no RST), and
/// after the idle time and the unanswered probes a read on ringtcp ends in `TimedOut`,
/// as on Linux.
fn keepalive_ends_a_connection_to_a_vanished_peer_with_timed_out(fam: Family) {
    if !privileged(&format!("keepalive_ends_a_connection_to_a_vanished_peer_with_timed_out over {fam:?}")) {
        return;
    }
    let ns = Netns::new("kalive");
    let stack = stack_in(&ns, 1);
    let listener = ns.spawn(move || std::net::TcpListener::bind((fam.kernel, 9100)).unwrap()).join().unwrap();
    let rt = runtime();
    let (stream, kernel_side) = rt.block_on(async {
        let c = stack.connect((fam.kernel, 9100)).await.unwrap();
        let (s, _) = listener.accept().unwrap();
        (c, s)
    });
    let started = std::time::Instant::now();
    stream
        .set_keepalive(Some(ringtcp::transport::Keepalive { idle: Duration::from_millis(300), interval: Duration::from_millis(200), probes: 3 }))
        .unwrap();
    let ip = |args: &[&str]| {
        let out = ns.command("ip").args(args).output().expect("run ip");
        assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    ip(&["addr", "del", fam.kernel_cidr, "dev", "ringtcp0"]);
    let mut stream = stream;
    let mut buf = [0u8; 16];
    let read = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await });
    let waited = started.elapsed();
    let err = read.expect("keepalive ended the connection").expect_err("no data can arrive");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    // The idle time counts from the connection's last segment, before `started`; the three
    // unanswered probes alone take 600 ms.
    assert!(waited >= Duration::from_millis(600), "not before the probes were due: {waited:?}");
    assert!(stack.stats().unwrap().transport().keepalive_probes >= 3);
    drop(kernel_side);
}

/// One `[::]` listener on ringtcp serves 250 kernel clients over IPv4 and 250 over IPv6 at
/// the same time; each sees its echo intact and the listener reports each peer in its
/// family (IPv4 ones IPv4-mapped, as a Linux IPv6 socket reports them).
#[test]
fn a_dual_stack_listener_serves_kernel_clients_of_both_families_at_once() {
    if !privileged("a_dual_stack_listener_serves_kernel_clients_of_both_families_at_once") {
        return;
    }
    let ns = Netns::new("dual");
    let stack = stack_in(&ns, 2);
    let rt = runtime();
    let listener = rt.block_on(stack.bind("[::]:8080")).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    rt.spawn(async move {
        loop {
            let Ok((mut s, peer)) = listener.accept().await else { return };
            let _ = tx.send(peer);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = s.shutdown().await;
            });
        }
    });
    let clients: Vec<_> = (0..500u32)
        .map(|i| {
            let to = SocketAddr::new(if i % 2 == 0 { V4.ring } else { V6.ring }, 8080);
            ns.spawn(move || kernel_echo_client(to, pattern(1500, i as u8)) == pattern(1500, i as u8))
        })
        .collect();
    for c in clients {
        assert!(c.join().unwrap(), "every client of either family echoed intact");
    }
    let peers: Vec<SocketAddr> = rx.try_iter().collect();
    assert_eq!(peers.len(), 500);
    let v4 = peers.iter().filter(|p| matches!(p.ip(), IpAddr::V6(v6) if v6.to_ipv4_mapped() == Some(KERNEL4))).count();
    let v6 = peers.iter().filter(|p| p.ip() == IpAddr::V6(KERNEL6)).count();
    assert_eq!((v4, v6), (250, 250), "{peers:?}");
}

/// A second stack attaching to a TUN device that already carries the IPv6 address (the
/// case of a process started while its predecessor's device is still being torn down):
/// the address is there, so set-up goes on instead of failing with `EEXIST`.
#[test]
fn a_stack_attaches_to_a_device_that_already_has_its_ipv6_address() {
    if !privileged("a_stack_attaches_to_a_device_that_already_has_its_ipv6_address") {
        return;
    }
    let ns = Netns::new("attach");
    let first = stack_in(&ns, 1);
    let second = stack_in(&ns, 1);
    assert!(second.addresses().contains(&IpAddr::V6(RING6)));
    drop((first, second));
}
