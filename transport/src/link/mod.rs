//! Layer 2 for a stack on an Ethernet interface, sans-IO like the rest of the core:
//! [`EthernetLink`] takes frames in and hands frames out around a [`Shard`], which only
//! ever sees IP packets.
//!
//! - In: Ethernet frames for our hardware address (or a group); ARP (RFC 826) and IPv6
//!   neighbour discovery (RFC 4861 §7) are answered and learned from here, IPv4 and IPv6
//!   packets go to the shard.
//! - Out: the shard's packets get the next hop's hardware address: on-link destinations
//!   directly, others through the family's gateway. A next hop not yet known is resolved
//!   (its packets held, bounded); one that never answers fails the packets' connection
//!   attempts with `HostUnreachable` ([`Shard::handle_undeliverable`]), as Linux does.
//! - Requests are limited per second across the link (a flood of spoofed on-link sources
//!   must not become an ARP storm), one per neighbour per `retrans_time`.

mod neighbour;

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::shard::Shard;
use crate::time::Instant;
use crate::wire::{
    ARP_LEN, ArpOp, ArpPacket, ETHERNET_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, EthernetFrame,
    Ipv6Packet, MacAddr, NDP_PACKET_LEN, NdpMessage, PROTO_ICMPV6, WireError, emit_ethernet_header,
    emit_neighbor_advertisement, emit_neighbor_solicitation, same_network, solicited_node,
};
use neighbour::{Entry, NeighbourCache};

/// Frames waiting to go out (answers, requests, packets released by a resolution) at
/// most; past it, a counted drop.
const MAX_QUEUED_FRAMES: usize = 1024;
/// The shortest Ethernet frame without its frame check sequence: shorter ones are padded.
const MIN_FRAME_LEN: usize = 60;

/// How a link behaves: its addresses, its routes and its neighbour cache's bounds.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// The interface's hardware address.
    pub mac: MacAddr,
    /// The stack's addresses on the link, each with the prefix length of its on-link
    /// network.
    pub addresses: Vec<(IpAddr, u8)>,
    /// Where IPv4 packets for other networks go.
    pub gateway_v4: Option<Ipv4Addr>,
    /// Where IPv6 packets for other networks go (usually the router's link-local address).
    pub gateway_v6: Option<Ipv6Addr>,
    /// Neighbour entries at most (Linux's `gc_thresh3`).
    pub neighbours: usize,
    /// How long a confirmation holds (RFC 4861 REACHABLE_TIME; Linux's
    /// `base_reachable_time`).
    pub reachable_time: Duration,
    /// Between two requests for one neighbour (RFC 4861 RETRANS_TIMER).
    pub retrans_time: Duration,
    /// Requests before a neighbour counts as unreachable (RFC 4861 MAX_MULTICAST_SOLICIT;
    /// Linux's `mcast_solicit`).
    pub solicitations: u8,
    /// Packets held per neighbour while it is resolved.
    pub held_per_neighbour: usize,
    /// Requests (ARP and neighbour solicitations) per second at most, for the whole link.
    pub requests_per_second: u32,
    /// Answer requests for our addresses. A stack whose shards each run a link answers
    /// from one of them only, so that a request gets one answer.
    pub answers_requests: bool,
}

impl LinkConfig {
    /// A link with Linux's neighbour defaults: 1,024 entries, 30 s reachable, 1 s between
    /// requests, 3 requests, 8 held packets per neighbour, 1,000 requests a second.
    ///
    /// ```
    /// use ringtcp_transport::link::LinkConfig;
    /// use ringtcp_transport::wire::MacAddr;
    ///
    /// let cfg = LinkConfig::new(MacAddr([2, 0, 0, 0, 0, 1]), vec![("10.0.0.2".parse().unwrap(), 24)]);
    /// assert_eq!((cfg.neighbours, cfg.solicitations), (1024, 3));
    /// ```
    pub fn new(mac: MacAddr, addresses: Vec<(IpAddr, u8)>) -> LinkConfig {
        LinkConfig {
            mac,
            addresses,
            gateway_v4: None,
            gateway_v6: None,
            neighbours: 1024,
            reachable_time: Duration::from_secs(30),
            retrans_time: Duration::from_secs(1),
            solicitations: 3,
            held_per_neighbour: 8,
            requests_per_second: 1000,
            answers_requests: true,
        }
    }
}

