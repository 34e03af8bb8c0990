//! How the interface's calls share the adapter: one lock, and one condition variable that
//! blocked calls wait on and every other call signals. packetdrill runs blocking calls on
//! a thread of their own while its main thread goes on injecting packets and moving
//! virtual time, which no real time passes for; so a call that moves time first lets every
//! woken blocked call look again, and a blocked call that nothing can wake gives up.

use std::ffi::{c_int, c_void};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::adapter::{Adapter, Res};

/// The interface's `userdata`: a `Box<Shared>` made in `packetdrill_interface_init`.
pub(crate) type Ud = *mut c_void;

/// The adapter and the signal blocking calls wait on.
pub(crate) struct Shared {
    pub(crate) inner: Mutex<Inner>,
    pub(crate) changed: Condvar,
}

/// The adapter, and what keeps virtual time from running ahead of a blocked call.
pub(crate) struct Inner {
    pub(crate) adapter: Adapter,
    /// Calls blocked in [`wait_for_change`].
    pub(crate) waiting: usize,
    /// Blocked calls that have not looked again since the last change. A call that moves
    /// virtual time waits for them first: a read woken by a packet must return at the
    /// packet's time, not after packetdrill's next sleep (which takes no real time).
    pub(crate) stale: usize,
    /// Threads whose blocked call has just returned and that have not read the clock
    /// since: packetdrill's syscall thread reads it, outside any call of ours, to time the
    /// call's end, and virtual time must not move before it has.
    pub(crate) returned: Vec<std::thread::ThreadId>,
    /// Until when (real time) a [`Wait::Sleep`] of another thread waits, after a returned
    /// call's thread read the clock: packetdrill's syscall thread records the call's
    /// result (an accepted socket's fd, for one) only after that reading, and the main
    /// thread's next event may look at it.
    pub(crate) grace_until: Option<(std::time::Instant, std::thread::ThreadId)>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// When a call may wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Never: it answers at once.
    Never,
    /// While it answers `EAGAIN` and the fd is blocking.
    IfBlocking(c_int),
    /// While it answers `EAGAIN` (poll with a timeout).
    Always,
    /// It moves virtual time: first let every woken blocked call look again.
    Settle,
    /// `usleep`: as `Settle`, and packetdrill released its own lock around it, which a
    /// thread whose blocked call just returned needs to record the call's result (an
    /// accepted socket's fd, for one; the main thread's next event may look at it): give
    /// that thread a moment of real time first.
    Sleep,
}

/// Runs `op` under the lock, again and again while it answers `EAGAIN` and `wait` says to
/// wait, waiting for another call to change something in between.
pub(crate) fn call<T>(ud: Ud, wait: Wait, mut op: impl FnMut(&mut Adapter) -> Res<T>) -> Res<T> {
    // SAFETY: `ud` is the interface's userdata, alive until `free`.
    let sh = unsafe { shared(ud) };
    let mut g = sh.lock();
    if matches!(wait, Wait::Settle | Wait::Sleep) {
        // This thread's own reading of the clock is the one a returned call waits for.
        let me = std::thread::current().id();
        if g.returned.contains(&me) {
            g.returned.retain(|t| *t != me);
            g.grace_until = Some((std::time::Instant::now() + GRACE, me));
        }
        let deadline = std::time::Instant::now() + SETTLE;
        while g.stale > 0 || !g.returned.is_empty() {
            let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) else {
                // Whoever did not look again in a second of real time is not coming.
                g.returned.clear();
                break;
            };
            g = sh.changed.wait_timeout(g, left).unwrap_or_else(std::sync::PoisonError::into_inner).0;
        }
        while wait == Wait::Sleep
            && let Some((until, owner)) = g.grace_until
            && owner != me
        {
            let Some(left) = until.checked_duration_since(std::time::Instant::now()) else {
                g.grace_until = None;
                break;
            };
            g = sh.changed.wait_timeout(g, left).unwrap_or_else(std::sync::PoisonError::into_inner).0;
        }
    }
    let mut blocked = false;
    loop {
        let r = op(&mut g.adapter);
        let blocks = match wait {
            Wait::IfBlocking(fd) => !g.adapter.nonblocking(fd).unwrap_or(true),
            Wait::Always => true,
            Wait::Never | Wait::Settle | Wait::Sleep => false,
        };
        match r {
            Err(libc::EAGAIN) if blocks => {
                g.waiting += 1;
                sh.changed.notify_all();
                let woken = wait_for_change(sh, g);
                let Ok(again) = woken else {
                    // The call gave up: it is no longer among the waiters.
                    let mut g = sh.lock();
                    g.waiting -= 1;
                    g.stale = g.stale.min(g.waiting);
                    return Err(libc::EINTR);
                };
                g = again;
                g.waiting -= 1;
                g.stale = g.stale.saturating_sub(1);
                blocked = true;
            }
            r => {
                // Anything may have changed: every blocked call must look again.
                g.stale = g.waiting;
                if blocked {
                    g.returned.push(std::thread::current().id());
                }
                sh.changed.notify_all();
                return r;
            }
        }
    }
}

/// How long, in real time, a call that moves virtual time waits for woken blocked calls
/// to look again.
const SETTLE: Duration = Duration::from_secs(1);

/// How long, in real time, virtual time stays still after a returned call's thread read the
/// clock (see [`Inner::grace_until`]): its remaining bookkeeping takes microseconds, but
/// on a loaded machine (CI runs tests side by side) the thread may wait that long for a CPU.
const GRACE: Duration = Duration::from_millis(20);

/// How long a blocking call waits, in real time, for another call to change something.
/// packetdrill's main thread moves virtual time and injects packets within microseconds of
/// real time, so a wait this long means nothing in the script will ever wake the call.
const STUCK: Duration = Duration::from_secs(5);

/// Waits for another call to change the adapter's state; `EINTR` (as a signal would
/// interrupt it) with a message when nothing does within [`STUCK`], so that a script whose
/// blocking call can never return fails instead of hanging.
fn wait_for_change<'a>(sh: &'a Shared, a: MutexGuard<'a, Inner>) -> Res<MutexGuard<'a, Inner>> {
    let (a, waited) = sh.changed.wait_timeout(a, STUCK).unwrap_or_else(std::sync::PoisonError::into_inner);
    if waited.timed_out() {
        eprintln!("ringtcp-conformance: a blocking call waited {} s of real time and nothing in the script can wake it; answering EINTR", STUCK.as_secs());
        return Err(libc::EINTR);
    }
    Ok(a)
}


/// # Safety
///
/// `ud` is the pointer `packetdrill_interface_init` stored, not yet freed.
pub(crate) unsafe fn shared<'a>(ud: Ud) -> &'a Shared {
    // SAFETY: by the caller's contract, `ud` came from `Box::into_raw` in `init`.
    unsafe { &*(ud as *const Shared) }
}
