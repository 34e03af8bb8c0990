//! The socket operations the application calls.

use core::time::Duration;
use std::net::{IpAddr, SocketAddr};

use super::{Shard, Slot, SocketHandle};
use crate::config::{Config, Keepalive};
use crate::conn::{Connection, Open, State};
use crate::error::Error;
use crate::memory::MemoryState;
use crate::options::SocketOptions;
use crate::seq::SeqNum;
use crate::table::ConnKey;
use crate::time::Instant;

/// A socket as the application sees it: live, or a remnant whose transport state is a
/// FIN-cache record.
enum Sock<'a> {
    Live(&'a Connection),
    Remnant(&'a crate::conn::Remnant),
}

/// Where a read takes its bytes from: a live connection (with the shard's time), or a
/// remnant.
enum ReadFrom<'a> {
    Live(&'a mut Connection, Instant),
    Remnant(&'a mut crate::conn::Remnant),
}

impl Shard {
    // ----- connections -----

    /// The address to send from to `remote`: one of the same family, and for IPv6 of the
    /// same scope where there is one (RFC 6724 §5 rule 2: a link-local peer gets the
    /// link-local address, any other peer a wider one), else the first of the family.
    fn source_for(&self, remote: IpAddr) -> Option<IpAddr> {
        let link_local = |a: &IpAddr| matches!(a, IpAddr::V6(v6) if v6.is_unicast_link_local());
        let family = || self.addrs.iter().filter(|a| a.is_ipv4() == remote.is_ipv4());
        family().find(|a| link_local(a) == link_local(&remote)).or_else(|| family().next()).copied()
    }

    /// Opens a connection to `remote`. `local` picks the source address and port; `None`
    /// (or port 0) chooses an ephemeral port by RFC 6056 Algorithm 4, never one whose
    /// 4-tuple is held by a live connection, nor by a TIME-WAIT record unless RFC 6191
    /// makes reuse safe (the record used timestamps; the new ISS is then above its SND.NXT).
    pub fn connect(&mut self, now: Instant, remote: SocketAddr, local: Option<SocketAddr>) -> Result<SocketHandle, Error> {
        self.connect_with(now, remote, local, SocketOptions::default())
    }

    /// [`connect`](Shard::connect) with the socket's own buffer sizes: the SYN offers a
    /// window (and a scale) from them.
    pub fn connect_with(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local: Option<SocketAddr>,
        opts: SocketOptions,
    ) -> Result<SocketHandle, Error> {
        self.last_now = now;
        // IPv4-mapped IPv6 addresses name IPv4 peers and addresses (RFC 4291 §2.5.5.2).
        let remote = SocketAddr::new(remote.ip().to_canonical(), remote.port());
        let local = local.map(|l| SocketAddr::new(l.ip().to_canonical(), l.port()));
        if remote.port() == 0 || remote.ip().is_unspecified() || remote.ip().is_multicast() {
            return Err(Error::InvalidInput);
        }
        if self.live >= self.cfg.max_connections {
            self.stats.connect_limited += 1;
            return Err(Error::ConnectionLimit);
        }
        let local_ip = match local {
            Some(l) if !l.ip().is_unspecified() => {
                if !self.is_local(l.ip()) {
                    return Err(Error::AddrNotAvailable);
                }
                if l.is_ipv4() != remote.is_ipv4() {
                    return Err(Error::InvalidInput);
                }
                l.ip()
            }
            _ => self.source_for(remote.ip()).ok_or(Error::AddrNotAvailable)?,
        };
        let (local, reused) = match local.map(|l| l.port()) {
            Some(port) if port != 0 => {
                let l = SocketAddr::new(local_ip, port);
                match self.tuple_use(l, remote) {
                    TupleUse::Free => (l, None),
                    TupleUse::Reusable(old) => (l, Some(old)),
                    TupleUse::Taken => return Err(Error::AddrInUse),
                }
            }
            _ => self.pick_ephemeral(local_ip, remote)?,
        };
        let mut iss = self.isn.isn(&local, &remote, now);
        if let Some(old_snd_nxt) = reused {
            self.reuse_record(local, remote);
            if iss <= old_snd_nxt {
                iss = old_snd_nxt + 65_536;
            }
        }
        let idx = self.insert_conn(now, local, remote, iss, opts, Connection::connect);
        self.table.insert(ConnKey::new(local, remote), idx);
        self.stats.active_opens += 1;
        self.after(idx);
        let generation = self.conns[idx as usize].generation();
        Ok(SocketHandle { idx, generation })
    }

    /// Whether a 4-tuple can be used for a new outbound connection.
    fn tuple_use(&self, local: SocketAddr, remote: SocketAddr) -> TupleUse {
        if self.table.contains(&ConnKey::new(local, remote)) || self.listen_map.contains_key(&local) {
            return TupleUse::Taken;
        }
        match self.record_for(local, remote) {
            None => TupleUse::Free,
            // RFC 6191: with timestamps the peer's PAWS tells old segments from new ones.
            Some(st) if st.ts_recent.is_some() => TupleUse::Reusable(st.snd_nxt),
            Some(_) => TupleUse::Taken,
        }
    }

    /// RFC 6056 §3.3.4 Algorithm 4: start at a keyed hash of (local address, destination),
    /// advance that pair's counter, skip ports in use. A port whose record may be reused
    /// (RFC 6191) is taken only if no entirely free port exists.
    fn pick_ephemeral(&mut self, local_ip: IpAddr, remote: SocketAddr) -> Result<(SocketAddr, Option<SeqNum>), Error> {
        let range = self.cfg.ephemeral_ports.clone();
        let span = u32::from(*range.end() - *range.start()) + 1;
        let (offset, slot) = self.isn.port_offset(&SocketAddr::new(local_ip, 0), &remote);
        let counter = self.port_table[slot];
        let mut fallback = None;
        for i in 0..span {
            let port = *range.start() + (offset.wrapping_add(counter).wrapping_add(i) % span) as u16;
            if let Some((shards, me)) = self.cfg.port_steering
                && crate::steering::flow_shard(port, remote.port(), shards) != me
            {
                continue;
            }
            let local = SocketAddr::new(local_ip, port);
            match self.tuple_use(local, remote) {
                TupleUse::Free => {
                    self.port_table[slot] = counter.wrapping_add(i + 1);
                    return Ok((local, None));
                }
                TupleUse::Reusable(snd_nxt) if fallback.is_none() => fallback = Some((local, Some(snd_nxt))),
                _ => {}
            }
        }
        fallback.ok_or(Error::AddrNotAvailable)
    }

    pub(super) fn bump_generation(&mut self) -> u32 {
        let g = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
        g
    }

    pub(super) fn insert_conn(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
        opts: SocketOptions,
        make: impl FnOnce(Open<'_>) -> Connection,
    ) -> u32 {
        let generation = self.bump_generation();
        let ts_offset = self.isn.ts_offset(&local, &remote);
        let cfg: &Config = &self.cfg;
        let conn = make(Open { local, remote, iss, ts_offset, generation, cfg, now, opts });
        self.insert_slot(conn)
    }

    fn sock(&self, h: SocketHandle) -> Result<Sock<'_>, Error> {
        match self.conns.get(h.idx as usize) {
            Some(Slot::Live(c)) if c.generation == h.generation && c.owned => Ok(Sock::Live(c)),
            Some(Slot::Remnant(r)) if r.generation == h.generation => Ok(Sock::Remnant(r)),
            _ => Err(Error::InvalidHandle),
        }
    }

    fn conn_mut(&mut self, h: SocketHandle) -> Result<Option<&mut Connection>, Error> {
        match self.conns.get_mut(h.idx as usize) {
            Some(Slot::Live(c)) if c.generation == h.generation && c.owned => Ok(Some(c)),
            Some(Slot::Remnant(r)) if r.generation == h.generation => Ok(None),
            _ => Err(Error::InvalidHandle),
        }
    }

    /// Queues data; returns how much was taken. `Err(WouldBlock)` when the buffer is full
    /// (or, at the buffer memory limit, when it has no room left without growing).
    pub fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, Error> {
        self.queue(h, data, false, false)
    }

    /// Queues data as [`send`](Shard::send) does, saying more follows at once (Linux's
    /// `MSG_MORE`): full segments go, a short tail waits for the next write, an ACK of
    /// earlier data, or the persist timer (one RTO with nothing in flight), as if the
    /// socket were corked for this write (see [`set_cork`](Shard::set_cork)).
    ///
    /// ```
    /// use ringtcp_transport::{Config, Instant, Secret, Shard};
    ///
    /// let mut shard = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([1; 16]));
    /// let h = shard.connect(Instant::ZERO, "10.0.0.2:80".parse().unwrap(), None).unwrap();
    /// assert_eq!(shard.send_more(h, b"HTTP/1.1 200 OK\r\n").unwrap(), 17);
    /// ```
    pub fn send_more(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, Error> {
        self.queue(h, data, false, true)
    }

    /// Queues bytes as [`send`](Shard::send) does, moving them out of `src` (what is taken
    /// is drained from its front). Full chunks of `src` join the send buffer without a
    /// copy (see [`ByteQueue::move_front_to`](crate::ByteQueue::move_front_to)).
    ///
    /// ```
    /// use ringtcp_transport::{ByteQueue, Config, Instant, Secret, Shard};
    ///
    /// let mut shard = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([1; 16]));
    /// let h = shard.connect(Instant::ZERO, "10.0.0.2:80".parse().unwrap(), None).unwrap();
    /// let mut outbox = ByteQueue::from(&b"GET / HTTP/1.1\r\n\r\n"[..]);
    /// assert_eq!(shard.send_from(h, &mut outbox).unwrap(), 18);
    /// assert!(outbox.is_empty());
    /// ```
    pub fn send_from(&mut self, h: SocketHandle, src: &mut crate::ByteQueue) -> Result<usize, Error> {
        let wanted = src.len();
        self.queue_with(h, wanted, false, |c| c.send_from(src))
    }

    fn queue(&mut self, h: SocketHandle, data: &[u8], ends_record: bool, more: bool) -> Result<usize, Error> {
        self.queue_with(h, data.len(), more, |c| if ends_record { c.send_record(data) } else { c.send(data) })
    }

    /// The bookkeeping of every write: `put` queues up to `wanted` bytes on the connection.
    fn queue_with(&mut self, h: SocketHandle, wanted: usize, more: bool, put: impl FnOnce(&mut Connection) -> Result<usize, Error>) -> Result<usize, Error> {
        let (mem, hard, now) = (self.memory.state(), self.memory.hard_limit(), self.last_now);
        let c = self.conn_mut(h)?.ok_or(Error::BrokenPipe)?;
        c.mem = mem;
        c.mem_hard = hard;
        let unlimited = if mem == MemoryState::Exhausted { c.unlimited_send_capacity() } else { 0 };
        let r = put(c);
        if r.is_ok() {
            c.note_write(more);
        }
        let taken = *r.as_ref().unwrap_or(&0);
        c.chrono_write(now, taken < wanted);
        if mem == MemoryState::Exhausted && taken < wanted.min(unlimited) {
            self.stats.send_memory_limited += 1;
        }
        self.after(h.idx);
        r
    }

    /// Queues data as [`send`](Shard::send) does and, if all of it was taken, ends a
    /// record there (`MSG_EOR`): no segment, first sent or resent, will carry bytes from
    /// both sides of that point, and the segment that ends the record carries PSH. With
    /// 4,096 record ends unacknowledged, `WouldBlock` until the peer acknowledges some.
    ///
    /// ```
    /// use ringtcp_transport::{Config, Instant, Secret, Shard};
    ///
    /// let mut shard = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([1; 16]));
    /// let h = shard.connect(Instant::ZERO, "10.0.0.2:80".parse().unwrap(), None).unwrap();
    /// assert_eq!(shard.send_record(h, b"a whole message").unwrap(), 15);
    /// ```
    pub fn send_record(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, Error> {
        self.queue(h, data, true, false)
    }

    /// Reads data. `Ok(0)` is end of stream; `Err(WouldBlock)` means nothing yet.
    pub fn recv(&mut self, h: SocketHandle, out: &mut [u8]) -> Result<usize, Error> {
        self.dequeue_with(h, |from| match from {
            ReadFrom::Remnant(r) => Ok(r.recv(out)),
            ReadFrom::Live(c, now) => c.recv(out, now),
        })
    }

    /// Reads up to `max` bytes onto the end of `out`, as [`recv`](Shard::recv) reads into
    /// a slice: `Ok(0)` is end of stream (or `max` was 0), `Err(WouldBlock)` nothing yet.
    /// Full chunks of the receive buffer move to `out` without a copy, so a reader that
    /// keeps up takes each batch as it arrived.
    ///
    /// ```
    /// use ringtcp_transport::{ByteQueue, Config, Error, Instant, Secret, Shard};
    ///
    /// let mut shard = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([1; 16]));
    /// let h = shard.connect(Instant::ZERO, "10.0.0.2:80".parse().unwrap(), None).unwrap();
    /// let mut inbox = ByteQueue::new();
    /// // Nothing has arrived while the handshake is under way.
    /// assert_eq!(shard.recv_into(h, &mut inbox, 4096), Err(Error::WouldBlock));
    /// ```
    pub fn recv_into(&mut self, h: SocketHandle, out: &mut crate::ByteQueue, max: usize) -> Result<usize, Error> {
        self.dequeue_with(h, |from| match from {
            ReadFrom::Remnant(r) => Ok(r.recv_into(out, max)),
            ReadFrom::Live(c, now) => c.recv_into(out, max, now),
        })
    }

    /// The bookkeeping of every read: `read` takes bytes from what is left of a closed
    /// connection, or from a live one (told the memory state and the time).
    fn dequeue_with(&mut self, h: SocketHandle, read: impl FnOnce(ReadFrom<'_>) -> Result<usize, Error>) -> Result<usize, Error> {
        if let Some(Slot::Remnant(r)) = self.conns.get_mut(h.idx as usize)
            && r.generation == h.generation
        {
            return read(ReadFrom::Remnant(r));
        }
        let (mem, hard, now) = (self.memory.state(), self.memory.hard_limit(), self.last_now);
        let c = self.conn_mut(h)?.ok_or(Error::InvalidHandle)?;
        c.mem = mem;
        c.mem_hard = hard;
        let r = read(ReadFrom::Live(c, now));
        // A read that found nothing changed nothing (it is a reader loop's usual last
        // call): no books to bring up to date.
        if r != Err(Error::WouldBlock) {
            self.after(h.idx);
        }
        r
    }

    /// Copies data without consuming it.
    pub fn peek(&self, h: SocketHandle, out: &mut [u8]) -> Result<usize, Error> {
        match self.sock(h)? {
            Sock::Live(c) => c.peek(out),
            Sock::Remnant(r) => Ok(r.peek(out)),
        }
    }

    /// Sends FIN after the queued data; reading goes on (half-close).
    pub fn shutdown_write(&mut self, h: SocketHandle) -> Result<(), Error> {
        if let Some(c) = self.conn_mut(h)? {
            c.shutdown_write();
            self.after(h.idx);
        }
        Ok(())
    }

    /// Gives the handle back. With unread data the connection is reset (as Linux does on
    /// close); otherwise it closes gracefully in the background and the handle is invalid.
    pub fn close(&mut self, now: Instant, h: SocketHandle) -> Result<(), Error> {
        let fin_wait2 = self.cfg.fin_wait2_timeout;
        match self.conn_mut(h)? {
            None => {
                self.remove_slot(h.idx);
                return Ok(());
            }
            Some(c) => {
                if c.recv_queue() > 0 {
                    c.abort();
                } else {
                    c.shutdown_write();
                }
                c.owned = false;
                c.orphaned(now, fin_wait2);
            }
        }
        self.after(h.idx);
        Ok(())
    }

    /// Aborts every connection of the shard, owned or orphaned, for a stack that is going
    /// away: each in a synchronized state sends a RST (RFC 9293 §3.10.5), so its peer
    /// learns at once instead of waiting out a timeout against an address that no longer
    /// answers; a kernel closes its sockets the same way when a process exits. TIME-WAIT
    /// records stay (RFC 1337). The RSTs wait in `poll_transmit`; owned sockets get their
    /// `ConnectionAborted` event. Returns how many connections were aborted.
    pub fn abort_all(&mut self, now: Instant) -> usize {
        self.last_now = now;
        let live: Vec<u32> = self.conns.iter().filter(|(_, s)| matches!(s, Slot::Live(_))).map(|(i, _)| i as u32).collect();
        for &idx in &live {
            if let Some(Slot::Live(c)) = self.conns.get_mut(idx as usize) {
                c.abort();
            }
            self.after(idx);
        }
        live.len()
    }

    /// Resets the connection (RST) and gives the handle back.
    pub fn abort(&mut self, h: SocketHandle) -> Result<(), Error> {
        match self.conn_mut(h)? {
            None => {
                // Already a TIME-WAIT record: nothing to reset, the record stays (RFC 1337).
                self.remove_slot(h.idx);
                return Ok(());
            }
            Some(c) => {
                c.abort();
                c.owned = false;
            }
        }
        self.after(h.idx);
        Ok(())
    }

    /// The connection's state. A socket whose transport state went to the FIN cache is in
    /// TIME-WAIT while its record lives, CLOSED after.
    pub fn state(&self, h: SocketHandle) -> Result<State, Error> {
        Ok(match self.sock(h)? {
            Sock::Live(c) => c.state(),
            Sock::Remnant(r) if self.record_for(r.local, r.remote).is_some() => State::TimeWait,
            Sock::Remnant(_) => State::Closed,
        })
    }

    /// Local address and port.
    pub fn local_addr(&self, h: SocketHandle) -> Result<SocketAddr, Error> {
        Ok(match self.sock(h)? {
            Sock::Live(c) => c.local,
            Sock::Remnant(r) => r.local,
        })
    }

    /// Remote address and port.
    pub fn peer_addr(&self, h: SocketHandle) -> Result<SocketAddr, Error> {
        Ok(match self.sock(h)? {
            Sock::Live(c) => c.remote,
            Sock::Remnant(r) => r.remote,
        })
    }

    /// True if `recv` would not return `WouldBlock`.
    pub fn is_readable(&self, h: SocketHandle) -> Result<bool, Error> {
        Ok(match self.sock(h)? {
            Sock::Live(c) => c.is_readable(),
            Sock::Remnant(_) => true,
        })
    }

    /// True if `send` would not return `WouldBlock`.
    pub fn is_writable(&self, h: SocketHandle) -> Result<bool, Error> {
        Ok(match self.sock(h)? {
            Sock::Live(c) => c.is_writable(),
            Sock::Remnant(_) => true,
        })
    }

    /// Free space in the send buffer.
    pub fn send_capacity(&self, h: SocketHandle) -> Result<usize, Error> {
        Ok(match self.sock(h)? {
            Sock::Live(c) => c.send_capacity(),
            Sock::Remnant(_) => 0,
        })
    }

    /// Bytes queued for sending and not yet acknowledged.
    pub fn send_queue(&self, h: SocketHandle) -> Result<usize, Error> {
        Ok(match self.sock(h)? {
            Sock::Live(c) => c.send_queue(),
            Sock::Remnant(_) => 0,
        })
    }

    /// A snapshot of the connection's congestion control, timers and counters (what
    /// Linux's `TCP_INFO` reports; see [`TcpInfo`](crate::TcpInfo) for an example).
    /// `None` once the control block is gone: a TIME-WAIT record or a closed connection,
    /// whose [`state`](Shard::state) still answers.
    pub fn tcp_info(&self, h: SocketHandle, now: Instant) -> Result<Option<crate::TcpInfo>, Error> {
        Ok(match self.sock(h)? {
            Sock::Live(c) => Some(c.info(now)),
            Sock::Remnant(_) => None,
        })
    }

    /// Bytes ready to read.
    pub fn recv_queue(&self, h: SocketHandle) -> Result<usize, Error> {
        Ok(match self.sock(h)? {
            Sock::Live(c) => c.recv_queue(),
            Sock::Remnant(r) => r.recv_queue(),
        })
    }

    /// The error that ended the connection, if any (kept until the handle is closed).
    pub fn error(&self, h: SocketHandle) -> Result<Option<Error>, Error> {
        Ok(match self.sock(h)? {
            Sock::Live(c) => c.error,
            Sock::Remnant(_) => None,
        })
    }

    /// Turns Nagle's algorithm off (`true`) or on. Turning it off also pushes what is
    /// queued now, even on a corked connection (as Linux's `TCP_NODELAY`).
    pub fn set_nodelay(&mut self, h: SocketHandle, on: bool) -> Result<(), Error> {
        match self.conns.get_mut(h.idx as usize) {
            Some(Slot::Remnant(r)) if r.generation == h.generation => {
                r.nodelay = on;
                return Ok(());
            }
            _ => {}
        }
        self.conn_mut(h)?.ok_or(Error::InvalidHandle)?.set_nodelay(on);
        self.after(h.idx);
        Ok(())
    }

    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self, h: SocketHandle) -> Result<bool, Error> {
        Ok(match self.sock(h)? {
            Sock::Live(c) => c.nodelay(),
            Sock::Remnant(r) => r.nodelay,
        })
    }

    /// Sets the IP time to live of the connection's packets.
    pub fn set_ttl(&mut self, h: SocketHandle, ttl: u8) -> Result<(), Error> {
        if let Some(c) = self.conn_mut(h)? {
            c.ttl = ttl.max(1);
        }
        Ok(())
    }

    /// Sets how the connection, if over IPv4, finds its path's MTU (Linux's
    /// `IP_MTU_DISCOVER` on a connected socket): with [`PathMtuDiscovery::Dont`] its
    /// packets leave without DF and ICMP "fragmentation needed" no longer lowers its MSS.
    ///
    /// ```
    /// use ringtcp_transport::{Config, Instant, PathMtuDiscovery, Secret, Shard};
    ///
    /// let mut shard = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([1; 16]));
    /// let h = shard.connect(Instant::ZERO, "10.0.0.2:80".parse().unwrap(), None).unwrap();
    /// assert_eq!(shard.path_mtu_discovery(h), Ok(PathMtuDiscovery::Do));
    /// shard.set_path_mtu_discovery(h, PathMtuDiscovery::Dont).unwrap();
    /// let mut syn = [0u8; 128];
    /// let n = shard.poll_transmit(Instant::ZERO, &mut syn).unwrap();
    /// assert_eq!(syn[6] & 0x40, 0, "the SYN leaves without DF");
    /// # let _ = n;
    /// ```
    pub fn set_path_mtu_discovery(&mut self, h: SocketHandle, mode: crate::options::PathMtuDiscovery) -> Result<(), Error> {
        if let Some(c) = self.conn_mut(h)? {
            c.pmtud = mode;
        }
        Ok(())
    }

    /// The connection's path MTU discovery mode.
    pub fn path_mtu_discovery(&self, h: SocketHandle) -> Result<crate::options::PathMtuDiscovery, Error> {
        match self.sock(h)? {
            Sock::Live(c) => Ok(c.pmtud),
            Sock::Remnant(_) => Ok(crate::options::PathMtuDiscovery::Do),
        }
    }

    /// The IP time to live of the connection's packets.
    pub fn ttl(&self, h: SocketHandle) -> Result<u8, Error> {
        match self.sock(h)? {
            Sock::Live(c) => Ok(c.ttl),
            Sock::Remnant(_) => Ok(self.cfg.ttl),
        }
    }

    /// Payload bytes of a full-sized segment the connection sends: the peer's MSS (and
    /// ours, whichever is smaller) less the options every segment carries (RFC 6691) —
    /// what Linux's `TCP_MAXSEG` reads. 536 (RFC 9293 §3.7.1's default) before the
    /// handshake has told it.
    pub fn mss(&self, h: SocketHandle) -> Result<u16, Error> {
        match self.sock(h)? {
            Sock::Live(c) => Ok(c.eff_mss()),
            Sock::Remnant(_) => Err(Error::NotConnected),
        }
    }

    /// Acknowledges every segment at once (`true`) or delays ACKs as RFC 9293 §3.8.6.3
    /// allows (`false`, the default): Linux's `TCP_QUICKACK`, except that it stays set
    /// until cleared (Linux may leave quick-ACK mode by itself). Clearing it also ends the
    /// quick ACKs of a connection's first segments, as on Linux.
    pub fn set_quickack(&mut self, h: SocketHandle, on: bool) -> Result<(), Error> {
        if let Some(c) = self.conn_mut(h)? {
            c.set_quickack(on);
        }
        Ok(())
    }

    /// Whether ACKs are sent at once.
    pub fn quickack(&self, h: SocketHandle) -> Result<bool, Error> {
        Ok(match self.sock(h)? {
            Sock::Live(c) => c.quickack,
            Sock::Remnant(_) => false,
        })
    }

    /// Sets the IPv4 type-of-service byte (DSCP and ECN field) of the connection's packets.
    pub fn set_tos(&mut self, h: SocketHandle, tos: u8) -> Result<(), Error> {
        if let Some(c) = self.conn_mut(h)? {
            c.tos = tos;
        }
        Ok(())
    }

    /// The connection's receive and send buffer sizes (the largest window it offers, and
    /// the most unacknowledged plus unsent bytes it holds).
    pub fn buffer_sizes(&self, h: SocketHandle) -> Result<(usize, usize), Error> {
        match self.sock(h)? {
            Sock::Live(c) => Ok(c.buffer_capacities()),
            Sock::Remnant(_) => Err(Error::NotConnected),
        }
    }

    /// Resizes the connection's send buffer (Linux's `SO_SNDBUF` on a connected socket;
    /// floored at [`SocketOptions::MIN_BUFFER`](crate::SocketOptions::MIN_BUFFER)). Bytes
    /// already queued above a smaller size stay and are sent; writes wait until the
    /// buffer holds less than the new size.
    ///
    /// ```
    /// use ringtcp_transport::{Config, Instant, Secret, Shard};
    ///
    /// let mut shard = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([1; 16]));
    /// let h = shard.connect(Instant::ZERO, "10.0.0.2:80".parse().unwrap(), None).unwrap();
    /// shard.set_send_buffer(h, 400_000).unwrap();
    /// assert_eq!(shard.buffer_sizes(h).unwrap().1, 400_000);
    /// ```
    pub fn set_send_buffer(&mut self, h: SocketHandle, bytes: usize) -> Result<(), Error> {
        if let Some(c) = self.conn_mut(h)? {
            c.set_send_buffer(bytes);
            self.after(h.idx);
        }
        Ok(())
    }

    /// Sets the connection's user timeout (TCP_USER_TIMEOUT, RFC 5482; `None` or zero:
    /// none): how long transmitted data, a SYN or zero-window probes may go unanswered
    /// before the connection fails with [`Error::TimedOut`], in place of the retry counts
    /// (`Config::max_retries`, `syn_retries`); with keepalive on, also how long the peer
    /// may stay silent once a keepalive probe is out.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringtcp_transport::{Config, Instant, Secret, Shard};
    ///
    /// let mut shard = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([1; 16]));
    /// let h = shard.connect(Instant::ZERO, "10.0.0.2:80".parse().unwrap(), None).unwrap();
    /// shard.set_user_timeout(h, Some(Duration::from_secs(3))).unwrap();
    /// assert_eq!(shard.user_timeout(h).unwrap(), Some(Duration::from_secs(3)));
    /// ```
    pub fn set_user_timeout(&mut self, h: SocketHandle, ut: Option<Duration>) -> Result<(), Error> {
        if let Some(c) = self.conn_mut(h)? {
            c.set_user_timeout(ut);
        }
        Ok(())
    }

    /// The connection's user timeout (see [`set_user_timeout`](Shard::set_user_timeout)).
    pub fn user_timeout(&self, h: SocketHandle) -> Result<Option<Duration>, Error> {
        match self.sock(h)? {
            Sock::Live(c) => Ok(c.user_timeout()),
            Sock::Remnant(_) => Err(Error::NotConnected),
        }
    }

    /// Which options connections opened from now on offer and take: RFC 7323 timestamps
    /// and window scaling, RFC 2018 SACK (`Config::timestamps`, `window_scaling`, `sack`).
    /// As Linux's sysctls of the same names, a change acts on the next handshake; a
    /// connection keeps what it offered when it was opened.
    ///
    /// ```
    /// use ringtcp_transport::{Config, Secret, Shard};
    ///
    /// let mut shard = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([1; 16]));
    /// shard.set_handshake_options(false, true, true);
    /// assert!(!shard.config().timestamps);
    /// ```
    pub fn set_handshake_options(&mut self, timestamps: bool, sack: bool, window_scaling: bool) {
        self.cfg.timestamps = timestamps;
        self.cfg.sack = sack;
        self.cfg.window_scaling = window_scaling;
    }

    /// Corks the connection (`true`, Linux's `TCP_CORK`) or uncorks it: while corked only
    /// full segments leave, so data written in pieces goes in as few segments as it fills;
    /// a short tail waits for more data, for uncorking (which lets it go), for a FIN, for
    /// [`set_nodelay`](Shard::set_nodelay)`(true)`, or at most one RTO with nothing in
    /// flight (the persist timer; Linux's ceiling is the same timer, about 200 ms).
    ///
    /// ```
    /// use ringtcp_transport::{Config, Instant, Secret, Shard};
    ///
    /// let mut shard = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([1; 16]));
    /// let h = shard.connect(Instant::ZERO, "10.0.0.2:80".parse().unwrap(), None).unwrap();
    /// shard.set_cork(h, true).unwrap();
    /// assert!(shard.cork(h).unwrap());
    /// ```
    pub fn set_cork(&mut self, h: SocketHandle, on: bool) -> Result<(), Error> {
        if let Some(c) = self.conn_mut(h)? {
            c.set_cork(on);
            self.after(h.idx);
        }
        Ok(())
    }

    /// Whether the connection is corked (see [`set_cork`](Shard::set_cork)).
    pub fn cork(&self, h: SocketHandle) -> Result<bool, Error> {
        match self.sock(h)? {
            Sock::Live(c) => Ok(c.corked()),
            Sock::Remnant(_) => Err(Error::NotConnected),
        }
    }

    /// Bounds the bytes the connection holds written and not yet sent (Linux's
    /// `TCP_NOTSENT_LOWAT`; `None`: back to `Config::notsent_lowat`). While that many are
    /// unsent, [`send`](Shard::send) takes nothing more (it fills up to the next send
    /// quantum, half the peer's largest window at most, as Linux fills its last buffer),
    /// and [`is_writable`](Shard::is_writable) turns true again only once fewer than half
    /// that many are unsent. An application that writes ahead then keeps its backlog
    /// itself, where it can still reorder it, instead of the socket.
    ///
    /// ```
    /// use ringtcp_transport::{Config, Instant, Secret, Shard};
    ///
    /// let mut shard = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([1; 16]));
    /// let h = shard.connect(Instant::ZERO, "10.0.0.2:80".parse().unwrap(), None).unwrap();
    /// shard.set_notsent_lowat(h, Some(16_384)).unwrap();
    /// assert_eq!(shard.notsent_lowat(h).unwrap(), Some(16_384));
    /// shard.set_notsent_lowat(h, None).unwrap();
    /// assert_eq!(shard.notsent_lowat(h).unwrap(), None, "the shard's default");
    /// ```
    pub fn set_notsent_lowat(&mut self, h: SocketHandle, lowat: Option<u32>) -> Result<(), Error> {
        let default = self.cfg.notsent_lowat;
        if let Some(c) = self.conn_mut(h)? {
            c.set_notsent_lowat(lowat.or(default));
            self.after(h.idx);
        }
        Ok(())
    }

    /// The connection's bound on unsent bytes (see
    /// [`set_notsent_lowat`](Shard::set_notsent_lowat)).
    pub fn notsent_lowat(&self, h: SocketHandle) -> Result<Option<u32>, Error> {
        match self.sock(h)? {
            Sock::Live(c) => Ok(c.notsent_lowat()),
            Sock::Remnant(_) => Err(Error::NotConnected),
        }
    }

    /// Sets how many times the connection's SYN (or SYN-ACK) is retransmitted before it
    /// gives up (Linux's `TCP_SYNCNT`; `None`: `Config::syn_retries` / `synack_retries`).
    /// It acts on a handshake already under way, from its next timeout.
    ///
    /// ```
    /// use ringtcp_transport::{Config, Instant, Secret, Shard};
    ///
    /// let mut shard = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([1; 16]));
    /// let h = shard.connect(Instant::ZERO, "10.0.0.2:80".parse().unwrap(), None).unwrap();
    /// shard.set_syn_retries(h, Some(1)).unwrap();
    /// ```
    pub fn set_syn_retries(&mut self, h: SocketHandle, retries: Option<u32>) -> Result<(), Error> {
        if let Some(c) = self.conn_mut(h)? {
            c.set_syn_retries(retries);
        }
        Ok(())
    }

    /// Sets or clears keepalive for one connection (no effect once it is in TIME-WAIT).
    pub fn set_keepalive(&mut self, now: Instant, h: SocketHandle, ka: Option<Keepalive>) -> Result<(), Error> {
        if let Some(c) = self.conn_mut(h)? {
            c.set_keepalive(ka, now);
            self.after(h.idx);
        }
        Ok(())
    }
}

/// Whether a 4-tuple is free for a new outbound connection.
enum TupleUse {
    Free,
    /// A TIME-WAIT record with timestamps holds it; reuse is safe above this SND.NXT.
    Reusable(SeqNum),
    Taken,
}
