//! tonic (gRPC) on the userspace stack (cargo feature `tonic`).
//!
//! A server: tonic's `Server::serve` binds a kernel socket itself, so hand it ringtcp's
//! connections with `serve_with_incoming` and a [`TcpIncoming`]. Handlers see the peer
//! through `Request::remote_addr`, as on the kernel, because ringtcp's streams implement
//! tonic's `Connected`.
//!
//! ```no_run
//! # async fn demo(routes: tonic::service::Routes) -> Result<(), Box<dyn std::error::Error>> {
//! // `routes`: the app's services, as tonic's generated `...Server::new(handler)` gives them.
//! let listener = ringtcp::TcpListener::bind("10.77.0.2:50051").await?;
//! tonic::transport::Server::builder()
//!     .add_routes(routes)
//!     .serve_with_incoming(ringtcp::tonic::TcpIncoming::new(listener))
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! A client: tonic's `Endpoint::connect_with_connector` with ringtcp's hyper
//! [`Connector`](crate::hyper::Connector) opens the channel's connections on ringtcp:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let channel = tonic::transport::Endpoint::from_static("http://10.77.0.1:50051")
//!     .connect_with_connector(ringtcp::hyper::Connector::default_stack())
//!     .await?;
//! # let _ = channel; Ok(()) }
//! ```

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use ::tonic::transport::server::{Connected, TcpConnectInfo};

use crate::transport::Keepalive;

/// The addresses a handler finds with `Request::local_addr` / `remote_addr`.
impl Connected for crate::TcpStream {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        TcpConnectInfo { local_addr: self.local_addr().ok(), remote_addr: self.peer_addr().ok() }
    }
}

/// The same for the `ringtcp::net` switch, on either stack.
impl Connected for crate::net::TcpStream {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        TcpConnectInfo { local_addr: self.local_addr().ok(), remote_addr: self.peer_addr().ok() }
    }
}

/// A listener's connections as the stream `Server::serve_with_incoming` takes, with the
/// socket options tonic's own `TcpIncoming` sets (which `serve_with_incoming` leaves to
/// the stream): `TCP_NODELAY` on by default, as tonic's `Server` has it, and keepalive off.
///
/// Works on a `ringtcp::TcpListener` and on the switch's `ringtcp::net::TcpListener`.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use std::time::Duration;
/// let listener = ringtcp::TcpListener::bind("10.77.0.2:50051").await?;
/// let incoming = ringtcp::tonic::TcpIncoming::new(listener).with_keepalive(Some(Duration::from_secs(60)));
/// # let _ = incoming; Ok(()) }
/// ```
#[derive(Debug)]
pub struct TcpIncoming<L> {
    listener: L,
    nodelay: bool,
    keepalive: Option<Duration>,
}

impl<L: Listener> TcpIncoming<L> {
    /// Connections from `listener`, with `TCP_NODELAY` set and keepalive off.
    pub fn new(listener: L) -> TcpIncoming<L> {
        TcpIncoming { listener, nodelay: true, keepalive: None }
    }

    /// `TCP_NODELAY` on each connection (tonic's `Server::tcp_nodelay`).
    #[must_use]
    pub fn with_nodelay(self, nodelay: bool) -> TcpIncoming<L> {
        TcpIncoming { nodelay, ..self }
    }

    /// Keepalive probes after `idle` without traffic, at Linux's interval and count
    /// (tonic's `Server::tcp_keepalive`); `None` turns them off.
    #[must_use]
    pub fn with_keepalive(self, idle: Option<Duration>) -> TcpIncoming<L> {
        TcpIncoming { keepalive: idle, ..self }
    }

    /// The listener connections come from.
    pub fn get_ref(&self) -> &L {
        &self.listener
    }
}

impl<L: Listener> Stream for TcpIncoming<L> {
    type Item = io::Result<L::Stream>;

    /// Never ends: an accept error (a stopped shard, say) is handed to tonic, which logs
    /// it and goes on accepting, as it does with its own listener.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &*self;
        let (stream, _) = match this.listener.poll_accept(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(accepted)) => accepted,
        };
        // A connection whose options cannot be set has lost its shard or its peer; tonic
        // drops an errored item and goes on, which is what should happen to it.
        let configured = L::configure(&stream, this.nodelay, this.keepalive).map(|()| stream);
        Poll::Ready(Some(configured))
    }
}

/// A listener a [`TcpIncoming`] can take connections from: ringtcp's or the switch's.
pub trait Listener: sealed::Sealed {
    /// The connections it yields.
    type Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Connected + Unpin + Send + 'static;

    /// As `TcpListener::poll_accept`.
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, SocketAddr)>>;

    /// Sets `TCP_NODELAY` and keepalive on a fresh connection.
    fn configure(stream: &Self::Stream, nodelay: bool, keepalive: Option<Duration>) -> io::Result<()>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::TcpListener {}
    impl Sealed for crate::net::TcpListener {}
}

impl Listener for crate::TcpListener {
    type Stream = crate::TcpStream;

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(crate::TcpStream, SocketAddr)>> {
        crate::TcpListener::poll_accept(self, cx)
    }

    fn configure(stream: &crate::TcpStream, nodelay: bool, keepalive: Option<Duration>) -> io::Result<()> {
        stream.set_nodelay(nodelay)?;
        stream.set_keepalive(keepalive.map(|idle| Keepalive { idle, ..Keepalive::default() }))
    }
}

impl Listener for crate::net::TcpListener {
    type Stream = crate::net::TcpStream;

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(crate::net::TcpStream, SocketAddr)>> {
        crate::net::TcpListener::poll_accept(self, cx)
    }

    fn configure(stream: &crate::net::TcpStream, nodelay: bool, keepalive: Option<Duration>) -> io::Result<()> {
        match stream {
            crate::net::TcpStream::Ringtcp(s) => <crate::TcpListener as Listener>::configure(s, nodelay, keepalive),
            crate::net::TcpStream::Kernel(s) => {
                s.set_nodelay(nodelay)?;
                // The kernel's own defaults for interval and count, as tonic leaves them.
                let sock = socket2::SockRef::from(s);
                match keepalive {
                    Some(idle) => sock.set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(idle)),
                    None => sock.set_keepalive(false),
                }
            }
        }
    }
}
