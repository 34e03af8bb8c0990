//! One family's index: F14-style buckets (see `bucket`) that grow with the records.
//!
//! An index starts at a few buckets and doubles whenever half its entry slots are in use,
//! up to the size the cache's capacity needs (so a full cache has the index it always had,
//! about 8.5 bytes a record). Entries move to the larger index a few buckets per insert
//! (incremental rehashing, as Redis's dict does): no insert pays for moving a whole
//! table, which at a quarter of a million records would stall the shard for milliseconds.
//! A shard with a handful of TIME-WAIT records then spends 512 bytes on its index, not the
//! 2.2 MB a default capacity's index takes.
//!
//! While a move is under way a lookup probes the new index, then the old one. The old
//! index keeps its overflow counts as its buckets are emptied, so a probe that passes an
//! emptied bucket still goes on to the entries placed past it.

use super::bucket::{Bucket, EMPTY_BUCKET, NIL, SLOTS, free_entries, tag_matches};

/// Buckets of a new index (512 bytes, 60 entries).
const INITIAL_BUCKETS: usize = 8;
/// Buckets of the old index moved per insert while growing. The move ends after half as
/// many inserts as the old index has buckets, long before the new one is half full
/// (about 7.5 inserts a bucket).
const MOVE_PER_INSERT: usize = 2;

/// The home bucket of hash `h` among `len` buckets: multiply-shift range reduction on the
/// low 32 bits (any bucket count, no modulo).
#[inline(always)]
pub(super) fn home_of(h: u64, len: usize) -> usize {
    (((h & 0xffff_ffff) * len as u64) >> 32) as usize
}

/// The tag of hash `h`: its top 8 bits, independent of the home bucket's bits, in the
/// entry's top byte.
#[inline(always)]
pub(super) fn tag_of(h: u64) -> u32 {
    ((h >> 56) as u32) << 24
}

#[inline(always)]
fn next(b: usize, len: usize) -> usize {
    if b + 1 == len { 0 } else { b + 1 }
}

/// Which of the two indexes an entry was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Current,
    Old,
}

/// Where an entry was found: enough to erase it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Found {
    which: Which,
    home: usize,
    /// Buckets stepped over from `home`.
    steps: usize,
    bucket: usize,
    slot: usize,
    /// The entry itself.
    pub(super) entry: u32,
}

/// Probes `buckets` from `home` for an entry with `tag` that `matches` accepts.
#[inline(always)]
fn probe(buckets: &[Bucket], home: usize, tag: u32, mut matches: impl FnMut(u32) -> bool) -> Option<(usize, usize, usize, u32)> {
    let mut b = home;
    for step in 0..buckets.len() {
        let bucket = &buckets[b];
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
        b = next(b, buckets.len());
    }
    None
}

/// Puts `entry` in the first free slot from `home` on, counting it as overflow in every
/// bucket it passes. `buckets` has a free slot (the index is never over half full).
fn place(buckets: &mut [Bucket], home: usize, entry: u32) {
    let len = buckets.len();
    let mut b = home;
    loop {
        let free = free_entries(&buckets[b]);
        if free != 0 {
            buckets[b].entries[free.trailing_zeros() as usize] = entry;
            return;
        }
        buckets[b].overflow += 1;
        b = next(b, len);
    }
}

/// Asks `warm` for the records of the `MOVE_PER_INSERT` buckets of `old` from `from` on.
#[inline(always)]
fn warm_group(old: &[Bucket], from: usize, warm: &mut impl FnMut(u32)) {
    for bucket in &old[from.min(old.len())..(from + MOVE_PER_INSERT).min(old.len())] {
        for &e in &bucket.entries {
            if e != NIL {
                warm(e);
            }
        }
    }
}

/// The index of one family's records.
#[derive(Debug, Default)]
pub(super) struct Index {
    /// Where new entries go.
    current: Vec<Bucket>,
    /// The index being emptied into `current`; empty when no move is under way.
    old: Vec<Bucket>,
    /// Buckets of `old` emptied so far.
    moved: usize,
    /// Entries in both.
    entries: usize,
}

impl Index {
    /// True before the first insert (nothing allocated).
    #[inline(always)]
    pub(super) fn is_unallocated(&self) -> bool {
        self.current.is_empty()
    }

    /// Bytes allocated, both indexes.
    pub(super) fn bytes(&self) -> usize {
        (self.current.capacity() + self.old.capacity()) * size_of::<Bucket>()
    }

