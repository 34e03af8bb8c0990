//! The FIN cache: TIME-WAIT as a compact record instead of a connection.
//!
//! When a connection reaches TIME-WAIT, the shard frees it and keeps here only what
//! RFC 9293 §3.10.7.4 needs to answer for it: the 4-tuple, SND.NXT, RCV.NXT, the peer's last
//! timestamp (RFC 7323, when in use), its MSL class and when it was inserted.
//!
//! Layout (the "vestigial time-wait" records NetBSD added in 2011, `sys/netinet/tcp_vtw.c`,
//! which freed a loaded server's memory and CPU of full TIME-WAIT sockets):
//! - one FIFO per MSL class (`pool::Fifo`) over 4,096-record chunks shared by the
//!   classes (`pool::ChunkPool`): records of a class all live equally long, so insertion
//!   order is expiry order and expiry pops the head, O(1) each;
//! - insertion times are kept per run of records inserted in the same millisecond, not
//!   per record;
//! - an open-addressing index of 64-byte buckets, each 15 tagged u32 references to records
//!   and an overflow count (the F14 layout): a miss reads one cache line, a hit one line
//!   and one record; keyed with a per-cache random key (aHash) so peers cannot aim
//!   collisions; it grows with the records, moving entries a few buckets per insert
//!   (`index`);
//! - a record is 22 bytes for an IPv4 peer and 34 for an IPv6 one (each family has its
//!   own table, `table::Table`, over its own layout, `record`): the local address is an
//!   index into the shard's addresses, and records never move while they live, so the
//!   index refers to them by chunk id and offset. The flags and that index sit in a side
//!   array, so the 32 bytes of an IPv6 record a lookup reads never span two cache lines.
//!
//! Expiry is done a bounded number of records per call (`expiry_budget`), so a second in
//! which a million records expire never holds up packet processing (FreeBSD measured in
//! 2014 how a TIME-WAIT clean-up that held a global lock stalled packet reception every
//! 500 ms).

mod bucket;
mod index;
mod pool;
mod record;
mod table;

use core::time::Duration;
use std::net::IpAddr;

use record::{RawKey, Record4, Record6, Side};
use table::Table;

use crate::seq::SeqNum;
use crate::time::Instant;

/// How far a peer is, which decides how long its TIME-WAIT lasts (MSL truncation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MslClass {
    /// The peer is one of this stack's own addresses.
    Loopback = 0,
    /// The peer is on an on-link prefix of this stack's interface.
    Local = 1,
    /// Anything else.
    Remote = 2,
}

impl MslClass {
    /// All classes, in index order.
    pub const ALL: [MslClass; 3] = [MslClass::Loopback, MslClass::Local, MslClass::Remote];

    fn index(self) -> usize {
        self as usize
    }
}

/// FIN cache settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinCacheConfig {
    /// Records held at most, both families together (clamped to [`MAX_CAPACITY`]); when
    /// full the oldest is evicted (and counted), so a new connection is never refused
    /// because TIME-WAIT is full. Linux's `tcp_max_tw_buckets` is 262,144 on a large
    /// machine; at about 30 bytes an IPv4 record this default costs under 8 MiB.
    pub capacity: usize,
    /// Records expired per `handle_timeout` call at most. At about 40 ns a record, 256
    /// keeps a call near 10 µs; a backlog makes `poll_timeout` ask for the next call at
    /// once, so throughput is not capped, and packets are handled between the calls.
    pub expiry_budget: usize,
    /// TIME-WAIT duration for each class: loopback, local, remote.
    pub time_wait: [Duration; 3],
    /// Give each class its own duration. Off: every record lasts the remote duration.
    pub msl_truncation: bool,
    /// Ignore RSTs for records (RFC 1337: no TIME-WAIT assassination).
    pub rfc1337: bool,
}

impl Default for FinCacheConfig {
    fn default() -> Self {
        FinCacheConfig {
            capacity: 262_144,
            expiry_budget: 256,
            time_wait: [Duration::from_secs(2), Duration::from_secs(10), Duration::from_secs(60)],
            msl_truncation: true,
            rfc1337: true,
        }
    }
}

impl FinCacheConfig {
    /// The TIME-WAIT duration a record of `class` gets.
    pub fn duration(&self, class: MslClass) -> Duration {
        if self.msl_truncation { self.time_wait[class.index()] } else { self.time_wait[MslClass::Remote.index()] }
    }
}

