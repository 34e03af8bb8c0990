//! TCP header and options (RFC 9293 §3.1, RFC 7323, RFC 2018, RFC 6691).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::WireError;
use super::checksum;
use super::ip::tcp_pseudo_header;
use crate::seq::SeqNum;

/// Length of a TCP header without options.
pub const TCP_HEADER_LEN: usize = 20;
/// Most option bytes a header can carry.
const MAX_OPTIONS_LEN: usize = 40;

/// The control bits of a TCP header.
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push function.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// Acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// Urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);

    /// No flags.
    pub const fn empty() -> TcpFlags {
        TcpFlags(0)
    }

    /// True if every flag in `other` is set.
    #[inline]
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// True if any flag in `other` is set.
    #[inline]
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// Shorthand for `contains(SYN)`.
    #[inline]
    pub const fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    /// Shorthand for `contains(ACK)`.
    #[inline]
    pub const fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
    /// Shorthand for `contains(FIN)`.
    #[inline]
    pub const fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    /// Shorthand for `contains(RST)`.
    #[inline]
    pub const fn rst(self) -> bool {
        self.contains(Self::RST)
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [(0x02, "SYN"), (0x01, "FIN"), (0x04, "RST"), (0x08, "PSH"), (0x10, "ACK"), (0x20, "URG")];
        let mut first = true;
        for (bit, name) in names {
            if self.0 & bit != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// The RFC 7323 timestamps option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Timestamps {
    /// TSval: the sender's clock.
    pub val: u32,
    /// TSecr: the most recent TSval the sender received.
    pub ecr: u32,
}

/// Up to four SACK blocks (RFC 2018 §3), each `[left, right)`. Two values are equal when
/// they hold the same blocks in the same order.
#[derive(Clone, Copy, Default)]
pub struct SackBlocks {
    blocks: [(SeqNum, SeqNum); 4],
    len: u8,
}

impl SackBlocks {
    /// Appends a block; ignored past four.
    pub fn push(&mut self, left: SeqNum, right: SeqNum) {
        if usize::from(self.len) < self.blocks.len() {
            self.blocks[usize::from(self.len)] = (left, right);
            self.len += 1;
        }
    }

    /// The blocks in order.
    pub fn as_slice(&self) -> &[(SeqNum, SeqNum)] {
        &self.blocks[..usize::from(self.len)]
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps only the first `n` blocks.
    pub fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n as u8);
    }
}

impl PartialEq for SackBlocks {
    fn eq(&self, other: &SackBlocks) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SackBlocks {}

impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice().iter().map(|(l, r)| l.0..r.0)).finish()
    }
}

/// A TCP Fast Open option (RFC 7413 §4.1.1): a cookie, or an empty request for one.
/// Before kind 34 was assigned, Linux and others sent it as the experimental option 254
/// with the magic number 0xF989 (RFC 6994); servers answer in the form the client used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FastOpenOption {
    /// Sent as option 254 with magic 0xF989 rather than as option 34.
    pub experimental: bool,
    len: u8,
    cookie: [u8; FastOpenOption::MAX_COOKIE],
}

impl FastOpenOption {
    /// The longest cookie the option carries (RFC 7413 §4.1.1: 4 to 16 bytes).
    pub const MAX_COOKIE: usize = 16;
    const KIND: u8 = 34;
    const EXPERIMENTAL_KIND: u8 = 254;
    const MAGIC: [u8; 2] = [0xF9, 0x89];

    /// An option carrying `cookie` (at most [`MAX_COOKIE`](Self::MAX_COOKIE) bytes; an empty
    /// one is a cookie request).
    pub fn new(experimental: bool, cookie: &[u8]) -> Option<FastOpenOption> {
        let mut o = FastOpenOption { experimental, len: u8::try_from(cookie.len()).ok()?, cookie: [0; Self::MAX_COOKIE] };
        o.cookie.get_mut(..cookie.len())?.copy_from_slice(cookie);
        Some(o)
    }

