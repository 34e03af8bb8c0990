//! IPv4 header view (RFC 791). Options are skipped, fragments are refused.

use std::net::Ipv4Addr;

use super::WireError;
use super::checksum;

/// Length of an IPv4 header without options, which is all this stack emits.
pub const IPV4_HEADER_LEN: usize = 20;
/// IP protocol number of ICMP.
pub const PROTO_ICMP: u8 = 1;
/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;

/// A validated IPv4 packet: version, lengths and header checksum have been checked.
///
/// ```
/// use ringtcp_transport::wire::{Ipv4Packet, emit_ipv4_header, PROTO_TCP};
/// use std::net::Ipv4Addr;
/// let mut buf = [0u8; 24];
/// emit_ipv4_header(&mut buf, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), PROTO_TCP, 4, 64, 7);
/// let p = Ipv4Packet::parse(&buf).unwrap();
/// assert_eq!(p.src(), Ipv4Addr::new(10, 0, 0, 1));
/// assert_eq!(p.payload().len(), 4);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Ipv4Packet<'a> {
    header: &'a [u8],
    payload: &'a [u8],
}

impl<'a> Ipv4Packet<'a> {
    /// Validates `bytes` as one IPv4 packet. Trailing bytes beyond the total length (link
    /// padding) are ignored.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, WireError> {
        if bytes.len() < IPV4_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if bytes[0] >> 4 != 4 {
            return Err(WireError::Malformed);
        }
        let ihl = usize::from(bytes[0] & 0x0f) * 4;
        if ihl < IPV4_HEADER_LEN {
            return Err(WireError::Malformed);
        }
        let total = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        if total < ihl {
            return Err(WireError::Malformed);
        }
        if bytes.len() < total {
            return Err(WireError::Truncated);
        }
        if checksum::checksum(&bytes[..ihl]) != 0 {
            return Err(WireError::BadIpChecksum);
        }
        let frag = u16::from_be_bytes([bytes[6], bytes[7]]);
        // More-fragments set, or a non-zero offset: part of a fragmented datagram.
        if frag & 0x3fff != 0 {
            return Err(WireError::Fragment);
        }
        Ok(Ipv4Packet { header: &bytes[..ihl], payload: &bytes[ihl..total] })
    }

    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.header[12], self.header[13], self.header[14], self.header[15])
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.header[16], self.header[17], self.header[18], self.header[19])
    }

    /// The IP protocol number of the payload.
    pub fn protocol(&self) -> u8 {
        self.header[9]
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.header[8]
    }

    /// Type of service: DSCP (high six bits) and ECN (low two).
    pub fn tos(&self) -> u8 {
        self.header[1]
    }

    /// The header bytes, options included.
    pub fn header(&self) -> &'a [u8] {
        self.header
    }

    /// Everything after the header, up to the total length.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

