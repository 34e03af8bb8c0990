//! Gives memory the process has freed back to the system, now and then.
//!
//! A stack's buffers come and go with its transfers: a bulk transfer grows a connection's
//! buffers to megabytes and the stack frees them when the transfer pauses. glibc's
//! allocator keeps what is freed in its per-thread arenas, and since each free of a large
//! block raises its thresholds (the mmap threshold follows the largest block freed, the
//! trim threshold twice that), it keeps more and more of it: the soak's resident memory
//! crept by several per cent over ten minutes while the heap in use barely moved.
//! jemalloc and mimalloc return unused pages on their own after a while (jemalloc's
//! background purging); this does the same for glibc: a thread that calls
//! `malloc_trim(0)`, which gives back the free pages of every arena, every interval.
//!
//! The same thread gives back the buffer pool's idle chunks first (see
//! [`ringtcp_transport::buffer_pool`]): connection buffers are made of chunks that the pool
//! keeps for reuse rather than freeing, and those no connection has needed for
//! [`POOL_IDLE`] go back to glibc, which the trim then hands to the system. So memory the
//! load keeps using stays and is reused without page faults, and what a burst took is
//! given back a minute after it.
//!
//! Only memory already freed is given back. The cost: the walk over the arenas' free
//! lists, on this thread (about half a millisecond a call in the soak's 15 MB process),
//! during which each arena's lock is held in turn, so a thread allocating from that arena
//! meanwhile waits; and page faults when the memory is used again. A server with a large
//! heap and tight latency bounds can turn it off (`StackConfig::freed_memory`). A program
//! that uses another global allocator pays only the walk over glibc's own, mostly empty,
//! heap.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringtcp_transport::buffer_pool::IdleChunks;

/// How long the buffer pool's free chunks stay unused before the trimming thread gives
/// them back.
pub const POOL_IDLE: Duration = Duration::from_secs(60);

/// The trimming thread that gives back the pool's idle chunks: one per process (the
/// pool is the process's), the first that claims it; another takes over when it stops.
static POOL_TRIMMER: AtomicU64 = AtomicU64::new(0);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// What a stack's trimming thread has done.
///
/// ```
/// let t = ringtcp_runtime::allocator_trim::TrimStats::default();
/// assert_eq!((t.trims, t.released), (0, 0));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrimStats {
    /// Times the allocator was asked to give memory back.
    pub trims: u64,
    /// Of those, times it gave some back.
    pub released: u64,
    /// Time spent in the allocator doing it.
    pub time: Duration,
    /// Bytes of idle buffer-pool chunks given back.
    pub pool_bytes: u64,
}

#[derive(Default)]
struct Counts {
    trims: AtomicU64,
    released: AtomicU64,
    nanos: AtomicU64,
    pool_bytes: AtomicU64,
}

/// The trimming thread; it stops when this is dropped.
pub(crate) struct Trimmer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    counts: Arc<Counts>,
}

impl std::fmt::Debug for Trimmer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trimmer").field("stats", &self.stats()).finish()
    }
}

impl Trimmer {
    /// Starts a thread that trims every `every` (`malloc_trim` only where the allocator
    /// is glibc's; the buffer pool's idle chunks everywhere).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an interval of zero (it would trim without pause); the thread's
    /// spawn error.
    pub(crate) fn start(every: Duration) -> io::Result<Trimmer> {
        if every.is_zero() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "allocator_trim: an interval of zero would trim without pause; use FreedMemory::AllocatorDefault to leave the allocator alone"));
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let window = POOL_IDLE.as_nanos().div_ceil(every.as_nanos()).max(1) as usize;
        let thread = std::thread::Builder::new().name("ringtcp-trim".into()).spawn(move || {
            let mut idle = None;
            // Until the stack drops the sender.
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                let start = Instant::now();
                let claimed = POOL_TRIMMER.compare_exchange(0, id, Ordering::AcqRel, Ordering::Acquire);
                if claimed == Ok(0) || claimed == Err(id) {
                    let pool = idle.get_or_insert_with(|| IdleChunks::new(window)).tick();
                    c.pool_bytes.fetch_add(pool as u64, Ordering::Relaxed);
                }
                let released = trim();
                let took = start.elapsed();
                tracing::debug!(target: "ringtcp::allocator_trim", released, took_ns = took.as_nanos() as u64, "malloc_trim");
                c.trims.fetch_add(1, Ordering::Relaxed);
                c.released.fetch_add(u64::from(released), Ordering::Relaxed);
                c.nanos.fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
            }
            let _ = POOL_TRIMMER.compare_exchange(id, 0, Ordering::AcqRel, Ordering::Acquire);
        })?;
        Ok(Trimmer { stop: Some(stop), thread: Some(thread), counts })
    }

    pub(crate) fn stats(&self) -> TrimStats {
        TrimStats {
            trims: self.counts.trims.load(Ordering::Relaxed),
            released: self.counts.released.load(Ordering::Relaxed),
            time: Duration::from_nanos(self.counts.nanos.load(Ordering::Relaxed)),
            pool_bytes: self.counts.pool_bytes.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Trimmer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Asks glibc to give back free memory; true if it did.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() -> bool {
    // SAFETY: malloc_trim only returns memory the allocator holds free; it may be called
    // from any thread at any time.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_of_zero_is_refused() {
        let e = Trimmer::start(Duration::ZERO).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("AllocatorDefault"), "{e}");
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn trims_every_interval_and_stops_when_dropped() {
        let t = Trimmer::start(Duration::from_millis(5)).unwrap();
        // Something for it to give back: a large block freed.
        drop(vec![1u8; 8 << 20]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while t.stats().trims < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let s = t.stats();
        assert!(s.trims >= 3, "{s:?}");
        assert!(s.released <= s.trims && s.time > Duration::ZERO, "{s:?}");
        let counts = t.counts.clone();
        drop(t);
        let after = counts.trims.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(counts.trims.load(Ordering::Relaxed), after, "the thread stopped with its stack");
    }
}
