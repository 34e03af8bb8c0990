//! When each piece of new data in flight left: one entry per segment or super-segment
//! sent, oldest first. Every ACK of new data then gives a delay sample (the newest
//! acknowledged piece's age), where the RTO estimator's Karn-safe probe gives one per round
//! trip: HyStart needs several per round to see a queue build.

use std::collections::VecDeque;

use core::time::Duration;

use crate::seq::SeqNum;
use crate::time::Instant;

/// Entries kept at most; past it new pieces go unlogged (fewer samples, never more
/// memory). A full window of 1,448-byte segments at the 256 KiB default buffer is 182.
const MAX_ENTRIES: usize = 1024;
/// An emptied log keeps an allocation up to this many entries; a larger one (left by a
/// bulk transfer) is given back, so an idle connection does not hold it.
const KEEP_ENTRIES: usize = 32;

#[derive(Debug, Default)]
pub(super) struct SentLog {
    /// (first byte, end, when sent).
    entries: VecDeque<(SeqNum, SeqNum, Instant)>,
    /// Bytes below this were sent more than once: their ACKs give no sample (Karn).
    resent_below: Option<SeqNum>,
}

impl SentLog {
    /// New data `[start, end)` left at `now`.
    pub(super) fn sent(&mut self, start: SeqNum, end: SeqNum, now: Instant) {
        if end > start && self.entries.len() < MAX_ENTRIES && self.entries.back().is_none_or(|b| start >= b.1) {
            self.entries.push_back((start, end, now));
        }
    }

    /// `[..end)` was sent again.
    pub(super) fn resent(&mut self, end: SeqNum) {
        self.resent_below = Some(self.resent_below.map_or(end, |r| r.max(end)));
    }

    /// The cumulative ACK moved to `ack`: forgets what it covers and returns the age of the
    /// newest piece it acknowledged, unless that piece was sent twice.
    pub(super) fn acked(&mut self, ack: SeqNum, now: Instant) -> Option<Duration> {
        let mut newest = None;
        while let Some(&(start, end, at)) = self.entries.front() {
            if start >= ack {
                break;
            }
            newest = Some((start, at));
            if end > ack {
                // Acknowledged in part: it stays, and still tells its age.
                break;
            }
            self.entries.pop_front();
        }
        if self.entries.is_empty() && self.entries.capacity() > KEEP_ENTRIES {
            self.entries = VecDeque::new();
        }
        let (start, at) = newest?;
        if self.resent_below.is_some_and(|r| start < r) {
            return None;
        }
        Some(now - at)
    }

    /// After a timeout everything in flight is sent again.
    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.resent_below = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_acknowledged_piece_gives_the_sample_and_resent_ones_none() {
        let t = |ms: u64| Instant::from_nanos(ms * 1_000_000);
        let s = SeqNum(1000);
        let mut log = SentLog::default();
        log.sent(s, s + 1000, t(0));
        log.sent(s + 1000, s + 3000, t(10));
        log.sent(s + 3000, s + 4000, t(20));
        // Part of the second piece: its age.
        assert_eq!(log.acked(s + 1500, t(100)), Some(Duration::from_millis(90)));
        // The rest of it and the third: the third's age.
        assert_eq!(log.acked(s + 4000, t(130)), Some(Duration::from_millis(110)));
        assert_eq!(log.acked(s + 4000, t(140)), None, "nothing new acknowledged");
        log.sent(s + 4000, s + 5000, t(150));
        log.resent(s + 5000);
        assert_eq!(log.acked(s + 5000, t(400)), None, "sent twice: which copy is answered is unknown");
    }

    #[test]
    fn a_drained_log_gives_a_large_allocation_back() {
        let t = Instant::from_nanos(0);
        let mut log = SentLog::default();
        for i in 0..500u32 {
            log.sent(SeqNum(i * 10), SeqNum(i * 10 + 10), t);
        }
        assert!(log.entries.capacity() >= 500);
        log.acked(SeqNum(5000), t);
        assert_eq!(log.entries.capacity(), 0);
    }
}
