//! One TCP connection: the RFC 9293 transmission control block and everything it owns.
//!
//! The connection never does I/O. The shard hands it segments (`input`), asks it for the
//! next segment to send (`output`) and fires its deadlines (`timers`). Each of those
//! records what happened in `events`, which the shard reads to move the connection between
//! its listener, its owner and the FIN cache seam.

mod app;
mod chrono;
mod cork;
mod cwnd_validation;
mod info;
mod icmp;
mod input;
mod invariants;
mod notsent;
mod output;
mod pacing;
mod prr;
mod rack;
mod records;
mod remnant;
mod tail_probe;
mod timers;
mod rx_autotune;
mod tx_autotune;
mod window_growth;

pub use info::{CongestionState, TcpInfo};
pub(crate) use remnant::Remnant;

use cwnd_validation::CwndUse;
use info::Activity;
use records::RecordEnds;
use tail_probe::TailProbe;
pub(crate) use rx_autotune::{rx_buffer_bound, window_shift};
use rx_autotune::RxAutotune;
use window_growth::WindowGrowth;

use core::time::Duration;
use std::net::SocketAddr;

use crate::buffer::adopt::Adoption;
use crate::buffer::{RxBuffer, RxInsert, TxBuffer};
use crate::cc::Controller;
use crate::config::{Config, Keepalive};
use crate::error::Error;
use crate::fincache::MslClass;
use crate::listener::cookie::CookieOptions;
use crate::memory::MemoryState;
use crate::options::SocketOptions;
use crate::rtt::RttEstimator;
use crate::sack::Scoreboard;
use crate::seq::SeqNum;
use crate::stats::{Drops, Stats};

use crate::time::Instant;
use crate::wire::{TcpOptions, Timestamps};

/// The connection states of RFC 9293 §3.3.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// No connection.
    Closed,
    /// Waiting for a SYN (held by a listener, never by a connection).
    Listen,
    /// SYN sent, waiting for the peer's SYN.
    SynSent,
    /// SYN received and answered, waiting for the ACK of our SYN.
    SynReceived,
    /// Open: data flows both ways.
    Established,
    /// We sent FIN; waiting for its ACK or the peer's FIN.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer sent FIN; we may still send.
    CloseWait,
    /// Both sent FIN at once; waiting for the ACK of ours.
    Closing,
    /// The peer closed first and we sent FIN; waiting for its ACK.
    LastAck,
    /// Both FINs acknowledged; waiting 2·MSL for stray segments to die.
    TimeWait,
}

impl State {
    /// True from ESTABLISHED on: both SYNs have been acknowledged or received.
    pub fn is_synchronized(self) -> bool {
        !matches!(self, State::Closed | State::Listen | State::SynSent | State::SynReceived)
    }

    /// True while our side may still queue data.
    fn can_send(self) -> bool {
        matches!(self, State::SynSent | State::SynReceived | State::Established | State::CloseWait)
    }

    /// True while the peer may still send data.
    fn can_receive(self) -> bool {
        matches!(self, State::SynReceived | State::Established | State::FinWait1 | State::FinWait2)
    }
}

/// What happened to a connection during one call; the shard acts on these.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Events(u8);

impl Events {
    pub(crate) const ESTABLISHED: u8 = 1;
    pub(crate) const CLOSED: u8 = 2;
    pub(crate) const READABLE: u8 = 4;
    pub(crate) const WRITABLE: u8 = 8;

    pub(crate) fn set(&mut self, bit: u8) {
        self.0 |= bit;
    }

    pub(crate) fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    pub(crate) fn take(&mut self) -> Events {
        core::mem::take(self)
    }

    pub(crate) fn any(self) -> bool {
        self.0 != 0
    }
}