crate::stats::counters! {
    /// What the link did, netstat-style; every dropped frame is in exactly one `drop_*`.
    LinkStats {
        /// Frames received.
        frames_in,
        /// Frames handed out.
        frames_out,
        /// ARP requests received (any target).
        arp_requests_in,
        /// ARP replies received.
        arp_replies_in,
        /// ARP requests sent (resolutions, probes, announcements).
        arp_requests_sent,
        /// ARP replies sent.
        arp_replies_sent,
        /// Neighbour solicitations received.
        ndp_solicitations_in,
        /// Neighbour advertisements received.
        ndp_advertisements_in,
        /// Neighbour solicitations sent.
        ndp_solicitations_sent,
        /// Neighbour advertisements sent.
        ndp_advertisements_sent,
        /// Resolutions completed.
        resolved,
        /// Resolutions and probes given up (the neighbour never answered).
        resolution_failures,
        /// Packets held while their next hop was resolved.
        packets_held,
        /// Packets dropped because their neighbour already held as many as it may.
        held_overflow,
        /// Requests not sent: over `requests_per_second`.
        requests_limited,
        /// Packets dropped because the neighbour cache was full of live entries.
        neighbour_table_full,
        /// Packets dropped for want of a route (no address of the family, no gateway).
        no_route,
        /// Frames handed out dropped because too many waited.
        frame_queue_overflow,
        /// Frames shorter than their headers.
        drop_truncated,
        /// Malformed frames, ARP packets and neighbour discovery messages.
        drop_malformed,
        /// Frames for another host's hardware address, and requests for other addresses.
        drop_not_for_us,
        /// Frames of a protocol other than IPv4, IPv6 and ARP.
        drop_ethertype,
        /// ARP or advertisements claiming one of our addresses.
        drop_address_conflict,
    }
}

/// Layer 2 around a shard: see the module documentation.
///
/// ```
/// use ringtcp_transport::link::{EthernetLink, LinkConfig};
/// use ringtcp_transport::wire::{ArpOp, ArpPacket, EthernetFrame, MacAddr};
/// use ringtcp_transport::{Config, Instant, Secret, Shard};
///
/// let me = "10.0.0.2".parse().unwrap();
/// let mut shard = Shard::new(Config::default(), &[me], Secret([1; 16]));
/// let mut link = EthernetLink::new(LinkConfig::new(MacAddr([2, 0, 0, 0, 0, 2]), vec![(me, 24)]));
/// // A SYN to an unknown neighbour waits while an ARP request asks for it.
/// shard.connect(Instant::ZERO, "10.0.0.1:80".parse().unwrap(), None).unwrap();
/// let mut buf = [0u8; 1600];
/// let n = link.poll_transmit(Instant::ZERO, &mut shard, &mut buf).unwrap();
/// let frame = EthernetFrame::parse(&buf[..n]).unwrap();
/// let arp = ArpPacket::parse(frame.payload).unwrap();
/// assert_eq!((frame.dst, arp.op, arp.target_ip.to_string()), (MacAddr::BROADCAST, ArpOp::Request, "10.0.0.1".into()));
/// assert!(link.poll_transmit(Instant::ZERO, &mut shard, &mut buf).is_none(), "the SYN is held");
/// ```
#[derive(Debug)]
pub struct EthernetLink {
    cfg: LinkConfig,
    cache: NeighbourCache,
    frames: VecDeque<Vec<u8>>,
    stats: LinkStats,
    /// Start of the current one-second window of the request limit, and requests in it.
    window: (Instant, u32),
}

/// What became of a packet on its way out.
enum Route {
    Send(MacAddr),
    /// Held for a resolution, or dropped (counted).
    Kept,
}

