//! Write buffers of a shard's device: packet-sized ones, and, on a device that takes
//! super-segments, up to [`MAX_BIG`] of 64 KB. Every packet is built in a big buffer when
//! one is free, so a connection with data for many segments can write them as one; a
//! packet that turns out small is copied into a small buffer (at most an MTU) and the big
//! one is kept for the next. A shard serving many small exchanges then holds no more big
//! buffers than [`MAX_BIG`] (4 MB), however many writes are in flight.

/// Big buffers out at once (being filled or written) at most.
pub(super) const MAX_BIG: usize = 64;

/// The spare buffers of both sizes.
#[derive(Debug)]
pub(super) struct TxBuffers {
    small_len: usize,
    /// Zero without super-segments.
    big_len: usize,
    small: Vec<Box<[u8]>>,
    big: Vec<Box<[u8]>>,
    big_out: usize,
}

impl TxBuffers {
    /// Buffers of `small_len` bytes, and of `big_len` where the device takes
    /// super-segments.
    pub(super) fn new(small_len: usize, big_len: Option<usize>) -> TxBuffers {
        TxBuffers { small_len, big_len: big_len.unwrap_or(0), small: Vec::new(), big: Vec::new(), big_out: 0 }
    }

    fn take_small(&mut self) -> Box<[u8]> {
        self.small.pop().unwrap_or_else(|| vec![0u8; self.small_len].into_boxed_slice())
    }

    fn take_big(&mut self) -> Box<[u8]> {
        self.big_out += 1;
        self.big.pop().unwrap_or_else(|| vec![0u8; self.big_len].into_boxed_slice())
    }

    /// A buffer to build the next packet in: a big one while fewer than [`MAX_BIG`] are
    /// out, a small one otherwise (the packet is then one segment).
    pub(super) fn for_building(&mut self) -> Box<[u8]> {
        if self.big_len > self.small_len && self.big_out < MAX_BIG { self.take_big() } else { self.take_small() }
    }

    /// The most a packet built here may take: a big buffer's length where the device
    /// takes super-segments, else a small one's.
    pub(super) fn build_len(&self) -> usize {
        self.big_len.max(self.small_len)
    }

    /// A buffer that holds `len` bytes (a copy of a packet).
    pub(super) fn for_copy(&mut self, len: usize) -> Box<[u8]> {
        if len > self.small_len && self.big_len >= len { self.take_big() } else { self.take_small() }
    }

    /// The buffer to write a packet of `n` bytes built in `buf` from: `buf` itself, or,
    /// for a small packet built in a big buffer, a small copy (the big one goes back).
    pub(super) fn fit(&mut self, buf: Box<[u8]>, n: usize) -> Box<[u8]> {
        if buf.len() == self.big_len && self.big_len > self.small_len && n <= self.small_len {
            let mut small = self.take_small();
            small[..n].copy_from_slice(&buf[..n]);
            self.give_back(buf);
            small
        } else {
            buf
        }
    }

    /// A buffer no longer in use (unused, or its write completed).
    pub(super) fn give_back(&mut self, buf: Box<[u8]>) {
        if buf.len() == self.big_len && self.big_len > self.small_len {
            self.big_out = self.big_out.saturating_sub(1);
            self.big.push(buf);
        } else {
            self.small.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_buffers_stay_bounded_and_small_packets_move_to_small_ones() {
        let mut t = TxBuffers::new(1600, Some(65_547));
        let mut out = Vec::new();
        for _ in 0..MAX_BIG {
            let b = t.for_building();
            assert_eq!(b.len(), 65_547);
            out.push(t.fit(b, 40_000));
        }
        assert_eq!(t.for_building().len(), 1600, "no more than MAX_BIG big buffers out");
        let b = out.pop().unwrap();
        t.give_back(b);
        let b = t.for_building();
        assert_eq!(b.len(), 65_547, "a big one again once one came back");
        let mut b = b;
        b[..3].copy_from_slice(b"abc");
        let small = t.fit(b, 3);
        assert_eq!((small.len(), &small[..3]), (1600, &b"abc"[..]), "a small packet is copied out");
        assert_eq!(t.for_building().len(), 65_547, "and its big buffer is free again");
        let mut plain = TxBuffers::new(1600, None);
        assert_eq!(plain.for_building().len(), 1600);
        assert_eq!(plain.for_copy(1500).len(), 1600);
    }
}