    /// The cookie; empty for a request.
    pub fn cookie(&self) -> &[u8] {
        &self.cookie[..usize::from(self.len)]
    }

    /// Bytes on the wire, NOP padding included (Linux pads option 34 to a word).
    fn wire_len(&self) -> usize {
        let raw = if self.experimental { 4 } else { 2 } + usize::from(self.len);
        raw.next_multiple_of(4)
    }
}

/// The options this stack reads and writes. Unknown options are skipped on receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// Maximum segment size (kind 2, SYN only).
    pub mss: Option<u16>,
    /// Window scale shift (kind 3, SYN only; RFC 7323 §2).
    pub window_scale: Option<u8>,
    /// SACK permitted (kind 4, SYN only; RFC 2018).
    pub sack_permitted: bool,
    /// Timestamps (kind 8; RFC 7323 §3).
    pub timestamps: Option<Timestamps>,
    /// SACK blocks (kind 5).
    pub sack: SackBlocks,
    /// TCP Fast Open (kind 34, or 254 with magic 0xF989; SYN and SYN-ACK only).
    pub fast_open: Option<FastOpenOption>,
}

impl TcpOptions {
    fn parse(mut opts: &[u8]) -> Result<TcpOptions, WireError> {
        let mut out = TcpOptions::default();
        while let Some(&kind) = opts.first() {
            match kind {
                0 => break,
                1 => {
                    opts = &opts[1..];
                    continue;
                }
                _ => {}
            }
            let len = usize::from(*opts.get(1).ok_or(WireError::BadOption)?);
            if len < 2 || len > opts.len() {
                return Err(WireError::BadOption);
            }
            let body = &opts[2..len];
            match (kind, body.len()) {
                (2, 2) => out.mss = Some(u16::from_be_bytes([body[0], body[1]])),
                (3, 1) => out.window_scale = Some(body[0]),
                (4, 0) => out.sack_permitted = true,
                (5, n) if n % 8 == 0 => {
                    for b in body.chunks_exact(8) {
                        let l = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                        let r = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                        out.sack.push(SeqNum(l), SeqNum(r));
                    }
                }
                (8, 8) => {
                    out.timestamps = Some(Timestamps {
                        val: u32::from_be_bytes([body[0], body[1], body[2], body[3]]),
                        ecr: u32::from_be_bytes([body[4], body[5], body[6], body[7]]),
                    })
                }
                (FastOpenOption::KIND, n) if n <= FastOpenOption::MAX_COOKIE => out.fast_open = FastOpenOption::new(false, body),
                (FastOpenOption::EXPERIMENTAL_KIND, n) if n >= 2 && body[..2] == FastOpenOption::MAGIC => {
                    out.fast_open = FastOpenOption::new(true, &body[2..]);
                }
                // A known kind with the wrong length is malformed (RFC 9293 §3.1 says to
                // handle illegal lengths without crashing; dropping the segment is safe).
                (2..=5 | 8, _) => return Err(WireError::BadOption),
                _ => {}
            }
            opts = &opts[len..];
        }
        Ok(out)
    }

    /// Bytes these options take on the wire, padded to a multiple of four. SACK blocks
    /// that would take the options past 40 bytes are left out (see `emit`).
    pub fn wire_len(&self) -> usize {
        let n = self.fixed_len();
        let blocks = self.sack_blocks_that_fit();
        if blocks > 0 { n + 4 + 8 * blocks } else { n }
    }

    /// Bytes of every option but the SACK blocks.
    fn fixed_len(&self) -> usize {
        let mut n = 0;
        if self.mss.is_some() {
            n += 4;
        }
        // The timestamps word carries SACK-permitted in its padding; see `emit`.
        if self.timestamps.is_some() {
            n += 12;
        } else if self.sack_permitted {
            n += 4;
        }
        if self.window_scale.is_some() {
            n += 4;
        }
        if let Some(f) = &self.fast_open {
            n += f.wire_len();
        }
        n
    }

