//! Congestion control behind one trait: RFC 9438 CUBIC (the default, in Linux's integer
//! form) and
//! RFC 5681 NewReno. The connection owns loss detection and recovery (RFC 6675 / 6582);
//! a controller only decides how the window moves on acks, congestion events and timeouts.

mod cubic;
mod hystart;
mod newreno;

pub use cubic::Cubic;
pub use newreno::NewReno;

use core::time::Duration;

use crate::config::CongestionAlgorithm;
use crate::time::Instant;

/// RFC 5681 §3.1 / RFC 6928 initial window: 10 segments, as Linux uses.
pub(crate) const INITIAL_WINDOW_SEGMENTS: u32 = 10;

// Slow start, in both controllers: cwnd grows by every byte an ACK newly acknowledges, up
// to ssthresh, and what is left over counts towards congestion avoidance. RFC 3465 §2.3
// bounds the growth per ACK (L = 2·SMSS) against the bursts a stretch or divided ACK
// could cause; like Linux (`tcp_slow_start`) ringtcp bounds it instead by congestion
// window validation (`conn/cwnd_validation.rs`): the window grows only while it limits
// the sender, and in slow start to at most twice the largest flight of the round. So a
// receiver that acknowledges four segments at a time (GRO, LRO, ACK thinning) doubles the
// window per round trip as one that acknowledges every segment, and no ACK can grow it
// past what the network carried.

/// How a connection's congestion window responds to the network.
///
/// All sizes are in bytes. The connection calls `on_ack` only outside loss recovery.
pub trait CongestionControl {
    /// Congestion window.
    fn cwnd(&self) -> u32;
    /// Slow start threshold.
    fn ssthresh(&self) -> u32;
    /// `acked` new bytes were cumulatively acknowledged outside recovery.
    fn on_ack(&mut self, now: Instant, acked: u32, in_flight: u32);
    /// Loss detected by duplicate acks or SACK: set ssthresh and cwnd for recovery.
    fn on_congestion_event(&mut self, now: Instant, in_flight: u32);
    /// Recovery ended (RFC 6582 full ACK / RFC 6675 RecoveryPoint reached).
    fn on_recovery_exit(&mut self, now: Instant, in_flight: u32);
    /// A retransmission timeout: the window collapses to one segment (RFC 5681 §3.1).
    fn on_rto(&mut self, now: Instant, in_flight: u32);
    /// The sender MSS changed (path MTU discovery).
    fn set_mss(&mut self, mss: u32);
    /// New data goes out with nothing in flight, `idle` after data was last sent.
    fn on_transmit_start(&mut self, now: Instant, idle: Duration);
    /// The sender was idle longer than the RTO (RFC 5681 §4.1): see [`restart_window`].
    fn restart_after_idle(&mut self, idle: Duration, rto: Duration);
    /// An ACK of new data: `delay` is the age of the newest data it acknowledged (none
    /// when that data was sent twice), `snd_una` the cumulative ACK, `snd_nxt` what has
    /// been sent. CUBIC's HyStart ends slow start on a rise; others need not look.
    fn on_delay_sample(&mut self, _delay: Duration, _snd_una: crate::seq::SeqNum, _snd_nxt: crate::seq::SeqNum) {}
}

/// The window to restart with after `idle` without sending (RFC 5681 §4.1: at most the
/// restart window RW = min(IW, cwnd)), decayed as Linux's `tcp_cwnd_restart` does it
/// (RFC 2861 §3): halved once per RTO of idleness beyond the first, never below RW, so a
/// short pause keeps most of the window and a long one falls back to RW. ssthresh first
/// keeps ¾ of the old window, so slow start climbs quickly back to where the path was.
/// Returns (cwnd, ssthresh) in bytes.
pub(crate) fn restart_window(cwnd: u32, ssthresh: u32, mss: u32, idle: Duration, rto: Duration) -> (u32, u32) {
    let ssthresh = ssthresh.max(cwnd / 2 + cwnd / 4);
    let restart = cwnd.min(INITIAL_WINDOW_SEGMENTS * mss);
    let mut cwnd = cwnd;
    let mut left = idle;
    while !rto.is_zero() && left > rto && cwnd > restart {
        left -= rto;
        cwnd /= 2;
    }
    (cwnd.max(restart), ssthresh)
}

/// The controller a connection holds: a closed set, so calls dispatch without a box.
#[derive(Clone, Debug)]
pub(crate) enum Controller {
    Cubic(Cubic),
    NewReno(NewReno),
}

impl Controller {
    pub(crate) fn new(algo: CongestionAlgorithm, mss: u32) -> Self {
        match algo {
            CongestionAlgorithm::Cubic => Controller::Cubic(Cubic::new(mss)),
            CongestionAlgorithm::NewReno => Controller::NewReno(NewReno::new(mss)),
        }
    }

    fn inner(&self) -> &dyn CongestionControl {
        match self {
            Controller::Cubic(c) => c,
            Controller::NewReno(c) => c,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn CongestionControl {
        match self {
            Controller::Cubic(c) => c,
            Controller::NewReno(c) => c,
        }
    }
}

impl CongestionControl for Controller {
    fn cwnd(&self) -> u32 {
        self.inner().cwnd()
    }
    fn ssthresh(&self) -> u32 {
        self.inner().ssthresh()
    }
    fn on_ack(&mut self, now: Instant, acked: u32, in_flight: u32) {
        self.inner_mut().on_ack(now, acked, in_flight)
    }
    fn on_congestion_event(&mut self, now: Instant, in_flight: u32) {
        self.inner_mut().on_congestion_event(now, in_flight)
    }
    fn on_recovery_exit(&mut self, now: Instant, in_flight: u32) {
        self.inner_mut().on_recovery_exit(now, in_flight)
    }
    fn on_rto(&mut self, now: Instant, in_flight: u32) {
        self.inner_mut().on_rto(now, in_flight)
    }
    fn set_mss(&mut self, mss: u32) {
        self.inner_mut().set_mss(mss)
    }
    fn on_transmit_start(&mut self, now: Instant, idle: Duration) {
        self.inner_mut().on_transmit_start(now, idle)
    }
    fn on_delay_sample(&mut self, delay: Duration, snd_una: crate::seq::SeqNum, snd_nxt: crate::seq::SeqNum) {
        self.inner_mut().on_delay_sample(delay, snd_una, snd_nxt);
    }
    fn restart_after_idle(&mut self, idle: Duration, rto: Duration) {
        self.inner_mut().restart_after_idle(idle, rto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_restart_window_halves_per_rto_idle_down_to_the_initial_window() {
        let ms = Duration::from_millis;
        let mss = 1000;
        // 36 segments, idle 2 s at a 300 ms RTO: 36 → 18 → 9, floored at 10.
        assert_eq!(restart_window(36_000, u32::MAX, mss, ms(2000), ms(300)), (10_000, u32::MAX));
        // Idle 700 ms: halved twice (one RTO of the idle time per halving while more is left).
        assert_eq!(restart_window(80_000, 40_000, mss, ms(700), ms(300)), (20_000, 60_000));
        // Shorter than the RTO: nothing changes but ssthresh's memory of the window.
        assert_eq!(restart_window(80_000, 40_000, mss, ms(200), ms(300)), (80_000, 60_000));
        // A window already below IW stays.
        assert_eq!(restart_window(4_000, 2_000, mss, ms(5000), ms(300)), (4_000, 3_000));
    }
}