impl EthernetLink {
    /// A link with nothing learned yet.
    pub fn new(cfg: LinkConfig) -> EthernetLink {
        let cache = NeighbourCache::new(cfg.neighbours);
        EthernetLink { cfg, cache, frames: VecDeque::new(), stats: LinkStats::default(), window: (Instant::ZERO, 0) }
    }

    /// The link's settings.
    pub fn config(&self) -> &LinkConfig {
        &self.cfg
    }

    /// What the link did.
    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// Neighbour entries held (resolved or not).
    pub fn neighbour_count(&self) -> usize {
        self.cache.len()
    }

    /// The hardware address `ip` is known at, if it is resolved.
    pub fn neighbour(&self, ip: IpAddr) -> Option<MacAddr> {
        self.cache.get(&ip)?.mac()
    }

    /// Queues the announcements of a stack that comes up on the link: a gratuitous ARP
    /// (RFC 5227 §3, an ARP announcement) for each IPv4 address and an unsolicited
    /// neighbour advertisement (RFC 4861 §7.2.6) for each IPv6 one, so that neighbours
    /// holding an old hardware address for them learn the new one.
    pub fn announce(&mut self) {
        let addrs = self.cfg.addresses.clone();
        for (ip, _) in addrs {
            match ip {
                IpAddr::V4(a) => {
                    self.queue_arp(ArpOp::Request, MacAddr::BROADCAST, a, MacAddr::default(), a);
                    self.stats.arp_requests_sent += 1;
                }
                IpAddr::V6(a) => {
                    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
                    let mut p = [0u8; NDP_PACKET_LEN];
                    emit_neighbor_advertisement(&mut p, all_nodes, a, self.cfg.mac, false);
                    self.queue_frame(MacAddr::ipv6_multicast(all_nodes), ETHERTYPE_IPV6, &p);
                    self.stats.ndp_advertisements_sent += 1;
                }
            }
        }
    }