/// The 4-tuple of a record. The local address is an index into the shard's address list
/// (a stack has few), which saves 3 bytes an IPv4 record and 15 an IPv6 one; the peer's
/// family decides which table holds the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TwKey {
    /// Index of the local address in the shard's addresses.
    pub local_idx: u8,
    /// Local port.
    pub local_port: u16,
    /// Peer address.
    pub remote_ip: IpAddr,
    /// Peer port.
    pub remote_port: u16,
}

/// A key in the form of its family's table.
enum FamilyKey {
    V4(RawKey<u32>),
    V6(RawKey<u128>),
}

impl TwKey {
    fn family(&self) -> FamilyKey {
        let (local_idx, local_port, remote_port) = (self.local_idx, self.local_port, self.remote_port);
        match self.remote_ip {
            IpAddr::V4(ip) => FamilyKey::V4(RawKey { local_idx, local_port, remote_ip: u32::from(ip), remote_port }),
            IpAddr::V6(ip) => FamilyKey::V6(RawKey { local_idx, local_port, remote_ip: u128::from(ip), remote_port }),
        }
    }
}

/// The most records the cache holds: 1,024 chunks of 4,096, and with each class's partly
/// filled first and last chunks and a spare still far below the 4,095 12-bit chunk ids.
pub const MAX_CAPACITY: usize = 1 << 22;

/// The size of one IPv4 record (its main and side parts), for reports.
pub const RECORD_BYTES: usize = size_of::<Record4>() + size_of::<Side>();
/// The size of one IPv6 record (its main and side parts), for reports.
pub const RECORD_BYTES_V6: usize = size_of::<Record6>() + size_of::<Side>();

/// What a record knows about the connection it replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TwState {
    /// Our SND.NXT (past our FIN).
    pub snd_nxt: SeqNum,
    /// Our RCV.NXT (past the peer's FIN).
    pub rcv_nxt: SeqNum,
    /// The peer's last timestamp (TS.Recent), when timestamps were in use.
    pub ts_recent: Option<u32>,
    /// The record's class.
    pub class: MslClass,
}

/// Counters of the FIN cache.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FinCacheStats {
    /// Records alive now, per class (loopback, local, remote).
    pub live: [u64; 3],
    /// Records inserted.
    pub inserted: u64,
    /// Records that lived their full TIME-WAIT.
    pub expired: u64,
    /// Records evicted early because the cache was full.
    pub evicted: u64,
    /// Records replaced by a new connection from a SYN (RFC 9293 §3.10.7.4, RFC 6191).
    pub reopened: u64,
    /// Records reused by an outbound connect (RFC 6191, timestamps in use).
    pub reused_by_connect: u64,
    /// Retransmitted FINs answered from a record.
    pub fins_reacked: u64,
    /// RSTs ignored (RFC 1337).
    pub rsts_ignored: u64,
    /// ACKs sent from records (re-ACKed FINs, old duplicates, the rate-limited rest).
    pub acks_sent: u64,
    /// Segments to a record dropped without an answer (rate limit, PAWS on a RST...).
    pub dropped: u64,
    /// Bytes the cache holds (records, index, time runs).
    pub bytes: u64,
}

/// The FIN cache of one shard: a table of IPv4 records and one of IPv6 records under one
/// capacity and one expiry budget.
#[derive(Debug)]
pub struct FinCache {
    cfg: FinCacheConfig,
    v4: Table<Record4>,
    v6: Table<Record6>,
    /// The shard's counters (answers, reopenings); the tables count the rest.
    stats: FinCacheStats,
}

impl FinCache {
    /// An empty cache. Records take memory as they arrive, and a family's index grows
    /// with them, up to about 8.5 bytes a record at full capacity.
    ///
    /// ```
    /// use ringtcp_transport::fincache::{FinCache, FinCacheConfig, MslClass, TwKey, TwState};
    /// use ringtcp_transport::{Instant, SeqNum};
    /// let mut fc = FinCache::new(FinCacheConfig::default());
    /// let key = TwKey { local_idx: 0, local_port: 80, remote_ip: "192.0.2.1".parse().unwrap(), remote_port: 40000 };
    /// let key6 = TwKey { remote_ip: "2001:db8::1".parse().unwrap(), ..key };
    /// let st = TwState { snd_nxt: SeqNum(10), rcv_nxt: SeqNum(20), ts_recent: None, class: MslClass::Remote };
    /// fc.insert(Instant::ZERO, key, st);
    /// assert_eq!(fc.get(&key), Some(st));
    /// assert_eq!(fc.get(&key6), None);
    /// ```
    pub fn new(mut cfg: FinCacheConfig) -> FinCache {
        cfg.capacity = cfg.capacity.clamp(1, MAX_CAPACITY);
        FinCache { cfg, v4: Table::new(), v6: Table::new(), stats: FinCacheStats::default() }
    }

