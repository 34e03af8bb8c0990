//! The application side of the socket contract: reading, writing, readiness, options and
//! closing, as `TcpStream` and its halves call them from any task.

use std::io::{self, IoSlice, IoSliceMut};
use std::ops::Deref;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ringtcp_transport::{Error, Keepalive};
use tokio::io::{Interest, ReadBuf, Ready};

use super::{Phase, Request, SocketError, SocketShared, SocketState};

impl SocketState {
    /// The error a call gets once the connection has failed (or never was).
    fn error_now(&self) -> io::Error {
        self.error.unwrap_or(SocketError::Transport(Error::NotConnected)).into()
    }

    /// Copies the front of the receive buffer into `out`, consuming it if `consume`.
    fn take(&mut self, out: &mut [u8], consume: bool) -> usize {
        let n = self.rx.copy_front(out);
        if consume {
            self.rx.consume(n);
        }
        n
    }
}

impl SocketShared {
    /// Nothing to read: end of stream (`Ok(Some(0))`), an error, or not yet (`Ok(None)`).
    fn empty_outcome(&self, st: &SocketState) -> io::Result<Option<usize>> {
        if st.rx_eof {
            return Ok(Some(0));
        }
        if st.error.is_some() {
            return Err(st.error_now());
        }
        if self.host.is_dead() {
            return Err(SocketError::ShardStopped.into());
        }
        Ok(None)
    }

    /// After a read consumed bytes that were `before` in the buffer (the chunks it drained
    /// went back to the pool as it did): when buffer memory is tight and the buffer is
    /// now empty, the shard is told at once, so that it counts the memory as given back.
    /// Otherwise, if the buffer was at least half full or the shard said the transport
    /// holds more (it fills less at the memory limit), the shard is asked for more.
    fn after_consuming(self: &Arc<Self>, st: &mut SocketState, before: usize) -> io::Result<()> {
        if (st.rx.is_empty() && st.memory_tight) || before >= st.rx_cap / 2 || st.rx_more {
            return self.request_update(st);
        }
        Ok(())
    }

    /// Copies up to `out` bytes; `consume` false peeks. `Ok(None)`: nothing yet (waker set).
    fn read_into(self: &Arc<Self>, cx: Option<&mut Context<'_>>, out: &mut [u8], consume: bool) -> io::Result<Option<usize>> {
        let mut st = self.state();
        if st.rx.is_empty() {
            let r = self.empty_outcome(&st)?;
            if r.is_none()
                && let Some(cx) = cx
            {
                st.read_waker = Some(cx.waker().clone());
            }
            return Ok(r);
        }
        let before = st.rx.len();
        let n = st.take(out, consume);
        if consume {
            self.after_consuming(&mut st, before)?;
        }
        Ok(Some(n))
    }

