//! A transport shard: every connection and listener of one shard, the packet dispatch
//! that joins them, and the queues the runtime drains. Sans-IO: time and packets come in
//! through `handle_packet` / `handle_timeout`, packets go out through `poll_transmit`.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use slab::Slab;

use crate::config::{Config, Keepalive};
use crate::conn::{ChallengeLimiter, Connection, Ctx, Events, Open, State};
use crate::error::Error;
use crate::isn::{IsnGenerator, Secret};
use crate::listener::Listener;
use crate::seq::SeqNum;
use crate::stats::{Drops, Stats};
use crate::table::{ConnKey, ConnTable};
use crate::time::Instant;
use crate::timer::TimerQueue;
use crate::wire::{
    IPV4_HEADER_LEN, IcmpMessage, Ipv4Packet, PROTO_ICMP, PROTO_TCP, TcpFlags, TcpHeader, TcpSegment, WireError,
    emit_echo_reply, emit_ipv4_header, fill_tcp_checksum_v4,
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

/// A packet not tied to a connection: RSTs for unknown segments and ICMP echo replies.
#[derive(Debug)]
enum Control {
    Rst { local: SocketAddrV4, remote: SocketAddrV4, seq: SeqNum, ack: Option<SeqNum> },
    EchoReply { src: Ipv4Addr, dst: Ipv4Addr, ident: u16, seq: u16, data: Vec<u8> },
}

/// One shard of the TCP/IPv4 stack.
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
    conns: Slab<Connection>,
    next_generation: u32,
    table: ConnTable,
    listeners: Slab<Listener>,
    listen_map: HashMap<SocketAddr, u32>,
    timers: TimerQueue,
    tx_queue: VecDeque<(u32, u32)>,
    control: VecDeque<Control>,
    events: VecDeque<Event>,
    stats: Stats,
    drops: Drops,
    challenge: ChallengeLimiter,
    ip_ident: u16,
    port_counter: u32,
}

impl Shard {
    /// A shard owning `addrs`, with the secret behind its ISNs and port choice.
    pub fn new(cfg: Config, addrs: &[IpAddr], secret: Secret) -> Shard {
        Shard {
            cfg,
            addrs: addrs.to_vec(),
            isn: IsnGenerator::new(secret),
            conns: Slab::new(),
            next_generation: 1,
            table: ConnTable::default(),
            listeners: Slab::new(),
            listen_map: HashMap::new(),
            timers: TimerQueue::default(),
            tx_queue: VecDeque::new(),
            control: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            drops: Drops::default(),
            challenge: ChallengeLimiter::default(),
            ip_ident: 0,
            port_counter: 0,
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

    /// Connections held (every state, TIME-WAIT included).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// How many connections are in each state.
    pub fn state_counts(&self) -> Vec<(State, usize)> {
        let mut counts: Vec<(State, usize)> = Vec::new();
        for (_, c) in &self.conns {
            match counts.iter_mut().find(|(s, _)| *s == c.state) {
                Some((_, n)) => *n += 1,
                None => counts.push((c.state, 1)),
            }
        }
        counts
    }

    /// Bytes held by connections: control blocks and buffers.
    pub fn connection_memory(&self) -> usize {
        self.conns.iter().map(|(_, c)| c.memory()).sum()
    }

    fn is_local(&self, ip: IpAddr) -> bool {
        self.addrs.contains(&ip)
    }

    fn ctx(&mut self, now: Instant) -> (Ctx<'_>, &mut Slab<Connection>) {
        (
            Ctx {
                now,
                cfg: &self.cfg,
                stats: &mut self.stats,
                drops: &mut self.drops,
                challenge: &mut self.challenge,
                ip_ident: &mut self.ip_ident,
            },
            &mut self.conns,
        )
    }

    // ----- listeners -----

    /// Starts listening on `addr` (an address of this shard or the unspecified address).
    /// Port 0 picks a free ephemeral port. `backlog` bounds SYN + accept queues together.
    pub fn listen(&mut self, addr: SocketAddr, backlog: usize) -> Result<ListenerHandle, Error> {
        if !addr.is_ipv4() {
            return Err(Error::InvalidInput);
        }
        if !addr.ip().is_unspecified() && !self.is_local(addr.ip()) {
            return Err(Error::AddrNotAvailable);
        }
        let addr = if addr.port() == 0 { self.free_listen_port(addr)? } else { addr };
        let wildcard = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), addr.port());
        let clash = self.listen_map.contains_key(&addr)
            || self.listen_map.contains_key(&wildcard)
            || (addr.ip().is_unspecified() && self.listen_map.keys().any(|a| a.port() == addr.port()));
        if clash {
            return Err(Error::AddrInUse);
        }
        let generation = self.bump_generation();
        let idx = self.listeners.insert(Listener::new(addr, backlog.max(1), generation)) as u32;
        self.listen_map.insert(addr, idx);
        Ok(ListenerHandle { idx, generation })
    }

