//! An in-process link: two stacks of one process joined by packet queues in memory.
//!
//! The socket-pair link (`socket_pair.rs`) moves every packet through the kernel and wakes the
//! other shard's thread for each one. Between two threads of one process the kernel has
//! nothing to add: here a shard hands whole batches of packets to the other's inbound queue
//! and rings the other shard's doorbell only when the queue turns non-empty, so while both
//! shards are busy no system call is made at all. The reading shard takes the whole queue
//! at once, once per turn of its loop. A batch is one byte buffer of length-prefixed
//! packets which the sending shard builds its packets in directly ([`Batch::begin`]), so a
//! packet's bytes are written once, by the transport, and (unless the impairment layer
//! holds or duplicates them) never copied on the way; the
//! reader gives its emptied batches back to the queue for the sender to fill again, so the
//! steady state allocates nothing per packet.
//!
//! Both ends are ringtcp stacks of this process, so the link carries what a veth pair with
//! segmentation offload carries: super-segments of up to 64 KB, with the partial
//! checksums of data segments, taken whole by the other stack (no wire in between can
//! corrupt them).

use std::collections::VecDeque;
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

/// Emptied batches a queue keeps for its sender; the reader frees the rest. One covers a
/// hand-over per flush and a take per turn, but a busy reader often finds several batches
/// waiting: kept one, the in-memory bulk run's CPU time was 12 % higher (the sender grew
/// new batches from nothing), while the soak's resident memory was the same with four.
const SPARE_BATCHES: usize = 4;

/// Packets back to back, each after its length as two bytes (native order).
#[derive(Debug, Default)]
pub struct Batch {
    /// Initialized up to its length, which is the most the batch has ever held (packets
    /// are built in place, and zeroing the room for each would cost what the copy it
    /// saves did); `used` bytes of it are packets.
    bytes: Vec<u8>,
    used: usize,
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

    /// Appends a copy of `packet`; false (and nothing appended) if it is longer than the
    /// two-byte length prefix can say.
    pub(crate) fn push(&mut self, packet: &[u8]) -> bool {
        if packet.len() > usize::from(u16::MAX) {
            return false;
        }
        let room = self.begin(packet.len());
        room.copy_from_slice(packet);
        self.commit(packet.len());
        true
    }

    /// Room for a packet of up to `max` bytes (at most 64 KB) at the end, to build it in
    /// place; [`commit`](Batch::commit) keeps what was built, and a batch that is not
    /// committed holds what it held before.
    pub(crate) fn begin(&mut self, max: usize) -> &mut [u8] {
        let max = max.min(usize::from(u16::MAX));
        let end = self.used + 2 + max;
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        &mut self.bytes[self.used + 2..end]
    }

    /// Keeps the first `n` bytes of the room [`begin`](Batch::begin) gave as a packet.
    pub(crate) fn commit(&mut self, n: usize) {
        debug_assert!(self.used + 2 + n <= self.bytes.len() && n <= usize::from(u16::MAX));
        self.bytes[self.used..self.used + 2].copy_from_slice(&(n as u16).to_ne_bytes());
        self.used += 2 + n;
        self.count += 1;
    }

    /// Bytes held, length prefixes included.
    pub(crate) fn bytes(&self) -> usize {
        self.used
    }

    /// Keeps only the first `packets` packets.
    fn truncate(&mut self, packets: usize) {
        let mut at = 0;
        for _ in 0..packets.min(self.count) {
            at += 2 + usize::from(u16::from_ne_bytes([self.bytes[at], self.bytes[at + 1]]));
        }
        if packets < self.count {
            self.used = at;
            self.count = packets;
        }
    }

