//! Packets in: the IP edge of both families, and where each segment or ICMP message goes
//! (a connection, a FIN-cache record, a listener, or the CLOSED answer).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Control, Shard};
use crate::conn::IcmpError;
use crate::seq::SeqNum;
use crate::table::ConnKey;
use crate::time::Instant;
use crate::wire::{
    IcmpMessage, Icmpv6ErrorKind, Icmpv6Message, Ipv4Packet, Ipv6Packet, PROTO_ICMP,
    PROTO_ICMPV6, PROTO_TCP, TcpSegment, WireError,
};

/// ICMP echo header: type, code, checksum, identifier, sequence.
const ECHO_HEADER_LEN: usize = 8;

impl Shard {
    /// Processes one received IP packet, IPv4 or IPv6 (told apart by the version nibble).
    /// Bad packets are counted and dropped.
    pub fn handle_packet(&mut self, now: Instant, bytes: &[u8]) {
        self.handle_ip(now, bytes, false);
    }

    /// Processes one received IP packet whose TCP checksum the device vouches for: one it
    /// verified, or one it left partial because the packet was made on this host and
    /// never crossed a wire (virtio-net's `DATA_VALID` and `NEEDS_CSUM`, which a TUN
    /// device with checksum offload sets). Such a segment may also be larger than the
    /// MSS: the kernel's segmentation offload hands over several segments' payload in one.
    /// Everything else is checked as by [`Shard::handle_packet`], the IPv4 header checksum
    /// included.
    ///
    /// ```
    /// use ringtcp_transport::{Config, Instant, Secret, Shard};
    /// use std::net::{IpAddr, Ipv4Addr};
    ///
    /// let (a, b) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
    /// let mut server = Shard::new(Config::default(), &[a], Secret([1; 16]));
    /// let mut client = Shard::new(Config::default(), &[b], Secret([2; 16]));
    /// server.listen("10.0.0.1:80".parse().unwrap(), 8).unwrap();
    /// client.connect(Instant::ZERO, "10.0.0.1:80".parse().unwrap(), None).unwrap();
    /// let mut syn = [0u8; 1600];
    /// let n = client.poll_transmit(Instant::ZERO, &mut syn).unwrap();
    /// // Zero the TCP checksum, as a partial checksum would leave a field the device fills.
    /// syn[36..38].copy_from_slice(&[0, 0]);
    /// server.handle_packet(Instant::ZERO, &syn[..n]);
    /// assert_eq!(server.drops().bad_checksum, 1);
    /// server.handle_offloaded_packet(Instant::ZERO, &syn[..n]);
    /// assert!(server.poll_transmit(Instant::ZERO, &mut [0u8; 1600]).is_some(), "SYN-ACK");
    /// ```
    pub fn handle_offloaded_packet(&mut self, now: Instant, bytes: &[u8]) {
        self.handle_ip(now, bytes, true);
    }

    /// Tells the shard that a packet it sent could not leave: the link layer found no
    /// neighbour for its next hop. A connection attempt it belongs to fails with
    /// `HostUnreachable` (as on Linux, where the failed resolution comes back as a local
    /// ICMP host unreachable); an established connection keeps the error as its soft
    /// error and goes on retransmitting. The packet is one this shard emitted; anything
    /// else is a counted drop.
    ///
    /// ```
    /// use ringtcp_transport::{Config, Error, Event, Instant, Secret, Shard};
    /// use std::net::{IpAddr, Ipv4Addr};
    ///
    /// let me = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    /// let mut shard = Shard::new(Config::default(), &[me], Secret([2; 16]));
    /// let s = shard.connect(Instant::ZERO, "10.0.0.9:80".parse().unwrap(), None).unwrap();
    /// let mut syn = [0u8; 1600];
    /// let n = shard.poll_transmit(Instant::ZERO, &mut syn).unwrap();
    /// shard.handle_undeliverable(Instant::ZERO, &syn[..n]);
    /// assert_eq!(shard.error(s), Ok(Some(Error::HostUnreachable)));
    /// ```
    pub fn handle_undeliverable(&mut self, now: Instant, packet: &[u8]) {
        let quoted = match packet.first().map(|b| b >> 4) {
            Some(4) => Ipv4Packet::parse(packet).ok().filter(|p| p.protocol() == PROTO_TCP).map(|p| (IpAddr::V4(p.src()), IpAddr::V4(p.dst()), p.payload())),
            Some(6) => Ipv6Packet::parse(packet).ok().filter(|p| p.next_header() == PROTO_TCP).map(|p| (IpAddr::V6(p.src()), IpAddr::V6(p.dst()), p.payload())),
            _ => None,
        };
        match quoted {
            Some((src, dst, transport)) => self.icmp_error(now, src, dst, transport, IcmpError::NoNeighbour),
            None => self.drops.icmp_unmatched += 1,
        }
    }

