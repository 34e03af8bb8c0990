//! Receive-buffer autotuning (Linux's `tcp_rcv_space_adjust`, "dynamic right-sizing"):
//! a connection starts with `Config::rx_buffer` and, while the application takes what
//! arrives as fast as it arrives, the buffer (and with it the most window offered) grows
//! to twice what the application took in a round trip, up to `Config::rx_buffer_max`. A
//! bulk transfer over a path whose bandwidth-delay product exceeds the initial buffer is
//! then not held to one buffer per round trip, while a slow reader, which never takes
//! much in a round trip, keeps the initial bound: the buffer follows what the reader
//! proves, not what the sender pushes. A socket with its own receive buffer size
//! (`SO_RCVBUF`) keeps it, as on Linux.

use core::time::Duration;

use super::{Connection, MemoryState};
use crate::config::Config;
use crate::options::SocketOptions;
use crate::seq::SeqNum;
use crate::time::Instant;

/// Thirty-two bytes in every connection.
#[derive(Clone, Copy, Debug)]
pub(super) struct RxAutotune {
    /// The most the buffer may grow to; zero: no autotuning.
    max: u32,
    /// Bytes the application took since `since`.
    copied: u32,
    /// Start of the round trip being measured (`Instant::ZERO` before the first read).
    since: Instant,
    /// The receiver's round-trip time, in microseconds (zero: not measured yet): the
    /// time a window of data takes to arrive (Linux's `tcp_rcv_rtt_measure`). A
    /// receiver's own RTT estimate may be one handshake sample, far below what a loaded
    /// path takes; this one follows the data.
    rcv_rtt_us: u32,
    /// The right edge of the window offered when the measurement began, and when.
    rtt_edge: SeqNum,
    rtt_start: Instant,
}

impl RxAutotune {
    /// Growth up to `max` bytes (zero turns it off).
    pub(super) fn new(max: usize) -> RxAutotune {
        RxAutotune {
            max: u32::try_from(max).unwrap_or(u32::MAX),
            copied: 0,
            since: Instant::ZERO,
            rcv_rtt_us: 0,
            rtt_edge: SeqNum(0),
            rtt_start: Instant::ZERO,
        }
    }
}

impl Connection {
    /// The application took `n` bytes from the receive buffer. Once a round trip has
    /// passed since the last look, the buffer grows to twice what it took meanwhile plus
    /// sixteen segments (Linux's `rcvwin`), if that is more than it is.
    pub(super) fn rx_taken(&mut self, n: usize, now: Instant) {
        let t = &mut self.rx_autotune;
        if t.max == 0 {
            return;
        }
        let measured = (t.rcv_rtt_us > 0).then(|| Duration::from_micros(u64::from(t.rcv_rtt_us)));
        let Some(rtt) = measured.or(self.rtt.srtt()) else { return };
        t.copied = t.copied.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
        if t.since == Instant::ZERO {
            t.since = now;
        }
        if now.saturating_duration_since(t.since) < rtt {
            return;
        }
        let target = (2 * t.copied as usize + 16 * usize::from(self.rcv_mss)).min(t.max as usize);
        t.copied = 0;
        t.since = now;
        // Under memory pressure windows shrink; they do not grow (Linux's check too).
        if self.mem == MemoryState::Normal && target > self.rx.capacity() {
            self.rx.grow_capacity(target);
        }
    }

    /// In-order data arrived (RCV.NXT has moved): once RCV.NXT reaches the right edge
    /// offered when the measurement began, the time it took is a sample; the estimate
    /// keeps the smallest (a window can take longer than a round trip to fill, never
    /// less), and a new measurement begins at the edge offered now.
    pub(super) fn rcv_rtt_measure(&mut self, now: Instant) {
        let t = &mut self.rx_autotune;
        if t.max == 0 {
            return;
        }
        if t.rtt_start != Instant::ZERO {
            if self.rcv_nxt < t.rtt_edge {
                return;
            }
            let us = u32::try_from(now.saturating_duration_since(t.rtt_start).as_micros()).unwrap_or(u32::MAX).max(1);
            t.rcv_rtt_us = if t.rcv_rtt_us == 0 { us } else { t.rcv_rtt_us.min(us) };
        }
        t.rtt_edge = self.rcv_adv.max(self.rcv_nxt + 1);
        t.rtt_start = now;
    }
}

/// The most a connection's receive buffer may hold: the socket's own size where it set
/// one, else the configured autotuning bound (or the initial buffer, if larger). Its
/// window scale must reach this far, in a SYN-ACK from state and from a cookie alike.
pub(crate) fn rx_buffer_bound(cfg: &Config, opts: &SocketOptions) -> usize {
    let rx = opts.rx(cfg.rx_buffer);
    if opts.rx_buffer.is_none() { rx.max(cfg.rx_buffer_max) } else { rx }
}

/// The window scale (RFC 7323 §2.3) that lets a window field reach `buffer` bytes.
pub(crate) fn window_shift(buffer: usize) -> u8 {
    let mut shift = 0u8;
    while shift < 14 && (buffer >> shift) > 65_535 {
        shift += 1;
    }
    shift
}
