//! One connection as both sides see it: the socket contract between an application task
//! and the shard that owns the connection.
//!
//! The state (bytes each way, wakers, options, progress, the first error) lives behind
//! one lock of this socket alone and is private to this module: the application side
//! (`app.rs`, what `TcpStream` does) and the shard side (`shard_side.rs`, what the shard
//! loop does) each edit it only through their methods. The application never touches
//! transport state: it fills and drains these buffers and asks the shard, through a
//! `SocketHost`, to update the connection.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use ringtcp_transport::{ByteQueue, Keepalive, ListenerHandle, SocketHandle, SocketOptions};

use crate::conn_trace::ConnTrace;
use crate::lock::{LockScope, LockStats, TracedMutex};

mod app;
mod shard_side;

pub(crate) use shard_side::Released;

/// The per-socket lock (bytes and wakers shared by an application task and its shard).
pub static SOCKET_LOCK: LockStats = LockStats::new("socket", LockScope::Socket);

/// Why a socket call failed: the transport's own error, or the shard gone. Converts into
/// the `io::Error` tokio would return for the same event (its kind), carrying this value
/// as its source and its message.
///
/// ```
/// use ringtcp_runtime::socket::SocketError;
/// use ringtcp_runtime::transport::Error;
///
/// let e = std::io::Error::from(SocketError::Transport(Error::ConnectionReset));
/// assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
/// assert_eq!(e.to_string(), Error::ConnectionReset.to_string());
/// let inner = e.get_ref().and_then(|i| i.downcast_ref::<SocketError>());
/// assert_eq!(inner, Some(&SocketError::Transport(Error::ConnectionReset)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketError {
    /// The transport ended the connection or refused the call.
    Transport(ringtcp_transport::Error),
    /// The shard thread serving the socket has stopped.
    ShardStopped,
}

impl SocketError {
    /// The `io::ErrorKind` tokio gives for the same event on the kernel stack.
    pub fn kind(self) -> io::ErrorKind {
        match self {
            SocketError::Transport(e) => e.kind(),
            SocketError::ShardStopped => io::ErrorKind::BrokenPipe,
        }
    }
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketError::Transport(e) => e.fmt(f),
            SocketError::ShardStopped => {
                f.write_str("the ringtcp shard thread serving this socket has stopped; the stack must be restarted")
            }
        }
    }
}

impl std::error::Error for SocketError {}

impl From<SocketError> for io::Error {
    fn from(e: SocketError) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}

impl From<ringtcp_transport::Error> for SocketError {
    fn from(e: ringtcp_transport::Error) -> SocketError {
        SocketError::Transport(e)
    }
}

/// What a socket is given before it connects or listens (what tokio's `TcpSocket` sets):
/// the transport's buffer sizes and the options its connection starts with. A listener's
/// settings are every accepted connection's.
///
/// ```
/// use ringtcp_runtime::socket::SocketSettings;
/// use ringtcp_runtime::transport::{Keepalive, SocketOptions};
///
/// let s = SocketSettings {
///     buffers: SocketOptions { rx_buffer: Some(16 * 1024), ..SocketOptions::default() },
///     nodelay: true,
///     keepalive: Some(Keepalive::default()),
///     ..SocketSettings::default()
/// };
/// assert_eq!(s.linger, None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketSettings {
    /// Receive and send buffer sizes (the transport's, and the socket's own).
    pub buffers: SocketOptions,
    /// TCP_NODELAY.
    pub nodelay: bool,
    /// Keepalive probes (`None`: off, as on Linux by default).
    pub keepalive: Option<Keepalive>,
    /// TCP_USER_TIMEOUT (RFC 5482; `None`: off, as on Linux by default): how long sent
    /// data or probes may go unanswered before the connection fails with `TimedOut`.
    pub user_timeout: Option<Duration>,
    /// SO_LINGER.
    pub linger: Option<Duration>,
    /// IPv4 type of service.
    pub tos: u8,
    /// IP TTL (`None`: the stack's default, 64).
    pub ttl: Option<u32>,
    /// The application opened the socket as IPv6 (`TcpSocket::new_v6`, a listener on an
    /// IPv6 address): IPv4 addresses are reported IPv4-mapped (`[::ffff:a.b.c.d]`), as a
    /// Linux `AF_INET6` socket reports them (RFC 4291 §2.5.5.2).
    pub ipv6_api: bool,
}

/// What a socket or an accept queue asks of its shard.
#[derive(Debug)]
pub(crate) enum Request {
    /// The application changed this socket (wrote, made room by reading, shut down,
    /// changed an option): bring the connection up to date.
    Update(Arc<SocketShared>),
    /// The application dropped the socket.
    Close(Arc<SocketShared>),
    /// The application took a connection from a listener's accept queue that was full:
    /// the shard may move more connections there.
    AcceptRoom(ListenerHandle),
}

/// Where a socket's requests go: its shard, seen from the socket (implemented by
/// [`crate::handle::ShardHandle`]; a trait so that this module needs nothing above it).
pub(crate) trait SocketHost: fmt::Debug + Send + Sync {
    /// Queues `r` for the shard and wakes it; fails once the shard has stopped.
    fn request(&self, r: Request) -> io::Result<()>;
    /// True once the shard thread has stopped.
    fn is_dead(&self) -> bool;
    /// The shard's index.
    fn shard_id(&self) -> usize;
}

/// Where a connection stands, as the application sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Connecting (SYN sent, not yet established).
    Connecting,
    /// Established (or past it, still usable for what is left).
    Open,
    /// Ended with an error.
    Failed,
}

