//! The buffer pool keeps the chunks the load keeps using and gives back those that stayed
//! idle through a window of ticks. One test in its own binary: the pool is the process's,
//! so nothing else may take or give chunks meanwhile.

use ringtcp_transport::ByteQueue;
use ringtcp_transport::buffer_pool::{self, CHUNK, IdleChunks};

/// Buffers `bytes` on a thread of its own, which then ends: its chunks go to the queue all
/// threads share.
fn buffer_on_a_thread(bytes: usize) {
    std::thread::spawn(move || {
        let mut q = ByteQueue::new();
        q.extend_from_slice(&vec![7u8; bytes]);
        assert_eq!(q.len(), bytes);
    })
    .join()
    .unwrap();
}

#[test]
fn idle_chunks_go_back_after_the_window_and_chunks_in_use_stay() {
    buffer_on_a_thread(4 << 20);
    let start = buffer_pool::stats();
    let total = start.allocated_bytes;
    assert!(total >= 4 << 20 && total < (4 << 20) + CHUNK, "{start:?}");
    assert_eq!(start.shared_free_bytes, total, "a thread that ends leaves its chunks to the others");

    // Another thread reuses 1 MB of them: nothing new is allocated.
    let mut idle = IdleChunks::new(2);
    assert_eq!(idle.tick(), 0, "nothing has been watched for two ticks yet");
    buffer_on_a_thread(1 << 20);
    assert_eq!(buffer_pool::stats().allocated_bytes, total, "reused, not allocated");
    assert_eq!(idle.tick(), 0, "the first tick saw nothing idle");

    // Two ticks after the reuse: what stayed free through both goes, what was used stays.
    let freed = idle.tick();
    let after = buffer_pool::stats();
    assert!(freed >= 2 << 20 && freed <= 3 << 20, "freed {freed}");
    assert_eq!(after.allocated_bytes, total - freed);
    assert!(after.shared_free_bytes >= 1 << 20, "the megabyte in use within the window stays: {after:?}");

    // Taken again, the freed memory comes from the system.
    buffer_on_a_thread(4 << 20);
    assert_eq!(buffer_pool::stats().allocated_bytes, total);
}
