//! The Internet checksum (RFC 1071). Sums 64 bits at a time with end-around carry, which
//! folds to the same one's-complement value as 16-bit summing and is several times faster.

use std::net::Ipv4Addr;

/// Adds `data` to a running one's-complement sum. `data` is treated as starting on an even
/// offset; an odd trailing byte is padded with zero, as RFC 1071 says.
#[inline]
pub(crate) fn accumulate(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let (s, carry) = acc.overflowing_add(v);
        acc = s + u64::from(carry);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut pad = [0u8; 8];
        pad[..rest.len()].copy_from_slice(rest);
        let (s, carry) = acc.overflowing_add(u64::from_be_bytes(pad));
        acc = s + u64::from(carry);
    }
    acc
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
