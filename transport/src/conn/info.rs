//! What a connection tells its owner about itself: the figures of Linux's `TCP_INFO` that
//! ringtcp keeps, in plain units, read without changing anything.

use core::time::Duration;

use super::{Connection, State};
use crate::cc::CongestionControl;
use crate::time::Instant;

/// Where a connection stands in congestion control, as Linux's `tcpi_ca_state` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CongestionState {
    /// Nothing seen that suggests loss.
    Open,
    /// Duplicate ACKs or SACK blocks arrived, not yet enough to call a loss.
    Disorder,
    /// Fast recovery after a loss (RFC 6675 with SACK, RFC 6582 without).
    Recovery,
    /// A retransmission timeout fired; the data sent before it is being resent.
    Loss,
}

/// A snapshot of one connection, from [`Shard::tcp_info`](crate::Shard::tcp_info).
///
/// ```
/// use ringtcp_transport::{CongestionState, Config, Instant, Secret, Shard, State};
///
/// let mut server = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([1; 16]));
/// let mut client = Shard::new(Config::default(), &["10.0.0.2".parse().unwrap()], Secret([2; 16]));
/// server.listen("10.0.0.1:80".parse().unwrap(), 128).unwrap();
/// let now = Instant::ZERO;
/// let conn = client.connect(now, "10.0.0.1:80".parse().unwrap(), None).unwrap();
/// let mut buf = [0u8; 1600];
/// for _ in 0..3 {
///     while let Some(n) = client.poll_transmit(now, &mut buf) { server.handle_packet(now, &buf[..n]); }
///     while let Some(n) = server.poll_transmit(now, &mut buf) { client.handle_packet(now, &buf[..n]); }
/// }
/// let info = client.tcp_info(conn, now).unwrap().expect("a live connection");
/// assert_eq!(info.state, State::Established);
/// assert_eq!(info.congestion_state, CongestionState::Open);
/// assert_eq!(info.cwnd, 10 * u32::from(info.send_mss), "RFC 6928's initial window");
/// assert_eq!(info.in_flight, 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpInfo {
    /// RFC 9293 state.
    pub state: State,
    /// Congestion-control state.
    pub congestion_state: CongestionState,
    /// Retransmission timeouts in a row at the same SND.UNA (Linux's `tcpi_retransmits`).
    pub timeouts: u32,
    /// Doublings of the RTO in force (RFC 6298 §5.5).
    pub backoff: u32,
    /// Retransmission timeout, backoff included.
    pub rto: Duration,
    /// Smoothed round-trip time, once a sample was taken.
    pub srtt: Option<Duration>,
    /// Round-trip time variation (RFC 6298 RTTVAR).
    pub rttvar: Duration,
    /// Smallest round-trip sample so far.
    pub min_rtt: Option<Duration>,
    /// Payload bytes in a full segment we send (the peer's MSS less our options).
    pub send_mss: u16,
    /// The MSS we advertised.
    pub advertised_mss: u16,
    /// The largest in-order segment received so far (at most our MSS); 0 before data.
    pub receive_mss: u16,
    /// Congestion window, bytes.
    pub cwnd: u32,
    /// Slow-start threshold, bytes; `u32::MAX` until the first congestion event.
    pub ssthresh: u32,
    /// The peer's window, scaled, bytes.
    pub send_window: u32,
    /// The window we offer now, bytes.
    pub receive_window: u32,
    /// Bytes sent and not acknowledged (SND.MAX − SND.UNA, SYN and FIN included).
    pub in_flight: u32,
    /// Of those, bytes the peer reported with SACK.
    pub sacked: u32,
    /// Bytes the application queued that were never sent.
    pub unsent: u32,
    /// Segments retransmitted over the connection's life.
    pub retransmitted_segments: u32,
    /// How long the connection had data to deliver (queued or in flight), the two
    /// figures below included (Linux's `tcpi_busy_time`).
    pub busy_time: Duration,
    /// How much of that unsent data waited for the peer's receive window
    /// (`tcpi_rwnd_limited`).
    pub receive_window_limited: Duration,
    /// How much of that a writer found the send buffer full (`tcpi_sndbuf_limited`).
    pub send_buffer_limited: Duration,
    /// Bytes sent again and neither acknowledged nor SACKed since (Linux counts them in
    /// segments as `tcpi_retrans`); an RTO starts the count over.
    pub retransmitted_in_flight: u32,
    /// Segments deemed lost (by RACK, RFC 8985, or by RFC 6675's count of SACKed
    /// segments above them) and not yet delivered, retransmitted or not (Linux's
    /// `tcpi_lost`).
    pub lost: u32,
    /// How far out of order, in segments, the peer's SACKs showed data arriving at most;
    /// RFC 6675's DupThresh (3) until any reordering is seen (`tcpi_reordering`).
    pub reordering: u32,
    /// ACKs that showed data delivered out of order: below data SACKed or acknowledged
    /// before, and sent once (`tcpi_reord_seen`).
    pub reord_seen: u32,
    /// Segments the peer acknowledged, cumulatively or with SACK, SYN and FIN included
    /// (counted in full-sized segments for data).
    pub delivered: u32,
    /// Data bytes the peer acknowledged.
    pub bytes_acked: u64,
    /// Data bytes received in order.
    pub bytes_received: u64,
    /// Since new data was last sent (or the connection was opened).
    pub since_data_sent: Duration,
    /// Since data was last received (or the connection was established).
    pub since_data_received: Duration,
    /// Since an acceptable ACK last arrived (or the connection was opened).
    pub since_ack_received: Duration,
    /// Timestamps (RFC 7323) are in use.
    pub timestamps: bool,
    /// SACK (RFC 2018) is in use.
    pub sack: bool,
    /// Window scaling in use: (the peer's shift, ours) (RFC 7323 §2).
    pub window_scale: Option<(u8, u8)>,
    /// Opened with TCP Fast Open (RFC 7413): the SYN carried a valid cookie (or none was
    /// required), so the connection was handed over, and may send, before its handshake
    /// completed.
    pub fast_open: bool,
    /// The peer's SYN carried data this side took with Fast Open.
    pub syn_data: bool,
}

