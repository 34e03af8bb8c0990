//! Per-shard settings. Defaults follow Linux where RFCs leave a choice, so that ringtcp
//! behaves like the stack it replaces.

use core::time::Duration;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use crate::fincache::FinCacheConfig;

/// Which congestion controller new connections use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CongestionAlgorithm {
    /// RFC 9438 CUBIC, Linux's default.
    #[default]
    Cubic,
    /// RFC 5681 slow start / congestion avoidance with RFC 6582 NewReno recovery.
    NewReno,
}

/// TCP keepalive (RFC 9293 §3.8.4): off unless asked for, as on every common stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe.
    pub idle: Duration,
    /// Time between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is dropped with `TimedOut`.
    pub probes: u32,
}

impl Default for Keepalive {
    /// Linux's defaults: 7200 s idle, 75 s interval, 9 probes.
    fn default() -> Self {
        Keepalive { idle: Duration::from_secs(7200), interval: Duration::from_secs(75), probes: 9 }
    }
}

/// When a listener answers SYNs with SYN cookies (RFC 4987 §3.6) instead of keeping state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SynCookies {
    /// Never: a SYN that finds the SYN queue full is dropped (and counted).
    Off,
    /// When the SYN queue is full, as Linux's default `tcp_syncookies=1`.
    #[default]
    WhenFull,
    /// For every SYN (Linux's `tcp_syncookies=2`): no SYN-RECEIVED state at all.
    Always,
}

/// Bounds on the memory of connection buffers in one shard, in the spirit of Linux's
/// `tcp_mem`: past `pressure` receive windows are clamped to four segments; at `limit`
/// buffers stop growing (each keeps at least [`BufferMemory::MIN_BUFFER`] per direction so
/// that every connection can still make progress), data that needs more is dropped and
/// counted, and sends take only what fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferMemory {
    /// Bytes above which windows shrink.
    pub pressure: usize,
    /// Bytes at which buffers stop growing.
    pub limit: usize,
}

impl BufferMemory {
    /// What a buffer may always hold, however tight memory is (Linux's `tcp_rmem[0]`).
    pub const MIN_BUFFER: usize = 4096;

    /// A limit with pressure starting at three quarters of it.
    ///
    /// ```
    /// use ringtcp_transport::BufferMemory;
    /// let m = BufferMemory::with_limit(64 << 20);
    /// assert_eq!(m.pressure, 48 << 20);
    /// ```
    pub fn with_limit(limit: usize) -> BufferMemory {
        BufferMemory { pressure: limit / 4 * 3, limit }
    }
}

impl Default for BufferMemory {
    /// 1 GiB per shard, pressure from 768 MiB.
    fn default() -> Self {
        BufferMemory::with_limit(1 << 30)
    }
}