    /// SACK blocks that fit beside the other options: RFC 2018 §3 lets the sender include
    /// fewer than it has (the first, most recent, are kept).
    fn sack_blocks_that_fit(&self) -> usize {
        let room = MAX_OPTIONS_LEN.saturating_sub(self.fixed_len() + 4) / 8;
        self.sack.len().min(room)
    }

    fn emit(&self, buf: &mut [u8]) -> usize {
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            buf[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        if let Some(mss) = self.mss {
            let m = mss.to_be_bytes();
            put(&[2, 4, m[0], m[1]]);
        }
        // Linux's layout: SACK-permitted shares its word with the timestamps option.
        match (self.sack_permitted, self.timestamps) {
            (true, Some(ts)) => {
                put(&[4, 2, 8, 10]);
                put(&ts.val.to_be_bytes());
                put(&ts.ecr.to_be_bytes());
            }
            (false, Some(ts)) => {
                put(&[1, 1, 8, 10]);
                put(&ts.val.to_be_bytes());
                put(&ts.ecr.to_be_bytes());
            }
            (true, None) => put(&[1, 1, 4, 2]),
            (false, None) => {}
        }
        if let Some(ws) = self.window_scale {
            put(&[1, 3, 3, ws]);
        }
        let blocks = self.sack_blocks_that_fit();
        if blocks > 0 {
            put(&[1, 1, 5, 2 + 8 * blocks as u8]);
            for &(l, r) in &self.sack.as_slice()[..blocks] {
                put(&l.0.to_be_bytes());
                put(&r.0.to_be_bytes());
            }
        }
        // Linux's layout: Fast Open last, option 34 followed by NOPs to the word.
        if let Some(f) = &self.fast_open {
            let cookie = f.cookie();
            if f.experimental {
                put(&[FastOpenOption::EXPERIMENTAL_KIND, 4 + f.len]);
                put(&FastOpenOption::MAGIC);
            } else {
                put(&[FastOpenOption::KIND, 2 + f.len]);
            }
            put(cookie);
            let raw = if f.experimental { 4 } else { 2 } + cookie.len();
            for _ in raw..f.wire_len() {
                put(&[1]);
            }
        }
        at
    }
}

/// The fixed header fields and options of one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TcpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: SeqNum,
    /// Acknowledgment number (meaningful with ACK).
    pub ack: SeqNum,
    /// Control bits.
    pub flags: TcpFlags,
    /// The window field as sent, before scaling.
    pub window: u16,
    /// Urgent pointer (read, never acted on: RFC 6093 advises against urgent data).
    pub urgent: u16,
    /// Options.
    pub options: TcpOptions,
}

impl TcpHeader {
    /// Header length on the wire, options included.
    pub fn wire_len(&self) -> usize {
        TCP_HEADER_LEN + self.options.wire_len()
    }

