//! The switch's `TcpListener`: tokio's or ringtcp's, every method of tokio's.

use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use super::stream::TcpStream;
use super::{Backend, backend};
use crate::stream::unsupported;

/// `tokio::net::TcpListener` or `ringtcp::TcpListener`, as [`backend`] says.
#[derive(Debug)]
pub enum TcpListener {
    /// On the kernel's stack.
    Kernel(tokio::net::TcpListener),
    /// On ringtcp.
    Ringtcp(crate::TcpListener),
}

impl TcpListener {
    /// Listens on the first address `addr` resolves to that can be bound.
    ///
    /// # Errors
    ///
    /// The last attempt's error (`AddrInUse`, `AddrNotAvailable`...), or why the default
    /// ringtcp stack could not be built.
    pub async fn bind<A: tokio::net::ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        Ok(match backend() {
            Backend::Kernel => TcpListener::Kernel(tokio::net::TcpListener::bind(addr).await?),
            Backend::Ringtcp => TcpListener::Ringtcp(crate::TcpListener::bind(addr).await?),
        })
    }

    /// Waits for a connection.
    ///
    /// # Errors
    ///
    /// As the backend's.
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

    /// A kernel listener as a listener of the switch (the kernel backend only).
    ///
    /// # Errors
    ///
    /// `Unsupported` on ringtcp; otherwise as tokio's.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        match backend() {
            Backend::Kernel => Ok(TcpListener::Kernel(tokio::net::TcpListener::from_std(listener)?)),
            Backend::Ringtcp => crate::TcpListener::from_std(listener).map(TcpListener::Ringtcp),
        }
    }

    /// The kernel socket behind the listener.
    ///
    /// # Errors
    ///
    /// `Unsupported` on ringtcp; otherwise as tokio's.
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        match self {
            TcpListener::Kernel(l) => l.into_std(),
            TcpListener::Ringtcp(_) => Err(unsupported("TcpListener::into_std")),
        }
    }

    /// The bound address.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            TcpListener::Kernel(l) => l.local_addr(),
            TcpListener::Ringtcp(l) => l.local_addr(),
        }
    }

    /// The IP TTL accepted connections get.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn ttl(&self) -> io::Result<u32> {
        match self {
            TcpListener::Kernel(l) => l.ttl(),
            TcpListener::Ringtcp(l) => l.ttl(),
        }
    }

    /// Sets the IP TTL accepted connections get.
    ///
    /// # Errors
    ///
    /// As the backend's.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        match self {
            TcpListener::Kernel(l) => l.set_ttl(ttl),
            TcpListener::Ringtcp(l) => l.set_ttl(ttl),
        }
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
