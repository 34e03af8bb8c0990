//! RFC 9438 CUBIC.

use core::time::Duration;

use super::{CongestionControl, INITIAL_WINDOW_SEGMENTS};
use crate::time::Instant;

/// RFC 9438 §5: C = 0.4 and β_cubic = 0.7.
const C: f64 = 0.4;
const BETA: f64 = 0.7;
/// RFC 9438 §4.3: α_cubic = 3(1 − β) / (1 + β), so the Reno-friendly estimate grows as
/// fast as Reno with β = 0.5 on average.
const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// CUBIC window growth. Windows are kept in segments (f64) internally and reported in bytes.
#[derive(Clone, Debug)]
pub struct Cubic {
    mss: u32,
    cwnd: f64,
    ssthresh: f64,
    /// W_max: the window before the last reduction.
    w_max: f64,
    /// Start of the current congestion avoidance epoch, and K for it.
    epoch: Option<(Instant, f64)>,
    /// W_est: the Reno-friendly window (RFC 9438 §4.3).
    w_est: f64,
    /// cwnd at the start of the epoch.
    cwnd_epoch: f64,
    /// Where slow start ends before a loss does (`hystart.rs`).
    hystart: super::hystart::HyStart,
}

impl Cubic {
    /// A controller for a connection with sender MSS `mss`.
    pub fn new(mss: u32) -> Self {
        Cubic {
            mss,
            cwnd: f64::from(INITIAL_WINDOW_SEGMENTS),
            ssthresh: f64::INFINITY,
            w_max: 0.0,
            epoch: None,
            w_est: 0.0,
            cwnd_epoch: 0.0,
            hystart: super::hystart::HyStart::default(),
        }
    }

    fn bytes(&self, segments: f64) -> u32 {
        (segments * f64::from(self.mss)).round().min(f64::from(u32::MAX)) as u32
    }

    fn reduce(&mut self) {
        let cwnd = self.cwnd;
        // RFC 9438 §4.7 fast convergence: release bandwidth to newer flows.
        self.w_max = if cwnd < self.w_max { cwnd * (1.0 + BETA) / 2.0 } else { cwnd };
        // RFC 9438 §4.6: ssthresh = cwnd · β_cubic (as Linux does, rather than the flight
        // size, which understates the window of an application-limited sender).
        self.ssthresh = (cwnd * BETA).max(2.0);
        self.epoch = None;
    }
}

impl CongestionControl for Cubic {
    fn cwnd(&self) -> u32 {
        self.bytes(self.cwnd)
    }

    fn ssthresh(&self) -> u32 {
        if self.ssthresh.is_infinite() { u32::MAX } else { self.bytes(self.ssthresh) }
    }

