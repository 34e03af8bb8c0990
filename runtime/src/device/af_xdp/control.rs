//! Copies of the frames the link layer learns from: ARP and IPv6 neighbour
//! solicitations and advertisements, read from a packet socket on the interface. The XDP
//! program passes these to the kernel, which keeps resolving its own neighbours and
//! answering for its own addresses as before; ringtcp reads the same frames here (a
//! classic BPF filter keeps everything else, and the host's own outgoing frames, out).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use ringtcp_transport::wire::MacAddr;

use crate::sys::cvt;

/// Frames read per call at most: a flood of ARP cannot hold the shard.
const FRAMES_PER_DRAIN: usize = 64;

fn filter_insn(code: u32, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code: code as u16, jt, jf, k }
}

/// ARP, or ICMPv6 types 135 and 136 right after an IPv6 header; never a frame the host
/// sent itself.
fn program() -> [libc::sock_filter; 12] {
    use libc::{BPF_ABS, BPF_B, BPF_H, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_K, BPF_LD, BPF_RET};
    let pkttype = (libc::SKF_AD_OFF + libc::SKF_AD_PKTTYPE) as u32;
    [
        filter_insn(BPF_LD | BPF_H | BPF_ABS, 0, 0, 12),
        filter_insn(BPF_JMP | BPF_JEQ | BPF_K, 6, 0, 0x0806),
        filter_insn(BPF_JMP | BPF_JEQ | BPF_K, 0, 8, 0x86dd),
        filter_insn(BPF_LD | BPF_B | BPF_ABS, 0, 0, 20),
        filter_insn(BPF_JMP | BPF_JEQ | BPF_K, 0, 6, 58),
        filter_insn(BPF_LD | BPF_B | BPF_ABS, 0, 0, 54),
        filter_insn(BPF_JMP | BPF_JGE | BPF_K, 0, 4, 135),
        filter_insn(BPF_JMP | BPF_JGT | BPF_K, 3, 0, 136),
        filter_insn(BPF_LD | BPF_B | BPF_ABS, 0, 0, pkttype),
        filter_insn(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, u32::from(libc::PACKET_OUTGOING)),
        filter_insn(BPF_RET | BPF_K, 0, 0, 0xffff),
        filter_insn(BPF_RET | BPF_K, 0, 0, 0),
    ]
}

/// The packet socket.
#[derive(Debug)]
pub(crate) struct ControlSocket {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl ControlSocket {
    /// Opens it on `ifindex`, joined to the hardware groups of `groups` (the solicited-node
    /// groups of the stack's IPv6 addresses, which a NIC filters out otherwise).
    pub(crate) fn open(ifindex: u32, groups: &[MacAddr]) -> io::Result<ControlSocket> {
        // Protocol 0: nothing is received before the filter is in place and the bind
        // names the protocol.
        // SAFETY: plain socket creation.
        let fd = cvt(unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0) })?;
        // SAFETY: just created, owned here.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let insns = program();
        let prog = libc::sock_fprog { len: insns.len() as u16, filter: insns.as_ptr().cast_mut() };
        // SAFETY: the kernel copies the program during the call.
        cvt(unsafe {
            libc::setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, (&prog as *const libc::sock_fprog).cast(), size_of::<libc::sock_fprog>() as u32)
        })?;
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        addr.sll_ifindex = ifindex as i32;
        // SAFETY: a valid sockaddr_ll of the size given.
        cvt(unsafe { libc::bind(fd.as_raw_fd(), (&addr as *const libc::sockaddr_ll).cast(), size_of::<libc::sockaddr_ll>() as u32) })?;
        for g in groups {
            // SAFETY: all-zero is a valid packet_mreq.
            let mut mreq: libc::packet_mreq = unsafe { std::mem::zeroed() };
            mreq.mr_ifindex = ifindex as i32;
            mreq.mr_type = libc::PACKET_MR_MULTICAST as u16;
            mreq.mr_alen = 6;
            mreq.mr_address[..6].copy_from_slice(&g.0);
            // SAFETY: a valid packet_mreq of the size given.
            cvt(unsafe {
                libc::setsockopt(fd.as_raw_fd(), libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, (&mreq as *const libc::packet_mreq).cast(), size_of::<libc::packet_mreq>() as u32)
            })?;
        }
        Ok(ControlSocket { fd, buf: vec![0u8; 2048] })
    }

    pub(crate) fn fd(&self) -> libc::c_int {
        self.fd.as_raw_fd()
    }

    /// Hands the waiting frames (at most [`FRAMES_PER_DRAIN`]) to `f`; true if it stopped
    /// because none were left.
    pub(crate) fn drain(&mut self, mut f: impl FnMut(&[u8])) -> bool {
        for _ in 0..FRAMES_PER_DRAIN {
            // SAFETY: receives into our buffer, at most its length.
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), self.buf.as_mut_ptr().cast(), self.buf.len(), libc::MSG_DONTWAIT) };
            if n <= 0 {
                return true;
            }
            f(&self.buf[..n as usize]);
        }
        false
    }
}
