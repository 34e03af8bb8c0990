//! Where buffer memory comes from: fixed-size chunks, reused without going back to the
//! allocator.
//!
//! Byte buffers that grow and shrink with the load made the process's resident memory
//! drift however little it held: glibc serves buffers of every size from the same heap,
//! and after a few hours a buffer that grows finds no free block large enough and the heap
//! grows while megabytes sit free in smaller pieces (the soak stepped up by 0.5 to 1.7 MB
//! at a time). Chunks of two fixed sizes cannot fragment that way: any free chunk serves
//! any need of its size, so what the pool holds is the most the load ever held at once.
//!
//! Each thread keeps a few free chunks of its own (no synchronisation on the common path);
//! beyond that they go, a batch at a time, to a lock-free queue every thread shares, since
//! chunks travel: the shard fills a receive chunk that the application's thread empties,
//! and the other way round for sends. Chunks in the shared queue that no thread has needed
//! for a while can be given back ([`IdleChunks`]).

use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::cell::RefCell;

use crossbeam_queue::SegQueue;

/// Bytes of a small chunk: a buffer's first 4 KB are two of these. Most short exchanges
/// (a request, a reply) fit in one; they then cost no more than 2 KB each.
///
/// ```
/// use ringtcp_transport::ByteQueue;
/// use ringtcp_transport::buffer_pool::SMALL_CHUNK;
///
/// let q = ByteQueue::from(&b"GET / HTTP/1.1\r\n\r\n"[..]);
/// assert_eq!(q.allocated(), SMALL_CHUNK);
/// ```
pub const SMALL_CHUNK: usize = 2048;

/// Bytes of every other chunk.
///
/// ```
/// use ringtcp_transport::ByteQueue;
/// use ringtcp_transport::buffer_pool::{CHUNK, SMALL_CHUNK};
///
/// let q = ByteQueue::from(&[0u8; 20_000][..]);
/// assert_eq!(q.allocated(), 2 * SMALL_CHUNK + CHUNK);
/// ```
pub const CHUNK: usize = 16 * 1024;

/// Bytes of a packet block: a device's receive buffer for one packet of up to 64 KB (a
/// super-packet the kernel coalesced) and a virtio-net header before it. A device that
/// reads into blocks from the pool lets the transport keep a block whose payload is
/// large as a chunk of the receive buffer ([`Shard::handle_packet_in`]), instead of
/// copying the payload out of it.
///
/// ```
/// use ringtcp_transport::buffer_pool::{PACKET_BLOCK, take_block};
///
/// let block = take_block();
/// assert_eq!(block.len(), PACKET_BLOCK);
/// assert!(PACKET_BLOCK >= 12 + 65_535);
/// ```
///
/// [`Shard::handle_packet_in`]: crate::Shard::handle_packet_in
pub const PACKET_BLOCK: usize = 65_536 + 64;

const CLASSES: usize = 3;
const SIZES: [usize; CLASSES] = [SMALL_CHUNK, CHUNK, PACKET_BLOCK];
/// Free chunks a thread keeps of each class before passing a batch on (256 KB each way).
const LOCAL_MAX: [usize; CLASSES] = [128, 16, 4];

/// One chunk's memory; its length is one of [`SIZES`].
pub(crate) type Memory = Box<[u8]>;

/// The class of memory of `size` bytes; `None` for a size the pool does not keep.
fn class_of(size: usize) -> Option<usize> {
    SIZES.iter().position(|&s| s == size)
}

/// The queues every thread shares: batches of free chunks, one queue per class.
static SHARED: [SegQueue<Vec<Memory>>; CLASSES] = [SegQueue::new(), SegQueue::new(), SegQueue::new()];
/// Chunks in the shared queues, and the fewest there since the last [`IdleChunks::tick`].
static SHARED_FREE: [AtomicUsize; CLASSES] = [AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0)];
static SHARED_LOW: [AtomicUsize; CLASSES] = [AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0)];
/// Chunks allocated from the system and not given back.
static ALLOCATED: [AtomicUsize; CLASSES] = [AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0)];

struct Local {
    free: [Vec<Memory>; CLASSES],
}

impl Drop for Local {
    // A thread that ends leaves its free chunks to the others.
    fn drop(&mut self) {
        for (class, free) in self.free.iter_mut().enumerate() {
            if !free.is_empty() {
                push_shared(class, std::mem::take(free));
            }
        }
    }
}

thread_local! {
    static LOCAL: RefCell<Local> = const { RefCell::new(Local { free: [Vec::new(), Vec::new(), Vec::new()] }) };
}

