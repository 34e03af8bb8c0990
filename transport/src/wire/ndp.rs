//! IPv6 neighbour discovery (RFC 4861), the part a host needs to reach its neighbours:
//! neighbour solicitations and advertisements with their link-layer address options.
//! Router discovery and redirects are not read: the stack's routes are configured.

use std::net::Ipv6Addr;

use super::WireError;
use super::checksum;
use super::ethernet::MacAddr;
use super::ipv6::{IPV6_HEADER_LEN, PROTO_ICMPV6, emit_ipv6_header};

const TYPE_NEIGHBOR_SOLICITATION: u8 = 135;
const TYPE_NEIGHBOR_ADVERTISEMENT: u8 = 136;
const OPTION_SOURCE_LINK_ADDR: u8 = 1;
const OPTION_TARGET_LINK_ADDR: u8 = 2;
/// Type, code, checksum, reserved or flags, and the 16-byte target.
const NDP_FIXED_LEN: usize = 24;
/// A link-layer address option for Ethernet: type, length (in 8-byte units), 6 bytes.
const LINK_OPTION_LEN: usize = 8;
/// Length of a whole solicitation or advertisement packet this stack emits.
pub const NDP_PACKET_LEN: usize = IPV6_HEADER_LEN + NDP_FIXED_LEN + LINK_OPTION_LEN;
const FLAG_SOLICITED: u8 = 0x40;
const FLAG_OVERRIDE: u8 = 0x20;

/// A validated neighbour solicitation or advertisement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NdpMessage {
    /// Who has `target`? (with the asker's link-layer address, unless it is doing
    /// duplicate address detection from the unspecified address).
    Solicitation {
        /// The address asked about.
        target: Ipv6Addr,
        /// The asker's hardware address, from its source link-layer address option.
        source_mac: Option<MacAddr>,
    },
    /// `target` is at `target_mac`.
    Advertisement {
        /// The address advertised.
        target: Ipv6Addr,
        /// Its hardware address, from the target link-layer address option.
        target_mac: Option<MacAddr>,
        /// An answer to a solicitation (as opposed to an unsolicited announcement).
        solicited: bool,
        /// The advertiser asks that this address replace a cached one.
        override_flag: bool,
    },
}

impl NdpMessage {
    /// Validates an ICMPv6 message carried from `src` to `dst` with `hop_limit` as a
    /// solicitation or advertisement (RFC 4861 §7.1.1 and §7.1.2); `Ok(None)` for any
    /// other ICMPv6 type.
    pub fn parse(bytes: &[u8], src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8) -> Result<Option<NdpMessage>, WireError> {
        let Some(&ty) = bytes.first() else { return Err(WireError::Truncated) };
        if ty != TYPE_NEIGHBOR_SOLICITATION && ty != TYPE_NEIGHBOR_ADVERTISEMENT {
            return Ok(None);
        }
        if bytes.len() < NDP_FIXED_LEN {
            return Err(WireError::Truncated);
        }
        let acc = checksum::pseudo_header_v6(src, dst, PROTO_ICMPV6, bytes.len());
        if checksum::finish(checksum::accumulate(acc, bytes)) != 0 {
            return Err(WireError::BadChecksum);
        }
        // Hop limit 255 proves the sender is on the link: no router forwarded it.
        if hop_limit != 255 || bytes[1] != 0 {
            return Err(WireError::Malformed);
        }
        let target = Ipv6Addr::from(<[u8; 16]>::try_from(&bytes[8..24]).expect("sixteen bytes"));
        if target.is_multicast() {
            return Err(WireError::Malformed);
        }
        let mut link = None;
        let want = if ty == TYPE_NEIGHBOR_SOLICITATION { OPTION_SOURCE_LINK_ADDR } else { OPTION_TARGET_LINK_ADDR };
        let mut opts = &bytes[NDP_FIXED_LEN..];
        while !opts.is_empty() {
            // Every option is at least 8 bytes and says its length; zero is invalid.
            let len = usize::from(*opts.get(1).ok_or(WireError::Truncated)?) * 8;
            if len == 0 {
                return Err(WireError::BadOption);
            }
            let opt = opts.get(..len).ok_or(WireError::Truncated)?;
            if opt[0] == want && len == LINK_OPTION_LEN {
                link = Some(MacAddr(opt[2..8].try_into().expect("six bytes")));
            }
            opts = &opts[len..];
        }
        Ok(Some(if ty == TYPE_NEIGHBOR_SOLICITATION {
            // §7.1.1: duplicate address detection comes from the unspecified address, to a
            // solicited-node group, and carries no source link-layer address.
            if src.is_unspecified() && (link.is_some() || !is_solicited_node(dst)) {
                return Err(WireError::Malformed);
            }
            NdpMessage::Solicitation { target, source_mac: link }
        } else {
            let solicited = bytes[4] & FLAG_SOLICITED != 0;
            // §7.1.2: an advertisement to a multicast group cannot be solicited.
            if solicited && dst.is_multicast() {
                return Err(WireError::Malformed);
            }
            NdpMessage::Advertisement { target, target_mac: link, solicited, override_flag: bytes[4] & FLAG_OVERRIDE != 0 }
        }))
    }
}

/// The solicited-node multicast group of `addr` (RFC 4291 §2.7.1): ff02::1:ff and its
/// last three bytes.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15]])
}

fn is_solicited_node(addr: Ipv6Addr) -> bool {
    addr.octets()[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]
}

