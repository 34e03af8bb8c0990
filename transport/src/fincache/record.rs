//! The two record layouts, one per IP family, and what the table needs of them. A record
//! keeps the local address as an index into the shard's addresses (a stack has few), so
//! the family only changes the width of the peer's address: 22 bytes for IPv4, 34 for
//! IPv6.


use super::{MslClass, TwState};
use crate::seq::SeqNum;

pub(super) const LIVE: u8 = 1;
const HAS_TS: u8 = 2;
/// The record's class sits in flags bits 2-3.
const CLASS_SHIFT: u8 = 2;

/// A 4-tuple as the table stores it: the peer address as bits of its family's width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RawKey<A> {
    pub(super) local_idx: u8,
    pub(super) local_port: u16,
    pub(super) remote_ip: A,
    pub(super) remote_port: u16,
}

/// A record layout: how it is made from a key and a state, read back, matched and hashed.
pub(super) trait Record: Copy + Default {
    /// The peer address bits (`u32` or `u128`).
    type Ip: Copy + Eq;

    fn new(key: &RawKey<Self::Ip>, seqs: [u32; 3], flags: u8) -> Self;
    fn key(&self) -> RawKey<Self::Ip>;
    /// SND.NXT, RCV.NXT, TS.Recent.
    fn seqs(&self) -> [u32; 3];
    fn flags(&self) -> u8;
    fn flags_mut(&mut self) -> &mut u8;
    /// True if this record is for `key`. It sits between the two cache misses of a lookup
    /// hit, so it compares words without building a key.
    fn is_for(&self, key: &RawKey<Self::Ip>) -> bool;
    /// The key's 64-bit hash under the table's keyed hasher.
    fn hash(hasher: &ahash::RandomState, key: &RawKey<Self::Ip>) -> u64;

    fn live(&self) -> bool {
        self.flags() & LIVE != 0
    }

    fn class(&self) -> usize {
        usize::from((self.flags() >> CLASS_SHIFT) & 3).min(2)
    }

    fn state(&self) -> TwState {
        let [snd_nxt, rcv_nxt, ts_recent] = self.seqs();
        TwState {
            snd_nxt: SeqNum(snd_nxt),
            rcv_nxt: SeqNum(rcv_nxt),
            ts_recent: (self.flags() & HAS_TS != 0).then_some(ts_recent),
            class: MslClass::ALL[self.class()],
        }
    }

    fn from_state(key: &RawKey<Self::Ip>, state: &TwState) -> Self {
        let flags = LIVE | if state.ts_recent.is_some() { HAS_TS } else { 0 } | ((state.class as u8) << CLASS_SHIFT);
        Self::new(key, [state.snd_nxt.0, state.rcv_nxt.0, state.ts_recent.unwrap_or(0)], flags)
    }
}

/// The ports and the local address index in one word, for hashing.
fn ports_word<A>(key: &RawKey<A>) -> u64 {
    (u64::from(key.local_port) << 16) | u64::from(key.remote_port) | (u64::from(key.local_idx) << 56)
}

/// An IPv4 record: 22 bytes, 2-byte aligned.
#[derive(Clone, Copy, Default, Debug)]
#[repr(C, packed(2))]
pub(super) struct Record4 {
    remote_ip: u32,
    remote_port: u16,
    local_port: u16,
    local_idx: u8,
    flags: u8,
    snd_nxt: u32,
    rcv_nxt: u32,
    ts_recent: u32,
}

impl Record for Record4 {
    type Ip = u32;

    fn new(key: &RawKey<u32>, [snd_nxt, rcv_nxt, ts_recent]: [u32; 3], flags: u8) -> Self {
        Record4 {
            remote_ip: key.remote_ip,
            remote_port: key.remote_port,
            local_port: key.local_port,
            local_idx: key.local_idx,
            flags,
            snd_nxt,
            rcv_nxt,
            ts_recent,
        }
    }

    fn key(&self) -> RawKey<u32> {
        RawKey { local_idx: self.local_idx, local_port: self.local_port, remote_ip: self.remote_ip, remote_port: self.remote_port }
    }

    fn seqs(&self) -> [u32; 3] {
        [self.snd_nxt, self.rcv_nxt, self.ts_recent]
    }

    fn flags(&self) -> u8 {
        self.flags
    }

    fn flags_mut(&mut self) -> &mut u8 {
        &mut self.flags
    }

    #[inline(always)]
    fn is_for(&self, key: &RawKey<u32>) -> bool {
        // The three adjacent fields as one word, so the compiler makes it one load.
        let (ip, rp, lp) = (self.remote_ip, self.remote_port, self.local_port);
        let mine = u64::from(ip) | u64::from(rp) << 32 | u64::from(lp) << 48;
        let theirs = u64::from(key.remote_ip) | u64::from(key.remote_port) << 32 | u64::from(key.local_port) << 48;
        mine == theirs && self.local_idx == key.local_idx
    }

    #[inline(always)]
    fn hash(hasher: &ahash::RandomState, key: &RawKey<u32>) -> u64 {
        // The key packs into 64 bits; the local address index, almost always 0, is folded
        // into the top bits.
        let packed = (u64::from(key.remote_ip) << 32) | (u64::from(key.local_port) << 16) | u64::from(key.remote_port);
        hasher.hash_one(packed ^ (u64::from(key.local_idx) << 56))
    }
}

/// An IPv6 record: 34 bytes, 2-byte aligned. The address is kept as the native-endian
/// bytes of its `u128`, so matching compares two words.
#[derive(Clone, Copy, Default, Debug)]
#[repr(C, packed(2))]
pub(super) struct Record6 {
    remote_ip: [u8; 16],
    remote_port: u16,
    local_port: u16,
    local_idx: u8,
    flags: u8,
    snd_nxt: u32,
    rcv_nxt: u32,
    ts_recent: u32,
}

impl Record for Record6 {
    type Ip = u128;

    fn new(key: &RawKey<u128>, [snd_nxt, rcv_nxt, ts_recent]: [u32; 3], flags: u8) -> Self {
        Record6 {
            remote_ip: key.remote_ip.to_ne_bytes(),
            remote_port: key.remote_port,
            local_port: key.local_port,
            local_idx: key.local_idx,
            flags,
            snd_nxt,
            rcv_nxt,
            ts_recent,
        }
    }

    fn key(&self) -> RawKey<u128> {
        RawKey {
            local_idx: self.local_idx,
            local_port: self.local_port,
            remote_ip: u128::from_ne_bytes(self.remote_ip),
            remote_port: self.remote_port,
        }
    }

    fn seqs(&self) -> [u32; 3] {
        [self.snd_nxt, self.rcv_nxt, self.ts_recent]
    }

    fn flags(&self) -> u8 {
        self.flags
    }

    fn flags_mut(&mut self) -> &mut u8 {
        &mut self.flags
    }

    #[inline(always)]
    fn is_for(&self, key: &RawKey<u128>) -> bool {
        let (rp, lp) = (self.remote_port, self.local_port);
        u128::from_ne_bytes(self.remote_ip) == key.remote_ip
            && (u32::from(rp) | u32::from(lp) << 16) == (u32::from(key.remote_port) | u32::from(key.local_port) << 16)
            && self.local_idx == key.local_idx
    }

    #[inline(always)]
    fn hash(hasher: &ahash::RandomState, key: &RawKey<u128>) -> u64 {
        hasher.hash_one((key.remote_ip, ports_word(key)))
    }
}