/// Per-call context the shard lends a connection.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub(crate) now: Instant,
    pub(crate) cfg: &'a Config,
    pub(crate) stats: &'a mut Stats,
    pub(crate) drops: &'a mut Drops,
    pub(crate) challenge: &'a mut ChallengeLimiter,
    pub(crate) ip_ident: &'a mut u16,
    /// What the device takes for the packet being built, and what it was told.
    pub(crate) tx: &'a mut TxOffload,
    /// Whether the payload of the packet being processed may stay where it is.
    pub(crate) adopt: &'a mut Adoption,
    /// Whether the payload of the packet being built is gathered instead of copied.
    pub(crate) gather: &'a mut crate::buffer::gather::Gather,
}

/// Segmentation and checksum offload for one packet out: whether the device takes them
/// (asked by [`Shard::poll_transmit_offload`](crate::Shard::poll_transmit_offload)), and
/// what the packet built needs of it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TxOffload {
    /// The device cuts super-segments and completes partial TCP checksums.
    pub(crate) enabled: bool,
    /// The packet built is a super-segment of segments this long (payload bytes).
    pub(crate) segment_size: Option<u16>,
    /// The packet's TCP checksum is partial (pseudo-header only).
    pub(crate) partial_checksum: bool,
}

/// RFC 5961 §7: challenge ACKs are rate-limited per shard, so an attacker cannot use them
/// to learn sequence numbers or to amplify.
#[derive(Debug, Default)]
pub(crate) struct ChallengeLimiter {
    window_start: Instant,
    sent: u32,
}

impl ChallengeLimiter {
    pub(crate) fn allow(&mut self, now: Instant, limit: u32) -> bool {
        if now - self.window_start >= Duration::from_secs(1) {
            self.window_start = now;
            self.sent = 0;
        }
        if self.sent < limit {
            self.sent += 1;
            true
        } else {
            false
        }
    }
}

/// How the ACK for received data is scheduled (RFC 9293 §3.8.6.3, RFC 5681 §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AckState {
    Idle,
    Delayed,
    Now,
}

/// Loss recovery (RFC 6675 with SACK, RFC 6582 without).
#[derive(Clone, Debug, Default)]
struct Recovery {
    active: bool,
    /// RecoveryPoint / `recover`: SND.MAX when recovery began.
    recover: SeqNum,
    /// HighRxt: the highest byte retransmitted in this recovery.
    high_rxt: SeqNum,
    /// Duplicate ACKs in a row.
    dupacks: u32,
    /// NewReno: extra window from duplicate ACKs (RFC 6582 §3.2 steps 3-5).
    inflation: u32,
    /// A retransmission timeout set `recover`: what was sent before it is being resent
    /// until SND.UNA passes it (reported as the Loss state).
    after_timeout: bool,
    /// What each ACK lets out during SACK recovery (RFC 6937).
    prr: prr::Prr,
}

/// Options agreed in the handshake (RFC 7323, RFC 2018, RFC 9293 §3.7.1).
#[derive(Clone, Copy, Debug, Default)]
struct Negotiated {
    /// Largest payload the peer accepts, before our option overhead.
    snd_mss: u16,
    /// Shift applied to windows the peer advertises.
    snd_wscale: u8,
    /// Shift applied to windows we advertise.
    rcv_wscale: u8,
    /// Window scaling is offered (before the handshake) or agreed (after it).
    wscale_ok: bool,
    sack: bool,
    timestamps: bool,
}

