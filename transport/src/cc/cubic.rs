//! CUBIC (RFC 9438) in the integer form Linux runs it (`net/ipv4/tcp_cubic.c`): the window
//! in whole segments, time in 1/1024 s, the cubic term in fixed point, and growth as "one
//! segment more per `cnt` segments acknowledged", with `cnt` recomputed at most once a
//! millisecond. RFC 9438 leaves the arithmetic to the implementation; this one gives a
//! Linux peer (and packetdrill's CUBIC scripts) the windows Linux would have.

use core::time::Duration;

use super::{CongestionControl, INITIAL_WINDOW_SEGMENTS};
use crate::time::Instant;

const BETA_SCALE: u32 = 1024;
/// RFC 9438 §4.6: β_cubic = 0.7, as 717/1024.
const BETA: u32 = 717;
/// RFC 9438 §5: C = 0.4, as 410/1024.
const C_SCALED: u128 = 410;
/// Time is counted in 1/2^10 s.
const TIME_SHIFT: u32 = 10;
/// K in time units is the cube root of (W_max − cwnd) × this: 2^40 / 410.
const CUBE_FACTOR: u64 = (1 << (10 + 3 * TIME_SHIFT)) / C_SCALED as u64;
/// RFC 9438 §4.3: the Reno-friendly estimate gains one segment per `cwnd × RENO / 8`
/// segments acknowledged, 8(1 + β) / (3(1 − β)) = 15 in this scale (α_cubic ≈ 0.53).
const RENO: u32 = 8 * (BETA_SCALE + BETA) / 3 / (BETA_SCALE - BETA);
/// Before the first reduction the window grows at least 5 % a round trip (one segment per
/// 20 acknowledged), as Linux's does while the path's capacity is unknown.
const FIRST_EPOCH_CNT: u32 = 20;
/// `cnt` is kept at least this long (ms) while the window stays the same (Linux: HZ/32).
const RECOMPUTE_MS: u64 = 1000 / 32;

/// A congestion-avoidance epoch: when it began (ms), K (1/1024 s) and the origin point
/// W_max of the cubic curve (segments).
#[derive(Clone, Copy, Debug)]
struct Epoch {
    start_ms: u64,
    k: u64,
    origin: u32,
}

/// CUBIC window growth. Windows are kept in segments internally and reported in bytes.
#[derive(Clone, Debug)]
pub struct Cubic {
    mss: u32,
    /// The window, in segments.
    cwnd: u32,
    /// The slow-start threshold, in segments (`u32::MAX`: none yet).
    ssthresh: u32,
    /// Acknowledged bytes short of a whole segment, carried to the next ACK.
    partial: u32,
    /// Segments acknowledged towards the next one-segment increase.
    cwnd_cnt: u32,
    /// Segments to acknowledge per one-segment increase.
    cnt: u32,
    /// W_max: the window before the last reduction (0: none since the start or a timeout).
    w_max: u32,
    /// The window and time (ms) `cnt` was last computed for.
    last_cwnd: u32,
    last_ms: u64,
    epoch: Option<Epoch>,
    /// Segments acknowledged this epoch not yet turned into growth of `w_est`.
    ack_cnt: u32,
    /// W_est: the Reno-friendly window (RFC 9438 §4.3).
    w_est: u32,
    /// Where slow start ends before a loss does (`hystart.rs`).
    hystart: super::hystart::HyStart,
}

/// The integer cube root of `a`, rounded down.
fn cube_root(a: u64) -> u64 {
    let mut x = (a as f64).cbrt() as u64;
    // The float estimate can be one off either way near exact cubes.
    while x > 0 && u128::from(x).pow(3) > u128::from(a) {
        x -= 1;
    }
    while u128::from(x + 1).pow(3) <= u128::from(a) {
        x += 1;
    }
    x
}

impl Cubic {
    /// A controller for a connection with sender MSS `mss`.
    pub fn new(mss: u32) -> Self {
        Cubic {
            mss: mss.max(1),
            cwnd: INITIAL_WINDOW_SEGMENTS,
            ssthresh: u32::MAX,
            partial: 0,
            cwnd_cnt: 0,
            cnt: 0,
            w_max: 0,
            last_cwnd: 0,
            last_ms: 0,
            epoch: None,
            ack_cnt: 0,
            w_est: 0,
            hystart: super::hystart::HyStart::default(),
        }
    }

    fn bytes(&self, segments: u32) -> u32 {
        segments.saturating_mul(self.mss)
    }

    /// The largest window whose size in bytes a `u32` holds.
    fn max_cwnd(&self) -> u32 {
        u32::MAX / self.mss
    }

