//! The shard side of the socket contract: what the shard loop does to a socket on its own
//! thread — give it its connection, move bytes between its buffers and the transport,
//! report progress and errors, and close it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ringtcp_transport::{BufferMemory, Error, Instant, Shard, SocketHandle, State};

use super::{Phase, SocketError, SocketShared};
use crate::conn_trace::ConnTrace;

/// What closing a socket came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Released {
    /// The transport has the connection (closing or reset); the socket gave back this many
    /// application-side buffer bytes.
    Done { gave_back: usize },
    /// The application's last bytes are not all in the transport yet: keep the socket and
    /// release it again when the connection moves.
    Lingering,
}

/// True once everything sent, FIN included, is acknowledged (or the connection is gone):
/// FIN-WAIT-2, TIME-WAIT or CLOSED (RFC 9293 §3.3.2).
fn fin_acked(shard: &Shard, h: SocketHandle) -> bool {
    !matches!(shard.state(h), Ok(State::Established | State::SynSent | State::SynReceived | State::FinWait1 | State::CloseWait | State::Closing | State::LastAck))
}

impl SocketShared {
    /// Gives the socket its connection `h` and its addresses; starts its trace.
    pub(crate) fn attach(&self, h: SocketHandle, local: Option<SocketAddr>, peer: Option<SocketAddr>) {
        let mut st = self.state();
        st.handle = Some(h);
        st.local = local;
        st.peer = peer;
        st.trace = ConnTrace::start(self.host.shard_id(), local, peer);
    }

    /// The connection could not be opened.
    pub(crate) fn fail(&self, e: SocketError) {
        self.state().fail(e);
    }

    /// The shard is stopping: every call on this socket fails from now on.
    pub(crate) fn shard_stopped(&self) {
        let mut st = self.state();
        if let Some(t) = st.trace.take() {
            t.finish("shard_stopped");
        }
        st.fail(SocketError::ShardStopped);
    }

    /// Reset instead of FIN when released (its listener closed before it was accepted).
    pub(crate) fn abort_on_release(&self) {
        self.state().linger = Some(Duration::ZERO);
    }

    /// The connection's handle, once attached.
    pub(crate) fn handle(&self) -> Option<SocketHandle> {
        self.state().handle
    }