/// A TCP connection.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) state: State,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    /// Slot generation, so stale handles and timers never reach a reused slot.
    pub(crate) generation: u32,
    /// The listener this passive connection came from, until it is accepted.
    pub(crate) listener: Option<u32>,
    /// The application holds a handle (accepted or connected and not yet closed).
    pub(crate) owned: bool,
    /// Counted in its listener's SYN queue (a SYN-RECEIVED connection kept as state, not
    /// one a cookie opened).
    pub(crate) in_syn_queue: bool,
    /// Established and waiting in its listener's accept queue.
    pub(crate) in_accept_queue: bool,
    /// How tight the shard's buffer memory is (committed: held and promised); the shard
    /// sets it before every call.
    pub(crate) mem: MemoryState,
    /// Held memory is at its limit: received data that needs more is dropped.
    pub(crate) mem_hard: bool,
    /// Buffer bytes and receive-window promise the shard has counted for this connection.
    pub(crate) accounted: (usize, usize),
    /// Earliest deadline registered with the shard's timer queue.
    pub(crate) timer_registered: Option<Instant>,
    /// In the shard's transmit queue.
    pub(crate) tx_queued: bool,
    /// In the shard's event queue.
    pub(crate) event_queued: bool,
    pub(crate) events: Events,
    pub(crate) error: Option<Error>,
    /// `error` was returned to a `send` or `recv` once already.
    error_reported: bool,

    // Send sequence space (RFC 9293 §3.3.1).
    iss: SeqNum,
    snd_una: SeqNum,
    snd_nxt: SeqNum,
    /// Highest sequence number sent + 1; SND.NXT is pulled back below it after an RTO.
    snd_max: SeqNum,
    snd_wnd: u32,
    max_snd_wnd: u32,
    snd_wl1: SeqNum,
    snd_wl2: SeqNum,
    /// Sequence number of `tx`'s first byte.
    tx_seq: SeqNum,
    tx: TxBuffer,
    /// The application shut down writing: a FIN follows the queued data.
    fin_queued: bool,

    // Receive sequence space.
    irs: SeqNum,
    rcv_nxt: SeqNum,
    /// Right edge of the window last advertised (never moved left: RFC 9293 §3.8.6.2.2).
    rcv_adv: SeqNum,
    rx: RxBuffer,
    /// How far the offered window may open yet.
    window_growth: WindowGrowth,
    /// Receive-buffer autotuning (off where the socket set its own buffer).
    rx_autotune: RxAutotune,
    /// The most the send buffer grows to with the congestion window; zero: it does not
    /// (the socket set its own).
    tx_bound_max: u32,
    /// The peer's FIN has been received (in order).
    fin_received: bool,
    /// An out-of-order FIN waiting for the data before it.
    ooo_fin: Option<SeqNum>,

    opts: Negotiated,
    /// Our advertised MSS.
    rcv_mss: u16,
    ts_offset: u32,
    /// TS.Recent and when it was set (RFC 7323 §4.3, §5.5).
    ts_recent: u32,
    ts_recent_at: Instant,
    last_ack_sent: SeqNum,

    rtt: RttEstimator,
    /// Karn's algorithm: the segment end being timed and when it was sent.
    rtt_probe: Option<(SeqNum, Instant)>,
    cc: Controller,
    sack: Scoreboard,
    recovery: Recovery,
    /// NewReno / recovery entry: a retransmission of this sequence number is owed now.
    rtx_now: Option<SeqNum>,
    /// Consecutive retransmission timeouts (or SYN retries) at the same SND.UNA.
    retries: u32,

    ack_state: AckState,
    /// Bytes received in order since the last ACK we sent.
    unacked_bytes: usize,
    /// A probe (zero window or keepalive) is owed: <SEQ=SND.UNA−1><ACK>.
    probe_now: bool,
    /// Abort: a RST with SEQ = SND.NXT is owed.
    rst_now: bool,
    /// A RST <SEQ=x> (no ACK) answering an unacceptable ACK is owed.
    rst_reply: Option<SeqNum>,
    /// The persist timer found the window too small for SWS rules: send what fits.
    sws_override: bool,
    /// A SYN-ACK retransmission is owed (the peer retransmitted its SYN).
    synack_now: bool,

    rtx_at: Option<Instant>,
    delack_at: Option<Instant>,
    persist_at: Option<Instant>,
    persist_probes: u32,
    /// Tail loss probing (RFC 8985 §7).
    tlp: TailProbe,
    pacing: pacing::Pacing,
    /// Record ends (`MSG_EOR`) no segment may cross.
    records: RecordEnds,
    /// The end of the last segment sent shorter than a full one (Nagle, Minshall's form).
    snd_sml: SeqNum,
    /// TCP_USER_TIMEOUT (RFC 5482): how long sent data or probes may go unanswered
    /// before the connection fails with `TimedOut`, instead of counting retries.
    user_timeout: Option<Duration>,
    /// TCP_NOTSENT_LOWAT: the unsent bytes a writer may leave queued (`notsent.rs`).
    notsent_lowat: Option<u32>,
    /// Data sent again and neither acknowledged nor SACKed since (Linux's retrans_out),
    /// kept only to report; the same bounded range set as the SACK scoreboard.
    retransmitted: Scoreboard,
    /// A duplicate segment's range, reported first in the next ACK's SACK option (RFC 2883
    /// D-SACK), so the peer can tell a needless retransmission from a loss.
    dsack: Option<(SeqNum, SeqNum)>,
    /// What is in flight and when it left: RACK loss detection and per-ACK delay samples
    /// (`rack.rs`).
    rack: rack::Rack,
    /// Busy, receive-window-limited and send-buffer-limited time (`chrono.rs`).
    chrono: chrono::Chrono,
    /// TCP_SYNCNT: this connection's SYN (or SYN-ACK) retry count, if its socket set one.
    syn_retries: Option<u32>,
    /// IPv4 path MTU discovery mode (`IP_MTU_DISCOVER`).
    pub(crate) pmtud: crate::options::PathMtuDiscovery,
    /// TCP_CORK and MSG_MORE (`cork.rs`).
    cork: cork::Cork,
    /// Since when the peer has not answered: the RTO timer's start at the first
    /// retransmission, or the first zero-window probe (read only while retrying/probing).
    stalled_since: Instant,
    keepalive: Option<Keepalive>,
    keepalive_at: Option<Instant>,
    /// When RACK's drained segment log gives its large allocation back (unless data came
    /// again): see `rack::IDLE_RELEASE`.
    pub(crate) release_at: Option<Instant>,
    keepalive_probes: u32,
    /// TIME-WAIT expiry or the orphaned FIN-WAIT-2 limit.
    close_at: Option<Instant>,

    nodelay: bool,
    /// IP TTL for this connection's packets.
    pub(crate) ttl: u8,
    /// IPv4 type of service (DSCP and ECN bits) of this connection's packets.
    pub(crate) tos: u8,
    /// Acknowledge every segment at once instead of delaying ACKs (`TCP_QUICKACK`).
    pub(crate) quickack: bool,
    /// Data segments still to be acknowledged at once at the start of the connection.
    pub(crate) quick_acks_left: u8,
    /// The exchange looks interactive (Linux's "pingpong" mode): we sent data within a
    /// delayed-ACK time of receiving, so an ACK waits to ride on the next reply instead of
    /// going at once as a quick ACK.
    interactive: bool,
    /// When data last arrived, for that check (`None` before any: Linux's ATO is zero
    /// until the first data, or a writer waiting at the handshake's end, starts it).
    data_rcv_at: Option<Instant>,
    /// The largest in-order data segment received so far (at most our MSS): what "a
    /// full-sized segment" of this peer is, for RFC 5681 §4.2's every-second-segment rule.
    rcv_seg_max: u16,
    /// A soft ICMP error, reported if the connection later times out (RFC 1122 §4.2.3.9).
    soft_error: Option<Error>,
    /// When we last answered an out-of-window segment without data.
    last_oow_ack: Option<Instant>,
    /// What `TcpInfo` reports of the connection's history.
    activity: Activity,
    /// Whether the congestion window limits the sender (it grows only then).
    cwnd_use: CwndUse,
    /// Fast Open state, for a connection whose SYN carried the option.
    pub(crate) fast_open: Option<Box<crate::listener::fast_open::FastOpenConn>>,
}

