//! The wire parsers: raw bytes never panic them, and whatever parses re-emits to the same
//! bytes' meaning (parse → emit → parse gives the same header, options and payload).
//! Arbitrary headers go the other way: emit → parse gives them back (SACK blocks beyond
//! what 40 option bytes hold are left out, as `TcpHeader::emit` documents).

use std::net::{Ipv4Addr, Ipv6Addr};

use arbitrary::{Arbitrary, Unstructured};
use ringtcp_transport::SeqNum;
use ringtcp_transport::wire::{
    FastOpenOption, IPV4_HEADER_LEN, IPV6_HEADER_LEN, IcmpMessage, Icmpv6Message, Ipv4Packet, Ipv6Packet, PROTO_ICMP, PROTO_ICMPV6,
    PROTO_TCP, SackBlocks, TcpFlags, TcpHeader, TcpOptions, TcpSegment, Timestamps, emit_echo_reply, emit_echo_reply_v6,
    emit_ipv4_header, emit_ipv6_header, fill_tcp_checksum_v4,
};

use crate::emit::fix_checksums;

const A: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 3);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);
const A6: Ipv6Addr = Ipv6Addr::new(0xfd01, 0, 0, 0, 0, 0, 0, 3);
const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7);

#[derive(Arbitrary, Debug)]
struct HeaderInput {
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    urgent: u16,
    mss: Option<u16>,
    wscale: Option<u8>,
    sack_permitted: bool,
    ts: Option<(u32, u32)>,
    /// TCP Fast Open: experimental form, cookie length (0 to 16), cookie byte.
    fast_open: Option<(bool, u8, u8)>,
    sack: Vec<(u32, u32)>,
    payload: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
enum Input {
    /// Bytes as received, checked as an IPv4 packet and as a bare TCP segment / ICMP
    /// message, each once as is and once with its checksums made to pass.
    Raw(Vec<u8>),
    /// A header to emit and parse back.
    Header(HeaderInput),
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else { return };
    match input {
        Input::Raw(bytes) => {
            raw(&bytes);
            let mut fixed = bytes.clone();
            fix_checksums(&mut fixed);
            raw(&fixed);
            let mut seg = bytes.clone();
            if seg.len() >= 20 {
                fill_tcp_checksum_v4(&mut seg, A, B);
                if let Ok(s) = TcpSegment::parse_v4(&seg, A, B) {
                    round_trip_tcp(&s.header, s.payload);
                }
            }
        }
        Input::Header(h) => header(h),
    }
}

fn raw(bytes: &[u8]) {
    let _ = TcpSegment::parse_v4(bytes, A, B);
    let _ = IcmpMessage::parse(bytes);
    let _ = Icmpv6Message::parse(bytes, A6, B6);
    raw_v6(bytes);
    let Ok(ip) = Ipv4Packet::parse(bytes) else { return };
    let payload = ip.payload();
    assert!(payload.len() + IPV4_HEADER_LEN <= bytes.len(), "payload beyond the packet");
    // The IPv4 header re-emitted from what was parsed parses to the same.
    let mut again = vec![0u8; IPV4_HEADER_LEN + payload.len()];
    emit_ipv4_header(&mut again, ip.src(), ip.dst(), ip.protocol(), payload.len(), ip.ttl(), 0);
    again[IPV4_HEADER_LEN..].copy_from_slice(payload);
    let back = Ipv4Packet::parse(&again).expect("a re-emitted IPv4 header parses");
    assert_eq!((back.src(), back.dst(), back.protocol(), back.ttl(), back.payload()), (ip.src(), ip.dst(), ip.protocol(), ip.ttl(), payload));
    match ip.protocol() {
        PROTO_TCP => {
            if let Ok(s) = TcpSegment::parse_v4(payload, ip.src(), ip.dst()) {
                round_trip_tcp(&s.header, s.payload);
            }
        }
        PROTO_ICMP => {
            if let Ok(IcmpMessage::EchoRequest { ident, seq, data }) = IcmpMessage::parse(payload) {
                let mut buf = vec![0u8; IPV4_HEADER_LEN + 8 + data.len()];
                let n = emit_echo_reply(&mut buf, ip.dst(), ip.src(), ident, seq, data).expect("room for the reply");
                let reply = Ipv4Packet::parse(&buf[..n]).expect("our echo reply parses");
                assert_eq!(IcmpMessage::parse(reply.payload()), Ok(IcmpMessage::EchoReply { ident, seq }));
            }
        }
        _ => {}
    }
}

/// The IPv6 side of [`raw`]: whatever parses (the extension-header walk included) has its
/// upper layer inside the packet, and a fixed header re-emitted around that upper layer
/// parses to the same addresses, protocol, hop limit and bytes.
fn raw_v6(bytes: &[u8]) {
    let Ok(ip) = Ipv6Packet::parse(bytes) else { return };
    let payload = ip.payload();
    let start = payload.as_ptr() as usize - bytes.as_ptr() as usize;
    assert!(start >= IPV6_HEADER_LEN && start + payload.len() <= bytes.len(), "upper layer outside the packet");
    let mut again = vec![0u8; IPV6_HEADER_LEN + payload.len()];
    emit_ipv6_header(&mut again, ip.src(), ip.dst(), ip.next_header(), payload.len(), ip.hop_limit());
    again[IPV6_HEADER_LEN..].copy_from_slice(payload);
    let back = Ipv6Packet::parse(&again).expect("a re-emitted IPv6 header parses");
    assert_eq!(
        (back.src(), back.dst(), back.next_header(), back.hop_limit(), back.payload()),
        (ip.src(), ip.dst(), ip.next_header(), ip.hop_limit(), payload)
    );
    match ip.next_header() {
        PROTO_TCP => {
            if let Ok(s) = TcpSegment::parse_v6(payload, ip.src(), ip.dst()) {
                round_trip_tcp(&s.header, s.payload);
            }
        }
        PROTO_ICMPV6 => {
            if let Ok(Icmpv6Message::EchoRequest { ident, seq, data }) = Icmpv6Message::parse(payload, ip.src(), ip.dst()) {
                let mut buf = vec![0u8; IPV6_HEADER_LEN + 8 + data.len()];
                let n = emit_echo_reply_v6(&mut buf, ip.dst(), ip.src(), ident, seq, data).expect("room for the reply");
                let reply = Ipv6Packet::parse(&buf[..n]).expect("our echo reply parses");
                assert_eq!(Icmpv6Message::parse(reply.payload(), reply.src(), reply.dst()), Ok(Icmpv6Message::EchoReply { ident, seq }));
            }
        }
        _ => {}
    }
}

/// Emits `h` with `payload`, parses it back, and expects `h` again, with the SACK blocks
/// that fit beside the other options in 40 bytes (the first ones).
fn round_trip_tcp(h: &TcpHeader, payload: &[u8]) {
    let hlen = h.wire_len();
    assert!(hlen <= 60, "a {hlen}-byte TCP header");
    let mut buf = vec![0u8; hlen + payload.len()];
    assert_eq!(h.emit(&mut buf), hlen);
    buf[hlen..].copy_from_slice(payload);
    fill_tcp_checksum_v4(&mut buf, A, B);
    let back = TcpSegment::parse_v4(&buf, A, B).unwrap_or_else(|e| panic!("our own segment does not parse ({e}): {h:?}"));
    let mut want = *h;
    let fixed = TcpOptions { sack: SackBlocks::default(), ..h.options }.wire_len();
    let fit = if h.options.sack.is_empty() { 0 } else { h.options.sack.len().min((40 - fixed).saturating_sub(4) / 8) };
    want.options.sack.truncate(fit);
    assert_eq!(back.header, want, "round trip changed the header");
    assert_eq!(back.payload, payload);
}

fn header(h: HeaderInput) {
    let mut sack = SackBlocks::default();
    for &(l, r) in h.sack.iter().take(4) {
        sack.push(SeqNum(l), SeqNum(r));
    }
    let header = TcpHeader {
        src_port: h.src_port,
        dst_port: h.dst_port,
        seq: SeqNum(h.seq),
        ack: SeqNum(h.ack),
        flags: TcpFlags(h.flags & 0x3f),
        window: h.window,
        urgent: h.urgent,
        options: TcpOptions {
            mss: h.mss,
            window_scale: h.wscale,
            sack_permitted: h.sack_permitted,
            timestamps: h.ts.map(|(val, ecr)| Timestamps { val, ecr }),
            sack,
            fast_open: h.fast_open.and_then(|(exp, len, byte)| FastOpenOption::new(exp, &[byte; 16][..usize::from(len % 17)])),
        },
    };
    let payload = &h.payload[..h.payload.len().min(1460)];
    round_trip_tcp(&header, payload);
    // The whole packet, IPv4 header included.
    let hlen = header.wire_len();
    let mut buf = vec![0u8; IPV4_HEADER_LEN + hlen + payload.len()];
    emit_ipv4_header(&mut buf, A, B, PROTO_TCP, hlen + payload.len(), 64, 1);
    header.emit(&mut buf[IPV4_HEADER_LEN..]);
    buf[IPV4_HEADER_LEN + hlen..].copy_from_slice(payload);
    fill_tcp_checksum_v4(&mut buf[IPV4_HEADER_LEN..], A, B);
    let ip = Ipv4Packet::parse(&buf).expect("our packet parses");
    let seg = TcpSegment::parse_v4(ip.payload(), ip.src(), ip.dst()).expect("our segment parses");
    assert_eq!(seg.payload, payload);
    assert_eq!(seg.header.seq, header.seq);
}
