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
}

/// Clock granularity G of RFC 6298 §2: our clock is nanoseconds, so only the floor matters.
const GRANULARITY: Duration = Duration::from_millis(1);

impl RttEstimator {
    pub(crate) fn new(initial: Duration, min: Duration, max: Duration) -> Self {
        RttEstimator { srtt: None, rttvar: Duration::ZERO, rto: initial.clamp(min, max), min, max, backoff: 0 }
    }

    /// Feeds one measurement (taken per Karn's algorithm: never from a retransmission).
    pub(crate) fn sample(&mut self, r: Duration) {
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
        self.rto = (srtt + GRANULARITY.max(self.rttvar * 4)).clamp(self.min, self.max);
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
        assert_eq!(fast.rto(), ms(200), "clamped to the minimum");
    }
}
