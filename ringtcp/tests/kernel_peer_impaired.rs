//! The kernel-peer scenarios again with 5 % loss and 5 % reordering on the TUN path (both
//! directions, seeded, whole super-segments lost with the device's offloads on), inside a
//! network namespace the test creates, over IPv4 and over IPv6 (two tests, which run side
//! by side).

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::time::Duration;

use common::{Netns, echo_server, kernel_echo_client, pattern, privileged};
use ringtcp::{ImpairConfig, Impairment, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KERNEL4: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
const RING4: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);
const KERNEL6: Ipv6Addr = Ipv6Addr::new(0xfd78, 0, 0, 0, 0, 0, 0, 1);
const RING6: Ipv6Addr = Ipv6Addr::new(0xfd78, 0, 0, 0, 0, 0, 0, 2);

fn impaired_stack(ns: &Netns) -> Stack {
    let imp = Impairment {
        loss: 0.05,
        reorder: 0.05,
        reorder_delay: Duration::from_millis(3),
        ..Impairment::default()
    };
    ns.spawn(move || {
        Stack::builder()
            .shards(2)
            .impair(ImpairConfig::symmetric(imp, 42))
            .tun("ringtcp1", KERNEL4, RING4, 24)
            .tun_v6(KERNEL6, RING6, 64)
            .build()
    })
    .join()
    .unwrap()
    .expect("impaired TUN stack")
}

#[test]
fn kernel_and_ringtcp_through_loss_and_reordering_over_ipv4() {
    through_loss_and_reordering(IpAddr::V4(KERNEL4), IpAddr::V4(RING4));
}

#[test]
fn kernel_and_ringtcp_through_loss_and_reordering_over_ipv6() {
    through_loss_and_reordering(IpAddr::V6(KERNEL6), IpAddr::V6(RING6));
}

fn through_loss_and_reordering(kernel: IpAddr, ring: IpAddr) {
    if !privileged(&format!("kernel_and_ringtcp_through_loss_and_reordering ({ring})")) {
        return;
    }
    let ns = Netns::new("impaired");
    let stack = impaired_stack(&ns);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let listener = rt.block_on(stack.bind((ring, 7))).unwrap();
    rt.spawn(echo_server(listener));
    let addr = SocketAddr::from((ring, 7));
    // Kernel client, ringtcp server: 1 B to 3 MB.
    for size in [1usize, 100_000, 3 << 20] {
        let data = pattern(size, 1);
        let back = ns.spawn({
            let d = data.clone();
            move || kernel_echo_client(addr, d)
        })
        .join()
        .unwrap();
        assert!(back == data, "echo of {size} bytes intact through loss");
    }
    // Short connections, sequential and concurrent.
    ns.spawn(move || {
        for i in 0..200u32 {
            assert_eq!(kernel_echo_client(addr, i.to_be_bytes().to_vec()), i.to_be_bytes());
        }
    })
    .join()
    .unwrap();
    let concurrent: Vec<_> = (0..50u8).map(|i| ns.spawn(move || kernel_echo_client(addr, pattern(5000, i)) == pattern(5000, i))).collect();
    for t in concurrent {
        assert!(t.join().unwrap());
    }
    // ringtcp client, kernel server: 2 MB each way.
    let kl = ns.spawn(move || std::net::TcpListener::bind((kernel, 9100)).unwrap()).join().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = kl.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        s.write_all(&got).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        got.len()
    });
    let data = pattern(2 << 20, 5);
    let back = rt.block_on(async {
        let c = stack.connect((kernel, 9100)).await.unwrap();
        let (mut r, mut w) = tokio::io::split(c);
        let send = data.clone();
        let writer = tokio::spawn(async move {
            w.write_all(&send).await.unwrap();
            w.shutdown().await.unwrap();
            w
        });
        let mut back = Vec::new();
        tokio::time::timeout(Duration::from_secs(120), r.read_to_end(&mut back)).await.unwrap().unwrap();
        drop(writer.await.unwrap());
        back
    });
    assert_eq!(server.join().unwrap(), data.len());
    assert!(back == data, "the kernel's echo arrived intact through loss");
    // With the device's offloads on, whole super-segments were lost both ways (the layer
    // drops frames) and their segments came back one by one through retransmission.
    let stats = stack.stats().unwrap();
    let io = |f: fn(&ringtcp_runtime::stats::IoStats) -> u64| stats.shards.iter().map(|s| f(&s.io)).sum::<u64>();
    assert!(stats.shards.iter().all(|s| s.io.offloads));
    assert!(io(|i| i.super_packets_out) > 0 && io(|i| i.super_packets_in) > 0, "super-segments went through the impaired path");
    assert!(stats.transport().tcp_retrans_segs > 0);
}