    /// The buckets new entries go to, and the ones still being emptied (empty when none).
    #[inline(always)]
    pub(super) fn buckets(&self) -> (&[Bucket], &[Bucket]) {
        (&self.current, &self.old)
    }

    /// The line hash `h` starts at in the current index (to prefetch it).
    #[inline(always)]
    pub(super) fn line(&self, h: u64) -> Option<&Bucket> {
        self.current.get(home_of(h, self.current.len()))
    }

    /// The entry for hash `h` that `matches` accepts, in either index.
    #[inline(always)]
    pub(super) fn find(&self, h: u64, mut matches: impl FnMut(u32) -> bool) -> Option<Found> {
        let tag = tag_of(h);
        for (which, buckets) in [(Which::Current, &self.current), (Which::Old, &self.old)] {
            if buckets.is_empty() {
                continue;
            }
            let home = home_of(h, buckets.len());
            if let Some((steps, bucket, slot, entry)) = probe(buckets, home, tag, &mut matches) {
                return Some(Found { which, home, steps, bucket, slot, entry });
            }
        }
        None
    }

    /// Takes a found entry out.
    pub(super) fn erase(&mut self, f: &Found) {
        let buckets = match f.which {
            Which::Current => &mut self.current,
            Which::Old => &mut self.old,
        };
        let len = buckets.len();
        buckets[f.bucket].entries[f.slot] = NIL;
        let mut at = f.home;
        for _ in 0..f.steps {
            let over = &mut buckets[at].overflow;
            *over = over.saturating_sub(1);
            at = next(at, len);
        }
        self.entries -= 1;
    }

    /// Adds `entry` for hash `h`. The index grows first if it is half full and below
    /// `max_buckets`; for the entries a growing index moves, `hash_of` gives the hash of
    /// an entry's record and `warm` asks the CPU for the record ahead of that.
    pub(super) fn insert(&mut self, h: u64, entry: u32, max_buckets: usize, mut hash_of: impl FnMut(u32) -> u64, mut warm: impl FnMut(u32)) {
        let max_buckets = max_buckets.max(2);
        if self.current.is_empty() {
            self.current = vec![EMPTY_BUCKET; INITIAL_BUCKETS.min(max_buckets)];
        } else if (self.entries + 1) * 2 > self.current.len() * SLOTS && self.current.len() < max_buckets {
            // A move still under way (only if records came faster than it went) finishes
            // before the next one starts.
            self.move_buckets(usize::MAX, &mut hash_of, &mut warm);
            let len = (self.current.len() * 2).min(max_buckets);
            self.old = std::mem::replace(&mut self.current, vec![EMPTY_BUCKET; len]);
            self.moved = 0;
        }
        let home = home_of(h, self.current.len());
        place(&mut self.current, home, entry);
        self.entries += 1;
        self.move_buckets(MOVE_PER_INSERT, &mut hash_of, &mut warm);
    }

    /// True while entries are being moved to a larger index (lookups probe both).
    pub(super) fn growing(&self) -> bool {
        !self.old.is_empty()
    }