fn push_shared(class: usize, batch: Vec<Memory>) {
    SHARED_FREE[class].fetch_add(batch.len(), Relaxed);
    SHARED[class].push(batch);
}

fn pop_shared(class: usize) -> Option<Vec<Memory>> {
    let batch = SHARED[class].pop()?;
    let left = SHARED_FREE[class].fetch_sub(batch.len(), Relaxed) - batch.len();
    SHARED_LOW[class].fetch_min(left, Relaxed);
    Some(batch)
}

fn allocate(class: usize) -> Memory {
    ALLOCATED[class].fetch_add(1, Relaxed);
    vec![0u8; SIZES[class]].into_boxed_slice()
}

/// A chunk of `size` bytes ([`SMALL_CHUNK`] or [`CHUNK`]): a free one of this thread's,
/// else a batch from the shared queue, else new memory.
pub(crate) fn take(size: usize) -> Memory {
    take_class(class_of(size).expect("a size the pool keeps"))
}

/// A packet block ([`PACKET_BLOCK`] bytes) for a device to read packets into. Hand it
/// back with [`give_block`]; one the transport keeps comes back once the application has
/// read its bytes.
pub fn take_block() -> Box<[u8]> {
    take_class(2)
}

/// Returns a block from [`take_block`] for reuse (anything else is simply freed).
///
/// ```
/// use ringtcp_transport::buffer_pool::{give_block, take_block};
///
/// let block = take_block();
/// let at = block.as_ptr();
/// give_block(block);
/// assert_eq!(take_block().as_ptr(), at, "this thread's free block is reused first");
/// ```
pub fn give_block(block: Box<[u8]>) {
    give(block);
}

fn take_class(class: usize) -> Memory {
    let got = LOCAL.try_with(|l| {
        let mut l = l.borrow_mut();
        let free = &mut l.free[class];
        if free.is_empty()
            && let Some(batch) = pop_shared(class)
        {
            *free = batch;
        }
        free.pop()
    });
    got.ok().flatten().unwrap_or_else(|| allocate(class))
}

/// Memory given back on a thread while it holds freed memory ([`hold_freed`]).
struct Held(Option<Vec<Memory>>);

impl Drop for Held {
    // A thread that ends while holding leaves what it held to the others.
    fn drop(&mut self) {
        for mem in self.0.take().into_iter().flatten() {
            if let Some(class) = class_of(mem.len()) {
                push_shared(class, vec![mem]);
            }
        }
    }
}

thread_local! {
    static HELD: RefCell<Held> = const { RefCell::new(Held(None)) };
}

/// With `true`, memory given back on the calling thread from now on is held, not reused:
/// for a device that writes packets straight from send buffers
/// ([`Shard::poll_transmit_gather`](crate::Shard::poll_transmit_gather)) while a write
/// may still read memory an acknowledgement has freed meanwhile. With `false`, what was
/// held goes back to the pool (call it once every such write has completed).
///
/// ```
/// use ringtcp_transport::buffer_pool::{give_block, hold_freed, take_block};
///
/// let block = take_block();
/// let at = block.as_ptr();
/// hold_freed(true);
/// give_block(block);
/// let other = take_block();
/// assert_ne!(other.as_ptr(), at, "held memory is not handed out again");
/// hold_freed(false);
/// give_block(other);
/// let again = [take_block(), take_block()];
/// assert!(again.iter().any(|b| b.as_ptr() == at), "once released it is reused");
/// ```
pub fn hold_freed(on: bool) {
    let released = HELD.try_with(|h| {
        let mut h = h.borrow_mut();
        if on {
            h.0.get_or_insert_with(Vec::new);
            None
        } else {
            h.0.take()
        }
    });
    for mem in released.ok().flatten().into_iter().flatten() {
        give(mem);
    }
}

/// Returns a chunk for reuse (memory of a size the pool does not keep is freed).
pub(crate) fn give(mem: Memory) {
    let Some(class) = class_of(mem.len()) else { return };
    let mut mem = Some(mem);
    let _ = HELD.try_with(|h| {
        if let Some(held) = h.borrow_mut().0.as_mut() {
            held.push(mem.take().expect("given once"));
        }
    });
    let Some(mem) = mem else { return };
    let mut mem = Some(mem);
    let _ = LOCAL.try_with(|l| {
        let mut l = l.borrow_mut();
        let free = &mut l.free[class];
        free.push(mem.take().expect("given once"));
        if free.len() > LOCAL_MAX[class] {
            let batch = free.split_off(LOCAL_MAX[class] / 2);
            push_shared(class, batch);
        }
    });
    // The thread is ending (its free list already went to the shared queue).
    if let Some(mem) = mem {
        push_shared(class, vec![mem]);
    }
}