/// The MSS to assume for a peer whose SYN has no MSS option (RFC 9293 §3.7.1): 536 over
/// IPv4; 1,220 over IPv6, the 1,280-byte minimum MTU less both headers (RFC 8200 §5).
pub(crate) fn default_peer_mss(peer: std::net::IpAddr) -> u16 {
    if peer.is_ipv4() { 536 } else { 1220 }
}

/// What an ICMP or ICMPv6 error quoting a connection's segment asks of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IcmpError {
    /// The path takes packets of at most this many bytes (already floored at the family's
    /// minimum: 576 for IPv4, RFC 1191; 1,280 for IPv6, RFC 8201 §4).
    PathMtu(u32),
    /// Port or protocol unreachable: ends a connection attempt.
    Refused,
    /// This host's link layer could not resolve the next hop (ARP or neighbour
    /// discovery went unanswered): ends a connection attempt, soft afterwards.
    NoNeighbour,
    /// Anything else: remembered as the soft error, the connection goes on.
    Soft,
}

/// Parameters for creating a connection.
pub(crate) struct Open<'a> {
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) iss: SeqNum,
    pub(crate) ts_offset: u32,
    pub(crate) generation: u32,
    pub(crate) cfg: &'a Config,
    pub(crate) now: Instant,
    /// The socket's own buffer sizes, where set.
    pub(crate) opts: SocketOptions,
}

