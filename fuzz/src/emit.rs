//! Building the packets the targets inject, and checking the ones the stack sends.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use arbitrary::Arbitrary;
use ringtcp_transport::wire::{
    FastOpenOption, IPV4_HEADER_LEN, IcmpMessage, Icmpv6Message, Ipv4Packet, Ipv6Packet, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, SackBlocks,
    TcpFlags, TcpHeader, TcpOptions, TcpSegment, Timestamps, checksum, emit_ip_header, fill_icmpv6_checksum, fill_tcp_checksum,
    fill_tcp_checksum_v4, ip_header_len,
};
use ringtcp_transport::SeqNum;

/// A number given relative to what the receiver expects, so that generated segments land
/// in and around the window instead of anywhere in 2^32.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub(crate) enum Rel {
    Exact,
    Ahead(u16),
    Behind(u16),
    Far(u32),
}

impl Rel {
    pub(crate) fn from(self, base: u32) -> u32 {
        match self {
            Rel::Exact => base,
            Rel::Ahead(d) => base.wrapping_add(u32::from(d)),
            Rel::Behind(d) => base.wrapping_sub(u32::from(d)),
            Rel::Far(v) => v,
        }
    }
}

/// One segment as a peer (honest, confused or hostile) might send it.
#[derive(Arbitrary, Clone, Debug)]
pub(crate) struct SegSpec {
    pub(crate) flags: u8,
    pub(crate) seq: Rel,
    pub(crate) ack: Rel,
    pub(crate) window: u16,
    pub(crate) mss: Option<u16>,
    pub(crate) wscale: Option<u8>,
    pub(crate) sack_permitted: bool,
    /// A Fast Open option: experimental form, cookie length (0 to 16), cookie byte.
    pub(crate) fast_open: Option<(bool, u8, u8)>,
    /// TSval relative to the peer's clock, and whether TSecr echoes ours.
    pub(crate) ts: Option<(Rel, bool)>,
    pub(crate) sack: Vec<(Rel, u16)>,
    pub(crate) payload: u16,
    pub(crate) fill: u8,
}

/// What the peer knows of one 4-tuple: the next sequence numbers each way and the last
/// timestamps seen.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Expect {
    pub(crate) peer_nxt: u32,
    pub(crate) our_nxt: u32,
    pub(crate) peer_ts: u32,
    pub(crate) our_ts: u32,
}

impl SegSpec {
    pub(crate) fn header(&self, from: SocketAddr, to: SocketAddr, e: &Expect) -> (TcpHeader, Vec<u8>) {
        let mut sack = SackBlocks::default();
        for &(l, len) in self.sack.iter().take(4) {
            let left = l.from(e.our_nxt);
            sack.push(SeqNum(left), SeqNum(left.wrapping_add(u32::from(len))));
        }
        let options = TcpOptions {
            mss: self.mss,
            window_scale: self.wscale,
            sack_permitted: self.sack_permitted,
            timestamps: self.ts.map(|(val, echo)| Timestamps { val: val.from(e.peer_ts), ecr: if echo { e.our_ts } else { 0 } }),
            sack,
            fast_open: self.fast_open.and_then(|(exp, len, byte)| FastOpenOption::new(exp, &[byte; 16][..usize::from(len % 17)])),
        };
        let h = TcpHeader {
            src_port: from.port(),
            dst_port: to.port(),
            seq: SeqNum(self.seq.from(e.peer_nxt)),
            ack: SeqNum(self.ack.from(e.our_nxt)),
            flags: TcpFlags(self.flags & 0x3f),
            window: self.window,
            urgent: 0,
            options,
        };
        let payload = vec![self.fill; usize::from(self.payload % 1600)];
        (h, payload)
    }
}

/// An IPv4 or IPv6 packet carrying `h` and `payload`, checksums filled in.
pub(crate) fn tcp_packet(from: SocketAddr, to: SocketAddr, h: &TcpHeader, payload: &[u8]) -> Vec<u8> {
    let hlen = h.wire_len();
    let ip_len = ip_header_len(to.ip());
    let mut buf = vec![0u8; ip_len + hlen + payload.len()];
    emit_ip_header(&mut buf, from.ip(), to.ip(), PROTO_TCP, hlen + payload.len(), 64, 0, 0).expect("one family");
    h.emit(&mut buf[ip_len..]);
    buf[ip_len + hlen..].copy_from_slice(payload);
    fill_tcp_checksum(&mut buf[ip_len..], from.ip(), to.ip());
    buf
}

