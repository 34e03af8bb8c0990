//! HyStart's delay detection, as Linux's CUBIC runs it: slow start ends when the smallest
//! delay of a round's first samples rises clearly above the path's minimum, that is when
//! a queue starts to build, instead of when the queue overflows and a window of data is
//! lost. RFC 9406 (HyStart++) standardises the same signal and thresholds; this is
//! Linux's form (exit at once, no conservative phase), so a Linux peer sees the window it
//! expects.

use core::time::Duration;

use crate::seq::SeqNum;

/// Below this window (segments) slow start runs unchecked (Linux's hystart_low_window).
const LOW_WINDOW: f64 = 16.0;
/// Samples a round takes before its minimum is trusted (HYSTART_MIN_SAMPLES).
const MIN_SAMPLES: u32 = 8;
/// The rise that counts, an eighth of the minimum kept within 4 to 16 ms (RFC 9406 §4.2).
const RISE_MIN: Duration = Duration::from_millis(4);
const RISE_MAX: Duration = Duration::from_millis(16);

#[derive(Clone, Debug, Default)]
pub(super) struct HyStart {
    /// The round ends once this is acknowledged.
    round_end: Option<SeqNum>,
    round_min: Option<Duration>,
    samples: u32,
    /// The smallest delay seen on the connection.
    delay_min: Option<Duration>,
    /// Slow start was ended by a rise; no more checks until a timeout restarts it.
    found: bool,
}

impl HyStart {
    /// One delay sample, with the window in segments; true if slow start ends now.
    pub(super) fn on_sample(&mut self, delay: Duration, snd_una: SeqNum, snd_nxt: SeqNum, cwnd: f64, slow_start: bool) -> bool {
        let delay = delay.max(Duration::from_micros(1));
        let min = *self.delay_min.get_or_insert(delay);
        let min = if delay < min {
            self.delay_min = Some(delay);
            delay
        } else {
            min
        };
        if self.found || !slow_start || cwnd < LOW_WINDOW {
            return false;
        }
        if self.round_end.is_none_or(|end| snd_una > end) {
            self.round_end = Some(snd_nxt);
            self.round_min = None;
            self.samples = 0;
        }
        let round_min = self.round_min.map_or(delay, |m| m.min(delay));
        self.round_min = Some(round_min);
        if self.samples < MIN_SAMPLES {
            self.samples += 1;
            return false;
        }
        if round_min > min + (min / 8).clamp(RISE_MIN, RISE_MAX) {
            self.found = true;
            return true;
        }
        false
    }

    /// The smallest delay seen on the connection (CUBIC's RTT for its target).
    pub(super) fn delay_min(&self) -> Option<Duration> {
        self.delay_min
    }

    /// A timeout restarts slow start, and the search with it.
    pub(super) fn restart(&mut self) {
        self.found = false;
        self.round_end = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_whose_delays_rise_an_eighth_above_the_minimum_ends_slow_start() {
        let ms = Duration::from_millis;
        let mut h = HyStart::default();
        let (una, nxt) = (SeqNum(0), SeqNum(100_000));
        // The minimum: 200 ms, while the window is small.
        assert!(!h.on_sample(ms(200), una, nxt, 10.0, true));
        // A round at 240 ms: eight samples to trust it, the ninth decides (rise 40 ms >
        // 16 ms, the cap of an eighth of 200 ms).
        for i in 0..8u32 {
            assert!(!h.on_sample(ms(240), una + 1 + i as usize, nxt, 20.0 + f64::from(i), true), "sample {i}");
        }
        assert!(h.on_sample(ms(240), una + 9, nxt, 28.0, true));
        assert!(!h.on_sample(ms(300), una + 10, nxt, 28.0, true), "once found, no more");
    }

    #[test]
    fn a_steady_delay_lets_slow_start_run() {
        let ms = Duration::from_millis;
        let mut h = HyStart::default();
        for i in 0..40u32 {
            assert!(!h.on_sample(ms(200) + Duration::from_micros(u64::from(i) * 100), SeqNum(i), SeqNum(1000), 20.0, true));
        }
    }
}