    /// `AsyncRead::poll_read`: copies what has arrived into `buf`; end of stream leaves it
    /// unfilled.
    ///
    /// # Errors
    ///
    /// The error the connection ended with (reset, timed out, ...), or `BrokenPipe` once
    /// the shard thread has stopped.
    pub fn poll_read(self: &Arc<Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut st = self.state();
        if st.rx.is_empty() {
            return match self.empty_outcome(&st) {
                Ok(Some(_)) => Poll::Ready(Ok(())),
                Ok(None) => {
                    st.read_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                Err(e) => Poll::Ready(Err(e)),
            };
        }
        // Copy straight into the caller's buffer: `put_slice` writes only what it copies, so
        // a large, uninitialised read buffer is not zeroed first.
        let before = st.rx.len();
        let n = before.min(buf.remaining());
        st.rx.front(n).for_each(|part| buf.put_slice(part));
        st.rx.consume(n);
        Poll::Ready(self.after_consuming(&mut st, before))
    }

    /// Copies what has arrived into `buf` without consuming it.
    ///
    /// # Errors
    ///
    /// As [`poll_read`](SocketShared::poll_read).
    pub fn poll_peek(self: &Arc<Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<usize>> {
        let unfilled = buf.initialize_unfilled();
        match self.read_into(Some(cx), unfilled, false) {
            Ok(Some(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(n))
            }
            Ok(None) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Reads what is there now.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if nothing has arrived; otherwise as [`poll_read`](SocketShared::poll_read).
    pub fn try_read(self: &Arc<Self>, out: &mut [u8]) -> io::Result<usize> {
        self.read_into(None, out, true)?.ok_or_else(|| io::ErrorKind::WouldBlock.into())
    }

    /// Reads what is there now into several buffers.
    ///
    /// # Errors
    ///
    /// As [`try_read`](SocketShared::try_read).
    pub fn try_read_vectored(self: &Arc<Self>, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let mut st = self.state();
        if st.rx.is_empty() {
            return self.empty_outcome(&st)?.ok_or_else(|| io::ErrorKind::WouldBlock.into());
        }
        let before = st.rx.len();
        let mut total = 0;
        for b in bufs.iter_mut() {
            total += st.take(b, true);
            if st.rx.is_empty() {
                break;
            }
        }
        self.after_consuming(&mut st, before)?;
        Ok(total)
    }

    /// Queues what fits; `Ok(None)`: the buffer is full (waker set).
    fn write_from<B: Deref<Target = [u8]>>(self: &Arc<Self>, cx: Option<&mut Context<'_>>, data: &[B]) -> io::Result<Option<usize>> {
        let mut st = self.state();
        if st.error.is_some() {
            return Err(st.error_now());
        }
        if st.tx_shutdown {
            return Err(SocketError::Transport(Error::BrokenPipe).into());
        }
        if self.host.is_dead() {
            return Err(SocketError::ShardStopped.into());
        }
        let mut room = st.tx_cap.saturating_sub(st.tx.len());
        if room == 0 {
            if let Some(cx) = cx {
                st.write_waker = Some(cx.waker().clone());
            }
            self.request_update(&mut st)?;
            return Ok(None);
        }
        let mut n = 0;
        for d in data {
            let k = room.min(d.len());
            st.tx.extend_from_slice(&d[..k]);
            n += k;
            room -= k;
            if room == 0 {
                break;
            }
        }
        self.request_update(&mut st)?;
        Ok(Some(n))
    }

    /// `AsyncWrite::poll_write_vectored`: queues what fits of `bufs` for sending.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` after a shutdown of writing or once the shard thread has stopped; the
    /// error the connection ended with.
    pub fn poll_write(self: &Arc<Self>, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        match self.write_from(Some(cx), bufs) {
            Ok(Some(n)) => Poll::Ready(Ok(n)),
            Ok(None) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// `AsyncWrite::poll_write` for one buffer.
    ///
    /// # Errors
    ///
    /// As [`poll_write`](SocketShared::poll_write).
    pub fn poll_write_one(self: &Arc<Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        match self.write_from(Some(cx), &[data]) {
            Ok(Some(n)) => Poll::Ready(Ok(n)),
            Ok(None) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Writes what fits now from several buffers.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if the send buffer is full; otherwise as [`poll_write`](SocketShared::poll_write).
    pub fn try_write<B: Deref<Target = [u8]>>(self: &Arc<Self>, bufs: &[B]) -> io::Result<usize> {
        self.write_from(None, bufs)?.ok_or_else(|| io::ErrorKind::WouldBlock.into())
    }

    /// Shuts down writing: a FIN follows the data already queued.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` once the shard thread has stopped.
    pub fn shutdown_write(self: &Arc<Self>) -> io::Result<()> {
        let mut st = self.state();
        if !st.tx_shutdown {
            st.tx_shutdown = true;
            self.request_update(&mut st)?;
        }
        Ok(())
    }

    /// Readiness for `interest`, registering wakers for what is not ready. A failed
    /// connection is ready both ways (the next call returns its error).
    pub fn poll_ready(&self, cx: &mut Context<'_>, interest: Interest) -> Poll<io::Result<Ready>> {
        let mut st = self.state();
        let ready = self.ready_in(&st, interest);
        if !ready.is_empty() {
            return Poll::Ready(Ok(ready));
        }
        if interest.is_readable() {
            st.read_waker = Some(cx.waker().clone());
        }
        if interest.is_writable() {
            st.write_waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Ready once a connection attempt has ended: `Ok` when established.
    ///
    /// # Errors
    ///
    /// Why the attempt failed (`ConnectionRefused`, `TimedOut`, `OutOfMemory` at the
    /// connection limit, ...).
    pub fn poll_connected(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = self.state();
        match st.phase {
            Phase::Open => Poll::Ready(Ok(())),
            Phase::Failed => Poll::Ready(Err(st.error_now())),
            Phase::Connecting => {
                st.write_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// `NotConnected` before the shard has opened the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.state().local.map(|a| self.as_seen(a)).ok_or_else(|| SocketError::Transport(Error::NotConnected).into())
    }

    /// `addr` as the application's socket family shows it: IPv4-mapped on an IPv6 socket.
    fn as_seen(&self, addr: SocketAddr) -> SocketAddr {
        if self.ipv6_api { ringtcp_transport::ipv6_socket_form(addr) } else { addr }
    }

    /// The remote address.
    ///
    /// # Errors
    ///
    /// `NotConnected` before the shard has opened the connection.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.state().peer.map(|a| self.as_seen(a)).ok_or_else(|| SocketError::Transport(Error::NotConnected).into())
    }

    /// Turns Nagle's algorithm off (`true`) or on.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` once the shard thread has stopped.
    pub fn set_nodelay(self: &Arc<Self>, nodelay: bool) -> io::Result<()> {
        let mut st = self.state();
        st.nodelay = nodelay;
        self.request_update(&mut st)
    }

    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self) -> bool {
        self.state().nodelay
    }

    /// Sets the IP time to live of the connection's packets.
    ///
    /// # Errors
    ///
    /// `InvalidInput` outside 1..=255; `BrokenPipe` once the shard thread has stopped.
    pub fn set_ttl(self: &Arc<Self>, ttl: u32) -> io::Result<()> {
        if ttl == 0 || ttl > 255 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "TTL must be between 1 and 255"));
        }
        let mut st = self.state();
        st.ttl = ttl;
        self.request_update(&mut st)
    }

    /// The IP time to live of the connection's packets.
    pub fn ttl(&self) -> u32 {
        self.state().ttl
    }

    /// SO_LINGER: `Some(Duration::ZERO)` resets the connection when it is closed (unsent
    /// data is dropped); `None` closes it with a FIN after the data, in the background.
    /// `Some(d)` longer than zero also closes with a FIN, and the handle's drop waits up to
    /// `d` for the peer to acknowledge everything (see [`linger_wait`](SocketShared::linger_wait)).
    pub fn set_linger(&self, linger: Option<Duration>) {
        self.state().linger = linger;
    }

    /// The SO_LINGER setting.
    pub fn linger(&self) -> Option<Duration> {
        self.state().linger
    }

    /// Acknowledge every segment at once (`TCP_QUICKACK`).
    ///
    /// # Errors
    ///
    /// `BrokenPipe` once the shard thread has stopped.
    pub fn set_quickack(self: &Arc<Self>, on: bool) -> io::Result<()> {
        let mut st = self.state();
        st.quickack = on;
        st.quickack_changed = true;
        self.request_update(&mut st)
    }

    /// Whether every segment is acknowledged at once.
    pub fn quickack(&self) -> bool {
        self.state().quickack
    }

    /// The IPv4 type-of-service byte of the connection's packets (`IP_TOS`).
    ///
    /// # Errors
    ///
    /// `BrokenPipe` once the shard thread has stopped.
    pub fn set_tos(self: &Arc<Self>, tos: u8) -> io::Result<()> {
        let mut st = self.state();
        st.tos = tos;
        st.options_changed = true;
        self.request_update(&mut st)
    }

    /// The type-of-service byte.
    pub fn tos(&self) -> u8 {
        self.state().tos
    }

    /// Keepalive probes (`None`: off): after `idle` without traffic a probe every
    /// `interval`, and after `probes` unanswered ones the connection fails with `TimedOut`.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` once the shard thread has stopped.
    pub fn set_keepalive(self: &Arc<Self>, keepalive: Option<Keepalive>) -> io::Result<()> {
        let mut st = self.state();
        st.keepalive = keepalive;
        st.keepalive_changed = true;
        self.request_update(&mut st)
    }

    /// The keepalive setting.
    pub fn keepalive(&self) -> Option<Keepalive> {
        self.state().keepalive
    }

    /// TCP_USER_TIMEOUT (RFC 5482; `None` or zero: off): how long sent data, the SYN or
    /// probes may go unanswered before the connection fails with `TimedOut`, in place of
    /// the retry counts.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` once the shard thread has stopped.
    pub fn set_user_timeout(self: &Arc<Self>, timeout: Option<Duration>) -> io::Result<()> {
        let mut st = self.state();
        st.user_timeout = timeout.filter(|d| !d.is_zero());
        st.options_changed = true;
        self.request_update(&mut st)
    }

    /// The user timeout (`None`: off).
    pub fn user_timeout(&self) -> Option<Duration> {
        self.state().user_timeout
    }

    /// The most bytes the socket buffers each way (receive, send).
    pub fn buffer_sizes(&self) -> (usize, usize) {
        let st = self.state();
        (st.rx_cap, st.tx_cap)
    }

    /// Readiness now, without waiting or registering a waker.
    pub fn readiness(&self, interest: Interest) -> Ready {
        self.ready_in(&self.state(), interest)
    }

    /// What `st` is ready for, of `interest`.
    fn ready_in(&self, st: &SocketState, interest: Interest) -> Ready {
        let mut ready = Ready::EMPTY;
        let failed = st.error.is_some() || self.host.is_dead();
        if interest.is_readable() {
            if !st.rx.is_empty() || st.rx_eof || failed {
                ready |= Ready::READABLE;
            }
            if st.rx_eof {
                ready |= Ready::READ_CLOSED;
            }
        }
        if interest.is_writable() {
            if st.tx.len() < st.tx_cap || failed || st.tx_shutdown {
                ready |= Ready::WRITABLE;
            }
            if st.tx_shutdown || failed {
                ready |= Ready::WRITE_CLOSED;
            }
        }
        ready
    }

    /// Reads what is there now into `buf`'s spare capacity, as tokio's `try_read_buf`.
    ///
    /// # Errors
    ///
    /// As [`try_read`](SocketShared::try_read).
    pub fn try_read_buf<B: bytes::BufMut>(self: &Arc<Self>, buf: &mut B) -> io::Result<usize> {
        let mut st = self.state();
        if st.rx.is_empty() {
            return self.empty_outcome(&st)?.ok_or_else(|| io::ErrorKind::WouldBlock.into());
        }
        let before = st.rx.len();
        let mut total = 0;
        while buf.has_remaining_mut() && !st.rx.is_empty() {
            let chunk = buf.chunk_mut();
            let n = chunk.len().min(st.rx.len());
            let mut done = 0;
            for part in st.rx.front(n) {
                chunk[done..done + part.len()].copy_from_slice(part);
                done += part.len();
            }
            st.rx.consume(n);
            // SAFETY: the first `n` bytes of the chunk were just written.
            unsafe { buf.advance_mut(n) };
            total += n;
        }
        self.after_consuming(&mut st, before)?;
        Ok(total)
    }

    /// The error the connection ended with, if any.
    pub fn take_error(&self) -> Option<io::Error> {
        self.state().error.map(io::Error::from)
    }

    /// True if the shard thread serving this socket has stopped.
    pub fn is_shard_dead(&self) -> bool {
        self.host.is_dead()
    }

    /// Gives the socket back to its shard (the application dropped it): the shard sends
    /// what was written, then closes (or resets, with unread data or zero linger).
    pub fn close(self: &Arc<Self>) {
        let _ = self.host.request(Request::Close(self.clone()));
    }

    /// After [`close`](SocketShared::close), with SO_LINGER set longer than zero: blocks
    /// the calling thread until the peer has acknowledged everything (FIN included), the
    /// connection has failed, or the linger time has passed, as `close` does on Linux.
    /// Returns at once without a linger time, or on the shard's own thread (which must not
    /// wait for itself). True if the shard finished in time.
    pub fn linger_wait(&self, on_shard_thread: bool) -> bool {
        let mut st = self.state();
        let Some(d) = st.linger.filter(|d| !d.is_zero()) else { return st.closed };
        if on_shard_thread {
            return st.closed;
        }
        let deadline = std::time::Instant::now() + d;
        while !st.closed && !self.host.is_dead() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            // Wake at least every 10 ms to notice a shard that stopped.
            st = self.closed.wait_timeout(st, left.min(Duration::from_millis(10))).map_or_else(|p| p.into_inner().0, |r| r.0);
        }
        st.closed
    }
}
