//! RACK (RFC 8985 §6): loss detection by time. Every piece of data in flight keeps when
//! it last left; once a piece sent later has been delivered (acknowledged or SACKed),
//! a piece still missing a round trip plus a reordering window after it left is lost.
//! So a lost retransmission, or a loss with too little data behind it for three SACKed
//! segments, is found without waiting for the RTO, and reordering shorter than the window
//! is not taken for loss. It works beside RFC 6675's IsLost (`sack.rs`), what either
//! deems lost being retransmitted, until reordering has been seen: from then on RACK
//! alone decides.
//!
//! The same log gives HyStart its per-ACK delay samples: the age of the newest piece an
//! ACK covers, unless that piece was sent twice (Karn).

use std::collections::VecDeque;

use core::time::Duration;

use super::{Connection, Ctx};
use crate::sack::{DUP_THRESH, Scoreboard};
use crate::seq::SeqNum;
use crate::time::Instant;

/// Pieces kept at most; past it new data joins the last piece or goes unlogged (fewer
/// verdicts and samples, never more memory). A full window of 1,448-byte segments at
/// the 256 KiB default buffer is 182.
const MAX_PIECES: usize = 1024;
/// An emptied log keeps an allocation up to this many pieces; a larger one (left by a
/// bulk transfer) is given back when the connection's idle buffers are, so an idle
/// connection does not hold it.
const KEEP_PIECES: usize = 32;
/// How long an emptied log larger than [`KEEP_PIECES`] waits for data before its
/// allocation is given back.
pub(super) const IDLE_RELEASE: Duration = Duration::from_millis(100);
/// What Linux adds to its reordering and probe timers so they never fire a tick early
/// (TCP_TIMEOUT_MIN).
pub(super) const TIMER_SLACK: Duration = Duration::from_millis(2);
/// RFC 8985 §6.2 step 4: recoveries without a D-SACK before a widened window narrows
/// back.
const REO_WND_PERSIST: u32 = 16;
/// The widest window is SRTT anyway; this only keeps the multiplier finite.
const MAX_REO_WND_MULT: u32 = 64;

/// The peer has it (SACK).
const SACKED: u8 = 1;
/// Sent more than once: an ACK of it may answer either copy.
const RESENT: u8 = 2;
/// Deemed lost.
const LOST: u8 = 4;
/// Sent again since it was last deemed lost.
const RESENT_SINCE_LOST: u8 = 8;

#[derive(Clone, Copy, Debug)]
struct Piece {
    start: SeqNum,
    end: SeqNum,
    /// When it last left (RFC 8985 Segment.xmit_ts).
    sent: Instant,
    flags: u8,
}

impl Piece {
    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Deemed lost and not sent since: RFC 8985 gives it an infinite transmit time, so
    /// it is judged again only after its retransmission.
    fn awaits_retransmission(&self) -> bool {
        self.has(LOST) && !self.has(RESENT_SINCE_LOST) && !self.has(SACKED)
    }
}

/// RFC 8985 RACK.send_after: `(t1, e1)` left after `(t2, e2)`; the higher sequence
/// breaks a tie (pieces of one super-segment leave together).
fn sent_after(t1: Instant, e1: SeqNum, t2: Instant, e2: SeqNum) -> bool {
    t1 > t2 || (t1 == t2 && e1 > e2)
}

