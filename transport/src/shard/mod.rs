//! A transport shard: every connection, listener and TIME-WAIT record of one shard, the
//! packet dispatch that joins them, and the queues the runtime drains. Sans-IO: time and
//! packets come in through `handle_packet` / `handle_timeout`, packets go out through
//! `poll_transmit`.
//!
//! - `mod.rs`: the shard, transmit / timer / event queues;
//! - `ingress.rs`: packets in, both IP families: where each segment and ICMP message goes;
//! - `listen.rs`: listeners: SYNs, SYN cookies, accept queues (the decisions are
//!   [`crate::listener`]'s);
//! - `api.rs`: the socket operations the application calls;
//! - `time_wait.rs`: connections becoming FIN-cache records, and what records answer.
//!
//! The shard also keeps the books that bound it: live connections against
//! `max_connections`, buffer bytes against `buffer_memory` ([`crate::memory`]).

mod api;
mod fast_open;
mod gather;
mod ingress;
mod invariants;
mod listen;
mod spare_conns;
mod time_wait;

pub use crate::buffer::gather::PayloadSlice;
use crate::buffer::gather::Gather;
pub use gather::Gathered;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use slab::Slab;

use crate::buffer::adopt::Adoption;
use crate::config::Config;
use crate::conn::{ChallengeLimiter, Connection, Ctx, Events, Remnant, State, TxOffload};
use crate::fincache::FinCache;
use crate::isn::{IsnGenerator, Secret};
use crate::listener::Listener;
use crate::listener::cookie::{CookieJar, cookie_tsval};
use crate::memory::MemoryAccount;
use crate::seq::SeqNum;
use crate::stats::{Drops, Stats};
use crate::table::{ConnKey, ConnTable};
use crate::time::Instant;
use crate::timer::TimerQueue;
use crate::wire::{
    PROTO_TCP, TcpFlags, TcpHeader, TcpOptions, Timestamps, emit_echo_reply, emit_echo_reply_v6, emit_ip_header,
    fill_tcp_checksum,
};

/// Names a connection of one shard. Stale handles (closed and reused slots) are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SocketHandle {
    idx: u32,
    generation: u32,
}

impl SocketHandle {
    /// A handle that names no socket (every call with it fails with `InvalidHandle`);
    /// a placeholder before a real handle is known.
    ///
    /// ```
    /// use ringtcp_transport::{Config, Error, Secret, Shard, SocketHandle};
    /// let shard = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([0; 16]));
    /// assert_eq!(shard.state(SocketHandle::dangling()), Err(Error::InvalidHandle));
    /// ```
    pub const fn dangling() -> SocketHandle {
        SocketHandle { idx: u32::MAX, generation: 0 }
    }
}

/// Names a listener of one shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerHandle {
    idx: u32,
    generation: u32,
}

/// Something the application side may want to wake up for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A socket's readiness, state or error changed.
    Socket(SocketHandle),
    /// A listener has connections to accept.
    Listener(ListenerHandle),
}

/// A packet not tied to a live connection.
#[derive(Debug)]
enum Control {
    /// A RST for a segment nothing owns (RFC 9293 §3.10.7.1).
    Rst { local: SocketAddr, remote: SocketAddr, seq: SeqNum, ack: Option<SeqNum> },
    /// An ACK from a FIN-cache record: no buffer behind it, so a zero window.
    TwAck { local: SocketAddr, remote: SocketAddr, seq: SeqNum, ack: SeqNum, ts: Option<Timestamps> },
    /// A SYN-ACK carrying a SYN cookie (RFC 4987 §3.6): `wscale` is our own shift (offered
    /// when the peer offered one), `ts` the option bits our TSval carries and the peer's
    /// TSval to echo, with timestamps only.
    CookieSynAck {
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
        ack: SeqNum,
        /// The window offered: the listener's receive buffer, unscaled (RFC 7323 §2.2).
        window: u16,
        /// The MSS offered: the listener's.
        mss: u16,
        wscale: Option<u8>,
        sack: bool,
        ts: Option<(u32, u32)>,
    },
    /// An ICMP or ICMPv6 echo reply.
    EchoReply { src: IpAddr, dst: IpAddr, ident: u16, seq: u16, data: Vec<u8> },
}

