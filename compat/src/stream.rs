//! `TcpStream`: a connection, with tokio's `AsyncRead` / `AsyncWrite` and the rest of
//! `tokio::net::TcpStream`'s API.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::task::{Context, Poll};

use ringtcp_runtime::socket::SocketShared;
use tokio::io::{Interest, ReadBuf, Ready};

use crate::io as sio;
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
        f.debug_struct("TcpStream").field("local", &self.sock.local_addr().ok()).field("peer", &self.sock.peer_addr().ok()).finish()
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
        poll_fn(|cx| sock.poll_connected(cx)).await?;
        Ok(TcpStream { sock })
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.peer_addr()
    }

    /// Turns Nagle's algorithm off (`true`) or on.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.sock.set_nodelay(nodelay)
    }

    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(self.sock.nodelay())
    }

    /// Sets the IP time to live of this connection's packets.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.set_ttl(ttl)
    }

    /// The IP time to live of this connection's packets.
    pub fn ttl(&self) -> io::Result<u32> {
        Ok(self.sock.ttl())
    }

    /// Reset instead of FIN when dropped (SO_LINGER with a zero timeout).
    pub fn set_zero_linger(&self) -> io::Result<()> {
        self.sock.set_zero_linger();
        Ok(())
    }

    /// The error the connection ended with, if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        Ok(self.sock.take_error())
    }

    /// Receives data without consuming it.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| {
            let mut rb = ReadBuf::new(buf);
            self.sock.poll_peek(cx, &mut rb)
        })
        .await
    }

    /// Polls for data without consuming it.
    pub fn poll_peek(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<usize>> {
        self.sock.poll_peek(cx, buf)
    }

    /// Waits for any of `interest`.
    pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
        poll_fn(|cx| self.sock.poll_ready(cx, interest)).await
    }

    /// Waits until a read would not block.
    pub async fn readable(&self) -> io::Result<()> {
        self.ready(Interest::READABLE).await.map(|_| ())
    }

    /// Polls for read readiness.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.sock.poll_ready(cx, Interest::READABLE).map_ok(|_| ())
    }

    /// Waits until a write would not block.
    pub async fn writable(&self) -> io::Result<()> {
        self.ready(Interest::WRITABLE).await.map(|_| ())
    }

    /// Polls for write readiness.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.sock.poll_ready(cx, Interest::WRITABLE).map_ok(|_| ())
    }

    /// Reads what is there now; `WouldBlock` if nothing.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.try_read(buf)
    }

    /// Reads what is there now into several buffers; `WouldBlock` if nothing.
    pub fn try_read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.sock.try_read_vectored(bufs)
    }

    /// Writes what fits now; `WouldBlock` if the buffer is full.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock.try_write(&[buf])
    }

    /// Writes what fits now from several buffers; `WouldBlock` if the buffer is full.
    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let slices: Vec<&[u8]> = bufs.iter().map(|b| &**b).collect();
        self.sock.try_write(&slices)
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