/// The connection's RACK state and the log of what is in flight.
#[derive(Debug)]
pub(super) struct Rack {
    /// Data in flight in sequence order, a piece per segment sent.
    pieces: VecDeque<Piece>,
    sacked_pieces: usize,
    resent_pieces: usize,
    /// RACK.xmit_ts and RACK.end_seq: the most recently sent piece delivered.
    newest: Option<(Instant, SeqNum)>,
    /// RACK.rtt: the round trip of that delivery.
    rtt: Duration,
    /// RACK.fack: the highest end delivered.
    fack: Option<SeqNum>,
    /// RACK.reordering_seen: a piece was delivered below one delivered earlier, without
    /// having been sent twice.
    reordering_seen: bool,
    /// How far out of order (in segments) data arrived at most, Linux's
    /// `tcpi_reordering` (DupThresh until reordering is seen).
    reordering: u32,
    /// ACKs that showed data delivered out of order (Linux's `tcpi_reord_seen`).
    reord_seen: u32,
    /// The ACK being taken in showed reordering.
    reordered_now: bool,
    reo_wnd_mult: u32,
    reo_wnd_persist: u32,
    /// SND.NXT when the last round with a D-SACK began.
    dsack_round: Option<SeqNum>,
    /// A delivery moved the state since the last loss check.
    advanced: bool,
    /// The reordering timer (RFC 8985 §6.3).
    pub(super) at: Option<Instant>,
    /// The latest ACK delivered a piece sent more than once.
    resent_delivered: bool,
    /// The latest loss check found a retransmission lost.
    resent_lost: bool,
}

impl Default for Rack {
    fn default() -> Self {
        Rack {
            pieces: VecDeque::new(),
            sacked_pieces: 0,
            resent_pieces: 0,
            newest: None,
            rtt: Duration::ZERO,
            fack: None,
            reordering_seen: false,
            reordering: DUP_THRESH as u32,
            reord_seen: 0,
            reordered_now: false,
            reo_wnd_mult: 1,
            reo_wnd_persist: 0,
            dsack_round: None,
            advanced: false,
            at: None,
            resent_delivered: false,
            resent_lost: false,
        }
    }
}

impl Rack {
    /// New data `[start, end)` left at `now`, cut into pieces of `segment` bytes (a
    /// super-segment is as many segments on the wire).
    pub(super) fn sent(&mut self, start: SeqNum, end: SeqNum, now: Instant, segment: usize) {
        if end <= start || self.pieces.back().is_some_and(|b| start < b.end) {
            return;
        }
        let mut at = start;
        while at < end {
            if self.pieces.len() >= MAX_PIECES {
                // Full: the rest joins a plain last piece (it then counts as sent now,
                // which can only delay a verdict on it) or goes unlogged.
                if let Some(b) = self.pieces.back_mut()
                    && b.flags == 0
                    && b.end == at
                {
                    b.end = end;
                    b.sent = now;
                }
                return;
            }
            let stop = if end - at > segment { at + segment } else { end };
            self.pieces.push_back(Piece { start: at, end: stop, sent: now, flags: 0 });
            at = stop;
        }
    }

    /// `[start, end)` was sent again at `now`.
    pub(super) fn resent(&mut self, start: SeqNum, end: SeqNum, now: Instant) {
        let mut i = self.pieces.partition_point(|p| p.end <= start);
        while i < self.pieces.len() && self.pieces[i].start < end {
            let p = self.pieces[i];
            // A retransmission cut differently from the original (rare): split so only
            // what was sent again is marked, while the log has room to.
            if self.pieces.len() < MAX_PIECES && p.start < start {
                self.pieces[i].end = start;
                self.pieces.insert(i + 1, Piece { start, ..p });
                self.count(p.flags, 1);
                i += 1;
                continue;
            }
            if self.pieces.len() < MAX_PIECES && p.end > end {
                self.pieces[i].end = end;
                self.pieces.insert(i + 1, Piece { start: end, ..p });
                self.count(p.flags, 1);
            }
            let q = &mut self.pieces[i];
            let first_time = !q.has(RESENT);
            q.sent = now;
            q.flags |= RESENT | RESENT_SINCE_LOST;
            if first_time {
                self.resent_pieces += 1;
            }
            i += 1;
        }
    }

    /// Keeps the SACKed and resent counts when a piece with `flags` is added (`n` = 1) or
    /// removed (`n` = −1).
    fn count(&mut self, flags: u8, n: isize) {
        if flags & SACKED != 0 {
            self.sacked_pieces = self.sacked_pieces.saturating_add_signed(n);
        }
        if flags & RESENT != 0 {
            self.resent_pieces = self.resent_pieces.saturating_add_signed(n);
        }
    }

