//! The receive buffer: in-order bytes the application has not read yet, plus a bounded
//! set of out-of-order ranges waiting for the hole before them to fill.

use std::collections::VecDeque;

use crate::seq::SeqNum;
use crate::wire::SackBlocks;

/// What inserting a segment's data did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RxInsert {
    /// Bytes became readable (RCV.NXT advanced by this much).
    InOrder(usize),
    /// Held out of order; `filled_hole` is false.
    OutOfOrder,
    /// Nothing new (a duplicate).
    Duplicate,
    /// Out of order, but the range limit was reached: dropped.
    NoRoom,
}

#[derive(Debug)]
struct Range {
    start: SeqNum,
    data: Vec<u8>,
}

impl Range {
    fn end(&self) -> SeqNum {
        self.start + self.data.len()
    }
}

/// The largest allocation of ours [`RxBuffer::read_into`] hands to an empty reader
/// whatever the reader's own.
const SMALL_TRADE: usize = 2048;

#[derive(Debug)]
pub(crate) struct RxBuffer {
    readable: VecDeque<u8>,
    cap: usize,
    /// Out-of-order data above RCV.NXT, sorted, disjoint and non-adjacent.
    ooo: Vec<Range>,
    max_ranges: usize,
    /// Start of the range holding the most recent out-of-order arrival (RFC 2018 §4: the
    /// first SACK block reports it).
    latest: Option<SeqNum>,
}

impl RxBuffer {
    pub(crate) fn new(cap: usize, max_ranges: usize) -> Self {
        RxBuffer { readable: VecDeque::new(), cap, ooo: Vec::new(), max_ranges, latest: None }
    }

