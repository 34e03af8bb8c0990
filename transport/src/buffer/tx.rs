//! The send buffer: bytes from SND.UNA onward, kept until acknowledged so that any of them
//! can be retransmitted. Retransmission needs no per-segment state: a segment is a range.

use std::collections::VecDeque;

#[derive(Debug)]
pub(crate) struct TxBuffer {
    data: VecDeque<u8>,
    cap: usize,
}

impl TxBuffer {
    pub(crate) fn new(cap: usize) -> Self {
        TxBuffer { data: VecDeque::new(), cap }
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

    /// Free space that needs no allocation: what the buffer already holds room for, or
    /// up to `floor` bytes in all (a guaranteed minimum however tight memory is).
    pub(crate) fn free_without_growth(&self, floor: usize) -> usize {
        let room = (self.data.capacity() - self.data.len()).max(floor.saturating_sub(self.data.len()));
        room.min(self.free())
    }

    /// Appends as much of `bytes` as fits (within `limit` bytes); returns how much.
    pub(crate) fn push(&mut self, bytes: &[u8], limit: usize) -> usize {
        let n = bytes.len().min(self.free()).min(limit);
        self.data.extend(&bytes[..n]);
        n
    }

    /// Moves as much of `src` as fits (within `limit` bytes) to the end; returns how
    /// much. An empty buffer that can take all of `src` trades allocations with it
    /// instead of copying.
    pub(crate) fn push_from(&mut self, src: &mut VecDeque<u8>, limit: usize) -> usize {
        let n = src.len().min(self.free()).min(limit);
        if self.data.is_empty() && n == src.len() {
            std::mem::swap(&mut self.data, src);
            return n;
        }
        super::move_front(src, &mut self.data, n);
        n
    }

    /// Drops `n` acknowledged bytes from the front.
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.data.len());
        self.data.drain(..n);
    }

    /// True if the buffer is empty but holds a large allocation: one the connection
    /// should give back if data does not come again soon.
    pub(crate) fn holds_idle_allocation(&self) -> bool {
        self.data.is_empty() && self.data.capacity() > super::IDLE_KEEP
    }

    /// Frees the allocation if nothing is left in it.
    pub(crate) fn release_if_empty(&mut self) {
        if self.data.is_empty() {
            self.data = VecDeque::new();
        }
    }

    /// Copies `out.len()` bytes starting `offset` bytes after SND.UNA.
    pub(crate) fn copy_out(&self, offset: usize, out: &mut [u8]) {
        let (a, b) = self.data.as_slices();
        let mut at = offset;
        let mut done = 0;
        if at < a.len() {
            let n = (a.len() - at).min(out.len());
            out[..n].copy_from_slice(&a[at..at + n]);
            done = n;
            at = 0;
        } else {
            at -= a.len();
        }
        if done < out.len() {
            let n = out.len() - done;
            out[done..].copy_from_slice(&b[at..at + n]);
        }
    }

    pub(crate) fn release(&mut self) {
        self.data = VecDeque::new();
    }

    pub(crate) fn allocated(&self) -> usize {
        self.data.capacity()
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
    fn push_from_moves_whole_sources_into_an_empty_buffer_and_copies_otherwise() {
        let mut t = TxBuffer::new(10);
        let mut src = VecDeque::with_capacity(64);
        src.extend(b"abcd");
        assert_eq!(t.push_from(&mut src, usize::MAX), 4);
        assert!(src.is_empty());
        assert!(t.allocated() >= 64, "the source's allocation moved in");
        // Not empty any more: the next bytes are copied, as many as fit, the rest stays.
        src.extend(b"efghijkl");
        assert_eq!(t.push_from(&mut src, usize::MAX), 6);
        assert_eq!(src, b"kl");
        let mut out = [0u8; 10];
        t.copy_out(0, &mut out);
        assert_eq!(&out, b"abcdefghij");
        // Within a limit (the memory state's), only what it allows.
        t.consume(10);
        src.extend(b"mnop");
        assert_eq!(t.push_from(&mut src, 3), 3);
        assert_eq!(src, b"nop");
    }
}