impl Connection {
    fn new(o: Open<'_>, state: State) -> Self {
        let cfg = o.cfg;
        let rcv_mss = o.opts.mss_for(cfg, o.remote.ip());
        let (rx_cap, tx_cap) = (o.opts.rx(cfg.rx_buffer), o.opts.tx(cfg.tx_buffer));
        // Autotuning for a socket without a receive buffer of its own; the window scale
        // must then reach the most the buffer may grow to.
        let bound = rx_buffer_bound(cfg, &o.opts);
        let rx_autotune = RxAutotune::new(if bound > rx_cap { bound } else { 0 });
        let rcv_wscale = if cfg.window_scaling { window_shift(bound) } else { 0 };
        let snd_mss = 536;
        Connection {
            state,
            local: o.local,
            remote: o.remote,
            generation: o.generation,
            listener: None,
            owned: false,
            in_syn_queue: false,
            in_accept_queue: false,
            mem: MemoryState::Normal,
            mem_hard: false,
            accounted: (0, 0),
            timer_registered: None,
            tx_queued: false,
            event_queued: false,
            events: Events::default(),
            error: None,
            error_reported: false,
            iss: o.iss,
            snd_una: o.iss,
            snd_nxt: o.iss,
            snd_max: o.iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: o.iss,
            tx_seq: o.iss + 1,
            tx: TxBuffer::new(tx_cap),
            fin_queued: false,
            irs: SeqNum(0),
            rcv_nxt: SeqNum(0),
            rcv_adv: SeqNum(0),
            rx: RxBuffer::new(rx_cap, cfg.reassembly_ranges),
            window_growth: WindowGrowth::new(rx_cap),
            rx_autotune,
            tx_bound_max: if o.opts.tx_buffer.is_none() && cfg.tx_buffer_max > tx_cap { u32::try_from(cfg.tx_buffer_max).unwrap_or(u32::MAX) } else { 0 },
            fin_received: false,
            ooo_fin: None,
            opts: Negotiated {
                snd_mss,
                snd_wscale: 0,
                rcv_wscale,
                wscale_ok: cfg.window_scaling,
                sack: cfg.sack,
                timestamps: cfg.timestamps,
            },
            rcv_mss,
            ts_offset: o.ts_offset,
            ts_recent: 0,
            ts_recent_at: o.now,
            last_ack_sent: SeqNum(0),
            rtt: RttEstimator::new(cfg.rto_initial, cfg.rto_min, cfg.rto_max),
            rtt_probe: None,
            cc: Controller::new(cfg.congestion, u32::from(snd_mss)),
            sack: Scoreboard::default(),
            // RecoveryPoint starts at the ISS: comparisons are modular, so a zero could
            // lie "ahead" of SND.UNA and block the first fast retransmit.
            recovery: Recovery { recover: o.iss, high_rxt: o.iss, ..Recovery::default() },
            rtx_now: None,
            retries: 0,
            ack_state: AckState::Idle,
            unacked_bytes: 0,
            probe_now: false,
            rst_now: false,
            rst_reply: None,
            sws_override: false,
            synack_now: false,
            rtx_at: None,
            delack_at: None,
            persist_at: None,
            persist_probes: 0,
            tlp: TailProbe::default(),
            pacing: pacing::Pacing::default(),
            records: RecordEnds::default(),
            snd_sml: o.iss,
            user_timeout: None,
            notsent_lowat: o.opts.notsent_lowat.or(cfg.notsent_lowat),
            syn_retries: o.opts.syn_retries,
            pmtud: o.opts.path_mtu_discovery,
            retransmitted: Scoreboard::default(),
            chrono: chrono::Chrono::default(),
            rack: rack::Rack::default(),
            dsack: None,
            cork: cork::Cork::default(),
            stalled_since: Instant::ZERO,
            keepalive: cfg.keepalive,
            keepalive_at: None,
            release_at: None,
            keepalive_probes: 0,
            close_at: None,
            nodelay: cfg.nodelay,
            ttl: cfg.ttl,
            tos: 0,
            quickack: false,
            quick_acks_left: QUICK_ACKS,
            interactive: false,
            data_rcv_at: None,
            rcv_seg_max: 0,
            soft_error: None,
            last_oow_ack: None,
            activity: Activity::new(o.now),
            cwnd_use: CwndUse::new(o.iss),
            fast_open: None,
        }
    }