/// A connection slot: a live connection, or what its owner still holds of one whose
/// transport state is now a FIN-cache record.
#[derive(Debug)]
enum Slot {
    Live(Box<Connection>),
    Remnant(Box<Remnant>),
}

impl Slot {
    fn generation(&self) -> u32 {
        match self {
            Slot::Live(c) => c.generation,
            Slot::Remnant(r) => r.generation,
        }
    }

    /// Hands the memory of a reserved payload to the receive buffer that reserved it.
    fn fulfil_rx(&mut self, mem: Box<[u8]>, range: core::ops::Range<usize>) -> Result<(), Box<[u8]>> {
        match self {
            Slot::Live(c) => c.fulfil_rx(mem, range),
            Slot::Remnant(r) => r.fulfil_rx(mem, range),
        }
    }
}

/// A packet [`Shard::poll_transmit_offload`] wrote, and what the device must do with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Bytes of the packet.
    pub len: usize,
    /// For a super-segment: the payload bytes of each segment the device cuts it into
    /// (the last may be shorter). The header, options included, is the same on each but
    /// for what segmentation changes (sequence number, IP length and identification,
    /// PSH and FIN only on the last, the checksum).
    pub segment_size: Option<u16>,
    /// The TCP checksum field holds the pseudo-header sum only (folded, not
    /// complemented): the device completes it over the segment, from the end of the IP
    /// header, into the field 16 bytes into the TCP header (virtio-net's `NEEDS_CSUM`).
    pub partial_checksum: bool,
}

/// One shard of the TCP/IP stack (IPv4 and IPv6).
///
/// ```
/// use ringtcp_transport::{Config, Instant, Secret, Shard};
/// use std::net::{IpAddr, Ipv4Addr};
///
/// let server_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
/// let client_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
/// let mut server = Shard::new(Config::default(), &[server_ip], Secret([1; 16]));
/// let mut client = Shard::new(Config::default(), &[client_ip], Secret([2; 16]));
/// let listener = server.listen("10.0.0.1:80".parse().unwrap(), 128).unwrap();
/// let now = Instant::ZERO;
/// let conn = client.connect(now, "10.0.0.1:80".parse().unwrap(), None).unwrap();
/// client.send(conn, b"hello").unwrap();
///
/// // Move packets both ways until nothing is left to send.
/// let mut buf = [0u8; 1600];
/// loop {
///     let mut moved = false;
///     while let Some(n) = client.poll_transmit(now, &mut buf) { server.handle_packet(now, &buf[..n]); moved = true; }
///     while let Some(n) = server.poll_transmit(now, &mut buf) { client.handle_packet(now, &buf[..n]); moved = true; }
///     if !moved { break; }
/// }
/// let accepted = server.accept(listener).unwrap().expect("handshake complete");
/// let mut got = [0u8; 5];
/// assert_eq!(server.recv(accepted, &mut got).unwrap(), 5);
/// assert_eq!(&got, b"hello");
/// ```
#[derive(Debug)]
pub struct Shard {
    cfg: Config,
    addrs: Vec<IpAddr>,
    isn: IsnGenerator,
    conns: Slab<Slot>,
    /// Boxes of ended connections for new ones.
    spare_conns: spare_conns::SpareConns,
    next_generation: u32,
    table: ConnTable,
    listeners: Slab<Listener>,
    listen_map: HashMap<SocketAddr, u32>,
    fin_cache: FinCache,
    timers: TimerQueue,
    tx_queue: VecDeque<(u32, u32)>,
    control: VecDeque<Control>,
    events: VecDeque<Event>,
    stats: Stats,
    drops: Drops,
    challenge: ChallengeLimiter,
    /// RSTs for segments that match nothing, per second (`Config::rst_limit`).
    rst_limiter: ChallengeLimiter,
    /// SYN cookie secrets.
    cookies: CookieJar,
    fast_open_key: crate::listener::fast_open::FastOpenKey,
    fast_open_cache: fast_open::FastOpenCache,
    /// Live connections (not remnants), against `Config::max_connections`.
    live: usize,
    /// Buffer bytes against `Config::buffer_memory`.
    memory: MemoryAccount,
    ip_ident: u16,
    tx_offload: TxOffload,
    /// The payload reservation of the packet being processed ([`Shard::handle_packet_in`]).
    adopt: Adoption,
    /// Where the payload of the packet being built lies ([`Shard::poll_transmit_gather`]).
    gather: Gather,
    /// Next port to try for `listen` on port 0.
    port_counter: u32,
    /// RFC 6056 Algorithm 4 counters for `connect`.
    port_table: Box<[u32; crate::isn::PORT_TABLE]>,
    /// The latest time the caller told us; for work triggered by application calls.
    last_now: Instant,
    /// More timers or FIN-cache records were due than the budgets allowed at the last
    /// `handle_timeout`.
    expiry_pending: bool,
    /// Whose turn it is in `poll_transmit`: the control queue's or the connections'.
    control_turn: bool,
}

