//! The receive buffer: in-order bytes the application has not read yet, plus a bounded
//! set of out-of-order ranges waiting for the hole before them to fill.

use super::ByteQueue;
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
    data: ByteQueue,
}

impl Range {
    fn end(&self) -> SeqNum {
        self.start + self.data.len()
    }
}

#[derive(Debug)]
pub(crate) struct RxBuffer {
    readable: ByteQueue,
    cap: usize,
    /// Out-of-order data above RCV.NXT, sorted, disjoint and non-adjacent.
    ooo: Vec<Range>,
    max_ranges: usize,
    /// Start of the range holding the most recent out-of-order arrival (RFC 2018 §4: the
    /// first SACK block reports it).
    latest: Option<SeqNum>,
    /// In-order bytes received into a packet block the shard hands over once the packet
    /// is processed ([`super::adopt`]); they follow `readable`. Zero whenever the
    /// application side can look.
    reserved: usize,
}

impl RxBuffer {
    pub(crate) fn new(cap: usize, max_ranges: usize) -> Self {
        RxBuffer { readable: ByteQueue::new(), cap, ooo: Vec::new(), max_ranges, latest: None, reserved: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.readable.len() + self.reserved
    }

    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    /// Raises the bound to `cap` (receive-buffer autotuning; it never shrinks).
    pub(crate) fn grow_capacity(&mut self, cap: usize) {
        self.cap = self.cap.max(cap);
    }

    /// Room for more in-order data: the receive window.
    pub(crate) fn window(&self) -> usize {
        self.cap - self.len()
    }

    /// Room for in-order data that needs no more memory (the room in the last chunk), or
    /// up to `floor` readable bytes in all; never more than the window.
    pub(crate) fn window_without_growth(&self, floor: usize) -> usize {
        let room = if self.reserved > 0 { 0 } else { self.readable.room() }.max(floor.saturating_sub(self.len()));
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
            self.readable.extend_from_slice(data);
            if self.ooo.is_empty() {
                // The fast path: an in-order segment with nothing held back.
                return RxInsert::InOrder(data.len());
            }
            let mut next = rcv_nxt + data.len();
            // Pull in every held range the new data reaches; their chunks move over.
            while let Some(r) = self.ooo.first() {
                if r.start > next {
                    break;
                }
                let mut r = self.ooo.remove(0);
                let end = r.end();
                if end > next {
                    r.data.consume(next - r.start);
                    next = end;
                    self.readable.append(&mut r.data);
                }
            }
            if self.ooo.is_empty() {
                self.latest = None;
            }
            return RxInsert::InOrder(next - rcv_nxt);
        }
        self.insert_out_of_order(seq, data)
    }

    /// Takes `len` bytes at RCV.NXT, with nothing held out of order, whose memory comes
    /// with [`fulfil`](Self::fulfil) once their packet is processed.
    pub(crate) fn reserve(&mut self, len: usize) -> RxInsert {
        debug_assert!(self.ooo.is_empty() && self.reserved == 0, "one in-order reservation at a time");
        self.reserved += len;
        RxInsert::InOrder(len)
    }