    /// An active open (RFC 9293 §3.10.1): SYN-SENT, with the SYN owed.
    pub(crate) fn connect(o: Open<'_>) -> Self {
        let mut c = Connection::new(o, State::SynSent);
        c.owned = true;
        c
    }

    /// A passive open from a listener's SYN (RFC 9293 §3.10.7.2): SYN-RECEIVED, SYN-ACK owed.
    pub(crate) fn accept_syn(o: Open<'_>, seq: SeqNum, window: u16, options: &TcpOptions, listener: u32) -> Self {
        let cfg = o.cfg;
        let now = o.now;
        let mut c = Connection::new(o, State::SynReceived);
        c.listener = Some(listener);
        c.irs = seq;
        c.rcv_nxt = seq + 1;
        c.rcv_adv = c.rcv_nxt;
        c.negotiate(cfg, options, now);
        // SYN windows are never scaled (RFC 7323 §2.2).
        c.snd_wnd = u32::from(window);
        c.max_snd_wnd = c.snd_wnd;
        c.snd_wl1 = seq;
        c
    }

    /// A connection whose handshake a SYN cookie carried (RFC 4987 §3.6): SYN-RECEIVED as
    /// if its SYN-ACK (ISS `o.iss`) had just gone out, with the options the cookie kept and
    /// the peer's TSval `peer_ts` when timestamps are in use. The ACK that returned the
    /// cookie is then processed as any third ACK.
    pub(crate) fn from_cookie(o: Open<'_>, peer_isn: SeqNum, opts: &CookieOptions, peer_ts: Option<u32>, listener: u32) -> Self {
        let cfg = o.cfg;
        let now = o.now;
        let mut c = Connection::new(o, State::SynReceived);
        c.listener = Some(listener);
        c.irs = peer_isn;
        c.rcv_nxt = peer_isn + 1;
        // The cookie SYN-ACK advertised the unscaled buffer (RFC 7323 §2.2).
        c.rcv_adv = c.rcv_nxt + c.rx.window().min(65_535);
        c.last_ack_sent = c.rcv_nxt;
        let options = TcpOptions {
            mss: Some(opts.mss),
            window_scale: opts.wscale,
            sack_permitted: opts.sack,
            timestamps: peer_ts.map(|val| Timestamps { val, ecr: 0 }),
            ..TcpOptions::default()
        };
        c.negotiate(cfg, &options, now);
        c.snd_nxt = c.iss + 1;
        c.snd_max = c.snd_nxt;
        c.snd_wl1 = peer_isn;
        c
    }