    /// An ACK moved SND.UNA to `una` and carried the SACK `blocks`, which `sack` (the
    /// scoreboard, with them merged) holds with everything SACKed before: takes what is
    /// newly delivered into RACK's state (RFC 8985 §6.2 steps 2 and 3). Returns the delay
    /// sample for HyStart: the age of the newest piece below `una`, unless it was sent
    /// twice.
    pub(super) fn on_ack(&mut self, una: SeqNum, blocks: &[(SeqNum, SeqNum)], sack: &Scoreboard, now: Instant, min_rtt: Option<Duration>, mss: usize) -> Option<Duration> {
        let mut sample = None;
        let mut best = None;
        self.resent_delivered = false;
        self.resent_lost = false;
        self.reordered_now = false;
        while let Some(&p) = self.pieces.front() {
            if p.start >= una {
                break;
            }
            sample = (!p.has(RESENT)).then(|| now - p.sent);
            if p.end > una {
                // Acknowledged in part: its age still tells, but it is not delivered.
                self.pieces[0].start = una;
                break;
            }
            self.pieces.pop_front();
            self.count(p.flags, -1);
            if !p.has(SACKED) {
                self.delivered(p, now, min_rtt, mss, &mut best);
            }
        }
        // Only the pieces this ACK's blocks touch can be newly SACKed (a piece the
        // blocks cover in part may be whole with what was SACKed before); in ascending
        // order, as step 3 wants. A walk of the whole log per ACK would cost a bulk
        // transfer in recovery dearly.
        let mut sorted = [(SeqNum(0), SeqNum(0)); 4];
        let n = blocks.len().min(sorted.len());
        sorted[..n].copy_from_slice(&blocks[..n]);
        sorted[..n].sort_unstable_by(|a, b| if a.0 < b.0 { core::cmp::Ordering::Less } else if b.0 < a.0 { core::cmp::Ordering::Greater } else { core::cmp::Ordering::Equal });
        for &(l, r) in &sorted[..n] {
            let mut i = self.pieces.partition_point(|p| p.end <= l);
            while i < self.pieces.len() && self.pieces[i].start < r {
                let p = self.pieces[i];
                if !p.has(SACKED) && sack.covers(p.start, p.end) {
                    self.pieces[i].flags |= SACKED;
                    self.sacked_pieces += 1;
                    self.delivered(p, now, min_rtt, mss, &mut best);
                }
                i += 1;
            }
        }
        if let Some((sent, end)) = best {
            self.rtt = now - sent;
            self.advanced = true;
            if self.newest.is_none_or(|(t, e)| sent_after(sent, end, t, e)) {
                self.newest = Some((sent, end));
            }
        }
        self.reord_seen += u32::from(self.reordered_now);
        sample
    }

    /// One piece newly delivered, in ascending sequence order: RFC 8985 §6.2 step 3
    /// (reordering) and the candidate for step 2's RACK.xmit_ts in `best`.
    fn delivered(&mut self, p: Piece, now: Instant, min_rtt: Option<Duration>, mss: usize, best: &mut Option<(Instant, SeqNum)>) {
        self.resent_delivered |= p.has(RESENT);
        match self.fack {
            Some(fack) if p.end < fack => {
                if !p.has(RESENT) {
                    self.reordering_seen = true;
                    self.reordered_now = true;
                    let extent = (fack - p.start).div_ceil(mss.max(1));
                    self.reordering = self.reordering.max(u32::try_from(extent).unwrap_or(u32::MAX));
                }
            }
            _ => self.fack = Some(p.end),
        }
        // Step 2: an ACK of a piece sent twice sooner than any round trip seen answers
        // the first copy; its time says nothing about the second.
        if p.has(RESENT) && min_rtt.is_some_and(|m| now - p.sent < m) {
            return;
        }
        if best.is_none_or(|(t, e)| sent_after(p.sent, p.end, t, e)) {
            *best = Some((p.sent, p.end));
        }
    }

