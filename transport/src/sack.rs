//! The sender's SACK scoreboard and the RFC 6675 quantities built on it: IsLost, pipe and
//! the next segment to retransmit.

use crate::seq::SeqNum;

/// RFC 6675 §2 DupThresh.
pub(crate) const DUP_THRESH: usize = 3;

/// SACKed ranges above SND.UNA: sorted, disjoint, bounded.
#[derive(Debug, Default, Clone)]
pub(crate) struct Scoreboard {
    ranges: Vec<(SeqNum, SeqNum)>,
}

/// Ranges kept; a peer cannot make the scoreboard grow past this.
const MAX_RANGES: usize = 32;

impl Scoreboard {
    pub(crate) fn clear(&mut self) {
        self.ranges.clear();
    }

    /// Merges one SACK block, ignoring any part outside `(snd_una, snd_max]` (RFC 2018 §8:
    /// blocks are advisory; a bogus one must not confuse the sender). Returns the number of
    /// newly SACKed bytes.
    pub(crate) fn add(&mut self, snd_una: SeqNum, snd_max: SeqNum, left: SeqNum, right: SeqNum) -> usize {
        let left = left.max(snd_una);
        let right = right.min(snd_max);
        if right <= left {
            return 0;
        }
        let before = self.sacked_bytes();
        let first = self.ranges.iter().position(|r| r.1 >= left).unwrap_or(self.ranges.len());
        let mut last = first;
        while last < self.ranges.len() && self.ranges[last].0 <= right {
            last += 1;
        }
        if first == last {
            if self.ranges.len() >= MAX_RANGES {
                return 0;
            }
            self.ranges.insert(first, (left, right));
        } else {
            let l = left.min(self.ranges[first].0);
            let r = right.max(self.ranges[last - 1].1);
            self.ranges.splice(first..last, [(l, r)]);
        }
        self.sacked_bytes() - before
    }

    /// Forgets everything at or below the new SND.UNA.
    pub(crate) fn advance(&mut self, snd_una: SeqNum) {
        self.ranges.retain_mut(|r| {
            if r.1 <= snd_una {
                return false;
            }
            r.0 = r.0.max(snd_una);
            true
        });
    }

    pub(crate) fn sacked_bytes(&self) -> usize {
        self.ranges.iter().map(|&(l, r)| r - l).sum()
    }

    /// SACKed bytes below `at`.
    pub(crate) fn sacked_below(&self, at: SeqNum) -> usize {
        self.ranges.iter().filter(|r| r.0 < at).map(|&(l, r)| r.min(at) - l).sum()
    }

    /// Whether `[l, r)` is SACKed whole.
    pub(crate) fn covers(&self, l: SeqNum, r: SeqNum) -> bool {
        self.ranges.iter().any(|&(a, b)| a <= l && r <= b)
    }

    /// The SACKed ranges, sorted.
    #[cfg(test)]
    pub(crate) fn ranges(&self) -> &[(SeqNum, SeqNum)] {
        &self.ranges
    }

    /// Bytes of these ranges that `other`'s ranges do not cover.
    pub(crate) fn bytes_outside(&self, other: &Scoreboard) -> usize {
        self.ranges
            .iter()
            .map(|&(l, r)| {
                let covered: usize = other.ranges.iter().filter(|o| o.0 < r && o.1 > l).map(|o| o.1.min(r) - o.0.max(l)).sum();
                (r - l) - covered
            })
            .sum()
    }

    /// The edge below which every un-SACKed byte is lost by RFC 6675 §4 IsLost: at least
    /// DupThresh discontiguous ranges, or more than (DupThresh − 1)·SMSS bytes, SACKed
    /// above it. `None` when nothing is lost yet.
    pub(crate) fn lost_edge(&self, mss: usize) -> Option<SeqNum> {
        let mut bytes = 0;
        for (n, &(l, r)) in self.ranges.iter().rev().enumerate() {
            bytes += r - l;
            if n + 1 >= DUP_THRESH || bytes > (DUP_THRESH - 1) * mss {
                return Some(l);
            }
        }
        None
    }

    /// The first un-SACKed byte at or after `from`, and where that hole ends (`snd_max` if
    /// nothing is SACKed above it).
    pub(crate) fn next_hole(&self, from: SeqNum, snd_max: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let mut at = from;
        for &(l, r) in &self.ranges {
            if at < l {
                return Some((at, l));
            }
            if at < r {
                at = r;
            }
        }
        (at < snd_max).then_some((at, snd_max))
    }

