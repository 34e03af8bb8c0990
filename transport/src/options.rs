//! Settings an application gives a socket before its connection exists (what tokio's
//! `TcpSocket` sets before `connect` or `listen`): they replace the shard's [`Config`]
//! values for that connection, or for every connection a listener accepts, from its first
//! segment on (the window offered in a SYN or SYN-ACK, and its scale, come from them).
//!
//! [`Config`]: crate::Config

/// Per-socket overrides of the shard's settings.
///
/// ```
/// use ringtcp_transport::{Config, Instant, Secret, Shard, SocketOptions};
///
/// let mut shard = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([1; 16]));
/// let small = SocketOptions { rx_buffer: Some(4096), tx_buffer: Some(8192), ..SocketOptions::default() };
/// let h = shard.connect_with(Instant::ZERO, "10.0.0.2:80".parse().unwrap(), None, small).unwrap();
/// assert_eq!(shard.buffer_sizes(h), Ok((4096, 8192)));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// Receive buffer bytes (the largest window offered), instead of `Config::rx_buffer`
    /// (Linux's `SO_RCVBUF`).
    pub rx_buffer: Option<usize>,
    /// Send buffer bytes, instead of `Config::tx_buffer` (Linux's `SO_SNDBUF`).
    pub tx_buffer: Option<usize>,
    /// For a listener on the IPv6 unspecified address `[::]`: take IPv6 connections only
    /// (Linux's `IPV6_V6ONLY`). Off, as Linux defaults `net.ipv6.bindv6only`: `[::]` then
    /// also takes IPv4 connections.
    pub only_v6: bool,
    /// The largest segment this socket's connections take and send, below what the MTU
    /// gives (Linux's `TCP_MAXSEG` set before `connect` or `listen`): the SYN or SYN-ACK
    /// offers it as the MSS, and the segments sent carry at most that much.
    pub mss: Option<u16>,
    /// For a listener: serve TCP Fast Open (RFC 7413) with at most this many Fast Open
    /// connections still in their handshake (Linux's `TCP_FASTOPEN` queue length); `None`
    /// or 0 is off. See [`Config::fast_open`](crate::Config::fast_open) for the key and the
    /// shard-wide switches.
    pub fast_open: Option<usize>,
    /// At most about this many bytes written and not yet sent (Linux's
    /// `TCP_NOTSENT_LOWAT`), instead of `Config::notsent_lowat`: see
    /// [`Shard::set_notsent_lowat`](crate::Shard::set_notsent_lowat).
    pub notsent_lowat: Option<u32>,
    /// SYN retransmissions before `connect` fails with `TimedOut` (for a listener, SYN-ACK
    /// retransmissions before an embryonic connection is dropped), instead of
    /// `Config::syn_retries` / `synack_retries` (Linux's `TCP_SYNCNT`).
    pub syn_retries: Option<u32>,
    /// For a Fast Open client ([`Shard::connect_fast_open`](crate::Shard::connect_fast_open)):
    /// put the data in the SYN without a cookie, for servers that take Fast Open data
    /// without one (Linux's `TCP_FASTOPEN_NO_COOKIE`, or bit 0x4 of
    /// `net.ipv4.tcp_fastopen`). A cookie such a server gives anyway is not kept.
    pub fast_open_no_cookie: bool,
    /// Path MTU discovery for IPv4 (Linux's `IP_MTU_DISCOVER`); see
    /// [`Shard::set_path_mtu_discovery`](crate::Shard::set_path_mtu_discovery).
    pub path_mtu_discovery: PathMtuDiscovery,
}

/// How an IPv4 connection finds its path's MTU (Linux's `IP_MTU_DISCOVER`). IPv6 routers
/// never fragment (RFC 8200 §5), so IPv6 connections always follow Packet Too Big
/// (RFC 8201) whatever this says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PathMtuDiscovery {
    /// Send with DF set and lower the MSS when the path reports a smaller MTU (RFC
    /// 1191): the default (`IP_PMTUDISC_DO`).
    #[default]
    Do,
    /// Send without DF, so routers fragment what is too big, and keep the MSS whatever
    /// the path reports (`IP_PMTUDISC_DONT`): for paths whose ICMP is filtered.
    Dont,
    /// Send with DF set but keep the MSS whatever the path reports (`IP_PMTUDISC_PROBE`):
    /// for probing the path's MTU from above.
    Probe,
}

/// `addr` as an IPv6 socket names it: an IPv4 address IPv4-mapped (`[::ffff:a.b.c.d]`,
/// RFC 4291 §2.5.5.2), as Linux reports IPv4 peers to an `AF_INET6` socket; an IPv6 one
/// unchanged. The transport itself always holds the IPv4 form.
///
/// ```
/// use ringtcp_transport::ipv6_socket_form;
/// assert_eq!(ipv6_socket_form("10.0.0.1:80".parse().unwrap()), "[::ffff:10.0.0.1]:80".parse().unwrap());
/// assert_eq!(ipv6_socket_form("[fd00::1]:80".parse().unwrap()), "[fd00::1]:80".parse().unwrap());
/// ```
pub fn ipv6_socket_form(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    match addr {
        std::net::SocketAddr::V4(v4) => std::net::SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port()),
        v6 => v6,
    }
}

impl SocketOptions {
    /// Buffers smaller than this make TCP crawl (less than one segment in flight); Linux
    /// floors `SO_RCVBUF` / `SO_SNDBUF` similarly.
    pub const MIN_BUFFER: usize = 2048;

    /// The receive buffer a connection gets: this one (floored), or `cfg_default`.
    pub fn rx(&self, cfg_default: usize) -> usize {
        self.rx_buffer.map_or(cfg_default, |b| b.max(Self::MIN_BUFFER))
    }

    /// The send buffer a connection gets: this one (floored), or `cfg_default`.
    pub fn tx(&self, cfg_default: usize) -> usize {
        self.tx_buffer.map_or(cfg_default, |b| b.max(Self::MIN_BUFFER))
    }

    /// The MSS a connection to `peer` offers: the MTU's (`Config::mss_for`), or this
    /// socket's, if smaller.
    ///
    /// ```
    /// use ringtcp_transport::{Config, SocketOptions};
    /// let clamp = SocketOptions { mss: Some(1100), ..SocketOptions::default() };
    /// let cfg = Config::default();
    /// assert_eq!(clamp.mss_for(&cfg, "10.0.0.1".parse().unwrap()), 1100);
    /// assert_eq!(SocketOptions::default().mss_for(&cfg, "10.0.0.1".parse().unwrap()), 1460);
    /// ```
    pub fn mss_for(&self, cfg: &crate::Config, peer: std::net::IpAddr) -> u16 {
        let mtu_mss = cfg.mss_for(peer);
        self.mss.map_or(mtu_mss, |m| m.min(mtu_mss))
    }
}
