//! ICMPv4 (RFC 792): echo, and the destination-unreachable / time-exceeded errors that
//! carry the header of a packet we sent, so they can be matched to a connection.

use std::net::Ipv4Addr;

use super::WireError;
use super::checksum;
use super::ipv4::{IPV4_HEADER_LEN, PROTO_ICMP, emit_ipv4_header};

const TYPE_ECHO_REPLY: u8 = 0;
const TYPE_UNREACHABLE: u8 = 3;
const TYPE_ECHO_REQUEST: u8 = 8;
const TYPE_TIME_EXCEEDED: u8 = 11;
const ICMP_HEADER_LEN: usize = 8;

/// A destination-unreachable (or time-exceeded) error and the packet it refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unreachable<'a> {
    /// The ICMP code (2 protocol, 3 port, 4 fragmentation needed, ...).
    pub code: u8,
    /// For code 4: the next-hop MTU (RFC 1191), zero if the router did not say.
    pub next_hop_mtu: u16,
    /// Source of the quoted packet (our address, for packets we sent).
    pub src: Ipv4Addr,
    /// Destination of the quoted packet.
    pub dst: Ipv4Addr,
    /// IP protocol of the quoted packet.
    pub protocol: u8,
    /// The first bytes (at least 8) of the quoted transport header.
    pub transport: &'a [u8],
}

/// A validated ICMPv4 message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpMessage<'a> {
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
    /// Destination unreachable (type 3).
    Unreachable(Unreachable<'a>),
    /// Time exceeded (type 11): a soft error for TCP (RFC 1122 §4.2.3.9).
    TimeExceeded(Unreachable<'a>),
    /// Any other type, ignored.
    Other {
        /// ICMP type.
        ty: u8,
        /// ICMP code.
        code: u8,
    },
}

impl<'a> IcmpMessage<'a> {
    /// Validates an ICMP message (the payload of an IPv4 packet).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, WireError> {
        if bytes.len() < ICMP_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if checksum::checksum(bytes) != 0 {
            return Err(WireError::BadChecksum);
        }
        let (ty, code) = (bytes[0], bytes[1]);
        let ident = u16::from_be_bytes([bytes[4], bytes[5]]);
        let seq = u16::from_be_bytes([bytes[6], bytes[7]]);
        Ok(match ty {
            TYPE_ECHO_REQUEST => IcmpMessage::EchoRequest { ident, seq, data: &bytes[ICMP_HEADER_LEN..] },
            TYPE_ECHO_REPLY => IcmpMessage::EchoReply { ident, seq },
            TYPE_UNREACHABLE | TYPE_TIME_EXCEEDED => {
                let quoted = &bytes[ICMP_HEADER_LEN..];
                if quoted.len() < IPV4_HEADER_LEN || quoted[0] >> 4 != 4 {
                    return Err(WireError::Truncated);
                }
                let ihl = usize::from(quoted[0] & 0x0f) * 4;
                // RFC 792: the quote holds the IP header and the first 64 bits of data.
                if ihl < IPV4_HEADER_LEN || quoted.len() < ihl + 8 {
                    return Err(WireError::Truncated);
                }
                let u = Unreachable {
                    code,
                    next_hop_mtu: if ty == TYPE_UNREACHABLE { seq } else { 0 },
                    src: Ipv4Addr::new(quoted[12], quoted[13], quoted[14], quoted[15]),
                    dst: Ipv4Addr::new(quoted[16], quoted[17], quoted[18], quoted[19]),
                    protocol: quoted[9],
                    transport: &quoted[ihl..],
                };
                if ty == TYPE_UNREACHABLE { IcmpMessage::Unreachable(u) } else { IcmpMessage::TimeExceeded(u) }
            }
            _ => IcmpMessage::Other { ty, code },
        })
    }
}

fn emit_icmp(buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, ty: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Option<usize> {
    let len = ICMP_HEADER_LEN + body.len();
    let total = IPV4_HEADER_LEN + len;
    if buf.len() < total {
        return None;
    }
    emit_ipv4_header(buf, src, dst, PROTO_ICMP, len, 64, 0);
    let m = &mut buf[IPV4_HEADER_LEN..total];
    m[0] = ty;
    m[1] = code;
    m[2] = 0;
    m[3] = 0;
    m[4..8].copy_from_slice(&rest);
    m[8..].copy_from_slice(body);
    let c = checksum::checksum(m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    Some(total)
}

/// Writes a whole IPv4 echo-reply packet into `buf`; `None` if it does not fit.
pub fn emit_echo_reply(buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, ident: u16, seq: u16, data: &[u8]) -> Option<usize> {
    let i = ident.to_be_bytes();
    let s = seq.to_be_bytes();
    emit_icmp(buf, src, dst, TYPE_ECHO_REPLY, 0, [i[0], i[1], s[0], s[1]], data)
}

/// Writes a whole IPv4 destination-unreachable packet quoting `offending` (its IP header
/// and first 8 data bytes, RFC 792) into `buf`; `None` if it does not fit.
pub fn emit_unreachable(
    buf: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    code: u8,
    next_hop_mtu: u16,
    offending: &[u8],
) -> Option<usize> {
    let ihl = offending.first().map_or(IPV4_HEADER_LEN, |b| usize::from(b & 0x0f) * 4);
    let quote = &offending[..offending.len().min(ihl + 8)];
    let m = next_hop_mtu.to_be_bytes();
    emit_icmp(buf, src, dst, TYPE_UNREACHABLE, code, [0, 0, m[0], m[1]], quote)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Ipv4Packet;

    #[test]
    fn echo_and_unreachable_round_trip() {
        let (a, b) = (Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(10, 1, 0, 2));
        let mut buf = [0u8; 128];
        let n = emit_echo_reply(&mut buf, a, b, 9, 3, b"ping").unwrap();
        let p = Ipv4Packet::parse(&buf[..n]).unwrap();
        assert_eq!(IcmpMessage::parse(p.payload()).unwrap(), IcmpMessage::EchoReply { ident: 9, seq: 3 });

        let mut offending = [0u8; 40];
        emit_ipv4_header(&mut offending, b, a, 6, 20, 64, 0);
        offending[20..28].copy_from_slice(&[0x1f, 0x90, 0x9c, 0x40, 0, 0, 0, 5]);
        let n = emit_unreachable(&mut buf, a, b, 4, 1280, &offending).unwrap();
        let p = Ipv4Packet::parse(&buf[..n]).unwrap();
        match IcmpMessage::parse(p.payload()).unwrap() {
            IcmpMessage::Unreachable(u) => {
                assert_eq!((u.code, u.next_hop_mtu, u.src, u.dst, u.protocol), (4, 1280, b, a, 6));
                assert_eq!(u.transport, &[0x1f, 0x90, 0x9c, 0x40, 0, 0, 0, 5]);
            }
            other => panic!("expected unreachable, got {other:?}"),
        }
    }

    #[test]
    fn short_quote_and_bad_checksum_rejected() {
        let mut m = [3u8, 3, 0, 0, 0, 0, 0, 0, 0x45, 0, 0, 0];
        let c = checksum::checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(IcmpMessage::parse(&m).unwrap_err(), WireError::Truncated);
        m[5] ^= 1;
        assert_eq!(IcmpMessage::parse(&m).unwrap_err(), WireError::BadChecksum);
    }
}
