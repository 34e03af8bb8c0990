//! The send buffer: bytes from SND.UNA onward, kept until acknowledged so that any of them
//! can be retransmitted. Retransmission needs no per-segment state: a segment is a range.

use super::ByteQueue;
use super::queue::Cursor;

#[derive(Debug)]
pub(crate) struct TxBuffer {
    data: ByteQueue,
    cap: usize,
    /// Where the last segment was copied from (segments are cut in order).
    cursor: Cursor,
}

impl TxBuffer {
    pub(crate) fn new(cap: usize) -> Self {
        TxBuffer { data: ByteQueue::new(), cap, cursor: Cursor::default() }
    }

    /// Bytes held (sent-but-unacked plus not yet sent).
    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }

    /// The most bytes the buffer may hold.
    pub(crate) fn bound(&self) -> usize {
        self.cap
    }

    pub(crate) fn free(&self) -> usize {
        self.cap.saturating_sub(self.data.len())
    }

    /// A new bound; bytes already held above it stay until acknowledged (nothing more is
    /// taken until the buffer is below the bound again).
    pub(crate) fn set_bound(&mut self, cap: usize) {
        self.cap = cap;
    }

    /// Free space that needs no more memory: the room in the last chunk, or up to `floor`
    /// bytes in all (a guaranteed minimum however tight memory is).
    pub(crate) fn free_without_growth(&self, floor: usize) -> usize {
        let room = self.data.room().max(floor.saturating_sub(self.data.len()));
        room.min(self.free())
    }

    /// Appends as much of `bytes` as fits (within `limit` bytes); returns how much.
    pub(crate) fn push(&mut self, bytes: &[u8], limit: usize) -> usize {
        let n = bytes.len().min(self.free()).min(limit);
        self.data.extend_from_slice(&bytes[..n]);
        n
    }

    /// Moves as much of `src` as fits (within `limit` bytes) to the end; returns how
    /// much. Whole chunks move without a copy (see [`ByteQueue::move_front_to`]).
    pub(crate) fn push_from(&mut self, src: &mut ByteQueue, limit: usize) -> usize {
        let n = src.len().min(self.free()).min(limit);
        src.move_front_to(&mut self.data, n);
        n
    }

    /// Drops `n` acknowledged bytes from the front.
    pub(crate) fn consume(&mut self, n: usize) {
        self.data.consume(n);
        self.cursor = Cursor::default();
    }

    /// Copies `out.len()` bytes starting `offset` bytes after SND.UNA.
    pub(crate) fn copy_out(&mut self, offset: usize, out: &mut [u8]) {
        let n = self.data.copy_at_from(offset, out, &mut self.cursor);
        debug_assert_eq!(n, out.len(), "segments are cut from bytes held");
    }

    /// As [`copy_out`](Self::copy_out), leaving the bytes where they are: appends where
    /// they lie to `out`.
    pub(crate) fn gather_out(&mut self, offset: usize, len: usize, out: &mut Vec<super::gather::PayloadSlice>) {
        let n = self.data.slices_at_from(offset, len, out, &mut self.cursor);
        debug_assert_eq!(n, len, "segments are cut from bytes held");
    }

    pub(crate) fn release(&mut self) {
        self.data.clear();
        self.cursor = Cursor::default();
    }

    pub(crate) fn allocated(&self) -> usize {
        self.data.allocated()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_push_and_copy_across_wrap() {
        let mut t = TxBuffer::new(10);
        assert_eq!(t.push(b"abcdefgh", usize::MAX), 8);
        t.consume(6);
        assert_eq!(t.push(b"ijklmnop", usize::MAX), 8, "only the free space is taken");
        assert_eq!(t.len(), 10);
        let mut out = [0u8; 7];
        t.copy_out(2, &mut out);
        assert_eq!(&out, b"ijklmno");
    }

    #[test]
    fn push_from_takes_what_fits_and_leaves_the_rest() {
        let mut t = TxBuffer::new(10);
        let mut src = ByteQueue::from(&b"abcd"[..]);
        assert_eq!(t.push_from(&mut src, usize::MAX), 4);
        assert!(src.is_empty() && src.allocated() == 0, "the source gave its chunk up");
        src.extend_from_slice(b"efghijkl");
        assert_eq!(t.push_from(&mut src, usize::MAX), 6);
        assert_eq!(src.to_vec(), b"kl");
        let mut out = [0u8; 10];
        t.copy_out(0, &mut out);
        assert_eq!(&out, b"abcdefghij");
        // Within a limit (the memory state's), only what it allows.
        t.consume(10);
        assert_eq!(t.allocated(), 0, "acknowledged chunks go back at once");
        src.extend_from_slice(b"mnop");
        assert_eq!(t.push_from(&mut src, 3), 3);
        assert_eq!(src.to_vec(), b"nop");
    }
}
