//! An in-process link: two stacks of one process joined by packet queues in memory.
//!
//! The socket-pair link (`link.rs`) moves every packet through the kernel and wakes the
//! other shard's thread for each one. Between two threads of one process the kernel has
//! nothing to add: here a shard appends whole packets to the other's inbound queue and
//! rings the other shard's doorbell only when the queue turns non-empty, so while both
//! shards are busy no system call is made at all. The reading shard takes the whole queue
//! at once, once per turn of its loop.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::lock::{LockScope, LockStats, TracedMutex};
use crate::shared::ShardLink;

/// The lock of one direction of an in-process link (shared by exactly two shards).
pub static QUEUE_LOCK: LockStats = LockStats::new("link_queue", LockScope::Shard);

/// Packets waiting in one direction at most; beyond, a packet is dropped (and counted by
/// the sender) as a full NIC queue would drop it, and TCP retransmits.
pub const QUEUE_LIMIT: usize = 4096;

#[derive(Debug)]
struct Queue {
    packets: TracedMutex<VecDeque<Vec<u8>>>,
    /// The shard that reads this queue, woken when the queue turns non-empty.
    reader: OnceLock<Arc<ShardLink>>,
    /// One end of the link is gone: sends fail, and the reader stops once it is empty.
    closed: AtomicBool,
    /// Packets are waiting (a hint for a busy-polling reader, read without the lock).
    waiting: AtomicBool,
}

impl Queue {
    fn new(shard: usize) -> Arc<Queue> {
        Arc::new(Queue {
            packets: TracedMutex::new(VecDeque::new(), &QUEUE_LOCK, shard as u32),
            reader: OnceLock::new(),
            closed: AtomicBool::new(false),
            waiting: AtomicBool::new(false),
        })
    }
}

/// One end of an in-process link, for one shard: what it reads and where it writes.
#[derive(Debug)]
pub struct QueuePort {
    inbound: Arc<Queue>,
    outbound: Arc<Queue>,
}

/// Why a packet was not sent.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SendError {
    /// The other side's queue is at [`QUEUE_LIMIT`].
    Full,
    /// The other side is gone.
    Closed,
}

/// `queues` pairs of ports; port `i` of one side talks to port `i` of the other.
///
/// ```
/// let (a, b) = ringtcp_runtime::device::queue::pair(2);
/// assert_eq!((a.len(), b.len()), (2, 2));
/// ```
pub fn pair(queues: usize) -> (Vec<QueuePort>, Vec<QueuePort>) {
    (0..queues)
        .map(|i| {
            let (ab, ba) = (Queue::new(i), Queue::new(i));
            (QueuePort { inbound: ba.clone(), outbound: ab.clone() }, QueuePort { inbound: ab, outbound: ba })
        })
        .unzip()
}

impl QueuePort {
    /// Makes `link`'s shard the reader of this port (woken when packets arrive).
    pub(crate) fn attach(&self, link: Arc<ShardLink>) {
        let _ = self.inbound.reader.set(link);
    }

    /// Appends a copy of `packet` to the other side's queue, waking its shard if the queue
    /// was empty (otherwise a wake-up is already on its way or the shard is working).
    pub(crate) fn send(&self, packet: &[u8]) -> Result<(), SendError> {
        let q = &self.outbound;
        if q.closed.load(Ordering::Acquire) {
            return Err(SendError::Closed);
        }
        let was_empty = {
            let mut packets = q.packets.lock();
            if packets.len() >= QUEUE_LIMIT {
                return Err(SendError::Full);
            }
            packets.push_back(packet.to_vec());
            q.waiting.store(true, Ordering::Release);
            packets.len() == 1
        };
        if was_empty && let Some(reader) = q.reader.get() {
            reader.wake();
        }
        Ok(())
    }

    /// Moves every waiting packet into `into` (emptied first). Returns false once the other
    /// side is gone and nothing more will come.
    pub(crate) fn receive(&self, into: &mut VecDeque<Vec<u8>>) -> bool {
        into.clear();
        {
            let mut packets = self.inbound.packets.lock();
            std::mem::swap(&mut *packets, into);
            self.inbound.waiting.store(false, Ordering::Release);
        }
        !(into.is_empty() && self.inbound.closed.load(Ordering::Acquire))
    }
}

impl QueuePort {
    /// True if packets are waiting to be received (no lock taken).
    pub(crate) fn has_inbound(&self) -> bool {
        self.inbound.waiting.load(Ordering::Acquire)
    }
}

impl Drop for QueuePort {
    fn drop(&mut self) {
        for q in [&self.inbound, &self.outbound] {
            q.closed.store(true, Ordering::Release);
        }
        // The other shard may be asleep with nothing queued: let it see the link is gone.
        if let Some(reader) = self.outbound.reader.get() {
            reader.wake();
        }
    }
}
