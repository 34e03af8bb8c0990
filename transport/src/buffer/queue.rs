//! A queue of bytes held in chunks from the [pool](super::pool): every connection buffer,
//! the transport's and the application side's.
//!
//! Chunks make the two things a buffer does most cheap: growing takes one more chunk (no
//! reallocation that copies what is held), and handing bytes on (transport to socket,
//! socket to transport) moves whole chunks, copying only what fits in the receiver's last
//! chunk anyway. A drained chunk goes back to the pool at once, so an idle connection
//! holds none.

use std::collections::VecDeque;
use std::fmt;

use super::pool::{self, CHUNK, Memory, SMALL_CHUNK};
use super::gather::PayloadSlice;

/// One chunk and the part of it that holds queued bytes (offsets within a chunk of at
/// most [`CHUNK`] bytes, or a packet block the receive buffer kept).
struct Chunk {
    mem: Memory,
    start: u32,
    end: u32,
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        &self.mem[self.start as usize..self.end as usize]
    }

    fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    fn room(&self) -> usize {
        self.mem.len() - self.end as usize
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        let mem = std::mem::take(&mut self.mem);
        if !mem.is_empty() {
            pool::give(mem);
        }
    }
}

/// The chunks of a queue in order: the first inline, the rest in a ring allocated only
/// while there are two or more, so that a short exchange (one chunk) costs no allocation
/// besides its chunk and an idle queue takes 32 bytes (every connection has four).
#[derive(Default)]
struct Chunks {
    first: Option<Chunk>,
    // Boxed on purpose: `None` takes 8 bytes where an empty `VecDeque` takes 32.
    #[allow(clippy::box_collection)]
    rest: Option<Box<VecDeque<Chunk>>>,
}

impl Chunks {
    const fn new() -> Chunks {
        Chunks { first: None, rest: None }
    }

    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.as_deref().map_or(0, VecDeque::len)
    }

    fn front(&self) -> Option<&Chunk> {
        self.first.as_ref()
    }

    fn front_mut(&mut self) -> Option<&mut Chunk> {
        self.first.as_mut()
    }

    fn back(&self) -> Option<&Chunk> {
        self.rest.as_deref().and_then(VecDeque::back).or(self.first.as_ref())
    }

    fn back_mut(&mut self) -> Option<&mut Chunk> {
        match self.rest.as_deref_mut().and_then(VecDeque::back_mut) {
            Some(c) => Some(c),
            None => self.first.as_mut(),
        }
    }

    fn push_back(&mut self, c: Chunk) {
        if self.first.is_none() {
            self.first = Some(c);
        } else {
            self.rest.get_or_insert_with(Default::default).push_back(c);
        }
    }

    fn pop_front(&mut self) -> Option<Chunk> {
        let c = self.first.take();
        if let Some(rest) = self.rest.as_deref_mut() {
            self.first = rest.pop_front();
            if rest.is_empty() {
                self.rest = None;
            }
        }
        c
    }

    fn iter(&self) -> impl Iterator<Item = &Chunk> {
        self.first.iter().chain(self.rest.iter().flat_map(|r| r.iter()))
    }

    /// Slots of the ring beyond the first chunk.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.rest.as_deref().map_or(0, VecDeque::capacity)
    }
}

impl core::ops::Index<usize> for Chunks {
    type Output = Chunk;

    fn index(&self, i: usize) -> &Chunk {
        match i {
            0 => self.first.as_ref().expect("a first chunk"),
            _ => &self.rest.as_deref().expect("more than one chunk")[i - 1],
        }
    }
}

/// Bytes in order, appended at the back and taken from the front, held in chunks of
/// pooled memory (see [`buffer_pool`](crate::buffer_pool)). What a socket's send and
/// receive buffers are made of; [`Shard::send_from`](crate::Shard::send_from) and
/// [`Shard::recv_into`](crate::Shard::recv_into) move bytes between the application's
/// queue and the connection's, whole chunks at a time where they can.
///
/// ```
/// use ringtcp_transport::ByteQueue;
///
/// let mut q = ByteQueue::new();
/// q.extend_from_slice(b"hello, ");
/// q.extend_from_slice(b"world");
/// let mut out = [0u8; 5];
/// assert_eq!(q.copy_front(&mut out), 5);
/// q.consume(7);
/// assert_eq!(q.to_vec(), b"world");
/// let mut other = ByteQueue::new();
/// q.move_front_to(&mut other, 3);
/// assert_eq!((other.to_vec(), q.to_vec()), (b"wor".to_vec(), b"ld".to_vec()));
/// ```
#[derive(Default)]
pub struct ByteQueue {
    chunks: Chunks,
    len: usize,
    /// Bytes of chunk memory held.
    held: usize,
}