    fn on_ack(&mut self, now: Instant, acked: u32, srtt: Option<Duration>, _in_flight: u32) {
        let mut segs = f64::from(acked) / f64::from(self.mss);
        if self.cwnd < self.ssthresh {
            // Slow start (RFC 5681 §3.1); why unbounded per ACK: the note in `cc/mod.rs`.
            let grown = (self.cwnd + segs).min(self.ssthresh);
            segs -= grown - self.cwnd;
            self.cwnd = grown;
            if segs <= 0.0 {
                return;
            }
        }
        let (start, k) = *self.epoch.get_or_insert_with(|| {
            // RFC 9438 §4.2 eq. 2: K = cbrt((W_max − cwnd_epoch) / C), zero if above W_max.
            let k = ((self.w_max - self.cwnd).max(0.0) / C).cbrt();
            (now, k)
        });
        if self.cwnd_epoch == 0.0 || now == start {
            self.cwnd_epoch = self.cwnd;
            self.w_est = self.cwnd;
            if self.w_max < self.cwnd {
                self.w_max = self.cwnd;
            }
        }
        let rtt = srtt.unwrap_or(Duration::from_millis(100)).as_secs_f64();
        let t = (now - start).as_secs_f64();
        // RFC 9438 §4.2: the target is W_cubic one RTT ahead, bounded to [cwnd, 1.5·cwnd].
        let w_cubic = C * (t + rtt - k).powi(3) + self.w_max;
        let target = w_cubic.clamp(self.cwnd, 1.5 * self.cwnd);
        // RFC 9438 §4.3: the Reno-friendly estimate.
        self.w_est += ALPHA * segs / self.cwnd;
        let w_cubic_now = C * (t - k).powi(3) + self.w_max;
        if w_cubic_now < self.w_est {
            self.cwnd = self.cwnd.max(self.w_est);
        } else {
            // RFC 9438 §4.4/4.5: grow by (target − cwnd)/cwnd per segment acked.
            self.cwnd += (target - self.cwnd) / self.cwnd * segs;
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, _in_flight: u32) {
        self.reduce();
        self.cwnd = self.ssthresh;
        self.cwnd_epoch = 0.0;
    }

    fn on_recovery_exit(&mut self, _now: Instant, _in_flight: u32) {
        // Recovery ran at cwnd = ssthresh; leave it there and let avoidance take over.
        self.cwnd = self.cwnd.max(self.ssthresh).max(2.0);
    }

    fn on_delay_sample(&mut self, delay: Duration, snd_una: crate::seq::SeqNum, snd_nxt: crate::seq::SeqNum) {
        if self.hystart.on_sample(delay, snd_una, snd_nxt, self.cwnd, self.cwnd < self.ssthresh) {
            // Linux's HyStart: slow start ends at the window that built the queue.
            self.ssthresh = self.cwnd;
        }
    }

    fn on_rto(&mut self, _now: Instant, _in_flight: u32) {
        self.hystart.restart();
        self.reduce();
        // RFC 9438 §4.8 / RFC 5681 §3.1: loss window of one segment, then slow start.
        self.cwnd = 1.0;
        self.cwnd_epoch = 0.0;
    }

    fn set_mss(&mut self, mss: u32) {
        // Keep the window the same in bytes.
        let bytes = self.cwnd * f64::from(self.mss);
        self.mss = mss.max(1);
        self.cwnd = (bytes / f64::from(self.mss)).max(1.0);
    }

    fn on_transmit_start(&mut self, now: Instant, idle: Duration) {
        // RFC 9438 §5.8 (and Linux's bictcp_cwnd_event): time without data in flight is
        // not time the curve may grow on, so the epoch moves on by the idle time.
        if let Some((start, _)) = &mut self.epoch {
            *start = (*start + idle).min(now);
        }
    }

    fn restart_after_idle(&mut self, idle: Duration, rto: Duration) {
        let (cwnd, ssthresh) = super::restart_window(self.cwnd(), self.ssthresh(), self.mss, idle, rto);
        self.cwnd = f64::from(cwnd) / f64::from(self.mss);
        if ssthresh != u32::MAX {
            self.ssthresh = f64::from(ssthresh) / f64::from(self.mss);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduces_by_beta_and_regrows_towards_w_max() {
        let mss = 1000;
        let mut c = Cubic::new(mss);
        let mut now = Instant::ZERO;
        for _ in 0..90 {
            c.on_ack(now, mss, Some(Duration::from_millis(10)), 0);
        }
        assert_eq!(c.cwnd(), 100 * mss, "slow start doubles");
        c.on_congestion_event(now, 100 * mss);
        assert_eq!(c.cwnd(), 70 * mss, "β = 0.7");
        assert_eq!(c.ssthresh(), 70 * mss);
        // K = cbrt(30 / 0.4) ≈ 4.2 s. With a 200 ms RTT the cubic curve governs (the
        // Reno-friendly estimate gains only ~0.53 segment per RTT): the window is back near
        // W_max at t = K and keeps growing past it (the convex region).
        let rtt = Duration::from_millis(200);
        let mut at_k = 0;
        for i in 1..=40 {
            now += rtt;
            let w = c.cwnd() / mss;
            for _ in 0..w {
                c.on_ack(now, mss, Some(rtt), 0);
            }
            if i == 21 {
                at_k = c.cwnd() / mss;
            }
        }
        assert!((95..=105).contains(&at_k), "near W_max at t = K: {at_k}");
        assert!(c.cwnd() / mss > 110, "probes beyond W_max: {}", c.cwnd() / mss);
    }

    #[test]
    fn short_rtt_follows_the_reno_friendly_estimate() {
        // RFC 9438 §4.3: at a 1 ms RTT, W_cubic barely moves in 100 RTTs, so the window
        // grows like Reno's: α_cubic ≈ 0.53 segment per RTT.
        let mss = 1000;
        let mut c = Cubic::new(mss);
        let mut now = Instant::ZERO;
        c.on_congestion_event(now, 100 * mss);
        let start = f64::from(c.cwnd()) / f64::from(mss);
        let rtt = Duration::from_millis(1);
        for _ in 0..100 {
            now += rtt;
            let w = c.cwnd() / mss;
            for _ in 0..w {
                c.on_ack(now, mss, Some(rtt), 0);
            }
        }
        let gained = f64::from(c.cwnd()) / f64::from(mss) - start;
        assert!((45.0..=60.0).contains(&gained), "gained {gained} segments in 100 RTTs");
    }

    #[test]
    fn idle_time_does_not_count_as_growth_time() {
        // Two controllers in congestion avoidance from the same point; one sits idle for
        // 4 s and is told so when it sends again (RFC 9438 §5.8). Acked alike afterwards,
        // they end with the same window: the idle one did not bank the 4 s of the curve.
        let mss = 1000;
        let rtt = Some(Duration::from_millis(100));
        let mut busy = Cubic::new(mss);
        busy.on_congestion_event(Instant::ZERO, 0);
        busy.on_ack(Instant::ZERO, mss, rtt, 0);
        let mut idle = busy.clone();
        let pause = Duration::from_secs(4);
        idle.on_transmit_start(Instant::ZERO + pause, pause);
        for i in 1..=20u64 {
            busy.on_ack(Instant::from_millis(100 * i), mss, rtt, 0);
            idle.on_ack(Instant::from_millis(100 * i) + pause, mss, rtt, 0);
        }
        assert_eq!(idle.cwnd(), busy.cwnd());
        let mut banked = busy.clone();
        banked.on_ack(Instant::from_millis(2000) + pause, mss, rtt, 0);
        assert!(banked.cwnd() > busy.cwnd(), "without the shift 4 s of growth arrive at once");
    }

    #[test]
    fn fast_convergence_and_rto() {
        let mut c = Cubic::new(1000);
        let t = Instant::ZERO;
        c.on_congestion_event(t, 10_000);
        c.on_congestion_event(t, 7_000);
        // second loss below the previous W_max: W_max = 7 · (1 + 0.7) / 2 = 5.95
        assert!((c.w_max - 5.95).abs() < 1e-9);
        c.on_rto(t, 4_900);
        assert_eq!(c.cwnd(), 1000);
        assert_eq!(c.ssthresh(), 3430);
    }
}
