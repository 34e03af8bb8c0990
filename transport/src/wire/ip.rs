//! What the two IP versions have in common, for code that holds a connection's addresses
//! and does not care which family they are: the header a packet gets, its length, the
//! TOS / traffic-class byte, and the TCP checksum over the right pseudo-header.

use std::net::IpAddr;

use super::checksum;
use super::ipv4::{IPV4_HEADER_LEN, PROTO_TCP, emit_ipv4_header, set_ipv4_tos};
use super::ipv6::{IPV6_HEADER_LEN, emit_ipv6_header, set_ipv6_traffic_class};

/// The header length this stack emits for packets to `dst`: 20 for IPv4, 40 for IPv6.
pub fn ip_header_len(dst: IpAddr) -> usize {
    if dst.is_ipv4() { IPV4_HEADER_LEN } else { IPV6_HEADER_LEN }
}

/// Writes an IP header for a packet of `payload_len` bytes from `src` to `dst` (IPv4 with
/// DF set and `ident`; IPv6 without extension headers), with `tos` as the TOS byte or
/// traffic class and `ttl` as TTL or hop limit. Returns the header length; `None` if the
/// two addresses are of different families or `buf` is too short.
///
/// ```
/// use ringtcp_transport::wire::{Ipv6Packet, PROTO_TCP, emit_ip_header};
/// let mut buf = [0u8; 60];
/// let n = emit_ip_header(&mut buf, "fd77::2".parse().unwrap(), "fd77::1".parse().unwrap(), PROTO_TCP, 20, 64, 0, 0).unwrap();
/// assert_eq!(n, 40);
/// assert_eq!(Ipv6Packet::parse(&buf).unwrap().payload().len(), 20);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn emit_ip_header(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    payload_len: usize,
    ttl: u8,
    ident: u16,
    tos: u8,
) -> Option<usize> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) if buf.len() >= IPV4_HEADER_LEN => {
            emit_ipv4_header(buf, s, d, protocol, payload_len, ttl, ident);
            if tos != 0 {
                set_ipv4_tos(buf, tos);
            }
            Some(IPV4_HEADER_LEN)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) if buf.len() >= IPV6_HEADER_LEN => {
            emit_ipv6_header(buf, s, d, protocol, payload_len, ttl);
            if tos != 0 {
                set_ipv6_traffic_class(buf, tos);
            }
            Some(IPV6_HEADER_LEN)
        }
        _ => None,
    }
}

/// The pseudo-header sum of a TCP segment of `len` bytes between `src` and `dst` (RFC 9293
/// §3.1 for IPv4, RFC 8200 §8.1 for IPv6). Mixed families cannot be on one wire; they
/// sum as if the IPv4 one were IPv4-mapped, which no receiver will accept.
pub(crate) fn tcp_pseudo_header(src: IpAddr, dst: IpAddr, len: usize) -> u64 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => checksum::pseudo_header_v4(s, d, PROTO_TCP, len),
        _ => checksum::pseudo_header_v6(v6(src), v6(dst), PROTO_TCP, len),
    }
}

fn v6(a: IpAddr) -> std::net::Ipv6Addr {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// True if `a` and `b` share their first `prefix` bits (false across families): the
/// on-link test of routing and of MSL classes.
pub(crate) fn same_network(a: IpAddr, b: IpAddr, prefix: u8) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix.min(128))).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}