    /// Brings socket and connection up to date: written bytes (and a shutdown) go to the
    /// transport, received bytes come out as far as the socket has room, progress and
    /// errors are reported, and the woken tasks are woken after the lock is released.
    /// Returns the change in application-side buffer bytes the shard counts against its
    /// buffer memory.
    pub(crate) fn exchange(&self, shard: &mut Shard, now: Instant) -> isize {
        let mut st = self.state();
        st.update_queued = false;
        let Some(h) = st.handle else { return 0 };
        if std::mem::take(&mut st.options_changed) {
            let _ = shard.set_nodelay(h, st.nodelay);
            let _ = shard.set_ttl(h, st.ttl.clamp(1, 255) as u8);
            let _ = shard.set_tos(h, st.tos);
            let _ = shard.set_user_timeout(h, st.user_timeout);
        }
        if std::mem::take(&mut st.quickack_changed) {
            let _ = shard.set_quickack(h, st.quickack);
        }
        if std::mem::take(&mut st.keepalive_changed) {
            let _ = shard.set_keepalive(now, h, st.keepalive);
        }
        let tx_before = st.tx.len();
        if !st.tx.is_empty() {
            // Full chunks move, not copied.
            match shard.send_from(h, &mut st.tx) {
                Ok(0) | Err(Error::WouldBlock) => {}
                Ok(n) => {
                    if let Some(t) = st.trace.as_deref_mut() {
                        t.sent(n);
                    }
                }
                Err(e) => st.fail(e.into()),
            }
        }
        if st.tx_shutdown && st.tx.is_empty() {
            let _ = shard.shutdown_write(h);
        }
        let wrote = st.tx.len() < tx_before;
        st.memory_tight = shard.memory_tight();
        let mut got = false;
        // At the memory limit the application side grows no more either (beyond a floor,
        // so that every connection can still be read).
        let cap = if shard.memory_exhausted() {
            st.rx_cap.min(st.rx.allocated().max(BufferMemory::MIN_BUFFER))
        } else {
            st.rx_cap
        };
        while st.rx.len() < cap && !st.rx_eof {
            let room = cap - st.rx.len();
            // Straight into the socket's buffer: full chunks move, no bounce through a
            // scratch buffer.
            match shard.recv_into(h, &mut st.rx, room) {
                Ok(0) => {
                    st.rx_eof = true;
                    got = true;
                }
                Ok(n) => {
                    if let Some(t) = st.trace.as_deref_mut() {
                        t.received(n);
                    }
                    got = true;
                }
                Err(Error::WouldBlock) => break,
                Err(e) => {
                    st.fail(e.into());
                    got = true;
                    break;
                }
            }
        }
        match shard.state(h) {
            Ok(State::SynSent | State::SynReceived) => {}
            Ok(State::Closed) => {
                if let Ok(Some(e)) = shard.error(h) {
                    st.fail(e.into());
                }
                if st.phase == Phase::Connecting {
                    st.phase = Phase::Failed;
                    st.error.get_or_insert(SocketError::Transport(Error::ConnectionRefused));
                }
                st.wake_all();
            }
            Ok(_) => {
                if st.phase == Phase::Connecting {
                    st.phase = Phase::Open;
                    st.wake_all();
                }
            }
            Err(_) => {}
        }
        st.rx_more = !st.rx_eof && shard.recv_queue(h).is_ok_and(|n| n > 0);
        let held = st.rx.allocated() + st.tx.allocated();
        let delta = held as isize - st.accounted as isize;
        st.accounted = held;
        let reader = if got { st.read_waker.take() } else { None };
        let writer = if wrote { st.write_waker.take() } else { None };
        drop(st);
        // Woken after unlocking, so the woken task does not find the lock held.
        if let Some(w) = reader {
            w.wake();
        }
        if let Some(w) = writer {
            w.wake();
        }
        delta
    }

    /// The application dropped the socket: flush what it wrote, then close, or reset with
    /// unread data or zero linger, as Linux does. `app_delta` receives the buffer-byte
    /// change of the final exchange.
    pub(crate) fn release(self: &Arc<Self>, shard: &mut Shard, now: Instant, app_delta: &mut isize) -> Released {
        let Some(h) = self.handle() else { return Released::Done { gave_back: 0 } };
        *app_delta += self.exchange(shard, now);
        let mut st = self.state();
        let unread = !st.rx.is_empty() || shard.recv_queue(h).unwrap_or(0) > 0;
        if let Some(t) = st.trace.take() {
            let ended = match st.error {
                Some(e) => format!("{:?}", e.kind()),
                None if st.linger == Some(Duration::ZERO) || unread => "aborted".to_owned(),
                None => "closed".to_owned(),
            };
            // The subscriber runs outside the socket lock: its time is not the app's wait.
            drop(st);
            t.finish(&ended);
            st = self.state();
        }
        if st.linger == Some(Duration::ZERO) || unread {
            drop(st);
            let _ = shard.abort(h);
        } else if !st.tx.is_empty() && st.error.is_none() {
            // Kept until the transport has taken everything the application wrote.
            return Released::Lingering;
        } else if st.linger.is_some() && st.error.is_none() && !fin_acked(shard, h) {
            // SO_LINGER: the FIN goes out now, and the socket stays until it is
            // acknowledged, so that a handle waiting in `linger_wait` learns when.
            st.tx_shutdown = true;
            drop(st);
            let _ = shard.shutdown_write(h);
            if !fin_acked(shard, h) {
                return Released::Lingering;
            }
            let _ = shard.close(now, h);
        } else {
            drop(st);
            let _ = shard.close(now, h);
        }
        let (gave_back, waiter) = {
            let mut st = self.state();
            st.closed = true;
            (std::mem::take(&mut st.accounted), st.linger.is_some_and(|d| !d.is_zero()))
        };
        // Only a lingering drop waits (and a notification is a system call).
        if waiter {
            self.closed.notify_all();
        }
        Released::Done { gave_back }
    }
}
