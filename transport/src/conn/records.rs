//! Record ends (`MSG_EOR`): places in the byte stream no segment may cross, so that the
//! data after a record never shares a segment with it, on first transmission or on
//! retransmission (Linux's `tcp_skb_can_collapse_to` refuses to merge past an EOR skb).

use std::collections::VecDeque;

use crate::seq::SeqNum;

/// Record ends held at once at most: a record is at least a byte, and an application
/// ending more records than this before the peer acknowledges them waits (`WouldBlock`).
pub(crate) const MAX_RECORDS: usize = 4096;

/// The unacknowledged record ends, in sequence order.
#[derive(Debug, Default)]
pub(super) struct RecordEnds(VecDeque<SeqNum>);

impl RecordEnds {
    pub(super) fn is_full(&self) -> bool {
        self.0.len() >= MAX_RECORDS
    }

    /// A record ends at `at` (the end of the data queued so far).
    pub(super) fn push(&mut self, at: SeqNum) {
        if self.0.back() != Some(&at) {
            self.0.push_back(at);
        }
    }

    /// The peer acknowledged up to `una`: record ends at or below it are done.
    pub(super) fn acked(&mut self, una: SeqNum) {
        while self.0.front().is_some_and(|&e| e <= una) {
            self.0.pop_front();
        }
    }

    /// The first record end after `seq`, where a segment starting at `seq` must stop.
    pub(super) fn next_after(&self, seq: SeqNum) -> Option<SeqNum> {
        self.0.iter().copied().find(|&e| e > seq)
    }

    /// `len` bytes from `seq`, cut at the next record end; and whether they end a record.
    pub(super) fn clip(&self, seq: SeqNum, len: usize) -> (usize, bool) {
        match self.next_after(seq) {
            Some(end) if seq + len >= end => (end - seq, true),
            _ => (len, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_stop_at_record_ends_until_they_are_acknowledged() {
        let mut r = RecordEnds::default();
        r.push(SeqNum(1400));
        r.push(SeqNum(1800));
        r.push(SeqNum(1800));
        assert_eq!(r.clip(SeqNum(1000), 1000), (400, true));
        assert_eq!(r.clip(SeqNum(1400), 1000), (400, true));
        assert_eq!(r.clip(SeqNum(1800), 1000), (1000, false));
        assert_eq!(r.clip(SeqNum(1000), 100), (100, false));
        r.acked(SeqNum(1400));
        assert_eq!(r.next_after(SeqNum(0)), Some(SeqNum(1800)));
        r.acked(SeqNum(2000));
        assert_eq!(r.clip(SeqNum(1000), 1000), (1000, false));
    }

    #[test]
    fn wraps_with_the_sequence_space() {
        let mut r = RecordEnds::default();
        r.push(SeqNum(5));
        assert_eq!(r.clip(SeqNum(u32::MAX - 4), 100), (10, true));
    }
}