    /// A reduction: W_max (with RFC 9438 §4.7 fast convergence, releasing bandwidth to
    /// newer flows), and ssthresh = cwnd · β_cubic (§4.6; of the window, as Linux does,
    /// rather than the flight size, which understates an application-limited sender's).
    fn reduce(&mut self) {
        let cwnd = self.cwnd;
        self.epoch = None;
        // In u64: a window of millions of segments times 1,741 is past u32.
        let scaled = |num: u32, den: u32| (u64::from(cwnd) * u64::from(num) / u64::from(den)) as u32;
        self.w_max = if cwnd < self.w_max { scaled(BETA_SCALE + BETA, 2 * BETA_SCALE) } else { cwnd };
        self.ssthresh = scaled(BETA, BETA_SCALE).max(2);
        self.cwnd_cnt = 0;
    }

    /// Recomputes `cnt` for an ACK of `acked` segments in congestion avoidance.
    fn update(&mut self, now: Instant, acked: u32) {
        let now_ms = now.as_millis();
        self.ack_cnt = self.ack_cnt.saturating_add(acked);
        if self.last_cwnd == self.cwnd && now_ms.saturating_sub(self.last_ms) <= RECOMPUTE_MS {
            return;
        }
        // The cubic target at most once a millisecond; the Reno-friendly bound always.
        if self.epoch.is_none() || now_ms != self.last_ms {
            self.last_cwnd = self.cwnd;
            self.last_ms = now_ms;
            let epoch = match self.epoch {
                Some(e) => e,
                None => {
                    self.ack_cnt = acked;
                    self.w_est = self.cwnd;
                    // RFC 9438 §4.2 eq. 2: K = cbrt((W_max − cwnd) / C), zero at or above W_max.
                    let e = if self.w_max <= self.cwnd {
                        Epoch { start_ms: now_ms, k: 0, origin: self.cwnd }
                    } else {
                        Epoch { start_ms: now_ms, k: cube_root(CUBE_FACTOR * u64::from(self.w_max - self.cwnd)), origin: self.w_max }
                    };
                    self.epoch = Some(e);
                    e
                }
            };
            // RFC 9438 §4.2: the target is W_cubic one RTT ahead (the path's minimum RTT,
            // rounded up to a millisecond, as Linux takes it).
            let rtt_ms = self.hystart.delay_min().map_or(0, |d| d.as_micros().div_ceil(1000) as u64);
            let t = ((now_ms.saturating_sub(epoch.start_ms) + rtt_ms) << TIME_SHIFT) / 1000;
            // Bounded (some 34 years) so that its cube stays within u128.
            let offs = u128::from(t.abs_diff(epoch.k).min(1 << 40));
            let delta = ((C_SCALED * offs * offs * offs) >> (10 + 3 * TIME_SHIFT)).min(u128::from(u32::MAX)) as u32;
            let target = if t < epoch.k { epoch.origin.saturating_sub(delta) } else { epoch.origin.saturating_add(delta) };
            // RFC 9438 §4.4/4.5: (target − cwnd) / cwnd more per segment acknowledged.
            self.cnt = if target > self.cwnd { self.cwnd / (target - self.cwnd) } else { self.cwnd.saturating_mul(100) };
            if self.w_max == 0 {
                self.cnt = self.cnt.min(FIRST_EPOCH_CNT);
            }
        }
        // RFC 9438 §4.3: never slower than Reno would be.
        let per = (self.cwnd.saturating_mul(RENO) >> 3).max(1);
        let gained = self.ack_cnt.saturating_sub(1) / per;
        self.ack_cnt -= gained * per;
        self.w_est = self.w_est.saturating_add(gained);
        if self.w_est > self.cwnd {
            self.cnt = self.cnt.min(self.cwnd / (self.w_est - self.cwnd));
        }
        // At most one segment per two acknowledged: 1.5 times the window a round trip.
        self.cnt = self.cnt.max(2);
    }

    /// One segment more per `cnt` acknowledged (credit earned under a larger `cnt` is
    /// spent at once).
    fn grow(&mut self, acked: u32) {
        let w = self.cnt.max(1);
        if self.cwnd_cnt >= w {
            self.cwnd_cnt = 0;
            self.cwnd = self.cwnd.saturating_add(1);
        }
        self.cwnd_cnt = self.cwnd_cnt.saturating_add(acked);
        if self.cwnd_cnt >= w {
            let more = self.cwnd_cnt / w;
            self.cwnd_cnt -= more * w;
            self.cwnd = self.cwnd.saturating_add(more);
        }
        self.cwnd = self.cwnd.min(self.max_cwnd());
    }
}

impl CongestionControl for Cubic {
    fn cwnd(&self) -> u32 {
        self.bytes(self.cwnd)
    }