    /// Takes one received frame: answers and learns from ARP and neighbour discovery,
    /// hands IP packets to `shard`.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8], shard: &mut Shard) {
        self.stats.frames_in += 1;
        let f = match EthernetFrame::parse(frame) {
            Ok(f) => f,
            Err(WireError::Truncated) => return self.stats.drop_truncated += 1,
            Err(_) => return self.stats.drop_malformed += 1,
        };
        if f.dst != self.cfg.mac && !f.dst.is_multicast() {
            self.stats.drop_not_for_us += 1;
            return;
        }
        match f.ethertype {
            ETHERTYPE_ARP => self.on_arp(now, f.payload),
            ETHERTYPE_IPV4 => shard.handle_packet(now, f.payload),
            ETHERTYPE_IPV6 if is_neighbour_discovery(f.payload) => self.on_ndp(now, f.src, f.payload),
            ETHERTYPE_IPV6 => shard.handle_packet(now, f.payload),
            _ => self.stats.drop_ethertype += 1,
        }
    }

    /// The next frame to send, written into `buf` (room for the MTU and the Ethernet
    /// header): the link's own frames first, then the shard's packets with their next
    /// hop's address. Packets whose next hop is being resolved are held here.
    pub fn poll_transmit(&mut self, now: Instant, shard: &mut Shard, buf: &mut [u8]) -> Option<usize> {
        loop {
            if let Some(f) = self.frames.pop_front() {
                buf[..f.len()].copy_from_slice(&f);
                self.stats.frames_out += 1;
                return Some(f.len());
            }
            let n = shard.poll_transmit(now, &mut buf[ETHERNET_HEADER_LEN..])?;
            let packet = &buf[ETHERNET_HEADER_LEN..ETHERNET_HEADER_LEN + n];
            if let Route::Send(mac) = self.route(now, packet, shard) {
                let ethertype = if packet[0] >> 4 == 6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 };
                emit_ethernet_header(buf, mac, self.cfg.mac, ethertype);
                self.stats.frames_out += 1;
                return Some(pad(buf, ETHERNET_HEADER_LEN + n));
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) has work: a request to repeat or a
    /// resolution to give up.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.cache.next_timer()
    }

    /// Repeats the requests that are due and gives up on neighbours that never answered
    /// (their held packets go back to `shard` as undeliverable).
    pub fn handle_timeout(&mut self, now: Instant, shard: &mut Shard) {
        for ip in self.cache.due(now) {
            let retry = now + self.cfg.retrans_time;
            let max = self.cfg.solicitations;
            let unicast = match self.cache.get_mut(&ip) {
                Some(Entry::Incomplete { tries, next, .. }) if *tries < max => {
                    *tries += 1;
                    *next = retry;
                    None
                }
                Some(Entry::Probing { mac, tries, next }) if *tries < max => {
                    *tries += 1;
                    *next = retry;
                    Some(*mac)
                }
                Some(_) => {
                    self.stats.resolution_failures += 1;
                    if let Some(Entry::Incomplete { queued, .. }) = self.cache.remove(&ip) {
                        for p in &queued {
                            shard.handle_undeliverable(now, p);
                        }
                    }
                    continue;
                }
                None => continue,
            };
            self.solicit(now, ip, unicast);
        }
        self.cache.recompute_timer();
    }

    fn is_ours(&self, ip: IpAddr) -> bool {
        self.cfg.addresses.iter().any(|(a, _)| *a == ip)
    }

    /// The address a packet to `dst` goes to on the link, or `None` without a route.
    fn next_hop(&self, dst: IpAddr) -> Option<IpAddr> {
        if let IpAddr::V6(d) = dst
            && (d.is_unicast_link_local() || d.is_multicast())
        {
            return Some(dst);
        }
        if self.cfg.addresses.iter().any(|&(a, prefix)| same_network(a, dst, prefix)) {
            return Some(dst);
        }
        match dst {
            IpAddr::V4(_) => self.cfg.gateway_v4.map(IpAddr::V4),
            IpAddr::V6(_) => self.cfg.gateway_v6.map(IpAddr::V6),
        }
    }

    /// Our address to send a request for `hop` from: one on its network, else any of the
    /// family.
    fn source_for(&self, hop: IpAddr) -> Option<IpAddr> {
        let family = self.cfg.addresses.iter().filter(|(a, _)| a.is_ipv4() == hop.is_ipv4());
        family.clone().find(|&&(a, p)| same_network(a, hop, p)).or_else(|| family.clone().next()).map(|(a, _)| *a)
    }

    fn route(&mut self, now: Instant, packet: &[u8], shard: &mut Shard) -> Route {
        let Some(dst) = destination(packet) else {
            self.stats.drop_malformed += 1;
            return Route::Kept;
        };
        let Some(hop) = self.next_hop(dst) else {
            self.stats.no_route += 1;
            shard.handle_undeliverable(now, packet);
            return Route::Kept;
        };
        if let IpAddr::V6(h) = hop
            && h.is_multicast()
        {
            return Route::Send(MacAddr::ipv6_multicast(h));
        }
        match self.cache.get_mut(&hop) {
            Some(Entry::Reachable { mac, until }) if *until > now => Route::Send(*mac),
            Some(e @ Entry::Reachable { .. }) => {
                // Past its confirmation: used while unicast requests ask again, the first
                // at once.
                let mac = e.mac().expect("a reachable entry has an address");
                *e = Entry::Probing { mac, tries: 0, next: now };
                self.cache.note_timer(Some(now));
                Route::Send(mac)
            }
            Some(Entry::Probing { mac, .. }) => Route::Send(*mac),
            Some(Entry::Incomplete { queued, .. }) => {
                if queued.len() < self.cfg.held_per_neighbour {
                    queued.push(packet.to_vec());
                    self.stats.packets_held += 1;
                } else {
                    self.stats.held_overflow += 1;
                }
                Route::Kept
            }
            None => {
                if !self.cache.room_for_one(now) {
                    self.stats.neighbour_table_full += 1;
                    return Route::Kept;
                }
                let next = now + self.cfg.retrans_time;
                self.cache.insert(hop, Entry::Incomplete { tries: 1, next, queued: vec![packet.to_vec()] });
                self.stats.packets_held += 1;
                self.solicit(now, hop, None);
                Route::Kept
            }
        }
    }

    /// Sends a request for `ip`: broadcast (or to its solicited-node group) while it is
    /// unknown, to `unicast` when confirming a known address. Subject to the link's
    /// request limit.
    fn solicit(&mut self, now: Instant, ip: IpAddr, unicast: Option<MacAddr>) {
        if now.saturating_duration_since(self.window.0) >= Duration::from_secs(1) {
            self.window = (now, 0);
        }
        if self.window.1 >= self.cfg.requests_per_second {
            self.stats.requests_limited += 1;
            return;
        }
        self.window.1 += 1;
        let Some(src) = self.source_for(ip) else { return };
        match (src, ip) {
            (IpAddr::V4(s), IpAddr::V4(t)) => {
                self.queue_arp(ArpOp::Request, unicast.unwrap_or(MacAddr::BROADCAST), s, MacAddr::default(), t);
                self.stats.arp_requests_sent += 1;
            }
            (IpAddr::V6(s), IpAddr::V6(t)) => {
                let (dst, mac) = match unicast {
                    Some(m) => (t, m),
                    None => (solicited_node(t), MacAddr::ipv6_multicast(solicited_node(t))),
                };
                let mut p = [0u8; NDP_PACKET_LEN];
                emit_neighbor_solicitation(&mut p, s, dst, t, self.cfg.mac);
                self.queue_frame(mac, ETHERTYPE_IPV6, &p);
                self.stats.ndp_solicitations_sent += 1;
            }
            _ => {}
        }
    }

    fn on_arp(&mut self, now: Instant, bytes: &[u8]) {
        let Ok(p) = ArpPacket::parse(bytes) else { return self.stats.drop_malformed += 1 };
        match p.op {
            ArpOp::Request => self.stats.arp_requests_in += 1,
            ArpOp::Reply => self.stats.arp_replies_in += 1,
        }
        if p.sender_mac.is_multicast() {
            self.stats.drop_malformed += 1;
            return;
        }
        let sender = IpAddr::V4(p.sender_ip);
        if self.is_ours(sender) {
            // Another host claims our address (or our own announcement came back).
            self.stats.drop_address_conflict += 1;
            return;
        }
        let for_us = self.is_ours(IpAddr::V4(p.target_ip));
        // RFC 826's merge: update what we hold for the sender; add it if the packet is for us.
        if !p.sender_ip.is_unspecified() {
            self.confirm(now, sender, p.sender_mac, for_us);
        }
        if p.op == ArpOp::Request && for_us && self.cfg.answers_requests {
            // A probe from the unspecified address (RFC 5227) is answered the same way.
            self.queue_arp(ArpOp::Reply, p.sender_mac, p.target_ip, p.sender_mac, p.sender_ip);
            self.stats.arp_replies_sent += 1;
        } else if !for_us {
            self.stats.drop_not_for_us += 1;
        }
    }

    fn on_ndp(&mut self, now: Instant, frame_src: MacAddr, bytes: &[u8]) {
        let Ok(ip) = Ipv6Packet::parse(bytes) else { return self.stats.drop_malformed += 1 };
        let msg = match NdpMessage::parse(ip.payload(), ip.src(), ip.dst(), ip.hop_limit()) {
            Ok(Some(m)) => m,
            Ok(None) | Err(_) => return self.stats.drop_malformed += 1,
        };
        match msg {
            NdpMessage::Solicitation { target, source_mac } => {
                self.stats.ndp_solicitations_in += 1;
                if !self.is_ours(IpAddr::V6(target)) {
                    self.stats.drop_not_for_us += 1;
                    return;
                }
                let src = ip.src();
                // RFC 4861 §7.2.3: the asker's address goes into the cache.
                if let Some(mac) = source_mac
                    && !src.is_unspecified()
                {
                    self.confirm(now, IpAddr::V6(src), mac, true);
                }
                if !self.cfg.answers_requests {
                    return;
                }
                let mut p = [0u8; NDP_PACKET_LEN];
                if src.is_unspecified() {
                    // Someone's duplicate address detection: defend to all nodes.
                    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
                    emit_neighbor_advertisement(&mut p, all_nodes, target, self.cfg.mac, false);
                    self.queue_frame(MacAddr::ipv6_multicast(all_nodes), ETHERTYPE_IPV6, &p);
                } else {
                    emit_neighbor_advertisement(&mut p, src, target, self.cfg.mac, true);
                    self.queue_frame(source_mac.unwrap_or(frame_src), ETHERTYPE_IPV6, &p);
                }
                self.stats.ndp_advertisements_sent += 1;
            }
            NdpMessage::Advertisement { target, target_mac, .. } => {
                self.stats.ndp_advertisements_in += 1;
                if self.is_ours(IpAddr::V6(target)) {
                    self.stats.drop_address_conflict += 1;
                    return;
                }
                // §7.2.5: an advertisement only updates an entry we hold.
                self.confirm(now, IpAddr::V6(target), target_mac.unwrap_or(frame_src), false);
            }
        }
    }

    /// `ip` is at `mac`, as of now: an entry being resolved releases its packets; with
    /// `create`, an unknown neighbour gets an entry.
    fn confirm(&mut self, now: Instant, ip: IpAddr, mac: MacAddr, create: bool) {
        let fresh = Entry::Reachable { mac, until: now + self.cfg.reachable_time };
        match self.cache.get_mut(&ip) {
            Some(e @ Entry::Incomplete { .. }) => {
                let Entry::Incomplete { queued, .. } = std::mem::replace(e, fresh) else { unreachable!("matched above") };
                self.stats.resolved += 1;
                self.cache.recompute_timer();
                for p in queued {
                    let ethertype = if p[0] >> 4 == 6 { ETHERTYPE_IPV6 } else { ETHERTYPE_IPV4 };
                    self.queue_frame(mac, ethertype, &p);
                }
            }
            Some(e) => *e = fresh,
            None if create => {
                if self.cache.room_for_one(now) {
                    self.cache.insert(ip, fresh);
                } else {
                    self.stats.neighbour_table_full += 1;
                }
            }
            None => {}
        }
    }

    fn queue_arp(&mut self, op: ArpOp, dst: MacAddr, sender_ip: Ipv4Addr, target_mac: MacAddr, target_ip: Ipv4Addr) {
        let mut p = [0u8; ARP_LEN];
        ArpPacket { op, sender_mac: self.cfg.mac, sender_ip, target_mac, target_ip }.emit(&mut p);
        self.queue_frame(dst, ETHERTYPE_ARP, &p);
    }

    fn queue_frame(&mut self, dst: MacAddr, ethertype: u16, payload: &[u8]) {
        if self.frames.len() >= MAX_QUEUED_FRAMES {
            self.stats.frame_queue_overflow += 1;
            return;
        }
        let mut f = vec![0u8; (ETHERNET_HEADER_LEN + payload.len()).max(MIN_FRAME_LEN)];
        emit_ethernet_header(&mut f, dst, self.cfg.mac, ethertype);
        f[ETHERNET_HEADER_LEN..ETHERNET_HEADER_LEN + payload.len()].copy_from_slice(payload);
        self.frames.push_back(f);
    }
}

/// Zero-pads a frame in `buf` to the Ethernet minimum; returns its length.
fn pad(buf: &mut [u8], len: usize) -> usize {
    if len < MIN_FRAME_LEN {
        buf[len..MIN_FRAME_LEN].fill(0);
        return MIN_FRAME_LEN;
    }
    len
}

/// The destination address of an IP packet the shard emitted.
fn destination(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(packet.get(16..20)?).ok()?))),
        6 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(packet.get(24..40)?).ok()?))),
        _ => None,
    }
}

/// True if the IPv6 packet is a neighbour solicitation or advertisement (ICMPv6 right
/// after the fixed header, types 135 and 136): read by the link, not the shard.
fn is_neighbour_discovery(packet: &[u8]) -> bool {
    packet.len() > 40 && packet[6] == PROTO_ICMPV6 && matches!(packet[40], 135 | 136)
}
