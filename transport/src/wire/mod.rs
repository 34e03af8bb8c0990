//! Typed views over packet bytes, validated once at the edge (the smoltcp `wire` style).
//!
//! Received bytes become an [`Ipv4Packet`] or [`Ipv6Packet`] and then a [`TcpSegment`] or [`IcmpMessage`] /
//! [`Icmpv6Message`] only after every length, version and checksum check has passed; code past this module
//! never indexes raw packet bytes. Emission goes the other way: a header value writes
//! itself into a caller's buffer and the checksums are computed there.

mod arp;
pub mod checksum;
mod ethernet;
mod icmp;
mod icmpv6;
mod ip;
mod ipv4;
mod ipv6;
mod ndp;
mod tcp;

pub use arp::{ARP_LEN, ArpOp, ArpPacket};
pub use ethernet::{ETHERNET_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, EthernetFrame, MacAddr, emit_ethernet_header};
pub use icmp::{IcmpMessage, Unreachable, emit_echo_reply, emit_unreachable};
pub use icmpv6::{IPV6_MIN_MTU, Icmpv6Error, Icmpv6ErrorKind, Icmpv6Message, emit_echo_reply_v6, emit_icmpv6_error, fill_icmpv6_checksum};
pub use ip::{emit_ip_header, ip_header_len};
pub(crate) use ip::same_network;
pub use ipv4::{IPV4_HEADER_LEN, Ipv4Packet, PROTO_ICMP, PROTO_TCP, clear_ipv4_dont_fragment, emit_ipv4_header, set_ipv4_tos};
pub use ipv6::{IPV6_HEADER_LEN, Ipv6Packet, MAX_EXTENSION_HEADERS, PROTO_ICMPV6, emit_ipv6_header, set_ipv6_traffic_class};
pub use ndp::{NDP_PACKET_LEN, NdpMessage, emit_neighbor_advertisement, emit_neighbor_solicitation, solicited_node};
pub use tcp::{
    FastOpenOption, SackBlocks, TCP_HEADER_LEN, TcpFlags, TcpHeader, TcpOptions, TcpSegment, Timestamps,
    fill_tcp_checksum, fill_tcp_checksum_partial, fill_tcp_checksum_partial_for, fill_tcp_checksum_v4,
};

use std::fmt;

/// Why a packet was rejected at the edge. Each kind has its own drop counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than its headers or than the length the header claims.
    Truncated,
    /// Not IPv4 or IPv6, or a header length below the minimum.
    Malformed,
    /// An IPv6 extension header this host must not skip (RFC 8200 §4): an unknown option
    /// that asks for discard, hop-by-hop past the first place, a routing header with
    /// segments left, a chain longer than [`MAX_EXTENSION_HEADERS`].
    ExtensionHeader,
    /// The IP header checksum does not match.
    BadIpChecksum,
    /// The TCP or ICMP checksum does not match.
    BadChecksum,
    /// An IPv4 or IPv6 fragment; the stack does not reassemble (it never sends more than
    /// the path MTU).
    Fragment,
    /// A TCP option whose length runs past the header or is below its minimum.
    BadOption,
    /// An IP protocol this stack does not speak.
    UnknownProtocol,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            WireError::Truncated => "packet truncated",
            WireError::Malformed => "malformed header",
            WireError::ExtensionHeader => "IPv6 extension header refused",
            WireError::BadIpChecksum => "bad IPv4 header checksum",
            WireError::BadChecksum => "bad transport checksum",
            WireError::Fragment => "IP fragment",
            WireError::BadOption => "malformed TCP option",
            WireError::UnknownProtocol => "unknown IP protocol",
        };
        f.write_str(s)
    }
}

impl std::error::Error for WireError {}
