//! Clearing PSH on what the stack sends, for the scripts whose only difference from Linux
//! is where PSH goes.
//!
//! Linux sets PSH on the last segment of each of its internal send buffers (skbs, sized by
//! its TSO autosizing); ringtcp sets it on the segment that empties the send queue or ends
//! a window-limited burst. RFC 9293 §3.9.1.2 leaves the choice to the sender and says a
//! receiver must not depend on it, so the difference is *differs*, not a bug. A script
//! that trips over it stops at that line, though, and the lines after it go unchecked. With
//! `--so_flags=...,mask_psh=1` the adapter clears PSH on every segment it hands
//! packetdrill, and the runner clears it from the script's outbound lines: the run then
//! checks everything but PSH.

/// Clears PSH in the TCP header of an IPv4 or IPv6 packet and mends the TCP checksum
/// (RFC 1624's incremental update). Anything that is not a well-formed TCP packet with
/// PSH set is left alone.
pub fn clear_psh(packet: &mut [u8]) {
    let Some(tcp) = tcp_offset(packet) else { return };
    if packet.len() < tcp + 20 || packet[tcp + 13] & PSH == 0 {
        return;
    }
    let word_at = tcp + 12;
    let old = u16::from_be_bytes([packet[word_at], packet[word_at + 1]]);
    packet[tcp + 13] &= !PSH;
    let new = u16::from_be_bytes([packet[word_at], packet[word_at + 1]]);
    let sum = u16::from_be_bytes([packet[tcp + 16], packet[tcp + 17]]);
    // RFC 1624 eq. 3: HC' = ~(~HC + ~m + m'), in ones' complement arithmetic.
    let mut acc = u32::from(!sum) + u32::from(!old) + u32::from(new);
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    packet[tcp + 16..tcp + 18].copy_from_slice(&(!(acc as u16)).to_be_bytes());
}

const PSH: u8 = 0x08;
const TCP: u8 = 6;

/// Where the TCP header starts, if the packet is TCP over IPv4 or over IPv6 with no
/// extension header (the stack sends none).
fn tcp_offset(packet: &[u8]) -> Option<usize> {
    match packet.first()? >> 4 {
        4 => {
            let ihl = usize::from(packet[0] & 0x0f) * 4;
            (ihl >= 20 && packet.len() > ihl && packet.get(9) == Some(&TCP)).then_some(ihl)
        }
        6 => (packet.len() > 40 && packet.get(6) == Some(&TCP)).then_some(40),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The TCP checksum computed from scratch over the IPv4 pseudo-header.
    fn tcp_checksum_v4(p: &[u8]) -> u16 {
        let tcp = &p[20..];
        let mut sum = 0u32;
        let mut add = |b: &[u8]| {
            for c in b.chunks(2) {
                sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            }
        };
        add(&p[12..20]);
        add(&[0, TCP]);
        add(&(tcp.len() as u16).to_be_bytes());
        let mut t = tcp.to_vec();
        t[16] = 0;
        t[17] = 0;
        add(&t);
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    fn segment(flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((40 + payload.len()) as u16).to_be_bytes());
        p[8] = 64;
        p[9] = TCP;
        p[12..16].copy_from_slice(&[192, 168, 0, 1]);
        p[16..20].copy_from_slice(&[192, 0, 2, 1]);
        p[20..22].copy_from_slice(&8080u16.to_be_bytes());
        p[22..24].copy_from_slice(&50000u16.to_be_bytes());
        p[24..28].copy_from_slice(&1u32.to_be_bytes());
        p[28..32].copy_from_slice(&1001u32.to_be_bytes());
        p[32] = 5 << 4;
        p[33] = flags;
        p[34..36].copy_from_slice(&65535u16.to_be_bytes());
        p.extend_from_slice(payload);
        let c = tcp_checksum_v4(&p);
        p[36..38].copy_from_slice(&c.to_be_bytes());
        p
    }

    #[test]
    fn psh_goes_and_the_checksum_stays_right() {
        let mut p = segment(0x18, b"hello, world");
        clear_psh(&mut p);
        assert_eq!(p[33], 0x10, "ACK stays, PSH goes");
        assert_eq!(u16::from_be_bytes([p[36], p[37]]), tcp_checksum_v4(&p));
    }

    #[test]
    fn packets_without_psh_are_untouched() {
        let original = segment(0x11, b"");
        let mut p = original.clone();
        clear_psh(&mut p);
        assert_eq!(p, original);
        let mut short = vec![0x45, 0, 0];
        clear_psh(&mut short);
        assert_eq!(short, vec![0x45, 0, 0]);
    }
}