/// Writes a 20-byte IPv4 header with DF set and its checksum into `buf[..20]`.
///
/// # Panics
/// If `buf` is shorter than 20 bytes.
pub fn emit_ipv4_header(
    buf: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    payload_len: usize,
    ttl: u8,
    ident: u16,
) {
    let total = (IPV4_HEADER_LEN + payload_len) as u16;
    let h = &mut buf[..IPV4_HEADER_LEN];
    h[0] = 0x45;
    h[1] = 0;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&ident.to_be_bytes());
    // DF: path MTU discovery (RFC 1191) instead of fragmentation.
    h[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
    h[8] = ttl;
    h[9] = protocol;
    h[10..12].copy_from_slice(&[0, 0]);
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = checksum::checksum(h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Sets the type-of-service byte (DSCP and ECN, RFC 2474 / 3168) of the IPv4 header in
/// `buf[..20]` and its checksum.
///
/// ```
/// use ringtcp_transport::wire::{Ipv4Packet, PROTO_TCP, emit_ipv4_header, set_ipv4_tos};
/// let mut buf = [0u8; 20];
/// emit_ipv4_header(&mut buf, "10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), PROTO_TCP, 0, 64, 7);
/// set_ipv4_tos(&mut buf, 0xb8);
/// let p = Ipv4Packet::parse(&buf).unwrap();
/// assert_eq!(p.tos(), 0xb8);
/// ```
///
/// # Panics
/// If `buf` is shorter than 20 bytes.
pub fn set_ipv4_tos(buf: &mut [u8], tos: u8) {
    let h = &mut buf[..IPV4_HEADER_LEN];
    h[1] = tos;
    h[10..12].copy_from_slice(&[0, 0]);
    let c = checksum::checksum(h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Clears DF in the IPv4 header in `buf[..20]` (written by [`emit_ipv4_header`]), so
/// routers may fragment the packet, and fixes the header checksum.
///
/// ```
/// use ringtcp_transport::wire::{PROTO_TCP, clear_ipv4_dont_fragment, emit_ipv4_header};
/// let mut buf = [0u8; 20];
/// emit_ipv4_header(&mut buf, "10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), PROTO_TCP, 0, 64, 7);
/// assert_eq!(buf[6] & 0x40, 0x40);
/// clear_ipv4_dont_fragment(&mut buf);
/// assert_eq!(buf[6] & 0x40, 0);
/// assert_eq!(ringtcp_transport::wire::checksum::checksum(&buf), 0, "the header still sums to zero");
/// ```
pub fn clear_ipv4_dont_fragment(buf: &mut [u8]) {
    let h = &mut buf[..IPV4_HEADER_LEN];
    h[6] &= !0x40;
    h[10..12].copy_from_slice(&[0, 0]);
    let c = checksum::checksum(h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; IPV4_HEADER_LEN + payload.len()];
        emit_ipv4_header(&mut buf, Ipv4Addr::new(1, 2, 3, 4), Ipv4Addr::new(5, 6, 7, 8), PROTO_TCP, payload.len(), 64, 1);
        buf[IPV4_HEADER_LEN..].copy_from_slice(payload);
        buf
    }

    #[test]
    fn round_trip_and_padding_ignored() {
        let mut buf = packet(b"abc");
        buf.extend_from_slice(&[0, 0, 0]);
        let p = Ipv4Packet::parse(&buf).unwrap();
        assert_eq!(p.payload(), b"abc");
        assert_eq!(p.dst(), Ipv4Addr::new(5, 6, 7, 8));
        assert_eq!(p.protocol(), PROTO_TCP);
    }

    #[test]
    fn rejects_bad_input() {
        let good = packet(b"abcd");
        assert_eq!(Ipv4Packet::parse(&good[..10]).unwrap_err(), WireError::Truncated);
        assert_eq!(Ipv4Packet::parse(&good[..22]).unwrap_err(), WireError::Truncated);
        let mut v6 = good.clone();
        v6[0] = 0x65;
        assert_eq!(Ipv4Packet::parse(&v6).unwrap_err(), WireError::Malformed);
        let mut short_ihl = good.clone();
        short_ihl[0] = 0x44;
        assert_eq!(Ipv4Packet::parse(&short_ihl).unwrap_err(), WireError::Malformed);
        let mut bad = good.clone();
        bad[12] ^= 1;
        assert_eq!(Ipv4Packet::parse(&bad).unwrap_err(), WireError::BadIpChecksum);
    }

    #[test]
    fn fragments_refused_options_skipped() {
        let mut frag = packet(b"abcd");
        frag[6] = 0x20; // MF
        frag[10] = 0;
        frag[11] = 0;
        let c = checksum::checksum(&frag[..20]);
        frag[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(Ipv4Packet::parse(&frag).unwrap_err(), WireError::Fragment);

        // A 24-byte header carrying one NOP option word.
        let mut opt = vec![0u8; 28];
        emit_ipv4_header(&mut opt, Ipv4Addr::new(1, 2, 3, 4), Ipv4Addr::new(5, 6, 7, 8), PROTO_TCP, 8, 64, 1);
        opt.copy_within(20..20, 24);
        opt[0] = 0x46;
        opt[20..24].copy_from_slice(&[1, 1, 1, 0]);
        opt[24..28].copy_from_slice(b"wxyz");
        opt[10] = 0;
        opt[11] = 0;
        let c = checksum::checksum(&opt[..24]);
        opt[10..12].copy_from_slice(&c.to_be_bytes());
        let p = Ipv4Packet::parse(&opt).unwrap();
        assert_eq!(p.payload(), b"wxyz");
        assert_eq!(p.header().len(), 24);
    }
}