    /// Writes the header into `buf` (checksum zero, see [`fill_tcp_checksum_v4`]) and
    /// returns its length. The payload goes right after it. Options never exceed 40 bytes:
    /// SACK blocks that do not fit are left out.
    ///
    /// # Panics
    /// If `buf` is shorter than [`TcpHeader::wire_len`].
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let hlen = self.wire_len();
        let h = &mut buf[..hlen];
        h[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        h[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        h[4..8].copy_from_slice(&self.seq.0.to_be_bytes());
        h[8..12].copy_from_slice(&self.ack.0.to_be_bytes());
        h[12] = ((hlen / 4) as u8) << 4;
        h[13] = self.flags.0;
        h[14..16].copy_from_slice(&self.window.to_be_bytes());
        h[16..18].copy_from_slice(&[0, 0]);
        h[18..20].copy_from_slice(&self.urgent.to_be_bytes());
        self.options.emit(&mut h[TCP_HEADER_LEN..]);
        hlen
    }
}

/// A validated TCP segment: header parsed, checksum verified.
///
/// ```
/// use ringtcp_transport::wire::{TcpHeader, TcpFlags, TcpSegment, fill_tcp_checksum_v4};
/// use ringtcp_transport::SeqNum;
/// use std::net::Ipv4Addr;
/// let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
/// let hdr = TcpHeader { src_port: 1000, dst_port: 80, seq: SeqNum(7), flags: TcpFlags::SYN, window: 100, ..Default::default() };
/// let mut buf = [0u8; 64];
/// let n = hdr.emit(&mut buf);
/// buf[n..n + 2].copy_from_slice(b"hi");
/// fill_tcp_checksum_v4(&mut buf[..n + 2], a, b);
/// let seg = TcpSegment::parse_v4(&buf[..n + 2], a, b).unwrap();
/// assert_eq!(seg.header.seq, SeqNum(7));
/// assert_eq!(seg.payload, b"hi");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TcpSegment<'a> {
    /// Header fields and options.
    pub header: TcpHeader,
    /// Data carried.
    pub payload: &'a [u8],
}

impl<'a> TcpSegment<'a> {
    /// Parses and checksums a segment carried in IPv4 from `src` to `dst`.
    pub fn parse_v4(bytes: &'a [u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<Self, WireError> {
        Self::parse(bytes, IpAddr::V4(src), IpAddr::V4(dst))
    }

    /// Parses and checksums a segment carried in IPv6 from `src` to `dst`.
    pub fn parse_v6(bytes: &'a [u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<Self, WireError> {
        Self::parse(bytes, IpAddr::V6(src), IpAddr::V6(dst))
    }

    /// Parses and checksums a segment carried from `src` to `dst`, either family.
    pub fn parse(bytes: &'a [u8], src: IpAddr, dst: IpAddr) -> Result<Self, WireError> {
        if bytes.len() < TCP_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let acc = tcp_pseudo_header(src, dst, bytes.len());
        if checksum::finish(checksum::accumulate(acc, bytes)) != 0 {
            return Err(WireError::BadChecksum);
        }
        Self::parse_unchecked(bytes)
    }

    /// Parses a segment whose checksum the device has verified or will not have filled
    /// in (a partial checksum from a virtio-net device: see
    /// [`Shard::handle_offloaded_packet`](crate::Shard::handle_offloaded_packet)). Header
    /// and options are checked as by [`TcpSegment::parse`].
    ///
    /// ```
    /// use ringtcp_transport::wire::{TcpFlags, TcpHeader, TcpSegment};
    ///
    /// let h = TcpHeader { src_port: 1, dst_port: 2, flags: TcpFlags::ACK, ..TcpHeader::default() };
    /// let mut buf = [0u8; 20];
    /// h.emit(&mut buf);
    /// // The checksum field holds zero, not the sum: only the device's word vouches for it.
    /// assert_eq!(TcpSegment::parse_offloaded(&buf).unwrap().header.dst_port, 2);
    /// ```
    pub fn parse_offloaded(bytes: &'a [u8]) -> Result<Self, WireError> {
        if bytes.len() < TCP_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Self::parse_unchecked(bytes)
    }

