//! An in-process link: two stacks of one process joined by packet queues in memory.
//!
//! The socket-pair link (`socket_pair.rs`) moves every packet through the kernel and wakes the
//! other shard's thread for each one. Between two threads of one process the kernel has
//! nothing to add: here a shard appends whole packets to the other's inbound queue and
//! rings the other shard's doorbell only when the queue turns non-empty, so while both
//! shards are busy no system call is made at all. The reading shard takes the whole queue
//! at once, once per turn of its loop. A queue is one byte buffer of length-prefixed
//! packets, and the reader hands back its emptied buffer in exchange, so the steady state
//! allocates nothing per packet.
//!
//! Both ends are ringtcp stacks of this process, so the link carries what a veth pair with
//! segmentation offload carries: super-segments of up to 64 KB, with the partial
//! checksums of data segments, taken whole by the other stack (no wire in between can
//! corrupt them).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::lock::{LockScope, LockStats, TracedMutex};
use crate::doorbell::Doorbell;

/// The lock of one direction of an in-process link (shared by exactly two shards).
pub static QUEUE_LOCK: LockStats = LockStats::new("link_queue", LockScope::Shard);

/// Packets waiting in one direction at most; beyond, a packet is dropped (and counted by
/// the sender) as a full NIC queue would drop it, and TCP retransmits.
pub const QUEUE_LIMIT: usize = 4096;

/// Bytes waiting in one direction at most (the link carries super-segments of up to 64
/// KB, so the packet count alone would let a queue hold 256 MB).
pub const QUEUE_BYTES: usize = 8 << 20;

/// Bytes of buffer a batch keeps once emptied: four 64 KB super-segments' worth, more than
/// a shard's turn usually sends one way.
const BATCH_KEEP: usize = 256 << 10;

/// Small batches in a row after which a buffer above [`BATCH_KEEP`] is given back.
const QUIET_TAKES: u32 = 64;

/// Packets back to back, each after its length as two bytes (native order).
#[derive(Debug, Default)]
pub struct Batch {
    bytes: Vec<u8>,
    count: usize,
    /// Batches in a row that filled less than a quarter of a large buffer.
    quiet: u32,
}

impl Batch {
    /// Number of packets.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn push(&mut self, packet: &[u8]) {
        self.bytes.extend_from_slice(&(packet.len() as u16).to_ne_bytes());
        self.bytes.extend_from_slice(packet);
        self.count += 1;
    }

    /// Bytes held, length prefixes included.
    fn bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Empties the batch. A buffer grown past [`BATCH_KEEP`] is given back once
    /// [`QUIET_TAKES`] batches in a row have filled less than a quarter of it (the traffic
    /// that grew it has calmed down): the two buffers of a direction trade places at every
    /// take, so each would otherwise keep the largest burst it ever carried (up to
    /// [`QUEUE_BYTES`]) for good. A bulk transfer's batches swing between small and large
    /// from one turn to the next; freed at the first small one, its buffers were regrown
    /// from nothing over and over (measured: up to twice the system time).
    fn clear(&mut self) {
        if self.bytes.capacity() > BATCH_KEEP {
            if self.bytes.len() >= self.bytes.capacity() / 4 {
                self.quiet = 0;
            } else {
                self.quiet += 1;
                if self.quiet >= QUIET_TAKES {
                    self.bytes = Vec::new();
                    self.quiet = 0;
                }
            }
        }
        self.bytes.clear();
        self.count = 0;
    }

    /// The packets, in the order they were sent.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = self.bytes.as_slice();
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<2>()?;
            let n = usize::from(u16::from_ne_bytes(*len));
            let (packet, after) = tail.split_at_checked(n)?;
            rest = after;
            Some(packet)
        })
    }
}

#[derive(Debug)]
struct Queue {
    packets: TracedMutex<Batch>,
    /// The doorbell of the shard that reads this queue, rung when the queue turns non-empty.
    reader: OnceLock<Arc<Doorbell>>,
    /// One end of the link is gone: sends fail, and the reader stops once it is empty.
    closed: AtomicBool,
    /// Packets are waiting (a hint for a busy-polling reader, read without the lock).
    waiting: AtomicBool,
}

