//! RFC 5681 window growth with the RFC 5681 §3.1 / RFC 6582 reactions to loss.

use core::time::Duration;

use super::{CongestionControl, INITIAL_WINDOW_SEGMENTS};
use crate::time::Instant;

/// Slow start and congestion avoidance (RFC 5681 §3.1), byte-counted (RFC 3465).
#[derive(Clone, Debug)]
pub struct NewReno {
    cwnd: u32,
    ssthresh: u32,
    mss: u32,
    /// Bytes acked since cwnd last grew by one MSS in congestion avoidance.
    ca_acc: u32,
}

impl NewReno {
    /// A controller for a connection with sender MSS `mss`.
    pub fn new(mss: u32) -> Self {
        NewReno { cwnd: INITIAL_WINDOW_SEGMENTS * mss, ssthresh: u32::MAX, mss, ca_acc: 0 }
    }
}

impl CongestionControl for NewReno {
    fn cwnd(&self) -> u32 {
        self.cwnd
    }

    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    fn on_ack(&mut self, _now: Instant, acked: u32, _in_flight: u32) {
        let mut acked = acked;
        if self.cwnd < self.ssthresh {
            // Slow start (RFC 5681 §3.1); why unbounded per ACK: the note in `cc/mod.rs`.
            let grown = self.cwnd.saturating_add(acked).min(self.ssthresh);
            acked -= grown - self.cwnd;
            self.cwnd = grown;
        }
        if acked > 0 {
            // RFC 5681 §3.1 eq. 3, byte-counted: one MSS per cwnd of data acked.
            self.ca_acc = self.ca_acc.saturating_add(acked);
            if self.ca_acc >= self.cwnd {
                self.ca_acc -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(self.mss);
            }
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, in_flight: u32) {
        // RFC 5681 eq. 4: ssthresh = max(FlightSize / 2, 2*SMSS).
        self.ssthresh = (in_flight / 2).max(2 * self.mss);
        self.cwnd = self.ssthresh;
        self.ca_acc = 0;
    }

    fn on_recovery_exit(&mut self, _now: Instant, in_flight: u32) {
        // RFC 6582 §3.2 step 3, option 1: min(ssthresh, FlightSize + SMSS).
        self.cwnd = self.ssthresh.min(in_flight + self.mss).max(self.mss);
    }

    fn on_rto(&mut self, _now: Instant, in_flight: u32) {
        self.ssthresh = (in_flight / 2).max(2 * self.mss);
        self.cwnd = self.mss;
        self.ca_acc = 0;
    }

    fn set_mss(&mut self, mss: u32) {
        self.mss = mss;
        self.cwnd = self.cwnd.max(mss);
    }

    fn on_transmit_start(&mut self, _now: Instant, _idle: Duration) {}

    fn restart_after_idle(&mut self, idle: Duration, rto: Duration) {
        (self.cwnd, self.ssthresh) = super::restart_window(self.cwnd, self.ssthresh, self.mss, idle, rto);
        self.ca_acc = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_then_avoidance_then_halving() {
        let t = Instant::ZERO;
        let mut c = NewReno::new(1000);
        assert_eq!(c.cwnd(), 10_000);
        c.on_ack(t, 1000, 0);
        assert_eq!(c.cwnd(), 11_000, "slow start: +1 MSS per MSS acked");
        c.on_congestion_event(t, 20_000);
        assert_eq!((c.ssthresh(), c.cwnd()), (10_000, 10_000));
        for _ in 0..10 {
            c.on_ack(t, 1000, 0);
        }
        assert_eq!(c.cwnd(), 11_000, "avoidance: +1 MSS per window acked");
        c.on_rto(t, 3000);
        assert_eq!((c.ssthresh(), c.cwnd()), (2000, 1000), "RTO: loss window, ssthresh floor 2 MSS");
    }
}