    /// Takes the data of a Fast Open SYN (RFC 7413 §4.2.2): it is acknowledged by the
    /// SYN-ACK and readable before the handshake completes. False if there was none or it
    /// did not fit (the client then sends it again after the handshake).
    pub(crate) fn take_syn_data(&mut self, data: &[u8]) -> bool {
        if !data.is_empty() && let RxInsert::InOrder(n) = self.rx.insert(self.rcv_nxt, self.rcv_nxt, data) {
            self.rcv_nxt += n;
            self.rcv_adv = self.rcv_adv.max(self.rcv_nxt);
            self.activity.bytes_received += n as u64;
            self.events.set(Events::READABLE);
            return n > 0;
        }
        false
    }

    /// The MSS this side announces.
    pub(crate) fn rcv_mss(&self) -> u16 {
        self.rcv_mss
    }

    /// A Fast Open connection that may send before its handshake completes.
    fn sends_early(&self) -> bool {
        self.state == State::SynReceived && self.fast_open.as_ref().is_some_and(|f| f.accepted)
    }

    /// Applies the options of the peer's SYN (RFC 9293 §3.7.1, RFC 7323 §1.3, RFC 2018 §2):
    /// each one in use only if both sides offered it (ours as the connection was opened,
    /// whatever the shard's settings are now).
    fn negotiate(&mut self, cfg: &Config, options: &TcpOptions, now: Instant) {
        let peer_mss = options.mss.unwrap_or(default_peer_mss(self.remote.ip())).max(64);
        // Ours (the MTU's, or the socket's clamp) bounds what we send too, as Linux's
        // mss_clamp does.
        self.opts.snd_mss = peer_mss.min(self.rcv_mss);
        match options.window_scale {
            Some(ws) if self.opts.wscale_ok => {
                // RFC 7323 §2.3: a shift above 14 is used as 14.
                self.opts.snd_wscale = ws.min(14);
            }
            _ => {
                self.opts.wscale_ok = false;
                self.opts.snd_wscale = 0;
                self.opts.rcv_wscale = 0;
            }
        }
        self.opts.sack = self.opts.sack && options.sack_permitted;
        match options.timestamps {
            Some(ts) if self.opts.timestamps => {
                self.opts.timestamps = true;
                self.ts_recent = ts.val;
                self.ts_recent_at = now;
            }
            _ => self.opts.timestamps = false,
        }
        self.cc = Controller::new(cfg.congestion, u32::from(self.eff_mss()));
    }

    /// Payload bytes per full segment: the peer's MSS less our per-segment options
    /// (RFC 6691: the MSS does not count options).
    pub(crate) fn eff_mss(&self) -> u16 {
        let ts = if self.opts.timestamps { 12 } else { 0 };
        self.opts.snd_mss.saturating_sub(ts).max(1)
    }

    /// Enough to answer for this connection in TIME-WAIT without the control block:
    /// SND.NXT, RCV.NXT and TS.Recent (when timestamps are in use).
    pub(crate) fn time_wait_view(&self) -> (SeqNum, SeqNum, Option<u32>) {
        (self.snd_nxt, self.rcv_nxt, self.opts.timestamps.then_some(self.ts_recent))
    }

    /// Frees what TIME-WAIT does not need: buffers, SACK state, and every timer but the
    /// 2·MSL one. Data not yet read stays readable.
    fn release_for_time_wait(&mut self) {
        self.tx.release();
        self.rx.clear_out_of_order();
        self.sack = Scoreboard::default();
        self.rtx_at = None;
        self.persist_at = None;
        self.keepalive_at = None;
        self.delack_at = None;
        self.rtt_probe = None;
    }

