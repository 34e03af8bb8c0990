//! The shard's side of listeners: opening and closing them, accepting, and the segments
//! that reach a listener (SYNs, cookie ACKs, stray ACKs). What to do with each is the
//! [`crate::listener`] module's decision; this file carries it out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Control, Event, ListenerHandle, Shard, Slot, SocketHandle};
use crate::conn::{Connection, State, default_peer_mss, rx_buffer_bound, window_shift};
use crate::error::Error;
use crate::listener::cookie::{CookieCheck, CookieOptions};
use crate::listener::fast_open::{self, FastOpenConn, FastOpenKey, FastOpenVerdict};
use crate::listener::{Listener, SynVerdict};
use crate::options::SocketOptions;
use crate::seq::SeqNum;
use crate::table::ConnKey;
use crate::time::Instant;
use crate::wire::{TcpHeader, TcpSegment};

impl Shard {
    /// Starts listening on `addr` (an address of this shard or the unspecified address).
    /// Port 0 picks a free ephemeral port. `backlog` bounds the SYN queue and the accept
    /// queue each, as on Linux.
    ///
    /// ```
    /// use ringtcp_transport::{Config, Error, Secret, Shard};
    /// let mut shard = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([0; 16]));
    /// let l = shard.listen("10.0.0.1:80".parse().unwrap(), 128).unwrap();
    /// assert_eq!(shard.listen("0.0.0.0:80".parse().unwrap(), 128), Err(Error::AddrInUse));
    /// assert_eq!(shard.listen("10.9.9.9:81".parse().unwrap(), 128), Err(Error::AddrNotAvailable));
    /// # let _ = l;
    /// ```
    pub fn listen(&mut self, addr: SocketAddr, backlog: usize) -> Result<ListenerHandle, Error> {
        self.listen_with(addr, backlog, SocketOptions::default())
    }