    fn ssthresh(&self) -> u32 {
        if self.ssthresh == u32::MAX { u32::MAX } else { self.bytes(self.ssthresh) }
    }

    fn on_ack(&mut self, now: Instant, acked: u32, _in_flight: u32) {
        let bytes = u64::from(self.partial) + u64::from(acked);
        self.partial = (bytes % u64::from(self.mss)) as u32;
        let mut segs = (bytes / u64::from(self.mss)).min(u64::from(u32::MAX)) as u32;
        if segs == 0 {
            return;
        }
        if self.cwnd < self.ssthresh {
            // Slow start (RFC 5681 §3.1); why unbounded per ACK: the note in `cc/mod.rs`.
            let grown = self.cwnd.saturating_add(segs).min(self.ssthresh).min(self.max_cwnd());
            segs -= grown.saturating_sub(self.cwnd).min(segs);
            self.cwnd = grown;
            if segs == 0 {
                return;
            }
        }
        self.update(now, segs);
        self.grow(segs);
    }

    fn on_congestion_event(&mut self, _now: Instant, _in_flight: u32) {
        self.reduce();
        self.cwnd = self.ssthresh;
    }

    fn on_recovery_exit(&mut self, _now: Instant, _in_flight: u32) {
        // Recovery ran at cwnd = ssthresh; leave it there and let avoidance take over.
        self.cwnd = self.cwnd.max(self.ssthresh).max(2);
    }

    fn on_delay_sample(&mut self, delay: Duration, snd_una: crate::seq::SeqNum, snd_nxt: crate::seq::SeqNum) {
        let slow_start = self.cwnd < self.ssthresh;
        if self.hystart.on_sample(delay, snd_una, snd_nxt, f64::from(self.cwnd), slow_start) {
            // Linux's HyStart: slow start ends at the window that built the queue.
            self.ssthresh = self.cwnd;
        }
    }

    fn on_rto(&mut self, _now: Instant, _in_flight: u32) {
        self.reduce();
        // RFC 9438 §4.8: after a timeout the first avoidance epoch starts with K = 0 and
        // W_max at its own start, which is what forgetting W_max does (Linux resets its
        // CUBIC state on a timeout alike); RFC 5681 §3.1: a loss window of one segment.
        self.w_max = 0;
        self.last_cwnd = 0;
        self.cnt = 0;
        self.hystart.restart();
        self.cwnd = 1;
    }

    fn set_mss(&mut self, mss: u32) {
        // Keep the window the same in bytes.
        let bytes = u64::from(self.cwnd) * u64::from(self.mss);
        self.mss = mss.max(1);
        self.cwnd = ((bytes / u64::from(self.mss)) as u32).clamp(1, self.max_cwnd());
    }

    fn on_transmit_start(&mut self, now: Instant, idle: Duration) {
        // RFC 9438 §5.8 (and Linux's bictcp_cwnd_event): time without data in flight is
        // not time the curve may grow on, so the epoch moves on by the idle time.
        if let Some(e) = &mut self.epoch {
            e.start_ms = (e.start_ms + idle.as_millis() as u64).min(now.as_millis());
        }
    }

