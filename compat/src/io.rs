//! The read / write / readiness logic shared by `TcpStream` and its halves: all of it
//! works on the socket's shared state, so any handle can drive it.

use std::io::{self, IoSlice, IoSliceMut};
use std::sync::Arc;
use std::task::{Context, Poll};

use ringtcp_runtime::shared::{SocketShared, SocketState, shard_dead_error};
use tokio::io::{Interest, ReadBuf, Ready};

pub(crate) fn error_of(st: &SocketState) -> io::Error {
    let kind = st.error.unwrap_or(io::ErrorKind::NotConnected);
    let msg = match kind {
        io::ErrorKind::ConnectionRefused => "connection refused: nothing listens on that port",
        io::ErrorKind::ConnectionReset => "connection reset by peer",
        io::ErrorKind::TimedOut => "connection timed out: the peer stopped answering",
        io::ErrorKind::BrokenPipe => "broken pipe: the connection is closed for writing",
        io::ErrorKind::HostUnreachable => "host unreachable",
        io::ErrorKind::OutOfMemory => {
            "the stack holds its maximum of live connections (max_connections): close some or raise the limit"
        }
        _ => "connection failed",
    };
    io::Error::new(kind, msg)
}

/// Copies the front of the receive buffer into `out`, consuming it if `consume`.
fn take(st: &mut SocketState, out: &mut [u8], consume: bool) -> usize {
    let n = st.rx.len().min(out.len());
    let (a, b) = st.rx.as_slices();
    let na = n.min(a.len());
    out[..na].copy_from_slice(&a[..na]);
    out[na..n].copy_from_slice(&b[..n - na]);
    if consume {
        st.rx.drain(..n);
    }
    n
}

/// A large receive buffer is freed once drained, so an idle connection stays small; when
/// buffer memory is tight any drained one is, and the shard is asked to count it as given
/// back (it counts the sockets' buffers when it syncs them).
fn release_if_drained(sock: &Arc<SocketShared>, st: &mut SocketState) -> io::Result<()> {
    if !st.rx.is_empty() || st.rx.capacity() == 0 {
        return Ok(());
    }
    if st.memory_tight {
        st.rx = Default::default();
        return sock.request_sync(st);
    }
    if st.rx.capacity() > ringtcp_runtime::shard::RELEASE_ABOVE {
        st.rx = Default::default();
    }
    Ok(())
}

/// Nothing to read: end of stream (`Ok(Some(0))`), an error, or not yet (`Ok(None)`).
fn empty_outcome(sock: &SocketShared, st: &SocketState) -> io::Result<Option<usize>> {
    if st.rx_eof {
        return Ok(Some(0));
    }
    if st.error.is_some() {
        return Err(error_of(st));
    }
    if sock.link.is_dead() {
        return Err(shard_dead_error());
    }
    Ok(None)
}

/// After a read consumed bytes that were `before` in the buffer.
fn after_consuming(sock: &Arc<SocketShared>, st: &mut SocketState, before: usize) -> io::Result<()> {
    release_if_drained(sock, st)?;
    refill(sock, st, before)
}

/// After consuming: the shard fills the buffer as far as it can, so if it was at least
/// half full, or the shard said the transport holds more (it fills less when buffer memory
/// is at its limit), ask for more now that there is room.
fn refill(sock: &Arc<SocketShared>, st: &mut SocketState, before: usize) -> io::Result<()> {
    if before >= st.cap / 2 || st.rx_more { sock.request_sync(st) } else { Ok(()) }
}

/// Copies up to `out` bytes; `consume` false peeks. `Ok(None)`: nothing yet (waker set).
fn read_into(sock: &Arc<SocketShared>, cx: Option<&mut Context<'_>>, out: &mut [u8], consume: bool) -> io::Result<Option<usize>> {
    let mut st = sock.state();
    if st.rx.is_empty() {
        let r = empty_outcome(sock, &st)?;
        if r.is_none()
            && let Some(cx) = cx
        {
            st.read_waker = Some(cx.waker().clone());
        }
        return Ok(r);
    }
    let before = st.rx.len();
    let n = take(&mut st, out, consume);
    if consume {
        after_consuming(sock, &mut st, before)?;
    }
    Ok(Some(n))
}

