//! The backlog holds end to end: a listener with backlog 16 whose application does not
//! accept, and 1,000 clients connecting, keeps at most 16 established connections per
//! shard (the rest wait: SYNs dropped, or cookies whose ACK finds the queue full), in
//! bounded memory; accepting later serves the queued connections, then the waiting ones.

use std::net::Ipv4Addr;
use std::time::Duration;

use ringtcp::transport::State;
use ringtcp::{Stack, TcpSocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const A: Ipv4Addr = Ipv4Addr::new(10, 56, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 56, 0, 2);
const BACKLOG: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_acceptor_holds_only_its_backlog() {
    let (client, server) = Stack::builder().shards(2).memory_pair(A, B).expect("in-memory stacks");
    let socket = TcpSocket::new_v4_on(&server);
    socket.bind((B, 80).into()).unwrap();
    let listener = socket.listen(BACKLOG as u32).unwrap();

    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut clients = Vec::new();
    for i in 0..1000u32 {
        let client = client.clone();
        let done = done_tx.clone();
        clients.push(tokio::spawn(async move {
            let Ok(mut s) = client.connect((B, 80)).await else { return };
            let msg = i.to_be_bytes();
            if s.write_all(&msg).await.is_err() {
                return;
            }
            let mut back = [0u8; 4];
            if s.read_exact(&mut back).await.is_ok() {
                assert_eq!(back, msg, "the echo of our own request");
                let _ = done.send(i);
            }
        }));
    }

    // Nobody accepts for a while: the handshakes that can complete do.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stats = server.stats().unwrap();
    for s in &stats.shards {
        assert_eq!(s.accept_queued, BACKLOG, "shard {}: a full accept queue", s.shard);
        assert!(s.in_state(State::Established) <= BACKLOG, "shard {}: {} established", s.shard, s.in_state(State::Established));
        assert!(s.live_connections <= 2 * BACKLOG, "shard {}: {} connections held", s.shard, s.live_connections);
        assert!(s.buffer_memory < 4 << 20, "shard {}: {} buffer bytes", s.shard, s.buffer_memory);
    }
    let drops = stats.drops();
    assert!(drops.accept_queue_full > 0, "{drops:?}");
    assert!(stats.transport().syncookies_sent > 0, "the SYN queues overflowed into cookies");

    // Accepting now serves the queued connections first, each with its request intact.
    let queued = stats.shards.len() * BACKLOG;
    let mut served = Vec::new();
    for _ in 0..queued {
        let (mut s, _) = tokio::time::timeout(Duration::from_secs(5), listener.accept()).await.expect("a queued connection").unwrap();
        let mut req = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut req)).await.expect("its request").unwrap();
        s.write_all(&req).await.unwrap();
        served.push(s);
    }
    for _ in 0..queued {
        tokio::time::timeout(Duration::from_secs(10), done_rx.recv()).await.expect("the queued clients got their echo");
    }

    // The clients still waiting get in as they retry (their SYN, or their request riding
    // on a cookie ACK) once there is room.
    let more = tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut req = [0u8; 4];
                if s.read_exact(&mut req).await.is_ok() {
                    let _ = s.write_all(&req).await;
                }
            });
            n += 1;
        }
        n
    });
    let extra = tokio::time::timeout(Duration::from_secs(15), async {
        for _ in 0..BACKLOG {
            done_rx.recv().await;
        }
    })
    .await;
    assert!(extra.is_ok(), "waiting clients are served once the application accepts");
    more.abort();
    for c in clients {
        c.abort();
    }
}