    /// Processes the packet `block[packet]` as [`Shard::handle_packet`] (or, with
    /// `checksum_vouched`, as [`Shard::handle_offloaded_packet`]) does, where the shard may
    /// keep the memory: a large in-order payload (at least 32 KB, a super-packet the
    /// kernel coalesced) then becomes part of the connection's receive buffer as it lies
    /// in the block, without a copy. Returns the block unless it was kept; a kept one goes
    /// back to the [buffer pool](crate::buffer_pool) once the application has read it, so
    /// blocks from [`take_block`](crate::buffer_pool::take_block) are reused.
    ///
    /// ```
    /// use ringtcp_transport::buffer_pool::take_block;
    /// use ringtcp_transport::{Config, Instant, Secret, Shard};
    /// use std::net::{IpAddr, Ipv4Addr};
    ///
    /// let (a, b) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
    /// let mut server = Shard::new(Config::default(), &[a], Secret([1; 16]));
    /// let mut client = Shard::new(Config::default(), &[b], Secret([2; 16]));
    /// server.listen("10.0.0.1:80".parse().unwrap(), 8).unwrap();
    /// client.connect(Instant::ZERO, "10.0.0.1:80".parse().unwrap(), None).unwrap();
    /// // A device reads into a pooled block, after a header of its own (12 bytes here).
    /// let mut block = take_block();
    /// let n = client.poll_transmit(Instant::ZERO, &mut block[12..]).unwrap();
    /// // A SYN has no payload to keep: the block comes back for the next read.
    /// let back = server.handle_packet_in(Instant::ZERO, block, 12..12 + n, false);
    /// assert!(back.is_some());
    /// assert!(server.poll_transmit(Instant::ZERO, &mut [0u8; 1600]).is_some(), "SYN-ACK");
    /// ```
    pub fn handle_packet_in(&mut self, now: Instant, block: Box<[u8]>, packet: core::ops::Range<usize>, checksum_vouched: bool) -> Option<Box<[u8]>> {
        let Some(bytes) = block.get(packet.clone()) else {
            self.drops.truncated += 1;
            return Some(block);
        };
        self.adopt.begin(bytes);
        self.handle_ip(now, bytes, checksum_vouched);
        let Some(r) = self.adopt.end() else { return Some(block) };
        // The packet is processed and nothing borrows the block: hand it to the receive
        // buffer that counted its payload (a connection that ended meanwhile took the
        // reservation with it, and the block comes back).
        let range = packet.start + r.offset..packet.start + r.offset + r.len;
        let (idx, generation) = r.conn;
        let kept = match self.conns.get_mut(idx as usize) {
            Some(slot) if slot.generation() == generation => slot.fulfil_rx(block, range),
            _ => Err(block),
        };
        match kept {
            Ok(()) => {
                self.account(idx);
                None
            }
            Err(block) => Some(block),
        }
    }

    fn handle_ip(&mut self, now: Instant, bytes: &[u8], checksum_vouched: bool) {
        self.last_now = now;
        self.stats.ip_in_receives += 1;
        match bytes.first().map(|b| b >> 4) {
            Some(6) => self.handle_ipv6(now, bytes, checksum_vouched),
            _ => self.handle_ipv4(now, bytes, checksum_vouched),
        }
    }

