//! A shard's doorbell: how anyone outside the shard loop (an application thread, the
//! other end of an in-process device) tells a sleeping shard to look for work.
//!
//! A shard waits in one of two ways (see `shard::wait`), so the doorbell rings one of two
//! things: an eventfd the shard's io_uring keeps a read posted on, or, on a
//! thread-per-core shard, a `tokio::sync::Notify` the loop task waits on. Rings coalesce:
//! once rung, the eventfd is not written again until the shard has seen it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;

use crate::sys;

/// Wakes one shard.
#[derive(Debug)]
pub struct Doorbell {
    eventfd: OwnedFd,
    /// Rung and not yet seen by the shard: further rings write nothing.
    rung: AtomicBool,
    /// Thread-per-core shards wait on this instead of the eventfd.
    notify: OnceLock<Arc<Notify>>,
}

impl Doorbell {
    pub(crate) fn new() -> io::Result<Doorbell> {
        Ok(Doorbell { eventfd: sys::eventfd()?, rung: AtomicBool::new(false), notify: OnceLock::new() })
    }

    /// Wakes the shard (at most one system call until it has seen the last ring).
    pub fn ring(&self) {
        if let Some(n) = self.notify.get() {
            // A permit is stored if the loop is busy, so the wake-up is never lost; from
            // the shard's own thread this is a flag and a local wake, no system call.
            n.notify_one();
        } else if !self.rung.swap(true, Ordering::AcqRel) {
            sys::eventfd_ring(self.eventfd.as_raw_fd());
        }
    }

    /// The eventfd the shard's ring reads.
    pub(crate) fn fd(&self) -> libc::c_int {
        self.eventfd.as_raw_fd()
    }

    /// The shard saw the ring; the next one must write again.
    pub(crate) fn rearm(&self) {
        self.rung.store(false, Ordering::Release);
    }

    /// From now on, ring `notify` instead of the eventfd (thread-per-core mode).
    pub(crate) fn use_notify(&self, notify: Arc<Notify>) {
        let _ = self.notify.set(notify);
    }

    /// True if the shard waits on a `Notify` (thread-per-core mode).
    pub(crate) fn is_notify(&self) -> bool {
        self.notify.get().is_some()
    }
}
