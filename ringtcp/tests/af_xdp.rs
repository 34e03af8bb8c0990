//! ringtcp on a real (veth) interface through AF_XDP, the Linux kernel on the other end
//! in a namespace of its own: ARP and neighbour discovery both ways, data both ways from
//! 1 byte to 50 MB, 10,000 sequential and 500 concurrent connections, half-close,
//! ringtcp as server and as client, with two shards on a two-queue veth pair; the
//! kernel keeping its own traffic on the same interface and address; an unanswered ARP
//! failing a connect. Every test's name contains `af_xdp`.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use common::{kernel_short_connections, echo_through, ring_short_connections, kernel_reversing_server, reversed_blocks, VethPair, echo_server, kernel_echo_client, kernel_echo_server, pattern, privileged, ring_echo_client, run_in};
use ringtcp::Stack;

const KERNEL: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
/// Held by the kernel of ringtcp's namespace too: ringtcp takes only its own ports.
const SHARED: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);
/// Held by ringtcp alone: only ringtcp answers ARP for it.
const RING: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 3);
const KERNEL6: Ipv6Addr = Ipv6Addr::new(0xfd78, 0, 0, 0, 0, 0, 0, 1);
const RING6: Ipv6Addr = Ipv6Addr::new(0xfd78, 0, 0, 0, 0, 0, 0, 3);

/// ringtcp's namespace (`xr`, where the namespace's kernel holds SHARED) and the kernel
/// peer's (`xk`: KERNEL and KERNEL6).
struct Pair(VethPair);

impl Pair {
    fn new(tag: &str) -> Pair {
        Pair(VethPair::new(tag, &["10.78.0.2/24"], &["10.78.0.1/24", "fd78::1/64 nodad"]))
    }

    /// A two-shard stack on `xr` answering for SHARED, RING and RING6.
    fn stack(&self) -> Stack {
        self.stack_in_modes(false)
    }