/// Bytes, wakers and options of one connection.
#[derive(Debug)]
struct SocketState {
    /// Received bytes not yet read by the application.
    rx: ByteQueue,
    /// End of stream: the peer's FIN arrived and everything before it is in `rx`.
    rx_eof: bool,
    /// The transport holds more received bytes than `rx` had room for: a read that makes
    /// room must ask the shard for them.
    rx_more: bool,
    /// Buffer memory is tight: a drained `rx` is freed at once, and the shard is told (so
    /// that it counts the bytes as given back).
    memory_tight: bool,
    /// Bytes written by the application, not yet taken by the transport.
    tx: ByteQueue,
    /// The application shut down writing.
    tx_shutdown: bool,
    /// The first error, kept for every later call.
    error: Option<SocketError>,
    /// Connection progress.
    phase: Phase,
    /// Local address, once known.
    local: Option<SocketAddr>,
    /// Remote address, once known.
    peer: Option<SocketAddr>,
    /// TCP_NODELAY as the application set it.
    nodelay: bool,
    /// IP TTL the application set (reported back by `ttl`).
    ttl: u32,
    /// SO_LINGER: `Some(ZERO)` resets on close.
    linger: Option<Duration>,
    /// TCP_QUICKACK.
    quickack: bool,
    /// IPv4 type of service.
    tos: u8,
    /// Keepalive probes, when on.
    keepalive: Option<Keepalive>,
    /// TCP_USER_TIMEOUT.
    user_timeout: Option<Duration>,
    /// Keepalive changed since the shard last applied it (kept apart: the transport
    /// reschedules the connection's timer for it, which a new connection without
    /// keepalive need not pay).
    keepalive_changed: bool,
    /// `set_quickack` was called since the shard last applied it (kept apart: turning it
    /// off also ends the quick ACKs of a connection's start, which only the call itself
    /// must do, not a change of another option).
    quickack_changed: bool,
    /// The shard has handed the connection to the transport for good (closed or reset).
    closed: bool,
    /// An option changed since the shard last applied them (all are applied at the first
    /// exchange).
    options_changed: bool,
    /// An update is already queued: coalesce further requests.
    update_queued: bool,
    /// The shard's handle for this socket.
    handle: Option<SocketHandle>,
    /// Task waiting to read.
    read_waker: Option<Waker>,
    /// Task waiting to write (or for the connection to open).
    write_waker: Option<Waker>,
    /// Most bytes `rx` holds.
    rx_cap: usize,
    /// Most bytes `tx` holds.
    tx_cap: usize,
    /// Bytes of `rx` and `tx` the shard last counted against its buffer memory.
    accounted: usize,
    /// The connection's DEBUG span, when one is being recorded.
    trace: Option<Box<ConnTrace>>,
}

impl SocketState {
    /// Wakes the reader and the writer.
    fn wake_all(&mut self) {
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
        if let Some(w) = self.write_waker.take() {
            w.wake();
        }
    }

    /// Records the first error and ends a connection attempt.
    fn fail(&mut self, e: SocketError) {
        self.error.get_or_insert(e);
        if self.phase == Phase::Connecting {
            self.phase = Phase::Failed;
        }
        self.wake_all();
    }
}

/// One connection as both sides see it.
#[derive(Debug)]
pub struct SocketShared {
    /// The shard that owns the connection.
    host: Arc<dyn SocketHost>,
    state: TracedMutex<SocketState>,
    /// Signalled when the shard is done with the socket (`closed`), for `linger_wait`.
    closed: Condvar,
    /// Report IPv4 addresses IPv4-mapped (see [`SocketSettings::ipv6_api`]).
    ipv6_api: bool,
}

impl SocketShared {
    /// A socket of `host`'s shard with `settings` (its buffers bounded by them, or by
    /// `default_cap` each way).
    pub(crate) fn new(host: Arc<dyn SocketHost>, phase: Phase, default_cap: usize, settings: &SocketSettings) -> Arc<SocketShared> {
        let shard = host.shard_id() as u32;
        Arc::new(SocketShared {
            host,
            state: TracedMutex::new(
                SocketState {
                    rx: ByteQueue::new(),
                    rx_eof: false,
                    rx_more: false,
                    memory_tight: false,
                    tx: ByteQueue::new(),
                    tx_shutdown: false,
                    error: None,
                    phase,
                    local: None,
                    peer: None,
                    nodelay: settings.nodelay,
                    ttl: settings.ttl.unwrap_or(64),
                    linger: settings.linger,
                    quickack: false,
                    tos: settings.tos,
                    keepalive: settings.keepalive,
                    user_timeout: settings.user_timeout,
                    options_changed: true,
                    keepalive_changed: settings.keepalive.is_some(),
                    quickack_changed: false,
                    closed: false,
                    update_queued: false,
                    handle: None,
                    read_waker: None,
                    write_waker: None,
                    rx_cap: settings.buffers.rx_buffer.map_or(default_cap, |b| b.max(SocketOptions::MIN_BUFFER)),
                    tx_cap: settings.buffers.tx_buffer.map_or(default_cap, |b| b.max(SocketOptions::MIN_BUFFER)),
                    accounted: 0,
                    trace: None,
                },
                &SOCKET_LOCK,
                shard,
            ),
            closed: Condvar::new(),
            ipv6_api: settings.ipv6_api,
        })
    }

    fn state(&self) -> MutexGuard<'_, SocketState> {
        self.state.lock()
    }

    /// The index of the shard that owns the connection.
    pub fn shard_id(&self) -> usize {
        self.host.shard_id()
    }

    /// Asks the shard to update the connection (coalesced while one request is queued).
    fn request_update(self: &Arc<Self>, st: &mut SocketState) -> io::Result<()> {
        if st.update_queued {
            return Ok(());
        }
        st.update_queued = true;
        self.host.request(Request::Update(self.clone()))
    }
}
