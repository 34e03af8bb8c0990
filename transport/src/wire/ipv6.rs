//! IPv6 header view (RFC 8200), with the extension-header chain walked to the upper-layer
//! header. The walk is bounded (each header is at least 8 bytes and at most
//! [`MAX_EXTENSION_HEADERS`] are taken), so no chain of headers makes it loop or read past
//! the packet. What a host may skip is skipped; what it must not act on is refused:
//!
//! - hop-by-hop and destination options: each option is read; unknown options whose type
//!   says "skip" (the top two bits 00) are skipped, any other unknown option discards the
//!   packet (RFC 8200 §4.2). Hop-by-hop anywhere but first is refused (§4.3);
//! - routing: ignored with Segments Left 0; otherwise the packet is not finally for us and
//!   this host does not forward (§4.4);
//! - fragment: an atomic fragment (offset 0, no more fragments) is processed as a whole
//!   packet (RFC 6946); real fragments are refused, the stack does not reassemble (it never
//!   sends more than the path MTU);
//! - ESP, AH, No Next Header and anything unknown end the walk as an unknown protocol.

use std::net::Ipv6Addr;

use super::WireError;

/// Length of the fixed IPv6 header, which is all this stack emits.
pub const IPV6_HEADER_LEN: usize = 40;
/// Next-header value of ICMPv6.
pub const PROTO_ICMPV6: u8 = 58;
/// Extension headers walked at most before the packet is refused.
pub const MAX_EXTENSION_HEADERS: usize = 8;

const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const DESTINATION_OPTIONS: u8 = 60;

/// A validated IPv6 packet: version and lengths checked, extension headers walked.
///
/// ```
/// use ringtcp_transport::wire::{Ipv6Packet, PROTO_TCP, emit_ipv6_header};
/// let (a, b) = ("fd77::1".parse().unwrap(), "fd77::2".parse().unwrap());
/// let mut buf = [0u8; 44];
/// emit_ipv6_header(&mut buf, a, b, PROTO_TCP, 4, 64);
/// let p = Ipv6Packet::parse(&buf).unwrap();
/// assert_eq!((p.src(), p.dst(), p.next_header()), (a, b, PROTO_TCP));
/// assert_eq!(p.payload().len(), 4);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Ipv6Packet<'a> {
    header: &'a [u8],
    next_header: u8,
    payload: &'a [u8],
}

impl<'a> Ipv6Packet<'a> {
    /// Validates `bytes` as one IPv6 packet. Trailing bytes beyond the payload length (link
    /// padding) are ignored.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, WireError> {
        if bytes.len() < IPV6_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if bytes[0] >> 4 != 6 {
            return Err(WireError::Malformed);
        }
        // A payload length of 0 with a jumbo option (RFC 2675) is refused by the option walk:
        // the jumbo option's type (0xC2) says "discard if unknown".
        let end = IPV6_HEADER_LEN + usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
        if bytes.len() < end {
            return Err(WireError::Truncated);
        }
        let (next_header, at) = walk_extensions(&bytes[..end], bytes[6])?;
        Ok(Ipv6Packet { header: &bytes[..IPV6_HEADER_LEN], next_header, payload: &bytes[at..end] })
    }

    /// Source address.
    pub fn src(&self) -> Ipv6Addr {
        Ipv6Addr::from(<[u8; 16]>::try_from(&self.header[8..24]).unwrap_or([0; 16]))
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv6Addr {
        Ipv6Addr::from(<[u8; 16]>::try_from(&self.header[24..40]).unwrap_or([0; 16]))
    }

    /// The upper-layer protocol, after the extension headers.
    pub fn next_header(&self) -> u8 {
        self.next_header
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.header[7]
    }

    /// Traffic class: DSCP (high six bits) and ECN (low two).
    pub fn traffic_class(&self) -> u8 {
        (self.header[0] << 4) | (self.header[1] >> 4)
    }

    /// The fixed 40-byte header.
    pub fn header(&self) -> &'a [u8] {
        self.header
    }

    /// The upper-layer bytes, after every extension header, up to the payload length.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