impl Shard {
    /// A shard owning `addrs`, with the secret behind its ISNs and port choice.
    pub fn new(cfg: Config, addrs: &[IpAddr], secret: Secret) -> Shard {
        let fin_cache = FinCache::new(cfg.fin_cache.clone());
        let cookies = CookieJar::new(secret, cfg.syn_cookie_period);
        let memory = MemoryAccount::new(cfg.buffer_memory);
        Shard {
            cfg,
            addrs: addrs.to_vec(),
            isn: IsnGenerator::new(secret),
            conns: Slab::new(),
            spare_conns: spare_conns::SpareConns::default(),
            next_generation: 1,
            table: ConnTable::default(),
            listeners: Slab::new(),
            listen_map: HashMap::new(),
            fin_cache,
            timers: TimerQueue::default(),
            tx_queue: VecDeque::new(),
            control: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            drops: Drops::default(),
            challenge: ChallengeLimiter::default(),
            rst_limiter: ChallengeLimiter::default(),
            cookies,
            fast_open_key: crate::listener::fast_open::FastOpenKey::derived(secret),
            fast_open_cache: fast_open::FastOpenCache::default(),
            live: 0,
            memory,
            ip_ident: 0,
            tx_offload: TxOffload::default(),
            adopt: Adoption::default(),
            gather: Gather::default(),
            port_counter: 0,
            port_table: Box::new([0; crate::isn::PORT_TABLE]),
            last_now: Instant::ZERO,
            expiry_pending: false,
            control_turn: false,
        }
    }

    /// The settings this shard runs with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The addresses this shard answers for.
    pub fn addresses(&self) -> &[IpAddr] {
        &self.addrs
    }

    /// Transport counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Drop counters by reason.
    pub fn drops(&self) -> &Drops {
        &self.drops
    }

    /// The TIME-WAIT records.
    pub fn fin_cache(&self) -> &FinCache {
        &self.fin_cache
    }

    /// Live connections (control blocks). TIME-WAIT records are not connections: see
    /// [`Shard::fin_cache`].
    pub fn connection_count(&self) -> usize {
        self.live
    }

    /// Buffer bytes counted against `Config::buffer_memory`: connection buffers, unread
    /// data of remnants, and what [`Shard::set_external_memory`] reported.
    pub fn buffer_memory(&self) -> usize {
        self.memory.used()
    }

    /// The runtime reports the bytes it holds for this shard's sockets on the application
    /// side, so they count against `Config::buffer_memory` too.
    pub fn set_external_memory(&mut self, bytes: usize) {
        if self.memory.set_external(bytes) {
            self.stats.memory_pressure += 1;
        }
    }

    /// True when buffer memory is at its limit (buffers no longer grow): the runtime then
    /// stops growing its own side too.
    pub fn memory_exhausted(&self) -> bool {
        self.memory.state() == crate::memory::MemoryState::Exhausted
    }

    /// True when buffer memory is under pressure or at its limit: drained buffers should
    /// give their allocation back at once (the transport's do).
    pub fn memory_tight(&self) -> bool {
        self.memory.state() != crate::memory::MemoryState::Normal
    }