    /// Empties the batch. A buffer grown past [`BATCH_KEEP`] is given back once
    /// [`QUIET_TAKES`] batches in a row have filled less than a quarter of it (the traffic
    /// that grew it has calmed down): batches circulate between the two shards of a
    /// direction, so each would otherwise keep the largest burst it ever carried (up to
    /// [`QUEUE_BYTES`]) for good. A bulk transfer's batches swing between small and large
    /// from one turn to the next; freed at the first small one, its buffers were regrown
    /// from nothing over and over (measured: up to twice the system time).
    pub(crate) fn clear(&mut self) {
        if self.bytes.len() > BATCH_KEEP {
            if self.used >= self.bytes.len() / 4 {
                self.quiet = 0;
            } else {
                self.quiet += 1;
                if self.quiet >= QUIET_TAKES {
                    self.bytes = Vec::new();
                    self.quiet = 0;
                }
            }
        }
        self.used = 0;
        self.count = 0;
    }

    /// The packets, in the order they were sent.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = &self.bytes[..self.used];
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<2>()?;
            let n = usize::from(u16::from_ne_bytes(*len));
            let (packet, after) = tail.split_at_checked(n)?;
            rest = after;
            Some(packet)
        })
    }
}

/// What a reader took from its queue: the batches in the order they were sent.
#[derive(Debug, Default)]
pub struct Inbound {
    batches: VecDeque<Batch>,
}

impl Inbound {
    /// Number of packets.
    pub fn len(&self) -> usize {
        self.batches.iter().map(Batch::len).sum()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.batches.iter().all(Batch::is_empty)
    }

    /// The packets, in the order they were sent.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.batches.iter().flat_map(Batch::iter)
    }
}

/// One direction's waiting batches, with the counts its limits are checked against and
/// the emptied batches the reader gave back.
#[derive(Debug, Default)]
struct Waiting {
    batches: VecDeque<Batch>,
    packets: usize,
    bytes: usize,
    spare: Vec<Batch>,
}

#[derive(Debug)]
struct Queue {
    waiting: TracedMutex<Waiting>,
    /// The doorbell of the shard that reads this queue, rung when the queue turns non-empty.
    reader: OnceLock<Arc<Doorbell>>,
    /// One end of the link is gone: sends fail, and the reader stops once it is empty.
    closed: AtomicBool,
    /// Packets are waiting (a hint for a busy-polling reader, read without the lock).
    ready: AtomicBool,
}

