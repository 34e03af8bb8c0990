//! Record storage: 4,096-record chunks in one pool shared by the three MSL classes, and
//! each class's FIFO as a queue of chunk ids.
//!
//! Chunks keep memory proportional to what is held (no doubling slack beyond one chunk,
//! no copying on growth), and a record never moves while it lives, so the hash index can
//! name it by (chunk id, offset) in 24 bits. Finding a record from its index entry is then
//! one load from the pool's chunk table and the record itself: nothing per class sits
//! between the two cache misses of a lookup hit.
//!
//! A chunk keeps each record in two parts: the record proper (`T`) in a cache-line-aligned
//! array, and a small side part (`M`) in an array beside it. A record whose size divides
//! 64 (the 32-byte IPv6 one) then never straddles two lines, so a hit costs one line of
//! record; the side part, read in parallel from a much smaller array, rarely misses.

use std::collections::VecDeque;

/// Records per chunk.
pub(super) const CHUNK: usize = 4096;
/// Bits of an offset within a chunk.
pub(super) const OFFSET_BITS: u32 = CHUNK.trailing_zeros();
/// Chunk ids are 11 bits (2,047 chunks, 8.4 million records, twice the cache's largest
/// capacity); the last one is never handed out, so an all-ones location is never a
/// record's.
pub(super) const CHUNK_BITS: u32 = 11;
pub(super) const MAX_CHUNKS: usize = (1 << CHUNK_BITS) - 1;
/// The bits of a location: chunk id, then offset.
pub(super) const LOC_BITS: u32 = CHUNK_BITS + OFFSET_BITS;

/// Types for which all-zero bytes are a valid value (plain integers and structs of them):
/// a chunk is allocated zeroed, which for a fresh chunk costs no writes at all.
///
/// # Safety
/// All-zero bytes must be a valid value of the type, and the type must not be zero-sized
/// (a chunk of it is allocated directly).
pub(super) unsafe trait Zeroable: Copy {}

// SAFETY: an integer is valid as all-zero bytes.
unsafe impl Zeroable for u32 {}

/// One chunk: the records, line-aligned, and their side parts.
#[repr(C, align(64))]
struct Slab<T, M> {
    recs: [T; CHUNK],
    side: [M; CHUNK],
}

type Chunk<T, M> = Box<Slab<T, M>>;

fn new_chunk<T: Zeroable, M: Zeroable>() -> Chunk<T, M> {
    let layout = std::alloc::Layout::new::<Slab<T, M>>();
    // SAFETY: a Slab's layout is not zero-sized: Zeroable types are not.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<Slab<T, M>>();
    if ptr.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    // SAFETY: allocated by the global allocator with a Slab's layout, and a Slab is two
    // arrays of Zeroable types, so the all-zero bytes are a valid Slab.
    unsafe { Box::from_raw(ptr) }
}

/// Where a record lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Loc {
    pub(super) chunk: u16,
    pub(super) off: u16,
}

impl Loc {
    /// The location as [`LOC_BITS`] bits: chunk id, then offset.
    pub(super) fn bits(self) -> u32 {
        (u32::from(self.chunk) << OFFSET_BITS) | u32::from(self.off)
    }

    pub(super) fn from_bits(bits: u32) -> Loc {
        Loc { chunk: ((bits >> OFFSET_BITS) & MAX_CHUNKS as u32) as u16, off: (bits & (CHUNK as u32 - 1)) as u16 }
    }
}

/// Chunks by id.
pub(super) struct ChunkPool<T, M> {
    /// Each chunk with the owner it was taken for (a small number the FIFO that fills it
    /// gives): what all of a chunk's records share is kept here once, in a table small
    /// enough to stay in cache, instead of in every record.
    chunks: Vec<Option<(Chunk<T, M>, u8)>>,
    free_ids: Vec<u16>,
    /// The chunk of a FIFO that emptied, kept back: a FIFO that empties between records
    /// (a trickle of connections, each record expiring before the next comes) would
    /// otherwise allocate and free a whole chunk for every record. A chunk a FIFO passes
    /// while it still holds records is freed: it needs its next one only 4,096 records
    /// later, and kept, the spare of every table of every shard would stay allocated for
    /// good from the first time its FIFO moved past a chunk (a step of a chunk per table
    /// that a soak's memory showed as creep).
    spare: Option<Chunk<T, M>>,
}

impl<T, M> std::fmt::Debug for ChunkPool<T, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkPool").field("chunks", &self.chunks.iter().filter(|c| c.is_some()).count()).finish_non_exhaustive()
    }
}

impl<T: Zeroable, M: Zeroable> ChunkPool<T, M> {
    pub(super) fn new() -> Self {
        ChunkPool { chunks: Vec::new(), free_ids: Vec::new(), spare: None }
    }