/// How much memory the chunk pool holds, for every thread of the process.
///
/// ```
/// let before = ringtcp_transport::buffer_pool::stats();
/// assert!(before.allocated_bytes >= before.shared_free_bytes);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Bytes of chunks allocated from the system and not given back: in buffers, or free
    /// and kept for reuse.
    pub allocated_bytes: usize,
    /// Of those, bytes free in the queue all threads share (each thread also keeps up to
    /// 256 KB per chunk size of its own).
    ///
    /// Both count [`PACKET_BLOCK`]s too, in a device's read buffers or in receive buffers.
    pub shared_free_bytes: usize,
}

/// The pool's figures now.
///
/// ```
/// use ringtcp_transport::{ByteQueue, buffer_pool};
///
/// let q = ByteQueue::from(&[1u8; 100_000][..]);
/// assert!(buffer_pool::stats().allocated_bytes >= q.allocated());
/// ```
pub fn stats() -> PoolStats {
    let mut s = PoolStats::default();
    for class in 0..CLASSES {
        s.allocated_bytes += ALLOCATED[class].load(Relaxed) * SIZES[class];
        s.shared_free_bytes += SHARED_FREE[class].load(Relaxed) * SIZES[class];
    }
    s
}

/// Gives back the chunks that no thread has needed for a while: at each [`tick`], those
/// that stayed in the shared queue through the last `window` ticks. So memory the load
/// keeps using stays (and is reused without page faults), and what a burst took is given
/// back once the burst is `window` ticks in the past.
///
/// ```
/// use ringtcp_transport::buffer_pool::IdleChunks;
///
/// let mut idle = IdleChunks::new(6);
/// // Nothing has stayed idle for six ticks yet.
/// assert_eq!(idle.tick(), 0);
/// ```
///
/// [`tick`]: IdleChunks::tick
#[derive(Debug)]
pub struct IdleChunks {
    window: usize,
    /// The fewest free chunks of each class seen in the shared queue in each of the last
    /// ticks, the most recent last.
    lows: std::collections::VecDeque<[usize; CLASSES]>,
}

impl IdleChunks {
    /// A tracker that gives back what stayed free through `window` ticks (at least one).
    pub fn new(window: usize) -> IdleChunks {
        IdleChunks { window: window.max(1), lows: std::collections::VecDeque::new() }
    }

    /// Records the tick that just ended and frees what stayed idle through the window;
    /// returns the bytes freed.
    pub fn tick(&mut self) -> usize {
        let mut low = [0; CLASSES];
        for (class, low) in low.iter_mut().enumerate() {
            // The low mark restarts at what is free now; `pop_shared` lowers it.
            let now = SHARED_FREE[class].load(Relaxed);
            *low = SHARED_LOW[class].swap(now, Relaxed).min(now);
        }
        self.lows.push_back(low);
        if self.lows.len() > self.window {
            self.lows.pop_front();
        }
        if self.lows.len() < self.window {
            return 0;
        }
        let mut freed = 0;
        for class in 0..CLASSES {
            let idle = self.lows.iter().map(|l| l[class]).min().unwrap_or(0);
            let n = free_shared(class, idle);
            freed += n * SIZES[class];
            // What was freed is no longer free in the marks of the window.
            for l in self.lows.iter_mut() {
                l[class] -= n.min(l[class]);
            }
        }
        freed
    }
}

/// Frees up to `n` chunks of `class` from the shared queue; returns how many.
fn free_shared(class: usize, n: usize) -> usize {
    let mut freed = 0;
    while freed < n {
        let Some(mut batch) = pop_shared(class) else { break };
        let k = (n - freed).min(batch.len());
        batch.truncate(batch.len() - k);
        freed += k;
        ALLOCATED[class].fetch_sub(k, Relaxed);
        if !batch.is_empty() {
            push_shared(class, batch);
        }
    }
    freed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_reuses_its_own_free_chunks_first() {
        let first = take(CHUNK);
        let addr = first.as_ptr();
        give(first);
        let again = take(CHUNK);
        assert_eq!((again.as_ptr(), again.len()), (addr, CHUNK));
        let small = take(SMALL_CHUNK);
        assert_eq!(small.len(), SMALL_CHUNK);
        let small_addr = small.as_ptr();
        give(small);
        give(again);
        let small_again = take(SMALL_CHUNK);
        assert_eq!(small_again.as_ptr(), small_addr, "each size has its own free list");
    }
}