pub(crate) fn poll_read(sock: &Arc<SocketShared>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
    let mut st = sock.state();
    if st.rx.is_empty() {
        return match empty_outcome(sock, &st) {
            Ok(Some(_)) => Poll::Ready(Ok(())),
            Ok(None) => {
                st.read_waker = Some(cx.waker().clone());
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        };
    }
    // Copy straight into the caller's buffer: `put_slice` writes only what it copies, so a
    // large, uninitialised read buffer is not zeroed first.
    let before = st.rx.len();
    let n = before.min(buf.remaining());
    let (a, b) = st.rx.as_slices();
    let na = n.min(a.len());
    buf.put_slice(&a[..na]);
    buf.put_slice(&b[..n - na]);
    st.rx.drain(..n);
    match after_consuming(sock, &mut st, before) {
        Ok(()) => Poll::Ready(Ok(())),
        Err(e) => Poll::Ready(Err(e)),
    }
}

pub(crate) fn poll_peek(sock: &Arc<SocketShared>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<usize>> {
    let unfilled = buf.initialize_unfilled();
    match read_into(sock, Some(cx), unfilled, false) {
        Ok(Some(n)) => {
            buf.advance(n);
            Poll::Ready(Ok(n))
        }
        Ok(None) => Poll::Pending,
        Err(e) => Poll::Ready(Err(e)),
    }
}

pub(crate) fn try_read(sock: &Arc<SocketShared>, out: &mut [u8]) -> io::Result<usize> {
    read_into(sock, None, out, true)?.ok_or_else(|| io::ErrorKind::WouldBlock.into())
}

pub(crate) fn try_read_vectored(sock: &Arc<SocketShared>, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
    let mut st = sock.state();
    if st.rx.is_empty() {
        return empty_outcome(sock, &st)?.ok_or_else(|| io::ErrorKind::WouldBlock.into());
    }
    let before = st.rx.len();
    let mut total = 0;
    for b in bufs.iter_mut() {
        total += take(&mut st, b, true);
        if st.rx.is_empty() {
            break;
        }
    }
    after_consuming(sock, &mut st, before)?;
    Ok(total)
}

/// Queues what fits; `Ok(None)`: the buffer is full (waker set).
fn write_from(sock: &Arc<SocketShared>, cx: Option<&mut Context<'_>>, data: &[&[u8]]) -> io::Result<Option<usize>> {
    let mut st = sock.state();
    if st.error.is_some() {
        return Err(error_of(&st));
    }
    if st.tx_shutdown {
        return Err(io::Error::new(io::ErrorKind::BrokenPipe, "write after shutdown"));
    }
    if sock.link.is_dead() {
        return Err(shard_dead_error());
    }
    let mut room = st.cap.saturating_sub(st.tx.len());
    if room == 0 {
        if let Some(cx) = cx {
            st.write_waker = Some(cx.waker().clone());
        }
        sock.request_sync(&mut st)?;
        return Ok(None);
    }
    let mut n = 0;
    for d in data {
        let k = room.min(d.len());
        st.tx.extend(&d[..k]);
        n += k;
        room -= k;
        if room == 0 {
            break;
        }
    }
    sock.request_sync(&mut st)?;
    Ok(Some(n))
}

pub(crate) fn poll_write(sock: &Arc<SocketShared>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
    match write_from(sock, Some(cx), &[data]) {
        Ok(Some(n)) => Poll::Ready(Ok(n)),
        Ok(None) => Poll::Pending,
        Err(e) => Poll::Ready(Err(e)),
    }
}

pub(crate) fn poll_write_vectored(sock: &Arc<SocketShared>, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
    let slices: Vec<&[u8]> = bufs.iter().map(|b| &**b).collect();
    match write_from(sock, Some(cx), &slices) {
        Ok(Some(n)) => Poll::Ready(Ok(n)),
        Ok(None) => Poll::Pending,
        Err(e) => Poll::Ready(Err(e)),
    }
}

pub(crate) fn try_write(sock: &Arc<SocketShared>, data: &[u8]) -> io::Result<usize> {
    write_from(sock, None, &[data])?.ok_or_else(|| io::ErrorKind::WouldBlock.into())
}

pub(crate) fn try_write_vectored(sock: &Arc<SocketShared>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    let slices: Vec<&[u8]> = bufs.iter().map(|b| &**b).collect();
    write_from(sock, None, &slices)?.ok_or_else(|| io::ErrorKind::WouldBlock.into())
}

pub(crate) fn poll_shutdown(sock: &Arc<SocketShared>) -> Poll<io::Result<()>> {
    let mut st = sock.state();
    if !st.tx_shutdown {
        st.tx_shutdown = true;
        sock.request_sync(&mut st)?;
    }
    Poll::Ready(Ok(()))
}

/// Readiness for `interest`, registering wakers for what is not ready.
pub(crate) fn poll_ready(sock: &Arc<SocketShared>, cx: &mut Context<'_>, interest: Interest) -> Poll<io::Result<Ready>> {
    let mut st = sock.state();
    let mut ready = Ready::EMPTY;
    let failed = st.error.is_some() || sock.link.is_dead();
    if interest.is_readable() {
        if !st.rx.is_empty() || st.rx_eof || failed {
            ready |= Ready::READABLE;
        }
        if st.rx_eof {
            ready |= Ready::READ_CLOSED;
        }
    }
    if interest.is_writable() {
        if st.tx.len() < st.cap || failed || st.tx_shutdown {
            ready |= Ready::WRITABLE;
        }
        if st.tx_shutdown || failed {
            ready |= Ready::WRITE_CLOSED;
        }
    }
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

/// `AsyncRead` for a handle type with a `sock` field.
macro_rules! read_impl {
    ($t:ty) => {
        impl tokio::io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                $crate::io::poll_read(&self.sock, cx, buf)
            }
        }
    };
}

/// `AsyncWrite` for a handle type with a `sock` field.
macro_rules! write_impl {
    ($t:ty) => {
        impl tokio::io::AsyncWrite for $t {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                data: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::io::poll_write(&self.sock, cx, data)
            }
            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::io::poll_write_vectored(&self.sock, cx, bufs)
            }
            fn is_write_vectored(&self) -> bool {
                true
            }
            /// As with the kernel's sockets, written data is already on its way.
            fn poll_flush(self: std::pin::Pin<&mut Self>, _cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }
            /// Sends FIN after all queued data, as the kernel does; reading goes on.
            fn poll_shutdown(self: std::pin::Pin<&mut Self>, _cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
                $crate::io::poll_shutdown(&self.sock)
            }
        }
    };
}

pub(crate) use read_impl;
pub(crate) use write_impl;
