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

    pub(crate) fn free(&self) -> usize {
        self.cap - self.data.len()
    }

    /// Appends as much of `bytes` as fits; returns how much.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.free());
        self.data.extend(&bytes[..n]);
        n
    }

    /// Drops `n` acknowledged bytes from the front.
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.data.len());
        self.data.drain(..n);
        if self.data.is_empty() && self.data.capacity() > 64 * 1024 {
            // Give back a large buffer once drained; idle connections stay small.
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
        assert_eq!(t.push(b"abcdefgh"), 8);
        t.consume(6);
        assert_eq!(t.push(b"ijklmnop"), 8, "only the free space is taken");
        assert_eq!(t.len(), 10);
        let mut out = [0u8; 7];
        t.copy_out(2, &mut out);
        assert_eq!(&out, b"ijklmno");
    }
}
