//! A switch for existing tokio apps: the same names as `tokio::net`, backed by ringtcp or
//! by the kernel, chosen at run time.
//!
//! An app changes one line, under a cargo feature of its own, so that with the feature off
//! it is plain tokio and pays nothing:
//!
//! ```ignore
//! #[cfg(feature = "ringtcp")]
//! use ringtcp::net::{TcpListener, TcpStream};
//! #[cfg(not(feature = "ringtcp"))]
//! use tokio::net::{TcpListener, TcpStream};
//! ```
//!
//! With the feature on, `RINGTCP_STACK=kernel` in the environment runs the same binary on
//! the kernel's stack (through tokio), and `RINGTCP_STACK=ringtcp` (the default) on the
//! userspace stack's default [`crate::Stack`].

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Which stack `ringtcp::net` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The kernel's stack, through `tokio::net`.
    Kernel,
    /// ringtcp's default stack.
    Ringtcp,
}

/// The backend for this process: `RINGTCP_STACK` (`kernel` or `ringtcp`), read once;
/// ringtcp if unset.
///
/// ```
/// assert!(matches!(ringtcp::net::backend(), ringtcp::net::Backend::Kernel | ringtcp::net::Backend::Ringtcp));
/// ```
pub fn backend() -> Backend {
    static CHOICE: OnceLock<Backend> = OnceLock::new();
    *CHOICE.get_or_init(|| match std::env::var("RINGTCP_STACK").as_deref() {
        Ok("kernel") => Backend::Kernel,
        _ => Backend::Ringtcp,
    })
}

async fn resolve<A: tokio::net::ToSocketAddrs>(addr: A) -> io::Result<SocketAddr> {
    tokio::net::lookup_host(addr)
        .await?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any address"))
}

/// `tokio::net::TcpListener` or `ringtcp::TcpListener`, as [`backend`] says.
#[derive(Debug)]
pub enum TcpListener {
    /// On the kernel's stack.
    Kernel(tokio::net::TcpListener),
    /// On ringtcp.
    Ringtcp(crate::TcpListener),
}

impl TcpListener {
    /// Listens on `addr`.
    pub async fn bind<A: tokio::net::ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        Ok(match backend() {
            Backend::Kernel => TcpListener::Kernel(tokio::net::TcpListener::bind(addr).await?),
            Backend::Ringtcp => TcpListener::Ringtcp(crate::TcpListener::bind(resolve(addr).await?).await?),
        })
    }

    /// Waits for a connection.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        match self {
            TcpListener::Kernel(l) => l.poll_accept(cx).map_ok(|(s, a)| (TcpStream::Kernel(s), a)),
            TcpListener::Ringtcp(l) => l.poll_accept(cx).map_ok(|(s, a)| (TcpStream::Ringtcp(s), a)),
        }
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            TcpListener::Kernel(l) => l.local_addr(),
            TcpListener::Ringtcp(l) => l.local_addr(),
        }
    }
}

/// `tokio::net::TcpStream` or `ringtcp::TcpStream`, as [`backend`] says.
#[derive(Debug)]
pub enum TcpStream {
    /// On the kernel's stack.
    Kernel(tokio::net::TcpStream),
    /// On ringtcp.
    Ringtcp(crate::TcpStream),
}

macro_rules! both {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            TcpStream::Kernel($s) => $e,
            TcpStream::Ringtcp($s) => $e,
        }
    };
}

impl TcpStream {
    /// Opens a connection.
    pub async fn connect<A: tokio::net::ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        Ok(match backend() {
            Backend::Kernel => TcpStream::Kernel(tokio::net::TcpStream::connect(addr).await?),
            Backend::Ringtcp => TcpStream::Ringtcp(crate::TcpStream::connect(resolve(addr).await?).await?),
        })
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        both!(self, s => s.local_addr())
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        both!(self, s => s.peer_addr())
    }

    /// Turns Nagle's algorithm off (`true`) or on.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        both!(self, s => s.set_nodelay(nodelay))
    }

    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self) -> io::Result<bool> {
        both!(self, s => s.nodelay())
    }

    /// Receives data without consuming it.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        both!(self, s => s.peek(buf).await)
    }

    /// Waits until a read would not block.
    pub async fn readable(&self) -> io::Result<()> {
        both!(self, s => s.readable().await)
    }

    /// Waits until a write would not block.
    pub async fn writable(&self) -> io::Result<()> {
        both!(self, s => s.writable().await)
    }

    /// Reads what is there now; `WouldBlock` if nothing.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        both!(self, s => s.try_read(buf))
    }

    /// Writes what fits now; `WouldBlock` if full.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        both!(self, s => s.try_write(buf))
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

#[cfg(feature = "axum")]
impl TcpListener {
    /// Wraps the listener so that axum's `ConnectInfo<SocketAddr>` works with it (see
    /// [`crate::TcpListener::with_connect_info`]).
    pub fn with_connect_info(self) -> axum::serve::TapIo<TcpListener, fn(&mut TcpStream)> {
        use axum::serve::ListenerExt;
        fn nothing(_: &mut TcpStream) {}
        self.tap_io(nothing as fn(&mut TcpStream))
    }
}

#[cfg(feature = "axum")]
impl axum::serve::Listener for TcpListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        crate::axum::accept_retrying(|| TcpListener::accept(self)).await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpListener::local_addr(self)
    }
}
