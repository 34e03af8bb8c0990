//! ARP for IPv4 over Ethernet (RFC 826): the only hardware and protocol types a host on
//! an Ethernet interface needs; anything else is refused at the edge.

use std::net::Ipv4Addr;

use super::WireError;
use super::ethernet::MacAddr;

/// Length of an ARP packet for IPv4 over Ethernet.
pub const ARP_LEN: usize = 28;
const HTYPE_ETHERNET: u16 = 1;
const PTYPE_IPV4: u16 = 0x0800;

/// What an ARP packet asks or tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArpOp {
    /// Who has `target_ip`? Tell `sender_ip`.
    Request,
    /// `sender_ip` is at `sender_mac`.
    Reply,
}

/// A validated ARP packet (the payload of an Ethernet frame of EtherType 0x0806).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpPacket {
    /// Request or reply.
    pub op: ArpOp,
    /// The sender's hardware address.
    pub sender_mac: MacAddr,
    /// The sender's IPv4 address (unspecified in an RFC 5227 probe).
    pub sender_ip: Ipv4Addr,
    /// The target's hardware address (ignored in a request).
    pub target_mac: MacAddr,
    /// The address asked about, or the requester's in a reply.
    pub target_ip: Ipv4Addr,
}

impl ArpPacket {
    /// Validates the fixed fields (Ethernet, IPv4, lengths 6 and 4, operation 1 or 2);
    /// trailing bytes (Ethernet padding) are ignored.
    pub fn parse(bytes: &[u8]) -> Result<ArpPacket, WireError> {
        if bytes.len() < ARP_LEN {
            return Err(WireError::Truncated);
        }
        let htype = u16::from_be_bytes([bytes[0], bytes[1]]);
        let ptype = u16::from_be_bytes([bytes[2], bytes[3]]);
        if htype != HTYPE_ETHERNET || ptype != PTYPE_IPV4 || bytes[4] != 6 || bytes[5] != 4 {
            return Err(WireError::Malformed);
        }
        let op = match u16::from_be_bytes([bytes[6], bytes[7]]) {
            1 => ArpOp::Request,
            2 => ArpOp::Reply,
            _ => return Err(WireError::Malformed),
        };
        let ip = |at: usize| Ipv4Addr::new(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
        let mac = |at: usize| MacAddr(bytes[at..at + 6].try_into().expect("six bytes"));
        Ok(ArpPacket { op, sender_mac: mac(8), sender_ip: ip(14), target_mac: mac(18), target_ip: ip(24) })
    }

    /// Writes the packet into `buf` (at least [`ARP_LEN`] bytes); returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        buf[0..2].copy_from_slice(&HTYPE_ETHERNET.to_be_bytes());
        buf[2..4].copy_from_slice(&PTYPE_IPV4.to_be_bytes());
        buf[4] = 6;
        buf[5] = 4;
        let op: u16 = match self.op {
            ArpOp::Request => 1,
            ArpOp::Reply => 2,
        };
        buf[6..8].copy_from_slice(&op.to_be_bytes());
        buf[8..14].copy_from_slice(&self.sender_mac.0);
        buf[14..18].copy_from_slice(&self.sender_ip.octets());
        buf[18..24].copy_from_slice(&self.target_mac.0);
        buf[24..28].copy_from_slice(&self.target_ip.octets());
        ARP_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arp_round_trips_and_refuses_other_kinds() {
        let p = ArpPacket {
            op: ArpOp::Reply,
            sender_mac: MacAddr([2, 1, 2, 3, 4, 5]),
            sender_ip: Ipv4Addr::new(10, 0, 0, 1),
            target_mac: MacAddr([2, 9, 8, 7, 6, 5]),
            target_ip: Ipv4Addr::new(10, 0, 0, 2),
        };
        let mut b = [0u8; 46];
        assert_eq!(p.emit(&mut b), ARP_LEN);
        assert_eq!(ArpPacket::parse(&b), Ok(p));
        assert_eq!(ArpPacket::parse(&b[..27]), Err(WireError::Truncated));
        for (at, v) in [(1, 6u8), (3, 0xdd), (4, 8), (5, 16), (7, 3)] {
            let mut c = b;
            c[at] = v;
            assert_eq!(ArpPacket::parse(&c), Err(WireError::Malformed), "byte {at} = {v}");
        }
    }
}