    /// Settings.
    pub fn config(&self) -> &FinCacheConfig {
        &self.cfg
    }

    /// Live records.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Live records with an IPv6 peer.
    pub fn len_v6(&self) -> usize {
        self.v6.len()
    }

    /// True if no record is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counters, with `live` and `bytes` current.
    pub fn stats(&self) -> FinCacheStats {
        let mut s = self.stats.clone();
        for c in MslClass::ALL {
            s.live[c as usize] = (self.v4.live(c) + self.v6.live(c)) as u64;
        }
        for t in [self.v4.counts, self.v6.counts] {
            s.inserted += t.inserted;
            s.expired += t.expired;
            s.evicted += t.evicted;
        }
        s.bytes = self.memory() as u64;
        s
    }

    pub(crate) fn stats_mut(&mut self) -> &mut FinCacheStats {
        &mut self.stats
    }

    /// Bytes of the indexes alone (the rest of [`FinCache::memory`] is records and time
    /// runs).
    pub fn index_bytes(&self) -> usize {
        self.v4.index_bytes() + self.v6.index_bytes()
    }

    /// Bytes allocated by the cache: record chunks, indexes, FIFOs' chunk ids, time runs.
    pub fn memory(&self) -> usize {
        self.v4.memory() + self.v6.memory()
    }

    /// Bytes allocated for IPv6 records alone.
    pub fn memory_v6(&self) -> usize {
        self.v6.memory()
    }

    /// The record for `key`, if one is live.
    #[inline(always)]
    pub fn get(&self, key: &TwKey) -> Option<TwState> {
        match key.family() {
            FamilyKey::V4(k) => self.v4.get(&k),
            FamilyKey::V6(k) => self.v6.get(&k),
        }
    }

    /// True if `key` has a live record.
    pub fn contains(&self, key: &TwKey) -> bool {
        self.get(key).is_some()
    }

    /// Adds a record for a connection that just entered TIME-WAIT. If the cache is full
    /// the oldest record of either family (live or dead) goes first.
    // Only the family dispatch is inlined: the caller then hands the family's own key
    // (an IPv6 address as a `u128`) to an out-of-line insert. Passed whole, the `TwKey`
    // reached the insert through memory and its `IpAddr` was read back with loads that
    // straddled the caller's stores: IPv6 inserts ran about as many instructions as IPv4
    // ones (callgrind) and took the same time when serialised, yet in a run of inserts 1.56
    // times as long (`fincache_compare`), their index misses no longer overlapping. Now
    // 1.03–1.10 times.
    #[inline(always)]
    pub fn insert(&mut self, now: Instant, key: TwKey, state: TwState) {
        match key.family() {
            FamilyKey::V4(k) => self.insert_v4(now, k, state),
            FamilyKey::V6(k) => self.insert_v6(now, k, state),
        }
    }

    fn insert_v4(&mut self, now: Instant, key: RawKey<u32>, state: TwState) {
        self.make_room();
        self.v4.insert(&self.cfg, now, key, state);
    }

    fn insert_v6(&mut self, now: Instant, key: RawKey<u128>, state: TwState) {
        self.make_room();
        self.v6.insert(&self.cfg, now, key, state);
    }

    /// Evicts the oldest records until a new one fits.
    #[inline(always)]
    fn make_room(&mut self) {
        while self.v4.slots + self.v6.slots >= self.cfg.capacity {
            if !self.pop_oldest() {
                break;
            }
        }
    }

    /// Removes the record for `key` (a new connection takes the 4-tuple).
    pub fn remove(&mut self, key: &TwKey) -> Option<TwState> {
        match key.family() {
            FamilyKey::V4(k) => self.v4.remove(&k),
            FamilyKey::V6(k) => self.v6.remove(&k),
        }
    }