    fn parse_unchecked(bytes: &'a [u8]) -> Result<Self, WireError> {
        let doff = usize::from(bytes[12] >> 4) * 4;
        if doff < TCP_HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if doff > bytes.len() {
            return Err(WireError::Truncated);
        }
        let options = TcpOptions::parse(&bytes[TCP_HEADER_LEN..doff])?;
        let header = TcpHeader {
            src_port: u16::from_be_bytes([bytes[0], bytes[1]]),
            dst_port: u16::from_be_bytes([bytes[2], bytes[3]]),
            seq: SeqNum(u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]])),
            ack: SeqNum(u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]])),
            flags: TcpFlags(bytes[13] & 0x3f),
            window: u16::from_be_bytes([bytes[14], bytes[15]]),
            urgent: u16::from_be_bytes([bytes[18], bytes[19]]),
            options,
        };
        Ok(TcpSegment { header, payload: &bytes[doff..] })
    }

    /// Reads only the ports and sequence number of a segment quoted inside an ICMP error,
    /// where just the first 8 bytes are guaranteed (RFC 792).
    pub fn quoted_ports_seq(bytes: &[u8]) -> Option<(u16, u16, SeqNum)> {
        if bytes.len() < 8 {
            return None;
        }
        Some((
            u16::from_be_bytes([bytes[0], bytes[1]]),
            u16::from_be_bytes([bytes[2], bytes[3]]),
            SeqNum(u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]])),
        ))
    }

    /// Segment length in sequence space: data plus one each for SYN and FIN.
    pub fn seq_len(&self) -> usize {
        self.payload.len() + usize::from(self.header.flags.syn()) + usize::from(self.header.flags.fin())
    }
}

/// Computes and stores the checksum of a complete TCP segment (`buf` is header + payload).
pub fn fill_tcp_checksum_v4(buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) {
    fill_tcp_checksum(buf, IpAddr::V4(src), IpAddr::V4(dst));
}

/// Computes and stores the checksum of a complete TCP segment carried from `src` to
/// `dst`, either family (`buf` is header + payload).
pub fn fill_tcp_checksum(buf: &mut [u8], src: IpAddr, dst: IpAddr) {
    buf[16] = 0;
    buf[17] = 0;
    let acc = tcp_pseudo_header(src, dst, buf.len());
    let c = checksum::finish(checksum::accumulate(acc, buf));
    buf[16..18].copy_from_slice(&c.to_be_bytes());
}

/// Stores the partial checksum of a TCP segment for a device that completes it: the
/// pseudo-header sum (with the segment's length) folded to 16 bits and not complemented,
/// as Linux leaves the field for a device with checksum offload. The device sums the
/// segment from its first byte, the field included, and stores the complement.
///
/// ```
/// use ringtcp_transport::wire::{TcpFlags, TcpHeader, TcpSegment, fill_tcp_checksum_partial};
/// use std::net::{IpAddr, Ipv4Addr};
///
/// let (a, b) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
/// let h = TcpHeader { src_port: 1, dst_port: 2, flags: TcpFlags::ACK, ..TcpHeader::default() };
/// let mut seg = [0u8; 24];
/// h.emit(&mut seg);
/// seg[20..].copy_from_slice(b"data");
/// fill_tcp_checksum_partial(&mut seg, a, b);
/// // Not a complete checksum: only the device's work makes it one.
/// assert!(TcpSegment::parse(&seg, a, b).is_err());
/// ```
pub fn fill_tcp_checksum_partial(buf: &mut [u8], src: IpAddr, dst: IpAddr) {
    let len = buf.len();
    fill_tcp_checksum_partial_for(buf, src, dst, len);
}