    pub(crate) fn len(&self) -> usize {
        self.readable.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    /// Room for more in-order data: the receive window.
    pub(crate) fn window(&self) -> usize {
        self.cap - self.readable.len()
    }

    /// Room for in-order data that needs no allocation, or up to `floor` readable bytes in
    /// all; never more than the window.
    pub(crate) fn window_without_growth(&self, floor: usize) -> usize {
        let room = (self.readable.capacity() - self.readable.len()).max(floor.saturating_sub(self.readable.len()));
        room.min(self.window())
    }

    /// Out-of-order ranges held, and the most that may be.
    pub(crate) fn ranges(&self) -> usize {
        self.ooo.len()
    }

    pub(crate) fn max_ranges(&self) -> usize {
        self.max_ranges
    }

    pub(crate) fn has_out_of_order(&self) -> bool {
        !self.ooo.is_empty()
    }

    /// Takes `data` starting at `seq`, with RCV.NXT at `rcv_nxt`. The caller has trimmed it
    /// to the window, so `seq >= rcv_nxt` and it ends within the window.
    pub(crate) fn insert(&mut self, rcv_nxt: SeqNum, seq: SeqNum, data: &[u8]) -> RxInsert {
        if data.is_empty() {
            return RxInsert::Duplicate;
        }
        if seq == rcv_nxt {
            if self.ooo.is_empty() {
                // The fast path: an in-order segment with nothing held back.
                self.readable.extend(data);
                return RxInsert::InOrder(data.len());
            }
            let mut next = rcv_nxt + data.len();
            self.readable.extend(data);
            // Pull in every held range the new data reaches.
            while let Some(r) = self.ooo.first() {
                if r.start > next {
                    break;
                }
                let r = self.ooo.remove(0);
                if r.end() > next {
                    let skip = next - r.start;
                    self.readable.extend(&r.data[skip..]);
                    next = r.end();
                }
            }
            if self.ooo.is_empty() {
                self.latest = None;
            }
            return RxInsert::InOrder(next - rcv_nxt);
        }
        self.insert_out_of_order(seq, data)
    }

    fn insert_out_of_order(&mut self, seq: SeqNum, data: &[u8]) -> RxInsert {
        let end = seq + data.len();
        // Find the ranges this one touches (overlapping or adjacent) and merge them.
        let first = self.ooo.iter().position(|r| r.end() >= seq).unwrap_or(self.ooo.len());
        let mut last = first;
        while last < self.ooo.len() && self.ooo[last].start <= end {
            last += 1;
        }
        if first == last {
            if self.ooo.len() >= self.max_ranges {
                return RxInsert::NoRoom;
            }
            self.ooo.insert(first, Range { start: seq, data: data.to_vec() });
            self.latest = Some(seq);
            return RxInsert::OutOfOrder;
        }
        let covered = self.ooo[first].start <= seq && self.ooo[last - 1].end() >= end && last - first == 1;
        if covered {
            return RxInsert::Duplicate;
        }
        let start = seq.min(self.ooo[first].start);
        let stop = end.max(self.ooo[last - 1].end());
        let mut merged = vec![0u8; stop - start];
        for r in &self.ooo[first..last] {
            let off = r.start - start;
            merged[off..off + r.data.len()].copy_from_slice(&r.data);
        }
        // New bytes win where they overlap; both copies are the same data from the peer.
        let off = seq - start;
        merged[off..off + data.len()].copy_from_slice(data);
        self.ooo.splice(first..last, [Range { start, data: merged }]);
        self.latest = Some(start);
        RxInsert::OutOfOrder
    }

    /// Copies up to `out.len()` readable bytes out.
    pub(crate) fn read(&mut self, out: &mut [u8]) -> usize {
        let n = self.peek(out);
        self.readable.drain(..n);
        n
    }

    /// Moves up to `max` readable bytes to the end of `out`. When `out` can take all of
    /// them, with an allocation at least as large as ours (a smaller one would make the
    /// next arrivals allocate and grow again), it trades allocations with this buffer
    /// instead: at once when it is empty, and when it still holds a few bytes its reader
    /// has not taken, by moving those in front of ours first. During a bulk transfer the
    /// reader is seldom quite done when more arrives; two copies of the leftover cost less
    /// than one of the arrivals while the leftover is under half their size.
    ///
    /// An empty `out` also takes a small allocation of ours (at most [`SMALL_TRADE`]
    /// bytes) whatever its own: a short exchange's bytes (a request, a reply) then cost
    /// one allocation, not two and a copy, and the next arrivals here start afresh, as
    /// they would from what a reader that small would give.
    pub(crate) fn read_into(&mut self, out: &mut VecDeque<u8>, max: usize) -> usize {
        let n = max.min(self.readable.len());
        let left = out.len();
        if n > 0 && n == self.readable.len() {
            let roomy = out.capacity() >= self.readable.capacity().min(self.cap);
            if left == 0 && (roomy || self.readable.capacity() <= SMALL_TRADE) {
                std::mem::swap(out, &mut self.readable);
                return n;
            }
            // The leftover fits without growing ours (growing would copy all of it).
            if roomy && 2 * left < n && self.readable.capacity() - n >= left {
                super::move_front(out, &mut self.readable, left);
                self.readable.rotate_right(left);
                std::mem::swap(out, &mut self.readable);
                return n;
            }
        }
        super::move_front(&mut self.readable, out, n);
        n
    }

    /// True if the in-order buffer is empty but holds a large allocation: one the
    /// connection should give back if data does not come again soon.
    pub(crate) fn holds_idle_allocation(&self) -> bool {
        self.readable.is_empty() && self.readable.capacity() > super::IDLE_KEEP
    }

    /// Frees the in-order buffer's allocation if nothing is left in it.
    pub(crate) fn release_if_empty(&mut self) {
        if self.readable.is_empty() {
            self.readable = VecDeque::new();
        }
    }

    /// Copies up to `out.len()` readable bytes out without consuming them.
    pub(crate) fn peek(&self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.readable.len());
        let (a, b) = self.readable.as_slices();
        let na = n.min(a.len());
        out[..na].copy_from_slice(&a[..na]);
        out[na..n].copy_from_slice(&b[..n - na]);
        n
    }