    /// RFC 8985 §6.2 step 4, on every ACK: a round whose ACKs carry a D-SACK (the peer got
    /// a retransmission it did not need: the reordering outlasted the window) widens the
    /// window by a quarter of min RTT.
    pub(super) fn on_ack_dsack(&mut self, una: SeqNum, snd_nxt: SeqNum, dsack: bool) {
        if self.dsack_round.is_some_and(|r| una >= r) {
            self.dsack_round = None;
        }
        if dsack && self.dsack_round.is_none() {
            self.dsack_round = Some(snd_nxt);
            self.reo_wnd_mult = (self.reo_wnd_mult + 1).min(MAX_REO_WND_MULT);
            self.reo_wnd_persist = REO_WND_PERSIST;
        }
    }

    /// Fast recovery ended: after enough recoveries without a D-SACK the window narrows
    /// back (step 4).
    pub(super) fn on_recovery_exit(&mut self) {
        self.reo_wnd_persist = self.reo_wnd_persist.saturating_sub(1);
        if self.reo_wnd_persist == 0 {
            self.reo_wnd_mult = 1;
        }
    }

    /// RFC 8985 §6.2 step 4: no settling time while reordering was never seen and
    /// recovery is under way or DupThresh segments are SACKed (then RACK is at least as
    /// quick as DupThresh); else a quarter of the minimum RTT per D-SACKed round, at
    /// most SRTT.
    fn reo_wnd(&self, srtt: Option<Duration>, min_rtt: Option<Duration>, in_recovery: bool) -> Duration {
        if !self.reordering_seen && (in_recovery || self.sacked_pieces >= DUP_THRESH) {
            return Duration::ZERO;
        }
        let Some(min_rtt) = min_rtt else { return Duration::ZERO };
        let wnd = min_rtt / 4 * self.reo_wnd_mult;
        srtt.map_or(wnd, |s| wnd.min(s))
    }

    /// Whether an ACK gave loss detection something to look at: a delivery moved the
    /// state, and something is SACKed or was sent twice (else every piece left after
    /// what the ACK covered, and nothing can be judged).
    pub(super) fn should_check(&self) -> bool {
        self.advanced && (self.sacked_pieces > 0 || self.resent_pieces > 0)
    }

    /// RFC 8985 §6.2 step 5 and §6.3: marks lost every piece sent before the most
    /// recently delivered one whose round trip plus the reordering window has passed,
    /// and arms the reordering timer for the first still within it. Returns whether any
    /// piece was newly deemed lost.
    pub(super) fn detect_loss(&mut self, now: Instant, srtt: Option<Duration>, min_rtt: Option<Duration>, in_recovery: bool) -> bool {
        self.advanced = false;
        self.at = None;
        let Some((xmit, end_seq)) = self.newest else { return false };
        let reo_wnd = self.reo_wnd(srtt, min_rtt, in_recovery);
        let mut newly = false;
        let mut wait: Option<Instant> = None;
        // Pieces sent once left in sequence order: past the first of them sent after the
        // most recently delivered, only pieces sent twice can still be older.
        let mut resent_ahead = self.resent_pieces;
        for p in self.pieces.iter_mut() {
            let resent = p.has(RESENT);
            resent_ahead = resent_ahead.saturating_sub(usize::from(resent));
            if !sent_after(xmit, end_seq, p.sent, p.end) {
                if !resent && resent_ahead == 0 {
                    break;
                }
                continue;
            }
            if p.has(SACKED) || p.awaits_retransmission() {
                continue;
            }
            let deadline = p.sent + self.rtt + reo_wnd;
            if deadline <= now {
                self.resent_lost |= p.has(RESENT);
                p.flags = (p.flags | LOST) & !RESENT_SINCE_LOST;
                newly = true;
            } else {
                wait = Some(wait.map_or(deadline, |w| w.max(deadline)));
            }
        }
        self.at = wait.map(|w| w + TIMER_SLACK);
        newly
    }

    /// A retransmission timeout: everything not SACKed is lost and will be sent again
    /// from SND.UNA; the reordering timer has nothing left to wait for.
    pub(super) fn on_rto(&mut self) {
        for p in self.pieces.iter_mut().filter(|p| !p.has(SACKED)) {
            p.flags = (p.flags | LOST) & !RESENT_SINCE_LOST;
        }
        self.at = None;
    }

