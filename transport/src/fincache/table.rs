//! One family's records: the FIFOs of its three MSL classes over a shared chunk pool, and
//! the open-addressing index that finds a record from its 4-tuple. Generic over the record
//! layout, so IPv4 and IPv6 records each have their own compact form and the lookup code
//! is the same.

use std::collections::VecDeque;

use super::bucket::{Bucket, EMPTY_BUCKET, NIL, SLOTS, free_entries, tag_matches};
use super::pool::{ChunkPool, Fifo, LOC_BITS, Loc};
use super::record::{RawKey, Record, Side};
use super::{FinCacheConfig, MslClass, TwState};
use crate::time::Instant;

/// The location bits of an index entry (see [`NIL`] for its layout).
const LOC_MASK: u32 = (1 << LOC_BITS) - 1;
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
    index: Vec<Bucket>,
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
            index: Vec::new(),
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
        self.index.capacity() * size_of::<Bucket>()
    }

    /// Bytes allocated: record chunks, index, FIFOs' chunk ids, time runs.
    pub(super) fn memory(&self) -> usize {
        let classes: usize =
            self.classes.iter().map(|c| c.fifo.ids_bytes() + c.times.capacity() * size_of::<(Instant, u32)>()).sum();
        self.pool.allocated() + classes + self.index_bytes()
    }

    /// (home bucket, tag) of a key.
    #[inline(always)]
    fn hash(&self, key: &RawKey<R::Ip>) -> (usize, u32) {
        let h = R::hash(&self.hasher, key);
        // Multiply-shift range reduction on the low 32 bits (any bucket count, no modulo);
        // the tag comes from the top 8 bits, so the two are independent.
        let home = ((h & 0xffff_ffff) * self.index.len() as u64) >> 32;
        (home as usize, ((h >> 56) as u32) << 24)
    }

    #[inline(always)]
    fn next_bucket(&self, b: usize) -> usize {
        if b + 1 == self.index.len() { 0 } else { b + 1 }
    }

    fn make_ref(at: Loc, tag: u32, has_ts: bool) -> u32 {
        tag | if has_ts { HAS_TS } else { 0 } | at.bits()
    }

    /// The record an index entry names and its chunk's owner: one load from the pool's
    /// chunk table and the record (this is on the lookup path, between its two cache
    /// misses).
    #[inline(always)]
    fn record(&self, r: u32) -> Option<(&R, &Side, u8)> {
        self.pool.get(Loc::from_bits(r & LOC_MASK))
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

    /// Probes from `home` for an entry with `tag` that `matches` accepts. Returns
    /// (buckets stepped over, bucket, slot, entry).
    #[inline(always)]
    fn probe_at(&self, home: usize, tag: u32, mut matches: impl FnMut(u32) -> bool) -> Option<(usize, usize, usize, u32)> {
        if self.index.is_empty() {
            return None;
        }
        let mut b = home;
        for step in 0..self.index.len() {
            let bucket = &self.index[b];
            let mut candidates = tag_matches(bucket, tag);
            while candidates != 0 {
                let slot = candidates.trailing_zeros() as usize;
                candidates &= candidates - 1;
                let e = bucket.entries[slot];
                if e != NIL && matches(e) {
                    return Some((step, b, slot, e));
                }
            }
            if bucket.overflow == 0 {
                return None;
            }
            b = self.next_bucket(b);
        }
        None
    }

    #[inline(always)]
    fn find_at(&self, key: &RawKey<R::Ip>, home: usize, tag: u32) -> Option<(usize, usize, usize, u32)> {
        if key.local_idx != 0 && !self.mixed_local {
            return None;
        }
        self.probe_at(home, tag, |e| self.record(e).is_some_and(|(r, side, _)| self.is_for(r, side, key)))
    }

    /// The first free slot on `key`'s probe path, if one lies within the buckets a lookup
    /// would read: (buckets stepped over, bucket, slot).
    #[inline(always)]
    fn free_slot_at(&self, home: usize) -> Option<(usize, usize, usize)> {
        let mut b = home;
        for step in 0..self.index.len() {
            let bucket = &self.index[b];
            let free = free_entries(bucket);
            if free != 0 {
                return Some((step, b, free.trailing_zeros() as usize));
            }
            if bucket.overflow == 0 {
                return None;
            }
            b = self.next_bucket(b);
        }
        None
    }

    /// The record for `key`, if one is live.
    #[inline(always)]
    pub(super) fn get(&self, key: &RawKey<R::Ip>) -> Option<TwState> {
        // The probe loop written out (not `probe_at` with a closure): this is the shard's
        // per-segment question, and the fewer instructions between its two cache misses,
        // the more lookups the CPU keeps in flight.
        if self.index.is_empty() || (key.local_idx != 0 && !self.mixed_local) {
            return None;
        }
        let (home, tag) = self.hash(key);
        let mut b = home;
        for _ in 0..self.index.len() {
            let bucket = &self.index[b];
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
            b = self.next_bucket(b);
        }
        None
    }

    /// Takes entry (`steps` buckets past the key's home, at `b`/`slot`) out of the index
    /// and marks its record dead; the record's slot in the FIFO is reclaimed when it
    /// reaches the head.
    fn erase(&mut self, home: usize, found: (usize, usize, usize, u32)) {
        let (steps, b, slot, r) = found;
        self.index[b].entries[slot] = NIL;
        let mut at = home;
        for _ in 0..steps {
            let over = &mut self.index[at].overflow;
            *over = over.saturating_sub(1);
            at = self.next_bucket(at);
        }
        if let Some((_, side, owner)) = self.pool.get_mut(Loc::from_bits(r & LOC_MASK)) {
            side.kill();
            self.classes[class_of(owner) as usize].live -= 1;
        }
    }

    fn place(&mut self, home: usize, entry: u32) {
        // Usually the home bucket, which the duplicate check has just read.
        if let Some((steps, b, slot)) = self.free_slot_at(home) {
            self.index[b].entries[slot] = entry;
            let mut at = home;
            for _ in 0..steps {
                self.index[at].overflow += 1;
                at = self.next_bucket(at);
            }
            return;
        }
        let mut b = home;
        loop {
            if let Some(slot) = self.index[b].entries.iter().position(|&e| e == NIL) {
                self.index[b].entries[slot] = entry;
                return;
            }
            self.index[b].overflow += 1;
            b = self.next_bucket(b);
        }
    }

    /// Adds a record (replacing a live one for the same key). The caller has made room.
    pub(super) fn insert(&mut self, cfg: &FinCacheConfig, now: Instant, key: RawKey<R::Ip>, state: TwState) {
        if self.index.is_empty() {
            // Half the entry slots used at full capacity: overflow is rare, and the index
            // costs 64 / 7.5 ≈ 8.5 bytes a record.
            let buckets = (cfg.capacity * 2).div_ceil(SLOTS).max(2);
            self.index = vec![EMPTY_BUCKET; buckets];
        }
        if self.slots == 0 {
            self.mixed_local = false;
        }
        let (home, tag) = self.hash(&key);
        if let Some(found) = self.find_at(&key, home, tag) {
            self.erase(home, found);
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
        self.place(home, Self::make_ref(at, tag, state.ts_recent.is_some()));
        self.counts.inserted += 1;
    }

    /// Removes the record for `key`.
    pub(super) fn remove(&mut self, key: &RawKey<R::Ip>) -> Option<TwState> {
        let (home, tag) = self.hash(key);
        let found = self.find_at(key, home, tag)?;
        let st = self.record(found.3).map(|(r, _, owner)| Self::state_of(found.3, r, owner))?;
        self.erase(home, found);
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
        {
            prefetch(&self.index[self.hash(&ahead.key(side)).0]);
        }
        let Some(at) = fifo.front() else { return false };
        let front = self.pool.get(at).map(|(r, side, _)| (*r, *side));
        let live = front.is_some_and(|(_, side)| side.live());
        if let Some((rec, side)) = front
            && live
        {
            let (home, tag) = self.hash(&rec.key(&side));
            let me = Self::make_ref(at, tag, false);
            if let Some(found) = self.probe_at(home, tag, |e| e & !HAS_TS == me) {
                self.erase(home, found);
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

    /// When the oldest record of any class is due.
    pub(super) fn next_expiry(&self, cfg: &FinCacheConfig) -> Option<Instant> {
        MslClass::ALL.iter().filter_map(|&c| self.classes[c as usize].front_time().map(|t| t + cfg.duration(c))).min()
    }
}