/// Settings for one transport shard.
///
/// ```
/// use ringtcp_transport::{Config, CongestionAlgorithm};
/// let cfg = Config { congestion: CongestionAlgorithm::NewReno, ..Config::default() };
/// assert_eq!(cfg.mtu, 1500);
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// Link MTU; the advertised MSS is this minus 40.
    pub mtu: u16,
    /// Receive buffer per connection to begin with.
    pub rx_buffer: usize,
    /// The most a connection's receive buffer (and so its window) grows to while the
    /// application reads as fast as data arrives (receive-buffer autotuning, Linux's
    /// `tcp_rmem[2]`); a socket that sets its own receive buffer keeps that. No growth
    /// when it is at most `rx_buffer`.
    pub rx_buffer_max: usize,
    /// Send buffer per connection to begin with.
    pub tx_buffer: usize,
    /// The most a connection's send buffer grows to as its congestion window opens (twice
    /// the window; Linux's `tcp_wmem[2]`); a socket that sets its own send buffer keeps
    /// that. No growth when it is at most `tx_buffer`.
    pub tx_buffer_max: usize,
    /// At most about this many bytes written and not yet sent, for every connection
    /// whose socket sets none (Linux's `net.ipv4.tcp_notsent_lowat`; `None`, the
    /// default, as Linux's: only the send buffer bounds them). See
    /// [`Shard::set_notsent_lowat`](crate::Shard::set_notsent_lowat).
    pub notsent_lowat: Option<u32>,
    /// Congestion controller for new connections.
    pub congestion: CongestionAlgorithm,
    /// RTO before any RTT sample (RFC 6298 §2.1: 1 s).
    pub rto_initial: Duration,
    /// Lower bound of the RTO. RFC 6298 §2.4 says 1 s; Linux uses 200 ms, and so do we.
    pub rto_min: Duration,
    /// Upper bound of the RTO (RFC 6298 §2.5 allows 60 s or more).
    pub rto_max: Duration,
    /// SYN retransmissions before `connect` fails with `TimedOut` (Linux `tcp_syn_retries`).
    pub syn_retries: u32,
    /// SYN-ACK retransmissions before an embryonic connection is dropped.
    pub synack_retries: u32,
    /// Data retransmissions before the connection fails with `TimedOut` (`tcp_retries2`).
    pub max_retries: u32,
    /// Longest an ACK is delayed (RFC 9293 §3.8.6.3 caps it at 500 ms; Linux uses 40 ms).
    pub delayed_ack: Duration,
    /// How long an orphaned connection may sit in FIN-WAIT-2 (Linux `tcp_fin_timeout`).
    pub fin_wait2_timeout: Duration,
    /// Keepalive for new connections; `None` is off.
    pub keepalive: Option<Keepalive>,
    /// Offer RFC 7323 window scaling.
    pub window_scaling: bool,
    /// Offer RFC 7323 timestamps.
    pub timestamps: bool,
    /// Offer RFC 2018 selective acknowledgments.
    pub sack: bool,
    /// Disable Nagle's algorithm on new connections.
    pub nodelay: bool,
    /// Shrink the congestion window towards the initial window when a connection sends
    /// again after an idle period longer than its RTO (RFC 5681 §4.1; Linux's
    /// `tcp_slow_start_after_idle`, on by default there too): a window measured minutes ago
    /// says nothing about the path now.
    pub slow_start_after_idle: bool,
    /// Tail loss probes (RFC 8985 §7; Linux's `tcp_early_retrans` 3 or 4, its default):
    /// on a connection with SACK, two RTTs of silence after the last transmission send
    /// one probe, so a lost tail is repaired by fast recovery instead of an RTO.
    pub tail_loss_probe: bool,
    /// Space data segments at a rate drawn from cwnd and SRTT (200 % of cwnd · MSS / SRTT
    /// in slow start, 120 % after, as Linux paces behind its fq qdisc) instead of sending
    /// what each ACK frees at once. Off by default, as Linux without fq or BBR.
    pub pacing: bool,
    /// TCP Fast Open beyond the listeners that ask for it (`SocketOptions::fast_open`);
    /// the cookie key is drawn from the shard's secret unless set with
    /// `Shard::set_fast_open_key`.
    pub fast_open: crate::FastOpenServer,
    /// Challenge ACKs sent per second at most (RFC 5961 §7).
    pub challenge_ack_limit: u32,
    /// Out-of-order ranges held per connection; segments past it are dropped and counted.
    pub reassembly_ranges: usize,
    /// Timer entries handled per `handle_timeout` call at most; the rest wait for the next
    /// call (`poll_timeout` then says "now"), so one call never runs long.
    pub timer_budget: usize,
    /// Control packets (RSTs, ICMP replies, cookie SYN-ACKs) queued for sending at most.
    pub control_queue: usize,
    /// RSTs sent per second at most for segments that match nothing (closed ports, ACKs
    /// to listeners): a spoofed flood is never amplified or reflected at full rate. Like
    /// FreeBSD's `icmplim` for RSTs; Linux does not limit these.
    pub rst_limit: u32,
    /// SYN cookies: off, when the SYN queue is full (default), or always.
    pub syn_cookies: SynCookies,
    /// How often the cookie secret rotates; a cookie is accepted for one to two periods.
    pub syn_cookie_period: Duration,
    /// Live connections (control blocks, not TIME-WAIT records) at most. Past it SYNs are
    /// dropped and `connect` fails, each counted.
    pub max_connections: usize,
    /// Bounds on buffer memory.
    pub buffer_memory: BufferMemory,
    /// Ports `connect` picks from (Linux's `ip_local_port_range` default).
    pub ephemeral_ports: RangeInclusive<u16>,
    /// IP time to live on packets sent.
    pub ttl: u8,
    /// When the device steers flows to shards by their ports ([`crate::flow_shard`])
    /// (`(shards, this shard's index)`), `connect` picks only local ports that steer to
    /// this shard, so replies come back to the shard that sent the SYN.
    pub port_steering: Option<(u16, u16)>,
    /// TIME-WAIT: the FIN cache's capacity, expiry budget, per-class durations (MSL
    /// truncation) and RFC 1337.
    pub fin_cache: FinCacheConfig,
    /// On-link prefixes of the stack's interface, `(network, prefix length)`: peers inside
    /// them get the `local` TIME-WAIT class, peers that are the stack's own addresses the
    /// `loopback` one, and everything else `remote`.
    pub on_link: Vec<(IpAddr, u8)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mtu: 1500,
            rx_buffer: 256 * 1024,
            // Autotuning is opt-in for now: with bounds of 6 MB / 4 MB (Linux's) the
            // 10-minute soak's resident memory stepped up 8-11 % (flat without).
            rx_buffer_max: 256 * 1024,
            tx_buffer: 256 * 1024,
            tx_buffer_max: 256 * 1024,
            notsent_lowat: None,
            congestion: CongestionAlgorithm::Cubic,
            rto_initial: Duration::from_secs(1),
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(60),
            syn_retries: 6,
            synack_retries: 5,
            max_retries: 15,
            delayed_ack: Duration::from_millis(40),
            fin_wait2_timeout: Duration::from_secs(60),
            keepalive: None,
            window_scaling: true,
            timestamps: true,
            sack: true,
            nodelay: false,
            slow_start_after_idle: true,
            tail_loss_probe: true,
            pacing: false,
            fast_open: crate::FastOpenServer::default(),
            challenge_ack_limit: 1000,
            reassembly_ranges: 64,
            timer_budget: 1024,
            control_queue: 4096,
            rst_limit: 1000,
            syn_cookies: SynCookies::WhenFull,
            syn_cookie_period: Duration::from_secs(64),
            max_connections: 1 << 20,
            buffer_memory: BufferMemory::default(),
            ephemeral_ports: 32768..=60999,
            ttl: 64,
            port_steering: None,
            fin_cache: FinCacheConfig::default(),
            on_link: Vec::new(),
        }
    }
}

impl Config {
    /// The MSS this stack advertises over IPv4: MTU minus IPv4 and TCP headers.
    pub fn advertised_mss(&self) -> u16 {
        self.mtu.saturating_sub(40).max(88)
    }

    /// The MSS this stack advertises to `peer`: the MTU minus the TCP header and the IP
    /// header of the peer's family (20 bytes more for IPv6, RFC 8200 §5 / RFC 9293 §3.7.1).
    ///
    /// ```
    /// use ringtcp_transport::Config;
    /// let cfg = Config::default();
    /// assert_eq!(cfg.mss_for("10.0.0.1".parse().unwrap()), 1460);
    /// assert_eq!(cfg.mss_for("fd77::1".parse().unwrap()), 1440);
    /// ```
    pub fn mss_for(&self, peer: std::net::IpAddr) -> u16 {
        if peer.is_ipv4() { self.advertised_mss() } else { self.mtu.saturating_sub(60).max(88) }
    }
}