    fn free_listen_port(&mut self, addr: SocketAddr) -> Result<SocketAddr, Error> {
        let range = self.cfg.ephemeral_ports.clone();
        let span = u32::from(*range.end() - *range.start()) + 1;
        for i in 0..span {
            let port = *range.start() + ((self.port_counter.wrapping_add(i)) % span) as u16;
            if !self.listen_map.keys().any(|a| a.port() == port) {
                self.port_counter = self.port_counter.wrapping_add(i + 1);
                return Ok(SocketAddr::new(addr.ip(), port));
            }
        }
        Err(Error::AddrInUse)
    }

    /// The address a listener is bound to.
    pub fn listener_addr(&self, l: ListenerHandle) -> Result<SocketAddr, Error> {
        self.listener(l).map(|l| l.local)
    }

    fn listener(&self, l: ListenerHandle) -> Result<&Listener, Error> {
        self.listeners.get(l.idx as usize).filter(|x| x.generation == l.generation).ok_or(Error::InvalidHandle)
    }

    /// Takes one established connection from the listener's accept queue.
    pub fn accept(&mut self, l: ListenerHandle) -> Result<Option<SocketHandle>, Error> {
        self.listener(l)?;
        let lst = &mut self.listeners[l.idx as usize];
        while let Some((idx, generation)) = lst.accept_queue.pop_front() {
            if let Some(c) = self.conns.get_mut(idx as usize).filter(|c| c.generation == generation) {
                c.listener = None;
                c.in_accept_queue = false;
                c.owned = true;
                return Ok(Some(SocketHandle { idx, generation }));
            }
        }
        lst.event_queued = false;
        Ok(None)
    }

    /// Connections waiting in a listener's accept queue.
    pub fn accept_queue_len(&self, l: ListenerHandle) -> Result<usize, Error> {
        self.listener(l).map(|l| l.accept_queue.len())
    }

    /// Stops listening. Connections not yet accepted are reset, as closing a listening
    /// socket does on Linux.
    pub fn close_listener(&mut self, l: ListenerHandle) -> Result<(), Error> {
        self.listener(l)?;
        let lst = self.listeners.remove(l.idx as usize);
        self.listen_map.remove(&lst.local);
        let orphans: Vec<usize> =
            self.conns.iter().filter(|(_, c)| c.listener == Some(l.idx)).map(|(i, _)| i).collect();
        for idx in orphans {
            let c = &mut self.conns[idx];
            c.listener = None;
            if c.state == State::SynReceived {
                self.stats.embryonic_drops += 1;
            }
            c.abort();
            self.after(idx as u32);
        }
        Ok(())
    }

    // ----- connections -----

    /// Opens a connection to `remote`. `local` picks the source address and port; `None`
    /// (or port 0) chooses an ephemeral port by RFC 6056 Algorithm 3.
    pub fn connect(&mut self, now: Instant, remote: SocketAddr, local: Option<SocketAddr>) -> Result<SocketHandle, Error> {
        if !remote.is_ipv4() || remote.port() == 0 || remote.ip().is_unspecified() {
            return Err(Error::InvalidInput);
        }
        let local_ip = match local {
            Some(l) if !l.ip().is_unspecified() => {
                if !self.is_local(l.ip()) {
                    return Err(Error::AddrNotAvailable);
                }
                l.ip()
            }
            _ => *self.addrs.iter().find(|a| a.is_ipv4()).ok_or(Error::AddrNotAvailable)?,
        };
        let local = match local.map(|l| l.port()) {
            Some(port) if port != 0 => {
                let l = SocketAddr::new(local_ip, port);
                if self.table.contains(&ConnKey::new(l, remote)) {
                    return Err(Error::AddrInUse);
                }
                l
            }
            _ => self.pick_ephemeral(local_ip, remote)?,
        };
        let iss = self.isn.isn(&local, &remote, now);
        let idx = self.insert_conn(|generation, cfg, ts_offset| {
            Connection::connect(Open { local, remote, iss, ts_offset, generation, cfg, now })
        });
        self.table.insert(ConnKey::new(local, remote), idx);
        self.stats.active_opens += 1;
        self.after(idx);
        let c = &self.conns[idx as usize];
        Ok(SocketHandle { idx, generation: c.generation })
    }