    /// Restarts the 2·MSL of `key` (RFC 9293 §3.10.7.4: a retransmitted FIN): the record
    /// moves to the tail of its FIFO with `now` as its time. The old slot stays behind,
    /// dead, until its FIFO's head reaches it, so the new one makes room as an insert
    /// does: a peer resending its FIN cannot grow the cache past its capacity.
    pub fn restart(&mut self, now: Instant, key: &TwKey) {
        if let Some(st) = self.remove(key) {
            self.insert(now, *key, st);
            // Not a new record: the counter says how many connections entered TIME-WAIT.
            match key.family() {
                FamilyKey::V4(_) => self.v4.counts.inserted -= 1,
                FamilyKey::V6(_) => self.v6.counts.inserted -= 1,
            }
        }
    }

    /// Evicts the oldest FIFO slot of either family (dead slots just go). False if there
    /// is none.
    fn pop_oldest(&mut self) -> bool {
        let (o4, o6) = (self.v4.oldest(), self.v6.oldest());
        let evicted = match (o4, o6) {
            (Some((t4, i)), Some((t6, _))) if t4 <= t6 => self.v4.pop_front(i),
            (Some((_, i)), None) => self.v4.pop_front(i),
            (_, Some((_, i))) => self.v6.pop_front(i),
            (None, None) => return false,
        };
        if evicted {
            self.stats.evicted += 1;
        }
        true
    }

    /// Expires records whose TIME-WAIT is over, at most `expiry_budget` of them, and moves
    /// a growing index along (an eighth of the budget in buckets, about as much work).
    /// Returns true if more is due (the caller should come back at once).
    pub fn expire(&mut self, now: Instant) -> bool {
        let mut budget = self.cfg.expiry_budget.max(1);
        let more4 = self.v4.expire(&self.cfg, now, &mut budget);
        let more6 = self.v6.expire(&self.cfg, now, &mut budget);
        // Inserts move a growing index too, but a cache whose inserts stopped would
        // otherwise keep probing two indexes.
        let buckets = (self.cfg.expiry_budget / 8).max(1);
        let grow4 = self.v4.growing() && self.v4.grow_step(buckets);
        let grow6 = self.v6.growing() && self.v6.grow_step(buckets);
        more4 || more6 || grow4 || grow6
    }

    /// True while an index is moving its entries to a larger one: until the move ends a
    /// lookup may probe two indexes, and [`expire`](FinCache::expire) has work at once.
    ///
    /// ```
    /// use ringtcp_transport::fincache::{FinCache, FinCacheConfig, MslClass, TwKey, TwState};
    /// use ringtcp_transport::{Instant, SeqNum};
    /// let mut fc = FinCache::new(FinCacheConfig::default());
    /// let st = TwState { snd_nxt: SeqNum(1), rcv_nxt: SeqNum(2), ts_recent: None, class: MslClass::Remote };
    /// let mut port = 1024;
    /// // The index starts small; the 31st record makes it grow.
    /// while !fc.growing() {
    ///     port += 1;
    ///     fc.insert(Instant::ZERO, TwKey { local_idx: 0, local_port: 80, remote_ip: "192.0.2.1".parse().unwrap(), remote_port: port }, st);
    /// }
    /// // Nothing is due, but the timer path finishes the move.
    /// while fc.expire(Instant::ZERO) {}
    /// assert!(!fc.growing());
    /// assert_eq!(fc.len(), usize::from(port - 1024));
    /// ```
    pub fn growing(&self) -> bool {
        self.v4.growing() || self.v6.growing()
    }