    /// Moves up to `n` buckets' entries from the old index to the current one; frees the
    /// old one once it is empty.
    pub(super) fn move_buckets(&mut self, n: usize, hash_of: &mut impl FnMut(u32) -> u64, warm: &mut impl FnMut(u32)) {
        if self.old.is_empty() {
            return;
        }
        let end = self.old.len().min(self.moved.saturating_add(n));
        let len = self.current.len();
        // Every record a moved entry names is read for its hash. The buckets go in groups
        // of `MOVE_PER_INSERT`, and the records of the group after are asked for before a
        // group is moved (the first group of a move asks for its own too), so that by the
        // time they are read, this call's or the next insert's, they are in cache: their
        // misses overlap instead of coming one by one.
        if self.moved == 0 {
            warm_group(&self.old, 0, warm);
        }
        let mut b = self.moved;
        while b < end {
            let group_end = (b + MOVE_PER_INSERT).min(end);
            warm_group(&self.old, group_end, warm);
            for bucket in b..group_end {
                for slot in 0..SLOTS {
                    let e = std::mem::replace(&mut self.old[bucket].entries[slot], NIL);
                    if e != NIL {
                        place(&mut self.current, home_of(hash_of(e), len), e);
                    }
                }
            }
            b = group_end;
        }
        self.moved = end;
        if self.moved == self.old.len() {
            self.old = Vec::new();
            self.moved = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A well-mixed 64-bit hash of `i`.
    fn mix(i: u32) -> u64 {
        let mut x = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x ^= x >> 29;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^ (x >> 32)
    }

    /// The hash of the record entry `e` names (here its low 24 bits are the key).
    fn hash(e: u32) -> u64 {
        mix(e & 0xff_ffff)
    }

    /// The entry for key `i`, tagged as the table tags entries.
    fn entry(i: u32) -> u32 {
        tag_of(mix(i)) | i
    }

    fn find(ix: &Index, e: u32) -> Option<Found> {
        ix.find(hash(e), |x| x == e)
    }

    #[test]
    fn grows_from_a_few_buckets_to_its_maximum_finding_every_entry_during_each_move() {
        let max = 2 * 20_000usize.div_ceil(SLOTS);
        let mut ix = Index::default();
        assert_eq!(ix.bytes(), 0, "nothing before the first insert");
        let mut moves_seen = 0;
        for i in 0..20_000u32 {
            let e = entry(i);
            ix.insert(hash(e), e, max, hash, |_| {});
            if !ix.old.is_empty() {
                moves_seen += 1;
                // Mid-move, entries are in either index; every one is found.
                if i % 97 == 0 {
                    assert!((0..=i).all(|j| find(&ix, entry(j)).is_some()), "an entry went missing mid-move at {i}");
                }
            }
            if i == 40 {
                assert!(ix.bytes() <= 32 * 64, "40 records, {} index bytes", ix.bytes());
            }
        }
        assert!(moves_seen > 0);
        assert!(ix.old.is_empty(), "the last move finished");
        assert_eq!(ix.current.len(), max, "grown to the capacity's size and no further");
        assert!((0..20_000).all(|j| find(&ix, entry(j)).is_some()));
        assert!(find(&ix, entry(20_000)).is_none());
        assert_eq!(ix.entries, 20_000);
    }

    #[test]
    fn entries_that_spilled_past_their_home_are_found_while_a_move_splits_them() {
        // Keys 0..20 have bucket 1 of the first 8 as home: fifteen fill it, five spill into
        // bucket 2. The move that starts at the 31st entry takes buckets 0 and 1 at once
        // and bucket 2 only at the next insert: in between, the five are found only by
        // going on past the emptied bucket 1, whose overflow count must still say so.
        let h = |e: u32| {
            let k = e & 0xff_ffff;
            if k < 20 { (1u64 << 29) + u64::from(k) * 1000 | (mix(k) & 0xff00_0000_0000_0000) } else { mix(k) }
        };
        let entry = |k: u32| tag_of(h(k)) | k;
        let mut ix = Index::default();
        let mut moving_seen = false;
        for k in 0..200 {
            ix.insert(h(k), entry(k), 1 << 10, h, |_| {});
            moving_seen |= ix.growing();
            for j in 0..=k {
                assert!(ix.find(h(j), |x| x == entry(j)).is_some(), "key {j} lost after inserting {k}");
            }
        }
        assert!(moving_seen);
    }

    #[test]
    fn an_entry_erased_from_the_old_index_mid_move_stays_erased_and_its_neighbours_stay_found() {
        let mut ix = Index::default();
        let max = 1 << 12;
        let mut i = 0u32;
        // Insert until a move starts.
        while ix.old.is_empty() {
            let e = entry(i);
            ix.insert(hash(e), e, max, hash, |_| {});
            i += 1;
        }
        // Erase every other entry still in the old index, then finish the move.
        let in_old: Vec<u32> = (0..i).map(entry).filter(|&e| find(&ix, e).is_some_and(|f| f.which == Which::Old)).collect();
        assert!(!in_old.is_empty());
        for &e in in_old.iter().step_by(2) {
            let f = find(&ix, e).unwrap();
            ix.erase(&f);
        }
        while !ix.old.is_empty() {
            let e = entry(i);
            ix.insert(hash(e), e, max, hash, |_| {});
            i += 1;
        }
        for (k, &e) in in_old.iter().enumerate() {
            assert_eq!(find(&ix, e).is_some(), k % 2 == 1, "entry {e:#x}");
        }
        let others = (0..i).map(entry).filter(|e| !in_old.contains(e));
        assert!(others.clone().all(|e| find(&ix, e).is_some()));
        assert_eq!(ix.entries, i as usize - in_old.len().div_ceil(2));
    }
}
