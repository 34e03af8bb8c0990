//! Connections split with `into_split` give back everything they held once both halves
//! are dropped (each split socket, its buffers included, used to stay allocated for ever:
//! the soak harness found it). The allocator counts live bytes; a few hundred split
//! connections with data both ways must not add to them.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicI64, Ordering};

use ringtcp::Stack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: the caller's layout contract passes through.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const A: Ipv4Addr = Ipv4Addr::new(10, 57, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 57, 0, 2);

async fn transfers(client: &Stack, n: usize) {
    for i in 0..n {
        let c = client.connect((B, 81)).await.unwrap();
        let (mut r, mut w) = c.into_split();
        let data = vec![i as u8; 200_000];
        let writer = tokio::spawn(async move {
            w.write_all(&data).await.unwrap();
            w.shutdown().await.unwrap();
        });
        let mut back = Vec::new();
        r.read_to_end(&mut back).await.unwrap();
        writer.await.unwrap();
        assert!(back.len() == 200_000 && back.iter().all(|&b| b == i as u8), "echo intact");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_connections_give_back_their_memory() {
    let (client, server) = Stack::builder().shards(2).memory_pair(A, B).expect("in-memory stacks");
    let listener = server.bind((B, 81)).await.unwrap();
    tokio::spawn(async move {
        while let Ok((c, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = c.into_split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    // Warm up: pools, tables and the FIN cache's index reach their working size.
    transfers(&client, 50).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = LIVE.load(Ordering::Relaxed);
    transfers(&client, 300).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let grown = LIVE.load(Ordering::Relaxed) - before;
    // Leaking each socket and its buffers would add tens of kilobytes per connection.
    assert!(grown < 2 << 20, "300 split connections left {grown} bytes allocated");
}
