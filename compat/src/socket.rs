//! `TcpSocket`: set options and an address first, then connect or listen, as with
//! `tokio::net::TcpSocket`.

use std::io;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Stack, TcpListener, TcpStream};

/// An unconnected TCP socket on a ringtcp [`Stack`].
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let socket = ringtcp::TcpSocket::new_v4()?;
/// socket.set_nodelay(true)?;
/// let stream = socket.connect("10.77.0.1:80".parse().unwrap()).await?;
/// # let _ = stream; Ok(()) }
/// ```
#[derive(Debug)]
pub struct TcpSocket {
    stack: Stack,
    local: OnceLock<SocketAddr>,
    nodelay: AtomicBool,
}

impl TcpSocket {
    /// A socket on the default stack.
    pub fn new_v4() -> io::Result<TcpSocket> {
        Ok(TcpSocket::new_v4_on(&Stack::default_stack()?))
    }

    /// A socket on `stack`.
    pub fn new_v4_on(stack: &Stack) -> TcpSocket {
        TcpSocket { stack: stack.clone(), local: OnceLock::new(), nodelay: AtomicBool::new(false) }
    }

    /// IPv6 is not supported yet.
    pub fn new_v6() -> io::Result<TcpSocket> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "ringtcp does not support IPv6 yet: use new_v4"))
    }

    /// The local address to use (port 0: an ephemeral port). Binding twice is an error,
    /// as on Linux.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        if !addr.is_ipv4() {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "ringtcp does not support IPv6 yet"));
        }
        self.local.set(addr).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "socket is already bound"))
    }

    /// The address given to `bind`, if any.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.local.get().copied().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "socket is not bound"))
    }

    /// TCP_NODELAY for the connection this socket opens.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.nodelay.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// Whether TCP_NODELAY will be set.
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(self.nodelay.load(Ordering::Relaxed))
    }

    /// Opens a connection.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        let s = TcpStream::connect_on(&self.stack, addr, self.local.get().copied()).await?;
        s.set_nodelay(self.nodelay.load(Ordering::Relaxed))?;
        Ok(s)
    }

    /// Listens on the bound address.
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        let addr = self.local_addr().map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bind the socket before listen"))?;
        TcpListener::bind_on(self.stack, addr, backlog as usize)
    }
}
