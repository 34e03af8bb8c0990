//! The index's bucket: one cache line of the FIN cache's open-addressing index (the F14
//! layout of folly's F14 hash tables), and the entry matching every lookup and insert
//! runs on.


/// An index entry is `tag:8 | has_ts:1 | chunk:11 | offset:12`; the tag is 8 bits of the
/// key's hash, so entries of other keys are passed over without touching their record, and
/// `has_ts` says whether the record's TS.Recent is meaningful. The last chunk
/// id is never handed out, so `NIL` (an empty entry) is never a real one.
pub(super) const NIL: u32 = u32::MAX;

/// Entries per index bucket: 15 entries and an overflow count fill one 64-byte line.
pub(super) const SLOTS: usize = 15;

/// One cache line of the index (F14-style open addressing): up to 15 entries, and how many
/// entries whose home is this bucket or an earlier one were placed past it. A lookup stops
/// at the first bucket with no overflow, so a miss usually reads exactly one line.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub(super) struct Bucket {
    pub(super) entries: [u32; SLOTS],
    pub(super) overflow: u32,
}

pub(super) const EMPTY_BUCKET: Bucket = Bucket { entries: [NIL; SLOTS], overflow: 0 };

/// Bit `i` set where entry `i` of `bucket`, masked with `mask`, equals `want`. On x86_64
/// (SSE2 is part of every x86_64): four compares of four entries, packed to bytes, one
/// mask extraction. It sits between the two cache misses of a lookup hit and on every
/// insert, where each instruction saved lets the CPU overlap more of them.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn lanes_equal(bucket: &Bucket, mask: u32, want: u32) -> u32 {
    use core::arch::x86_64::{
        _mm_and_si128, _mm_cmpeq_epi32, _mm_movemask_epi8, _mm_packs_epi16, _mm_packs_epi32, _mm_set_epi32, _mm_set1_epi32,
    };
    // The overflow count rides along as a 16th lane; its bit is masked off below.
    let e = &bucket.entries;
    let w = |i: usize| e.get(i).map_or(bucket.overflow, |&x| x) as i32;
    // SAFETY: SSE2 is part of every x86_64 target, and these intrinsics only compute on
    // values (no pointers).
    let bits = unsafe {
        let (m, v) = (_mm_set1_epi32(mask as i32), _mm_set1_epi32(want as i32));
        let quad = |i: usize| _mm_cmpeq_epi32(_mm_and_si128(_mm_set_epi32(w(i + 3), w(i + 2), w(i + 1), w(i)), m), v);
        let lo = _mm_packs_epi32(quad(0), quad(4));
        let hi = _mm_packs_epi32(quad(8), quad(12));
        _mm_movemask_epi8(_mm_packs_epi16(lo, hi))
    };
    bits as u32 & ((1 << SLOTS) - 1)
}

#[cfg(not(target_arch = "x86_64"))]
fn lanes_equal(bucket: &Bucket, mask: u32, want: u32) -> u32 {
    lanes_equal_portable(bucket, mask, want)
}

/// [`lanes_equal`] entry by entry, for other architectures (and to check the SSE2 one).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn lanes_equal_portable(bucket: &Bucket, mask: u32, want: u32) -> u32 {
    let mut m = 0;
    for (slot, &e) in bucket.entries.iter().enumerate() {
        m |= u32::from(e & mask == want) << slot;
    }
    m
}

/// Entries of `bucket` carrying `tag` (in their top byte).
#[inline(always)]
pub(super) fn tag_matches(bucket: &Bucket, tag: u32) -> u32 {
    lanes_equal(bucket, 0xff00_0000, tag)
}

/// Free entries of `bucket`.
#[inline(always)]
pub(super) fn free_entries(bucket: &Bucket) -> u32 {
    lanes_equal(bucket, u32::MAX, NIL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse2_and_portable_entry_matching_agree() {
        // Entries with few distinct tags (so matches are common), NIL entries, and the
        // overflow count carrying a matching top byte: it must never count as a slot.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            let mut b = EMPTY_BUCKET;
            for e in b.entries.iter_mut().chain([&mut b.overflow]) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *e = if x.is_multiple_of(7) { NIL } else { ((x % 4) as u32) << 24 | (x >> 40) as u32 & 0xff_ffff };
            }
            for t in 0..4u32 {
                assert_eq!(tag_matches(&b, t << 24), lanes_equal_portable(&b, 0xff00_0000, t << 24), "{b:?} tag {t}");
            }
            assert_eq!(free_entries(&b), lanes_equal_portable(&b, u32::MAX, NIL), "{b:?}");
        }
        let b = Bucket { entries: [0x0500_0001; SLOTS], overflow: 0x0500_0000 };
        assert_eq!(tag_matches(&b, 0x0500_0000), (1 << SLOTS) - 1, "the overflow count is never a slot");
    }
}
