//! ringtcp ↔ ringtcp over the in-memory link, 2 shards on each side, through the real
//! shard threads and io_uring: echo, many concurrent connections, half-close, errors.

use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

mod common;

use common::{echo_server, pattern};
use ringtcp::Stack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const A: Ipv4Addr = Ipv4Addr::new(10, 55, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 55, 0, 2);

fn pair() -> (Stack, Stack) {
    Stack::builder().shards(2).memory_pair(A, B).expect("in-memory stacks")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_one_megabyte_both_ways() {
    let (client, server) = pair();
    let listener = server.bind((B, 7)).await.unwrap();
    tokio::spawn(echo_server(listener));
    let s = client.connect((B, 7)).await.unwrap();
    assert_eq!(s.peer_addr().unwrap(), (B, 7).into());
    let data = pattern(1 << 20, 3);
    let back = echo_through(s, &data).await;
    assert_eq!(back.len(), data.len());
    assert!(back == data, "every byte intact and in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_connections() {
    let (client, server) = pair();
    let listener = server.bind((B, 9)).await.unwrap();
    tokio::spawn(echo_server(listener));
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = client.connect((B, 9)).await?;
            let msg = pattern(1000 + i as usize, i as u8);
            s.write_all(&msg).await?;
            s.shutdown().await?;
            let mut back = Vec::new();
            s.read_to_end(&mut back).await?;
            assert_eq!(back, msg);
            io::Result::Ok(())
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(30), t).await.expect("finished").unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multishot_plain_and_in_process_links_all_carry_data() {
    use ringtcp::ReadMode;
    let (qc, qs) = pair();
    assert_eq!(qc.read_modes(), vec![ReadMode::InProcess; 2], "the default in-memory link is in-process queues");
    let (client, server) = Stack::builder().shards(2).socket_pair_link(true).memory_pair(A, B).unwrap();
    // Linux 6.7+ has multishot reads and the probe picks them; older kernels read plainly.
    let expected = if kernel_at_least(6, 7) { ReadMode::Multishot } else { ReadMode::Plain };
    assert_eq!(client.read_modes(), vec![expected; 2]);
    let (pc, ps) = Stack::builder().shards(2).socket_pair_link(true).plain_reads(true).memory_pair(A, B).unwrap();
    assert_eq!(pc.read_modes(), vec![ReadMode::Plain; 2]);
    let used = client.clone();
    for (c, s) in [(qc, qs), (client, server), (pc, ps)] {
        let listener = s.bind((B, 21)).await.unwrap();
        tokio::spawn(echo_server(listener));
        let mut conn = c.connect((B, 21)).await.unwrap();
        let data = pattern(200_000, 9);
        conn.write_all(&data).await.unwrap();
        conn.shutdown().await.unwrap();
        let mut back = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut back)).await.unwrap().unwrap();
        assert!(back == data);
    }
    assert_eq!(used.read_modes(), vec![expected; 2], "no shard fell back to plain reads during the run");
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_to_a_closed_port_is_refused() {
    let (client, _server) = pair();
    let err = client.connect((B, 4444)).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

#[tokio::test(flavor = "current_thread")]
async fn half_close_both_ways_on_a_current_thread_runtime() {
    let (client, server) = pair();
    let listener = server.bind((B, 11)).await.unwrap();
    let srv = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        // Read the whole request (the client shut down its side), then answer.
        let mut req = Vec::new();
        s.read_to_end(&mut req).await.unwrap();
        s.write_all(&req.iter().rev().copied().collect::<Vec<_>>()).await.unwrap();
        s.shutdown().await.unwrap();
    });
    let mut c = client.connect((B, 11)).await.unwrap();
    c.write_all(b"abcdef").await.unwrap();
    c.shutdown().await.unwrap();
    let mut reply = Vec::new();
    c.read_to_end(&mut reply).await.unwrap();
    assert_eq!(reply, b"fedcba");
    srv.await.unwrap();
    let err = c.write_all(b"late").await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
}

/// Sends `data` on `s` while reading the echo, half-closes, and returns what came back.
async fn echo_through(s: ringtcp::TcpStream, data: &[u8]) -> Vec<u8> {
    let (mut r, mut w) = tokio::io::split(s);
    let send = data.to_vec();
    let writer = tokio::spawn(async move {
        w.write_all(&send).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut back = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), r.read_to_end(&mut back)).await.expect("echo finished").unwrap();
    writer.await.unwrap();
    back
}

/// Echoes `size` bytes through a pair built by `builder`; returns the client's packets
/// written and the super-segments among them, and whether the client's shards use
/// offloads.
async fn echo_counting(builder: ringtcp::StackBuilder, size: usize) -> ((u64, u64), bool) {
    let (client, server) = builder.memory_pair(A, B).unwrap();
    let listener = server.bind((B, 9)).await.unwrap();
    tokio::spawn(echo_server(listener));
    let data = pattern(size, 7);
    let back = echo_through(client.connect((B, 9)).await.unwrap(), &data).await;
    assert!(back == data, "every byte intact and in order");
    let stats = client.stats().unwrap();
    let io = |f: fn(&ringtcp_runtime::stats::IoStats) -> u64| stats.shards.iter().map(|s| f(&s.io)).sum::<u64>();
    ((io(|i| i.packets_out), io(|i| i.super_packets_out)), stats.shards.iter().all(|s| s.io.offloads))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_carries_super_segments_unless_offloads_are_off() {
    let ((packets, supers), on) = echo_counting(Stack::builder().shards(1), 8 << 20).await;
    assert!(on, "offloads are on by default");
    assert!(supers > 0, "8 MB went out in super-segments: {supers} of {packets} packets");
    let ((packets_off, supers_off), on) = echo_counting(Stack::builder().shards(1).offloads(false), 8 << 20).await;
    assert!(!on);
    assert_eq!(supers_off, 0);
    assert!(packets_off > packets, "one segment a packet takes more packets: {packets_off} against {packets}");
}
