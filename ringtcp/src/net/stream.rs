//! The switch's `TcpStream`: tokio's or ringtcp's, every method of tokio's.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BufMut;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf, Ready};

use super::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use super::{Backend, backend};
use crate::stream::unsupported;

/// `tokio::net::TcpStream` or `ringtcp::TcpStream`, as [`backend`] says.
#[derive(Debug)]
pub enum TcpStream {
    /// On the kernel's stack.
    Kernel(tokio::net::TcpStream),
    /// On ringtcp.
    Ringtcp(crate::TcpStream),
}

/// The same call on either variant.
macro_rules! both {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            TcpStream::Kernel($s) => $e,
            TcpStream::Ringtcp($s) => $e,
        }
    };
}

impl TcpStream {
    /// Opens a connection, trying each address `addr` resolves to in turn.
    ///
    /// # Errors
    ///
    /// The last attempt's error (`ConnectionRefused`, `TimedOut`...), or why the default
    /// ringtcp stack could not be built.
    pub async fn connect<A: tokio::net::ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        Ok(match backend() {
            Backend::Kernel => TcpStream::Kernel(tokio::net::TcpStream::connect(addr).await?),
            Backend::Ringtcp => TcpStream::Ringtcp(crate::TcpStream::connect(addr).await?),
        })
    }

    /// A kernel stream as a stream of the switch (the kernel backend only).
    ///
    /// # Errors
    ///
    /// `Unsupported` on ringtcp; otherwise as tokio's.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        match backend() {
            Backend::Kernel => Ok(TcpStream::Kernel(tokio::net::TcpStream::from_std(stream)?)),
            Backend::Ringtcp => crate::TcpStream::from_std(stream).map(TcpStream::Ringtcp),
        }
    }

    /// The kernel socket behind the stream.
    ///
    /// # Errors
    ///
    /// `Unsupported` on ringtcp; otherwise as tokio's.
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        match self {
            TcpStream::Kernel(s) => s.into_std(),
            TcpStream::Ringtcp(_) => Err(unsupported("TcpStream::into_std")),
        }
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        both!(self, s => s.local_addr())
    }

    /// The error the connection ended with, if any.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        both!(self, s => s.take_error())
    }

    /// The remote address.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        both!(self, s => s.peer_addr())
    }

    /// Polls for data without consuming it.
    pub fn poll_peek(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<usize>> {
        both!(self, s => s.poll_peek(cx, buf))
    }

    /// Waits for any of `interest`.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
        both!(self, s => s.ready(interest).await)
    }

    /// Waits until a read would not block.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub async fn readable(&self) -> io::Result<()> {
        both!(self, s => s.readable().await)
    }

    /// Polls for read readiness.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        both!(self, s => s.poll_read_ready(cx))
    }

    /// Reads what is there now.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if nothing; as the backend's.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        both!(self, s => s.try_read(buf))
    }

    /// Reads what is there now into several buffers.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if nothing; as the backend's.
    pub fn try_read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        both!(self, s => s.try_read_vectored(bufs))
    }

    /// Reads what is there now into `buf`'s spare capacity.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if nothing; as the backend's.
    pub fn try_read_buf<B: BufMut>(&self, buf: &mut B) -> io::Result<usize> {
        both!(self, s => s.try_read_buf(buf))
    }

    /// Waits until a write would not block.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub async fn writable(&self) -> io::Result<()> {
        both!(self, s => s.writable().await)
    }

    /// Polls for write readiness.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        both!(self, s => s.poll_write_ready(cx))
    }

    /// Writes what fits now.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if the buffer is full; as the backend's.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        both!(self, s => s.try_write(buf))
    }

    /// Writes what fits now from several buffers.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if the buffer is full; as the backend's.
    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        both!(self, s => s.try_write_vectored(bufs))
    }

    /// Runs `f` if the socket is ready for `interest` (see each backend's `try_io`).
    ///
    /// # Errors
    ///
    /// `WouldBlock` if not ready; what `f` returns.
    pub fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        both!(self, s => s.try_io(interest, f))
    }

    /// Waits for `interest` and runs `f` until it does not return `WouldBlock`.
    ///
    /// # Errors
    ///
    /// What `f` returns other than `WouldBlock`.
    pub async fn async_io<R>(&self, interest: Interest, f: impl FnMut() -> io::Result<R>) -> io::Result<R> {
        both!(self, s => s.async_io(interest, f).await)
    }

    /// Receives data without consuming it.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        both!(self, s => s.peek(buf).await)
    }

    /// Whether Nagle's algorithm is off.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn nodelay(&self) -> io::Result<bool> {
        both!(self, s => s.nodelay())
    }

    /// Turns Nagle's algorithm off (`true`) or on.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        both!(self, s => s.set_nodelay(nodelay))
    }

    /// Whether every segment is acknowledged at once (`TCP_QUICKACK`).
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn quickack(&self) -> io::Result<bool> {
        both!(self, s => s.quickack())
    }

    /// Acknowledge every segment at once (`TCP_QUICKACK`).
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn set_quickack(&self, quickack: bool) -> io::Result<()> {
        both!(self, s => s.set_quickack(quickack))
    }

    /// The SO_LINGER setting.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        both!(self, s => s.linger())
    }

    /// SO_LINGER (a drop then blocks the dropping thread, on both backends).
    ///
    /// # Errors
    ///
    /// As the backend's.
    #[deprecated = "`SO_LINGER` causes the socket to block the thread on drop"]
    #[allow(deprecated)]
    pub fn set_linger(&self, dur: Option<Duration>) -> io::Result<()> {
        both!(self, s => s.set_linger(dur))
    }

    /// Reset instead of FIN when dropped.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn set_zero_linger(&self) -> io::Result<()> {
        both!(self, s => s.set_zero_linger())
    }

    /// The IP TTL of the connection's packets.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn ttl(&self) -> io::Result<u32> {
        both!(self, s => s.ttl())
    }

    /// Sets the IP TTL of the connection's packets.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        both!(self, s => s.set_ttl(ttl))
    }

    /// Borrowed read and write halves.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        match self {
            TcpStream::Kernel(s) => {
                let (r, w) = s.split();
                (ReadHalf::Kernel(r), WriteHalf::Kernel(w))
            }
            TcpStream::Ringtcp(s) => {
                let (r, w) = s.split();
                (ReadHalf::Ringtcp(r), WriteHalf::Ringtcp(w))
            }
        }
    }

    /// Owned halves that can move to different tasks.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        match self {
            TcpStream::Kernel(s) => {
                let (r, w) = s.into_split();
                (OwnedReadHalf::Kernel(r), OwnedWriteHalf::Kernel(w))
            }
            TcpStream::Ringtcp(s) => {
                let (r, w) = s.into_split();
                (OwnedReadHalf::Ringtcp(r), OwnedWriteHalf::Ringtcp(w))
            }
        }
    }

    /// Which stack this connection runs on.
    pub fn backend(&self) -> Backend {
        match self {
            TcpStream::Kernel(_) => Backend::Kernel,
            TcpStream::Ringtcp(_) => Backend::Ringtcp,
        }
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        both!(self.get_mut(), s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        both!(self.get_mut(), s => Pin::new(s).poll_write(cx, data))
    }
    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        both!(self.get_mut(), s => Pin::new(s).poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        both!(self, s => s.is_write_vectored())
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        both!(self.get_mut(), s => Pin::new(s).poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        both!(self.get_mut(), s => Pin::new(s).poll_shutdown(cx))
    }
}
