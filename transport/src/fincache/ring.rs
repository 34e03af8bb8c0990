//! A FIFO of fixed-size records in 4,096-record chunks, addressed by absolute position.
//!
//! Chunks keep memory proportional to what is held (no doubling slack beyond one chunk),
//! and an absolute position stays valid while its record is in the ring, so the hash
//! index can point at records with a narrow u32 instead of a pointer.
//!
//! The chunk of position `p` sits in table slot `(p / CHUNK) % table.len()`, the table
//! being a power of two at least one longer than the chunks in use: finding a record is a
//! shift, a mask and two loads, with no head offset to apply (this is on the FIN cache's
//! lookup path, between two cache misses).

/// Records per chunk.
pub(super) const CHUNK: usize = 4096;

type Chunk<T> = Box<[T; CHUNK]>;

#[derive(Debug)]
pub(super) struct ChunkRing<T> {
    /// Chunk slots; a power of two of them (or none before the first push).
    table: Vec<Option<Chunk<T>>>,
    len: usize,
    /// Absolute position of the front record (wrapping).
    base: u32,
    /// One emptied chunk kept back, so a ring that hovers around a chunk boundary does not
    /// allocate and free on every record.
    spare: Option<Chunk<T>>,
}

impl<T: Copy + Default> ChunkRing<T> {
    pub(super) fn new() -> Self {
        ChunkRing {
            table: Vec::new(),
            len: 0,
            base: 0,
            spare: None,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Absolute position of the front record.
    #[inline(always)]
    pub(super) fn front_pos(&self) -> u32 {
        self.base
    }

    /// Absolute position the next `push_back` will get.
    pub(super) fn next_pos(&self) -> u32 {
        self.base.wrapping_add(self.len as u32)
    }

    #[inline(always)]
    fn chunk_slot(&self, pos: u32) -> usize {
        (pos as usize / CHUNK) & (self.table.len() - 1)
    }

    /// Chunks the records in `[base, base + len)` touch.
    fn chunks_in_use(&self) -> usize {
        if self.len == 0 {
            return 0;
        }
        let first = self.base as usize / CHUNK;
        let last = self.base.wrapping_add(self.len as u32 - 1) as usize / CHUNK;
        // Positions wrap at 2^32, a whole number of chunks.
        last.wrapping_sub(first) % (1 << (32 - CHUNK.trailing_zeros())) + 1
    }

    /// Doubles the table, moving each chunk in use to its slot in the longer table.
    fn grow_table(&mut self) {
        let new_len = (self.table.len() * 2).max(4);
        let mut table: Vec<Option<Chunk<T>>> = (0..new_len).map(|_| None).collect();
        let first = self.base as usize / CHUNK;
        for i in 0..self.chunks_in_use() {
            let n = first.wrapping_add(i) % (1 << (32 - CHUNK.trailing_zeros()));
            if !self.table.is_empty() {
                let old = n & (self.table.len() - 1);
                table[n & (new_len - 1)] = self.table[old].take();
            }
        }
        self.table = table;
    }

    pub(super) fn push_back(&mut self, v: T) -> u32 {
        let pos = self.next_pos();
        if (pos as usize).is_multiple_of(CHUNK) || self.len == 0 {
            // A chunk starts here (or the ring is empty and may hold none).
            if self.table.is_empty() || self.chunks_in_use() + 1 >= self.table.len() {
                self.grow_table();
            }
            let slot = self.chunk_slot(pos);
            if self.table[slot].is_none() {
                let chunk = self.spare.take().unwrap_or_else(|| {
                    vec![T::default(); CHUNK]
                        .into_boxed_slice()
                        .try_into()
                        .unwrap_or_else(|_| unreachable!("CHUNK long"))
                });
                self.table[slot] = Some(chunk);
            }
        }
        let slot = self.chunk_slot(pos);
        if let Some(chunk) = self.table[slot].as_mut() {
            chunk[pos as usize % CHUNK] = v;
        }
        self.len += 1;
        pos
    }

    pub(super) fn front(&self) -> Option<&T> {
        self.get(self.base)
    }

    pub(super) fn pop_front(&mut self) -> Option<T> {
        let v = *self.front()?;
        let pos = self.base;
        self.base = self.base.wrapping_add(1);
        self.len -= 1;
        // The front chunk is done with when its last record goes, or when the ring empties
        // (the next push may start elsewhere in the table).
        if (self.base as usize).is_multiple_of(CHUNK) || self.len == 0 {
            let slot = self.chunk_slot(pos);
            if let Some(done) = self.table[slot].take() {
                self.spare = Some(done);
            }
        }
        Some(v)
    }

    #[inline(always)]
    pub(super) fn get(&self, pos: u32) -> Option<&T> {
        if pos.wrapping_sub(self.base) as usize >= self.len {
            return None;
        }
        let chunk = self.table[self.chunk_slot(pos)].as_deref()?;
        Some(&chunk[pos as usize % CHUNK])
    }

    pub(super) fn get_mut(&mut self, pos: u32) -> Option<&mut T> {
        if pos.wrapping_sub(self.base) as usize >= self.len {
            return None;
        }
        let slot = self.chunk_slot(pos);
        let chunk = self.table[slot].as_deref_mut()?;
        Some(&mut chunk[pos as usize % CHUNK])
    }

    /// Bytes allocated: chunks (the spare included) and the chunk table.
    pub(super) fn allocated(&self) -> usize {
        let chunks =
            self.table.iter().filter(|c| c.is_some()).count() + usize::from(self.spare.is_some());
        chunks * CHUNK * size_of::<T>() + self.chunks_table_bytes()
    }

    /// Bytes of the table of chunk pointers.
    pub(super) fn chunks_table_bytes(&self) -> usize {
        self.table.capacity() * size_of::<Option<Chunk<T>>>()
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

    #[test]
    fn a_long_fifo_keeps_its_order_and_its_memory_bounded() {
        // A steady state (push one, pop one) over many chunks, then growth and a drain:
        // every value comes back in order, and no more chunks are held than in use + spare.
        let mut r: ChunkRing<u32> = ChunkRing::new();
        let mut next_in = 0u32;
        let mut next_out = 0u32;
        for _ in 0..3 * CHUNK + 17 {
            r.push_back(next_in);
            next_in += 1;
        }
        for _ in 0..10 * CHUNK {
            r.push_back(next_in);
            next_in += 1;
            assert_eq!(r.pop_front(), Some(next_out));
            next_out += 1;
        }
        let held = r.table.iter().filter(|c| c.is_some()).count();
        assert!(
            held <= r.chunks_in_use(),
            "held {held} chunks for {} in use",
            r.chunks_in_use()
        );
        for _ in 0..5 * CHUNK {
            r.push_back(next_in);
            next_in += 1;
        }
        while let Some(v) = r.pop_front() {
            assert_eq!(v, next_out);
            next_out += 1;
        }
        assert_eq!(next_out, next_in);
        assert_eq!(r.table.iter().filter(|c| c.is_some()).count(), 0);
        assert!(r.spare.is_some());
    }
}