impl Queue {
    fn new(shard: usize) -> Arc<Queue> {
        Arc::new(Queue {
            packets: TracedMutex::new(Batch::default(), &QUEUE_LOCK, shard as u32),
            reader: OnceLock::new(),
            closed: AtomicBool::new(false),
            waiting: AtomicBool::new(false),
        })
    }
}

/// One end of an in-process link, for one shard: what it reads and where it writes.
#[derive(Debug)]
pub struct InProcessPort {
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
/// let (a, b) = ringtcp_runtime::device::in_process::pair(2);
/// assert_eq!((a.len(), b.len()), (2, 2));
/// ```
pub fn pair(queues: usize) -> (Vec<InProcessPort>, Vec<InProcessPort>) {
    (0..queues)
        .map(|i| {
            let (ab, ba) = (Queue::new(i), Queue::new(i));
            (InProcessPort { inbound: ba.clone(), outbound: ab.clone() }, InProcessPort { inbound: ab, outbound: ba })
        })
        .unzip()
}

impl InProcessPort {
    /// Makes the shard behind `doorbell` the reader of this port (rung when packets arrive).
    pub(crate) fn attach(&self, doorbell: Arc<Doorbell>) {
        let _ = self.inbound.reader.set(doorbell);
    }

    /// Appends a copy of `packet` to the other side's queue, waking its shard if the queue
    /// was empty (otherwise a wake-up is already on its way or the shard is working).
    pub(crate) fn send(&self, packet: &[u8]) -> Result<(), SendError> {
        push(&self.outbound, packet)
    }

    /// Moves every waiting packet into `into` (emptied first). Returns false once the other
    /// side is gone and nothing more will come.
    pub(crate) fn receive(&self, into: &mut Batch) -> bool {
        take_all(&self.inbound, into);
        !(into.is_empty() && self.inbound.closed.load(Ordering::Acquire))
    }
}

/// Appends a copy of `packet` to `q`, ringing its reader if `q` was empty.
fn push(q: &Queue, packet: &[u8]) -> Result<(), SendError> {
    if q.closed.load(Ordering::Acquire) {
        return Err(SendError::Closed);
    }
    let was_empty = {
        let mut packets = q.packets.lock();
        if packets.len() >= QUEUE_LIMIT || packets.bytes() + packet.len() > QUEUE_BYTES || packet.len() > usize::from(u16::MAX) {
            return Err(SendError::Full);
        }
        packets.push(packet);
        q.waiting.store(true, Ordering::Release);
        packets.len() == 1
    };
    if was_empty && let Some(reader) = q.reader.get() {
        reader.ring();
    }
    Ok(())
}

/// Swaps `q`'s packets into `into` (emptied first).
fn take_all(q: &Queue, into: &mut Batch) {
    into.clear();
    let mut packets = q.packets.lock();
    std::mem::swap(&mut *packets, into);
    q.waiting.store(false, Ordering::Release);
}

/// One shard's end of a mesh joining the shards of one stack: a shard that receives a
/// frame belonging to another (a device that spreads flows its own way, as a NIC's RSS
/// does) appends it to that shard's inbox, as the in-process link does between stacks.
#[derive(Debug)]
pub struct MeshPort {
    inbox: Arc<Queue>,
    inboxes: Vec<Arc<Queue>>,
}

/// A mesh between `shards` shards: port `i` is shard `i`'s.
///
/// ```
/// let ports = ringtcp_runtime::device::in_process::mesh(3);
/// assert_eq!(ports.len(), 3);
/// ```
pub fn mesh(shards: usize) -> Vec<MeshPort> {
    let inboxes: Vec<Arc<Queue>> = (0..shards).map(Queue::new).collect();
    inboxes.iter().map(|q| MeshPort { inbox: q.clone(), inboxes: inboxes.clone() }).collect()
}

impl MeshPort {
    /// Makes the shard behind `doorbell` the reader of this port's inbox.
    pub(crate) fn attach(&self, doorbell: Arc<Doorbell>) {
        let _ = self.inbox.reader.set(doorbell);
    }

