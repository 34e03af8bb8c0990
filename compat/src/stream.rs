//! `TcpStream`: a connection, with tokio's `AsyncRead` / `AsyncWrite` and the rest of
//! `tokio::net::TcpStream`'s API.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::task::{Context, Poll};

use ringtcp_runtime::shared::{Phase, SocketShared};
use tokio::io::{Interest, ReadBuf, Ready};

use crate::io::{self as sio, error_of};
use crate::split::{Closer, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::stack::resolve;
use crate::Stack;

/// A TCP connection on a ringtcp [`Stack`], with the API of `tokio::net::TcpStream`.
///
/// ```no_run
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// # async fn demo() -> std::io::Result<()> {
/// // On the default stack (configured from the environment, see `Stack::default_stack`).
/// let mut s = ringtcp::TcpStream::connect("10.77.0.1:80").await?;
/// s.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
/// let mut reply = Vec::new();
/// s.read_to_end(&mut reply).await?;
/// # Ok(()) }
/// ```
pub struct TcpStream {
    pub(crate) sock: Arc<SocketShared>,
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.sock.state();
        f.debug_struct("TcpStream").field("local", &st.local).field("peer", &st.peer).finish()
    }
}

impl TcpStream {
    pub(crate) fn from_shared(sock: Arc<SocketShared>) -> TcpStream {
        TcpStream { sock }
    }

    /// Opens a connection on the default stack.
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let stack = Stack::default_stack()?;
        TcpStream::connect_on(&stack, resolve(addr)?, None).await
    }

    pub(crate) async fn connect_on(stack: &Stack, addr: SocketAddr, local: Option<SocketAddr>) -> io::Result<TcpStream> {
        let sock = stack.inner.shards.connect(addr, local)?;
        poll_fn(|cx| {
            let mut st = sock.state();
            match st.phase {
                Phase::Open => Poll::Ready(Ok(())),
                Phase::Failed => Poll::Ready(Err(error_of(&st))),
                Phase::Connecting => {
                    st.write_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await?;
        Ok(TcpStream { sock })
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.state().local.ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "socket is not connected"))
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.state().peer.ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "socket is not connected"))
    }

    /// Turns Nagle's algorithm off (`true`) or on.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let mut st = self.sock.state();
        st.nodelay = nodelay;
        self.sock.request_sync(&mut st)
    }

    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(self.sock.state().nodelay)
    }

    /// Sets the IP time to live of this connection's packets.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        if ttl == 0 || ttl > 255 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "TTL must be between 1 and 255"));
        }
        let mut st = self.sock.state();
        st.ttl = ttl;
        self.sock.request_sync(&mut st)
    }

    /// The IP time to live of this connection's packets.
    pub fn ttl(&self) -> io::Result<u32> {
        Ok(self.sock.state().ttl)
    }

    /// Reset instead of FIN when dropped (SO_LINGER with a zero timeout).
    pub fn set_zero_linger(&self) -> io::Result<()> {
        self.sock.state().zero_linger = true;
        Ok(())
    }

    /// The error the connection ended with, if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        let st = self.sock.state();
        Ok(st.error.map(|_| error_of(&st)))
    }

    /// Receives data without consuming it.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| {
            let mut rb = ReadBuf::new(buf);
            sio::poll_peek(&self.sock, cx, &mut rb)
        })
        .await
    }

    /// Polls for data without consuming it.
    pub fn poll_peek(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<usize>> {
        sio::poll_peek(&self.sock, cx, buf)
    }

    /// Waits for any of `interest`.
    pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
        poll_fn(|cx| sio::poll_ready(&self.sock, cx, interest)).await
    }

    /// Waits until a read would not block.
    pub async fn readable(&self) -> io::Result<()> {
        self.ready(Interest::READABLE).await.map(|_| ())
    }

    /// Polls for read readiness.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        sio::poll_ready(&self.sock, cx, Interest::READABLE).map_ok(|_| ())
    }

    /// Waits until a write would not block.
    pub async fn writable(&self) -> io::Result<()> {
        self.ready(Interest::WRITABLE).await.map(|_| ())
    }

    /// Polls for write readiness.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        sio::poll_ready(&self.sock, cx, Interest::WRITABLE).map_ok(|_| ())
    }

    /// Reads what is there now; `WouldBlock` if nothing.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        sio::try_read(&self.sock, buf)
    }

    /// Reads what is there now into several buffers; `WouldBlock` if nothing.
    pub fn try_read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        sio::try_read_vectored(&self.sock, bufs)
    }

    /// Writes what fits now; `WouldBlock` if the buffer is full.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        sio::try_write(&self.sock, buf)
    }

    /// Writes what fits now from several buffers; `WouldBlock` if the buffer is full.
    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        sio::try_write_vectored(&self.sock, bufs)
    }

    /// Borrowed read and write halves, usable from one task at a time each.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf { sock: &self.sock }, WriteHalf { sock: &self.sock })
    }

    /// Owned halves that can move to different tasks; [`OwnedReadHalf::reunite`] puts
    /// them back together.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        // The halves now own the socket's lifetime: the closer closes it when both are gone.
        // The stream's own reference moves into them (forgetting a clone's original kept
        // every split socket, its buffers included, alive for ever).
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so the Arc is moved out once.
        let sock = unsafe { std::ptr::read(&this.sock) };
        let closer = Closer::new(sock.clone());
        (
            OwnedReadHalf { sock: sock.clone(), closer: closer.clone() },
            OwnedWriteHalf { sock, _closer: closer, shutdown_on_drop: true },
        )
    }
}

sio::read_impl!(TcpStream);
sio::write_impl!(TcpStream);

impl Drop for TcpStream {
    fn drop(&mut self) {
        self.sock.close();
    }
}