    /// How many connections are in each state; TIME-WAIT counts FIN-cache records too.
    pub fn state_counts(&self) -> Vec<(State, usize)> {
        let mut counts: Vec<(State, usize)> = Vec::new();
        let mut add = |state: State, n: usize| match counts.iter_mut().find(|(s, _)| *s == state) {
            Some((_, m)) => *m += n,
            None => counts.push((state, n)),
        };
        for (_, s) in &self.conns {
            if let Slot::Live(c) = s {
                add(c.state, 1);
            }
        }
        if !self.fin_cache.is_empty() {
            add(State::TimeWait, self.fin_cache.len());
        }
        counts
    }

    /// Bytes held by connection slots: control blocks, buffers, and remnants' unread data.
    pub fn connection_memory(&self) -> usize {
        let slots = self.conns.capacity() * size_of::<Slot>();
        let heap: usize = self
            .conns
            .iter()
            .map(|(_, s)| match s {
                Slot::Live(c) => c.memory(),
                Slot::Remnant(r) => r.memory(),
            })
            .sum();
        slots + heap
    }

    fn is_local(&self, ip: IpAddr) -> bool {
        self.addrs.contains(&ip)
    }

    fn ctx(&mut self, now: Instant) -> (Ctx<'_>, &mut Slab<Slot>) {
        (
            Ctx {
                now,
                cfg: &self.cfg,
                stats: &mut self.stats,
                drops: &mut self.drops,
                challenge: &mut self.challenge,
                ip_ident: &mut self.ip_ident,
                tx: &mut self.tx_offload,
                adopt: &mut self.adopt,
                gather: &mut self.gather,
            },
            &mut self.conns,
        )
    }