    /// When the oldest record of any class is due.
    pub fn next_expiry(&self) -> Option<Instant> {
        match (self.v4.next_expiry(&self.cfg), self.v6.next_expiry(&self.cfg)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn key(i: u32) -> TwKey {
        TwKey { local_idx: 0, local_port: 80, remote_ip: Ipv4Addr::from(0x0a00_0000 | (i >> 16)).into(), remote_port: i as u16 }
    }

    fn state(i: u32, class: MslClass) -> TwState {
        TwState { snd_nxt: SeqNum(i), rcv_nxt: SeqNum(i + 1), ts_recent: i.is_multiple_of(2).then_some(i * 3), class }
    }

    #[test]
    fn records_are_22_and_34_bytes_and_a_bucket_one_line() {
        assert_eq!(RECORD_BYTES, 22);
        assert_eq!(RECORD_BYTES_V6, 34);
        // The part of an IPv6 record a lookup reads: half a line, in line-aligned chunks.
        assert_eq!((size_of::<Record6>(), 64 % size_of::<Record6>()), (32, 0));
        assert_eq!(size_of::<bucket::Bucket>(), 64);
    }

    #[test]
    fn insert_get_remove_restart() {
        let mut fc = FinCache::new(FinCacheConfig::default());
        let t = Instant::from_millis(5);
        for i in 0..10_000 {
            fc.insert(t, key(i), state(i, MslClass::Remote));
        }
        assert_eq!(fc.len(), 10_000);
        assert_eq!(fc.get(&key(4242)), Some(state(4242, MslClass::Remote)));
        assert_eq!(fc.get(&key(10_001)), None);
        assert_eq!(fc.remove(&key(4242)), Some(state(4242, MslClass::Remote)));
        assert_eq!(fc.get(&key(4242)), None);
        fc.restart(Instant::from_millis(30_000), &key(7));
        assert_eq!(fc.get(&key(7)), Some(state(7, MslClass::Remote)));
        assert_eq!(fc.len(), 9_999);
        // Everything but the restarted record expires 60 s after insertion, 256 records
        // per call at most.
        let mut calls = 1;
        while fc.expire(Instant::from_millis(60_005)) {
            calls += 1;
        }
        assert_eq!(calls, 40);
        assert_eq!(fc.len(), 1);
        assert_eq!(fc.next_expiry(), Some(Instant::from_millis(90_000)));
        fc.expire(Instant::from_millis(90_000));
        assert!(fc.is_empty());
        assert_eq!(fc.stats().expired, 9_999);
    }

    #[test]
    fn a_peer_retransmitting_its_fin_without_end_cannot_push_the_cache_past_its_capacity() {
        // Each restart leaves the old slot dead in its FIFO and takes a new one at the
        // tail: it must make room as an insert does, or a peer that keeps resending its
        // FIN grows the FIFO by a slot per FIN for a whole TIME-WAIT.
        let mut fc = FinCache::new(FinCacheConfig { capacity: 1_000, ..FinCacheConfig::default() });
        for i in 0..1_000 {
            fc.insert(Instant::from_millis(1), key(i), state(i, MslClass::Remote));
        }
        for n in 0..20_000u64 {
            fc.restart(Instant::from_millis(2 + n / 100), &key(7));
            assert!(fc.v4.slots + fc.v6.slots <= 1_000, "{} slots after {n} restarts", fc.v4.slots);
        }
        assert_eq!(fc.get(&key(7)), Some(state(7, MslClass::Remote)), "the restarted record lives on");
        assert_eq!(fc.stats().inserted, 1_000, "a restart is not an insertion");
    }

    #[test]
    fn records_of_several_local_addresses_and_both_families_are_told_apart() {
        let mut fc = FinCache::new(FinCacheConfig::default());
        let t = Instant::from_millis(1);
        let v4 = |i: u32, local_idx: u8| TwKey { local_idx, ..key(i) };
        let v6 = |i: u32, local_idx: u8| TwKey {
            local_idx,
            local_port: 443,
            remote_ip: std::net::Ipv6Addr::from((0x2001_0db8u128 << 96) | u128::from(i >> 8)).into(),
            remote_port: 1024 + (i & 0xff) as u16,
        };
        let class = |i: u32| MslClass::ALL[(i % 3) as usize];
        for i in 0..3000 {
            fc.insert(t, v4(i, 0), state(i, class(i)));
            fc.insert(t, v6(i, 0), state(i, class(i)));
        }
        // Nothing is held for the same peers on a second local address.
        assert!((0..3000).all(|i| fc.get(&v4(i, 1)).is_none() && fc.get(&v6(i, 1)).is_none()));
        // The same peers on it now (with the other timestamp setting and another class):
        // each lookup finds its own record.
        for i in 0..3000 {
            fc.insert(t, v4(i, 1), state(i + 7, MslClass::Loopback));
            fc.insert(t, v6(i, 1), state(i + 7, MslClass::Loopback));
        }
        for i in 0..3000 {
            assert_eq!(fc.get(&v4(i, 0)), Some(state(i, class(i))), "v4 {i} on 0");
            assert_eq!(fc.get(&v6(i, 0)), Some(state(i, class(i))), "v6 {i} on 0");
            assert_eq!(fc.get(&v4(i, 1)), Some(state(i + 7, MslClass::Loopback)), "v4 {i} on 1");
            assert_eq!(fc.get(&v6(i, 1)), Some(state(i + 7, MslClass::Loopback)), "v6 {i} on 1");
            assert_eq!(fc.get(&v6(i, 2)), None);
        }
        assert_eq!(fc.remove(&v6(5, 1)), Some(state(12, MslClass::Loopback)));
        assert_eq!((fc.get(&v6(5, 1)), fc.get(&v6(5, 0))), (None, Some(state(5, class(5)))));
        assert_eq!(fc.len(), 11_999);
        // Per-class counts stayed right through it all: everything expires, once.
        while fc.expire(Instant::from_millis(10 * 60_000)) {}
        assert!(fc.is_empty());
        assert_eq!(fc.stats().expired, 11_999);
    }

    #[test]
    fn full_cache_evicts_oldest_first() {
        let cfg = FinCacheConfig { capacity: 1000, ..FinCacheConfig::default() };
        let mut fc = FinCache::new(cfg);
        for i in 0..1500 {
            fc.insert(Instant::from_millis(u64::from(i)), key(i), state(i, MslClass::ALL[(i % 3) as usize]));
        }
        assert_eq!(fc.len(), 1000);
        assert_eq!(fc.stats().evicted, 500);
        assert!((0..500).all(|i| !fc.contains(&key(i))), "the 500 oldest went");
        assert!((500..1500).all(|i| fc.contains(&key(i))));
    }

    #[test]
    fn expiry_is_per_class_and_bounded_per_call() {
        let cfg = FinCacheConfig { expiry_budget: 100, ..FinCacheConfig::default() };
        assert_eq!(FinCacheConfig::default().expiry_budget, 256);
        let mut fc = FinCache::new(cfg);
        let t0 = Instant::from_millis(1);
        for i in 0..300 {
            fc.insert(t0, key(i), state(i, MslClass::ALL[(i % 3) as usize]));
        }
        assert_eq!(fc.next_expiry(), Some(t0 + Duration::from_secs(2)));
        let at = |s| t0 + Duration::from_secs(s);
        assert!(!fc.expire(at(1)));
        assert_eq!(fc.len(), 300);
        assert!(fc.expire(at(2)) || fc.len() == 200);
        assert_eq!(fc.stats().live, [0, 100, 100]);
        // 200 records due at once: two calls of 100 each.
        assert!(fc.expire(at(60)), "more due after the first 100");
        assert_eq!(fc.len(), 100);
        assert!(!fc.expire(at(60)));
        assert!(fc.is_empty());
    }

    #[test]
    fn truncation_off_gives_every_class_the_remote_duration() {
        let cfg = FinCacheConfig { msl_truncation: false, ..FinCacheConfig::default() };
        let mut fc = FinCache::new(cfg);
        fc.insert(Instant::ZERO, key(1), state(1, MslClass::Loopback));
        fc.expire(Instant::from_millis(59_999));
        assert_eq!(fc.len(), 1);
        fc.expire(Instant::from_millis(60_000));
        assert_eq!(fc.len(), 0);
    }

    #[test]
    fn expiry_calls_finish_a_move_that_inserts_left_under_way() {
        let mut fc = FinCache::new(FinCacheConfig::default());
        let mut i = 0;
        while !fc.growing() {
            fc.insert(Instant::ZERO, key(i), state(i, MslClass::Remote));
            i += 1;
        }
        // Inserts stop mid-move; nothing is due, but each call moves buckets and says more
        // is to do until the old index is gone.
        let mut calls = 0;
        while fc.expire(Instant::from_millis(1)) {
            calls += 1;
            assert!(calls < 1000, "the move never ends");
        }
        assert!(!fc.growing());
        assert_eq!(fc.len(), i as usize);
        assert!((0..i).all(|j| fc.contains(&key(j))));
        assert_eq!(fc.stats().expired, 0);
    }

    #[test]
    fn memory_is_what_is_allocated() {
        let cfg = FinCacheConfig { capacity: 1 << 16, ..FinCacheConfig::default() };
        let mut fc = FinCache::new(cfg);
        for i in 0..5000 {
            fc.insert(Instant::ZERO, key(i), state(i, MslClass::Remote));
        }
        // Two 4,096-record chunks of 22 bytes, the pool's chunk table, the class's queue of
        // chunk ids, an index grown from 8 buckets to 1,024 of 64 bytes (5,000 entries fill
        // less than half of its 15,360 slots; the capacity would allow 8,739 buckets), one
        // time run.
        let expect = 2 * pool::CHUNK * RECORD_BYTES
            + fc.v4.pool.table_bytes()
            + fc.v4.classes[2].fifo.ids_bytes()
            + 1_024 * 64
            + fc.v4.classes[2].times.capacity() * size_of::<(Instant, u32)>();
        assert_eq!(fc.memory(), expect);
    }
}