    /// The SACK scoreboard was dropped (the peer may have reneged): nothing is SACKed.
    pub(super) fn forget_sacks(&mut self) {
        for p in self.pieces.iter_mut() {
            p.flags &= !SACKED;
        }
        self.sacked_pieces = 0;
    }

    /// The latest ACK repaired without losing: it delivered retransmitted data and the
    /// check after it found no retransmission lost (PRR's safe ACK).
    pub(super) fn ack_repaired(&self) -> bool {
        self.resent_delivered && !self.resent_lost
    }

    /// The first piece deemed lost and not sent since, ending above `from`.
    pub(super) fn next_lost(&self, from: SeqNum) -> Option<(SeqNum, SeqNum)> {
        self.pieces.iter().find(|p| p.end > from && p.awaits_retransmission()).map(|p| (p.start.max(from), p.end))
    }

    /// Bytes RFC 6675's pipe counts in flight that RACK knows are not: the original of
    /// a piece deemed lost (counted when at or above the pipe's lost edge), and a
    /// retransmission deemed lost again (counted below HighRxt).
    pub(super) fn pipe_overcount(&self, lost_edge: SeqNum, high_rxt: SeqNum) -> usize {
        self.pieces
            .iter()
            .filter(|p| p.has(LOST) && !p.has(SACKED))
            .map(|p| {
                let original = if p.end > lost_edge { p.end - p.start.max(lost_edge) } else { 0 };
                let resent = if p.awaits_retransmission() && high_rxt > p.start { high_rxt.min(p.end) - p.start } else { 0 };
                original + resent
            })
            .sum()
    }

    /// Segments deemed lost and not delivered, retransmitted or not (Linux's `lost_out`):
    /// RACK's verdicts and what lies below RFC 6675's lost edge.
    pub(super) fn lost_segments(&self, lost_edge: Option<SeqNum>) -> u32 {
        let n = self.pieces.iter().filter(|p| !p.has(SACKED) && (p.has(LOST) || lost_edge.is_some_and(|e| p.start < e))).count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The log is empty but holds a large allocation (left by a bulk transfer).
    pub(super) fn holds_idle_allocation(&self) -> bool {
        self.pieces.is_empty() && self.pieces.capacity() > KEEP_PIECES
    }

    /// Gives a large allocation back once the log is empty. Called when the connection
    /// has stayed idle a while, not each time the log drains: a bulk transfer drains it
    /// every round trip and would allocate it anew each time.
    pub(super) fn release_if_empty(&mut self) {
        if self.holds_idle_allocation() {
            self.pieces = VecDeque::new();
        }
    }

    /// ACKs that showed reordering so far.
    pub(super) fn reord_seen(&self) -> u32 {
        self.reord_seen
    }

    /// RACK.reordering_seen.
    pub(super) fn reordering_seen(&self) -> bool {
        self.reordering_seen
    }

    /// How far out of order data arrived at most, in segments (DupThresh until seen).
    pub(super) fn reordering(&self) -> u32 {
        self.reordering
    }
}

impl Connection {
    /// After an ACK of a SACK connection: RFC 8985 §6.2 steps 4 and 5. Returns whether
    /// a piece was newly deemed lost.
    pub(super) fn rack_after_ack(&mut self, ctx: &Ctx<'_>, dsack: bool) -> bool {
        self.rack.on_ack_dsack(self.snd_una, self.snd_nxt, dsack);
        self.rack.should_check() && self.rack_detect_loss(ctx.now)
    }

    fn rack_detect_loss(&mut self, now: Instant) -> bool {
        let in_recovery = self.recovery.active || self.recovery.after_timeout;
        self.rack.detect_loss(now, self.rtt.srtt(), self.rtt.min_rtt(), in_recovery)
    }