    /// RFC 6056 §3.3.3 Algorithm 3: start at a keyed hash of the destination, advance a
    /// counter, skip ports whose 4-tuple is in use.
    fn pick_ephemeral(&mut self, local_ip: IpAddr, remote: SocketAddr) -> Result<SocketAddr, Error> {
        let range = self.cfg.ephemeral_ports.clone();
        let span = u32::from(*range.end() - *range.start()) + 1;
        let offset = self.isn.port_offset(&SocketAddr::new(local_ip, 0), &remote);
        for i in 0..span {
            let port = *range.start() + (offset.wrapping_add(self.port_counter).wrapping_add(i) % span) as u16;
            let local = SocketAddr::new(local_ip, port);
            if !self.table.contains(&ConnKey::new(local, remote)) && !self.listen_map.contains_key(&local) {
                self.port_counter = self.port_counter.wrapping_add(i + 1);
                return Ok(local);
            }
        }
        Err(Error::AddrNotAvailable)
    }

    fn bump_generation(&mut self) -> u32 {
        let g = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
        g
    }

    fn insert_conn(&mut self, make: impl FnOnce(u32, &Config, u32) -> Connection) -> u32 {
        let generation = self.bump_generation();
        let conn = make(generation, &self.cfg, 0);
        let ts_offset = self.isn.ts_offset(&conn.local, &conn.remote);
        let mut conn = conn;
        conn.set_ts_offset(ts_offset);
        self.conns.insert(conn) as u32
    }

    fn conn(&self, h: SocketHandle) -> Result<&Connection, Error> {
        self.conns
            .get(h.idx as usize)
            .filter(|c| c.generation == h.generation && c.owned)
            .ok_or(Error::InvalidHandle)
    }

    fn conn_mut(&mut self, h: SocketHandle) -> Result<&mut Connection, Error> {
        self.conns
            .get_mut(h.idx as usize)
            .filter(|c| c.generation == h.generation && c.owned)
            .ok_or(Error::InvalidHandle)
    }

    /// Queues data; returns how much was taken. `Err(WouldBlock)` when the buffer is full.
    pub fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, Error> {
        let n = self.conn_mut(h)?.send(data)?;
        self.after(h.idx);
        Ok(n)
    }

    /// Reads data. `Ok(0)` is end of stream; `Err(WouldBlock)` means nothing yet.
    pub fn recv(&mut self, h: SocketHandle, out: &mut [u8]) -> Result<usize, Error> {
        let r = self.conn_mut(h)?.recv(out);
        self.after(h.idx);
        r
    }

    /// Copies data without consuming it.
    pub fn peek(&self, h: SocketHandle, out: &mut [u8]) -> Result<usize, Error> {
        self.conn(h)?.peek(out)
    }

    /// Sends FIN after the queued data; reading goes on (half-close).
    pub fn shutdown_write(&mut self, h: SocketHandle) -> Result<(), Error> {
        self.conn_mut(h)?.shutdown_write();
        self.after(h.idx);
        Ok(())
    }

    /// Gives the handle back. With unread data the connection is reset (as Linux does on
    /// close); otherwise it closes gracefully in the background and the handle is invalid.
    pub fn close(&mut self, now: Instant, h: SocketHandle) -> Result<(), Error> {
        let fin_wait2 = self.cfg.fin_wait2_timeout;
        let c = self.conn_mut(h)?;
        if c.recv_queue() > 0 {
            c.abort();
        } else {
            c.shutdown_write();
        }
        c.owned = false;
        c.orphaned(now, fin_wait2);
        self.after(h.idx);
        Ok(())
    }