    /// [`listen`](Shard::listen) with the socket's own buffer sizes for every connection
    /// it accepts (its SYN-ACKs, cookies included, offer a window from them).
    pub fn listen_with(&mut self, addr: SocketAddr, backlog: usize, opts: SocketOptions) -> Result<ListenerHandle, Error> {
        // An IPv4-mapped IPv6 address names the IPv4 address (RFC 4291 §2.5.5.2).
        let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
        if !addr.ip().is_unspecified() && !self.is_local(addr.ip()) {
            return Err(Error::AddrNotAvailable);
        }
        let only_v6 = opts.only_v6 && addr.is_ipv6();
        let addr = if addr.port() == 0 { self.free_listen_port(addr)? } else { addr };
        if self.listen_conflict(addr, only_v6) {
            return Err(Error::AddrInUse);
        }
        let generation = self.bump_generation();
        let mut listener = Listener::new(addr, backlog.max(1), generation);
        listener.opts = SocketOptions { only_v6, ..opts };
        let idx = self.listeners.insert(listener) as u32;
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

    /// True if a listener holds `addr` (the same address and port, or a wildcard one on the
    /// port that covers it; for a wildcard `addr`, any listener on the port it would
    /// cover): binding it again is `AddrInUse`, as on Linux without `SO_REUSEPORT`. A
    /// listener on `[::]` covers IPv4 addresses too unless it is IPv6-only.
    ///
    /// ```
    /// use ringtcp_transport::{Config, Secret, Shard};
    /// let mut shard = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap(), "fd77::2".parse().unwrap()], Secret([0; 16]));
    /// shard.listen("0.0.0.0:80".parse().unwrap(), 8).unwrap();
    /// shard.listen("[::]:443".parse().unwrap(), 8).unwrap();
    /// assert!(shard.listener_holds("10.0.0.1:80".parse().unwrap()));
    /// assert!(!shard.listener_holds("10.0.0.1:81".parse().unwrap()));
    /// assert!(!shard.listener_holds("[fd77::2]:80".parse().unwrap()));
    /// assert!(shard.listener_holds("10.0.0.1:443".parse().unwrap()), "[::] is dual-stack");
    /// ```
    pub fn listener_holds(&self, addr: SocketAddr) -> bool {
        let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
        self.listen_conflict(addr, false)
    }

    /// True if a listener on `addr` (IPv6-only if `only_v6`) would share an address with
    /// one already listening on its port.
    fn listen_conflict(&self, addr: SocketAddr, only_v6: bool) -> bool {
        addr.port() != 0
            && self.listen_map.iter().any(|(a, &l)| {
                a.port() == addr.port() && {
                    let theirs = self.listeners.get(l as usize).is_some_and(|x| x.opts.only_v6);
                    addresses_overlap((a.ip(), theirs), (addr.ip(), only_v6))
                }
            })
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
        while let Some((idx, generation)) = lst.pop() {
            if let Some(Slot::Live(c)) = self.conns.get_mut(idx as usize)
                && c.generation == generation
            {
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
        self.listener(l).map(|l| l.accept_queue_len())
    }

    /// Stops listening. Connections not yet accepted are reset, as closing a listening
    /// socket does on Linux.
    pub fn close_listener(&mut self, l: ListenerHandle) -> Result<(), Error> {
        self.listener(l)?;
        let lst = self.listeners.remove(l.idx as usize);
        self.listen_map.remove(&lst.local);
        let orphans: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, s)| matches!(s, Slot::Live(c) if c.listener == Some(l.idx)))
            .map(|(i, _)| i)
            .collect();
        for idx in orphans {
            if let Some(Slot::Live(c)) = self.conns.get_mut(idx) {
                c.listener = None;
                if c.state == State::SynReceived {
                    self.stats.embryonic_drops += 1;
                }
                c.abort();
            }
            self.after(idx as u32);
        }
        Ok(())
    }

    /// The runtime reports how many connections it took with [`Shard::accept`] still wait
    /// on its side for the application: they count against the backlog, so the backlog
    /// bounds established connections end to end. When the accept queue overflows, the
    /// listener gets an event, so the runtime reports again once the application made room.
    pub fn set_handed_out(&mut self, l: ListenerHandle, waiting: usize) -> Result<(), Error> {
        self.listener(l)?;
        self.listeners[l.idx as usize].set_handed_out(waiting);
        Ok(())
    }

    /// Sets the MSS clamp of the connections the listener accepts from now on (Linux's
    /// `TCP_MAXSEG` on a listening socket); `None` clears it.
    pub fn set_listener_mss(&mut self, l: ListenerHandle, mss: Option<u16>) -> Result<(), Error> {
        self.listener(l)?;
        self.listeners[l.idx as usize].opts.mss = mss;
        Ok(())
    }

    /// Embryonic connections (SYN-RECEIVED) held for a listener.
    pub fn syn_queue_len(&self, l: ListenerHandle) -> Result<usize, Error> {
        self.listener(l).map(|l| l.syn_queue_len())
    }

    /// The listener a segment to `local` belongs to: one bound to that address, else the
    /// family's wildcard, else for IPv4 a dual-stack `[::]` listener.
    pub(super) fn find_listener(&self, local: SocketAddr) -> Option<u32> {
        let port = local.port();
        if let Some(&l) = self.listen_map.get(&local) {
            return Some(l);
        }
        let v6_any = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
        if local.is_ipv6() {
            return self.listen_map.get(&v6_any).copied();
        }
        self.listen_map.get(&SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)).copied().or_else(|| {
            self.listen_map.get(&v6_any).copied().filter(|&l| self.listeners.get(l as usize).is_some_and(|x| !x.opts.only_v6))
        })
    }