    /// RFC 8985 §6.3: the reordering window of the pieces sent before the most recently
    /// delivered one ran out; what is still missing is lost, and recovery starts if it
    /// is not under way.
    pub(super) fn on_reorder_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if self.rack_detect_loss(ctx.now)
            && !self.recovery.active
            && !self.recovery.after_timeout
            && self.snd_una >= self.recovery.recover
        {
            ctx.stats.rack_reorder_timeouts += 1;
            self.enter_recovery(ctx);
            // As Linux: the timer counts as one segment's delivery for PRR, so the fast
            // retransmit goes.
            self.prr_on_ack(usize::from(self.eff_mss()), false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_nanos(n * 1_000_000)
    }

    const MSS: usize = 1000;

    fn sacked(una: SeqNum, max: SeqNum, blocks: &[(u32, u32)]) -> Scoreboard {
        let mut sb = Scoreboard::default();
        for &(l, r) in blocks {
            sb.add(una, max, una + l as usize, una + r as usize);
        }
        sb
    }

    #[test]
    fn the_newest_acknowledged_piece_gives_the_delay_sample_and_resent_ones_none() {
        let s = SeqNum(1000);
        let none = Scoreboard::default();
        let mut rack = Rack::default();
        rack.sent(s, s + 1000, ms(0), MSS);
        rack.sent(s + 1000, s + 3000, ms(10), 2000);
        rack.sent(s + 3000, s + 4000, ms(20), MSS);
        assert_eq!(rack.on_ack(s + 1500, &[], &none, ms(100), None, MSS), Some(Duration::from_millis(90)), "part of the second piece: its age");
        assert_eq!(rack.on_ack(s + 4000, &[], &none, ms(130), None, MSS), Some(Duration::from_millis(110)));
        assert_eq!(rack.on_ack(s + 4000, &[], &none, ms(140), None, MSS), None, "nothing new acknowledged");
        rack.sent(s + 4000, s + 5000, ms(150), MSS);
        rack.resent(s + 4000, s + 5000, ms(300));
        assert_eq!(rack.on_ack(s + 5000, &[], &none, ms(400), None, MSS), None, "sent twice: which copy is answered is unknown");
    }

    #[test]
    fn a_drained_log_gives_a_large_allocation_back() {
        let mut rack = Rack::default();
        rack.sent(SeqNum(0), SeqNum(500_000), ms(0), MSS);
        assert!(rack.pieces.capacity() >= 500);
        rack.on_ack(SeqNum(500_000), &[], &Scoreboard::default(), ms(1), None, MSS);
        assert!(rack.holds_idle_allocation(), "kept while the transfer may go on");
        rack.release_if_empty();
        assert_eq!(rack.pieces.capacity(), 0);
    }

    #[test]
    fn a_single_sack_waits_a_quarter_rtt_then_marks_what_was_sent_before() {
        let una = SeqNum(1);
        let max = una + 4000;
        let mut rack = Rack::default();
        rack.sent(una, max, ms(100), MSS);
        let sb = sacked(una, max, &[(3000, 4000)]);
        let min_rtt = Some(Duration::from_millis(100));
        rack.on_ack(una, sb.ranges(), &sb, ms(200), min_rtt, MSS);
        assert!(rack.should_check());
        assert!(!rack.detect_loss(ms(200), min_rtt, min_rtt, false), "within the reordering window");
        assert_eq!(rack.at, Some(ms(225) + TIMER_SLACK), "RACK.rtt 100 ms + min_rtt/4 after the pieces left, plus the slack");
        assert!(rack.detect_loss(ms(227), min_rtt, min_rtt, false));
        assert_eq!(rack.at, None);
        assert_eq!(rack.next_lost(una), Some((una, una + 1000)));
        assert_eq!(rack.lost_segments(None), 3, "the three pieces below the SACKed one");
        rack.resent(una, una + 1000, ms(227));
        assert_eq!(rack.next_lost(una), Some((una + 1000, una + 2000)), "a resent piece is not due again");
        // RFC 6675's pipe, with nothing deemed lost by count, holds all three originals
        // and the retransmission: none of the originals is in flight.
        assert_eq!(rack.pipe_overcount(una, una + 1000), 3000);
    }

    #[test]
    fn three_sacked_segments_without_reordering_mark_loss_at_once() {
        let una = SeqNum(1);
        let max = una + 10_000;
        let mut rack = Rack::default();
        rack.sent(una, max, ms(100), MSS);
        let min_rtt = Some(Duration::from_millis(100));
        let sb = sacked(una, max, &[(1000, 2000), (5000, 6000), (7000, 8000)]);
        rack.on_ack(una, sb.ranges(), &sb, ms(200), min_rtt, MSS);
        assert!(rack.detect_loss(ms(200), min_rtt, min_rtt, false));
        // Everything below the highest SACKed piece that is not SACKed itself.
        assert_eq!(rack.lost_segments(None), 5);
        assert_eq!(rack.reordering(), 3, "no reordering seen");
        // A SACK below the highest delivered, of data sent once: reordering.
        let sb = sacked(una, max, &[(1000, 3000), (5000, 6000), (7000, 8000)]);
        rack.on_ack(una, sb.ranges(), &sb, ms(205), min_rtt, MSS);
        assert_eq!(rack.reordering(), 6, "8000 − 2000: six segments out of order");
        assert!(rack.reordering_seen);
        assert_eq!(rack.lost_segments(None), 4);
    }

    #[test]
    fn a_lost_retransmission_is_found_by_a_later_delivery() {
        let una = SeqNum(1);
        let max = una + 5000;
        let mut rack = Rack::default();
        let min_rtt = Some(Duration::from_millis(100));
        rack.sent(una, max, ms(0), MSS);
        let sb = sacked(una, max, &[(1000, 4000)]);
        rack.on_ack(una, sb.ranges(), &sb, ms(100), min_rtt, MSS);
        assert!(rack.detect_loss(ms(100), min_rtt, min_rtt, true));
        rack.resent(una, una + 1000, ms(100));
        // The retransmission is lost too; the last piece, sent after it (a probe, say),
        // is SACKed a round trip later.
        rack.resent(una + 4000, max, ms(110));
        let sb = sacked(una, max, &[(1000, 5000)]);
        rack.on_ack(una, sb.ranges(), &sb, ms(215), min_rtt, MSS);
        assert!(rack.should_check());
        assert!(rack.detect_loss(ms(215), min_rtt, min_rtt, true), "sent 10 ms before a piece delivered 105 ms after it left");
        assert_eq!(rack.next_lost(una), Some((una, una + 1000)), "the retransmission is due again");
    }

    #[test]
    fn an_early_ack_of_a_resent_piece_does_not_advance_rack() {
        let una = SeqNum(1);
        let max = una + 2000;
        let mut rack = Rack::default();
        let min_rtt = Some(Duration::from_millis(100));
        rack.sent(una, max, ms(0), MSS);
        rack.resent(una, una + 1000, ms(150));
        // The original's ACK arrives 10 ms after the retransmission: spurious.
        rack.on_ack(una + 1000, &[], &Scoreboard::default(), ms(160), min_rtt, MSS);
        assert!(rack.newest.is_none());
        assert!(!rack.should_check());
    }

    #[test]
    fn dsack_rounds_widen_the_window_and_recoveries_narrow_it() {
        let mut rack = Rack { reordering_seen: true, ..Rack::default() };
        let min_rtt = Some(Duration::from_millis(100));
        let srtt = Some(Duration::from_millis(400));
        assert_eq!(rack.reo_wnd(srtt, min_rtt, true), Duration::from_millis(25));
        rack.on_ack_dsack(SeqNum(0), SeqNum(5000), true);
        rack.on_ack_dsack(SeqNum(1000), SeqNum(6000), true);
        assert_eq!(rack.reo_wnd(srtt, min_rtt, true), Duration::from_millis(50), "one step per round");
        rack.on_ack_dsack(SeqNum(5000), SeqNum(9000), true);
        assert_eq!(rack.reo_wnd(srtt, min_rtt, true), Duration::from_millis(75));
        for _ in 0..REO_WND_PERSIST {
            rack.on_recovery_exit();
        }
        assert_eq!(rack.reo_wnd(srtt, min_rtt, true), Duration::from_millis(25));
        rack.reo_wnd_mult = 40;
        assert_eq!(rack.reo_wnd(srtt, min_rtt, true), Duration::from_millis(400), "never beyond SRTT");
    }
}
