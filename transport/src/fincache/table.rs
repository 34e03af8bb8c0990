//! One family's records: the FIFOs of its three MSL classes over a shared chunk pool, and
//! the open-addressing index that finds a record from its 4-tuple. Generic over the record
//! layout, so IPv4 and IPv6 records each have their own compact form and the lookup code
//! is the same.

use std::collections::VecDeque;

use super::bucket::{Bucket, SLOTS, tag_matches};
use super::index::{Found, Index, home_of, tag_of};
use super::pool::{ChunkPool, Fifo, LOC_BITS, Loc};
use super::record::{RawKey, Record, Side};
use super::{FinCacheConfig, MslClass, TwState};
use crate::time::Instant;

/// The location bits of an index entry (see [`NIL`] for its layout).
const LOC_MASK: u32 = (1 << LOC_BITS) - 1;
/// Where the record an index entry names is.
#[inline(always)]
fn loc_of(entry: u32) -> Loc {
    Loc::from_bits(entry & LOC_MASK)
}

/// The entry bit that says the record's connection used timestamps (its TS.Recent is
/// meaningful).
const HAS_TS: u32 = 1 << LOC_BITS;
/// How many records ahead of the one leaving the FIFO have their index line prefetched.
const PREFETCH_AHEAD: u32 = 8;

/// Hints the CPU to bring `value`'s cache line in.
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it cannot fault and does not change memory, and
    // the pointer comes from a live reference anyway.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>((value as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Insertion times are kept per run of records inserted in the same millisecond, rounded
/// up so a record never expires early. A class then holds at most one run per millisecond
/// of its TIME-WAIT (60,000 for the remote class), however fast records arrive.
fn time_run(now: Instant) -> Instant {
    Instant::from_nanos(now.as_nanos().div_ceil(1_000_000).saturating_mul(1_000_000))
}

/// One MSL class: its FIFO and the insertion time of each run of records.
#[derive(Debug)]
pub(super) struct Class {
    pub(super) fifo: Fifo,
    /// (time, position of the first record inserted at that time), oldest first.
    pub(super) times: VecDeque<(Instant, u32)>,
    pub(super) live: usize,
}

impl Class {
    fn new(class: MslClass) -> Self {
        Class { fifo: Fifo::new(class as u8), times: VecDeque::new(), live: 0 }
    }

    /// Insertion time of the front record.
    fn front_time(&self) -> Option<Instant> {
        self.fifo.front().and(self.times.front().map(|t| t.0))
    }

    /// After popping the front, drop time runs that no longer cover any record.
    fn trim_times(&mut self) {
        let head = self.fifo.front_pos();
        while self.times.len() > 1 && (self.times[1].1.wrapping_sub(head) as i32) <= 0 {
            self.times.pop_front();
        }
        if self.fifo.len() == 0 {
            self.times.clear();
        }
    }
}

/// What a table counts; the cache adds the two families' counts.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TableCounts {
    pub(super) inserted: u64,
    pub(super) expired: u64,
    pub(super) evicted: u64,
}

/// The records of one family.
#[derive(Debug)]
pub(super) struct Table<R: Record> {
    /// Where every record is, for all three classes.
    pub(super) pool: ChunkPool<R, Side>,
    pub(super) classes: [Class; 3],
    /// FIFO slots in use, live and dead, over all classes.
    pub(super) slots: usize,
    index: Index,
    hasher: ahash::RandomState,
    /// Whether a record for a local address other than the first (index 0) has been
    /// inserted since the table was last empty. Until one is, every record's local index
    /// is 0 and lookups need not read the side part to compare it.
    mixed_local: bool,
    pub(super) counts: TableCounts,
}

/// The class whose FIFO owns a chunk.
#[inline(always)]
fn class_of(owner: u8) -> MslClass {
    MslClass::ALL[usize::from(owner).min(2)]
}