    /// Runs `f` on live connection `idx` with a context, then the bookkeeping.
    fn with_conn(&mut self, now: Instant, idx: u32, f: impl FnOnce(&mut Connection, &mut Ctx<'_>)) {
        let (mem, hard) = (self.memory.state(), self.memory.hard_limit());
        let (mut ctx, conns) = self.ctx(now);
        if let Some(Slot::Live(c)) = conns.get_mut(idx as usize) {
            c.mem = mem;
            c.mem_hard = hard;
            f(c, &mut ctx);
        }
        self.after(idx);
    }

    /// Counts slot `idx`'s buffer bytes and window promise again after anything may have
    /// changed them.
    fn account(&mut self, idx: u32) {
        let (old, new) = match self.conns.get_mut(idx as usize) {
            Some(Slot::Live(c)) => {
                let new = (c.buffer_bytes(), c.promise());
                (core::mem::replace(&mut c.accounted, new), new)
            }
            Some(Slot::Remnant(r)) => {
                let new = r.buffer_bytes();
                ((core::mem::replace(&mut r.accounted, new), 0), (new, 0))
            }
            None => return,
        };
        if old != new && self.memory.update(old, new) {
            self.stats.memory_pressure += 1;
        }
    }

    /// Adds a connection to the slab, counted as live.
    fn insert_slot(&mut self, conn: Connection) -> u32 {
        self.live += 1;
        let conn = self.spare_conns.boxed(conn);
        self.conns.insert(Slot::Live(conn)) as u32
    }

    /// Frees slot `idx` and everything it counted.
    fn remove_slot(&mut self, idx: u32) {
        let accounted = match self.conns.try_remove(idx as usize) {
            Some(Slot::Live(c)) => self.end_live(c),
            Some(Slot::Remnant(r)) => (r.accounted, 0),
            None => return,
        };
        self.memory.update(accounted, (0, 0));
    }

    /// Replaces live connection `idx` with what its owner keeps of it.
    fn make_remnant(&mut self, idx: u32, remnant: Remnant) {
        let old = match core::mem::replace(&mut self.conns[idx as usize], Slot::Remnant(Box::new(remnant))) {
            Slot::Live(c) => self.end_live(c),
            Slot::Remnant(_) => (0, 0),
        };
        self.memory.update(old, (0, 0));
        self.account(idx);
    }

    /// A live connection taken out of its slot: no longer counted as live, its box kept
    /// for the next one. Returns what it had counted against the memory account.
    fn end_live(&mut self, c: Box<Connection>) -> (usize, usize) {
        self.live -= 1;
        let accounted = c.accounted;
        self.spare_conns.give_back(c);
        accounted
    }

    /// Bookkeeping after anything touched connection `idx`: hand established connections
    /// to their listener, note events, queue it for transmit, re-arm its timer, turn it into
    /// a FIN-cache record or free it when its time has come.
    fn after(&mut self, idx: u32) {
        self.account(idx);
        let Some(Slot::Live(c)) = self.conns.get_mut(idx as usize) else { return };
        let ev = c.events.take();
        let generation = c.generation;
        if let Some(f) = c.fast_open.as_deref_mut()
            && let Some(learned) = f.learned.take()
        {
            self.fast_open_cache.learn(c.remote.ip(), learned);
        }
        if let Some(f) = c.fast_open.as_deref_mut()
            && c.state != State::SynReceived
            && let Some((l, lgen)) = f.queued_on.take()
            && let Some(lst) = self.listeners.get_mut(l as usize).filter(|x| x.generation == lgen)
        {
            // Its handshake ended (completed or failed): out of the Fast Open queue.
            lst.fast_open_pending = lst.fast_open_pending.saturating_sub(1);
        }
        if ev.has(Events::ESTABLISHED)
            && !c.in_accept_queue
            && let Some(l) = c.listener
            && let Some(lst) = self.listeners.get_mut(l as usize)
        {
            let first_event = lst.established((idx, generation), c.in_syn_queue);
            c.in_syn_queue = false;
            c.in_accept_queue = true;
            if first_event {
                self.events.push_back(Event::Listener(ListenerHandle { idx: l, generation: lst.generation }));
            }
        }
        if ev.has(Events::CLOSED) {
            self.table.remove_if(&ConnKey::new(c.local, c.remote), idx);
            if let Some(l) = c.listener.take()
                && let Some(lst) = self.listeners.get_mut(l as usize)
            {
                lst.forget(idx, c.in_accept_queue, c.in_syn_queue);
            }
            c.in_syn_queue = false;
            c.in_accept_queue = false;
        }
        if ev.any() && c.owned && !c.event_queued {
            c.event_queued = true;
            self.events.push_back(Event::Socket(SocketHandle { idx, generation }));
        }
        if !c.tx_queued {
            c.tx_queued = true;
            self.tx_queue.push_back((idx, generation));
        }
        self.schedule(idx);
    }

    fn schedule(&mut self, idx: u32) {
        let Some(Slot::Live(c)) = self.conns.get_mut(idx as usize) else { return };
        if let Some(d) = c.next_deadline()
            && c.timer_registered.is_none_or(|r| d < r)
        {
            c.timer_registered = Some(d);
            self.timers.push(d, idx, c.generation);
        }
    }

    /// A connection with nothing left to send: free it if it is closed and unowned, make
    /// it a FIN-cache record if it is in TIME-WAIT.
    fn retire(&mut self, idx: u32) {
        let Some(Slot::Live(c)) = self.conns.get(idx as usize) else { return };
        if c.has_pending_output() {
            return;
        }
        match c.state {
            State::Closed if !c.owned => {
                self.table.remove_if(&ConnKey::new(c.local, c.remote), idx);
                self.remove_slot(idx);
            }
            State::TimeWait if !c.owes_ack() => self.retire_to_fin_cache(idx),
            _ => {}
        }
    }

    // ----- packets out -----

    /// Writes the next packet to send into `buf`, which must hold at least the MTU, and
    /// returns its length; `None` when there is nothing to send.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.tx_offload = TxOffload::default();
        self.poll_next(now, buf)
    }

