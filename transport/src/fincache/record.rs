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

/// How a record keeps its peer's address: what differs between the two layouts.
pub(super) trait Stored: Copy + Default + core::fmt::Debug {
    /// The address bits (`u32` or `u128`).
    type Ip: Copy + Eq;

    fn store(ip: Self::Ip) -> Self;
    fn load(self) -> Self::Ip;
    /// True if a record's address and ports are `key`'s. On the lookup path, between its
    /// two cache misses: compares words without building a key.
    fn matches(ip: Self, remote_port: u16, local_port: u16, key: &RawKey<Self::Ip>) -> bool;
    /// The key's 64-bit hash under the table's keyed hasher.
    fn hash(hasher: &ahash::RandomState, key: &RawKey<Self::Ip>) -> u64;
}

/// IPv4: the address as a `u32`.
impl Stored for u32 {
    type Ip = u32;

    fn store(ip: u32) -> u32 {
        ip
    }

    fn load(self) -> u32 {
        self
    }

    #[inline(always)]
    fn matches(ip: u32, remote_port: u16, local_port: u16, key: &RawKey<u32>) -> bool {
        // The three adjacent fields as one word, so the compiler makes it one load.
        let mine = u64::from(ip) | u64::from(remote_port) << 32 | u64::from(local_port) << 48;
        mine == u64::from(key.remote_ip) | u64::from(key.remote_port) << 32 | u64::from(key.local_port) << 48
    }

    #[inline(always)]
    fn hash(hasher: &ahash::RandomState, key: &RawKey<u32>) -> u64 {
        // The key packs into 64 bits; the local address index, almost always 0, is folded
        // into the top bits.
        let packed = (u64::from(key.remote_ip) << 32) | (u64::from(key.local_port) << 16) | u64::from(key.remote_port);
        hasher.hash_one(packed ^ (u64::from(key.local_idx) << 56))
    }
}

/// IPv6: the native-endian bytes of the address's `u128` (byte-aligned, so the record
/// stays 2-byte aligned), compared as two words.
impl Stored for [u8; 16] {
    type Ip = u128;

    fn store(ip: u128) -> [u8; 16] {
        ip.to_ne_bytes()
    }

    fn load(self) -> u128 {
        u128::from_ne_bytes(self)
    }

    #[inline(always)]
    fn matches(ip: [u8; 16], remote_port: u16, local_port: u16, key: &RawKey<u128>) -> bool {
        u128::from_ne_bytes(ip) == key.remote_ip
            && (u32::from(remote_port) | u32::from(local_port) << 16) == (u32::from(key.remote_port) | u32::from(key.local_port) << 16)
    }

    #[inline(always)]
    fn hash(hasher: &ahash::RandomState, key: &RawKey<u128>) -> u64 {
        let ports = (u64::from(key.local_port) << 16) | u64::from(key.remote_port) | (u64::from(key.local_idx) << 56);
        hasher.hash_one((key.remote_ip, ports))
    }
}

/// One vestigial TIME-WAIT connection, 2-byte aligned: 22 bytes with an IPv4 peer, 34 with
/// an IPv6 one. Records never move while they live, so the index can refer to them by
/// where they are.
#[derive(Clone, Copy, Default, Debug)]
#[repr(C, packed(2))]
pub(super) struct Rec<S> {
    remote_ip: S,
    remote_port: u16,
    local_port: u16,
    local_idx: u8,
    flags: u8,
    snd_nxt: u32,
    rcv_nxt: u32,
    ts_recent: u32,
}

/// An IPv4 record.
pub(super) type Record4 = Rec<u32>;
/// An IPv6 record.
pub(super) type Record6 = Rec<[u8; 16]>;

impl<S: Stored> Record for Rec<S> {
    type Ip = S::Ip;

    fn new(key: &RawKey<S::Ip>, [snd_nxt, rcv_nxt, ts_recent]: [u32; 3], flags: u8) -> Self {
        Rec {
            remote_ip: S::store(key.remote_ip),
            remote_port: key.remote_port,
            local_port: key.local_port,
            local_idx: key.local_idx,
            flags,
            snd_nxt,
            rcv_nxt,
            ts_recent,
        }
    }

    fn key(&self) -> RawKey<S::Ip> {
        let ip = self.remote_ip;
        RawKey { local_idx: self.local_idx, local_port: self.local_port, remote_ip: ip.load(), remote_port: self.remote_port }
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
    fn is_for(&self, key: &RawKey<S::Ip>) -> bool {
        S::matches(self.remote_ip, self.remote_port, self.local_port, key) && self.local_idx == key.local_idx
    }

    #[inline(always)]
    fn hash(hasher: &ahash::RandomState, key: &RawKey<S::Ip>) -> u64 {
        S::hash(hasher, key)
    }
}
