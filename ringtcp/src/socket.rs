//! `TcpSocket`: set options and an address first, then connect or listen, as with
//! `tokio::net::TcpSocket`.

use std::io;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use ringtcp_runtime::lock::TracedMutex;
use ringtcp_runtime::socket::{SOCKET_LOCK, SocketSettings};
use ringtcp_runtime::transport::Keepalive;

use crate::stream::unsupported;
use crate::{Stack, TcpListener, TcpStream};

/// An unconnected TCP socket on a ringtcp [`Stack`], IPv4 or IPv6 as made. An IPv6 socket
/// binds and connects to IPv6 addresses (an IPv4-mapped one reaches the IPv4 peer); bound
/// to `[::]` and listening, it also takes IPv4 connections unless
/// [`set_only_v6`](TcpSocket::set_only_v6), and reports IPv4 peers IPv4-mapped, as on
/// Linux.
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
    /// Under a socket lock (traced as `socket`, like a connection's): one owner, never
    /// contended in practice.
    opts: TracedMutex<Options>,
    /// Made by `from_std_stream`: every call fails, naming why.
    from_std: bool,
    /// Made by `new_v6`.
    v6: bool,
    /// `bind` chose the port (the address asked for port 0).
    port_chosen: std::sync::atomic::AtomicBool,
}

