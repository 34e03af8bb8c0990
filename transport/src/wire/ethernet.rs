//! Ethernet II frames (IEEE 802.3 with an EtherType): the 14-byte header in front of
//! every packet on a real interface. 802.1Q-tagged frames are refused: a stack bound to
//! one interface queue sees the VLAN its interface is on, untagged.

use std::fmt;

use super::WireError;

/// Length of the Ethernet header: destination, source, EtherType.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP (RFC 826).
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;

/// A 48-bit hardware address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// True for group addresses (the low bit of the first byte): broadcast, IPv4 and
    /// IPv6 multicast.
    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }

    /// The multicast address an IPv6 multicast group maps to (RFC 2464 §7:
    /// 33:33 and the group's last four bytes).
    pub fn ipv6_multicast(group: std::net::Ipv6Addr) -> MacAddr {
        let o = group.octets();
        MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl std::str::FromStr for MacAddr {
    type Err = WireError;

    /// Parses `aa:bb:cc:dd:ee:ff` (as `ip link` prints it).
    fn from_str(s: &str) -> Result<MacAddr, WireError> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for b in &mut out {
            let p = parts.next().ok_or(WireError::Malformed)?;
            if p.is_empty() || p.len() > 2 {
                return Err(WireError::Malformed);
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| WireError::Malformed)?;
        }
        if parts.next().is_some() {
            return Err(WireError::Malformed);
        }
        Ok(MacAddr(out))
    }
}

/// A validated Ethernet frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetFrame<'a> {
    /// Destination hardware address.
    pub dst: MacAddr,
    /// Source hardware address.
    pub src: MacAddr,
    /// What the payload is.
    pub ethertype: u16,
    /// Everything after the header (padding to the 60-byte minimum included: the packet
    /// inside says its own length).
    pub payload: &'a [u8],
}

impl<'a> EthernetFrame<'a> {
    /// Validates the header: long enough, not VLAN-tagged, not an 802.3 length field.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, WireError> {
        if bytes.len() < ETHERNET_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let ethertype = u16::from_be_bytes([bytes[12], bytes[13]]);
        // Below 0x0600 the field is an 802.3 length (LLC frames), not a protocol.
        if ethertype < 0x0600 || ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
            return Err(WireError::Malformed);
        }
        Ok(EthernetFrame {
            dst: MacAddr(bytes[0..6].try_into().expect("six bytes")),
            src: MacAddr(bytes[6..12].try_into().expect("six bytes")),
            ethertype,
            payload: &bytes[ETHERNET_HEADER_LEN..],
        })
    }
}

/// Writes an Ethernet header at the start of `buf` (which holds at least
/// [`ETHERNET_HEADER_LEN`] bytes).
pub fn emit_ethernet_header(buf: &mut [u8], dst: MacAddr, src: MacAddr, ethertype: u16) {
    buf[0..6].copy_from_slice(&dst.0);
    buf[6..12].copy_from_slice(&src.0);
    buf[12..14].copy_from_slice(&ethertype.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_round_trips_and_tags_are_refused() {
        let mut f = [0u8; 60];
        let (a, b) = (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
        emit_ethernet_header(&mut f, a, b, ETHERTYPE_ARP);
        let p = EthernetFrame::parse(&f).unwrap();
        assert_eq!((p.dst, p.src, p.ethertype, p.payload.len()), (a, b, ETHERTYPE_ARP, 46));
        f[12..14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        assert_eq!(EthernetFrame::parse(&f), Err(WireError::Malformed));
        f[12..14].copy_from_slice(&46u16.to_be_bytes());
        assert_eq!(EthernetFrame::parse(&f), Err(WireError::Malformed));
        assert_eq!(EthernetFrame::parse(&f[..13]), Err(WireError::Truncated));
    }

    #[test]
    fn mac_addresses_parse_as_ip_link_prints_them() {
        let m: MacAddr = "02:aB:0:ff:10:01".parse().unwrap();
        assert_eq!(m, MacAddr([2, 0xab, 0, 0xff, 0x10, 1]));
        assert_eq!(m.to_string(), "02:ab:00:ff:10:01");
        for bad in ["", "02:ab:00:ff:10", "02:ab:00:ff:10:01:02", "02:ab:00:ff:10:1g", "02:ab:00:ff:10:001"] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
        assert!(MacAddr::BROADCAST.is_multicast() && !m.is_multicast());
    }
}
