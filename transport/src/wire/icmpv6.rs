//! ICMPv6 (RFC 4443): echo, and the errors that quote a packet we sent (destination
//! unreachable, packet too big, time exceeded, parameter problem), so they can be matched
//! to a connection. Unlike ICMPv4, the checksum covers the IPv6 pseudo-header.

use std::net::Ipv6Addr;

use super::WireError;
use super::checksum;
use super::ipv6::{IPV6_HEADER_LEN, PROTO_ICMPV6, emit_ipv6_header};

const TYPE_UNREACHABLE: u8 = 1;
const TYPE_PACKET_TOO_BIG: u8 = 2;
const TYPE_TIME_EXCEEDED: u8 = 3;
const TYPE_PARAMETER_PROBLEM: u8 = 4;
const TYPE_ECHO_REQUEST: u8 = 128;
const TYPE_ECHO_REPLY: u8 = 129;
const ICMPV6_HEADER_LEN: usize = 8;
/// RFC 4443 §2.4(c): an error message never exceeds the minimum IPv6 MTU.
pub const IPV6_MIN_MTU: u16 = 1280;

/// The kind of an ICMPv6 error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Icmpv6ErrorKind {
    /// Destination unreachable (type 1) with its code (1 administratively prohibited,
    /// 3 address unreachable, 4 port unreachable, ...).
    Unreachable(u8),
    /// Packet too big (type 2) with the MTU of the next hop (RFC 8201).
    PacketTooBig(u32),
    /// Time exceeded (type 3).
    TimeExceeded,
    /// Parameter problem (type 4) with its code.
    ParameterProblem(u8),
}

/// An ICMPv6 error and the packet it refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icmpv6Error<'a> {
    /// What went wrong.
    pub kind: Icmpv6ErrorKind,
    /// Source of the quoted packet (our address, for packets we sent).
    pub src: Ipv6Addr,
    /// Destination of the quoted packet.
    pub dst: Ipv6Addr,
    /// Next header of the quoted packet's fixed header (this stack sends no extension
    /// headers, so for its own packets this is the transport protocol).
    pub next_header: u8,
    /// The bytes after the quoted fixed header (at least 8).
    pub transport: &'a [u8],
}

/// A validated ICMPv6 message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Icmpv6Message<'a> {
    /// Echo request (ping).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Data to echo back.
        data: &'a [u8],
    },
    /// Echo reply.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
    },
    /// An error quoting a packet.
    Error(Icmpv6Error<'a>),
    /// Any other type (neighbour discovery, MLD, ...), ignored here.
    Other {
        /// ICMPv6 type.
        ty: u8,
        /// ICMPv6 code.
        code: u8,
    },
}

impl<'a> Icmpv6Message<'a> {
    /// Validates an ICMPv6 message carried from `src` to `dst`.
    ///
    /// ```
    /// use ringtcp_transport::wire::{Icmpv6Message, Ipv6Packet, emit_echo_reply_v6};
    /// let (a, b) = ("fd77::2".parse().unwrap(), "fd77::1".parse().unwrap());
    /// let mut buf = [0u8; 64];
    /// let n = emit_echo_reply_v6(&mut buf, a, b, 7, 1, b"ping").unwrap();
    /// let p = Ipv6Packet::parse(&buf[..n]).unwrap();
    /// let m = Icmpv6Message::parse(p.payload(), p.src(), p.dst()).unwrap();
    /// assert_eq!(m, Icmpv6Message::EchoReply { ident: 7, seq: 1 });
    /// ```
    pub fn parse(bytes: &'a [u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<Self, WireError> {
        if bytes.len() < ICMPV6_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let acc = checksum::pseudo_header_v6(src, dst, PROTO_ICMPV6, bytes.len());
        if checksum::finish(checksum::accumulate(acc, bytes)) != 0 {
            return Err(WireError::BadChecksum);
        }
        let (ty, code) = (bytes[0], bytes[1]);
        let rest = [bytes[4], bytes[5], bytes[6], bytes[7]];
        let ident = u16::from_be_bytes([rest[0], rest[1]]);
        let seq = u16::from_be_bytes([rest[2], rest[3]]);
        let kind = match ty {
            TYPE_ECHO_REQUEST => return Ok(Icmpv6Message::EchoRequest { ident, seq, data: &bytes[ICMPV6_HEADER_LEN..] }),
            TYPE_ECHO_REPLY => return Ok(Icmpv6Message::EchoReply { ident, seq }),
            TYPE_UNREACHABLE => Icmpv6ErrorKind::Unreachable(code),
            TYPE_PACKET_TOO_BIG => Icmpv6ErrorKind::PacketTooBig(u32::from_be_bytes(rest)),
            TYPE_TIME_EXCEEDED => Icmpv6ErrorKind::TimeExceeded,
            TYPE_PARAMETER_PROBLEM => Icmpv6ErrorKind::ParameterProblem(code),
            _ => return Ok(Icmpv6Message::Other { ty, code }),
        };
        // The quote: the offending packet's fixed header and at least the 8 bytes that
        // name a TCP connection (ports and sequence number).
        let quoted = &bytes[ICMPV6_HEADER_LEN..];
        if quoted.len() < IPV6_HEADER_LEN + 8 {
            return Err(WireError::Truncated);
        }
        if quoted[0] >> 4 != 6 {
            return Err(WireError::Malformed);
        }
        let addr = |at: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&quoted[at..at + 16]).unwrap_or([0; 16]));
        Ok(Icmpv6Message::Error(Icmpv6Error {
            kind,
            src: addr(8),
            dst: addr(24),
            next_header: quoted[6],
            transport: &quoted[IPV6_HEADER_LEN..],
        }))
    }
}