    /// As [`Shard::poll_transmit`], for a device that segments and checksums: a
    /// connection with new data for several segments writes them as one super-segment
    /// (one header, payload up to what `buf` holds and 64 KB, in whole segments but for
    /// the end of its queue), and a data segment's TCP checksum is left partial (the
    /// pseudo-header sum, as Linux leaves it for a device with checksum offload). What the
    /// device must do comes back in the [`Transmit`]. Retransmissions and loss recovery
    /// stay one segment each, so SACK blocks and retransmitted holes line up with the
    /// segments the peer saw.
    ///
    /// ```
    /// use ringtcp_transport::{Config, Instant, Secret, Shard};
    /// use std::net::{IpAddr, Ipv4Addr};
    ///
    /// let (a, b) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
    /// let mut server = Shard::new(Config::default(), &[a], Secret([1; 16]));
    /// let mut client = Shard::new(Config::default(), &[b], Secret([2; 16]));
    /// let l = server.listen("10.0.0.1:80".parse().unwrap(), 8).unwrap();
    /// let c = client.connect(Instant::ZERO, "10.0.0.1:80".parse().unwrap(), None).unwrap();
    /// let mut buf = vec![0u8; 65_536];
    /// for _ in 0..3 {
    ///     while let Some(n) = client.poll_transmit(Instant::ZERO, &mut buf) { server.handle_packet(Instant::ZERO, &buf[..n]); }
    ///     while let Some(n) = server.poll_transmit(Instant::ZERO, &mut buf) { client.handle_packet(Instant::ZERO, &buf[..n]); }
    /// }
    /// let s = server.accept(l).unwrap().unwrap();
    /// server.send(s, &[7u8; 8000]).unwrap();
    /// let t = server.poll_transmit_offload(Instant::ZERO, &mut buf).unwrap();
    /// // The initial window's worth in one packet: segments of 1,448 bytes (an MSS of
    /// // 1,460 less the timestamp option), for the device to cut.
    /// assert_eq!(t.segment_size, Some(1448));
    /// assert!(t.partial_checksum && t.len > 5 * 1448);
    /// ```
    pub fn poll_transmit_offload(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.tx_offload = TxOffload { enabled: true, ..TxOffload::default() };
        let len = self.poll_next(now, buf)?;
        Some(Transmit { len, segment_size: self.tx_offload.segment_size, partial_checksum: self.tx_offload.partial_checksum })
    }

    fn poll_next(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.last_now = now;
        // Control packets (cookie SYN-ACKs, RSTs, answers from records) and connections'
        // segments take turns: when the runtime can write only so many packets, neither a
        // flood's replies nor one busy connection holds up the other.
        self.control_turn = !self.control_turn;
        if self.control_turn {
            self.poll_control(now, buf).or_else(|| self.poll_connections(now, buf))
        } else {
            self.poll_connections(now, buf).or_else(|| self.poll_control(now, buf))
        }
    }

    fn poll_control(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        while let Some(c) = self.control.pop_front() {
            if let Some(n) = self.emit_control(now, &c, buf) {
                return Some(n);
            }
        }
        None
    }

    fn poll_connections(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let (mem, hard) = (self.memory.state(), self.memory.hard_limit());
        while let Some(&(idx, generation)) = self.tx_queue.front() {
            let (mut ctx, conns) = self.ctx(now);
            let Some(Slot::Live(c)) = conns.get_mut(idx as usize).filter(|s| s.generation() == generation) else {
                self.tx_queue.pop_front();
                continue;
            };
            c.mem = mem;
            c.mem_hard = hard;
            if let Some(n) = c.poll_segment(&mut ctx, buf) {
                // The segment may have advertised a new window: a new promise.
                self.account(idx);
                self.schedule(idx);
                return Some(n);
            }
            c.tx_queued = false;
            self.tx_queue.pop_front();
            self.schedule(idx);
            self.retire(idx);
        }
        None
    }