    /// The memory of the reserved bytes: `mem[range]`. Hands `mem` back if this buffer
    /// holds no reservation of that length (it was dropped meanwhile).
    pub(crate) fn fulfil(&mut self, mem: Box<[u8]>, range: core::ops::Range<usize>) -> Result<(), Box<[u8]>> {
        if self.reserved == 0 || self.reserved != range.len() {
            return Err(mem);
        }
        self.readable.push_memory(mem, range);
        self.reserved = 0;
        Ok(())
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
            self.ooo.insert(first, Range { start: seq, data: ByteQueue::from(data) });
            self.latest = Some(seq);
            return RxInsert::OutOfOrder;
        }
        let covered = self.ooo[first].start <= seq && self.ooo[last - 1].end() >= end && last - first == 1;
        if covered {
            return RxInsert::Duplicate;
        }
        // The merged range: the new bytes where nothing is held (before, between and after
        // the ranges it touches), the held ranges' chunks moved in between. Where both
        // hold a byte it is the same byte from the peer; the one held stays.
        let start = seq.min(self.ooo[first].start);
        let mut merged = ByteQueue::new();
        let mut at = start;
        for mut r in self.ooo.drain(first..last) {
            if at < r.start {
                merged.extend_from_slice(&data[at - seq..r.start - seq]);
            }
            at = r.end();
            merged.append(&mut r.data);
        }
        if at < end {
            merged.extend_from_slice(&data[at - seq..]);
        }
        self.ooo.insert(first, Range { start, data: merged });
        self.latest = Some(start);
        RxInsert::OutOfOrder
    }

    /// Copies up to `out.len()` readable bytes out.
    pub(crate) fn read(&mut self, out: &mut [u8]) -> usize {
        debug_assert_eq!(self.reserved, 0, "read while a packet is processed");
        let n = self.readable.copy_front(out);
        self.readable.consume(n);
        n
    }

    /// Moves up to `max` readable bytes to the end of `out`: whole chunks are handed over
    /// (see [`ByteQueue::move_front_to`]), so a reader of a bulk transfer takes the bytes
    /// without a copy.
    pub(crate) fn read_into(&mut self, out: &mut ByteQueue, max: usize) -> usize {
        debug_assert_eq!(self.reserved, 0, "read while a packet is processed");
        let n = max.min(self.readable.len());
        self.readable.move_front_to(out, n);
        n
    }

    /// Copies up to `out.len()` readable bytes out without consuming them.
    pub(crate) fn peek(&self, out: &mut [u8]) -> usize {
        self.readable.copy_front(out)
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
        self.readable.allocated() + self.ooo.iter().map(|r| r.data.allocated()).sum::<usize>()
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
    fn read_into_hands_over_chunks_and_a_drained_buffer_holds_nothing() {
        let base = SeqNum(7);
        let mut rx = RxBuffer::new(1 << 20, 8);
        assert_eq!(rx.insert(base, base, b"hello"), RxInsert::InOrder(5));
        let mut out = ByteQueue::new();
        assert_eq!(rx.read_into(&mut out, 100), 5);
        assert_eq!(out.to_vec(), b"hello");
        assert_eq!(rx.allocated(), 0, "drained: its chunk went with the bytes");
        // A large arrival moves over in chunks; a limit leaves the rest readable here.
        let big: Vec<u8> = (0..100_000u32).map(|i| (i * 13) as u8).collect();
        assert_eq!(rx.insert(base + 5, base + 5, &big), RxInsert::InOrder(100_000));
        assert_eq!(rx.read_into(&mut out, 60_000), 60_000);
        assert_eq!(rx.len(), 40_000);
        assert!(rx.allocated() < 40_000 + 2 * crate::buffer::pool::CHUNK);
        let mut rest = vec![0u8; 40_000];
        assert_eq!(rx.read(&mut rest), 40_000);
        let mut want = b"hello".to_vec();
        want.extend_from_slice(&big[..60_000]);
        assert_eq!(out.to_vec(), want);
        assert_eq!(rest, &big[60_000..]);
        assert_eq!(rx.allocated(), 0);
    }

    #[test]
    fn held_ranges_keep_their_bytes_through_merges_and_pull_in() {
        // Segments of a 40,000-byte stream arrive shuffled, overlapping and duplicated.
        let base = SeqNum(u32::MAX - 20_000);
        let stream: Vec<u8> = (0..40_000u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut rx = RxBuffer::new(1 << 20, 16);
        let pieces = [(30_000, 40_000), (5_000, 9_000), (8_000, 12_000), (20_000, 21_000), (12_000, 20_500), (4_000, 5_000), (1_000, 31_000)];
        for (a, b) in pieces {
            assert_eq!(rx.insert(base, base + a, &stream[a..b]), RxInsert::OutOfOrder, "{a}..{b}");
        }
        assert_eq!(rx.sack_blocks(4).as_slice(), &[(base + 1_000, base + 40_000)]);
        assert_eq!(rx.insert(base, base, &stream[..1_500]), RxInsert::InOrder(40_000));
        assert_eq!(read_all(&mut rx), stream);
        assert!(!rx.has_out_of_order());
        assert_eq!(rx.allocated(), 0);
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
