//! The stack's resource limits end to end: a thousand readers that do not read keep the
//! server within its buffer-memory bound (transport buffers and the sockets' own,
//! together) and lose nothing (over the in-memory link); the connection limit drops kernel
//! clients' SYNs past it and refuses `connect` with a clear error (over TUN, in a
//! namespace the test makes).

use std::net::Ipv4Addr;
use std::time::Duration;

use ringtcp::Stack;
use ringtcp_runtime::testing::{Netns, privileged};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const A: Ipv4Addr = Ipv4Addr::new(10, 59, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 59, 0, 2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_slow_readers_stay_within_the_memory_bound_and_lose_nothing() {
    const CONNS: usize = 1000;
    const BYTES: usize = 64 * 1024;
    const BOUND: usize = 16 << 20;
    let (client, server) = Stack::builder().shards(2).buffer_memory(BOUND).memory_pair(A, B).expect("in-memory stacks");
    let listener = server.bind((B, 80)).await.unwrap();
    let writers: Vec<_> = (0..CONNS)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut c = client.connect((B, 80)).await.unwrap();
                c.write_all(&vec![i as u8; BYTES]).await.unwrap();
                c.shutdown().await.unwrap();
                c
            })
        })
        .collect();
    let mut accepted = Vec::new();
    while accepted.len() < CONNS {
        let (s, _) = tokio::time::timeout(Duration::from_secs(30), listener.accept()).await.expect("accept").unwrap();
        accepted.push(s);
    }
    // 64 MB are on their way and nobody reads: the server holds what its bound allows.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats = server.stats().unwrap();
    let held: usize = stats.shards.iter().map(|s| s.buffer_memory).sum();
    // Past the limit each connection keeps a minimum of 4 KiB per direction and side.
    assert!(held <= BOUND + CONNS * 4 * 4096, "{held} bytes held for {CONNS} slow readers (bound {BOUND})");
    let t = stats.transport();
    assert!(t.memory_pressure > 0, "{t:?}");
    // Now everyone reads: every byte arrives, intact.
    let readers: Vec<_> = accepted
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move {
                let mut got = Vec::new();
                s.read_to_end(&mut got).await.unwrap();
                got
            })
        })
        .collect();
    let mut seen = vec![false; CONNS];
    for r in readers {
        let got = tokio::time::timeout(Duration::from_secs(60), r).await.expect("reader finished").unwrap();
        assert_eq!(got.len(), BYTES);
        let i = usize::from(got[0]) % 256;
        assert!(got.iter().all(|&b| b == got[0]), "a connection's bytes are its own");
        seen[i] = true;
    }
    assert!(seen.iter().take(256).all(|&s| s));
    for w in writers {
        drop(w.await.unwrap());
    }
}

#[test]
fn the_connection_limit_drops_syns_and_refuses_connect() {
    if !privileged("the_connection_limit_drops_syns_and_refuses_connect") {
        return;
    }
    const KERNEL: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
    const RING: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
    let ns = Netns::new("connlimit");
    let stack = ns
        .spawn(|| Stack::builder().shards(1).max_connections(2).tun("ringtcp0", KERNEL, RING, 24).build())
        .join()
        .expect("set-up thread")
        .expect("TUN stack");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let listener = rt.block_on(stack.bind((RING, 80))).unwrap();
    // Kernel clients: two get in, the third's SYNs are dropped.
    let outcomes = ns
        .spawn(|| {
            let addr = std::net::SocketAddr::from((RING, 80));
            let held: Vec<_> = (0..2).map(|_| std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))).collect();
            let third = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(1500));
            (held, third)
        })
        .join()
        .unwrap();
    assert!(outcomes.0.iter().all(|c| c.is_ok()), "the first two connect: {:?}", outcomes.0);
    let third = outcomes.1.expect_err("the third finds the stack full");
    assert_eq!(third.kind(), std::io::ErrorKind::TimedOut, "its SYNs went unanswered: {third}");
    let stats = stack.stats().unwrap();
    assert!(stats.drops().connection_limit > 0, "{:?}", stats.drops());
    assert_eq!(stats.shards[0].live_connections, 2);
    // The stack is full for outbound connections too: connect fails at once, clearly.
    let err = rt.block_on(stack.connect((KERNEL, 9))).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory, "{err}");
    assert!(err.to_string().contains("max_connections"), "{err}");
    assert!(stack.stats().unwrap().transport().connect_limited > 0);
    drop(listener);
}
