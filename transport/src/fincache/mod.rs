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
//!   collisions;
//! - a record is 22 bytes: the local address is an index into the shard's addresses, and
//!   records never move while they live, so the index refers to them by chunk id and
//!   offset.
//!
//! Expiry is done a bounded number of records per call (`expiry_budget`), so a second in
//! which a million records expire never holds up packet processing (FreeBSD measured in
//! 2014 how a TIME-WAIT clean-up that held a global lock stalled packet reception every
//! 500 ms).

mod bucket;
mod pool;

use core::time::Duration;
use std::collections::VecDeque;
use std::net::Ipv4Addr;

use bucket::{Bucket, EMPTY_BUCKET, SLOTS, free_entries, tag_matches};
use pool::{ChunkPool, Fifo, Loc};

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
    /// Records held at most (clamped to [`MAX_CAPACITY`]); when full the oldest is evicted
    /// (and counted), so a new connection is never refused because TIME-WAIT is full. Linux's `tcp_max_tw_buckets`
    /// is 262,144 on a large machine; at 30 bytes a record this default costs under 8 MiB.
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

/// The 4-tuple of an IPv4 record. The local address is an index into the shard's
/// address list (a stack has few), which saves 3 bytes a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TwKey {
    /// Index of the local address in the shard's addresses.
    pub local_idx: u8,
    /// Local port.
    pub local_port: u16,
    /// Peer address.
    pub remote_ip: Ipv4Addr,
    /// Peer port.
    pub remote_port: u16,
}

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

const LIVE: u8 = 1;
const HAS_TS: u8 = 2;
/// The record's class sits in flags bits 2-3.
const CLASS_SHIFT: u8 = 2;
/// An index entry is `tag:8 | chunk:12 | offset:12`; the tag is 8 bits of the key's hash,
/// so entries of other keys are passed over without touching their record. The last chunk
/// id is never handed out, so `NIL` is never a real entry.
pub(super) const NIL: u32 = u32::MAX;
const LOC_MASK: u32 = 0x00ff_ffff;
/// The most records the cache holds: 1,024 chunks of 4,096, and with each class's partly
/// filled first and last chunks and a spare still far below the 4,095 12-bit chunk ids.
pub const MAX_CAPACITY: usize = 1 << 22;
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

/// One vestigial TIME-WAIT connection: 22 bytes, 2-byte aligned. Records never move
/// while they live, so the index can refer to them by where they are.
#[derive(Clone, Copy, Default, Debug)]
#[repr(C, packed(2))]
struct Record {
    remote_ip: u32,
    remote_port: u16,
    local_port: u16,
    local_idx: u8,
    flags: u8,
    snd_nxt: u32,
    rcv_nxt: u32,
    ts_recent: u32,
}

impl Record {
    fn key(&self) -> TwKey {
        TwKey {
            local_idx: self.local_idx,
            local_port: self.local_port,
            remote_ip: Ipv4Addr::from(self.remote_ip),
            remote_port: self.remote_port,
        }
    }

    fn live(&self) -> bool {
        self.flags & LIVE != 0
    }

    /// True if this record is for `key`. Field by field, without building a `TwKey`: the
    /// comparison sits between the two cache misses of a lookup hit.
    #[inline(always)]
    fn is_for(&self, key: &TwKey) -> bool {
        // The three adjacent fields as one word, so the compiler makes it one load.
        let (ip, rp, lp) = (self.remote_ip, self.remote_port, self.local_port);
        let mine = u64::from(ip) | u64::from(rp) << 32 | u64::from(lp) << 48;
        let theirs = u64::from(key.remote_ip.to_bits()) | u64::from(key.remote_port) << 32 | u64::from(key.local_port) << 48;
        mine == theirs && self.local_idx == key.local_idx
    }

    fn class(&self) -> usize {
        usize::from((self.flags >> CLASS_SHIFT) & 3).min(2)
    }

    fn state(&self) -> TwState {
        TwState {
            snd_nxt: SeqNum(self.snd_nxt),
            rcv_nxt: SeqNum(self.rcv_nxt),
            ts_recent: (self.flags & HAS_TS != 0).then_some(self.ts_recent),
            class: MslClass::ALL[self.class()],
        }
    }
}

