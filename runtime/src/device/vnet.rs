//! The virtio-net header a TUN queue opened with `IFF_VNET_HDR` puts before every packet
//! (`struct virtio_net_hdr_mrg_rxbuf`, 12 bytes, in the host's byte order for a legacy
//! header), and switching a device's offloads on.
//!
//! With offloads on, the kernel may hand the stack a TCP packet of up to 64 KB that its
//! own segmentation offload has not cut into MSS-sized segments (`gso_type` set), and a
//! checksum it left partial because the packet never left the host (`NEEDS_CSUM`), or one
//! it has verified (`DATA_VALID`). The stack then takes one packet where it took dozens
//! and skips checksum work the kernel has done or made unnecessary.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::sys::cvt;

/// Bytes of the header before each packet: `virtio_net_hdr` and its `num_buffers` field,
/// which also puts the IP header on a 4-byte boundary.
pub const HEADER_LEN: usize = 12;
/// The largest packet a TUN device with segmentation offload hands over (the IP length
/// field's limit; ringtcp does not raise the device's GSO size beyond it).
pub const MAX_PACKET: usize = 65_535;

/// `flags`: the checksum is partial; the receiver need not (cannot) verify it.
pub const F_NEEDS_CSUM: u8 = 1;
/// `flags`: the device has verified the checksum.
pub const F_DATA_VALID: u8 = 2;
/// `gso_type`: not a super-packet.
pub const GSO_NONE: u8 = 0;

/// `_IOW('T', 208, unsigned int)`.
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
/// `_IOW('T', 216, int)`.
const TUNSETVNETHDRSZ: libc::c_ulong = 0x4004_54d8;
/// `TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6`: the stack takes partial checksums and TCP
/// super-packets of both families.
const OFFLOADS: libc::c_uint = 0x01 | 0x02 | 0x04;

/// The header's fields the stack reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHeader {
    /// `F_NEEDS_CSUM`, `F_DATA_VALID`.
    pub flags: u8,
    /// `GSO_NONE`, or the kind of super-packet.
    pub gso_type: u8,
    /// Payload bytes of each segment the super-packet stands for.
    pub gso_size: u16,
}

impl VnetHeader {
    /// Reads the header at the start of `buf`; `None` if `buf` is shorter than one.
    ///
    /// ```
    /// use ringtcp_runtime::device::vnet::{F_NEEDS_CSUM, HEADER_LEN, VnetHeader};
    ///
    /// let mut buf = [0u8; HEADER_LEN];
    /// buf[0] = F_NEEDS_CSUM;
    /// buf[1] = 1; // VIRTIO_NET_HDR_GSO_TCPV4
    /// buf[4..6].copy_from_slice(&1448u16.to_ne_bytes());
    /// let h = VnetHeader::parse(&buf).unwrap();
    /// assert!(h.checksum_vouched() && h.is_super_packet());
    /// assert_eq!(h.gso_size, 1448);
    /// ```
    pub fn parse(buf: &[u8]) -> Option<VnetHeader> {
        let b = buf.get(..HEADER_LEN)?;
        Some(VnetHeader { flags: b[0], gso_type: b[1], gso_size: u16::from_ne_bytes([b[4], b[5]]) })
    }

    /// True if the kernel vouches for the transport checksum (verified, or partial
    /// because the packet was made on this host).
    pub fn checksum_vouched(&self) -> bool {
        self.flags & (F_NEEDS_CSUM | F_DATA_VALID) != 0
    }

    /// True if the packet stands for several segments.
    pub fn is_super_packet(&self) -> bool {
        self.gso_type & 0x7f != GSO_NONE
    }
}

/// `gso_type` of a TCP super-packet over IPv4 and over IPv6.
const GSO_TCPV4: u8 = 1;
const GSO_TCPV6: u8 = 4;
/// Where the TCP checksum field is within the TCP header.
const TCP_CHECKSUM_OFFSET: u16 = 16;

/// Writes the header of `frame` (header space, then the TCP/IP packet the transport
/// built) for what the transport asked of the device: a partial checksum to complete
/// (`NEEDS_CSUM` from the end of the IP header), a super-segment to cut (`gso_type` of the
/// packet's family, `gso_size`, `hdr_len` up to the payload).
///
/// ```
/// use ringtcp_runtime::device::vnet::{F_NEEDS_CSUM, HEADER_LEN, VnetHeader, write_header};
/// use ringtcp_runtime::transport::Transmit;
///
/// let mut frame = vec![0u8; HEADER_LEN + 20 + 32 + 4000];
/// frame[HEADER_LEN] = 0x45; // IPv4, 20-byte header
/// frame[HEADER_LEN + 20 + 12] = 8 << 4; // TCP data offset: 32 bytes
/// write_header(&mut frame, &Transmit { len: 20 + 32 + 4000, segment_size: Some(1448), partial_checksum: true });
/// let h = VnetHeader::parse(&frame).unwrap();
/// assert_eq!((h.flags, h.gso_type, h.gso_size), (F_NEEDS_CSUM, 1, 1448));
/// ```
pub fn write_header(frame: &mut [u8], t: &ringtcp_transport::Transmit) {
    let h = header_for(frame.get(HEADER_LEN..).unwrap_or_default(), t);
    if let Some(space) = frame.get_mut(..HEADER_LEN) {
        space.copy_from_slice(&h);
    }
}

/// The header for `packet`; all zero (complete checksums, one segment) for an empty one.
fn header_for(packet: &[u8], t: &ringtcp_transport::Transmit) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    let (ip_len, gso_type) = match packet.first().map(|b| b >> 4) {
        Some(6) => (40usize, GSO_TCPV6),
        Some(_) => (usize::from(packet[0] & 0x0f) * 4, GSO_TCPV4),
        None => return h,
    };
    let tcp_len = packet.get(ip_len + 12).map_or(20, |b| usize::from(b >> 4) * 4);
    if t.partial_checksum {
        h[0] = F_NEEDS_CSUM;
        h[6..8].copy_from_slice(&(ip_len as u16).to_ne_bytes());
        h[8..10].copy_from_slice(&TCP_CHECKSUM_OFFSET.to_ne_bytes());
    }
    if let Some(size) = t.segment_size {
        h[1] = gso_type;
        h[2..4].copy_from_slice(&((ip_len + tcp_len) as u16).to_ne_bytes());
        h[4..6].copy_from_slice(&size.to_ne_bytes());
    }
    h
}

/// Sets the header size and the offloads on a TUN queue opened with `IFF_VNET_HDR`.
///
/// # Errors
/// The ioctl's error, when the kernel refuses either.
pub fn enable(queue: &OwnedFd) -> io::Result<()> {
    let size: libc::c_int = HEADER_LEN as libc::c_int;
    // SAFETY: TUNSETVNETHDRSZ reads one int through the pointer.
    cvt(unsafe { libc::ioctl(queue.as_raw_fd(), TUNSETVNETHDRSZ, &size as *const libc::c_int) })?;
    // SAFETY: TUNSETOFFLOAD takes its flags by value.
    cvt(unsafe { libc::ioctl(queue.as_raw_fd(), TUNSETOFFLOAD, OFFLOADS as libc::c_ulong) })?;
    Ok(())
}
