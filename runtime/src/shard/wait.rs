//! The shard loop, written once, and its two ways of waiting between turns.
//!
//! - In the kernel ([`KernelWait`]): the shard thread sleeps in `io_uring_enter` until a
//!   completion (a packet, a finished write, the doorbell's eventfd) or the next deadline.
//! - As a task of a current-thread tokio runtime on the shard thread ([`TokioWait`],
//!   thread-per-core mode), beside the application tasks spawned there: the doorbell is a
//!   `Notify` (a flag and a local wake, no system call from the shard's own thread), the
//!   ring's completions signal an eventfd that tokio's reactor watches, and transport
//!   timers become a `sleep_until`. The ring stays the shard's own (single issuer).
//!
//! The loop is an `async fn` so that one body serves both: a kernel wait never returns
//! `Pending`, so on a plain thread the future is polled to completion in a simple loop.

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Instant as WallInstant;

use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;

use super::event_loop::ShardLoop;
use crate::handle::ShardHandle;
use crate::sys;

/// How the loop waits.
pub(super) trait Wait {
    /// The loop waits on the doorbell through the ring (a read kept posted on its eventfd).
    const DOORBELL_IN_RING: bool;
    /// The loop submits and reaps after every turn before deciding to wait (tokio's
    /// reactor does not enter the ring, so nothing else would submit).
    const SUBMIT_EACH_TURN: bool;
    /// Lets others run for a moment while busy polling.
    fn pause(&mut self) -> impl Future<Output = ()>;
    /// Sleeps until there may be work, or until `l`'s next deadline.
    fn sleep(&mut self, l: &mut ShardLoop) -> impl Future<Output = io::Result<()>>;
}

/// The shard loop: turns until told to stop or the device is gone.
async fn run<W: Wait>(l: &mut ShardLoop, w: &mut W) {
    l.io.start_reads(W::DOORBELL_IN_RING);
    while !l.stopped() {
        l.turn();
        if l.stopped() {
            break;
        }
        if (W::SUBMIT_EACH_TURN || !l.busy_poll.is_zero()) && l.io.submit().is_err() {
            l.io.count_io_error();
            break;
        }
        if W::SUBMIT_EACH_TURN && l.reap() > 0 {
            // Work came in while we worked: let the tasks it woke run, then go again.
            w.pause().await;
            continue;
        }
        if !l.busy_poll.is_zero() && look_for_work(l, w).await {
            // In the kernel's way of waiting, completions are handled here; on tokio the
            // next turn's reap handles them, after the woken tasks have run.
            if !W::SUBMIT_EACH_TURN {
                l.reap();
            }
            continue;
        }
        if w.sleep(l).await.is_err() {
            l.io.count_io_error();
            break;
        }
        l.reap();
    }
    if l.told_to_stop() {
        l.farewell();
    }
}

/// Busy polling: before paying for a sleep and a wake-up, keep looking for work for the
/// configured time. True if some showed up. Others run first (`pause`): right after a
/// turn, the tasks it woke have not run yet, and a look before them finds work only to
/// turn again without it (measured: 16 % fewer connections/s in `churn_compare`'s
/// busy-polling thread-per-core run).
async fn look_for_work<W: Wait>(l: &mut ShardLoop, w: &mut W) -> bool {
    let until = WallInstant::now() + l.busy_poll;
    let mut spins = 0u32;
    while WallInstant::now() < until {
        w.pause().await;
        spins += 1;
        if spins.is_multiple_of(32) {
            // Device completions are posted when this thread enters the kernel.
            let _ = l.io.submit();
        }
        if l.has_work() {
            return true;
        }
    }
    false
}

/// Waiting in `io_uring_enter` on a plain shard thread.
pub(super) struct KernelWait;

impl Wait for KernelWait {
    const DOORBELL_IN_RING: bool = true;
    const SUBMIT_EACH_TURN: bool = false;

    async fn pause(&mut self) {
        std::hint::spin_loop();
    }

    async fn sleep(&mut self, l: &mut ShardLoop) -> io::Result<()> {
        let wait = l.next_deadline().map(|t| t.saturating_duration_since(l.now()));
        l.io.submit_and_wait(wait)
    }
}

/// Runs the loop on this thread, waiting in the kernel.
pub(super) fn run_in_kernel(mut l: ShardLoop) {
    let mut fut = pin!(async move { run(&mut l, &mut KernelWait).await });
    let mut cx = Context::from_waker(Waker::noop());
    // A kernel wait completes before it returns, so the loop's future never waits on a
    // waker: polling it once runs the loop to its end.
    while fut.as_mut().poll(&mut cx).is_pending() {}
}

/// Waiting as a task of the shard thread's tokio runtime.
pub(super) struct TokioWait {
    notify: Arc<Notify>,
    completions: AsyncFd<OwnedFd>,
}

impl Wait for TokioWait {
    const DOORBELL_IN_RING: bool = false;
    const SUBMIT_EACH_TURN: bool = true;

    async fn pause(&mut self) {
        tokio::task::yield_now().await;
    }

    async fn sleep(&mut self, l: &mut ShardLoop) -> io::Result<()> {
        let deadline = l.next_deadline().map(|t| l.wall_instant(t));
        tokio::select! {
            biased;
            () = self.notify.notified() => {}
            ready = self.completions.readable() => {
                if let Ok(mut guard) = ready {
                    sys::eventfd_drain(self.completions.get_ref().as_raw_fd());
                    guard.clear_ready();
                }
            }
            () = sleep_until(deadline) => {}
        }
        Ok(())
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Runs the loop on this thread inside a current-thread tokio runtime, where the stack
/// spawns application tasks too, until the shard is told to stop or its device goes away.
pub(super) fn run_on_tokio(l: ShardLoop, handle: Arc<ShardHandle>, notify: Arc<Notify>) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let completions = sys::eventfd()?;
    l.io.register_completion_eventfd(completions.as_raw_fd())?;
    crate::thread_per_core::set_current(Some(&handle));
    let mut l = l;
    let r = rt.block_on(async {
        // SAFETY: an `OwnedFd` keeps its descriptor open and unchanged until it is dropped,
        // which only the `AsyncFd` can do.
        let completions = unsafe { AsyncFd::register_with_interest(completions, tokio::io::Interest::READABLE) }
            .map_err(io::Error::from)?;
        run(&mut l, &mut TokioWait { notify, completions }).await;
        io::Result::Ok(())
    });
    crate::thread_per_core::set_current(None);
    // The loop goes first (its Drop fails every socket it served), then the runtime and
    // the application tasks still on it.
    drop(l);
    drop(rt);
    r
}
