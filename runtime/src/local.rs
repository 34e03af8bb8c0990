//! Thread-per-core mode: the shard loop as one task of a current-thread tokio runtime on
//! the shard thread, beside the application tasks the stack spawns there.
//!
//! A task on the shard thread that writes, reads or connects reaches its shard without
//! crossing threads: the doorbell is a `tokio::sync::Notify` (a flag and a local wake,
//! no eventfd write), the shard wakes the task's waker on the same thread, and nothing
//! sleeps in between. The ring stays the shard's own (single issuer): its completions
//! signal an eventfd registered with the ring, which tokio's reactor watches, and transport
//! timers become a `sleep_until`. The loop itself is the one of the threaded mode
//! (`ShardLoop::turn` / `reap`); only the waiting differs.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;

use crate::shard::ShardLoop;
use crate::shared::ShardLink;
use crate::sys;

thread_local! {
    /// The link of the shard this thread runs, when it is a thread-per-core shard thread.
    static CURRENT: Cell<*const ShardLink> = const { Cell::new(std::ptr::null()) };
}

/// True if the calling thread is the thread-per-core thread of `link`'s shard.
pub fn is_current(link: &Arc<ShardLink>) -> bool {
    CURRENT.with(|c| std::ptr::eq(c.get(), Arc::as_ptr(link)))
}

/// True if the calling thread is a thread-per-core shard thread of any stack.
pub fn on_shard_thread() -> bool {
    CURRENT.with(|c| !c.get().is_null())
}

/// Runs the shard loop on this thread inside a current-thread tokio runtime until the
/// shard is told to stop or its device goes away.
pub(crate) fn run(mut l: ShardLoop, link: Arc<ShardLink>, notify: Arc<Notify>) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let completions = sys::eventfd()?;
    l.register_completion_eventfd(completions.as_raw_fd())?;
    CURRENT.with(|c| c.set(Arc::as_ptr(&link)));
    let r = rt.block_on(async {
        // SAFETY: an `OwnedFd` keeps its descriptor open and unchanged until it is dropped,
        // which only the `AsyncFd` can do.
        let completions = unsafe { AsyncFd::register_with_interest(completions, tokio::io::Interest::READABLE) }
            .map_err(io::Error::from)?;
        drive(&mut l, &notify, &completions).await;
        io::Result::Ok(())
    });
    CURRENT.with(|c| c.set(std::ptr::null()));
    // The loop goes first (its Drop fails every socket it served), then the runtime and
    // the application tasks still on it.
    drop(l);
    drop(rt);
    r
}

async fn drive(l: &mut ShardLoop, notify: &Notify, completions: &AsyncFd<OwnedFd>) {
    l.start_reads(false);
    while !l.stopped() {
        l.turn();
        if l.stopped() {
            break;
        }
        if l.submit().is_err() {
            l.count_io_error();
            break;
        }
        if l.reap() > 0 {
            // Work came in while we worked: let the tasks it woke run, then go again.
            tokio::task::yield_now().await;
            continue;
        }
        if !l.busy_poll().is_zero() {
            // Asked to busy-poll: let the other tasks run and look again, until work shows
            // up or the budget is spent, before paying for a sleep and a wake-up.
            let until = std::time::Instant::now() + l.busy_poll();
            let mut found = false;
            let mut spins = 0u32;
            while std::time::Instant::now() < until {
                tokio::task::yield_now().await;
                spins += 1;
                if spins.is_multiple_of(32) {
                    // Completions of device I/O are posted when this thread enters the
                    // kernel (cooperative task running): enter it now and then.
                    let _ = l.submit();
                }
                if l.has_work() {
                    found = true;
                    break;
                }
            }
            if found {
                continue;
            }
        }
        let deadline = l.next_deadline().map(|t| l.wall_instant(t));
        tokio::select! {
            biased;
            () = notify.notified() => {}
            ready = completions.readable() => {
                if let Ok(mut guard) = ready {
                    sys::eventfd_drain(completions.get_ref().as_raw_fd());
                    guard.clear_ready();
                }
            }
            () = sleep_until(deadline) => {}
        }
        l.reap();
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