/// Makes raw bytes pass the checksums where their lengths allow, so that mutations reach
/// the code behind them (the headers' own length checks still apply).
pub(crate) fn fix_checksums(p: &mut [u8]) {
    if p.first().is_some_and(|b| b >> 4 == 6) {
        return fix_checksums_v6(p);
    }
    if p.len() < IPV4_HEADER_LEN || p[0] >> 4 != 4 {
        return;
    }
    let ihl = usize::from(p[0] & 0xf) * 4;
    if ihl < IPV4_HEADER_LEN || ihl > p.len() {
        return;
    }
    p[10..12].copy_from_slice(&[0, 0]);
    let c = checksum::checksum(&p[..ihl]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    let total = usize::from(u16::from_be_bytes([p[2], p[3]])).min(p.len());
    if total <= ihl {
        return;
    }
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let proto = p[9];
    let body = &mut p[ihl..total];
    match proto {
        PROTO_TCP if body.len() >= 20 => fill_tcp_checksum_v4(body, src, dst),
        PROTO_ICMP if body.len() >= 8 => {
            body[2..4].copy_from_slice(&[0, 0]);
            let c = checksum::checksum(body);
            body[2..4].copy_from_slice(&c.to_be_bytes());
        }
        _ => {}
    }
}

/// The IPv6 form of [`fix_checksums`]: the TCP or ICMPv6 checksum over the pseudo-header,
/// where the extension headers walk to one.
fn fix_checksums_v6(p: &mut [u8]) {
    let Ok(ip) = Ipv6Packet::parse(p) else { return };
    let (src, dst, nh) = (ip.src(), ip.dst(), ip.next_header());
    let (start, len) = (ip.payload().as_ptr() as usize - p.as_ptr() as usize, ip.payload().len());
    let body = &mut p[start..start + len];
    match nh {
        PROTO_TCP if body.len() >= 20 => fill_tcp_checksum(body, src.into(), dst.into()),
        PROTO_ICMPV6 if body.len() >= 8 => fill_icmpv6_checksum(body, src, dst),
        _ => {}
    }
}

/// A segment the stack sent, parsed.
#[derive(Clone, Debug)]
pub(crate) struct Sent {
    pub(crate) src: SocketAddr,
    pub(crate) dst: SocketAddr,
    pub(crate) header: TcpHeader,
    pub(crate) len: usize,
}

/// Checks that a packet the stack sent is well formed, from one of `ours`; returns it if
/// it is TCP.
pub(crate) fn check_sent(bytes: &[u8], ours: &[IpAddr]) -> Option<Sent> {
    let (src, dst, proto, payload) = if bytes.first().is_some_and(|b| b >> 4 == 6) {
        let ip = Ipv6Packet::parse(bytes).unwrap_or_else(|e| panic!("the stack sent a bad IPv6 packet ({e}): {bytes:02x?}"));
        assert_eq!(ip.payload().len() + 40, bytes.len(), "the stack sent IPv6 extension headers or padding");
        (IpAddr::V6(ip.src()), IpAddr::V6(ip.dst()), ip.next_header(), ip.payload())
    } else {
        let ip = Ipv4Packet::parse(bytes).unwrap_or_else(|e| panic!("the stack sent a bad IPv4 packet ({e}): {bytes:02x?}"));
        (IpAddr::V4(ip.src()), IpAddr::V4(ip.dst()), ip.protocol(), ip.payload())
    };
    assert!(ours.contains(&src), "sent from {src}, not one of our addresses");
    assert_eq!(src.is_ipv4(), dst.is_ipv4(), "one family per packet");
    match proto {
        PROTO_TCP => {
            let seg = TcpSegment::parse(payload, src, dst).unwrap_or_else(|e| panic!("the stack sent a bad TCP segment ({e}): {bytes:02x?}"));
            let h = seg.header;
            assert!(h.window == 0 || !h.flags.rst() || h.flags.ack(), "a bare RST with a window");
            Some(Sent { src: SocketAddr::new(src, h.src_port), dst: SocketAddr::new(dst, h.dst_port), header: h, len: seg.seq_len() })
        }
        PROTO_ICMP if src.is_ipv4() => {
            IcmpMessage::parse(payload).unwrap_or_else(|e| panic!("the stack sent a bad ICMP message ({e})"));
            None
        }
        PROTO_ICMPV6 => {
            let (IpAddr::V6(s), IpAddr::V6(d)) = (src, dst) else { panic!("ICMPv6 over IPv4") };
            Icmpv6Message::parse(payload, s, d).unwrap_or_else(|e| panic!("the stack sent a bad ICMPv6 message ({e})"));
            None
        }
        p => panic!("the stack sent IP protocol {p}"),
    }
}
