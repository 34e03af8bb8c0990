//! One shard's accept queue for one listener, bounded by the listener's backlog. Each
//! shard has its own, so accepting takes no lock shared by all shards.
//!
//! The connections waiting here still count against the backlog in the transport (the
//! shard reports how many), so the backlog bounds established connections end to end;
//! when the queue is full the shard stops moving connections into it, and the
//! application's next accept asks the shard for more.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Waker;

use ringtcp_transport::ListenerHandle;

use crate::lock::{LockScope, LockStats, TracedMutex};
use crate::socket::{Request, SocketError, SocketHost, SocketShared};

/// The per-listener, per-shard accept-queue lock.
pub static ACCEPT_LOCK: LockStats = LockStats::new("accept_queue", LockScope::Shard);

/// Established connections of one listener on one shard, waiting for `accept`.
#[derive(Debug)]
pub struct AcceptQueue {
    inner: TracedMutex<AcceptInner>,
    host: Arc<dyn SocketHost>,
    backlog: usize,
    /// The shard's listener, once it exists.
    handle: OnceLock<ListenerHandle>,
    /// The TTL accepted connections get (0: the settings' or the stack's default).
    ttl: AtomicU32,
}

#[derive(Debug, Default)]
struct AcceptInner {
    ready: VecDeque<Arc<SocketShared>>,
    waker: Option<Waker>,
    /// The shard stopped: every later accept fails.
    stopped: bool,
    /// The queue was full when the shard last filled it: the next take tells the shard.
    notify_on_take: bool,
}

impl AcceptQueue {
    /// An empty queue of `host`'s shard for a listener with `backlog`.
    pub(crate) fn new(host: Arc<dyn SocketHost>, backlog: usize) -> AcceptQueue {
        let shard = host.shard_id() as u32;
        AcceptQueue {
            inner: TracedMutex::new(AcceptInner::default(), &ACCEPT_LOCK, shard),
            host,
            backlog: backlog.max(1),
            handle: OnceLock::new(),
            ttl: AtomicU32::new(0),
        }
    }

    /// Gives connections accepted from now on IP TTL `ttl` (as `IP_TTL` on a listening
    /// socket does on Linux).
    pub fn set_ttl(&self, ttl: u32) {
        self.ttl.store(ttl, Ordering::Relaxed);
    }

    /// The TTL set with [`set_ttl`](AcceptQueue::set_ttl), if any.
    pub fn ttl(&self) -> Option<u32> {
        Some(self.ttl.load(Ordering::Relaxed)).filter(|&t| t != 0)
    }

    pub(crate) fn set_handle(&self, h: ListenerHandle) {
        let _ = self.handle.set(h);
    }

    /// Room for more connections (the shard fills at most this many).
    pub(crate) fn room(&self) -> usize {
        self.backlog.saturating_sub(self.inner.lock().ready.len())
    }

    /// Adds connections (emptying `fresh`, whose allocation the caller keeps for the next
    /// time), wakes the acceptor, and returns how many now wait. A full queue asks the
    /// next `take` to tell the shard.
    pub(crate) fn push_all(&self, fresh: &mut Vec<Arc<SocketShared>>) -> usize {
        let mut q = self.inner.lock();
        let woke = !fresh.is_empty();
        q.ready.extend(fresh.drain(..));
        let waiting = q.ready.len();
        q.notify_on_take = waiting >= self.backlog;
        let waker = if woke { q.waker.take() } else { None };
        drop(q);
        if let Some(w) = waker {
            w.wake();
        }
        waiting
    }

    /// The shard stopped: the acceptor is woken to its error.
    pub(crate) fn shard_stopped(&self) {
        let mut q = self.inner.lock();
        q.stopped = true;
        if let Some(w) = q.waker.take() {
            w.wake();
        }
    }

    /// Takes every connection still waiting (its listener is closing).
    pub(crate) fn take_all(&self) -> Vec<Arc<SocketShared>> {
        self.inner.lock().ready.drain(..).collect()
    }

    /// Connections waiting to be accepted.
    pub fn len(&self) -> usize {
        self.inner.lock().ready.len()
    }

    /// True if none is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The listener's backlog: the most connections this queue holds.
    pub fn backlog(&self) -> usize {
        self.backlog
    }

    /// The index of the shard this queue belongs to.
    pub fn shard_id(&self) -> usize {
        self.host.shard_id()
    }

    /// Takes one accepted connection, or registers `waker` and returns `Ok(None)`.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` once the shard thread has stopped.
    pub fn take(&self, waker: &Waker) -> io::Result<Option<Arc<SocketShared>>> {
        let mut q = self.inner.lock();
        if let Some(s) = q.ready.pop_front() {
            let tell = std::mem::take(&mut q.notify_on_take);
            drop(q);
            if tell && let Some(&h) = self.handle.get() {
                // The shard stopped filling a full queue; a dead shard fails the next take.
                let _ = self.host.request(Request::AcceptRoom(h));
            }
            return Ok(Some(s));
        }
        if q.stopped {
            return Err(SocketError::ShardStopped.into());
        }
        if !q.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            q.waker = Some(waker.clone());
        }
        Ok(None)
    }
}
