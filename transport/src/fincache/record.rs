//! The two record layouts, one per IP family, and what the table needs of them. A record
//! keeps the local address as an index into the shard's addresses (a stack has few), so
//! the family only changes the width of the peer's address.
//!
//! A record is stored in two parts (see the pool): the part a lookup compares and answers
//! from (peer address, ports, sequence numbers, TS.Recent: 20 bytes for IPv4, 32 for
//! IPv6, so an IPv6 record fills exactly half a cache line), and a 2-byte side part
//! (liveness and the local address index) that a lookup reads only when the table holds
//! records for more than one local address. 22 and 34 bytes a record in all. What the
//! rest of a record's state needs is kept where it costs no bytes of its own: the MSL
//! class is its chunk's (each class fills its own chunks), and whether timestamps are in
//! use is a bit of its index entry.

use super::pool::Zeroable;
use super::{MslClass, TwState};
use crate::seq::SeqNum;


/// A 4-tuple as the table stores it: the peer address as bits of its family's width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RawKey<A> {
    pub(super) local_idx: u8,
    pub(super) local_port: u16,
    pub(super) remote_ip: A,
    pub(super) remote_port: u16,
}

/// A record's side part: whether it is live (a replaced or removed record stays in its
/// FIFO, dead, until the FIFO's head reaches it) and the local address index.
#[derive(Clone, Copy, Default, Debug)]
#[repr(C)]
pub(super) struct Side {
    live: bool,
    pub(super) local_idx: u8,
}

// SAFETY: a bool and a byte; all-zero (false, 0) is a valid value.
unsafe impl Zeroable for Side {}

impl Side {
    pub(super) fn live(&self) -> bool {
        self.live
    }

    pub(super) fn kill(&mut self) {
        self.live = false;
    }
}

/// A peer address as a record keeps it (its bits: `u32` or `u128`): what differs between
/// the two layouts.
pub(super) trait Stored: Copy + Default + Eq + core::fmt::Debug {
    /// True if a record's address and ports are `key`'s. On the lookup path, between its
    /// two cache misses: compares words without building a key.
    fn matches(ip: Self, remote_port: u16, local_port: u16, key: &RawKey<Self>) -> bool;
    /// The key's 64-bit hash under the table's keyed hasher.
    fn hash(hasher: &ahash::RandomState, key: &RawKey<Self>) -> u64;
}

/// IPv4: the address as a `u32`.
impl Stored for u32 {
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

/// IPv6: the address as a `u128`, whose 16-byte alignment makes the record 32 bytes and,
/// in a line-aligned chunk, never split across two cache lines.
impl Stored for u128 {
    #[inline(always)]
    fn matches(ip: u128, remote_port: u16, local_port: u16, key: &RawKey<u128>) -> bool {
        ip == key.remote_ip
            && (u32::from(remote_port) | u32::from(local_port) << 16) == (u32::from(key.remote_port) | u32::from(key.local_port) << 16)
    }

    #[inline(always)]
    fn hash(hasher: &ahash::RandomState, key: &RawKey<u128>) -> u64 {
        let ports = (u64::from(key.local_port) << 16) | u64::from(key.remote_port) | (u64::from(key.local_idx) << 56);
        hasher.hash_one((key.remote_ip, ports))
    }
}

/// One vestigial TIME-WAIT connection's main part (the side part is [`Side`]). Records
/// never move while they live, so the index can refer to them by where they are.
#[derive(Clone, Copy, Default, Debug)]
#[repr(C)]
pub(super) struct Rec<S> {
    remote_ip: S,
    remote_port: u16,
    local_port: u16,
    snd_nxt: u32,
    rcv_nxt: u32,
    ts_recent: u32,
}

// SAFETY: integers only; all-zero is a valid value.
unsafe impl<S: Stored + Zeroable> Zeroable for Rec<S> {}
// SAFETY: as above.
unsafe impl Zeroable for u128 {}

/// An IPv4 record.
pub(super) type Record4 = Rec<u32>;
/// An IPv6 record.
pub(super) type Record6 = Rec<u128>;

/// What the table needs of a record layout.
pub(super) trait Record: Zeroable + Default {
    /// The peer address bits (`u32` or `u128`).
    type Ip: Copy + Eq;

    /// A live record for `key` in `state` (its class and timestamp flag are kept apart).
    fn from_state(key: &RawKey<Self::Ip>, state: &TwState) -> (Self, Side);
    fn key(&self, side: &Side) -> RawKey<Self::Ip>;
    fn state(&self, has_ts: bool, class: MslClass) -> TwState;
    /// True if this record's peer address and ports are `key`'s (the local address index
    /// is the side part's). It sits between the two cache misses of a lookup hit, so it
    /// compares words without building a key.
    fn matches(&self, key: &RawKey<Self::Ip>) -> bool;
    /// The key's 64-bit hash under the table's keyed hasher.
    fn hash(hasher: &ahash::RandomState, key: &RawKey<Self::Ip>) -> u64;
}

impl<S: Stored + Zeroable> Record for Rec<S> {
    type Ip = S;

    fn from_state(key: &RawKey<S>, state: &TwState) -> (Self, Side) {
        let rec = Rec {
            remote_ip: key.remote_ip,
            remote_port: key.remote_port,
            local_port: key.local_port,
            snd_nxt: state.snd_nxt.0,
            rcv_nxt: state.rcv_nxt.0,
            ts_recent: state.ts_recent.unwrap_or(0),
        };
        (rec, Side { live: true, local_idx: key.local_idx })
    }

    fn key(&self, side: &Side) -> RawKey<S> {
        RawKey { local_idx: side.local_idx, local_port: self.local_port, remote_ip: self.remote_ip, remote_port: self.remote_port }
    }

    #[inline(always)]
    fn state(&self, has_ts: bool, class: MslClass) -> TwState {
        TwState { snd_nxt: SeqNum(self.snd_nxt), rcv_nxt: SeqNum(self.rcv_nxt), ts_recent: has_ts.then_some(self.ts_recent), class }
    }

    #[inline(always)]
    fn matches(&self, key: &RawKey<S>) -> bool {
        S::matches(self.remote_ip, self.remote_port, self.local_port, key)
    }

    #[inline(always)]
    fn hash(hasher: &ahash::RandomState, key: &RawKey<S>) -> u64 {
        S::hash(hasher, key)
    }
}