/// When things last happened on a connection, and what it moved; kept only to report.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Activity {
    /// When the connection was opened (its first SYN's timestamp is not older).
    pub(crate) opened: Instant,
    pub(crate) data_sent: Instant,
    pub(crate) data_received: Instant,
    pub(crate) ack_received: Instant,
    pub(crate) bytes_acked: u64,
    pub(crate) bytes_received: u64,
    pub(crate) retransmitted_segments: u32,
    pub(crate) delivered: u32,
}

impl Activity {
    pub(crate) fn new(now: Instant) -> Self {
        Activity { opened: now, data_sent: now, data_received: now, ack_received: now, bytes_acked: 0, bytes_received: 0, retransmitted_segments: 0, delivered: 0 }
    }
}

impl Connection {
    pub(crate) fn info(&self, now: Instant) -> TcpInfo {
        let sacked = self.sack.sacked_bytes();
        let congestion_state = if self.recovery.active {
            CongestionState::Recovery
        } else if self.recovery.after_timeout {
            CongestionState::Loss
        } else if self.recovery.dupacks > 0 || sacked > 0 {
            CongestionState::Disorder
        } else {
            CongestionState::Open
        };
        let unsent = self.notsent();
        let since = |t: Instant| now.saturating_duration_since(t);
        let (busy_time, receive_window_limited, send_buffer_limited) = self.chrono.totals(now);
        TcpInfo {
            state: self.state,
            congestion_state,
            timeouts: self.retries,
            backoff: self.rtt.backoff(),
            rto: self.rtt.rto(),
            srtt: self.rtt.srtt(),
            rttvar: self.rtt.rttvar(),
            min_rtt: self.rtt.min_rtt(),
            send_mss: self.eff_mss(),
            advertised_mss: self.rcv_mss,
            receive_mss: self.rcv_seg_max,
            cwnd: self.cc.cwnd(),
            ssthresh: self.cc.ssthresh(),
            send_window: self.snd_wnd,
            receive_window: u32::try_from(self.rcv_adv - self.rcv_nxt).unwrap_or(u32::MAX),
            in_flight: u32::try_from(self.snd_max - self.snd_una).unwrap_or(u32::MAX),
            sacked: u32::try_from(sacked).unwrap_or(u32::MAX),
            unsent: u32::try_from(unsent).unwrap_or(u32::MAX),
            retransmitted_segments: self.activity.retransmitted_segments,
            busy_time,
            receive_window_limited,
            send_buffer_limited,
            retransmitted_in_flight: u32::try_from(self.retransmitted.bytes_outside(&self.sack)).unwrap_or(u32::MAX),
            lost: self.rack.lost_segments(self.count_lost_edge()),
            reordering: self.rack.reordering(),
            reord_seen: self.rack.reord_seen(),
            delivered: self.activity.delivered,
            bytes_acked: self.activity.bytes_acked,
            bytes_received: self.activity.bytes_received,
            since_data_sent: since(self.activity.data_sent),
            since_data_received: since(self.activity.data_received),
            since_ack_received: since(self.activity.ack_received),
            timestamps: self.opts.timestamps,
            sack: self.opts.sack,
            window_scale: self.opts.wscale_ok.then_some((self.opts.snd_wscale, self.opts.rcv_wscale)),
            fast_open: self.fast_open.as_ref().is_some_and(|f| f.accepted),
            syn_data: self.fast_open.as_ref().is_some_and(|f| f.syn_data),
        }
    }
}
