//! Congestion control behind one trait: RFC 9438 CUBIC (the default, as on Linux) and
//! RFC 5681 NewReno. The connection owns loss detection and recovery (RFC 6675 / 6582);
//! a controller only decides how the window moves on acks, congestion events and timeouts.

mod cubic;
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
    fn on_ack(&mut self, now: Instant, acked: u32, srtt: Option<Duration>, in_flight: u32);
    /// Loss detected by duplicate acks or SACK: set ssthresh and cwnd for recovery.
    fn on_congestion_event(&mut self, now: Instant, in_flight: u32);
    /// Recovery ended (RFC 6582 full ACK / RFC 6675 RecoveryPoint reached).
    fn on_recovery_exit(&mut self, now: Instant, in_flight: u32);
    /// A retransmission timeout: the window collapses to one segment (RFC 5681 §3.1).
    fn on_rto(&mut self, now: Instant, in_flight: u32);
    /// The sender MSS changed (path MTU discovery).
    fn set_mss(&mut self, mss: u32);
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
    fn on_ack(&mut self, now: Instant, acked: u32, srtt: Option<Duration>, in_flight: u32) {
        self.inner_mut().on_ack(now, acked, srtt, in_flight)
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
}