    /// Resets the connection (RST) and gives the handle back.
    pub fn abort(&mut self, h: SocketHandle) -> Result<(), Error> {
        let c = self.conn_mut(h)?;
        c.abort();
        c.owned = false;
        self.after(h.idx);
        Ok(())
    }

    /// The connection's state.
    pub fn state(&self, h: SocketHandle) -> Result<State, Error> {
        self.conn(h).map(|c| c.state())
    }

    /// Local address and port.
    pub fn local_addr(&self, h: SocketHandle) -> Result<SocketAddr, Error> {
        self.conn(h).map(|c| c.local)
    }

    /// Remote address and port.
    pub fn peer_addr(&self, h: SocketHandle) -> Result<SocketAddr, Error> {
        self.conn(h).map(|c| c.remote)
    }

    /// True if `recv` would not return `WouldBlock`.
    pub fn is_readable(&self, h: SocketHandle) -> Result<bool, Error> {
        self.conn(h).map(|c| c.is_readable())
    }

    /// True if `send` would not return `WouldBlock`.
    pub fn is_writable(&self, h: SocketHandle) -> Result<bool, Error> {
        self.conn(h).map(|c| c.is_writable())
    }

    /// Free space in the send buffer.
    pub fn send_capacity(&self, h: SocketHandle) -> Result<usize, Error> {
        self.conn(h).map(|c| c.send_capacity())
    }

    /// Bytes queued for sending and not yet acknowledged.
    pub fn send_queue(&self, h: SocketHandle) -> Result<usize, Error> {
        self.conn(h).map(|c| c.send_queue())
    }

    /// Bytes ready to read.
    pub fn recv_queue(&self, h: SocketHandle) -> Result<usize, Error> {
        self.conn(h).map(|c| c.recv_queue())
    }

    /// The error that ended the connection, if any (kept until the handle is closed).
    pub fn error(&self, h: SocketHandle) -> Result<Option<Error>, Error> {
        self.conn(h).map(|c| c.error)
    }

