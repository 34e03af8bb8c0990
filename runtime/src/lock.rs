//! Traced locks: every lock in `runtime/` and `ringtcp/` is one of these (a test keeps it
//! so). Uncontended, a lock costs a `try_lock` and creates nothing. Contended, the wait is
//! timed: it always goes into the lock's histogram, and when it is at least the threshold
//! ([`set_span_threshold`], default 1 µs) it is also recorded as a `tracing` span, target
//! `ringtcp::lock`, name `lock_wait`, with fields `lock`, `shard` and `wait_ns`, so a user
//! sees in their own subscriber where time went.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Instant;

/// Which threads can contend for one instance of a lock: what tells a user whether a wait
/// can grow with the number of shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockScope {
    /// One socket's state: its shard and the task using it.
    Socket,
    /// One shard's structure: that shard and application tasks.
    Shard,
    /// Shared by every shard of a stack. The runtime has none; the scope exists so that a
    /// lock of this kind, were one added, shows up as such in the statistics.
    Stack,
}

/// Wait-time statistics of one lock (all instances sharing a name share one).
#[derive(Debug)]
pub struct LockStats {
    name: &'static str,
    scope: LockScope,
    waits: AtomicU64,
    total_ns: AtomicU64,
    max_ns: AtomicU64,
    /// Listed in [`all_stats`] (done by the first lock made with these statistics).
    registered: AtomicBool,
    /// Waits by power of two of nanoseconds: bucket k holds waits in [2^k, 2^(k+1)).
    buckets: [AtomicU64; 40],
}

impl LockStats {
    /// Statistics for the lock called `name`, whose instances are each contended within
    /// `scope`.
    pub const fn new(name: &'static str, scope: LockScope) -> LockStats {
        LockStats {
            name,
            scope,
            waits: AtomicU64::new(0),
            total_ns: AtomicU64::new(0),
            max_ns: AtomicU64::new(0),
            registered: AtomicBool::new(false),
            buckets: [const { AtomicU64::new(0) }; 40],
        }
    }

    fn record(&self, ns: u64) {
        self.waits.fetch_add(1, Ordering::Relaxed);
        self.total_ns.fetch_add(ns, Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
        let k = (64 - ns.max(1).leading_zeros() as usize - 1).min(39);
        self.buckets[k].fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot: count, p50 and p99 (upper bound of their power-of-two bucket), max.
    pub fn snapshot(&self) -> LockSnapshot {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let quantile = |q: f64| {
            if total == 0 {
                return 0;
            }
            let want = ((total as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (k, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= want {
                    return (1u64 << (k + 1)) - 1;
                }
            }
            u64::MAX
        };
        LockSnapshot {
            name: self.name,
            scope: self.scope,
            waits: self.waits.load(Ordering::Relaxed),
            total_wait_ns: self.total_ns.load(Ordering::Relaxed),
            p50_ns: quantile(0.5),
            p99_ns: quantile(0.99),
            max_ns: self.max_ns.load(Ordering::Relaxed),
        }
    }
}

/// What [`LockStats::snapshot`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockSnapshot {
    /// The lock's name.
    pub name: &'static str,
    /// Who contends for one instance of it.
    pub scope: LockScope,
    /// Contended acquisitions.
    pub waits: u64,
    /// Nanoseconds waited in all.
    pub total_wait_ns: u64,
    /// Median wait (bucket upper bound).
    pub p50_ns: u64,
    /// 99th-percentile wait (bucket upper bound).
    pub p99_ns: u64,
    /// Longest wait.
    pub max_ns: u64,
}

static SPAN_THRESHOLD_NS: AtomicU64 = AtomicU64::new(1_000);

/// Waits shorter than this go into the histograms only, not into spans.
pub fn set_span_threshold(ns: u64) {
    SPAN_THRESHOLD_NS.store(ns, Ordering::Relaxed);
}

/// A mutex whose contended waits are measured and traced.
///
/// ```
/// use ringtcp_runtime::lock::{LockScope, LockStats, TracedMutex};
///
/// static QUEUE: LockStats = LockStats::new("queue", LockScope::Shard);
/// let q = TracedMutex::new(Vec::new(), &QUEUE, 0);
/// q.lock().push(1);
/// assert_eq!(*q.lock(), [1]);
/// assert_eq!(q.stats().snapshot().name, "queue");
/// ```
#[derive(Debug)]
pub struct TracedMutex<T> {
    inner: Mutex<T>,
    stats: &'static LockStats,
    shard: u32,
}

impl<T> TracedMutex<T> {
    /// A mutex named by `stats`, belonging to shard `shard`; `stats` joins [`all_stats`].
    pub fn new(value: T, stats: &'static LockStats, shard: u32) -> TracedMutex<T> {
        register(stats);
        TracedMutex { inner: Mutex::new(value), stats, shard }
    }

    /// Locks. A poisoned lock is recovered: the data it guards is kept consistent by
    /// single-step updates, so a panic elsewhere does not make it unusable.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        match self.inner.try_lock() {
            Ok(g) => return g,
            Err(TryLockError::Poisoned(p)) => return p.into_inner(),
            Err(TryLockError::WouldBlock) => {}
        }
        wait_for(self.stats, self.shard, || self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The statistics of this lock's name.
    pub fn stats(&self) -> &'static LockStats {
        self.stats
    }
}

/// Times a blocking acquisition that `try_lock` could not make, and records it.
fn wait_for<G>(stats: &'static LockStats, shard: u32, acquire: impl FnOnce() -> G) -> G {
    let start = Instant::now();
    let g = acquire();
    let waited = start.elapsed().as_nanos() as u64;
    stats.record(waited);
    if waited >= SPAN_THRESHOLD_NS.load(Ordering::Relaxed) {
        let span = tracing::info_span!(target: "ringtcp::lock", "lock_wait", lock = stats.name, shard, wait_ns = waited);
        drop(span.enter());
    }
    g
}

/// The statistics of every lock name in use in this process: each registers itself when
/// its first lock is made, so this module needs to know none of its users.
static REGISTRY: Mutex<Vec<&'static LockStats>> = Mutex::new(Vec::new());

fn register(stats: &'static LockStats) {
    if stats.registered.swap(true, Ordering::AcqRel) {
        return;
    }
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner()).push(stats);
}

/// A snapshot of every traced lock made so far in this process, by name.
///
/// ```
/// use ringtcp_runtime::lock::{LockScope, LockStats, TracedMutex};
///
/// static TABLE: LockStats = LockStats::new("table", LockScope::Shard);
/// let _t = TracedMutex::new((), &TABLE, 0);
/// assert!(ringtcp_runtime::lock::all_stats().iter().any(|s| s.name == "table"));
/// ```
pub fn all_stats() -> Vec<LockSnapshot> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|s| s.snapshot()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_bound_the_waits() {
        static S: LockStats = LockStats::new("test", LockScope::Shard);
        for ns in [100u64, 200, 300, 5_000, 1_000_000] {
            S.record(ns);
        }
        let snap = S.snapshot();
        assert_eq!(snap.waits, 5);
        assert_eq!(snap.max_ns, 1_000_000);
        assert!(snap.p50_ns >= 300 && snap.p50_ns < 1024, "{snap:?}");
        assert!(snap.p99_ns >= 1_000_000, "{snap:?}");
    }
}