/// Walks the extension headers of `packet` (fixed header included, cut at the payload
/// length) starting with next-header `first`. Returns the upper-layer protocol and where
/// its bytes start.
fn walk_extensions(packet: &[u8], first: u8) -> Result<(u8, usize), WireError> {
    let (mut nh, mut at) = (first, IPV6_HEADER_LEN);
    for n in 0..=MAX_EXTENSION_HEADERS {
        if !matches!(nh, HOP_BY_HOP | ROUTING | FRAGMENT | DESTINATION_OPTIONS) {
            return Ok((nh, at));
        }
        if n == MAX_EXTENSION_HEADERS {
            break;
        }
        if packet.len() < at + 8 {
            return Err(WireError::Truncated);
        }
        let h = &packet[at..];
        let len = match nh {
            // RFC 8200 §4.5: the fragment header is always 8 bytes.
            FRAGMENT => 8,
            _ => (usize::from(h[1]) + 1) * 8,
        };
        if h.len() < len {
            return Err(WireError::Truncated);
        }
        match nh {
            // RFC 8200 §4.3: hop-by-hop options only directly after the fixed header.
            HOP_BY_HOP if n != 0 => return Err(WireError::ExtensionHeader),
            HOP_BY_HOP | DESTINATION_OPTIONS => check_options(&h[2..len])?,
            ROUTING if h[3] != 0 => return Err(WireError::ExtensionHeader),
            ROUTING => {}
            _ => {
                let offset_flags = u16::from_be_bytes([h[2], h[3]]);
                if offset_flags & 0xfff9 != 0 {
                    return Err(WireError::Fragment);
                }
            }
        }
        nh = h[0];
        at += len;
    }
    Err(WireError::ExtensionHeader)
}

/// Reads the options of a hop-by-hop or destination-options header (RFC 8200 §4.2).
fn check_options(mut opts: &[u8]) -> Result<(), WireError> {
    const PAD1: u8 = 0;
    const PADN: u8 = 1;
    while let Some(&ty) = opts.first() {
        if ty == PAD1 {
            opts = &opts[1..];
            continue;
        }
        let len = *opts.get(1).ok_or(WireError::ExtensionHeader)?;
        let total = 2 + usize::from(len);
        if opts.len() < total {
            return Err(WireError::ExtensionHeader);
        }
        // The top two bits say what a node that does not know the option does: 00 skip,
        // anything else discard (with or without an ICMP Parameter Problem).
        if ty != PADN && ty >> 6 != 0 {
            return Err(WireError::ExtensionHeader);
        }
        opts = &opts[total..];
    }
    Ok(())
}

