//! A FIFO of fixed-size records in 4,096-record chunks, addressed by absolute position.
//!
//! Chunks keep memory proportional to what is held (no doubling slack beyond one chunk),
//! and an absolute position stays valid while its record is in the ring, so the hash
//! index can point at records with a narrow u32 instead of a pointer.

use std::collections::VecDeque;

/// Records per chunk.
pub(super) const CHUNK: usize = 4096;

#[derive(Debug)]
pub(super) struct ChunkRing<T> {
    chunks: VecDeque<Box<[T]>>,
    /// Offset of the front record inside the first chunk.
    head: usize,
    len: usize,
    /// Absolute position of the front record (wrapping).
    base: u32,
    /// One emptied chunk kept back, so a ring that hovers around a chunk boundary does not
    /// allocate and free on every record.
    spare: Option<Box<[T]>>,
}

impl<T: Copy + Default> ChunkRing<T> {
    pub(super) fn new() -> Self {
        ChunkRing { chunks: VecDeque::new(), head: 0, len: 0, base: 0, spare: None }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Absolute position of the front record.
    pub(super) fn front_pos(&self) -> u32 {
        self.base
    }

    /// Absolute position the next `push_back` will get.
    pub(super) fn next_pos(&self) -> u32 {
        self.base.wrapping_add(self.len as u32)
    }

    pub(super) fn push_back(&mut self, v: T) -> u32 {
        let slot = self.head + self.len;
        if slot == self.chunks.len() * CHUNK {
            let chunk = self.spare.take().unwrap_or_else(|| vec![T::default(); CHUNK].into_boxed_slice());
            self.chunks.push_back(chunk);
        }
        self.chunks[slot / CHUNK][slot % CHUNK] = v;
        self.len += 1;
        self.base.wrapping_add(self.len as u32 - 1)
    }

    pub(super) fn front(&self) -> Option<&T> {
        (self.len > 0).then(|| &self.chunks[0][self.head])
    }

    pub(super) fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let v = self.chunks[0][self.head];
        self.head += 1;
        self.len -= 1;
        self.base = self.base.wrapping_add(1);
        if self.head == CHUNK {
            self.head = 0;
            self.spare = self.chunks.pop_front();
        } else if self.len == 0 {
            // Empty: start over at the beginning of the chunk we hold.
            self.head = 0;
        }
        Some(v)
    }

    fn slot(&self, pos: u32) -> Option<usize> {
        let off = pos.wrapping_sub(self.base) as usize;
        (off < self.len).then_some(self.head + off)
    }

    pub(super) fn get(&self, pos: u32) -> Option<&T> {
        self.slot(pos).map(|s| &self.chunks[s / CHUNK][s % CHUNK])
    }

    pub(super) fn get_mut(&mut self, pos: u32) -> Option<&mut T> {
        self.slot(pos).map(|s| &mut self.chunks[s / CHUNK][s % CHUNK])
    }

    /// Bytes allocated: chunks (the spare included) and the chunk table.
    pub(super) fn allocated(&self) -> usize {
        let chunks = self.chunks.len() + usize::from(self.spare.is_some());
        chunks * CHUNK * size_of::<T>() + self.chunks_table_bytes()
    }

    /// Bytes of the table of chunk pointers.
    pub(super) fn chunks_table_bytes(&self) -> usize {
        self.chunks.capacity() * size_of::<Box<[T]>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_stay_valid_across_chunks_and_wrap() {
        let mut r: ChunkRing<u32> = ChunkRing::new();
        r.base = u32::MAX - 10;
        let mut positions = Vec::new();
        for i in 0..(CHUNK as u32 * 2 + 7) {
            positions.push(r.push_back(i));
        }
        assert_eq!(r.get(positions[5000]), Some(&5000));
        for i in 0..CHUNK as u32 + 3 {
            assert_eq!(r.pop_front(), Some(i));
        }
        assert_eq!(r.get(positions[0]), None, "popped records are gone");
        assert_eq!(r.get(positions[CHUNK + 3]), Some(&(CHUNK as u32 + 3)));
        *r.get_mut(positions[CHUNK * 2]).unwrap() = 99;
        assert_eq!(r.get(positions[CHUNK * 2]), Some(&99));
        assert_eq!(r.len(), CHUNK + 4);
        assert_eq!(r.front_pos(), positions[CHUNK + 3]);
    }
}