    /// The application let go of the connection. An orphan may not wait in FIN-WAIT-2
    /// forever (Linux `tcp_fin_timeout`).
    pub(crate) fn orphaned(&mut self, now: Instant, fin_wait2_timeout: Duration) {
        if self.state == State::FinWait2 {
            self.close_at = Some(now + fin_wait2_timeout);
        }
    }

    /// A RST is still owed, so the slot must outlive CLOSED a little.
    pub(crate) fn has_pending_output(&self) -> bool {
        self.rst_now || self.rst_reply.is_some()
    }

    /// An ACK is owed (in TIME-WAIT: the ACK of the peer's FIN, which the connection sends
    /// itself, with its real window, before it becomes a FIN-cache record).
    pub(crate) fn owes_ack(&self) -> bool {
        self.ack_state == AckState::Now
    }

    // ----- shared state helpers -----

    fn clear_timers(&mut self) {
        self.rtx_at = None;
        self.delack_at = None;
        self.persist_at = None;
        self.keepalive_at = None;
        self.close_at = None;
        self.pacing.waiting = false;
    }

    /// Moves to CLOSED, recording why (`None`: a normal end).
    fn enter_closed(&mut self, error: Option<Error>) {
        if let Some(e) = error {
            self.error.get_or_insert(e);
        }
        self.state = State::Closed;
        self.clear_timers();
        self.tx.release();
        self.rx.clear_out_of_order();
        self.events.set(Events::CLOSED | Events::READABLE | Events::WRITABLE);
    }

    fn enter_time_wait(&mut self, ctx: &mut Ctx<'_>) {
        ctx.stats.time_wait_entered += 1;
        self.state = State::TimeWait;
        self.release_for_time_wait();
        // The shard turns the connection into a FIN-cache record as soon as its last ACK
        // is out; this timer only matters for a connection that cannot become one.
        self.close_at = Some(ctx.now + ctx.cfg.fin_cache.duration(MslClass::Remote));
        self.events.set(Events::WRITABLE);
    }

    /// Data bytes sent and not yet acknowledged, excluding SYN and FIN.
    fn flight_size(&self) -> u32 {
        (self.snd_max - self.snd_una) as u32
    }

    /// End of queued data in sequence space.
    fn tx_end(&self) -> SeqNum {
        self.tx_seq + self.tx.len()
    }

    /// Sequence number of our FIN, once queued.
    fn fin_seq(&self) -> Option<SeqNum> {
        self.fin_queued.then(|| self.tx_end())
    }

    /// Receive window advertised and not yet filled: memory the peer may claim at once.
    pub(crate) fn promise(&self) -> usize {
        if self.state.can_receive() { self.rcv_adv - self.rcv_nxt } else { 0 }
    }

    /// The earliest deadline of this connection.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        [self.rtx_at, self.tlp.at, self.rack.at, self.delack_at, self.persist_at, self.keepalive_at, self.close_at, self.release_at, self.pacing.timer()].into_iter().flatten().min()
    }

    fn ts_now(&self, now: Instant) -> u32 {
        (now.as_millis() as u32).wrapping_add(self.ts_offset)
    }

    fn arm_rtx(&mut self, now: Instant) {
        if self.rtx_at.is_none() {
            self.rtx_at = Some(now + self.rtt.rto());
        }
    }

    fn restart_keepalive(&mut self, now: Instant) {
        if let Some(k) = self.keepalive {
            self.keepalive_at = Some(now + k.idle);
            self.keepalive_probes = 0;
        }
    }
}

/// ACKs sent at once for the first data segments of a connection, as Linux's quick-ACK
/// mode does (up to 16): while the peer's congestion window is small, each delayed ACK
/// would hold its slow start back by the delayed-ACK time.
const QUICK_ACKS: u8 = 16;
