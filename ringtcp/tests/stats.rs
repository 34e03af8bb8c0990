//! `Stack::stats()`: the counters a user reads move as the traffic that drives them runs.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ringtcp::transport::State;
use ringtcp::Stack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const A: Ipv4Addr = Ipv4Addr::new(10, 56, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 56, 0, 2);

/// Polls `stack.stats()` until `done` holds or two seconds pass; returns the last snapshot.
async fn stats_until(stack: &Stack, done: impl Fn(&ringtcp::StackStats) -> bool) -> ringtcp::StackStats {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let s = stack.stats().unwrap();
        if done(&s) || Instant::now() > deadline {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_moves_opens_segments_time_wait_and_io_counters() {
    const N: u64 = 200;
    let (client, server) = Stack::builder().shards(2).memory_pair(A, B).unwrap();
    let listener = server.bind((B, 80)).await.unwrap();
    let serving = tokio::spawn(async move {
        for _ in 0..N {
            let (mut s, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                let n = s.read(&mut buf).await.unwrap();
                s.write_all(&buf[..n]).await.unwrap();
                // Wait for the client's FIN so the client closes first and holds TIME-WAIT.
                assert_eq!(s.read(&mut buf).await.unwrap(), 0);
            });
        }
    });
    let before = client.stats().unwrap();
    assert_eq!(before.transport().active_opens, 0);
    for i in 0..N {
        let mut c = client.connect((B, 80)).await.unwrap();
        let msg = format!("ping {i}");
        c.write_all(msg.as_bytes()).await.unwrap();
        let mut got = vec![0u8; msg.len()];
        c.read_exact(&mut got).await.unwrap();
        assert_eq!(got, msg.as_bytes());
    }
    serving.await.unwrap();

    // A dropped stream's TIME-WAIT moves into the FIN cache when the shard processes the
    // drop, so the last few may take a moment.
    let fin_inserted = |s: &ringtcp::StackStats| s.shards.iter().map(|s| s.fin_cache.inserted).sum::<u64>();
    let c = stats_until(&client, |s| s.connections(State::TimeWait) as u64 == N && fin_inserted(s) == N).await;
    let s = stats_until(&server, |s| s.transport().passive_opens == N).await;
    assert_eq!(c.shards.len(), 2);
    assert_eq!(c.transport().active_opens, N, "{c}");
    assert_eq!(s.transport().passive_opens, N, "{s}");
    assert_eq!(c.connections(State::TimeWait) as u64, N, "the client closed first: {c}");
    let bytes: u64 = c.shards.iter().map(|s| s.fin_cache.bytes).sum();
    assert_eq!(fin_inserted(&c), N, "{c:?}");
    assert!(bytes > 0);
    // Each connection is at least SYN, ACK, data, FIN, ACK from the client.
    assert!(c.transport().tcp_out_segs >= 5 * N, "{c}");
    assert!(s.transport().tcp_in_segs >= 5 * N, "{s}");
    for shard in s.shards.iter().chain(&c.shards) {
        assert!(shard.io.packets_in > 0 && shard.io.submissions > 0 && shard.io.completions > 0, "{shard:?}");
    }
    let prom = s.to_prometheus();
    assert!(prom.contains(&format!("ringtcp_passive_opens{{shard=\"0\"}} {}", s.shards[0].transport.passive_opens)), "{prom}");
    assert!(prom.contains("# TYPE ringtcp_lock_wait_seconds summary"));
    // The connections' data passed through buffers of pooled chunks.
    assert!(s.buffer_pool.allocated_bytes > 0, "{s}");
    assert!(prom.contains("ringtcp_buffer_pool_bytes{state=\"allocated\"} "), "{prom}");
    // Every sample line is `ringtcp_<name>{<labels>} <number>`, which a Prometheus scraper parses.
    for line in prom.lines().filter(|l| !l.starts_with("# ")) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        assert!(series.starts_with("ringtcp_") && series.ends_with('}') && series.contains('{'), "{line}");
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_queue_depth_and_state_counts_follow_the_connections() {
    let (client, server) = Stack::builder().shards(2).memory_pair(A, B).unwrap();
    let listener = server.bind((B, 81)).await.unwrap();
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(client.connect((B, 81)).await.unwrap());
    }
    let s = stats_until(&server, |s| s.shards.iter().map(|x| x.accept_queued).sum::<usize>() == 6).await;
    assert_eq!(s.shards.iter().map(|x| x.accept_queued).sum::<usize>(), 6, "{s}");
    assert_eq!(s.connections(State::Established), 6, "queued connections are established: {s}");
    let mut accepted = Vec::new();
    for _ in 0..6 {
        accepted.push(listener.accept().await.unwrap().0);
    }
    let s = server.stats().unwrap();
    assert_eq!(s.shards.iter().map(|x| x.accept_queued).sum::<usize>(), 0, "{s}");
    // Per-state counts follow the connections: two clients close, their server sides
    // wait in CLOSE-WAIT and the clients in FIN-WAIT-2.
    for c in clients.iter_mut().take(2) {
        c.shutdown().await.unwrap();
    }
    let s = stats_until(&server, |s| s.connections(State::CloseWait) == 2).await;
    assert_eq!((s.connections(State::CloseWait), s.connections(State::Established)), (2, 4), "{s}");
    let c = stats_until(&client, |s| s.connections(State::FinWait2) == 2).await;
    assert_eq!((c.connections(State::FinWait2), c.connections(State::Established)), (2, 4), "{c}");
    drop((accepted, clients));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_churn_on_two_shards_waits_on_no_lock_shared_by_all_shards() {
    const N: usize = 3000;
    const CLIENTS: usize = 15;
    let (client, server) = Stack::builder().shards(2).memory_pair(A, B).unwrap();
    let listener = server.bind((B, 82)).await.unwrap();
    let accepting = tokio::spawn(async move {
        for _ in 0..N {
            let (mut s, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let _ = s.write_all(b"x").await;
            });
        }
    });
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..N / CLIENTS {
                let mut c = client.connect((B, 82)).await.unwrap();
                let mut b = [0u8; 1];
                c.read_exact(&mut b).await.unwrap();
            }
        }));
    }
    accepting.await.unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let s = server.stats().unwrap();
    assert!(s.transport().passive_opens >= N as u64, "{s}");
    assert!(s.shards.iter().all(|x| x.transport.passive_opens > 0), "both shards accepted: {s}");
    let shared: Vec<_> = s.locks.iter().filter(|l| l.scope == ringtcp::LockScope::Stack && l.waits > 0).collect();
    assert!(shared.is_empty(), "waits on a lock every shard shares: {shared:?}\n{s}");
    assert!(s.locks.iter().any(|l| l.name == "accept_queue"), "the accept queue lock is listed: {s}");
    println!("{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connect_counts_the_rst_on_both_sides() {
    let (client, server) = Stack::builder().shards(1).memory_pair(A, B).unwrap();
    let err = client.connect((B, 9)).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    let c = stats_until(&client, |s| s.transport().attempt_fails == 1).await;
    let s = server.stats().unwrap();
    assert_eq!((c.transport().active_opens, c.transport().in_rsts, c.transport().attempt_fails), (1, 1, 1), "{c}");
    assert_eq!((s.transport().out_rsts, s.transport().passive_opens), (1, 0), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_shows_as_retransmissions_and_out_of_order_arrivals() {
    use ringtcp::{ImpairConfig, Impairment};
    let lossy = ImpairConfig::symmetric(Impairment { loss: 0.05, ..Impairment::default() }, 11);
    // The link carries super-segments (offloads on, the default); the impairment layer
    // cuts them into the segments they stand for and loses segments, as a real link
    // would, so the holes are MSS-sized and SACK recovery repairs them.
    let (client, server) = Stack::builder().shards(1).impair(lossy).memory_pair(A, B).unwrap();
    let listener = server.bind((B, 83)).await.unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let expect = data.clone();
    let receiving = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        got
    });
    let mut c = client.connect((B, 83)).await.unwrap();
    c.write_all(&data).await.unwrap();
    c.shutdown().await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(60), receiving).await.unwrap().unwrap();
    assert!(got == expect, "bytes arrived intact and in order");
    let cs = client.stats().unwrap().transport();
    let ss = server.stats().unwrap().transport();
    assert!(cs.tcp_retrans_segs > 0, "{cs:?}");
    assert!(cs.fast_retransmits + cs.rto_timeouts > 0, "{cs:?}");
    assert!(cs.sack_recoveries > 0, "SACK is negotiated between two ringtcp stacks: {cs:?}");
    assert!(ss.ooo_segments > 0, "{ss:?}");
    let io = client.stats().unwrap().shards[0].io.clone();
    assert!(io.offloads && io.super_packets_out > 0, "the sender built super-segments: {io:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
async fn freed_buffers_are_handed_back_to_the_system_on_the_trim_interval() {
    let (client, server) = Stack::builder().shards(1).freed_memory(ringtcp::FreedMemory::GiveBackEvery(Duration::from_millis(20))).memory_pair(A, B).unwrap();
    let listener = server.bind((B, 81)).await.unwrap();
    // A megabyte echoed grows both stacks' buffers; they are freed once it is done.
    let echo = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            s.write_all(&buf[..n]).await.unwrap();
        }
    });
    let c = client.connect((B, 81)).await.unwrap();
    let (mut r, mut w) = c.into_split();
    let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 253) as u8).collect();
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&sent).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut back = Vec::new();
    r.read_to_end(&mut back).await.unwrap();
    writer.await.unwrap();
    echo.await.unwrap();
    assert!(back == data, "the echo came back intact");
    let s = stats_until(&client, |s| s.allocator_trims.trims >= 3).await;
    let t = s.allocator_trims;
    assert!(t.trims >= 3 && t.released <= t.trims && t.time > Duration::ZERO, "{t:?}");
    let text = s.to_prometheus();
    assert!(text.contains(&format!("ringtcp_allocator_trims{{allocator=\"glibc\",outcome=\"asked\"}} {}", t.trims)), "{text}");

    // Off: no thread, nothing counted.
    let (quiet, _peer) = Stack::builder().shards(1).freed_memory(ringtcp::FreedMemory::AllocatorDefault).memory_pair(Ipv4Addr::new(10, 56, 1, 1), Ipv4Addr::new(10, 56, 1, 2)).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(quiet.stats().unwrap().allocator_trims, Default::default());
}