    /// Turns Nagle's algorithm off (`true`) or on.
    pub fn set_nodelay(&mut self, h: SocketHandle, on: bool) -> Result<(), Error> {
        self.conn_mut(h)?.set_nodelay(on);
        self.after(h.idx);
        Ok(())
    }

    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self, h: SocketHandle) -> Result<bool, Error> {
        self.conn(h).map(|c| c.nodelay())
    }

    /// Sets or clears keepalive for one connection.
    pub fn set_keepalive(&mut self, now: Instant, h: SocketHandle, ka: Option<Keepalive>) -> Result<(), Error> {
        self.conn_mut(h)?.set_keepalive(ka, now);
        self.after(h.idx);
        Ok(())
    }

    /// Smoothed RTT and congestion window, for diagnostics.
    pub fn path_info(&self, h: SocketHandle) -> Result<(Option<core::time::Duration>, u32), Error> {
        self.conn(h).map(|c| (c.srtt(), c.cwnd()))
    }

    /// Bytes received and sent on a connection.
    pub fn bytes_transferred(&self, h: SocketHandle) -> Result<(u64, u64), Error> {
        self.conn(h).map(|c| (c.bytes_in, c.bytes_out))
    }

    /// Bookkeeping after anything touched connection `idx`: hand established connections
    /// to their listener, note events, queue it for transmit, re-arm its timer, free it
    /// when it is closed and nobody holds it.
    fn after(&mut self, idx: u32) {
        let Some(c) = self.conns.get_mut(idx as usize) else { return };
        let ev = c.events.take();
        let generation = c.generation;
        if ev.has(Events::ESTABLISHED)
            && let Some(l) = c.listener
            && let Some(lst) = self.listeners.get_mut(l as usize)
        {
            lst.syn_pending = lst.syn_pending.saturating_sub(1);
            lst.accept_queue.push_back((idx, generation));
            c.in_accept_queue = true;
            if !lst.event_queued {
                lst.event_queued = true;
                self.events.push_back(Event::Listener(ListenerHandle { idx: l, generation: lst.generation }));
            }
        }
        if ev.has(Events::CLOSED) {
            self.table.remove_if(&ConnKey::new(c.local, c.remote), idx);
            if let Some(l) = c.listener.take()
                && let Some(lst) = self.listeners.get_mut(l as usize)
            {
                if c.in_accept_queue {
                    lst.accept_queue.retain(|&(i, _)| i != idx);
                } else {
                    lst.syn_pending = lst.syn_pending.saturating_sub(1);
                }
            }
        }
        if ev.has(Events::TIME_WAIT) {
            // The FIN cache seam: TIME-WAIT currently keeps the (buffer-less) connection
            // with its 2·MSL timer; a compact record will take its place here.
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
        let Some(c) = self.conns.get_mut(idx as usize) else { return };
        if let Some(d) = c.next_deadline()
            && c.timer_registered.is_none_or(|r| d < r)
        {
            c.timer_registered = Some(d);
            self.timers.push(d, idx, c.generation);
        }
    }

    fn maybe_free(&mut self, idx: u32) {
        if let Some(c) = self.conns.get(idx as usize)
            && c.state == State::Closed
            && !c.owned
            && !c.has_pending_output()
        {
            self.table.remove_if(&ConnKey::new(c.local, c.remote), idx);
            self.conns.remove(idx as usize);
        }
    }

    // ----- packets in -----

    /// Processes one received IPv4 packet. Bad packets are counted and dropped.
    pub fn handle_packet(&mut self, now: Instant, bytes: &[u8]) {
        self.stats.ip_in_receives += 1;
        let ip = match Ipv4Packet::parse(bytes) {
            Ok(p) => p,
            Err(e) => return self.count_wire_error(e),
        };
        let (src, dst) = (ip.src(), ip.dst());
        if !self.is_local(IpAddr::V4(dst)) {
            self.drops.not_for_us += 1;
            return;
        }
        match ip.protocol() {
            PROTO_TCP => match TcpSegment::parse_v4(ip.payload(), src, dst) {
                Ok(seg) => self.on_tcp(now, SocketAddrV4::new(dst, seg.header.dst_port), SocketAddrV4::new(src, seg.header.src_port), &seg),
                Err(e) => self.count_wire_error(e),
            },
            PROTO_ICMP => match IcmpMessage::parse(ip.payload()) {
                Ok(m) => self.on_icmp(now, src, dst, m),
                Err(e) => self.count_wire_error(e),
            },
            _ => self.drops.unknown_protocol += 1,
        }
    }

    fn count_wire_error(&mut self, e: WireError) {
        let d = &mut self.drops;
        match e {
            WireError::Truncated => d.truncated += 1,
            WireError::Malformed => d.malformed += 1,
            WireError::BadIpChecksum => d.bad_ip_checksum += 1,
            WireError::BadChecksum => d.bad_checksum += 1,
            WireError::Fragment => d.fragment += 1,
            WireError::BadOption => d.bad_option += 1,
            WireError::UnknownProtocol => d.unknown_protocol += 1,
        }
    }

    fn on_tcp(&mut self, now: Instant, local: SocketAddrV4, remote: SocketAddrV4, seg: &TcpSegment<'_>) {
        self.stats.tcp_in_segs += 1;
        let (local_sa, remote_sa) = (SocketAddr::V4(local), SocketAddr::V4(remote));
        let key = ConnKey::new(local_sa, remote_sa);
        if let Some(idx) = self.table.get(&key) {
            if self.try_reopen_time_wait(now, idx, local_sa, remote_sa, seg) {
                return;
            }
            let (mut ctx, conns) = self.ctx(now);
            conns[idx as usize].on_segment(&mut ctx, seg);
            self.after(idx);
            return;
        }
        let h = &seg.header;
        if let Some(l) = self.find_listener(local_sa) {
            if h.flags.rst() {
                self.drops.stray_rst += 1;
            } else if h.flags.ack() {
                // RFC 9293 §3.10.7.2: any ACK to a LISTEN socket is bad: <SEQ=SEG.ACK><RST>.
                self.drops.listen_non_syn += 1;
                self.queue_rst(local, remote, h.ack, None);
            } else if h.flags.syn() {
                self.on_listener_syn(now, l, local_sa, remote_sa, h, None);
            } else {
                self.drops.listen_non_syn += 1;
            }
            return;
        }
        // RFC 9293 §3.10.7.1: CLOSED. Never answer a RST; otherwise RST.
        if h.flags.rst() {
            self.drops.stray_rst += 1;
        } else if h.flags.ack() {
            self.queue_rst(local, remote, h.ack, None);
        } else {
            self.queue_rst(local, remote, SeqNum(0), Some(h.seq + seg.seq_len()));
        }
    }

    fn find_listener(&self, local: SocketAddr) -> Option<u32> {
        self.listen_map
            .get(&local)
            .or_else(|| self.listen_map.get(&SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), local.port())))
            .copied()
    }

    /// RFC 9293 §3.10.7.4 / RFC 6191: a SYN for a 4-tuple in TIME-WAIT opens a new
    /// connection when it is provably new — a newer timestamp, or without timestamps a
    /// sequence number above RCV.NXT — and a listener is there to take it.
    fn try_reopen_time_wait(&mut self, now: Instant, idx: u32, local: SocketAddr, remote: SocketAddr, seg: &TcpSegment<'_>) -> bool {
        let h = &seg.header;
        if !(h.flags.syn() && !h.flags.ack() && !h.flags.rst()) {
            return false;
        }
        let c = &self.conns[idx as usize];
        if c.state != State::TimeWait {
            return false;
        }
        let Some(l) = self.find_listener(local) else { return false };
        let (snd_nxt, rcv_nxt, ts_recent) = c.time_wait_view();
        let newer = match (ts_recent, h.options.timestamps) {
            (Some(recent), Some(ts)) => (ts.val.wrapping_sub(recent) as i32) > 0,
            _ => h.seq > rcv_nxt,
        };
        if !newer {
            return false;
        }
        self.table.remove_if(&ConnKey::new(local, remote), idx);
        if !self.conns[idx as usize].owned {
            self.conns.remove(idx as usize);
        }
        // RFC 9293 §3.10.7.4: the new ISS must be above the old SND.NXT so old segments
        // cannot be mistaken for new ones.
        self.on_listener_syn(now, l, local, remote, h, Some(snd_nxt + 65_536));
        true
    }

    fn on_listener_syn(&mut self, now: Instant, l: u32, local: SocketAddr, remote: SocketAddr, h: &TcpHeader, min_iss: Option<SeqNum>) {
        let lst = &self.listeners[l as usize];
        if !lst.has_room() {
            self.drops.listen_overflow += 1;
            return;
        }
        let mut iss = self.isn.isn(&local, &remote, now);
        if let Some(min) = min_iss
            && iss < min
        {
            iss = min;
        }
        let (seq, window, options) = (h.seq, h.window, h.options);
        let idx = self.insert_conn(|generation, cfg, ts_offset| {
            Connection::accept_syn(Open { local, remote, iss, ts_offset, generation, cfg, now }, seq, window, &options, l)
        });
        self.listeners[l as usize].syn_pending += 1;
        self.table.insert(ConnKey::new(local, remote), idx);
        self.stats.passive_opens += 1;
        self.after(idx);
    }

    fn queue_rst(&mut self, local: SocketAddrV4, remote: SocketAddrV4, seq: SeqNum, ack: Option<SeqNum>) {
        self.push_control(Control::Rst { local, remote, seq, ack });
    }

    fn push_control(&mut self, c: Control) {
        if self.control.len() >= self.cfg.control_queue {
            self.drops.control_queue_full += 1;
        } else {
            self.control.push_back(c);
        }
    }

    fn on_icmp(&mut self, now: Instant, src: Ipv4Addr, dst: Ipv4Addr, m: IcmpMessage<'_>) {
        self.stats.icmp_in += 1;
        match m {
            IcmpMessage::EchoRequest { ident, seq, data } => {
                let data = data[..data.len().min(usize::from(self.cfg.mtu) - 28)].to_vec();
                self.push_control(Control::EchoReply { src: dst, dst: src, ident, seq, data });
            }
            IcmpMessage::Unreachable(u) | IcmpMessage::TimeExceeded(u) => {
                let hard = matches!(m, IcmpMessage::Unreachable(_));
                let Some((sport, dport, seq)) = TcpSegment::quoted_ports_seq(u.transport) else {
                    self.drops.icmp_unmatched += 1;
                    return;
                };
                if u.protocol != PROTO_TCP || u.src != dst {
                    self.drops.icmp_unmatched += 1;
                    return;
                }
                let key = ConnKey::new(SocketAddr::V4(SocketAddrV4::new(u.src, sport)), SocketAddr::V4(SocketAddrV4::new(u.dst, dport)));
                let Some(idx) = self.table.get(&key) else {
                    self.drops.icmp_unmatched += 1;
                    return;
                };
                let code = if hard { Some(u.code) } else { None };
                let (mut ctx, conns) = self.ctx(now);
                conns[idx as usize].on_icmp_error(&mut ctx, code, u.next_hop_mtu, seq);
                self.after(idx);
            }
            IcmpMessage::EchoReply { .. } | IcmpMessage::Other { .. } => {}
        }
    }

    // ----- packets out -----

    /// Writes the next packet to send into `buf` (which should hold at least the MTU) and
    /// returns its length; `None` when there is nothing to send.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if let Some(c) = self.control.pop_front()
            && let Some(n) = self.emit_control(&c, buf)
        {
            return Some(n);
        }
        while let Some(&(idx, generation)) = self.tx_queue.front() {
            let (mut ctx, conns) = self.ctx(now);
            let Some(c) = conns.get_mut(idx as usize).filter(|c| c.generation == generation) else {
                self.tx_queue.pop_front();
                continue;
            };
            if let Some(n) = c.poll_segment(&mut ctx, buf) {
                self.schedule(idx);
                return Some(n);
            }
            c.tx_queued = false;
            self.tx_queue.pop_front();
            self.schedule(idx);
            self.maybe_free(idx);
        }
        None
    }

    fn emit_control(&mut self, c: &Control, buf: &mut [u8]) -> Option<usize> {
        match c {
            Control::Rst { local, remote, seq, ack } => {
                let mut flags = TcpFlags::RST;
                if ack.is_some() {
                    flags |= TcpFlags::ACK;
                }
                let h = TcpHeader {
                    src_port: local.port(),
                    dst_port: remote.port(),
                    seq: *seq,
                    ack: ack.unwrap_or(SeqNum(0)),
                    flags,
                    ..TcpHeader::default()
                };
                let total = IPV4_HEADER_LEN + h.wire_len();
                if buf.len() < total {
                    return None;
                }
                emit_ipv4_header(buf, *local.ip(), *remote.ip(), PROTO_TCP, h.wire_len(), self.cfg.ttl, self.ip_ident);
                self.ip_ident = self.ip_ident.wrapping_add(1);
                h.emit(&mut buf[IPV4_HEADER_LEN..total]);
                fill_tcp_checksum_v4(&mut buf[IPV4_HEADER_LEN..total], *local.ip(), *remote.ip());
                self.stats.out_rsts += 1;
                self.stats.tcp_out_segs += 1;
                self.stats.ip_out_requests += 1;
                Some(total)
            }
            Control::EchoReply { src, dst, ident, seq, data } => {
                let n = emit_echo_reply(buf, *src, *dst, *ident, *seq, data)?;
                self.stats.icmp_out += 1;
                self.stats.ip_out_requests += 1;
                Some(n)
            }
        }
    }

    // ----- time -----

    /// The next instant at which `handle_timeout` has work, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, idx, generation)) = self.timers.pop_due(now) {
            let (mut ctx, conns) = self.ctx(now);
            let Some(c) = conns.get_mut(idx as usize).filter(|c| c.generation == generation) else { continue };
            if c.timer_registered != Some(at) {
                continue;
            }
            c.timer_registered = None;
            c.on_timeout(&mut ctx);
            self.after(idx);
        }
    }

    /// Timer entries held (for tests of the timer structure).
    pub fn timer_entries(&self) -> usize {
        self.timers.len()
    }

    // ----- events -----

    /// The next readiness event for the application side.
    pub fn poll_event(&mut self) -> Option<Event> {
        let e = self.events.pop_front()?;
        match e {
            Event::Socket(h) => {
                if let Some(c) = self.conns.get_mut(h.idx as usize).filter(|c| c.generation == h.generation) {
                    c.event_queued = false;
                }
            }
            Event::Listener(l) => {
                if let Some(x) = self.listeners.get_mut(l.idx as usize).filter(|x| x.generation == l.generation) {
                    x.event_queued = false;
                }
            }
        }
        Some(e)
    }

    /// Gives back the slot of a closed connection whose handle the application still
    /// holds; for a live one this is [`Shard::close`].
    pub fn release(&mut self, now: Instant, h: SocketHandle) -> Result<(), Error> {
        self.close(now, h)
    }
}