#[derive(Clone, Copy, Debug, Default)]
struct Options {
    settings: SocketSettings,
    reuseaddr: bool,
    reuseport: bool,
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
        TcpSocket::on(stack, false)
    }

    fn on(stack: &Stack, v6: bool) -> TcpSocket {
        let mut opts = Options::default();
        opts.settings.ipv6_api = v6;
        TcpSocket { stack: stack.clone(), local: OnceLock::new(), opts: TracedMutex::new(opts, &SOCKET_LOCK, 0), from_std: false, v6, port_chosen: Default::default() }
    }

    /// An IPv6 socket on the default stack.
    ///
    /// # Errors
    ///
    /// Why the default stack could not be built (see [`Stack::default_stack`]).
    pub fn new_v6() -> io::Result<TcpSocket> {
        Ok(TcpSocket::new_v6_on(&Stack::default_stack()?))
    }

    /// An IPv6 socket on `stack`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair_with(
    ///     &["10.9.0.1".parse().unwrap(), "fd09::1".parse().unwrap()],
    ///     &["10.9.0.2".parse().unwrap(), "fd09::2".parse().unwrap()],
    /// )?;
    /// let socket = ringtcp::TcpSocket::new_v6_on(&server);
    /// socket.bind("[::]:7".parse().unwrap())?;
    /// let listener = socket.listen(16)?;
    /// // Dual stack: an IPv4 client shows up IPv4-mapped, an IPv6 one as itself.
    /// let v4 = client.connect("10.9.0.1:7").await?;
    /// let mapped = std::net::Ipv4Addr::new(10, 9, 0, 2).to_ipv6_mapped();
    /// assert_eq!(listener.accept().await?.1, std::net::SocketAddr::new(mapped.into(), v4.local_addr()?.port()));
    /// let v6 = client.connect("[fd09::1]:7").await?;
    /// assert_eq!(listener.accept().await?.1, v6.local_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn new_v6_on(stack: &Stack) -> TcpSocket {
        TcpSocket::on(stack, true)
    }

    /// An address of the wrong family for this socket, as Linux refuses it.
    fn check_family(&self, addr: SocketAddr) -> io::Result<()> {
        if addr.is_ipv6() == self.v6 {
            return Ok(());
        }
        let (this, other) = if self.v6 { ("an IPv6", "use new_v4 or an IPv4-mapped address") } else { ("an IPv4", "use new_v6") };
        Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{addr} is not an address for {this} socket: {other}")))
    }

    /// IPv6 sockets: take only IPv6 connections when listening on `[::]` (`IPV6_V6ONLY`;
    /// off by default, as Linux's `net.ipv6.bindv6only`). A ringtcp extension: `socket2`
    /// cannot reach a userspace socket.
    ///
    /// # Errors
    ///
    /// `InvalidInput` on an IPv4 socket; as [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn set_only_v6(&self, only_v6: bool) -> io::Result<()> {
        if !self.v6 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "IPV6_V6ONLY is an option of IPv6 sockets: this one is IPv4"));
        }
        self.set(|o| o.settings.buffers.only_v6 = only_v6)
    }

    /// Whether the socket takes only IPv6 connections (see
    /// [`set_only_v6`](TcpSocket::set_only_v6)).
    ///
    /// # Errors
    ///
    /// As [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn only_v6(&self) -> io::Result<bool> {
        self.get(|o| o.settings.buffers.only_v6)
    }

    /// The local address to use. Port 0 picks an ephemeral port now, as Linux does, so
    /// [`local_addr`](TcpSocket::local_addr) names it (the next port of the stack's
    /// ephemeral range that no listener holds). The choice reserves nothing: should a
    /// connection from that port to the same peer exist when `connect` runs, `connect`
    /// takes another port, and the stream's `local_addr` says which. Binding twice is an
    /// error, as on Linux.
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
    ///
    /// let any = ringtcp::TcpSocket::new_v4_on(&client);
    /// any.bind("10.9.0.2:0".parse().unwrap())?;
    /// let picked = any.local_addr()?;
    /// assert_ne!(picked.port(), 0, "bind picked the port");
    /// assert_eq!(any.connect("10.9.0.1:7".parse().unwrap()).await?.local_addr()?, picked);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `AddrInUse` if a listener of the stack holds the address (as Linux answers `bind`
    /// without `SO_REUSEPORT`); `InvalidInput` if the socket is already bound or the
    /// address is of the other family.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.check()?;
        self.check_family(addr)?;
        let already = || io::Error::new(io::ErrorKind::InvalidInput, "socket is already bound");
        if self.local.get().is_some() {
            return Err(already());
        }
        let shards = &self.stack.inner.shards;
        let addr = if addr.port() == 0 {
            self.port_chosen.store(true, std::sync::atomic::Ordering::Relaxed);
            SocketAddr::new(addr.ip(), shards.pick_bind_port(addr.ip())?)
        } else if shards.listener_holds(addr)? {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, format!("address in use: a listener of this stack holds {addr}")));
        } else {
            addr
        };
        self.local.set(addr).map_err(|_| already())
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
        self.check()?;
        self.opts.lock().settings.nodelay = on;
        Ok(())
    }

    /// Whether TCP_NODELAY will be set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.check()?;
        Ok(self.opts.lock().settings.nodelay)
    }

    /// Opens a connection.
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` when nothing listens there, `TimedOut` when the peer never answers, `OutOfMemory` at the stack's connection limit, `AddrInUse` / `AddrNotAvailable` for a bad bound address.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        self.check()?;
        self.check_family(addr)?;
        let settings = self.opts.lock().settings;
        let mut local = self.local.get().copied();
        // A port `bind` chose reserves nothing: if a connection from it to this peer
        // exists already, another port is chosen (the stream's `local_addr` says which).
        for _ in 0..16 {
            match TcpStream::connect_on(&self.stack, addr, local, &settings).await {
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && self.port_chosen.load(std::sync::atomic::Ordering::Relaxed) => {
                    let ip = local.map_or(addr.ip(), |l| l.ip());
                    local = Some(SocketAddr::new(ip, self.stack.inner.shards.pick_bind_port(ip)?));
                }
                r => return r,
            }
        }
        Err(io::Error::new(io::ErrorKind::AddrInUse, format!("no free port found for a connection to {addr}: bind a port or connect without bind")))
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
        self.check()?;
        let addr = self.local_addr().map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bind the socket before listen"))?;
        let settings = self.opts.lock().settings;
        TcpListener::bind_on(self.stack, addr, backlog as usize, &settings)
    }

    fn check(&self) -> io::Result<()> {
        if self.from_std { Err(unsupported("a TcpSocket made by from_std_stream")) } else { Ok(()) }
    }

    fn set(&self, f: impl FnOnce(&mut Options)) -> io::Result<()> {
        self.check()?;
        f(&mut self.opts.lock());
        Ok(())
    }

    fn get<T>(&self, f: impl FnOnce(&Options) -> T) -> io::Result<T> {
        self.check()?;
        Ok(f(&self.opts.lock()))
    }

    /// Keepalive probes for the connection this socket opens or accepts (`SO_KEEPALIVE`),
    /// with Linux's timings: 7,200 s idle, a probe every 75 s, 9 probes, then `TimedOut`.
    /// [`set_keepalive_params`](TcpSocket::set_keepalive_params) sets other timings.
    ///
    /// # Errors
    ///
    /// `Unsupported` on a socket made by `from_std_stream`.
    pub fn set_keepalive(&self, keepalive: bool) -> io::Result<()> {
        self.set(|o| o.settings.keepalive = keepalive.then(Keepalive::default))
    }

    /// Keepalive with these timings (a ringtcp extension: `TCP_KEEPIDLE`, `TCP_KEEPINTVL`
    /// and `TCP_KEEPCNT` in one, since `socket2::SockRef` cannot reach a userspace socket).
    ///
    /// # Errors
    ///
    /// As [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn set_keepalive_params(&self, keepalive: Keepalive) -> io::Result<()> {
        self.set(|o| o.settings.keepalive = Some(keepalive))
    }

    /// TCP_USER_TIMEOUT (RFC 5482) for the connection this socket opens or accepts: how
    /// long its SYN, its data or its probes may go unanswered before it fails with
    /// `TimedOut`, in place of the retry counts. `None` or zero: off, as on Linux.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (_server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// use std::time::Duration;
    /// let socket = ringtcp::TcpSocket::new_v4_on(&client);
    /// socket.set_user_timeout(Some(Duration::from_millis(1500)))?;
    /// // Nobody answers at 10.9.0.3: the SYN is retried for 1.5 s, not for two minutes.
    /// let err = socket.connect("10.9.0.3:80".parse().unwrap()).await.unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn set_user_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.set(|o| o.settings.user_timeout = timeout.filter(|d| !d.is_zero()))
    }

    /// The user timeout the connection will have.
    ///
    /// # Errors
    ///
    /// As [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn user_timeout(&self) -> io::Result<Option<Duration>> {
        self.get(|o| o.settings.user_timeout)
    }

    /// Whether keepalive is on.
    ///
    /// # Errors
    ///
    /// As [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn keepalive(&self) -> io::Result<bool> {
        self.get(|o| o.settings.keepalive.is_some())
    }

    /// `SO_REUSEADDR`. Kept and reported; it has nothing to relax on ringtcp: a listener
    /// is never refused because of connections in TIME-WAIT (they are records in the FIN
    /// cache, not sockets holding the port), and `connect` reuses a TIME-WAIT 4-tuple only
    /// when RFC 6191 makes it safe, whatever this says.
    ///
    /// # Errors
    ///
    /// As [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn set_reuseaddr(&self, reuseaddr: bool) -> io::Result<()> {
        self.set(|o| o.reuseaddr = reuseaddr)
    }

    /// The `SO_REUSEADDR` setting.
    ///
    /// # Errors
    ///
    /// As [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn reuseaddr(&self) -> io::Result<bool> {
        self.get(|o| o.reuseaddr)
    }

    /// `SO_REUSEPORT`. Kept and reported. What Linux does with it (several listeners on
    /// one port, connections spread among them) every ringtcp listener already does: it
    /// listens on every shard, and handles made with `TcpListener::try_clone` share its
    /// connections. A second `listen` on a port in use is refused with `AddrInUse`.
    ///
    /// # Errors
    ///
    /// As [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn set_reuseport(&self, reuseport: bool) -> io::Result<()> {
        self.set(|o| o.reuseport = reuseport)
    }

    /// The `SO_REUSEPORT` setting.
    ///
    /// # Errors
    ///
    /// As [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn reuseport(&self) -> io::Result<bool> {
        self.get(|o| o.reuseport)
    }

    /// Send buffer size (`SO_SNDBUF`): the most unacknowledged and unsent bytes the
    /// transport holds for the connection, and the most the socket queues before a write
    /// waits (at least 2 KiB).
    ///
    /// # Errors
    ///
    /// As [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        self.set(|o| o.settings.buffers.tx_buffer = Some(size as usize))
    }

    /// The send buffer size the connection will get.
    ///
    /// # Errors
    ///
    /// As [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        let default = self.stack.inner.shards.transport_buffers().1;
        self.get(|o| o.settings.buffers.tx(default) as u32)
    }

    /// Receive buffer size (`SO_RCVBUF`): the largest window the connection offers, from
    /// its SYN or SYN-ACK on (its window scale follows), and the most received bytes the
    /// socket holds for the application (at least 2 KiB).
    ///
    /// # Errors
    ///
    /// As [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        self.set(|o| o.settings.buffers.rx_buffer = Some(size as usize))
    }

    /// The receive buffer size the connection will get.
    ///
    /// # Errors
    ///
    /// As [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        let default = self.stack.inner.shards.transport_buffers().0;
        self.get(|o| o.settings.buffers.rx(default) as u32)
    }

    /// SO_LINGER for the connection (see [`TcpStream::set_linger`]).
    ///
    /// # Errors
    ///
    /// As [`set_keepalive`](TcpSocket::set_keepalive).
    #[deprecated = "`SO_LINGER` causes the socket to block the thread on drop"]
    pub fn set_linger(&self, dur: Option<Duration>) -> io::Result<()> {
        self.set(|o| o.settings.linger = dur)
    }

    /// Reset instead of FIN when the connection is dropped.
    ///
    /// # Errors
    ///
    /// As [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn set_zero_linger(&self) -> io::Result<()> {
        self.set(|o| o.settings.linger = Some(Duration::ZERO))
    }

    /// The SO_LINGER setting.
    ///
    /// # Errors
    ///
    /// As [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.get(|o| o.settings.linger)
    }

    /// The IPv6 traffic class (`IPV6_TCLASS`) of the connection's packets.
    ///
    /// # Errors
    ///
    /// `InvalidInput` on an IPv4 socket (use [`tos_v4`](TcpSocket::tos_v4)); as
    /// [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn tclass_v6(&self) -> io::Result<u32> {
        self.ipv6_only_option("IPV6_TCLASS")?;
        self.get(|o| u32::from(o.settings.tos))
    }

    /// Sets the IPv6 traffic class (DSCP and ECN, RFC 8200 §7) of the connection's packets.
    ///
    /// # Errors
    ///
    /// `InvalidInput` above 255 or on an IPv4 socket; as
    /// [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn set_tclass_v6(&self, tclass: u32) -> io::Result<()> {
        self.ipv6_only_option("IPV6_TCLASS")?;
        let tclass = u8::try_from(tclass).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "the traffic class is one byte: 0 to 255"))?;
        self.set(|o| o.settings.tos = tclass)
    }

    fn ipv6_only_option(&self, name: &str) -> io::Result<()> {
        if self.v6 { Ok(()) } else { Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{name} is an option of IPv6 sockets: this one is IPv4"))) }
    }

    /// The IPv4 type-of-service byte (`IP_TOS`).
    ///
    /// # Errors
    ///
    /// As [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn tos_v4(&self) -> io::Result<u32> {
        self.get(|o| u32::from(o.settings.tos))
    }

    /// The IPv4 type-of-service byte (tokio's older name for [`tos_v4`](TcpSocket::tos_v4)).
    ///
    /// # Errors
    ///
    /// As [`set_keepalive`](TcpSocket::set_keepalive).
    #[deprecated = "use `tos_v4()`"]
    pub fn tos(&self) -> io::Result<u32> {
        self.tos_v4()
    }

    /// Sets the IPv4 type-of-service byte (DSCP and ECN) of the connection's packets.
    ///
    /// # Errors
    ///
    /// `InvalidInput` above 255; as [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn set_tos_v4(&self, tos: u32) -> io::Result<()> {
        let tos = u8::try_from(tos).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "the type of service is one byte: 0 to 255"))?;
        self.set(|o| o.settings.tos = tos)
    }

    /// Sets the IPv4 type-of-service byte (tokio's older name for
    /// [`set_tos_v4`](TcpSocket::set_tos_v4)).
    ///
    /// # Errors
    ///
    /// As [`set_tos_v4`](TcpSocket::set_tos_v4).
    #[deprecated = "use `set_tos_v4()`"]
    pub fn set_tos(&self, tos: u32) -> io::Result<()> {
        self.set_tos_v4(tos)
    }

    /// The interface the socket is bound to with `SO_BINDTODEVICE`: none. A ringtcp stack
    /// serves exactly one device, chosen when it is built, and its sockets cannot be bound
    /// to another.
    ///
    /// # Errors
    ///
    /// As [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn device(&self) -> io::Result<Option<Vec<u8>>> {
        self.check().map(|()| None)
    }

    /// Binds the socket to an interface: `None` (no binding) is accepted, as it changes
    /// nothing.
    ///
    /// # Errors
    ///
    /// `Unsupported` for `Some(interface)`: the stack's device is chosen when the stack is
    /// built (see [`device`](TcpSocket::device)).
    pub fn bind_device(&self, interface: Option<&[u8]>) -> io::Result<()> {
        self.check()?;
        match interface {
            None => Ok(()),
            Some(_) => Err(unsupported("SO_BINDTODEVICE")),
        }
    }

    /// The pending error (`SO_ERROR`): an unconnected ringtcp socket has none.
    ///
    /// # Errors
    ///
    /// As [`set_keepalive`](TcpSocket::set_keepalive).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.check().map(|()| None)
    }

    /// A kernel socket cannot become a ringtcp socket: the result answers every call with
    /// `Unsupported`. (tokio's signature returns no `Result`, so the error comes at the
    /// first use.)
    pub fn from_std_stream(std_stream: std::net::TcpStream) -> TcpSocket {
        drop(std_stream);
        // A stack of no shards: building the default one (a TUN device) for a socket that
        // can never be used would be a side effect nobody asked for.
        let mut s = TcpSocket::new_v4_on(&Stack::detached());
        s.from_std = true;
        s
    }
}