    /// The TCP segment in an IP payload, its checksum verified unless the device did.
    fn tcp_segment<'a>(payload: &'a [u8], src: IpAddr, dst: IpAddr, checksum_vouched: bool) -> Result<TcpSegment<'a>, WireError> {
        if checksum_vouched { TcpSegment::parse_offloaded(payload) } else { TcpSegment::parse(payload, src, dst) }
    }

    fn handle_ipv4(&mut self, now: Instant, bytes: &[u8], checksum_vouched: bool) {
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
            PROTO_TCP => match Self::tcp_segment(ip.payload(), IpAddr::V4(src), IpAddr::V4(dst), checksum_vouched) {
                Ok(seg) => self.on_tcp(now, IpAddr::V4(dst), IpAddr::V4(src), &seg),
                Err(e) => self.count_wire_error(e),
            },
            PROTO_ICMP => match IcmpMessage::parse(ip.payload()) {
                Ok(m) => self.on_icmp(now, src, dst, m),
                Err(e) => self.count_wire_error(e),
            },
            _ => self.drops.unknown_protocol += 1,
        }
    }

    fn handle_ipv6(&mut self, now: Instant, bytes: &[u8], checksum_vouched: bool) {
        self.stats.ip6_in_receives += 1;
        let ip = match Ipv6Packet::parse(bytes) {
            Ok(p) => p,
            Err(e) => return self.count_wire_error(e),
        };
        let (src, dst) = (ip.src(), ip.dst());
        if !self.is_local(IpAddr::V6(dst)) {
            self.drops.not_for_us += 1;
            return;
        }
        // A multicast or unspecified source cannot be a TCP peer, and an IPv4-mapped one
        // on the wire is a spoof (RFC 4291 §2.5.5.2 keeps those addresses for the API).
        if src.is_multicast() || src.is_unspecified() || src.to_ipv4_mapped().is_some() {
            self.drops.malformed += 1;
            return;
        }
        match ip.next_header() {
            PROTO_TCP => match Self::tcp_segment(ip.payload(), IpAddr::V6(src), IpAddr::V6(dst), checksum_vouched) {
                Ok(seg) => self.on_tcp(now, IpAddr::V6(dst), IpAddr::V6(src), &seg),
                Err(e) => self.count_wire_error(e),
            },
            PROTO_ICMPV6 => match Icmpv6Message::parse(ip.payload(), src, dst) {
                Ok(m) => self.on_icmpv6(now, src, dst, m),
                Err(e) => self.count_wire_error(e),
            },
            _ => self.drops.unknown_protocol += 1,
        }
    }

    pub(super) fn count_wire_error(&mut self, e: WireError) {
        let d = &mut self.drops;
        match e {
            WireError::Truncated => d.truncated += 1,
            WireError::Malformed => d.malformed += 1,
            WireError::ExtensionHeader => d.extension_header += 1,
            WireError::BadIpChecksum => d.bad_ip_checksum += 1,
            WireError::BadChecksum => d.bad_checksum += 1,
            WireError::Fragment => d.fragment += 1,
            WireError::BadOption => d.bad_option += 1,
            WireError::UnknownProtocol => d.unknown_protocol += 1,
        }
    }

    fn on_tcp(&mut self, now: Instant, dst: IpAddr, src: IpAddr, seg: &TcpSegment<'_>) {
        self.stats.tcp_in_segs += 1;
        let local = SocketAddr::new(dst, seg.header.dst_port);
        let remote = SocketAddr::new(src, seg.header.src_port);
        if let Some(idx) = self.table.get(&ConnKey::new(local, remote)) {
            if let Some(l) = self.third_ack_blocked(idx, &seg.header) {
                // Linux's `tcp_check_req` on a full accept queue: drop the ACK and keep the
                // embryonic connection; its SYN-ACK retransmission asks the peer again.
                self.drops.accept_queue_full += 1;
                self.listener_event(l);
                return;
            }
            if let Some(slot) = self.conns.get(idx as usize) {
                self.adopt.to_connection((idx, slot.generation()));
            }
            self.with_conn(now, idx, |c, ctx| c.on_segment(ctx, seg));
            return;
        }
        if self.on_record_segment(now, local, remote, seg) {
            return;
        }
        let h = &seg.header;
        if let Some(l) = self.find_listener(local) {
            self.on_listener_segment(now, l, local, remote, seg);
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

    /// A RST for a segment nothing owns, within the shard's `rst_limit` per second: a
    /// spoofed flood is neither amplified nor reflected at its own rate.
    pub(super) fn queue_rst(&mut self, local: SocketAddr, remote: SocketAddr, seq: SeqNum, ack: Option<SeqNum>) {
        if self.rst_limiter.allow(self.last_now, self.cfg.rst_limit) {
            self.push_control(Control::Rst { local, remote, seq, ack });
        } else {
            self.drops.rst_rate_limited += 1;
        }
    }

    pub(super) fn push_control(&mut self, c: Control) {
        if self.control.len() >= self.cfg.control_queue {
            self.drops.control_queue_full += 1;
        } else {
            self.control.push_back(c);
        }
    }

    /// An echo request answered with at most what fits in one MTU.
    fn echo(&mut self, src: IpAddr, dst: IpAddr, ident: u16, seq: u16, data: &[u8]) {
        let room = usize::from(self.cfg.mtu).saturating_sub(crate::wire::ip_header_len(src) + ECHO_HEADER_LEN);
        let data = data[..data.len().min(room)].to_vec();
        self.push_control(Control::EchoReply { src: dst, dst: src, ident, seq, data });
    }

    fn on_icmp(&mut self, now: Instant, src: Ipv4Addr, dst: Ipv4Addr, m: IcmpMessage<'_>) {
        self.stats.icmp_in += 1;
        match m {
            IcmpMessage::EchoRequest { ident, seq, data } => self.echo(IpAddr::V4(src), IpAddr::V4(dst), ident, seq, data),
            IcmpMessage::Unreachable(u) | IcmpMessage::TimeExceeded(u) => {
                if u.protocol != PROTO_TCP || u.src != dst {
                    self.drops.icmp_unmatched += 1;
                    return;
                }
                let err = match m {
                    // RFC 1191: fragmentation needed; keep at least the 576-byte datagram
                    // every host must accept.
                    IcmpMessage::Unreachable(_) if u.code == 4 => IcmpError::PathMtu(u32::from(u.next_hop_mtu).max(576)),
                    // Protocol and port unreachable refuse a connection attempt.
                    IcmpMessage::Unreachable(_) if matches!(u.code, 2 | 3) => IcmpError::Refused,
                    _ => IcmpError::Soft,
                };
                self.icmp_error(now, IpAddr::V4(u.src), IpAddr::V4(u.dst), u.transport, err);
            }
            IcmpMessage::EchoReply { .. } | IcmpMessage::Other { .. } => {}
        }
    }

    fn on_icmpv6(&mut self, now: Instant, src: Ipv6Addr, dst: Ipv6Addr, m: Icmpv6Message<'_>) {
        self.stats.icmp_in += 1;
        match m {
            Icmpv6Message::EchoRequest { ident, seq, data } => self.echo(IpAddr::V6(src), IpAddr::V6(dst), ident, seq, data),
            Icmpv6Message::Error(e) => {
                if e.next_header != PROTO_TCP || e.src != dst {
                    self.drops.icmp_unmatched += 1;
                    return;
                }
                let err = match e.kind {
                    // RFC 8201 §4: never below the IPv6 minimum link MTU.
                    Icmpv6ErrorKind::PacketTooBig(mtu) => {
                        IcmpError::PathMtu(mtu.max(u32::from(crate::wire::IPV6_MIN_MTU)))
                    }
                    // RFC 4443 §3.1 code 4 is port unreachable (Linux: ECONNREFUSED, fatal).
                    Icmpv6ErrorKind::Unreachable(4) => IcmpError::Refused,
                    _ => IcmpError::Soft,
                };
                self.icmp_error(now, IpAddr::V6(e.src), IpAddr::V6(e.dst), e.transport, err);
            }
            Icmpv6Message::EchoReply { .. } | Icmpv6Message::Other { .. } => {}
        }
    }

    /// An ICMP error quoting a segment from `quoted_src` (us) to `quoted_dst`: handed to
    /// the connection it names, which checks the quoted sequence number (RFC 5927 §4.1).
    fn icmp_error(&mut self, now: Instant, quoted_src: IpAddr, quoted_dst: IpAddr, transport: &[u8], err: IcmpError) {
        let Some((sport, dport, seq)) = TcpSegment::quoted_ports_seq(transport) else {
            self.drops.icmp_unmatched += 1;
            return;
        };
        let key = ConnKey::new(SocketAddr::new(quoted_src, sport), SocketAddr::new(quoted_dst, dport));
        let Some(idx) = self.table.get(&key) else {
            self.drops.icmp_unmatched += 1;
            return;
        };
        self.with_conn(now, idx, |c, ctx| c.on_icmp_error(ctx, err, seq));
    }
}