    /// Appends a copy of `frame` to shard `to`'s inbox.
    pub(crate) fn send_to(&self, to: usize, frame: &[u8]) -> Result<(), SendError> {
        push(&self.inboxes[to], frame)
    }

    /// Moves every frame other shards sent here into `into`.
    pub(crate) fn receive(&self, into: &mut Batch) {
        take_all(&self.inbox, into);
    }

    /// True if frames wait (no lock taken).
    pub(crate) fn has_inbound(&self) -> bool {
        self.inbox.waiting.load(Ordering::Acquire)
    }
}

impl InProcessPort {
    /// True if packets are waiting to be received (no lock taken).
    pub(crate) fn has_inbound(&self) -> bool {
        self.inbound.waiting.load(Ordering::Acquire)
    }
}

impl Drop for InProcessPort {
    fn drop(&mut self) {
        for q in [&self.inbound, &self.outbound] {
            q.closed.store(true, Ordering::Release);
        }
        // The other shard may be asleep with nothing queued: let it see the link is gone.
        if let Some(reader) = self.outbound.reader.get() {
            reader.ring();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_come_out_whole_and_in_order_and_the_buffer_is_reused() {
        let (a, b) = pair(1);
        let sent: Vec<Vec<u8>> = (0..100u32).map(|i| (0..(i * 13 % 1500)).map(|k| (k ^ i) as u8).collect()).collect();
        for p in &sent {
            a[0].send(p).unwrap();
        }
        assert!(b[0].has_inbound());
        let mut got = Batch::default();
        assert!(b[0].receive(&mut got));
        assert_eq!(got.len(), 100);
        assert!(got.iter().zip(&sent).all(|(x, y)| x == y.as_slice()));
        assert_eq!(got.iter().count(), 100);
        assert!(!b[0].has_inbound());
        // The reader's buffer went to the queue: the next batch reuses its capacity.
        let cap = got.bytes.capacity();
        a[0].send(b"again").unwrap();
        assert!(b[0].receive(&mut got));
        assert_eq!(got.iter().collect::<Vec<_>>(), vec![&b"again"[..]]);
        assert!(cap > 0);
    }

    #[test]
    fn a_burst_does_not_leave_its_large_buffers_behind() {
        let (a, b) = pair(1);
        let packet = [7u8; 1400];
        for _ in 0..300 {
            a[0].send(&packet).unwrap();
        }
        let mut got = Batch::default();
        assert!(b[0].receive(&mut got));
        assert_eq!(got.len(), 300);
        assert!(got.iter().all(|p| p == packet));
        assert!(got.bytes.capacity() > BATCH_KEEP, "the burst needed a large buffer");
        // Small batches follow. The burst's buffer is kept when emptied of the burst and
        // goes on trading places with the other; once it has been emptied of enough small
        // batches in a row it is given back, and neither end keeps a large one.
        for round in 0..=(2 * QUIET_TAKES) as u8 {
            a[0].send(&[round]).unwrap();
            assert!(b[0].receive(&mut got));
            assert_eq!(got.iter().collect::<Vec<_>>(), vec![&[round][..]]);
        }
        let queued = b[0].inbound.packets.lock().bytes.capacity();
        assert!(got.bytes.capacity() <= BATCH_KEEP && queued <= BATCH_KEEP, "kept {} and {queued} bytes", got.bytes.capacity());
    }

    #[test]
    fn a_full_queue_refuses_and_a_closed_link_ends() {
        let (a, b) = pair(1);
        for _ in 0..QUEUE_LIMIT {
            a[0].send(b"x").unwrap();
        }
        assert_eq!(a[0].send(b"x"), Err(SendError::Full));
        let mut got = Batch::default();
        assert!(b[0].receive(&mut got));
        assert_eq!(got.len(), QUEUE_LIMIT);
        drop(a);
        assert_eq!(b[0].send(b"x"), Err(SendError::Closed));
        assert!(!b[0].receive(&mut got), "nothing more will come");
    }
}
