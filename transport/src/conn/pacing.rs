//! Pacing (`Config::pacing`): data segments leave spaced at a rate drawn from the
//! congestion window and the smoothed RTT, instead of in bursts as ACKs free the window.
//! A burst fills the queues of the path at once (and is what a shallow buffer drops);
//! spaced, the same window reaches the receiver without the spike.
//!
//! The rate and the spacing are Linux's (`tcp_update_pacing_rate`, and the departure time
//! each segment is given in `tcp_update_skb_after_send`, which its fq qdisc then holds it
//! to): 200 % of cwnd · MSS / SRTT while cwnd is below half of ssthresh (slow start, which
//! must be able to double the rate each round trip), 120 % after, so the flight keeps up
//! with the window and the window stays the limit; the first ten segments of a connection
//! go unpaced (no RTT to pace by), and a segment sent late (the next one's time had passed
//! when data or window came) gets up to half of its own gap as credit, so that ACK
//! clocking at a slightly late timer does not lose rate. Pacing holds data segments only,
//! first transmissions and retransmissions alike; ACKs, RSTs and SYNs go at once.

use core::time::Duration;

use super::{Connection, Ctx};
use crate::cc::CongestionControl;
use crate::time::Instant;

/// Segments a connection sends before pacing starts (Linux: `data_segs_out >= 10`).
const UNPACED_SEGMENTS: u8 = 10;
/// Pacing rate in percent of cwnd · MSS / SRTT: slow start, then congestion avoidance
/// (Linux's `tcp_pacing_ss_ratio` and `tcp_pacing_ca_ratio`).
const SLOW_START_RATIO: u64 = 200;
const AVOIDANCE_RATIO: u64 = 120;

/// A connection's pacing state.
#[derive(Debug, Default)]
pub(super) struct Pacing {
    /// When the next data segment may leave (`Instant::ZERO`: at once).
    next: Instant,
    /// Data waits for `next`: the connection's timer wakes it then.
    pub(super) waiting: bool,
    /// Data segments sent so far, up to [`UNPACED_SEGMENTS`] (kept small: every
    /// connection carries this).
    segments: u8,
}

impl Pacing {
    /// When the connection's pacing timer fires, while data waits for it.
    pub(super) fn timer(&self) -> Option<Instant> {
        self.waiting.then_some(self.next)
    }
}

impl Connection {
    /// True if pacing holds data back now; arms the timer for when it may go.
    pub(super) fn pacing_holds(&mut self, ctx: &Ctx<'_>) -> bool {
        if !ctx.cfg.pacing {
            return false;
        }
        if self.pacing.next > ctx.now {
            self.pacing.waiting = true;
            return true;
        }
        false
    }

    /// A data segment of `len` payload bytes (`segments` on the wire) left now: sets when
    /// the next may follow.
    pub(super) fn paced(&mut self, ctx: &Ctx<'_>, len: usize, segments: usize) {
        if !ctx.cfg.pacing {
            return;
        }
        // What waited has gone; a hold after this arms the timer anew.
        self.pacing.waiting = false;
        let segments = u8::try_from(segments).unwrap_or(u8::MAX);
        self.pacing.segments = self.pacing.segments.saturating_add(segments).min(UNPACED_SEGMENTS);
        let prior = self.pacing.next;
        let left = prior.max(ctx.now);
        self.pacing.next = left;
        let Some(rate) = self.pacing_rate() else { return };
        if self.pacing.segments < UNPACED_SEGMENTS || rate == 0 {
            return;
        }
        let gap = (len as u128 * 1_000_000_000 / u128::from(rate)) as u64;
        // Up to half the gap is forgiven to a segment that left late.
        let late = (left - prior).as_nanos() as u64;
        let gap = gap - (gap / 2).min(late);
        self.pacing.next = left + Duration::from_nanos(gap);
    }

    /// Bytes per second, or `None` before the first RTT sample (nothing to pace by).
    fn pacing_rate(&self) -> Option<u64> {
        let srtt = self.rtt.srtt()?.as_micros().max(1) as u64;
        let mss = u64::from(self.eff_mss()).max(1);
        let cwnd = u64::from(self.cc.cwnd()) / mss;
        let ratio = if cwnd < u64::from(self.cc.ssthresh()) / mss / 2 { SLOW_START_RATIO } else { AVOIDANCE_RATIO };
        let in_flight = (self.snd_nxt - self.snd_una) as u64 / mss;
        Some(mss * ratio * cwnd.max(in_flight) * 10_000 / srtt)
    }
}