/// `kind`: the ICMPv6 type, its flags byte and the link-layer option it carries.
fn emit(buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, kind: (u8, u8, u8), target: Ipv6Addr, mac: MacAddr) -> usize {
    let (ty, flags, option) = kind;
    let len = NDP_FIXED_LEN + LINK_OPTION_LEN;
    emit_ipv6_header(buf, src, dst, PROTO_ICMPV6, len, 255);
    let m = &mut buf[IPV6_HEADER_LEN..NDP_PACKET_LEN];
    m.fill(0);
    m[0] = ty;
    m[4] = flags;
    m[8..24].copy_from_slice(&target.octets());
    m[24] = option;
    m[25] = 1;
    m[26..32].copy_from_slice(&mac.0);
    let acc = checksum::pseudo_header_v6(src, dst, PROTO_ICMPV6, len);
    let c = checksum::finish(checksum::accumulate(acc, m));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    NDP_PACKET_LEN
}

/// Writes a whole neighbour solicitation for `target` from `src` (whose hardware address
/// is `mac`) to `dst` (the target's solicited-node group, or the target itself to confirm
/// a cached entry) into `buf` (at least [`NDP_PACKET_LEN`] bytes).
pub fn emit_neighbor_solicitation(buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, target: Ipv6Addr, mac: MacAddr) -> usize {
    emit(buf, src, dst, (TYPE_NEIGHBOR_SOLICITATION, 0, OPTION_SOURCE_LINK_ADDR), target, mac)
}

/// Writes a whole neighbour advertisement saying `target` is at `mac` from `target` to
/// `dst` into `buf` (at least [`NDP_PACKET_LEN`] bytes); override set, as a host sets it
/// for its own addresses (RFC 4861 §7.2.4).
pub fn emit_neighbor_advertisement(buf: &mut [u8], dst: Ipv6Addr, target: Ipv6Addr, mac: MacAddr, solicited: bool) -> usize {
    let flags = FLAG_OVERRIDE | if solicited { FLAG_SOLICITED } else { 0 };
    emit(buf, target, dst, (TYPE_NEIGHBOR_ADVERTISEMENT, flags, OPTION_TARGET_LINK_ADDR), target, mac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Ipv6Packet;

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 7]);

    fn parsed(buf: &[u8]) -> Result<Option<NdpMessage>, WireError> {
        let p = Ipv6Packet::parse(buf).unwrap();
        NdpMessage::parse(p.payload(), p.src(), p.dst(), p.hop_limit())
    }

    #[test]
    fn solicitations_and_advertisements_round_trip() {
        let (a, b): (Ipv6Addr, Ipv6Addr) = ("fd77::2".parse().unwrap(), "fd77::1:2345".parse().unwrap());
        let group = solicited_node(b);
        assert_eq!(group, "ff02::1:ff01:2345".parse::<Ipv6Addr>().unwrap());
        let mut buf = [0u8; NDP_PACKET_LEN];
        emit_neighbor_solicitation(&mut buf, a, group, b, MAC);
        assert_eq!(parsed(&buf), Ok(Some(NdpMessage::Solicitation { target: b, source_mac: Some(MAC) })));
        emit_neighbor_advertisement(&mut buf, a, b, MAC, true);
        let want = NdpMessage::Advertisement { target: b, target_mac: Some(MAC), solicited: true, override_flag: true };
        assert_eq!(parsed(&buf), Ok(Some(want)));
    }

    #[test]
    fn forwarded_or_malformed_messages_are_refused() {
        let (a, b): (Ipv6Addr, Ipv6Addr) = ("fd77::2".parse().unwrap(), "fd77::1".parse().unwrap());
        let mut buf = [0u8; NDP_PACKET_LEN];
        emit_neighbor_solicitation(&mut buf, a, solicited_node(b), b, MAC);
        let p = Ipv6Packet::parse(&buf).unwrap();
        let msg = p.payload().to_vec();
        // Through a router (hop limit below 255).
        assert_eq!(NdpMessage::parse(&msg, a, solicited_node(b), 254), Err(WireError::Malformed));
        // A bad checksum (the pseudo-header's destination changed).
        assert_eq!(NdpMessage::parse(&msg, a, b, 255), Err(WireError::BadChecksum));
        // An option of length zero would loop for ever.
        let mut zero = buf;
        zero[IPV6_HEADER_LEN + 25] = 0;
        let fix = |m: &mut [u8], src, dst| {
            m[2..4].fill(0);
            let c = checksum::finish(checksum::accumulate(checksum::pseudo_header_v6(src, dst, PROTO_ICMPV6, m.len()), m));
            m[2..4].copy_from_slice(&c.to_be_bytes());
        };
        let mut m = zero[IPV6_HEADER_LEN..].to_vec();
        fix(&mut m, a, solicited_node(b));
        assert_eq!(NdpMessage::parse(&m, a, solicited_node(b), 255), Err(WireError::BadOption));
        // Duplicate address detection with a source link-layer address.
        let mut m = msg.clone();
        fix(&mut m, Ipv6Addr::UNSPECIFIED, solicited_node(b));
        assert_eq!(NdpMessage::parse(&m, Ipv6Addr::UNSPECIFIED, solicited_node(b), 255), Err(WireError::Malformed));
        // A solicited advertisement to a group.
        emit_neighbor_advertisement(&mut buf, "ff02::1".parse().unwrap(), b, MAC, true);
        assert_eq!(parsed(&buf), Err(WireError::Malformed));
        // Other ICMPv6 types are not neighbour discovery.
        assert_eq!(NdpMessage::parse(&[128, 0, 0, 0], a, b, 64), Ok(None));
    }
}