    /// [`stack`](Self::stack), with the XDP program forced into the kernel's generic path.
    fn stack_in_modes(&self, generic: bool) -> Stack {
        let addrs = [(IpAddr::V4(SHARED), 24), (IpAddr::V4(RING), 24), (IpAddr::V6(RING6), 64)];
        self.0
            .near
            .spawn(move || Stack::builder().shards(2).af_xdp("xr", &addrs, &[]).af_xdp_modes(generic, generic).build())
            .join()
            .expect("set-up thread")
            .expect("AF_XDP stack")
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn link_stats(stack: &Stack) -> Vec<ringtcp::transport::link::LinkStats> {
    stack.stats().unwrap().shards.iter().map(|s| s.af_xdp.as_ref().expect("an AF_XDP shard").link.clone()).collect()
}

#[test]
fn af_xdp_kernel_client_against_ringtcp_echo_server_resolving_ringtcp_by_arp() {
    if !privileged("af_xdp_kernel_client_against_ringtcp_echo_server_resolving_ringtcp_by_arp") {
        return;
    }
    echo_sizes_from_the_kernel(false);
}

/// The same with the XDP program in the kernel's generic path (any driver has it).
#[test]
fn af_xdp_generic_xdp_kernel_client_against_ringtcp_echo_server() {
    if !privileged("af_xdp_generic_xdp_kernel_client_against_ringtcp_echo_server") {
        return;
    }
    echo_sizes_from_the_kernel(true);
}

fn echo_sizes_from_the_kernel(generic: bool) {
    let pair = Pair::new(if generic { "xg" } else { "xe" });
    let stack = pair.stack_in_modes(generic);
    let rt = runtime();
    let listener = rt.block_on(stack.bind((RING, 7))).unwrap();
    rt.spawn(echo_server(listener));
    let addr = SocketAddr::from((RING, 7));
    for size in [1usize, 1000, 1 << 20, 50 << 20] {
        let data = pattern(size, size as u8);
        let back = pair.0.far.spawn({
            let data = data.clone();
            move || kernel_echo_client(addr, data)
        })
        .join()
        .unwrap();
        assert_eq!(back.len(), size, "echo of {size} bytes");
        assert!(back == data, "echo of {size} bytes intact");
    }
    // Only ringtcp holds RING, so the kernel learned its address from ringtcp's answer.
    let neigh = run_in(&pair.0.far, &["ip", "neigh", "show", "10.78.0.3", "dev", "xk"]);
    assert!(neigh.contains(&pair.0.near_mac()), "the kernel resolved ringtcp's address: {neigh:?}");
    let links = link_stats(&stack);
    assert!(links.iter().map(|l| l.arp_replies_sent).sum::<u64>() >= 1, "{links:?}");
    let shards = stack.stats().unwrap().shards;
    let x = shards[0].af_xdp.as_ref().unwrap();
    assert!(!x.zero_copy, "veth has no zero-copy mode");
    assert_eq!(x.native_xdp, !generic, "veth runs XDP in its driver unless told otherwise");
    let prom = stack.stats().unwrap().to_prometheus();
    let native = format!("ringtcp_af_xdp_native{{shard=\"1\"}} {}", u8::from(!generic));
    assert!(prom.contains("ringtcp_af_xdp_zero_copy{shard=\"0\"} 0") && prom.contains(&native), "{prom}");
    assert!(prom.lines().any(|l| l.starts_with("ringtcp_link{shard=\"0\",counter=\"arp_replies_sent\"}") && !l.ends_with(" 0")), "{prom}");
    assert_eq!(shards.iter().map(|s| s.af_xdp.as_ref().unwrap().forward_overflow).sum::<u64>(), 0);
}

#[test]
fn af_xdp_ringtcp_client_against_kernel_listener_resolving_the_kernel_by_arp() {
    if !privileged("af_xdp_ringtcp_client_against_kernel_listener_resolving_the_kernel_by_arp") {
        return;
    }
    let pair = Pair::new("xc");
    let stack = pair.stack();
    let listener = pair.0.far.spawn(move || std::net::TcpListener::bind((KERNEL, 9000)).unwrap()).join().unwrap();
    let size = 20 << 20;
    let server = kernel_reversing_server(listener);
    let rt = runtime();
    let data = pattern(size, 9);
    let back = rt.block_on(async {
        let sock = ringtcp::TcpSocket::new_v4_on(&stack);
        sock.bind(SocketAddr::from((RING, 0))).unwrap();
        echo_through(sock.connect(SocketAddr::from((KERNEL, 9000))).await.expect("ringtcp connect"), data.clone()).await
    });
    let (received, peer) = server.join().unwrap();
    assert_eq!(received, size);
    assert_eq!(peer.ip(), IpAddr::V4(RING));
    assert!(peer.port() >= 61000, "connections open from ringtcp's own port range: {peer}");
    let expected = reversed_blocks(&data);
    assert!(back == expected, "the kernel's reply arrived intact");
    let links = link_stats(&stack);
    assert!(links.iter().map(|l| l.resolved).sum::<u64>() >= 1, "ringtcp resolved the kernel by ARP: {links:?}");
}

#[test]
fn af_xdp_sequential_and_concurrent_connections_both_ways() {
    if !privileged("af_xdp_sequential_and_concurrent_connections_both_ways") {
        return;
    }
    let pair = Pair::new("xs");
    let stack = pair.stack();
    let rt = runtime();
    let listener = rt.block_on(stack.bind((SHARED, 80))).unwrap();
    rt.spawn(echo_server(listener));
    let addr = SocketAddr::from((SHARED, 80));
    kernel_short_connections(&pair.0.far, addr);

    // And the other way: ringtcp as client of a kernel echo server.
    kernel_echo_server(&pair.0.far, IpAddr::V4(KERNEL), 9200);
    let server = SocketAddr::from((KERNEL, 9200));
    rt.block_on(async {
        for size in [1usize, 1 << 20, 50 << 20] {
            let data = pattern(size, 5);
            assert!(ring_echo_client(&stack, server, data.clone()).await == data, "{size} bytes from ringtcp through the kernel and back");
        }
    });
    let failed = rt.block_on(ring_short_connections(&stack, server));
    assert_eq!(failed, 0, "every concurrent connection from ringtcp echoed intact");
}

#[test]
fn af_xdp_the_kernel_keeps_its_own_ports_on_the_same_address() {
    if !privileged("af_xdp_the_kernel_keeps_its_own_ports_on_the_same_address") {
        return;
    }
    let pair = Pair::new("xk");
    let stack = pair.stack();
    let rt = runtime();
    let listener = rt.block_on(stack.bind((SHARED, 7))).unwrap();
    rt.spawn(echo_server(listener));
    // A kernel service on the same interface and address, another port.
    kernel_echo_server(&pair.0.near, IpAddr::V4(SHARED), 8080);
    for port in [8080u16, 7, 8080, 7] {
        let addr = SocketAddr::from((SHARED, port));
        let data = pattern(100_000, port as u8);
        let back = pair.0.far.spawn({
            let data = data.clone();
            move || kernel_echo_client(addr, data)
        })
        .join()
        .unwrap();
        assert!(back == data, "port {port} answered");
    }
    // A port nobody listens on is the kernel's: it resets the connection.
    let refused = pair.0.far.spawn(|| std::net::TcpStream::connect_timeout(&SocketAddr::from((SHARED, 9)), Duration::from_secs(5)).map(drop)).join().unwrap();
    assert_eq!(refused.map_err(|e| e.kind()), Err(std::io::ErrorKind::ConnectionRefused));
    // Closing ringtcp's listener gives its port back to the kernel.
    drop(rt);
    drop(stack);
    let after = pair.0.far.spawn(|| std::net::TcpStream::connect_timeout(&SocketAddr::from((SHARED, 7)), Duration::from_secs(5)).map(drop)).join().unwrap();
    assert_eq!(after.map_err(|e| e.kind()), Err(std::io::ErrorKind::ConnectionRefused), "the kernel answers port 7 once ringtcp is gone");
}

#[test]
fn af_xdp_an_unanswered_arp_fails_the_connect_with_host_unreachable() {
    if !privileged("af_xdp_an_unanswered_arp_fails_the_connect_with_host_unreachable") {
        return;
    }
    let pair = Pair::new("xu");
    let stack = pair.stack();
    let rt = runtime();
    let started = std::time::Instant::now();
    let r = rt.block_on(async { tokio::time::timeout(Duration::from_secs(20), stack.connect((Ipv4Addr::new(10, 78, 0, 99), 80))).await });
    let err = r.expect("no hang").expect_err("nobody has 10.78.0.99");
    assert_eq!(err.kind(), std::io::ErrorKind::HostUnreachable, "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "after the three requests, {:?}", started.elapsed());
    let links = link_stats(&stack);
    assert_eq!(links.iter().map(|l| l.resolution_failures).sum::<u64>(), 1, "{links:?}");
}

#[test]
fn af_xdp_ipv6_echo_both_ways_resolving_by_neighbour_discovery() {
    if !privileged("af_xdp_ipv6_echo_both_ways_resolving_by_neighbour_discovery") {
        return;
    }
    let pair = Pair::new("x6");
    let stack = pair.stack();
    let rt = runtime();
    let listener = rt.block_on(stack.bind((RING6, 7))).unwrap();
    rt.spawn(echo_server(listener));
    let addr = SocketAddr::from((RING6, 7));
    let data = pattern(1 << 20, 6);
    let back = pair.0.far.spawn({
        let data = data.clone();
        move || kernel_echo_client(addr, data)
    })
    .join()
    .unwrap();
    assert!(back == data, "1 MB over IPv6 from the kernel and back");
    let neigh = run_in(&pair.0.far, &["ip", "-6", "neigh", "show", "fd78::3", "dev", "xk"]);
    assert!(neigh.contains(&pair.0.near_mac()), "the kernel resolved ringtcp by neighbour discovery: {neigh:?}");
    kernel_echo_server(&pair.0.far, IpAddr::V6(KERNEL6), 9300);
    let back = rt.block_on(ring_echo_client(&stack, SocketAddr::from((KERNEL6, 9300)), data.clone()));
    assert!(back == data, "1 MB over IPv6 from ringtcp and back");
    let links = link_stats(&stack);
    assert!(links.iter().map(|l| l.ndp_advertisements_sent).sum::<u64>() >= 1, "{links:?}");
}