fn emit_icmpv6(buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, ty: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Option<usize> {
    let len = ICMPV6_HEADER_LEN + body.len();
    let total = IPV6_HEADER_LEN + len;
    if buf.len() < total {
        return None;
    }
    emit_ipv6_header(buf, src, dst, PROTO_ICMPV6, len, 64);
    let m = &mut buf[IPV6_HEADER_LEN..total];
    m[0] = ty;
    m[1] = code;
    m[4..8].copy_from_slice(&rest);
    m[8..].copy_from_slice(body);
    fill_icmpv6_checksum(m, src, dst);
    Some(total)
}

/// Computes and stores the checksum of a whole ICMPv6 message (`msg`, at least its 4-byte
/// header) carried from `src` to `dst`, over the IPv6 pseudo-header (RFC 4443 §2.3).
pub fn fill_icmpv6_checksum(msg: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) {
    msg[2..4].copy_from_slice(&[0, 0]);
    let acc = checksum::pseudo_header_v6(src, dst, PROTO_ICMPV6, msg.len());
    let c = checksum::finish(checksum::accumulate(acc, msg));
    msg[2..4].copy_from_slice(&c.to_be_bytes());
}

/// Writes a whole IPv6 echo-reply packet into `buf`; `None` if it does not fit.
pub fn emit_echo_reply_v6(buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, ident: u16, seq: u16, data: &[u8]) -> Option<usize> {
    let i = ident.to_be_bytes();
    let s = seq.to_be_bytes();
    emit_icmpv6(buf, src, dst, TYPE_ECHO_REPLY, 0, [i[0], i[1], s[0], s[1]], data)
}

/// Writes a whole ICMPv6 error packet (`kind`) quoting as much of `offending` as fits in
/// the minimum MTU (RFC 4443 §2.4(c)) into `buf`; `None` if it does not fit. Tests and
/// peers use it to play a router.
pub fn emit_icmpv6_error(buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, kind: Icmpv6ErrorKind, offending: &[u8]) -> Option<usize> {
    let room = usize::from(IPV6_MIN_MTU) - IPV6_HEADER_LEN - ICMPV6_HEADER_LEN;
    let quote = &offending[..offending.len().min(room)];
    let (ty, code, rest) = match kind {
        Icmpv6ErrorKind::Unreachable(c) => (TYPE_UNREACHABLE, c, [0; 4]),
        Icmpv6ErrorKind::PacketTooBig(mtu) => (TYPE_PACKET_TOO_BIG, 0, mtu.to_be_bytes()),
        Icmpv6ErrorKind::TimeExceeded => (TYPE_TIME_EXCEEDED, 0, [0; 4]),
        Icmpv6ErrorKind::ParameterProblem(c) => (TYPE_PARAMETER_PROBLEM, c, [0; 4]),
    };
    emit_icmpv6(buf, src, dst, ty, code, rest, quote)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Ipv6Packet, PROTO_TCP};

    const A: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1);
    const B: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 2);
    const ROUTER: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 0xfe);

    fn offending() -> Vec<u8> {
        let mut p = vec![0u8; IPV6_HEADER_LEN + 20];
        emit_ipv6_header(&mut p, A, B, PROTO_TCP, 20, 64);
        p[IPV6_HEADER_LEN..IPV6_HEADER_LEN + 8].copy_from_slice(&[0x9c, 0x40, 0, 80, 0, 0, 0, 42]);
        p
    }

    #[test]
    fn errors_round_trip_with_their_quote() {
        let mut buf = [0u8; 1280];
        for kind in [
            Icmpv6ErrorKind::Unreachable(4),
            Icmpv6ErrorKind::PacketTooBig(1400),
            Icmpv6ErrorKind::TimeExceeded,
            Icmpv6ErrorKind::ParameterProblem(1),
        ] {
            let n = emit_icmpv6_error(&mut buf, ROUTER, A, kind, &offending()).unwrap();
            let p = Ipv6Packet::parse(&buf[..n]).unwrap();
            assert_eq!(p.next_header(), PROTO_ICMPV6);
            let Icmpv6Message::Error(e) = Icmpv6Message::parse(p.payload(), p.src(), p.dst()).unwrap() else {
                panic!("not an error")
            };
            assert_eq!((e.kind, e.src, e.dst, e.next_header), (kind, A, B, PROTO_TCP));
            assert_eq!(&e.transport[..8], &[0x9c, 0x40, 0, 80, 0, 0, 0, 42]);
        }
    }

    #[test]
    fn echo_request_round_trip_and_other_types() {
        let mut buf = [0u8; 128];
        let n = emit_icmpv6(&mut buf, A, B, TYPE_ECHO_REQUEST, 0, [0, 9, 0, 3], b"data").unwrap();
        let p = Ipv6Packet::parse(&buf[..n]).unwrap();
        let m = Icmpv6Message::parse(p.payload(), A, B).unwrap();
        assert_eq!(m, Icmpv6Message::EchoRequest { ident: 9, seq: 3, data: b"data" });
        // A neighbour solicitation (135) is left to whoever does neighbour discovery.
        let n = emit_icmpv6(&mut buf, A, B, 135, 0, [0; 4], &[0; 16]).unwrap();
        let p = Ipv6Packet::parse(&buf[..n]).unwrap();
        assert_eq!(Icmpv6Message::parse(p.payload(), A, B).unwrap(), Icmpv6Message::Other { ty: 135, code: 0 });
    }

    #[test]
    fn malformed_messages_are_refused() {
        let mut buf = [0u8; 1280];
        let n = emit_icmpv6_error(&mut buf, ROUTER, A, Icmpv6ErrorKind::PacketTooBig(1300), &offending()).unwrap();
        let msg = buf[IPV6_HEADER_LEN..n].to_vec();
        // The checksum covers the pseudo-header: the same bytes from another source fail.
        assert_eq!(Icmpv6Message::parse(&msg, B, A).unwrap_err(), WireError::BadChecksum);
        assert_eq!(Icmpv6Message::parse(&msg[..7], ROUTER, A).unwrap_err(), WireError::Truncated);
        // A quote shorter than a fixed header and 8 bytes.
        let n = emit_icmpv6_error(&mut buf, ROUTER, A, Icmpv6ErrorKind::TimeExceeded, &offending()[..44]).unwrap();
        let p = Ipv6Packet::parse(&buf[..n]).unwrap();
        assert_eq!(Icmpv6Message::parse(p.payload(), ROUTER, A).unwrap_err(), WireError::Truncated);
        // A quote that is not IPv6.
        let mut v4 = offending();
        v4[0] = 0x45;
        let n = emit_icmpv6_error(&mut buf, ROUTER, A, Icmpv6ErrorKind::TimeExceeded, &v4).unwrap();
        let p = Ipv6Packet::parse(&buf[..n]).unwrap();
        assert_eq!(Icmpv6Message::parse(p.payload(), ROUTER, A).unwrap_err(), WireError::Malformed);
    }
}