    /// A chunk for a FIFO to fill, by id.
    fn take(&mut self, owner: u8) -> u16 {
        let chunk = self.spare.take().unwrap_or_else(new_chunk);
        let id = self.free_ids.pop().unwrap_or_else(|| {
            self.chunks.push(None);
            (self.chunks.len() - 1) as u16
        });
        debug_assert!(usize::from(id) < MAX_CHUNKS, "more chunks than the capacity allows");
        self.chunks[usize::from(id)] = Some((chunk, owner));
        id
    }

    /// A chunk a FIFO is done with; `emptied` if the FIFO holds no record now.
    fn give_back(&mut self, id: u16, emptied: bool) {
        if let Some((chunk, _)) = self.chunks.get_mut(usize::from(id)).and_then(Option::take) {
            if emptied && self.spare.is_none() {
                self.spare = Some(chunk);
            }
            self.free_ids.push(id);
        }
    }

    /// A record's two parts and its chunk's owner. Only the references are made here: a
    /// caller that does not read the side part does not load its line.
    #[inline(always)]
    pub(super) fn get(&self, at: Loc) -> Option<(&T, &M, u8)> {
        let (chunk, owner) = self.chunks.get(usize::from(at.chunk))?.as_ref()?;
        let off = usize::from(at.off);
        Some((chunk.recs.get(off)?, chunk.side.get(off)?, *owner))
    }

    pub(super) fn get_mut(&mut self, at: Loc) -> Option<(&mut T, &mut M, u8)> {
        let (chunk, owner) = self.chunks.get_mut(usize::from(at.chunk))?.as_mut()?;
        let off = usize::from(at.off);
        Some((chunk.recs.get_mut(off)?, chunk.side.get_mut(off)?, *owner))
    }

    /// Bytes allocated: chunks (the spare included), the chunk table and the free ids.
    pub(super) fn allocated(&self) -> usize {
        let chunks = self.chunks.iter().filter(|c| c.is_some()).count() + usize::from(self.spare.is_some());
        chunks * size_of::<Slab<T, M>>() + self.table_bytes()
    }

    /// Bytes of the chunk table and the free-id list.
    pub(super) fn table_bytes(&self) -> usize {
        self.chunks.capacity() * size_of::<Option<(Chunk<T, M>, u8)>>() + self.free_ids.capacity() * size_of::<u16>()
    }
}

/// One FIFO of records in pool chunks, addressed by absolute position (u32, wrapping).
/// Chunk boundaries fall on multiples of `CHUNK` in position space, so the chunk of a
/// position is found by a shift.
#[derive(Debug)]
pub(super) struct Fifo {
    /// The owner its chunks are taken for.
    owner: u8,
    /// Ids of the chunks holding `[base, base + len)`, front first.
    ids: VecDeque<u16>,
    base: u32,
    len: usize,
}

