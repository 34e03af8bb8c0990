//! The Internet checksum (RFC 1071). Sums 64 bits at a time with end-around carry, which
//! folds to the same one's-complement value as 16-bit summing and is several times faster.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Adds `data` to a running one's-complement sum (kept in network byte order). `data` is
/// treated as starting on an even offset; an odd trailing byte is padded with zero, as
/// RFC 1071 says.
///
/// The bytes are summed as native-endian 32-bit words into four 64-bit lanes: no carry
/// needs handling until the end (it would take 2^32 words to overflow a lane), the lanes
/// are independent so the loop vectorises, and RFC 1071 §2(B) lets the byte order be
/// fixed once, on the folded 16-bit result.
#[inline]
pub(crate) fn accumulate(acc: u64, data: &[u8]) -> u64 {
    let mut lanes = [0u64; 4];
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        for (i, lane) in lanes.iter_mut().enumerate() {
            let w = [c[4 * i], c[4 * i + 1], c[4 * i + 2], c[4 * i + 3]];
            *lane += u64::from(u32::from_ne_bytes(w));
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut pad = [0u8; 16];
        pad[..rest.len()].copy_from_slice(rest);
        for (i, lane) in lanes.iter_mut().enumerate() {
            let w = [pad[4 * i], pad[4 * i + 1], pad[4 * i + 2], pad[4 * i + 3]];
            *lane += u64::from(u32::from_ne_bytes(w));
        }
    }
    let mut sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let folded = if cfg!(target_endian = "little") { (sum as u16).swap_bytes() } else { sum as u16 };
    acc + u64::from(folded)
}

/// Folds a running sum to 16 bits and complements it: the value to put in a header.
#[inline]
pub(crate) fn finish(mut acc: u64) -> u16 {
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    !(acc as u16)
}

/// The IPv4 pseudo-header sum (RFC 9293 §3.1) for a transport segment of `len` bytes.
#[inline]
pub(crate) fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: usize) -> u64 {
    let s = u64::from(u32::from(src));
    let d = u64::from(u32::from(dst));
    s + d + u64::from(protocol) + len as u64
}

/// The IPv6 pseudo-header sum (RFC 8200 §8.1) for an upper-layer packet of `len` bytes:
/// both 128-bit addresses, the 32-bit length and the next-header value.
#[inline]
pub(crate) fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: usize) -> u64 {
    let words = |a: Ipv6Addr| {
        let b = u128::from(a);
        (b >> 96) as u32 as u64 + (b >> 64) as u32 as u64 + (b >> 32) as u32 as u64 + b as u32 as u64
    };
    words(src) + words(dst) + u64::from(next_header) + len as u64
}

/// The checksum of `data` alone (IPv4 header, ICMP message).
pub fn checksum(data: &[u8]) -> u16 {
    finish(accumulate(0, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for pair in data.chunks(2) {
            let w = if pair.len() == 2 { u16::from_be_bytes([pair[0], pair[1]]) } else { u16::from(pair[0]) << 8 };
            sum += u32::from(w);
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn matches_rfc1071_word_sum_for_every_length() {
        let data: Vec<u8> = (0..300u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80).collect();
        for len in 0..data.len() {
            assert_eq!(checksum(&data[..len]), reference(&data[..len]), "length {len}");
        }
        let ff = [0xffu8; 64];
        for len in 0..ff.len() {
            assert_eq!(checksum(&ff[..len]), reference(&ff[..len]), "all ones, length {len}");
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2, complement 220d.
        assert_eq!(checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0x220d);
    }
}