impl Queue {
    fn new(shard: usize) -> Arc<Queue> {
        Arc::new(Queue {
            waiting: TracedMutex::new(Waiting::default(), &QUEUE_LOCK, shard as u32),
            reader: OnceLock::new(),
            closed: AtomicBool::new(false),
            ready: AtomicBool::new(false),
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
    /// The other side's queue is at [`QUEUE_LIMIT`] or [`QUEUE_BYTES`].
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
    #[cfg(test)]
    pub(crate) fn send(&self, packet: &[u8]) -> Result<(), SendError> {
        push(&self.outbound, packet)
    }

    /// Moves the packets of `batch` to the other side's queue as they are, as many as its
    /// limits allow, and leaves an emptied batch (one the reader gave back, when there is
    /// one) in its place. Returns how many packets did not fit and were dropped.
    pub(crate) fn send_batch(&self, batch: &mut Batch) -> Result<usize, SendError> {
        let q = &self.outbound;
        if q.closed.load(Ordering::Acquire) {
            batch.clear();
            return Err(SendError::Closed);
        }
        let (dropped, was_empty) = {
            let mut w = q.waiting.lock();
            let (mut fit, mut bytes) = (0, 0);
            for p in batch.iter() {
                if w.packets + fit >= QUEUE_LIMIT || w.bytes + bytes + p.len() > QUEUE_BYTES {
                    break;
                }
                fit += 1;
                bytes += p.len();
            }
            let dropped = batch.len() - fit;
            if fit == 0 {
                batch.clear();
                return Ok(dropped);
            }
            batch.truncate(fit);
            let was_empty = w.packets == 0;
            w.packets += fit;
            w.bytes += bytes;
            let spare = w.spare.pop().unwrap_or_default();
            w.batches.push_back(std::mem::replace(batch, spare));
            q.ready.store(true, Ordering::Release);
            (dropped, was_empty)
        };
        if was_empty && let Some(reader) = q.reader.get() {
            reader.ring();
        }
        Ok(dropped)
    }

    /// Moves every waiting packet into `into`, after giving the batches it held back to
    /// the queue. Returns false once the other side is gone and nothing more will come.
    pub(crate) fn receive(&self, into: &mut Inbound) -> bool {
        take_all(&self.inbound, into);
        !(into.is_empty() && self.inbound.closed.load(Ordering::Acquire))
    }
}

/// Appends a copy of `packet` to `q`'s last batch, ringing its reader if `q` was empty.
fn push(q: &Queue, packet: &[u8]) -> Result<(), SendError> {
    if q.closed.load(Ordering::Acquire) {
        return Err(SendError::Closed);
    }
    let was_empty = {
        let mut w = q.waiting.lock();
        if w.packets >= QUEUE_LIMIT || w.bytes + packet.len() > QUEUE_BYTES || packet.len() > usize::from(u16::MAX) {
            return Err(SendError::Full);
        }
        if w.batches.is_empty() {
            let spare = w.spare.pop().unwrap_or_default();
            w.batches.push_back(spare);
        }
        // The length was checked above.
        let _ = w.batches.back_mut().expect("just made sure").push(packet);
        w.packets += 1;
        w.bytes += packet.len();
        q.ready.store(true, Ordering::Release);
        w.packets == 1
    };
    if was_empty && let Some(reader) = q.reader.get() {
        reader.ring();
    }
    Ok(())
}

/// Gives `into`'s emptied batches back to `q` (as many as it keeps) and moves `q`'s
/// waiting batches into `into`. The batches it does not keep are freed after the lock is
/// released, not while the sender may be waiting for it.
fn take_all(q: &Queue, into: &mut Inbound) {
    let mut done = std::mem::take(&mut into.batches);
    for b in &mut done {
        b.clear();
    }
    let mut w = q.waiting.lock();
    while w.spare.len() < SPARE_BATCHES
        && let Some(b) = done.pop_front()
    {
        w.spare.push(b);
    }
    std::mem::swap(&mut w.batches, &mut into.batches);
    w.packets = 0;
    w.bytes = 0;
    q.ready.store(false, Ordering::Release);
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
    pub(crate) fn receive(&self, into: &mut Inbound) {
        take_all(&self.inbox, into);
    }

    /// True if frames wait (no lock taken).
    pub(crate) fn has_inbound(&self) -> bool {
        self.inbox.ready.load(Ordering::Acquire)
    }
}

impl InProcessPort {
    /// True if packets are waiting to be received (no lock taken).
    pub(crate) fn has_inbound(&self) -> bool {
        self.inbound.ready.load(Ordering::Acquire)
    }

    /// True if the other side has taken everything sent to it (no lock taken).
    pub(crate) fn outbound_taken(&self) -> bool {
        !self.outbound.ready.load(Ordering::Acquire)
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

    /// Every buffer a direction holds: the reader's, the queue's (waiting and spare) and
    /// the sender's.
    fn held(got: &Inbound, q: &Queue, sender: &Batch) -> Vec<usize> {
        let w = q.waiting.lock();
        got.batches.iter().chain(&w.batches).chain(&w.spare).chain([sender]).map(|b| b.bytes.len()).collect()
    }

    #[test]
    fn packets_come_out_whole_and_in_order_and_batches_are_reused() {
        let (a, b) = pair(1);
        let sent: Vec<Vec<u8>> = (0..100u32).map(|i| (0..(i * 13 % 1500)).map(|k| (k ^ i) as u8).collect()).collect();
        // The first half copied in one by one, the second built in place and moved.
        for p in &sent[..50] {
            a[0].send(p).unwrap();
        }
        let mut out = Batch::default();
        for p in &sent[50..] {
            let room = out.begin(1500);
            room[..p.len()].copy_from_slice(p);
            out.commit(p.len());
            // Room asked for and not committed leaves the batch as it was.
            out.begin(9000)[0] = 0xee;
        }
        assert_eq!(a[0].send_batch(&mut out), Ok(0));
        assert!(out.is_empty(), "the sender gets an empty batch back");
        assert!(b[0].has_inbound());
        let mut got = Inbound::default();
        assert!(b[0].receive(&mut got));
        assert_eq!(got.len(), 100);
        assert_eq!(got.iter().count(), 100);
        assert!(got.iter().zip(&sent).all(|(x, y)| x == y.as_slice()));
        assert!(!b[0].has_inbound());
        // The reader's batches go back to the queue at its next take, and the sender's
        // next hand-over gets one of them, buffer and all.
        assert!(b[0].receive(&mut got) && got.is_empty());
        assert!(out.push(b"again"));
        assert_eq!(a[0].send_batch(&mut out), Ok(0));
        assert!(out.bytes.len() >= 1500, "a reused batch, {} bytes", out.bytes.len());
        assert!(b[0].receive(&mut got));
        assert_eq!(got.iter().collect::<Vec<_>>(), vec![&b"again"[..]]);
    }

    #[test]
    fn a_burst_does_not_leave_its_large_buffers_behind() {
        let (a, b) = pair(1);
        let packet = [7u8; 1400];
        let mut out = Batch::default();
        for _ in 0..300 {
            assert!(out.push(&packet));
        }
        assert!(out.bytes.len() > BATCH_KEEP, "the burst needed a large buffer");
        a[0].send_batch(&mut out).unwrap();
        let mut got = Inbound::default();
        assert!(b[0].receive(&mut got));
        assert_eq!(got.len(), 300);
        assert!(got.iter().all(|p| p == packet));
        // Small batches follow. The burst's buffer is kept when emptied of the burst and
        // goes on circulating with the others (the queue's spares, the reader's, the
        // sender's and the one waiting), each emptied once per turn of the circle; once
        // it has been emptied of enough small batches in a row it is given back, and no
        // end keeps a large one.
        for round in 0..(SPARE_BATCHES as u32 + 3) * QUIET_TAKES {
            assert!(out.push(&round.to_ne_bytes()));
            a[0].send_batch(&mut out).unwrap();
            assert!(b[0].receive(&mut got));
            assert_eq!(got.iter().collect::<Vec<_>>(), vec![&round.to_ne_bytes()[..]]);
        }
        let sizes = held(&got, &b[0].inbound, &out);
        assert!(sizes.iter().all(|&n| n <= BATCH_KEEP), "kept {sizes:?} bytes");
    }

    #[test]
    fn a_full_queue_drops_what_does_not_fit_and_a_closed_link_ends() {
        let (a, b) = pair(1);
        let mut out = Batch::default();
        for i in 0..QUEUE_LIMIT + 5 {
            assert!(out.push(&(i as u32).to_ne_bytes()));
        }
        assert_eq!(a[0].send_batch(&mut out), Ok(5), "the packets past the limit are dropped");
        assert!(!out.push(&vec![0u8; 70_000]), "longer than a length prefix can say");
        assert!(out.is_empty());
        assert_eq!(a[0].send(b"x"), Err(SendError::Full));
        assert!(out.push(b"y"));
        assert_eq!(a[0].send_batch(&mut out), Ok(1));
        assert!(out.is_empty());
        let mut got = Inbound::default();
        assert!(b[0].receive(&mut got));
        assert_eq!(got.len(), QUEUE_LIMIT);
        assert!(got.iter().enumerate().all(|(i, p)| p == (i as u32).to_ne_bytes()), "the first ones, in order");
        drop(a);
        assert_eq!(b[0].send(b"x"), Err(SendError::Closed));
        assert!(out.push(b"z"));
        assert_eq!(b[0].send_batch(&mut out), Err(SendError::Closed));
        assert!(!b[0].receive(&mut got), "nothing more will come");
    }
}