impl Fifo {
    pub(super) fn new(owner: u8) -> Self {
        Fifo { owner, ids: VecDeque::new(), base: 0, len: 0 }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Absolute position of the front record.
    pub(super) fn front_pos(&self) -> u32 {
        self.base
    }

    /// Where the record at absolute position `pos` lives, if it is in the FIFO.
    pub(super) fn at(&self, pos: u32) -> Option<Loc> {
        if pos.wrapping_sub(self.base) as usize >= self.len {
            return None;
        }
        // Chunk numbers are 20 bits (positions wrap at 2^32, a whole number of chunks).
        let nth = ((pos >> OFFSET_BITS).wrapping_sub(self.base >> OFFSET_BITS) & (u32::MAX >> OFFSET_BITS)) as usize;
        Some(Loc { chunk: *self.ids.get(nth)?, off: (pos as usize % CHUNK) as u16 })
    }

    pub(super) fn front(&self) -> Option<Loc> {
        self.at(self.base)
    }

    /// Appends `v`; returns its position and location. Inlined so the caller's record is
    /// stored straight into the chunk: built on the stack and copied, its piecewise stores
    /// and the copy's wide loads missed store forwarding on every insert.
    #[inline(always)]
    pub(super) fn push_back<T: Zeroable, M: Zeroable>(&mut self, pool: &mut ChunkPool<T, M>, (v, side): (T, M)) -> (u32, Loc) {
        let pos = self.base.wrapping_add(self.len as u32);
        if self.len == 0 || (pos as usize).is_multiple_of(CHUNK) {
            // A chunk starts here (or the FIFO is empty and holds none).
            self.ids.push_back(pool.take(self.owner));
        }
        self.len += 1;
        // The newest chunk holds the new position.
        let chunk = self.ids.back().copied().unwrap_or_else(|| unreachable!("a chunk was just ensured"));
        let at = Loc { chunk, off: (pos as usize % CHUNK) as u16 };
        if let Some((slot, slot_side, _)) = pool.get_mut(at) {
            *slot = v;
            *slot_side = side;
        }
        (pos, at)
    }

    /// Drops the front record, giving its chunk back once the chunk is done with.
    pub(super) fn pop_front<T: Zeroable, M: Zeroable>(&mut self, pool: &mut ChunkPool<T, M>) {
        if self.len == 0 {
            return;
        }
        self.base = self.base.wrapping_add(1);
        self.len -= 1;
        if ((self.base as usize).is_multiple_of(CHUNK) || self.len == 0)
            && let Some(id) = self.ids.pop_front()
        {
            pool.give_back(id, self.len == 0);
        }
    }

    /// Bytes of the chunk-id queue.
    pub(super) fn ids_bytes(&self) -> usize {
        self.ids.capacity() * size_of::<u16>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_stay_valid_across_chunks_and_wrap() {
        let mut pool: ChunkPool<u32, u32> = ChunkPool::new();
        let mut f = Fifo::new(7);
        f.base = u32::MAX - 10;
        let mut at = Vec::new();
        for i in 0..(CHUNK as u32 * 2 + 7) {
            at.push(f.push_back(&mut pool, (i, !i)));
        }
        assert_eq!(pool.get(at[5000].1), Some((&5000, &!5000, 7)));
        assert_eq!(f.at(at[5000].0), Some(at[5000].1));
        for i in 0..CHUNK as u32 + 3 {
            assert_eq!(f.front().and_then(|l| pool.get(l)), Some((&i, &!i, 7)));
            f.pop_front(&mut pool);
        }
        assert_eq!(f.at(at[0].0), None, "popped records are gone");
        assert_eq!(pool.get(at[CHUNK + 3].1).map(|r| *r.0), Some(CHUNK as u32 + 3));
        assert_eq!(f.len(), CHUNK + 4);
        assert_eq!(f.front_pos(), at[CHUNK + 3].0);
        assert_eq!(Loc::from_bits(at[CHUNK + 3].1.bits()), at[CHUNK + 3].1);
    }

    #[test]
    fn a_fifo_that_empties_between_records_reuses_one_chunk() {
        let mut pool: ChunkPool<u32, u32> = ChunkPool::new();
        let mut f = Fifo::new(0);
        f.push_back(&mut pool, (1, 0));
        let first = pool.chunks.iter().flatten().map(|(c, _)| &**c as *const Slab<u32, u32>).next();
        for i in 2..100 {
            f.pop_front(&mut pool);
            assert!(pool.spare.is_some(), "the emptied FIFO's chunk is kept back");
            f.push_back(&mut pool, (i, 0));
            assert!(pool.spare.is_none());
            let now = pool.chunks.iter().flatten().map(|(c, _)| &**c as *const Slab<u32, u32>).next();
            assert_eq!(now, first, "the same chunk every time, never a new one");
        }
    }

    #[test]
    fn three_fifos_share_chunks_and_keep_their_order() {
        // Steady state (push one, pop one) on three FIFOs over one pool: every value comes
        // back in order, chunks are reused by id, and memory stays what is in use: a chunk
        // passed by a FIFO that still holds records is freed, not kept.
        let mut pool: ChunkPool<u32, u32> = ChunkPool::new();
        let mut fifos = [Fifo::new(0), Fifo::new(1), Fifo::new(2)];
        let (mut next_in, mut next_out) = ([0u32; 3], [0u32; 3]);
        for (k, f) in fifos.iter_mut().enumerate() {
            for _ in 0..(k + 1) * CHUNK + 17 {
                f.push_back(&mut pool, (next_in[k], 0));
                next_in[k] += 1;
            }
        }
        for round in 0..10 * CHUNK {
            let k = round % 3;
            fifos[k].push_back(&mut pool, (next_in[k], 0));
            next_in[k] += 1;
            assert_eq!(fifos[k].front().and_then(|l| pool.get(l)).map(|r| (*r.0, r.2)), Some((next_out[k], k as u8)), "each chunk knows its FIFO");
            fifos[k].pop_front(&mut pool);
            next_out[k] += 1;
        }
        let in_use: usize = fifos.iter().map(|f| f.ids.len()).sum();
        let held = pool.chunks.iter().filter(|c| c.is_some()).count();
        assert_eq!(held, in_use);
        assert!(pool.spare.is_none(), "no FIFO emptied: nothing kept back");
        assert_eq!(pool.allocated(), CHUNK * 8 * in_use + pool.table_bytes());
        assert!(pool.chunks.len() <= in_use + 3, "ids are reused: {} for {in_use}", pool.chunks.len());
        for (k, f) in fifos.iter_mut().enumerate() {
            while let Some(l) = f.front() {
                assert_eq!(pool.get(l).map(|r| *r.0), Some(next_out[k]));
                f.pop_front(&mut pool);
                next_out[k] += 1;
            }
            assert_eq!(next_out[k], next_in[k]);
        }
        assert_eq!(pool.chunks.iter().filter(|c| c.is_some()).count(), 0);
        assert!(pool.spare.is_some());
        assert_eq!(pool.allocated(), CHUNK * 8 + pool.table_bytes(), "only the spare is left");
    }
}
