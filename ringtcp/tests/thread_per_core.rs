//! Thread-per-core mode: application tasks on the shard threads serve and open
//! connections through their own shard; tasks elsewhere still work; calls that would wait
//! on their own thread fail with a clear error instead of hanging.

use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ringtcp::Stack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const A: Ipv4Addr = Ipv4Addr::new(10, 61, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 61, 0, 2);

/// Request `i`: 64 bytes that name it, so a mixed-up answer is caught.
fn request(shard: usize, i: u64) -> [u8; 64] {
    let mut r = [0u8; 64];
    for (k, b) in r.iter_mut().enumerate() {
        *b = (shard as u64 * 7919 + i * 31 + k as u64) as u8;
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_on_every_shard_serve_and_connect_through_their_own_shard() {
    let (client, server) = Stack::builder().shards(2).thread_per_core(true).memory_pair(A, B).unwrap();
    assert!(client.is_thread_per_core() && server.is_thread_per_core());
    let listener = server.bind((B, 7)).await.unwrap();
    let served = Arc::new(AtomicU64::new(0));
    let per_shard_served: Vec<Arc<AtomicU64>> = (0..2).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let _servers = server
        .spawn_on_shards(|shard| {
            let listener = listener.try_clone();
            let (served, mine) = (served.clone(), per_shard_served[shard].clone());
            async move {
                while let Ok((mut s, _)) = listener.accept().await {
                    let (served, mine) = (served.clone(), mine.clone());
                    tokio::spawn(async move {
                        let mut req = [0u8; 64];
                        s.read_exact(&mut req).await.unwrap();
                        s.write_all(&req).await.unwrap();
                        s.shutdown().await.unwrap();
                        served.fetch_add(1, Ordering::Relaxed);
                        mine.fetch_add(1, Ordering::Relaxed);
                    });
                }
            }
        })
        .unwrap();

    const PER_SHARD: u64 = 300;
    let clients = client
        .spawn_on_shards(|shard| {
            let client = client.clone();
            async move {
                for i in 0..PER_SHARD {
                    let mut c = client.connect((B, 7)).await.unwrap();
                    let req = request(shard, i);
                    c.write_all(&req).await.unwrap();
                    let mut back = Vec::new();
                    c.read_to_end(&mut back).await.unwrap();
                    assert_eq!(back, req, "connection {i} of shard {shard}: the answer is its own request");
                }
            }
        })
        .unwrap();
    clients.join().await.expect("every client task finished");
    // Connections from a thread that is not a shard's still work (through the doorbells).
    let mut c = client.connect((B, 7)).await.unwrap();
    c.write_all(&request(9, 9)).await.unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, request(9, 9));

    let total = 2 * PER_SHARD + 1;
    for _ in 0..200 {
        if served.load(Ordering::Relaxed) == total {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(served.load(Ordering::Relaxed), total);
    // Each client shard connects from ports steered to its twin on the server side, so
    // both server shards served.
    assert!(per_shard_served.iter().all(|n| n.load(Ordering::Relaxed) >= PER_SHARD), "{per_shard_served:?}");
    let s = server.stats().unwrap();
    assert_eq!(s.transport().passive_opens, total, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_calls_on_a_shard_thread_fail_clearly_instead_of_hanging() {
    let (client, _server) = Stack::builder().shards(1).thread_per_core(true).memory_pair(A, B).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut tx = Some(tx);
    client
        .spawn_on_shards(|_| {
            let (stack, tx) = (client.clone(), tx.take());
            async move {
                let bind = stack.bind((A, 9)).await.map(|_| ());
                let stats = stack.stats().map(|_| ());
                if let Some(tx) = tx {
                    let _ = tx.send((bind, stats));
                }
            }
        })
        .unwrap();
    let (bind, stats) = rx.await.unwrap();
    let e = bind.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
    assert!(e.to_string().contains("before spawning onto the shards"), "{e}");
    assert_eq!(stats.unwrap_err().kind(), ErrorKind::WouldBlock);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawning_on_shards_needs_thread_per_core_mode() {
    let (client, _server) = Stack::builder().shards(1).memory_pair(A, B).unwrap();
    assert!(!client.is_thread_per_core());
    let e = client.spawn_on_shards(|_| async {}).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("thread_per_core(true)"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_polling_shards_carry_the_same_traffic_in_both_modes() {
    for tpc in [false, true] {
        let (client, server) = Stack::builder()
            .shards(2)
            .thread_per_core(tpc)
            .busy_poll(std::time::Duration::from_micros(30))
            .memory_pair(A, B)
            .unwrap();
        let listener = server.bind((B, 11)).await.unwrap();
        let serve = |listener: ringtcp::TcpListener| async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut req = [0u8; 64];
                    if s.read_exact(&mut req).await.is_ok() {
                        let _ = s.write_all(&req).await;
                    }
                });
            }
        };
        if tpc {
            server.spawn_on_shards(|_| serve(listener.try_clone())).unwrap();
        } else {
            tokio::spawn(serve(listener.try_clone()));
        }
        let mut tasks = Vec::new();
        for t in 0..8u64 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..50 {
                    let mut c = client.connect((B, 11)).await.unwrap();
                    let req = request(t as usize, i);
                    c.write_all(&req).await.unwrap();
                    let mut back = [0u8; 64];
                    c.read_exact(&mut back).await.unwrap();
                    assert_eq!(back, req, "thread_per_core={tpc}");
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        drop(listener);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thread_per_core_shards_recover_from_loss_delay_and_reordering() {
    use ringtcp::{ImpairConfig, Impairment};
    // Retransmission and delayed-ACK timers run through the shard task's sleep_until here.
    let lossy = ImpairConfig::symmetric(
        Impairment { loss: 0.05, reorder: 0.05, delay: std::time::Duration::from_millis(2), ..Impairment::default() },
        23,
    );
    let (client, server) = Stack::builder().shards(2).thread_per_core(true).impair(lossy).memory_pair(A, B).unwrap();
    let listener = server.bind((B, 13)).await.unwrap();
    server
        .spawn_on_shards(|_| {
            let listener = listener.try_clone();
            async move {
                while let Ok((mut s, _)) = listener.accept().await {
                    tokio::spawn(async move {
                        let (mut r, mut w) = s.split();
                        let _ = tokio::io::copy(&mut r, &mut w).await;
                    });
                }
            }
        })
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    client
        .spawn_on_shards(|shard| {
            let (client, tx) = (client.clone(), tx.clone());
            async move {
                for i in 0..4u64 {
                    let data: Vec<u8> = (0..100_000u64).map(|k| (k * 7 + i * 13 + shard as u64) as u8).collect();
                    let mut c = client.connect((B, 13)).await.unwrap();
                    let (mut r, mut w) = c.split();
                    let send = async {
                        w.write_all(&data).await.unwrap();
                        w.shutdown().await.unwrap();
                    };
                    let mut back = Vec::new();
                    let recv = r.read_to_end(&mut back);
                    let ((), got) = tokio::join!(send, recv);
                    got.unwrap();
                    let _ = tx.send(back == data);
                }
            }
        })
        .unwrap();
    drop(tx);
    let mut ok = 0;
    while let Some(intact) = tokio::time::timeout(std::time::Duration::from_secs(60), rx.recv()).await.expect("progress") {
        assert!(intact, "an echo came back different");
        ok += 1;
    }
    assert_eq!(ok, 8, "every transfer finished");
    let s = client.stats().unwrap();
    assert!(s.transport().tcp_retrans_segs > 0, "loss was there and was repaired: {s}");
}