impl<R: Record> Table<R> {
    pub(super) fn new() -> Self {
        Table {
            pool: ChunkPool::new(),
            classes: MslClass::ALL.map(Class::new),
            slots: 0,
            index: Index::default(),
            hasher: ahash::RandomState::new(),
            mixed_local: false,
            counts: TableCounts::default(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.classes.iter().map(|c| c.live).sum()
    }

    pub(super) fn live(&self, class: MslClass) -> usize {
        self.classes[class as usize].live
    }

    pub(super) fn index_bytes(&self) -> usize {
        self.index.bytes()
    }

    /// Bytes allocated: record chunks, index, FIFOs' chunk ids, time runs.
    pub(super) fn memory(&self) -> usize {
        let classes: usize =
            self.classes.iter().map(|c| c.fifo.ids_bytes() + c.times.capacity() * size_of::<(Instant, u32)>()).sum();
        self.pool.allocated() + classes + self.index_bytes()
    }

    /// The 64-bit hash of a key: the index takes the home bucket from its low half and the
    /// tag from its top byte.
    #[inline(always)]
    fn hash(&self, key: &RawKey<R::Ip>) -> u64 {
        R::hash(&self.hasher, key)
    }

    /// Asks the CPU for the record an index entry names and its side part (finding their
    /// addresses reads only the pool's small chunk table).
    #[inline(always)]
    fn warm_entry(pool: &ChunkPool<R, Side>, e: u32) {
        if let Some((r, side, _)) = pool.get(loc_of(e)) {
            prefetch(r);
            prefetch(side);
        }
    }

    /// The hash of the record an index entry names (for the entries a growing index moves).
    /// Every entry names a live record (a record dies by having its entry erased), so the
    /// fallback is never taken.
    fn hash_of_entry(pool: &ChunkPool<R, Side>, hasher: &ahash::RandomState, e: u32) -> u64 {
        pool.get(loc_of(e)).map_or(0, |(r, side, _)| R::hash(hasher, &r.key(side)))
    }

    fn make_ref(at: Loc, tag: u32, has_ts: bool) -> u32 {
        tag | if has_ts { HAS_TS } else { 0 } | at.bits()
    }

    /// The record an index entry names and its chunk's owner: one load from the pool's
    /// chunk table and the record (this is on the lookup path, between its two cache
    /// misses).
    #[inline(always)]
    fn record(&self, r: u32) -> Option<(&R, &Side, u8)> {
        self.pool.get(loc_of(r))
    }

    /// The state of the record entry `r` names.
    #[inline(always)]
    fn state_of(r: u32, rec: &R, owner: u8) -> TwState {
        rec.state(r & HAS_TS != 0, class_of(owner))
    }

    /// True if `rec` (with `side`) is `key`'s record. The side part is read only when the
    /// table holds records of several local addresses.
    #[inline(always)]
    fn is_for(&self, rec: &R, side: &Side, key: &RawKey<R::Ip>) -> bool {
        rec.matches(key) && (!self.mixed_local || side.local_idx == key.local_idx)
    }

    /// The index entry of `key`'s live record, if it has one.
    #[inline(always)]
    fn find(&self, key: &RawKey<R::Ip>, h: u64) -> Option<Found> {
        if key.local_idx != 0 && !self.mixed_local {
            return None;
        }
        self.index.find(h, |e| self.record(e).is_some_and(|(r, side, _)| self.is_for(r, side, key)))
    }

    /// The record for `key`, if one is live.
    #[inline(always)]
    pub(super) fn get(&self, key: &RawKey<R::Ip>) -> Option<TwState> {
        if self.index.is_unallocated() || (key.local_idx != 0 && !self.mixed_local) {
            return None;
        }
        let h = self.hash(key);
        let (current, old) = self.index.buckets();
        let found = self.get_in(current, key, h);
        // The old index has entries only while the index grows; its probe stays out of
        // line, so the common path is as short as it was before indexes grew.
        if found.is_some() || old.is_empty() { found } else { self.get_in_old(key, h) }
    }

    #[cold]
    #[inline(never)]
    fn get_in_old(&self, key: &RawKey<R::Ip>, h: u64) -> Option<TwState> {
        self.get_in(self.index.buckets().1, key, h)
    }

    /// [`get`](Self::get) in one index. The probe loop written out (not `Index::find` with
    /// a closure): this is the shard's per-segment question, and the fewer instructions
    /// between its two cache misses, the more lookups the CPU keeps in flight.
    #[inline(always)]
    fn get_in(&self, buckets: &[Bucket], key: &RawKey<R::Ip>, h: u64) -> Option<TwState> {
        let tag = tag_of(h);
        let mut b = home_of(h, buckets.len());
        for _ in 0..buckets.len() {
            let bucket = &buckets[b];
            let mut candidates = tag_matches(bucket, tag);
            while candidates != 0 {
                let e = bucket.entries[candidates.trailing_zeros() as usize];
                candidates &= candidates - 1;
                if let Some((r, side, owner)) = self.record(e)
                    && self.is_for(r, side, key)
                {
                    return Some(Self::state_of(e, r, owner));
                }
            }
            if bucket.overflow == 0 {
                return None;
            }
            b = if b + 1 == buckets.len() { 0 } else { b + 1 };
        }
        None
    }

    /// Takes a found entry out of the index and marks its record dead; the record's slot
    /// in the FIFO is reclaimed when it reaches the head.
    fn erase(&mut self, found: &Found) {
        self.index.erase(found);
        if let Some((_, side, owner)) = self.pool.get_mut(loc_of(found.entry)) {
            side.kill();
            self.classes[class_of(owner) as usize].live -= 1;
        }
    }

    pub(super) fn insert(&mut self, cfg: &FinCacheConfig, now: Instant, key: RawKey<R::Ip>, state: TwState) {
        if self.slots == 0 {
            self.mixed_local = false;
        }
        let h = self.hash(&key);
        if let Some(found) = self.find(&key, h) {
            self.erase(&found);
        }
        self.mixed_local |= key.local_idx != 0;
        let class = state.class as usize;
        let rec = R::from_state(&key, &state);
        let c = &mut self.classes[class];
        let (pos, at) = c.fifo.push_back(&mut self.pool, rec);
        // Most inserts fall in the newest run; only a new run pays for the division.
        let in_newest_run = c.times.back().is_some_and(|&(t, _)| {
            let (run, n) = (t.as_nanos(), now.as_nanos());
            n <= run && run - n < 1_000_000
        });
        if !in_newest_run {
            let run = time_run(now);
            if c.times.back().is_none_or(|t| t.0 != run) {
                c.times.push_back((run, pos));
            }
        }
        c.live += 1;
        self.slots += 1;
        // Half the entry slots used at full capacity: overflow is rare, and the full index
        // costs 64 / 7.5 ≈ 8.5 bytes a record.
        let max_buckets = (cfg.capacity * 2).div_ceil(SLOTS);
        let (pool, hasher) = (&self.pool, &self.hasher);
        self.index.insert(h, Self::make_ref(at, tag_of(h), state.ts_recent.is_some()), max_buckets, |e| Self::hash_of_entry(pool, hasher, e), |e| {
            Self::warm_entry(pool, e)
        });
        self.counts.inserted += 1;
    }

    /// Removes the record for `key`.
    pub(super) fn remove(&mut self, key: &RawKey<R::Ip>) -> Option<TwState> {
        let found = self.find(key, self.hash(key))?;
        let st = self.record(found.entry).map(|(r, _, owner)| Self::state_of(found.entry, r, owner))?;
        self.erase(&found);
        Some(st)
    }

    /// Insertion time of the oldest record of any class, and that class.
    pub(super) fn oldest(&self) -> Option<(Instant, usize)> {
        (0..3).filter_map(|i| self.classes[i].front_time().map(|t| (t, i))).min()
    }

    /// Pops the front of class `i`; true if it was a live record.
    pub(super) fn pop_front(&mut self, i: usize) -> bool {
        let fifo = &self.classes[i].fifo;
        // Records leave in FIFO order but their index lines are scattered: ask for the
        // line of a record a few places back now, so that by its turn the line is in cache
        // and a run of expiries overlaps its misses instead of paying them one by one.
        if let Some((ahead, side, _)) = fifo.at(fifo.front_pos().wrapping_add(PREFETCH_AHEAD)).and_then(|at| self.pool.get(at))
            && side.live()
            && let Some(line) = self.index.line(self.hash(&ahead.key(side)))
        {
            prefetch(line);
        }
        let Some(at) = fifo.front() else { return false };
        let front = self.pool.get(at).map(|(r, side, _)| (*r, *side));
        let live = front.is_some_and(|(_, side)| side.live());
        if let Some((rec, side)) = front
            && live
        {
            let h = self.hash(&rec.key(&side));
            let me = Self::make_ref(at, tag_of(h), false);
            if let Some(found) = self.index.find(h, |e| e & !HAS_TS == me) {
                self.erase(&found);
            }
        }
        let c = &mut self.classes[i];
        c.fifo.pop_front(&mut self.pool);
        self.slots -= 1;
        c.trim_times();
        live
    }

    /// Expires due records, taking one from `budget` for each. Returns true if more are
    /// due when the budget ran out.
    pub(super) fn expire(&mut self, cfg: &FinCacheConfig, now: Instant, budget: &mut usize) -> bool {
        for class in MslClass::ALL {
            let i = class as usize;
            let dur = cfg.duration(class);
            while let Some(t) = self.classes[i].front_time() {
                if now - t < dur {
                    break;
                }
                if *budget == 0 {
                    return true;
                }
                *budget -= 1;
                if self.pop_front(i) {
                    self.counts.expired += 1;
                }
            }
        }
        false
    }

    /// True while the index is growing (see `index`).
    pub(super) fn growing(&self) -> bool {
        self.index.growing()
    }

    /// Moves up to `buckets` buckets of a growing index; true if the move goes on.
    pub(super) fn grow_step(&mut self, buckets: usize) -> bool {
        let (pool, hasher) = (&self.pool, &self.hasher);
        self.index.move_buckets(buckets, &mut |e| Self::hash_of_entry(pool, hasher, e), &mut |e| Self::warm_entry(pool, e));
        self.index.growing()
    }

    /// When the oldest record of any class is due.
    pub(super) fn next_expiry(&self, cfg: &FinCacheConfig) -> Option<Instant> {
        MslClass::ALL.iter().filter_map(|&c| self.classes[c as usize].front_time().map(|t| t + cfg.duration(c))).min()
    }
}
