//! Software segmentation of a TCP super-segment (one header, up to 64 KB of payload) into
//! the segments a device's segmentation offload would send, for the impairment layer: a
//! real link loses, duplicates and reorders segments, not whole 64 KB flights, so the
//! layer cuts a super-segment before it impairs. Each segment gets the super-segment's
//! headers with its own sequence number, lengths and full checksums; PSH and FIN stay on
//! the last segment, CWR on the first, as a NIC's TSO does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ringtcp_transport::wire::checksum::checksum;
use ringtcp_transport::wire::fill_tcp_checksum;

/// TCP flag bits the cut moves.
const FIN: u8 = 0x01;
const PSH: u8 = 0x08;
const CWR: u8 = 0x80;

/// The IP version and IP header length of a TCP packet this can read: IPv4, or IPv6 with
/// the TCP header right after the fixed header (the stack's own packets).
fn ip_header(packet: &[u8]) -> Option<(u8, usize)> {
    match packet.first()? >> 4 {
        4 if packet.len() >= 20 && packet[9] == 6 => Some((4, usize::from(packet[0] & 0x0f) * 4)),
        6 if packet.len() >= 40 && packet[6] == 6 => Some((6, 40)),
        _ => None,
    }
}

/// The length of `packet`'s IP and TCP headers, if it is a TCP packet this can read.
pub fn header_len(packet: &[u8]) -> Option<usize> {
    let (_, ip_len) = ip_header(packet)?;
    Some(ip_len + usize::from(packet.get(ip_len + 12)? >> 4) * 4)
}

/// The segments of `packet` (an IPv4 or IPv6 TCP packet) with at most `payload` bytes of
/// data each; `None` if it is not a TCP packet this can read, or needs no cut.
///
/// ```
/// # use ringtcp_runtime::segmenter::split;
/// // 20-byte IPv4 header, 20-byte TCP header (ACK|PSH), 2,500 bytes of data.
/// let mut p = vec![0u8; 40 + 2500];
/// p[0] = 0x45;
/// p[2..4].copy_from_slice(&2540u16.to_be_bytes());
/// p[9] = 6;
/// p[12..16].copy_from_slice(&[10, 0, 0, 1]);
/// p[16..20].copy_from_slice(&[10, 0, 0, 2]);
/// p[20 + 12] = 5 << 4;
/// p[20 + 13] = 0x18;
/// let segs = split(&p, 1000).unwrap();
/// assert_eq!(segs.iter().map(Vec::len).collect::<Vec<_>>(), [1040, 1040, 540]);
/// ```
pub fn split(packet: &[u8], payload: usize) -> Option<Vec<Vec<u8>>> {
    let (version, ip_len) = ip_header(packet)?;
    let (src, dst) = if version == 4 {
        let a = |o: usize| Ipv4Addr::new(packet[o], packet[o + 1], packet[o + 2], packet[o + 3]);
        (IpAddr::V4(a(12)), IpAddr::V4(a(16)))
    } else {
        let a = |o: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&packet[o..o + 16]).unwrap_or_default());
        (IpAddr::V6(a(8)), IpAddr::V6(a(24)))
    };
    let head = header_len(packet)?;
    let tcp_len = head - ip_len;
    if ip_len < 20 || tcp_len < 20 || packet.len() < head || payload == 0 || packet.len() - head <= payload {
        return None;
    }
    let seq = u32::from_be_bytes(packet[ip_len + 4..ip_len + 8].try_into().ok()?);
    let flags = packet[ip_len + 13];
    let ident = u16::from_be_bytes([packet[4], packet[5]]);
    let data = &packet[head..];
    let count = data.len().div_ceil(payload);
    let mut out = Vec::with_capacity(count);
    for (i, chunk) in data.chunks(payload).enumerate() {
        let mut seg = Vec::with_capacity(head + chunk.len());
        seg.extend_from_slice(&packet[..head]);
        seg.extend_from_slice(chunk);
        let total = seg.len();
        if version == 4 {
            seg[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            seg[4..6].copy_from_slice(&ident.wrapping_add(i as u16).to_be_bytes());
            seg[10..12].copy_from_slice(&[0, 0]);
            let c = checksum(&seg[..ip_len]);
            seg[10..12].copy_from_slice(&c.to_be_bytes());
        } else {
            seg[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
        }
        let t = &mut seg[ip_len..];
        t[4..8].copy_from_slice(&seq.wrapping_add((i * payload) as u32).to_be_bytes());
        let last = i + 1 == count;
        t[13] = flags & !(if last { 0 } else { FIN | PSH }) & !(if i == 0 { 0 } else { CWR });
        fill_tcp_checksum(t, src, dst);
        out.push(seg);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringtcp_transport::wire::{TcpFlags, TcpHeader, TcpOptions, TcpSegment, emit_ipv4_header, fill_tcp_checksum_v4};

    #[test]
    fn segments_carry_the_bytes_in_order_with_valid_headers_and_flags_where_tso_puts_them() {
        let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let opts = TcpOptions { timestamps: Some(ringtcp_transport::wire::Timestamps { val: 5, ecr: 6 }), ..TcpOptions::default() };
        let h = TcpHeader { src_port: 80, dst_port: 5000, seq: ringtcp_transport::SeqNum(1_000), ack: ringtcp_transport::SeqNum(77), flags: TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN, window: 500, urgent: 0, options: opts };
        let tl = h.wire_len();
        let mut p = vec![0u8; 20 + tl + data.len()];
        emit_ipv4_header(&mut p, src, dst, 6, tl + data.len(), 64, 9);
        h.emit(&mut p[20..]);
        p[20 + tl..].copy_from_slice(&data);
        fill_tcp_checksum_v4(&mut p[20..], src, dst);

        let segs = split(&p, 1448).expect("a super-segment");
        assert_eq!(segs.len(), 7);
        let mut joined = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            assert_eq!(checksum(&s[..20]), 0, "IPv4 header checksum of segment {i}");
            let seg = TcpSegment::parse(&s[20..], IpAddr::V4(src), IpAddr::V4(dst)).expect("a valid TCP segment with its checksum");
            assert_eq!(seg.header.seq.0, 1_000 + (i * 1448) as u32);
            let last = i == 6;
            assert_eq!(seg.header.flags.contains(TcpFlags::PSH), last);
            assert_eq!(seg.header.flags.contains(TcpFlags::FIN), last);
            assert!(seg.header.flags.contains(TcpFlags::ACK));
            assert_eq!(seg.header.options.timestamps, opts.timestamps);
            joined.extend_from_slice(seg.payload);
        }
        assert_eq!(joined, data);
        assert!(split(&p, 20_000).is_none(), "nothing to cut");
    }
}
