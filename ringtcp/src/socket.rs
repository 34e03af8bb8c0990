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
    ///
    /// # Errors
    ///
    /// Why the default stack could not be built (see [`Stack::default_stack`]).
    pub fn new_v4() -> io::Result<TcpSocket> {
        Ok(TcpSocket::new_v4_on(&Stack::default_stack()?))
    }

    /// A socket on `stack`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// let socket = ringtcp::TcpSocket::new_v4_on(&client);
    /// let stream = socket.connect("10.9.0.1:7".parse().unwrap()).await?;
    /// assert_eq!(stream.peer_addr()?.port(), 7);
    /// # Ok(()) }
    /// ```
    pub fn new_v4_on(stack: &Stack) -> TcpSocket {
        TcpSocket { stack: stack.clone(), local: OnceLock::new(), nodelay: AtomicBool::new(false) }
    }

    /// IPv6 is not supported yet.
    ///
    /// ```
    /// let err = ringtcp::TcpSocket::new_v6().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
    /// ```
    ///
    /// # Errors
    ///
    /// Always `Unsupported` today.
    pub fn new_v6() -> io::Result<TcpSocket> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "ringtcp does not support IPv6 yet: use new_v4"))
    }

    /// The local address to use (port 0: an ephemeral port). Binding twice is an error,
    /// as on Linux.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// let socket = ringtcp::TcpSocket::new_v4_on(&client);
    /// socket.bind("10.9.0.2:40000".parse().unwrap())?;
    /// assert!(socket.bind("10.9.0.2:40001".parse().unwrap()).is_err(), "bound once only");
    /// let stream = socket.connect("10.9.0.1:7".parse().unwrap()).await?;
    /// assert_eq!(stream.local_addr()?.port(), 40000);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the socket is already bound; `Unsupported` for an IPv6 address.
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
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// let socket = ringtcp::TcpSocket::new_v4_on(&client);
    /// socket.set_nodelay(true)?;
    /// assert!(socket.nodelay()?);
    /// let stream = socket.connect("10.9.0.1:7".parse().unwrap()).await?;
    /// assert!(stream.nodelay()?, "the connection inherits the option");
    /// # Ok(()) }
    /// ```
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.nodelay.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// Whether TCP_NODELAY will be set.
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(self.nodelay.load(Ordering::Relaxed))
    }

    /// Opens a connection.
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` when nothing listens there, `TimedOut` when the peer never answers, `OutOfMemory` at the stack's connection limit, `AddrInUse` / `AddrNotAvailable` for a bad bound address.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        let s = TcpStream::connect_on(&self.stack, addr, self.local.get().copied()).await?;
        s.set_nodelay(self.nodelay.load(Ordering::Relaxed))?;
        Ok(s)
    }

    /// Listens on the bound address.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// let socket = ringtcp::TcpSocket::new_v4_on(&server);
    /// socket.bind("10.9.0.1:9000".parse().unwrap())?;
    /// let listener = socket.listen(128)?;
    /// let _c = client.connect("10.9.0.1:9000").await?;
    /// let (_s, peer) = listener.accept().await?;
    /// assert_eq!(peer.ip().to_string(), "10.9.0.2");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the socket was not bound; `AddrInUse` if the port is taken.
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        let addr = self.local_addr().map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bind the socket before listen"))?;
        TcpListener::bind_on(self.stack, addr, backlog as usize)
    }
}