/// Writes a 40-byte IPv6 header (traffic class and flow label zero) into `buf[..40]`.
///
/// # Panics
/// If `buf` is shorter than 40 bytes.
pub fn emit_ipv6_header(buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, payload_len: usize, hop_limit: u8) {
    let h = &mut buf[..IPV6_HEADER_LEN];
    h[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
    h[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
    h[6] = next_header;
    h[7] = hop_limit;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
}

/// Sets the traffic class (DSCP and ECN, RFC 8200 §7) of the IPv6 header in `buf[..40]`.
///
/// ```
/// use ringtcp_transport::wire::{Ipv6Packet, PROTO_TCP, emit_ipv6_header, set_ipv6_traffic_class};
/// let mut buf = [0u8; 40];
/// emit_ipv6_header(&mut buf, "fd77::1".parse().unwrap(), "fd77::2".parse().unwrap(), PROTO_TCP, 0, 64);
/// set_ipv6_traffic_class(&mut buf, 0xb8);
/// assert_eq!(Ipv6Packet::parse(&buf).unwrap().traffic_class(), 0xb8);
/// ```
///
/// # Panics
/// If `buf` is shorter than 40 bytes.
pub fn set_ipv6_traffic_class(buf: &mut [u8], tclass: u8) {
    buf[0] = 0x60 | (tclass >> 4);
    buf[1] = (buf[1] & 0x0f) | (tclass << 4);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::PROTO_TCP;

    const A: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1);
    const B: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 2);

    /// A packet whose extension headers are `exts` (each: its type and its whole bytes,
    /// next-header byte filled in here) followed by `payload` as TCP.
    fn packet(exts: &[(u8, Vec<u8>)], payload: &[u8]) -> Vec<u8> {
        let body: usize = exts.iter().map(|e| e.1.len()).sum::<usize>() + payload.len();
        let mut buf = vec![0u8; IPV6_HEADER_LEN];
        emit_ipv6_header(&mut buf, A, B, exts.first().map_or(PROTO_TCP, |e| e.0), body, 64);
        for (i, (_, bytes)) in exts.iter().enumerate() {
            let mut b = bytes.clone();
            b[0] = exts.get(i + 1).map_or(PROTO_TCP, |e| e.0);
            buf.extend_from_slice(&b);
        }
        buf.extend_from_slice(payload);
        buf
    }

    fn options(body: &[u8]) -> Vec<u8> {
        let mut h = vec![0, 0];
        h.extend_from_slice(body);
        assert_eq!(h.len() % 8, 0);
        h[1] = (h.len() / 8 - 1) as u8;
        h
    }

    #[test]
    fn round_trip_and_padding_ignored() {
        let mut buf = packet(&[], b"abc");
        buf.extend_from_slice(&[0, 0, 0]);
        let p = Ipv6Packet::parse(&buf).unwrap();
        assert_eq!(p.payload(), b"abc");
        assert_eq!((p.src(), p.dst(), p.next_header(), p.hop_limit()), (A, B, PROTO_TCP, 64));
    }

    #[test]
    fn rejects_bad_fixed_headers() {
        let good = packet(&[], b"abcd");
        assert_eq!(Ipv6Packet::parse(&good[..39]).unwrap_err(), WireError::Truncated);
        assert_eq!(Ipv6Packet::parse(&good[..42]).unwrap_err(), WireError::Truncated);
        let mut v4 = good.clone();
        v4[0] = 0x45;
        assert_eq!(Ipv6Packet::parse(&v4).unwrap_err(), WireError::Malformed);
    }

    #[test]
    fn skippable_extension_headers_are_skipped() {
        // Hop-by-hop with Router Alert (type 5: skip if unknown) and PadN, a routing header
        // with Segments Left 0, an atomic fragment, destination options with Pad1s.
        let hbh = options(&[5, 2, 0, 0, 1, 0]);
        let routing = vec![0, 0, 4, 0, 0, 0, 0, 0];
        let atomic = vec![0, 0, 0, 0, 1, 2, 3, 4];
        let dst = options(&[0; 6]);
        let buf = packet(&[(0, hbh), (43, routing), (44, atomic), (60, dst)], b"tcp!");
        let p = Ipv6Packet::parse(&buf).unwrap();
        assert_eq!((p.next_header(), p.payload()), (PROTO_TCP, &b"tcp!"[..]));
    }

    #[test]
    fn extension_headers_that_must_not_be_skipped_are_refused() {
        let refused = |exts: &[(u8, Vec<u8>)]| Ipv6Packet::parse(&packet(exts, b"tcp!")).unwrap_err();
        // An unknown option of type 0x80 (discard and tell the sender) and the jumbo option.
        assert_eq!(refused(&[(60, options(&[0x80, 4, 0, 0, 0, 0]))]), WireError::ExtensionHeader);
        assert_eq!(refused(&[(0, options(&[0xc2, 4, 0, 0, 0, 0]))]), WireError::ExtensionHeader);
        // An option running past its header.
        assert_eq!(refused(&[(60, options(&[1, 9, 0, 0, 0, 0]))]), WireError::ExtensionHeader);
        // Hop-by-hop after another header.
        assert_eq!(refused(&[(60, options(&[0; 6])), (0, options(&[0; 6]))]), WireError::ExtensionHeader);
        // A routing header with segments left: the packet is for another node.
        assert_eq!(refused(&[(43, vec![0, 0, 4, 1, 0, 0, 0, 0])]), WireError::ExtensionHeader);
        // A first fragment, a later fragment.
        assert_eq!(refused(&[(44, vec![0, 0, 0, 1, 1, 2, 3, 4])]), WireError::Fragment);
        assert_eq!(refused(&[(44, vec![0, 0, 0, 8, 1, 2, 3, 4])]), WireError::Fragment);
    }

    #[test]
    fn a_chain_is_bounded_and_lengths_are_checked() {
        let many: Vec<(u8, Vec<u8>)> = (0..=MAX_EXTENSION_HEADERS).map(|_| (60, options(&[0; 6]))).collect();
        assert_eq!(Ipv6Packet::parse(&packet(&many, b"x")).unwrap_err(), WireError::ExtensionHeader);
        let ok: Vec<(u8, Vec<u8>)> = many[..MAX_EXTENSION_HEADERS].to_vec();
        assert_eq!(Ipv6Packet::parse(&packet(&ok, b"x")).unwrap().payload(), b"x");
        // A header claiming more length than the payload holds.
        let mut long = packet(&[(60, options(&[0; 6]))], b"");
        long[IPV6_HEADER_LEN + 1] = 3;
        assert_eq!(Ipv6Packet::parse(&long).unwrap_err(), WireError::Truncated);
        // A header cut short by the payload length.
        let mut cut = packet(&[(60, options(&[0; 6]))], b"");
        cut[5] = 4;
        assert_eq!(Ipv6Packet::parse(&cut).unwrap_err(), WireError::Truncated);
        // ESP and No Next Header end the walk: not something this stack speaks.
        let mut esp = packet(&[], b"x");
        esp[6] = 50;
        assert_eq!(Ipv6Packet::parse(&esp).unwrap().next_header(), 50);
    }
}
