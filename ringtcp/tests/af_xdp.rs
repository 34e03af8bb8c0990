//! ringtcp on a real (veth) interface through AF_XDP, the Linux kernel on the other end
//! in a namespace of its own: ARP both ways, data both ways from 1 byte to 50 MB,
//! sequential and concurrent connections, half-close, ringtcp as server and as client,
//! with two shards on a two-queue veth pair; and the kernel keeping its own traffic on
//! the same interface and address. Every test's name contains `af_xdp`.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr};
use std::process::Command;
use std::time::Duration;

use common::{Netns, echo_server, kernel_echo_client, pattern, privileged};
use ringtcp::Stack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KERNEL: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
const RING: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);

/// Two namespaces joined by a two-queue veth pair: `ring` (interface `xr`, where the
/// host's kernel also holds RING) and `kernel` (interface `xk`, KERNEL).
struct Pair {
    ring: Netns,
    kernel: Netns,
}

fn run(ns: &Netns, args: &[&str]) {
    let out = ns.command(args[0]).args(&args[1..]).output().expect("run a set-up command");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl Pair {
    fn new(tag: &str) -> Pair {
        let (ring, kernel) = (Netns::new(&format!("{tag}r")), Netns::new(&format!("{tag}k")));
        run(&ring, &["ip", "link", "add", "xr", "numtxqueues", "2", "numrxqueues", "2", "type", "veth", "peer", "name", "xk", "numtxqueues", "2", "numrxqueues", "2", "netns", &kernel.name]);
        run(&ring, &["ip", "addr", "add", "10.78.0.2/24", "dev", "xr"]);
        run(&ring, &["ip", "link", "set", "xr", "up"]);
        run(&kernel, &["ip", "addr", "add", "10.78.0.1/24", "dev", "xk"]);
        run(&kernel, &["ip", "link", "set", "xk", "up"]);
        // The kernel's frames reach XDP as they would from a wire: checksums complete,
        // no super-packets (a veth peer would otherwise leave both to "hardware").
        run(&kernel, &["ethtool", "-K", "xk", "tx", "off", "tso", "off", "gso", "off"]);
        Pair { ring, kernel }
    }

    fn stack(&self, shards: usize) -> Stack {
        self.ring
            .spawn(move || Stack::builder().shards(shards).af_xdp("xr", &[(IpAddr::V4(RING), 24)], &[]).build())
            .join()
            .expect("set-up thread")
            .expect("AF_XDP stack")
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn af_xdp_kernel_client_against_ringtcp_echo_server() {
    if !privileged("af_xdp_kernel_client_against_ringtcp_echo_server") {
        return;
    }
    let pair = Pair::new("xe");
    let stack = pair.stack(2);
    let rt = runtime();
    let listener = rt.block_on(stack.bind((RING, 7))).unwrap();
    rt.spawn(echo_server(listener));
    let addr = SocketAddr::from((RING, 7));
    for size in [1usize, 1000, 1 << 20, 50 << 20] {
        let data = pattern(size, size as u8);
        let back = pair.kernel.spawn({
            let data = data.clone();
            move || kernel_echo_client(addr, data)
        })
        .join()
        .unwrap();
        assert_eq!(back.len(), size, "echo of {size} bytes");
        assert!(back == data, "echo of {size} bytes intact");
    }
    let stats = stack.stats().unwrap();
    eprintln!("{stats:?}");
}
