//! ringtcp sockets under different async runtimes, and what happens when a shard thread
//! is gone: every pending and later call fails, none hangs.

use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use ringtcp::Stack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const A: Ipv4Addr = Ipv4Addr::new(10, 57, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 57, 0, 2);

async fn round_trip(client: &Stack, server: &Stack, port: u16) {
    let listener = server.bind((B, port)).await.unwrap();
    let (c, s) = tokio::join!(client.connect((B, port)), listener.accept());
    let (mut c, (mut s, _)) = (c.unwrap(), s.unwrap());
    c.write_all(b"hello from any runtime").await.unwrap();
    c.shutdown().await.unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"hello from any runtime");
}

#[test]
fn works_inside_tokio_uring_start() {
    let (client, server) = Stack::builder().shards(1).memory_pair(A, B).unwrap();
    tokio_uring::start(async move {
        round_trip(&client, &server, 7).await;
    });
}

#[test]
fn works_on_a_current_thread_runtime_and_a_multi_thread_one() {
    let (client, server) = Stack::builder().shards(2).memory_pair(A, B).unwrap();
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(round_trip(&client, &server, 8));
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(round_trip(&client, &server, 9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_shard_fails_pending_and_later_calls() {
    for thread_per_core in [false, true] {
        a_stopped_shard_fails_calls(thread_per_core).await;
    }
}

async fn a_stopped_shard_fails_calls(thread_per_core: bool) {
    let (client, server) = Stack::builder().shards(1).thread_per_core(thread_per_core).memory_pair(A, B).unwrap();
    let listener = server.bind((B, 10)).await.unwrap();
    let (c, s) = tokio::join!(client.connect((B, 10)), listener.accept());
    let (mut c, _s) = (c.unwrap(), s.unwrap());
    // A read that waits on data that will never come...
    let pending = tokio::spawn(async move {
        let mut buf = [0u8; 8];
        let r = c.read(&mut buf).await;
        (r.map_err(|e| e.kind()), c)
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // ...then the client's shard thread stops (the last handle on its stack goes).
    drop(client);
    let (r, mut c) = tokio::time::timeout(Duration::from_secs(10), pending).await.expect("no hang").unwrap();
    assert_eq!(r, Err(io::ErrorKind::BrokenPipe), "thread_per_core={thread_per_core}");
    let later = tokio::time::timeout(Duration::from_secs(10), c.write_all(b"x")).await.expect("no hang");
    assert_eq!(later.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
}