/// As [`fill_tcp_checksum_partial`], for a segment of `tcp_len` bytes of which `header`
/// holds the first (its payload lies elsewhere: a gathered write).
///
/// ```
/// use ringtcp_transport::wire::{TcpFlags, TcpHeader, fill_tcp_checksum_partial, fill_tcp_checksum_partial_for};
/// use std::net::{IpAddr, Ipv4Addr};
///
/// let (a, b) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
/// let h = TcpHeader { src_port: 1, dst_port: 2, flags: TcpFlags::ACK, ..TcpHeader::default() };
/// let (mut whole, mut header) = ([0u8; 24], [0u8; 20]);
/// h.emit(&mut whole);
/// h.emit(&mut header);
/// fill_tcp_checksum_partial(&mut whole, a, b);
/// fill_tcp_checksum_partial_for(&mut header, a, b, 24);
/// assert_eq!(whole[..20], header);
/// ```
pub fn fill_tcp_checksum_partial_for(header: &mut [u8], src: IpAddr, dst: IpAddr, tcp_len: usize) {
    let partial = !checksum::finish(tcp_pseudo_header(src, dst, tcp_len));
    header[16..18].copy_from_slice(&partial.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_checksum_completed_as_a_device_does_is_the_full_one() {
        let (a, b) = (IpAddr::V4(A), IpAddr::V4(B));
        let v6 = (IpAddr::V6("fd00::1".parse().unwrap()), IpAddr::V6("fd00::2".parse().unwrap()));
        for (src, dst) in [(a, b), v6] {
            for len in [0usize, 1, 7, 1448, 65_000] {
                let h = TcpHeader { src_port: 443, dst_port: 40_000, seq: SeqNum(7), flags: TcpFlags::ACK, ..TcpHeader::default() };
                let mut seg = vec![0u8; 20 + len];
                h.emit(&mut seg);
                for (i, x) in seg[20..].iter_mut().enumerate() {
                    *x = (i * 31 + len) as u8;
                }
                let mut full = seg.clone();
                fill_tcp_checksum(&mut full, src, dst);
                fill_tcp_checksum_partial(&mut seg, src, dst);
                // The device: sum from the start of the TCP header, field included.
                let done = checksum::finish(checksum::accumulate(0, &seg));
                seg[16..18].copy_from_slice(&done.to_be_bytes());
                assert_eq!(seg, full, "{src} {len} bytes");
                assert!(TcpSegment::parse(&seg, src, dst).is_ok());
            }
        }
    }

    const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    fn roundtrip(h: TcpHeader, payload: &[u8]) -> (TcpHeader, Vec<u8>) {
        let mut buf = vec![0u8; h.wire_len() + payload.len()];
        let n = h.emit(&mut buf);
        buf[n..].copy_from_slice(payload);
        fill_tcp_checksum_v4(&mut buf, A, B);
        let s = TcpSegment::parse_v4(&buf, A, B).unwrap();
        (s.header, s.payload.to_vec())
    }

    #[test]
    fn syn_options_round_trip_in_linux_layout() {
        let h = TcpHeader {
            src_port: 40000,
            dst_port: 80,
            seq: SeqNum(1),
            flags: TcpFlags::SYN,
            window: 65535,
            options: TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some(Timestamps { val: 11, ecr: 0 }),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(h.wire_len(), 40);
        let mut buf = [0u8; 40];
        h.emit(&mut buf);
        assert_eq!(&buf[20..28], &[2, 4, 0x05, 0xb4, 4, 2, 8, 10]);
        assert_eq!(&buf[36..40], &[1, 3, 3, 7]);
        assert_eq!(roundtrip(h, b"").0, h);
    }

    #[test]
    fn sack_blocks_round_trip() {
        let mut sack = SackBlocks::default();
        sack.push(SeqNum(100), SeqNum(200));
        sack.push(SeqNum(300), SeqNum(400));
        sack.push(SeqNum(500), SeqNum(600));
        let h = TcpHeader {
            flags: TcpFlags::ACK,
            options: TcpOptions { timestamps: Some(Timestamps { val: 1, ecr: 2 }), sack, ..Default::default() },
            ..Default::default()
        };
        assert_eq!(h.wire_len(), 60);
        let (back, payload) = roundtrip(h, b"data");
        assert_eq!(back, h);
        assert_eq!(payload, b"data");
    }

    #[test]
    fn sack_blocks_that_do_not_fit_are_left_out_and_equality_ignores_them() {
        let mut sack = SackBlocks::default();
        for i in 0..4u32 {
            sack.push(SeqNum(i * 100), SeqNum(i * 100 + 50));
        }
        let options = TcpOptions { mss: Some(1460), timestamps: Some(Timestamps { val: 1, ecr: 2 }), sack, ..Default::default() };
        // MSS 4 + timestamps 12 leave room for two blocks (4 + 16) within 40 bytes.
        assert_eq!(options.wire_len(), 36);
        let h = TcpHeader { flags: TcpFlags::ACK, options, ..Default::default() };
        let (back, _) = roundtrip(h, b"");
        let mut want = sack;
        want.truncate(2);
        assert_eq!(back.options.sack, want);
        assert_eq!(back.options.sack.as_slice(), &sack.as_slice()[..2], "the first, most recent, are kept");
    }

    #[test]
    fn fast_open_options_round_trip_in_both_forms_with_linuxs_padding() {
        for (experimental, cookie, len) in [(false, &[][..], 4), (false, &[1, 2, 3, 4, 5, 6, 7, 8][..], 12), (true, &[9; 8][..], 12), (true, &[][..], 4)] {
            let fast_open = FastOpenOption::new(experimental, cookie);
            let options = TcpOptions { mss: Some(1460), fast_open, ..Default::default() };
            assert_eq!(options.wire_len(), 4 + len);
            let h = TcpHeader { flags: TcpFlags::SYN, options, ..Default::default() };
            let (back, _) = roundtrip(h, b"data");
            assert_eq!(back.options.fast_open, fast_open);
        }
        // Option 254 with another magic number is some other experiment: skipped.
        let mut buf = vec![0u8; 28];
        buf[12] = 7 << 4;
        buf[13] = TcpFlags::SYN.0;
        buf[20..28].copy_from_slice(&[254, 8, 0x12, 0x34, 1, 2, 3, 4]);
        fill_tcp_checksum_v4(&mut buf, A, B);
        assert_eq!(TcpSegment::parse_v4(&buf, A, B).unwrap().header.options.fast_open, None);
        assert_eq!(FastOpenOption::new(false, &[0; 17]), None, "longer than RFC 7413 allows");
    }

    #[test]
    fn bad_checksum_and_bad_options_rejected() {
        let h = TcpHeader { flags: TcpFlags::ACK, ..Default::default() };
        let mut buf = vec![0u8; 24];
        h.emit(&mut buf);
        fill_tcp_checksum_v4(&mut buf, A, B);
        buf[23] ^= 0xff;
        assert_eq!(TcpSegment::parse_v4(&buf, A, B).unwrap_err(), WireError::BadChecksum);

        // data offset 6 with an MSS option whose length byte runs past the header
        let mut bad = vec![0u8; 24];
        bad[12] = 6 << 4;
        bad[20..24].copy_from_slice(&[2, 9, 0, 0]);
        fill_tcp_checksum_v4(&mut bad, A, B);
        assert_eq!(TcpSegment::parse_v4(&bad, A, B).unwrap_err(), WireError::BadOption);

        // zero-length option would loop forever if accepted
        bad[20..24].copy_from_slice(&[9, 0, 0, 0]);
        fill_tcp_checksum_v4(&mut bad, A, B);
        assert_eq!(TcpSegment::parse_v4(&bad, A, B).unwrap_err(), WireError::BadOption);

        // data offset below 5
        let mut small = vec![0u8; 20];
        small[12] = 4 << 4;
        fill_tcp_checksum_v4(&mut small, A, B);
        assert_eq!(TcpSegment::parse_v4(&small, A, B).unwrap_err(), WireError::Malformed);

        // data offset past the end
        let mut long = vec![0u8; 20];
        long[12] = 15 << 4;
        fill_tcp_checksum_v4(&mut long, A, B);
        assert_eq!(TcpSegment::parse_v4(&long, A, B).unwrap_err(), WireError::Truncated);
    }

    #[test]
    fn unknown_options_skipped() {
        let mut buf = vec![0u8; 28];
        buf[12] = 7 << 4;
        buf[13] = TcpFlags::ACK.0;
        buf[20..28].copy_from_slice(&[30, 4, 0xaa, 0xbb, 2, 4, 0x02, 0x00]);
        fill_tcp_checksum_v4(&mut buf, A, B);
        let s = TcpSegment::parse_v4(&buf, A, B).unwrap();
        assert_eq!(s.header.options.mss, Some(512));
    }
}