    fn restart_after_idle(&mut self, idle: Duration, rto: Duration) {
        let (cwnd, ssthresh) = super::restart_window(self.cwnd(), self.ssthresh(), self.mss, idle, rto);
        self.cwnd = (cwnd / self.mss).max(1);
        if ssthresh != u32::MAX {
            self.ssthresh = ssthresh / self.mss;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Acknowledges a round trip's worth of segments, one ACK per segment, at `now`.
    fn round(c: &mut Cubic, now: Instant, mss: u32) {
        for _ in 0..c.cwnd() / mss {
            c.on_ack(now, mss, 0);
        }
    }

    #[test]
    fn reduces_by_beta_and_regrows_towards_w_max() {
        let mss = 1000;
        let mut c = Cubic::new(mss);
        let mut now = Instant::ZERO;
        for _ in 0..90 {
            c.on_ack(now, mss, 0);
        }
        assert_eq!(c.cwnd(), 100 * mss, "slow start doubles");
        c.on_congestion_event(now, 100 * mss);
        assert_eq!(c.cwnd(), 70 * mss, "β = 717/1024");
        assert_eq!(c.ssthresh(), 70 * mss);
        // K = cbrt(30 / 0.4) ≈ 4.2 s. With a 200 ms RTT the cubic curve governs (the
        // Reno-friendly estimate gains only ~0.53 segment per RTT): the window is back near
        // W_max at t = K and keeps growing past it (the convex region).
        let rtt = Duration::from_millis(200);
        let mut at_k = 0;
        for i in 1..=40 {
            now += rtt;
            round(&mut c, now, mss);
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
        for _ in 0..90 {
            c.on_ack(now, mss, 0);
        }
        c.on_congestion_event(now, 100 * mss);
        let start = c.cwnd() / mss;
        let rtt = Duration::from_millis(1);
        for _ in 0..100 {
            now += rtt;
            round(&mut c, now, mss);
        }
        let gained = c.cwnd() / mss - start;
        assert!((45..=60).contains(&gained), "gained {gained} segments in 100 RTTs");
    }

    #[test]
    fn before_any_loss_the_window_grows_at_least_five_percent_a_round() {
        // No reduction yet, so W_max is unknown: at a 100 ms RTT the cubic term adds
        // nothing for the first rounds, and the window still gains one segment per 20
        // acknowledged.
        let mss = 1000;
        let mut c = Cubic::new(mss);
        c.ssthresh = 40;
        c.cwnd = 40;
        let mut now = Instant::ZERO;
        for _ in 0..3 {
            now += Duration::from_millis(100);
            round(&mut c, now, mss);
        }
        // 40 → 42 → 44 → 46 (each round's 40-odd ACKs earn two segments).
        assert_eq!(c.cwnd() / mss, 46);
    }

    #[test]
    fn growth_is_at_most_one_segment_per_two_acknowledged() {
        // Far below W_max after a reduction, the cubic target is far above: cnt floors
        // at 2, so a window of 50 acknowledged whole grows by 25, not more.
        let mss = 1000;
        let mut c = Cubic::new(mss);
        c.cwnd = 1000;
        c.on_congestion_event(Instant::ZERO, 0);
        (c.cwnd, c.ssthresh) = (50, 50);
        let now = Instant::from_millis(60_000);
        c.on_ack(Instant::from_millis(59_000), mss, 0);
        let before = c.cwnd() / mss;
        round(&mut c, now, mss);
        assert_eq!(c.cwnd() / mss - before, before / 2);
    }

    #[test]
    fn idle_time_does_not_count_as_growth_time() {
        // Two controllers in congestion avoidance from the same point; one sits idle for
        // 4 s and is told so when it sends again (RFC 9438 §5.8). Acked alike afterwards,
        // they end with the same window: the idle one did not bank the 4 s of the curve.
        let mss = 1000;
        let mut busy = Cubic::new(mss);
        busy.cwnd = 60;
        busy.on_congestion_event(Instant::ZERO, 0);
        busy.on_ack(Instant::ZERO, mss, 0);
        let mut idle = busy.clone();
        let pause = Duration::from_secs(4);
        idle.on_transmit_start(Instant::ZERO + pause, pause);
        for i in 1..=40u64 {
            busy.on_ack(Instant::from_millis(100 * i), mss, 0);
            idle.on_ack(Instant::from_millis(100 * i) + pause, mss, 0);
        }
        assert_eq!(idle.cwnd(), busy.cwnd());
        let mut banked = busy.clone();
        for _ in 0..10 {
            banked.on_ack(Instant::from_millis(4000) + pause, mss, 0);
            busy.on_ack(Instant::from_millis(4000), mss, 0);
        }
        assert!(banked.cwnd() > busy.cwnd(), "without the shift 4 s of growth arrive at once");
    }

    #[test]
    fn fast_convergence_and_rto() {
        let mut c = Cubic::new(1000);
        let t = Instant::ZERO;
        c.on_congestion_event(t, 10_000);
        assert_eq!((c.w_max, c.cwnd()), (10, 7000));
        c.on_congestion_event(t, 7_000);
        // A second loss below the previous W_max: W_max = 7 · (1 + 0.7) / 2, in whole segments.
        assert_eq!((c.w_max, c.cwnd()), (5, 4000));
        c.on_rto(t, 4_000);
        assert_eq!((c.cwnd(), c.ssthresh()), (1000, 2000));
    }

    #[test]
    fn the_largest_windows_reduce_without_overflow() {
        let mut c = Cubic::new(88);
        c.cwnd = c.max_cwnd();
        c.w_max = u32::MAX;
        c.on_congestion_event(Instant::ZERO, 0);
        let max = u64::from(u32::MAX / 88);
        assert_eq!(u64::from(c.w_max), max * 1741 / 2048);
        assert_eq!(u64::from(c.cwnd), max * 717 / 1024);
        c.on_ack(Instant::from_millis(10), u32::MAX, 0);
        assert!(c.cwnd() <= u32::MAX);
    }

    #[test]
    fn cube_root_rounds_down() {
        for (a, r) in [(0, 0), (1, 1), (7, 1), (8, 2), (26, 2), (27, 3), (999_999, 99), (1_000_000, 100), (u64::MAX, 2_642_245)] {
            assert_eq!(cube_root(a), r, "cbrt({a})");
        }
    }
}