    /// RFC 6675 §4 SetPipe: un-SACKed bytes not deemed lost (below `lost_edge`, as
    /// [`lost_edge`](Self::lost_edge) gives it), plus bytes retransmitted (below
    /// `high_rxt`), between SND.UNA and SND.MAX.
    pub(crate) fn pipe(&self, snd_una: SeqNum, snd_max: SeqNum, high_rxt: SeqNum, lost_edge: Option<SeqNum>) -> usize {
        let lost = lost_edge.unwrap_or(snd_una);
        let mut pipe = 0;
        let mut at = snd_una;
        while let Some((l, r)) = self.next_hole(at, snd_max) {
            // bytes at or above the lost edge are still in flight
            let not_lost_from = l.max(lost.min(r));
            pipe += r - not_lost_from;
            let rxt_to = high_rxt.min(r);
            if rxt_to > l {
                pipe += rxt_to - l;
            }
            at = r;
        }
        pipe
    }

    /// RFC 6675 §4 NextSeg rule 3: the first un-SACKed byte above `high_rxt` that lies below
    /// the highest SACKed byte (not deemed lost: rule 1 found nothing), and the end of its
    /// hole, cut at that highest byte.
    pub(crate) fn next_unsacked(&self, snd_una: SeqNum, snd_max: SeqNum, high_rxt: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let highest = self.ranges.last()?.1;
        let (l, r) = self.next_hole(high_rxt.max(snd_una), snd_max)?;
        (l < highest).then_some((l, r.min(highest)))
    }

    /// RFC 6675 §4 NextSeg rule 1: the first lost (below `lost_edge`), un-SACKed byte
    /// above `high_rxt`, and the end of its hole.
    pub(crate) fn next_lost(&self, snd_una: SeqNum, snd_max: SeqNum, high_rxt: SeqNum, lost_edge: Option<SeqNum>) -> Option<(SeqNum, SeqNum)> {
        let lost = lost_edge?;
        let (l, r) = self.next_hole(high_rxt.max(snd_una), snd_max)?;
        (l < lost).then_some((l, r.min(lost)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_outside_another_set_of_ranges() {
        let una = SeqNum(1000);
        let max = una + 10_000;
        let (mut resent, mut sacked) = (Scoreboard::default(), Scoreboard::default());
        resent.add(una, max, una, una + 3000);
        resent.add(una, max, una + 5000, una + 6000);
        assert_eq!(resent.bytes_outside(&sacked), 4000);
        // SACKs over part of the first range, all of the second, and beyond both.
        sacked.add(una, max, una + 1000, una + 2000);
        sacked.add(una, max, una + 4000, una + 7000);
        assert_eq!(resent.bytes_outside(&sacked), 2000);
    }

    #[test]
    fn rfc6675_pipe_and_loss() {
        let una = SeqNum(1000);
        let max = una + 10_000;
        let mss = 1000;
        let mut sb = Scoreboard::default();
        // segments 2 and 3 (of ten) SACKed: not yet enough to call segment 1 lost
        assert_eq!(sb.add(una, max, una + 1000, una + 3000), 2000);
        assert_eq!(sb.lost_edge(mss), None);
        assert_eq!(sb.pipe(una, max, una, sb.lost_edge(mss)), 8000);
        // a third SACKed segment: more than 2·SMSS above segment 1, so it is lost
        sb.add(una, max, una + 3000, una + 4000);
        assert_eq!(sb.lost_edge(mss), Some(una + 1000));
        assert_eq!(sb.pipe(una, max, una, sb.lost_edge(mss)), 6000);
        assert_eq!(sb.next_lost(una, max, una, sb.lost_edge(mss)), Some((una, una + 1000)));
        // after retransmitting it, it counts in the pipe again and is no longer next
        assert_eq!(sb.pipe(una, max, una + 1000, sb.lost_edge(mss)), 7000);
        assert_eq!(sb.next_lost(una, max, una + 1000, sb.lost_edge(mss)), None);
        // rule 3 looks only below the highest SACKed byte: segment 1 before its
        // retransmission, nothing after it (segments 5 to 10 lie above every SACK)
        assert_eq!(sb.next_unsacked(una, max, una), Some((una, una + 1000)));
        assert_eq!(sb.next_unsacked(una, max, una + 1000), None);
        // blocks outside the window are ignored
        assert_eq!(sb.add(una, max, max, max + 500), 0);
        assert_eq!(sb.add(una, max, una - 500, una), 0);
        assert_eq!(sb.sacked_below(una + 2500), 1500);
        sb.advance(una + 2000);
        assert_eq!(sb.sacked_bytes(), 2000);
        assert_eq!(sb.next_hole(una + 2000, max), Some((una + 4000, max)));
    }
}