/// Where a [`ByteQueue::copy_at`] ended (a chunk's index and the queue offset of its
/// first byte), so that a sender copying segment after segment does not walk the chunks
/// from the front each time. Valid until bytes are taken from the front; appending keeps
/// it valid.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Cursor {
    chunk: usize,
    base: usize,
}

impl fmt::Debug for ByteQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteQueue").field("len", &self.len).field("chunks", &self.chunks.len()).finish()
    }
}

impl ByteQueue {
    /// An empty queue; it holds no memory until bytes arrive.
    pub const fn new() -> ByteQueue {
        ByteQueue { chunks: Chunks::new(), len: 0, held: 0 }
    }

    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of memory the queue's chunks take.
    pub fn allocated(&self) -> usize {
        self.held
    }

    /// Bytes that can be appended without taking another chunk.
    pub fn room(&self) -> usize {
        self.chunks.back().map_or(0, Chunk::room)
    }

    /// Appends `data`.
    pub fn extend_from_slice(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.room() == 0 {
                self.push_chunk();
            }
            let c = self.chunks.back_mut().expect("a chunk with room");
            let n = c.room().min(data.len());
            let end = c.end as usize;
            c.mem[end..end + n].copy_from_slice(&data[..n]);
            c.end += n as u32;
            self.len += n;
            data = &data[n..];
        }
    }

    /// Adds an empty chunk at the back: a small one while the queue holds less than two
    /// (a short exchange, a buffer bounded at a few KB, or the start of a transfer: so
    /// that the 4 KB a connection may always buffer, whatever the memory state, take
    /// 4 KB), a full-sized one otherwise.
    fn push_chunk(&mut self) {
        let size = if self.held < 2 * SMALL_CHUNK { SMALL_CHUNK } else { CHUNK };
        self.held += size;
        self.chunks.push_back(Chunk { mem: pool::take(size), start: 0, end: 0 });
    }

    /// Appends `mem[range]` by taking `mem` as a chunk of its own (no copy): a packet
    /// block whose payload the receive buffer keeps. The block's room after `range` takes
    /// later appends.
    pub(crate) fn push_memory(&mut self, mem: Memory, range: core::ops::Range<usize>) {
        assert!(range.start <= range.end && range.end <= mem.len() && u32::try_from(mem.len()).is_ok(), "a range inside the memory");
        self.held += mem.len();
        self.len += range.len();
        self.chunks.push_back(Chunk { mem, start: range.start as u32, end: range.end as u32 });
    }

    /// Copies bytes from the front into `out` without taking them; returns how many.
    pub fn copy_front(&self, out: &mut [u8]) -> usize {
        let mut done = 0;
        for c in self.chunks.iter() {
            if done == out.len() {
                break;
            }
            let n = c.len().min(out.len() - done);
            out[done..done + n].copy_from_slice(&c.bytes()[..n]);
            done += n;
        }
        done
    }

    /// Copies the bytes starting `offset` bytes after the front into `out`, as many as
    /// there are up to its length; returns how many.
    pub fn copy_at(&self, offset: usize, out: &mut [u8]) -> usize {
        self.copy_at_from(offset, out, &mut Cursor::default())
    }

    /// As [`copy_at`](Self::copy_at), looking for `offset` from `cursor` on (left by an
    /// earlier copy from this queue, with nothing taken from its front since) and leaving
    /// it where this copy ended.
    pub(crate) fn copy_at_from(&self, offset: usize, out: &mut [u8], cursor: &mut Cursor) -> usize {
        let mut done = 0;
        self.walk_from(offset, out.len(), cursor, |bytes| {
            out[done..done + bytes.len()].copy_from_slice(bytes);
            done += bytes.len();
        });
        done
    }

    /// As [`copy_at_from`](Self::copy_at_from) without the copy: appends to `out` where
    /// the `len` bytes starting `offset` bytes after the front lie in the chunks (one
    /// slice per chunk they touch); returns how many bytes that is.
    pub(crate) fn slices_at_from(&self, offset: usize, len: usize, out: &mut Vec<PayloadSlice>, cursor: &mut Cursor) -> usize {
        self.walk_from(offset, len, cursor, |bytes| out.push(PayloadSlice { addr: bytes.as_ptr(), len: bytes.len() }))
    }

    /// Hands `f` the pieces, chunk by chunk, of up to `len` bytes starting `offset` bytes
    /// after the front, looking for `offset` from `cursor` on and leaving it where the
    /// walk ended; returns how many bytes the pieces hold.
    fn walk_from(&self, offset: usize, len: usize, cursor: &mut Cursor, mut f: impl FnMut(&[u8])) -> usize {
        let (mut i, mut base) = (cursor.chunk, cursor.base);
        if base > offset || i >= self.chunks.len() {
            (i, base) = (0, 0);
        }
        // Find the chunk holding `offset`.
        while i < self.chunks.len() && base + self.chunks[i].len() <= offset {
            base += self.chunks[i].len();
            i += 1;
        }
        let mut done = 0;
        let mut at = offset - base.min(offset);
        while done < len && i < self.chunks.len() {
            let c = &self.chunks[i];
            let n = (c.len() - at).min(len - done);
            f(&c.bytes()[at..at + n]);
            done += n;
            at += n;
            if at == c.len() {
                base += c.len();
                i += 1;
                at = 0;
            }
        }
        // Remember a chunk that is there: the last one may still grow, so the cursor never
        // points past it.
        if i == self.chunks.len() && i > 0 {
            i -= 1;
            base -= self.chunks[i].len();
        }
        *cursor = Cursor { chunk: i, base };
        done
    }

    /// Drops `n` bytes from the front (all there are if fewer); drained chunks go back to
    /// the pool.
    pub fn consume(&mut self, n: usize) {
        let mut n = n.min(self.len);
        if n == self.len {
            self.clear();
            return;
        }
        self.len -= n;
        while n > 0 {
            let c = self.chunks.front_mut().expect("bytes to consume");
            let k = c.len().min(n);
            c.start += k as u32;
            n -= k;
            if c.start == c.end {
                self.held -= c.mem.len();
                self.chunks.pop_front();
            }
        }
    }

    /// Drops every byte and gives all memory back.
    pub fn clear(&mut self) {
        // A queue that held many chunks drops its index too: idle connections stay small.
        *self = ByteQueue::new();
    }

    /// Moves the first `n` bytes (all there are if fewer) to the end of `to`. Chunks move
    /// whole; bytes are copied only where they fit in `to`'s last chunk, or where `n` ends
    /// inside a chunk.
    pub fn move_front_to(&mut self, to: &mut ByteQueue, n: usize) {
        let mut n = n.min(self.len);
        while n > 0 {
            let c = self.chunks.front().expect("bytes to move");
            let k = c.len();
            if k <= n && k > to.room() {
                let c = self.chunks.pop_front().expect("the front chunk");
                let size = c.mem.len();
                self.held -= size;
                self.len -= k;
                to.held += size;
                to.len += k;
                to.chunks.push_back(c);
                n -= k;
            } else {
                let k = k.min(n);
                to.extend_from_slice(&c.bytes()[..k]);
                self.consume(k);
                n -= k;
            }
        }
        if self.len == 0 {
            self.clear();
        }
    }

    /// Moves every byte of `other` to the end of this queue, as
    /// [`move_front_to`](Self::move_front_to) moves them.
    pub fn append(&mut self, other: &mut ByteQueue) {
        let n = other.len();
        other.move_front_to(self, n);
    }

    /// The first `n` queued bytes (all there are if fewer), chunk by chunk.
    pub fn front(&self, n: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let mut left = n.min(self.len);
        self.chunks.iter().map_while(move |c| {
            if left == 0 {
                return None;
            }
            let k = c.len().min(left);
            left -= k;
            Some(&c.bytes()[..k])
        })
    }

    /// The queued bytes, chunk by chunk, front first.
    pub fn chunks(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.chunks.iter().map(Chunk::bytes)
    }

    /// A copy of the queued bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len);
        self.chunks().for_each(|c| v.extend_from_slice(c));
        v
    }
}