    /// A segment for listener `l` that matched no connection and no record.
    pub(super) fn on_listener_segment(&mut self, now: Instant, l: u32, local: SocketAddr, remote: SocketAddr, seg: &TcpSegment<'_>) {
        let h = &seg.header;
        if h.flags.rst() {
            self.drops.stray_rst += 1;
        } else if h.flags.ack() {
            if !h.flags.syn() && self.listeners[l as usize].cookies_outstanding(now, self.cookies.lifetime()) {
                // RFC 4987 §3.6: the third ACK of a cookie handshake. Linux discards a
                // failed one silently; so do we (it may be one of a flood).
                let tsecr = h.options.timestamps.map(|t| t.ecr);
                match self.cookies.check(now, &local, &remote, h.seq, h.ack, tsecr) {
                    CookieCheck::Valid(opts) => self.open_from_cookie(now, l, local, remote, seg, &opts),
                    CookieCheck::Invalid => self.drops.syncookies_failed += 1,
                }
                return;
            }
            // RFC 9293 §3.10.7.2: any ACK to a LISTEN socket is bad: <SEQ=SEG.ACK><RST>.
            self.drops.listen_non_syn += 1;
            self.queue_rst(local, remote, h.ack, None);
        } else if h.flags.syn() {
            self.on_listener_syn(now, l, local, remote, h, seg.payload, None);
        } else {
            self.drops.listen_non_syn += 1;
        }
    }

