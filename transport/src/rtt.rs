//! Retransmission timeout estimation (RFC 6298).

use core::time::Duration;

/// SRTT / RTTVAR / RTO per RFC 6298 §2, with exponential backoff (§5.5).
#[derive(Clone, Debug)]
pub(crate) struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    min: Duration,
    max: Duration,
    backoff: u32,
    /// The smallest sample so far (reported, not used for the RTO).
    min_sample: Option<Duration>,
}

/// Clock granularity G of RFC 6298 §2: our clock is nanoseconds, so only the floor matters.
const GRANULARITY: Duration = Duration::from_millis(1);

impl RttEstimator {
    pub(crate) fn new(initial: Duration, min: Duration, max: Duration) -> Self {
        RttEstimator { srtt: None, rttvar: Duration::ZERO, rto: initial.clamp(min, max), min, max, backoff: 0, min_sample: None }
    }

    /// Feeds one measurement (taken per Karn's algorithm: never from a retransmission).
    pub(crate) fn sample(&mut self, r: Duration) {
        self.min_sample = Some(self.min_sample.map_or(r, |m| m.min(r)));
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(r);
                self.rttvar = self.rttvar * 3 / 4 + delta / 4;
                self.srtt = Some(srtt * 7 / 8 + r / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(r);
        // RFC 6298 §2.3 is RTO = SRTT + max(G, 4·RTTVAR), at least 1 s (§2.4). Like Linux,
        // ringtcp floors the variation term at the minimum RTO instead (200 ms by default):
        // RTO = SRTT + max(4·RTTVAR, RTO.min). The margin over the path's own round trip
        // never drops below the minimum (a 100 ms path times out after 300 ms, not 200 ms,
        // once its RTT settles), so a delayed ACK or a scheduling hiccup on a long path does
        // not cause a spurious timeout, while a short path still recovers in ~200 ms.
        self.rto = (srtt + GRANULARITY.max(self.rttvar * 4).max(self.min)).min(self.max);
        // RFC 6298 §5.7: a new sample after backoff collapses the backoff.
        self.backoff = 0;
    }

    /// The current RTO with backoff applied.
    pub(crate) fn rto(&self) -> Duration {
        let factor = 1u32 << self.backoff.min(16);
        (self.rto * factor).min(self.max)
    }

    /// RFC 6298 §5.5: double the RTO after a timeout.
    pub(crate) fn back_off(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    pub(crate) fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    pub(crate) fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    pub(crate) fn rttvar(&self) -> Duration {
        self.rttvar
    }

    pub(crate) fn min_rtt(&self) -> Option<Duration> {
        self.min_sample
    }

    /// Timeouts in a row the RTO is backed off for.
    pub(crate) fn backoff(&self) -> u32 {
        self.backoff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_rfc6298_formulas() {
        let ms = Duration::from_millis;
        let mut e = RttEstimator::new(ms(1000), ms(200), ms(60_000));
        assert_eq!(e.rto(), ms(1000));
        e.sample(ms(100));
        // SRTT = 100, RTTVAR = 50, RTO = 100 + 200 = 300
        assert_eq!(e.rto(), ms(300));
        e.sample(ms(200));
        // RTTVAR = 37.5 + 25 = 62.5, SRTT = 87.5 + 25 = 112.5, RTO = 112.5 + 250 = 362.5
        assert_eq!(e.rto(), Duration::from_micros(362_500));
        e.back_off();
        e.back_off();
        assert_eq!(e.rto(), Duration::from_micros(1_450_000));
        for _ in 0..30 {
            e.back_off();
        }
        assert_eq!(e.rto(), ms(60_000));
        e.sample(ms(112));
        assert!(e.rto() < ms(400), "a new sample clears the backoff: {:?}", e.rto());

        let mut fast = RttEstimator::new(ms(1000), ms(200), ms(60_000));
        fast.sample(Duration::from_micros(50));
        assert_eq!(fast.rto(), Duration::from_micros(200_050), "the variation term floored at the minimum");

        // A settled 100 ms path: the margin stays the minimum, not the RTT's own jitter.
        let mut steady = RttEstimator::new(ms(1000), ms(200), ms(60_000));
        for _ in 0..50 {
            steady.sample(ms(100));
        }
        assert_eq!(steady.rto(), ms(300));
        assert_eq!(steady.min_rtt(), Some(ms(100)));
    }
}