impl From<&[u8]> for ByteQueue {
    fn from(bytes: &[u8]) -> ByteQueue {
        let mut q = ByteQueue::new();
        q.extend_from_slice(bytes);
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pattern(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    #[test]
    fn a_short_exchange_takes_one_small_chunk_and_gives_it_back_drained() {
        let mut q = ByteQueue::new();
        assert_eq!(q.allocated(), 0);
        q.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(q.allocated(), SMALL_CHUNK);
        q.consume(6);
        assert_eq!(q.to_vec(), b"HTTP/1.1\r\n\r\n");
        q.consume(100);
        assert_eq!((q.len(), q.allocated(), q.chunks.capacity()), (0, 0, 0), "drained: nothing held");
    }

    #[test]
    fn growth_adds_chunks_without_moving_what_is_held() {
        let data = pattern(40_000, 3);
        let mut q = ByteQueue::new();
        q.extend_from_slice(&data[..1000]);
        let first = q.chunks[0].mem.as_ptr();
        q.extend_from_slice(&data[1000..]);
        assert_eq!(q.chunks[0].mem.as_ptr(), first, "held bytes stay where they are");
        assert_eq!(q.allocated(), 2 * SMALL_CHUNK + 3 * CHUNK, "the first 4 KB in small chunks");
        assert_eq!(q.to_vec(), data);
        // Consuming across chunk boundaries frees the drained ones.
        q.consume(2 * SMALL_CHUNK + CHUNK + 10);
        assert_eq!(q.allocated(), 2 * CHUNK);
        assert_eq!(q.to_vec(), &data[2 * SMALL_CHUNK + CHUNK + 10..]);
    }

    #[test]
    fn moving_hands_over_whole_chunks_and_copies_only_small_pieces() {
        let data = pattern(3 * CHUNK, 9);
        let mut from = ByteQueue::new();
        from.extend_from_slice(&data[..CHUNK]);
        from.extend_from_slice(&data[CHUNK..]);
        let second = from.chunks[1].mem.as_ptr();
        let mut to = ByteQueue::new();
        to.extend_from_slice(b"head");
        from.move_front_to(&mut to, 2 * CHUNK + 100);
        assert!(to.chunks.iter().any(|c| c.mem.as_ptr() == second), "a full chunk moved, not copied");
        let mut want = b"head".to_vec();
        want.extend_from_slice(&data[..2 * CHUNK + 100]);
        assert_eq!(to.to_vec(), want);
        assert_eq!(from.to_vec(), &data[2 * CHUNK + 100..]);
        // A piece that fits in the receiver's last chunk is copied into it.
        let mut small = ByteQueue::from(&b"abc"[..]);
        let chunks = to.chunks.len();
        small.move_front_to(&mut to, 3);
        assert_eq!((to.chunks.len(), small.allocated()), (chunks, 0));
        assert!(to.to_vec().ends_with(b"abc"));
        assert_eq!(to.allocated() + from.allocated(), to.chunks.iter().chain(from.chunks.iter()).map(|c| c.mem.len()).sum::<usize>());
    }

    #[test]
    fn copy_at_reads_any_offset_in_any_order() {
        let data = pattern(5 * CHUNK, 1);
        let mut q = ByteQueue::new();
        for piece in data.chunks(7000) {
            q.extend_from_slice(piece);
        }
        let mut out = vec![0u8; 1448];
        for offset in [0, 1448, 16_000, CHUNK - 1, 3 * CHUNK - 700, 10, 5 * CHUNK - 1448] {
            assert_eq!(q.copy_at(offset, &mut out), 1448);
            assert_eq!(out, &data[offset..offset + 1448], "offset {offset}");
        }
        assert_eq!(q.copy_at(5 * CHUNK - 100, &mut out), 100, "only what there is");
    }

    proptest! {
        /// Any sequence of appends, takes, moves and copies keeps the same bytes as a
        /// plain `VecDeque` would, and the memory held is that of chunks that hold bytes.
        #[test]
        fn behaves_as_a_deque(ops in proptest::collection::vec((0u8..4, 0usize..40_000, 0usize..40_000), 1..60)) {
            let mut q = ByteQueue::new();
            let mut other = ByteQueue::new();
            let mut model: VecDeque<u8> = VecDeque::new();
            let mut other_model: Vec<u8> = Vec::new();
            let mut seed = 0u8;
            // Kept across appends, as a sender keeps it; reset when the front is taken.
            let mut cursor = Cursor::default();
            for (op, a, b) in ops {
                match op {
                    0 => {
                        seed = seed.wrapping_add(1);
                        let d = pattern(a, seed);
                        q.extend_from_slice(&d);
                        model.extend(&d);
                    }
                    1 => {
                        cursor = Cursor::default();
                        q.consume(a);
                        model.drain(..a.min(model.len()));
                    }
                    2 => {
                        let n = a.min(q.len());
                        cursor = Cursor::default();
                        q.move_front_to(&mut other, a);
                        other_model.extend(model.drain(..n));
                    }
                    _ => {
                        let mut out = vec![0u8; b % 5000];
                        let n = q.copy_at_from(a, &mut out, &mut cursor);
                        let want: Vec<u8> = model.iter().skip(a).take(out.len()).copied().collect();
                        prop_assert_eq!(&out[..n], &want[..]);
                    }
                }
                prop_assert_eq!(q.len(), model.len());
                prop_assert_eq!(q.to_vec(), model.iter().copied().collect::<Vec<u8>>());
                prop_assert_eq!(other.to_vec(), other_model.clone());
                prop_assert_eq!(q.allocated(), q.chunks.iter().map(|c| c.mem.len()).sum::<usize>());
                prop_assert!(q.chunks.iter().all(|c| c.len() > 0), "no chunk is held empty");
            }
        }
    }
}