    /// RFC 9293 §3.10.7.2: a SYN to a listener opens an embryonic connection, or is
    /// answered with a cookie, or dropped, as the listener decides. `min_iss` keeps a
    /// reopened 4-tuple's new ISS above the old SND.NXT. `payload` is the SYN's data,
    /// taken only with Fast Open.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_listener_syn(&mut self, now: Instant, l: u32, local: SocketAddr, remote: SocketAddr, h: &TcpHeader, payload: &[u8], min_iss: Option<SeqNum>) {
        let mut verdict = self.listeners[l as usize].syn_verdict(self.cfg.syn_cookies);
        if verdict == SynVerdict::Cookie && min_iss.is_some() {
            // A SYN that reopens a TIME-WAIT 4-tuple needs an ISS above the old SND.NXT,
            // which a cookie cannot give; like Linux (`tcp_conn_request` with an ISN), keep
            // state for it even past the SYN queue's bound. Each one used up a record
            // of a real connection, and the connection limit still applies.
            verdict = SynVerdict::Open;
        }
        match verdict {
            SynVerdict::DropAcceptQueueFull => {
                self.drops.accept_queue_full += 1;
                self.listener_event(l);
                return;
            }
            SynVerdict::DropSynQueueFull => {
                self.drops.listen_overflow += 1;
                return;
            }
            // At the connection limit neither a SYN-RECEIVED connection nor a cookie could
            // become a connection: the peer retries later.
            SynVerdict::Open | SynVerdict::Cookie if self.live >= self.cfg.max_connections => {
                self.drops.connection_limit += 1;
                return;
            }
            SynVerdict::Cookie => return self.send_cookie(now, l, local, remote, h),
            SynVerdict::Open => {}
        }
        let mut iss = self.isn.isn(&local, &remote, now);
        if let Some(min) = min_iss
            && iss < min
        {
            iss = min;
        }
        let (seq, window, options) = (h.seq, h.window, h.options);
        let fast_open = {
            let lst = &self.listeners[l as usize];
            let key = lst.fast_open_key.unwrap_or(self.fast_open_key);
            fast_open::verdict(self.cfg.fast_open, lst.fast_open_queue(self.cfg.fast_open), options.fast_open, !payload.is_empty(), || key.cookie(local.ip(), remote.ip()))
        };
        let opts = self.listeners[l as usize].opts;
        let idx = self.insert_conn(now, local, remote, iss, opts, |open| Connection::accept_syn(open, seq, window, &options, l));
        self.table.insert(ConnKey::new(local, remote), idx);
        self.stats.passive_opens += 1;
        let lst = &mut self.listeners[l as usize];
        let Some(Slot::Live(c)) = self.conns.get_mut(idx as usize) else { return };
        match fast_open {
            FastOpenVerdict::Accept => {
                // RFC 7413 §4.2.2: the data is the application's now, and so is the
                // connection: it goes to the accept queue in SYN-RECEIVED, counted in the
                // listener's Fast Open queue until its handshake ends.
                let syn_data = c.take_syn_data(payload);
                c.fast_open = Some(Box::new(FastOpenConn { accepted: true, syn_data, cookie: None, queued_on: Some((l, lst.generation)), learned: None, no_cookie: false }));
                c.in_accept_queue = true;
                lst.fast_open_pending += 1;
                self.stats.fast_open_accepted += 1;
                if lst.established((idx, c.generation), false) {
                    self.events.push_back(Event::Listener(ListenerHandle { idx: l, generation: lst.generation }));
                }
            }
            verdict => {
                if let FastOpenVerdict::SendCookie(cookie) = verdict {
                    c.fast_open = Some(Box::new(FastOpenConn { cookie: Some(cookie), ..FastOpenConn::default() }));
                    self.stats.fast_open_cookies_sent += 1;
                }
                c.in_syn_queue = true;
                lst.syn_queued();
            }
        }
        self.after(idx);
    }

    /// Sets the key Fast Open cookies are made with (Linux's `TCP_FASTOPEN_KEY` and
    /// `net.ipv4.tcp_fastopen_key`: 16 bytes); by default it is drawn from the shard's
    /// secret. Cookies made with the old key stop being accepted.
    pub fn set_fast_open_key(&mut self, key: [u8; 16]) {
        self.fast_open_key = FastOpenKey::from_bytes(key);
    }

    /// Gives listener `l` a Fast Open key of its own, used for its cookies instead of
    /// the shard's [`set_fast_open_key`](Self::set_fast_open_key) (Linux's
    /// `TCP_FASTOPEN_KEY` on a listening socket): cookies made with any other key stop
    /// being accepted by it, and other listeners keep the shard's.
    ///
    /// ```
    /// use ringtcp_transport::{Config, Secret, Shard};
    ///
    /// let mut shard = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([1; 16]));
    /// let l = shard.listen("10.0.0.1:80".parse().unwrap(), 16).unwrap();
    /// shard.set_listener_fast_open(l, 16).unwrap();
    /// shard.set_listener_fast_open_key(l, [7; 16]).unwrap();
    /// ```
    pub fn set_listener_fast_open_key(&mut self, l: ListenerHandle, key: [u8; 16]) -> Result<(), Error> {
        self.listener(l)?;
        self.listeners[l.idx as usize].fast_open_key = Some(FastOpenKey::from_bytes(key));
        Ok(())
    }

    /// Serves Fast Open on listener `l` with a queue of `qlen` (Linux's `TCP_FASTOPEN` on a
    /// listening socket); 0 turns it off.
    pub fn set_listener_fast_open(&mut self, l: ListenerHandle, qlen: usize) -> Result<(), Error> {
        self.listener(l)?;
        self.listeners[l.idx as usize].opts.fast_open = Some(qlen);
        Ok(())
    }

    /// Answers a SYN statelessly (RFC 4987 §3.6): the SYN-ACK's ISS is the cookie and,
    /// with timestamps, TSval carries window scale and SACK-permitted.
    fn send_cookie(&mut self, now: Instant, l: u32, local: SocketAddr, remote: SocketAddr, h: &TcpHeader) {
        let cfg = &self.cfg;
        let peer_ts = h.options.timestamps.filter(|_| cfg.timestamps);
        // Without timestamps there is nowhere to keep window scale and SACK: offer neither.
        let kept = peer_ts.map(|_| CookieOptions {
            mss: 0,
            wscale: h.options.window_scale.filter(|_| cfg.window_scaling),
            sack: cfg.sack && h.options.sack_permitted,
        });
        let peer_mss = h.options.mss.unwrap_or(default_peer_mss(remote.ip()));
        let (iss, bits) = self.cookies.issue(now, &local, &remote, h.seq, peer_mss, kept);
        let opts = self.listeners[l as usize].opts;
        let rx_buffer = opts.rx(self.cfg.rx_buffer);
        let our_shift = window_shift(rx_buffer_bound(&self.cfg, &opts));
        self.push_control(Control::CookieSynAck {
            local,
            remote,
            iss,
            ack: h.seq + 1,
            window: rx_buffer.min(65_535) as u16,
            mss: opts.mss_for(&self.cfg, remote.ip()),
            wscale: kept.and_then(|k| k.wscale).map(|_| our_shift),
            sack: kept.is_some_and(|k| k.sack),
            ts: bits.zip(peer_ts.map(|t| t.val)),
        });
        self.listeners[l as usize].cookie_sent(now);
    }

    /// A valid cookie came back: the connection is created straight into the accept
    /// queue and the ACK (with any data it carries) processed as its third step.
    fn open_from_cookie(&mut self, now: Instant, l: u32, local: SocketAddr, remote: SocketAddr, seg: &TcpSegment<'_>, opts: &CookieOptions) {
        if self.listeners[l as usize].accept_full() {
            self.drops.accept_queue_full += 1;
            self.listener_event(l);
            return;
        }
        if self.live >= self.cfg.max_connections {
            self.drops.connection_limit += 1;
            return;
        }
        self.stats.syncookies_recv += 1;
        let h = &seg.header;
        let peer_ts = h.options.timestamps.map(|t| t.val).filter(|_| self.cfg.timestamps);
        let iss = h.ack - 1;
        let peer_isn = h.seq - 1;
        let sock_opts = self.listeners[l as usize].opts;
        let idx = self.insert_conn(now, local, remote, iss, sock_opts, |open| Connection::from_cookie(open, peer_isn, opts, peer_ts, l));
        self.table.insert(ConnKey::new(local, remote), idx);
        self.stats.passive_opens += 1;
        self.with_conn(now, idx, |c, ctx| c.on_segment(ctx, seg));
        // The cookie proved the handshake, so the ACK always completes it; anything else
        // would leave a connection that no timer owns.
        if let Some(Slot::Live(c)) = self.conns.get_mut(idx as usize)
            && c.state == State::SynReceived
        {
            c.discard();
            self.after(idx);
        }
    }

    /// The listener of embryonic connection `idx`, if `h` would complete its handshake
    /// while that listener's accept queue is full.
    pub(super) fn third_ack_blocked(&self, idx: u32, h: &TcpHeader) -> Option<u32> {
        let Some(Slot::Live(c)) = self.conns.get(idx as usize) else { return None };
        // A Fast Open connection is in the accept queue already.
        if c.state != State::SynReceived || c.in_accept_queue || !h.flags.ack() || h.flags.rst() || h.flags.syn() {
            return None;
        }
        let l = c.listener?;
        self.listeners.get(l as usize).filter(|x| x.accept_full()).map(|_| l)
    }

    /// Queues an event for listener `l`, so the runtime looks at it again.
    pub(super) fn listener_event(&mut self, l: u32) {
        let lst = &mut self.listeners[l as usize];
        if lst.want_event() {
            self.events.push_back(Event::Listener(ListenerHandle { idx: l, generation: lst.generation }));
        }
    }
}

/// True if two listeners' address sets meet: `(address, IPv6-only)` each. A specific
/// address covers itself; `0.0.0.0` every IPv4 address; `[::]` every IPv6 address and,
/// unless IPv6-only, every IPv4 one (Linux's `inet6_bind` conflict rules).
fn addresses_overlap((a, a_only6): (IpAddr, bool), (b, b_only6): (IpAddr, bool)) -> bool {
    let covers = |wild: IpAddr, only6: bool, ip: IpAddr| match wild {
        IpAddr::V4(_) => ip.is_ipv4(),
        IpAddr::V6(_) => ip.is_ipv6() || !only6,
    };
    match (a.is_unspecified(), b.is_unspecified()) {
        (false, false) => a == b,
        (true, false) => covers(a, a_only6, b),
        (false, true) => covers(b, b_only6, a),
        (true, true) => a.is_ipv4() == b.is_ipv4() || (a.is_ipv6() && !a_only6) || (b.is_ipv6() && !b_only6),
    }
}