    fn emit_control(&mut self, now: Instant, c: &Control, buf: &mut [u8]) -> Option<usize> {
        let (local, remote, header) = match c {
            Control::EchoReply { src, dst, ident, seq, data } => {
                let n = match (src, dst) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => emit_echo_reply(buf, *s, *d, *ident, *seq, data)?,
                    (IpAddr::V6(s), IpAddr::V6(d)) => emit_echo_reply_v6(buf, *s, *d, *ident, *seq, data)?,
                    _ => return None,
                };
                self.stats.icmp_out += 1;
                self.stats.ip_out_requests += 1;
                return Some(n);
            }
            Control::Rst { local, remote, seq, ack } => {
                let flags = if ack.is_some() { TcpFlags::RST | TcpFlags::ACK } else { TcpFlags::RST };
                self.stats.out_rsts += 1;
                let h = TcpHeader {
                    src_port: local.port(),
                    dst_port: remote.port(),
                    seq: *seq,
                    ack: ack.unwrap_or(SeqNum(0)),
                    flags,
                    ..TcpHeader::default()
                };
                (local, remote, h)
            }
            Control::CookieSynAck { local, remote, iss, ack, window, mss, wscale, sack, ts } => {
                let timestamps = ts.map(|(bits, ecr)| {
                    let clock = self.ts_val(now, *local, *remote);
                    Timestamps { val: cookie_tsval(clock, bits), ecr }
                });
                let h = TcpHeader {
                    src_port: local.port(),
                    dst_port: remote.port(),
                    seq: *iss,
                    ack: *ack,
                    flags: TcpFlags::SYN | TcpFlags::ACK,
                    window: *window,
                    options: TcpOptions {
                        mss: Some(*mss),
                        window_scale: *wscale,
                        sack_permitted: *sack,
                        timestamps,
                        ..TcpOptions::default()
                    },
                    ..TcpHeader::default()
                };
                self.stats.syncookies_sent += 1;
                (local, remote, h)
            }
            Control::TwAck { local, remote, seq, ack, ts } => {
                let mut ts = *ts;
                if let Some(t) = &mut ts {
                    t.val = self.ts_val(now, *local, *remote);
                }
                let h = TcpHeader {
                    src_port: local.port(),
                    dst_port: remote.port(),
                    seq: *seq,
                    ack: *ack,
                    flags: TcpFlags::ACK,
                    options: TcpOptions { timestamps: ts, ..TcpOptions::default() },
                    ..TcpHeader::default()
                };
                (local, remote, h)
            }
        };
        let total = crate::wire::ip_header_len(remote.ip()) + header.wire_len();
        if buf.len() < total {
            return None;
        }
        let (src, dst) = (local.ip(), remote.ip());
        let hlen = emit_ip_header(buf, src, dst, PROTO_TCP, header.wire_len(), self.cfg.ttl, self.ip_ident, 0)?;
        self.ip_ident = self.ip_ident.wrapping_add(1);
        header.emit(&mut buf[hlen..total]);
        fill_tcp_checksum(&mut buf[hlen..total], src, dst);
        self.stats.tcp_out_segs += 1;
        self.stats.ip_out_requests += 1;
        Some(total)
    }

    // ----- time -----

    /// The next instant at which `handle_timeout` has work, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.expiry_pending || self.fin_cache.growing() {
            return Some(self.last_now);
        }
        [self.timers.next_deadline(), self.fin_cache.next_expiry()].into_iter().flatten().min()
    }

    /// Fires connection timers due at `now` (at most `timer_budget` entries) and expires
    /// due FIN-cache records (at most `fin_cache.expiry_budget`); what is left waits for the
    /// next call, which `poll_timeout` then asks for at once.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        let mut budget = self.cfg.timer_budget.max(1);
        while budget > 0
            && let Some((at, idx, generation)) = self.timers.pop_due(now)
        {
            budget -= 1;
            let Some(Slot::Live(c)) = self.conns.get_mut(idx as usize).filter(|s| s.generation() == generation)
            else {
                continue;
            };
            if c.timer_registered != Some(at) {
                continue;
            }
            c.timer_registered = None;
            self.with_conn(now, idx, |c, ctx| c.on_timeout(ctx));
        }
        let timers_left = self.timers.next_deadline().is_some_and(|t| t <= now);
        self.expiry_pending = self.fin_cache.expire(now) || timers_left;
    }

    // ----- events -----

    /// The next readiness event for the application side.
    pub fn poll_event(&mut self) -> Option<Event> {
        let e = self.events.pop_front()?;
        match e {
            Event::Socket(h) => match self.conns.get_mut(h.idx as usize).filter(|s| s.generation() == h.generation) {
                Some(Slot::Live(c)) => c.event_queued = false,
                Some(Slot::Remnant(r)) => r.event_queued = false,
                None => {}
            },
            Event::Listener(l) => {
                if let Some(x) = self.listeners.get_mut(l.idx as usize).filter(|x| x.generation == l.generation) {
                    x.event_queued = false;
                }
            }
        }
        Some(e)
    }
}