/// The size of one record, for reports.
pub const RECORD_BYTES: usize = size_of::<Record>();

/// One MSL class: its FIFO and the insertion time of each run of records.
#[derive(Debug)]
struct Class {
    fifo: Fifo,
    /// (time, position of the first record inserted at that time), oldest first.
    times: VecDeque<(Instant, u32)>,
    live: usize,
}

impl Class {
    fn new() -> Self {
        Class { fifo: Fifo::new(), times: VecDeque::new(), live: 0 }
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

/// The FIN cache of one shard.
#[derive(Debug)]
pub struct FinCache {
    cfg: FinCacheConfig,
    /// Where every record is, for all three classes.
    pool: ChunkPool<Record>,
    classes: [Class; 3],
    /// FIFO slots in use, live and dead, over all classes.
    slots: usize,
    index: Vec<Bucket>,
    hasher: ahash::RandomState,
    stats: FinCacheStats,
}

impl FinCache {
    /// An empty cache. Records take memory as they arrive; the index is allocated once, at
    /// the first insert, for the full capacity (about 8.4 bytes a record).
    ///
    /// ```
    /// use ringtcp_transport::fincache::{FinCache, FinCacheConfig, MslClass, TwKey, TwState};
    /// use ringtcp_transport::{Instant, SeqNum};
    /// let mut fc = FinCache::new(FinCacheConfig::default());
    /// let key = TwKey { local_idx: 0, local_port: 80, remote_ip: "192.0.2.1".parse().unwrap(), remote_port: 40000 };
    /// let st = TwState { snd_nxt: SeqNum(10), rcv_nxt: SeqNum(20), ts_recent: None, class: MslClass::Remote };
    /// fc.insert(Instant::ZERO, key, st);
    /// assert_eq!(fc.get(&key), Some(st));
    /// ```
    pub fn new(mut cfg: FinCacheConfig) -> FinCache {
        cfg.capacity = cfg.capacity.clamp(1, MAX_CAPACITY);
        FinCache {
            cfg,
            pool: ChunkPool::new(),
            classes: [Class::new(), Class::new(), Class::new()],
            slots: 0,
            index: Vec::new(),
            hasher: ahash::RandomState::new(),
            stats: FinCacheStats::default(),
        }
    }

    /// Settings.
    pub fn config(&self) -> &FinCacheConfig {
        &self.cfg
    }

    /// Live records.
    pub fn len(&self) -> usize {
        self.classes.iter().map(|c| c.live).sum()
    }

    /// True if no record is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counters, with `live` and `bytes` current.
    pub fn stats(&self) -> FinCacheStats {
        let mut s = self.stats.clone();
        for c in MslClass::ALL {
            s.live[c.index()] = self.classes[c.index()].live as u64;
        }
        s.bytes = self.memory() as u64;
        s
    }

    pub(crate) fn stats_mut(&mut self) -> &mut FinCacheStats {
        &mut self.stats
    }

    /// Bytes of the index alone (the rest of [`FinCache::memory`] is records and time runs).
    pub fn index_bytes(&self) -> usize {
        self.index.capacity() * size_of::<Bucket>()
    }

    /// Bytes allocated by the cache: record chunks, index, FIFOs' chunk ids, time runs.
    pub fn memory(&self) -> usize {
        let classes: usize =
            self.classes.iter().map(|c| c.fifo.ids_bytes() + c.times.capacity() * size_of::<(Instant, u32)>()).sum();
        self.pool.allocated() + classes + self.index_bytes()
    }

    /// (home bucket, tag) of a key. The key packs into 64 bits; the local address index,
    /// almost always 0, is folded into the top bits.
    #[inline(always)]
    fn hash(&self, key: &TwKey) -> (usize, u32) {
        let packed = (u64::from(u32::from(key.remote_ip)) << 32)
            | (u64::from(key.local_port) << 16)
            | u64::from(key.remote_port);
        let h = self.hasher.hash_one(packed ^ (u64::from(key.local_idx) << 56));
        // Multiply-shift range reduction on the low 32 bits (any bucket count, no modulo);
        // the tag comes from the top 8 bits, so the two are independent.
        let home = ((h & 0xffff_ffff) * self.index.len() as u64) >> 32;
        (home as usize, ((h >> 56) as u32) << 24)
    }

    #[inline(always)]
    fn next_bucket(&self, b: usize) -> usize {
        if b + 1 == self.index.len() { 0 } else { b + 1 }
    }

    fn make_ref(at: Loc, tag: u32) -> u32 {
        tag | at.bits()
    }

    /// The record an index entry names: one load from the pool's chunk table and the
    /// record (this is on the lookup path, between its two cache misses).
    #[inline(always)]
    fn record(&self, r: u32) -> Option<&Record> {
        self.pool.get(Loc::from_bits(r & LOC_MASK))
    }

    fn record_mut(&mut self, r: u32) -> Option<&mut Record> {
        self.pool.get_mut(Loc::from_bits(r & LOC_MASK))
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

    fn probe(&self, key: &TwKey, matches: impl FnMut(u32) -> bool) -> Option<(usize, usize, usize, u32)> {
        if self.index.is_empty() {
            return None;
        }
        let (home, tag) = self.hash(key);
        self.probe_at(home, tag, matches)
    }

    fn find(&self, key: &TwKey) -> Option<(usize, usize, usize, u32)> {
        self.probe(key, |e| self.record(e).is_some_and(|r| r.is_for(key)))
    }

    #[inline(always)]
    fn find_at(&self, key: &TwKey, home: usize, tag: u32) -> Option<(usize, usize, usize, u32)> {
        self.probe_at(home, tag, |e| self.record(e).is_some_and(|r| r.is_for(key)))
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
    pub fn get(&self, key: &TwKey) -> Option<TwState> {
        // The probe loop written out (not `probe` with a closure): this is the shard's
        // per-segment question, and the fewer instructions between its two cache misses,
        // the more lookups the CPU keeps in flight.
        if self.index.is_empty() {
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
                if let Some(r) = self.record(e)
                    && r.is_for(key)
                {
                    return Some(r.state());
                }
            }
            if bucket.overflow == 0 {
                return None;
            }
            b = self.next_bucket(b);
        }
        None
    }

    /// True if `key` has a live record.
    pub fn contains(&self, key: &TwKey) -> bool {
        self.find(key).is_some()
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
        if let Some(x) = self.record_mut(r) {
            x.flags &= !LIVE;
            let class = x.class();
            self.classes[class].live -= 1;
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

    /// Adds a record for a connection that just entered TIME-WAIT. If the cache is full
    /// the oldest record (live or dead) goes first.
    pub fn insert(&mut self, now: Instant, key: TwKey, state: TwState) {
        if self.index.is_empty() {
            // Half the entry slots used at full capacity: overflow is rare, and the index
            // costs 64 / 7.5 ≈ 8.5 bytes a record.
            let buckets = (self.cfg.capacity * 2).div_ceil(SLOTS).max(2);
            self.index = vec![EMPTY_BUCKET; buckets];
        }
        let (home, tag) = self.hash(&key);
        if let Some(found) = self.find_at(&key, home, tag) {
            self.erase(home, found);
        }
        while self.slots >= self.cfg.capacity {
            self.pop_oldest();
        }
        let class = state.class.index();
        let rec = Record {
            remote_ip: u32::from(key.remote_ip),
            snd_nxt: state.snd_nxt.0,
            rcv_nxt: state.rcv_nxt.0,
            ts_recent: state.ts_recent.unwrap_or(0),
            remote_port: key.remote_port,
            local_port: key.local_port,
            local_idx: key.local_idx,
            flags: LIVE | if state.ts_recent.is_some() { HAS_TS } else { 0 } | ((class as u8) << CLASS_SHIFT),
        };
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
        self.place(home, Self::make_ref(at, tag));
        self.stats.inserted += 1;
    }

    /// Removes the record for `key` (a new connection takes the 4-tuple).
    pub fn remove(&mut self, key: &TwKey) -> Option<TwState> {
        let st = self.get(key)?;
        let (home, tag) = self.hash(key);
        let found = self.find_at(key, home, tag)?;
        self.erase(home, found);
        Some(st)
    }

    /// Restarts the 2·MSL of `key` (RFC 9293 §3.10.7.4: a retransmitted FIN): the record
    /// moves to the tail of its FIFO with `now` as its time.
    pub fn restart(&mut self, now: Instant, key: &TwKey) {
        if let Some(st) = self.remove(key) {
            self.stats.inserted -= 1;
            self.insert(now, *key, st);
        }
    }

    /// Evicts the oldest record of all classes (dead slots just go).
    fn pop_oldest(&mut self) {
        let oldest = (0..3).filter(|&i| self.classes[i].fifo.len() > 0).min_by_key(|&i| self.classes[i].front_time());
        let Some(i) = oldest else { return };
        if self.pop_front(i) {
            self.stats.evicted += 1;
        }
    }

    /// Pops the front of class `i`; true if it was a live record.
    fn pop_front(&mut self, i: usize) -> bool {
        let fifo = &self.classes[i].fifo;
        // Records leave in FIFO order but their index lines are scattered: ask for the
        // line of a record a few places back now, so that by its turn the line is in cache
        // and a run of expiries overlaps its misses instead of paying them one by one.
        if let Some(ahead) = fifo.at(fifo.front_pos().wrapping_add(PREFETCH_AHEAD)).and_then(|at| self.pool.get(at))
            && ahead.live()
        {
            prefetch(&self.index[self.hash(&ahead.key()).0]);
        }
        let Some(at) = fifo.front() else { return false };
        let front = self.pool.get(at).copied();
        let live = front.is_some_and(|r| r.live());
        if let Some(rec) = front
            && live
        {
            let (home, tag) = self.hash(&rec.key());
            let me = Self::make_ref(at, tag);
            if let Some(found) = self.probe_at(home, tag, |e| e == me) {
                self.erase(home, found);
            }
        }
        let c = &mut self.classes[i];
        c.fifo.pop_front(&mut self.pool);
        self.slots -= 1;
        c.trim_times();
        live
    }

    /// Expires records whose TIME-WAIT is over, at most `expiry_budget` of them. Returns
    /// true if more are due (the caller should come back at once).
    pub fn expire(&mut self, now: Instant) -> bool {
        let mut budget = self.cfg.expiry_budget.max(1);
        for class in MslClass::ALL {
            let i = class.index();
            let dur = self.cfg.duration(class);
            while let Some(t) = self.classes[i].front_time() {
                if now - t < dur {
                    break;
                }
                if budget == 0 {
                    return true;
                }
                budget -= 1;
                if self.pop_front(i) {
                    self.stats.expired += 1;
                }
            }
        }
        false
    }

    /// When the oldest record of any class is due.
    pub fn next_expiry(&self) -> Option<Instant> {
        MslClass::ALL.iter().filter_map(|&c| self.classes[c.index()].front_time().map(|t| t + self.cfg.duration(c))).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> TwKey {
        TwKey { local_idx: 0, local_port: 80, remote_ip: Ipv4Addr::from(0x0a00_0000 | (i >> 16)), remote_port: i as u16 }
    }

    fn state(i: u32, class: MslClass) -> TwState {
        TwState { snd_nxt: SeqNum(i), rcv_nxt: SeqNum(i + 1), ts_recent: i.is_multiple_of(2).then_some(i * 3), class }
    }

    #[test]
    fn record_is_22_bytes_and_a_bucket_one_line() {
        assert_eq!(RECORD_BYTES, 22);
        assert_eq!(size_of::<Bucket>(), 64);
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
    fn memory_is_what_is_allocated() {
        let cfg = FinCacheConfig { capacity: 1 << 16, ..FinCacheConfig::default() };
        let mut fc = FinCache::new(cfg);
        for i in 0..5000 {
            fc.insert(Instant::ZERO, key(i), state(i, MslClass::Remote));
        }
        // Two 4,096-record chunks of 22 bytes, the pool's chunk table, the class's queue of
        // chunk ids, 2 · 65,536 / 15 = 8,739 buckets of 64 bytes, one time run.
        let expect = 2 * pool::CHUNK * RECORD_BYTES
            + fc.pool.table_bytes()
            + fc.classes[2].fifo.ids_bytes()
            + 8_739 * 64
            + fc.classes[2].times.capacity() * size_of::<(Instant, u32)>();
        assert_eq!(fc.memory(), expect);
    }
}
