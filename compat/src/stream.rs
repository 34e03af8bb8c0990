//! `TcpStream`: a connection, with tokio's `AsyncRead` / `AsyncWrite`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ringtcp_runtime::shared::{Phase, SocketShared, SocketState};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::Stack;

/// A TCP connection on a ringtcp [`Stack`], with the API of `tokio::net::TcpStream`.
///
/// ```no_run
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// # async fn demo(stack: ringtcp::Stack) -> std::io::Result<()> {
/// let mut s = stack.connect("10.77.0.1:80").await?;
/// s.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
/// let mut reply = Vec::new();
/// s.read_to_end(&mut reply).await?;
/// # Ok(()) }
/// ```
pub struct TcpStream {
    sock: Arc<SocketShared>,
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.sock.state();
        f.debug_struct("TcpStream").field("local", &st.local).field("peer", &st.peer).finish()
    }
}

fn error_of(st: &SocketState) -> io::Error {
    let kind = st.error.unwrap_or(io::ErrorKind::NotConnected);
    let msg = match kind {
        io::ErrorKind::ConnectionRefused => "connection refused: nothing listens on that port",
        io::ErrorKind::ConnectionReset => "connection reset by peer",
        io::ErrorKind::TimedOut => "connection timed out",
        io::ErrorKind::BrokenPipe => "broken pipe",
        _ => "connection failed",
    };
    io::Error::new(kind, msg)
}

impl TcpStream {
    pub(crate) fn from_shared(sock: Arc<SocketShared>) -> TcpStream {
        TcpStream { sock }
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

    /// Reset instead of FIN when dropped (SO_LINGER with a zero timeout).
    pub fn set_zero_linger(&self) -> io::Result<()> {
        self.sock.state().zero_linger = true;
        Ok(())
    }

    /// The error the connection ended with, if any; cleared by reading it, as on Linux.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        let st = self.sock.state();
        Ok(st.error.map(|_| error_of(&st)))
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let sock = &self.sock;
        let mut st = sock.state();
        if !st.rx.is_empty() {
            let before = st.rx.len();
            let n = before.min(buf.remaining());
            let (a, b) = st.rx.as_slices();
            let na = n.min(a.len());
            buf.put_slice(&a[..na]);
            buf.put_slice(&b[..n - na]);
            st.rx.drain(..n);
            // The shard fills the buffer as far as it can; if it was at least half full the
            // transport may hold more: ask for it now that there is room.
            if before >= st.cap / 2 {
                sock.request_sync(&mut st)?;
            }
            return Poll::Ready(Ok(()));
        }
        if st.rx_eof {
            return Poll::Ready(Ok(()));
        }
        if st.error.is_some() {
            return Poll::Ready(Err(error_of(&st)));
        }
        if sock.link.is_dead() {
            return Poll::Ready(Err(ringtcp_runtime::shared::shard_dead_error()));
        }
        st.read_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let sock = &self.sock;
        let mut st = sock.state();
        if st.error.is_some() {
            return Poll::Ready(Err(error_of(&st)));
        }
        if st.tx_shutdown {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "write after shutdown")));
        }
        let room = st.cap.saturating_sub(st.tx.len());
        if room == 0 {
            st.write_waker = Some(cx.waker().clone());
            sock.request_sync(&mut st)?;
            return Poll::Pending;
        }
        let n = room.min(data.len());
        st.tx.extend(&data[..n]);
        sock.request_sync(&mut st)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // As with the kernel's sockets, written data is already on its way.
        Poll::Ready(Ok(()))
    }

    /// Sends FIN after all queued data, as the kernel does; reading goes on.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = self.sock.state();
        if !st.tx_shutdown {
            st.tx_shutdown = true;
            self.sock.request_sync(&mut st)?;
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        self.sock.close();
    }
}