    /// SACK blocks to report (RFC 2018 §4): the most recent range first, then the others
    /// from the highest down, at most `max`.
    pub(crate) fn sack_blocks(&self, max: usize) -> SackBlocks {
        let mut blocks = SackBlocks::default();
        if let Some(latest) = self.latest
            && let Some(r) = self.ooo.iter().find(|r| r.start == latest)
        {
            blocks.push(r.start, r.end());
        }
        for r in self.ooo.iter().rev() {
            if blocks.len() >= max {
                break;
            }
            if Some(r.start) != self.latest {
                blocks.push(r.start, r.end());
            }
        }
        blocks.truncate(max);
        blocks
    }

    /// Bytes held out of order.
    #[cfg(test)]
    pub(crate) fn out_of_order_bytes(&self) -> usize {
        self.ooo.iter().map(|r| r.data.len()).sum()
    }

    pub(crate) fn allocated(&self) -> usize {
        self.readable.capacity() + self.ooo.iter().map(|r| r.data.capacity()).sum::<usize>()
    }

    /// Drops held out-of-order data (the connection is gone).
    pub(crate) fn clear_out_of_order(&mut self) {
        self.ooo = Vec::new();
        self.latest = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(rx: &mut RxBuffer) -> Vec<u8> {
        let mut out = vec![0u8; rx.len()];
        let n = rx.read(&mut out);
        out.truncate(n);
        out
    }

    #[test]
    fn read_into_trades_allocations_only_when_nothing_is_lost() {
        let base = SeqNum(7);
        let mut rx = RxBuffer::new(1 << 16, 8);
        assert_eq!(rx.insert(base, base, b"hello"), RxInsert::InOrder(5));
        // An empty reader with room to spare takes the bytes by trading buffers.
        let mut out = VecDeque::with_capacity(4096);
        assert_eq!(rx.read_into(&mut out, 100), 5);
        assert_eq!(out, b"hello");
        assert!(rx.readable.capacity() >= 4096, "the buffer kept the reader's allocation");
        // A reader that already holds bytes, or takes less than all, gets a copy.
        assert_eq!(rx.insert(base + 5, base + 5, b" world"), RxInsert::InOrder(6));
        assert_eq!(rx.read_into(&mut out, 3), 3);
        assert_eq!(out, b"hello wo");
        let mut small = VecDeque::new();
        assert_eq!(rx.read_into(&mut small, 100), 3);
        assert_eq!((small, rx.len()), (VecDeque::from(b"rld".to_vec()), 0));
        assert!(rx.readable.capacity() >= 4096, "a copy leaves the allocation where it was");
    }

    #[test]
    fn an_empty_reader_takes_a_small_buffer_whole() {
        let base = SeqNum(40);
        let mut rx = RxBuffer::new(1 << 16, 8);
        assert_eq!(rx.insert(base, base, b"GET / HTTP/1.1"), RxInsert::InOrder(14));
        let ours = rx.readable.as_slices().0.as_ptr();
        // A reader with no allocation of its own gets ours, not a copy in a new one.
        let mut out = VecDeque::new();
        assert_eq!(rx.read_into(&mut out, 1 << 16), 14);
        assert_eq!(out, b"GET / HTTP/1.1");
        assert_eq!(out.as_slices().0.as_ptr(), ours);
        assert_eq!((rx.len(), rx.readable.capacity()), (0, 0));
        // The next bytes arrive and read intact.
        assert_eq!(rx.insert(base + 14, base + 14, b"\r\n"), RxInsert::InOrder(2));
        let mut next = VecDeque::new();
        assert_eq!(rx.read_into(&mut next, 1 << 16), 2);
        assert_eq!(next, b"\r\n");
        // A large buffer of ours stays ours: the small reader gets a copy.
        let big: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        rx.readable.reserve(8192);
        assert_eq!(rx.insert(base + 16, base + 16, &big), RxInsert::InOrder(3000));
        let mut small = VecDeque::new();
        assert_eq!(rx.read_into(&mut small, 1 << 16), 3000);
        assert!(small.iter().copied().eq(big.iter().copied()));
        assert!(rx.readable.capacity() >= 8192);
    }

    #[test]
    fn read_into_puts_a_small_leftover_in_front_and_trades() {
        let base = SeqNum(1);
        let mut rx = RxBuffer::new(1 << 16, 8);
        let arrived: Vec<u8> = (0..3000u32).map(|i| (i * 7 + 1) as u8).collect();
        // The reader's buffer wraps (read from the front, refilled at the back) and
        // still holds 100 bytes its reader has not taken.
        let mut out: VecDeque<u8> = VecDeque::with_capacity(8192);
        out.extend(std::iter::repeat_n(0u8, 8000));
        out.drain(..7950);
        out.extend(std::iter::repeat_n(9u8, 50));
        let leftover: Vec<u8> = out.iter().copied().collect();
        let theirs = out.as_slices().0.as_ptr();
        // Ours has room for the leftover: trading beats copying 3,000 bytes.
        rx.readable.reserve(4000);
        assert_eq!(rx.insert(base, base, &arrived), RxInsert::InOrder(3000));
        assert_eq!(rx.read_into(&mut out, 1 << 16), 3000);
        let want: Vec<u8> = leftover.iter().chain(&arrived).copied().collect();
        assert_eq!(out.iter().copied().collect::<Vec<u8>>(), want, "leftover first, then the arrivals");
        assert!(rx.readable.is_empty() && rx.readable.capacity() >= 8192, "the reader's allocation came in");
        assert_ne!(out.as_slices().0.as_ptr(), theirs);
        // A leftover half the arrivals or more is cheaper left where it is: copied.
        let mut rx = RxBuffer::new(1 << 16, 8);
        rx.readable.reserve(8192);
        assert_eq!(rx.insert(base, base, &arrived[..150]), RxInsert::InOrder(150));
        let mut out: VecDeque<u8> = VecDeque::with_capacity(8192);
        out.extend(std::iter::repeat_n(5u8, 100));
        let theirs = out.as_slices().0.as_ptr();
        assert_eq!(rx.read_into(&mut out, 1 << 16), 150);
        assert_eq!(out.len(), 250);
        assert_eq!(out.as_slices().0.as_ptr(), theirs, "copied onto the reader's own buffer");
        assert!(out.iter().skip(100).copied().eq(arrived[..150].iter().copied()));
    }

    #[test]
    fn holes_fill_in_any_order() {
        let base = SeqNum(u32::MAX - 3);
        let mut rx = RxBuffer::new(100, 8);
        assert_eq!(rx.insert(base, base + 6, b"ghi"), RxInsert::OutOfOrder);
        assert_eq!(rx.insert(base, base + 2, b"cd"), RxInsert::OutOfOrder);
        assert_eq!(rx.sack_blocks(4).as_slice(), &[(base + 2, base + 4), (base + 6, base + 9)]);
        assert_eq!(rx.insert(base, base + 3, b"def"), RxInsert::OutOfOrder, "merges across a hole");
        assert_eq!(rx.sack_blocks(4).as_slice(), &[(base + 2, base + 9)]);
        assert_eq!(rx.insert(base, base + 2, b"cd"), RxInsert::Duplicate);
        assert_eq!(rx.insert(base, base, b"ab"), RxInsert::InOrder(9));
        assert_eq!(read_all(&mut rx), b"abcdefghi");
        assert!(!rx.has_out_of_order());
    }

    #[test]
    fn range_limit_drops_instead_of_growing() {
        let mut rx = RxBuffer::new(1000, 2);
        let b = SeqNum(0);
        assert_eq!(rx.insert(b, b + 10, b"x"), RxInsert::OutOfOrder);
        assert_eq!(rx.insert(b, b + 20, b"y"), RxInsert::OutOfOrder);
        assert_eq!(rx.insert(b, b + 30, b"z"), RxInsert::NoRoom);
        assert_eq!(rx.insert(b, b + 11, b"x"), RxInsert::OutOfOrder, "extending a range is fine");
        assert_eq!(rx.out_of_order_bytes(), 3);
    }

    #[test]
    fn in_order_overlapping_held_range() {
        let mut rx = RxBuffer::new(100, 8);
        let b = SeqNum(1000);
        rx.insert(b, b + 2, b"cdef");
        assert_eq!(rx.insert(b, b, b"abcd"), RxInsert::InOrder(6));
        assert_eq!(read_all(&mut rx), b"abcdef");
    }
}
