//! The XDP program ringtcp attaches to its interface: it sends to ringtcp's AF_XDP
//! sockets exactly the TCP packets for ringtcp's addresses and ports, and passes every
//! other frame to the kernel (ARP, neighbour discovery, ICMP, the host's own TCP ports:
//! SSH and the rest keep working on the same interface).
//!
//! Written as eBPF instructions here, like the TUN steering program, and generated for
//! the stack's addresses (compared as immediates). Ports are a bitmap of 65,536 bits in
//! a one-element array map the runtime maps into its memory: a listener sets its port's
//! bit, and the range ringtcp opens connections from is set at start. The packet goes
//! to the socket of the queue it arrived on (`xsks[rx_queue_index]`); with no socket
//! there it falls back to the kernel.
//!
//! The program lives as long as its link descriptor: when the stack ends, or the
//! process dies, the kernel detaches it and the interface is as it was.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::device::bpf::{Insn, bpf, load_program, owned};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;
const BPF_F_MMAPABLE: u32 = 1 << 10;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
const XDP_PASS: i32 = 2;
const BPF_FUNC_REDIRECT_MAP: i32 = 51;
/// Bytes of the port bitmap.
const PORT_BITMAP: usize = 65536 / 8;

/// Where the program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpMode {
    /// In the driver, before the kernel allocates anything for the packet.
    Native,
    /// In the kernel's generic receive path (any driver; slower).
    Generic,
}

/// A forward jump to a label, resolved when the program is finished.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Label {
    Pass,
    Ipv4,
    Ipv6,
    V4Match,
    V6Match,
    Port,
    /// The next address's comparison (IPv6 addresses take four).
    NextAddr(usize),
}

/// An assembler for straight-line code with forward jumps to labels.
#[derive(Default)]
struct Asm {
    insns: Vec<Insn>,
    fixups: Vec<(usize, Label)>,
    labels: Vec<(Label, usize)>,
}

impl Asm {
    fn op(&mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) {
        self.insns.push(Insn::new(code, dst, src, off, imm));
    }

    fn jump(&mut self, code: u8, dst: u8, src: u8, imm: i32, to: Label) {
        self.fixups.push((self.insns.len(), to));
        self.op(code, dst, src, 0, imm);
    }

    fn label(&mut self, l: Label) {
        self.labels.push((l, self.insns.len()));
    }

    /// `dst = *(size *)(src + off)`: size 0x61 word, 0x69 half, 0x71 byte.
    fn load(&mut self, size: u8, dst: u8, src: u8, off: i16) {
        self.op(size, dst, src, off, 0);
    }

    /// A 64-bit immediate naming a map (`src` 1: the map, 2: its value at offset 0).
    fn map(&mut self, dst: u8, kind: u8, fd: i32) {
        self.op(0x18, dst, kind, 0, fd);
        self.op(0, 0, 0, 0, 0);
    }

    /// `if data + len > data_end goto pass`, with `base` as data (r2-based): r4 scratch.
    fn need(&mut self, base: u8, len: i32) {
        self.op(0xbf, 4, base, 0, 0); // r4 = base
        self.op(0x07, 4, 0, 0, len); // r4 += len
        self.jump(0x2d, 4, 3, 0, Label::Pass); // if r4 > r3 goto pass
    }

    fn finish(mut self) -> Vec<Insn> {
        for (at, to) in std::mem::take(&mut self.fixups) {
            let target = self.labels.iter().find(|(l, _)| *l == to).map(|(_, i)| *i).expect("every label is placed");
            self.insns[at].off = (target - at - 1) as i16;
        }
        self.insns
    }
}

/// The program for these addresses. Registers: r6 the context, r2 the frame start (moved
/// past the IPv4 options for the port), r3 its end, r5 the value under test.
fn assemble(v4: &[Ipv4Addr], v6: &[Ipv6Addr], ports_fd: i32, xsks_fd: i32) -> Vec<Insn> {
    let mut a = Asm::default();
    a.op(0xbf, 6, 1, 0, 0); // r6 = ctx
    a.load(0x61, 2, 6, 0); // r2 = ctx->data
    a.load(0x61, 3, 6, 4); // r3 = ctx->data_end
    a.need(2, 14);
    a.load(0x69, 5, 2, 12); // EtherType, as read on a little-endian machine
    // A family without addresses gets no code (the verifier refuses unreachable code).
    if !v4.is_empty() {
        a.jump(0x15, 5, 0, i32::from(0x0800u16.swap_bytes()), Label::Ipv4);
    }
    if !v6.is_empty() {
        a.jump(0x15, 5, 0, i32::from(0x86ddu16.swap_bytes()), Label::Ipv6);
    }
    a.jump(0x05, 0, 0, 0, Label::Pass);

    if !v4.is_empty() {
        a.label(Label::Ipv4);
        a.need(2, 34);
        a.load(0x71, 5, 2, 23); // protocol
        a.jump(0x55, 5, 0, 6, Label::Pass);
        a.load(0x61, 5, 2, 30); // destination address
        for ip in v4 {
            // 32-bit comparisons (JMP32): a 64-bit one would sign-extend the immediate.
            a.jump(0x16, 5, 0, u32::from_ne_bytes(ip.octets()) as i32, Label::V4Match);
        }
        a.jump(0x05, 0, 0, 0, Label::Pass);
        a.label(Label::V4Match);
        a.load(0x71, 5, 2, 14); // version and header length
        a.op(0x57, 5, 0, 0, 0x0f); // r5 &= 0xf
        a.op(0x67, 5, 0, 0, 2); // r5 <<= 2
        a.jump(0xa5, 5, 0, 20, Label::Pass); // if r5 < 20 goto pass
        a.op(0x0f, 2, 5, 0, 0); // r2 += r5: the TCP header is at r2 + 14
        a.need(2, 18);
        a.load(0x69, 5, 2, 16); // destination port
        a.jump(0x05, 0, 0, 0, Label::Port);
    }
    if !v6.is_empty() {
        a.label(Label::Ipv6);
        a.need(2, 58);
        a.load(0x71, 5, 2, 20); // next header: TCP right after the fixed header only
        a.jump(0x55, 5, 0, 6, Label::Pass);
        for (i, ip) in v6.iter().enumerate() {
            let o = ip.octets();
            for w in 0..4 {
                a.load(0x61, 5, 2, 38 + 4 * w as i16);
                let word = u32::from_ne_bytes([o[4 * w], o[4 * w + 1], o[4 * w + 2], o[4 * w + 3]]) as i32;
                a.jump(0x56, 5, 0, word, Label::NextAddr(i));
            }
            a.jump(0x05, 0, 0, 0, Label::V6Match);
            a.label(Label::NextAddr(i));
        }
        a.jump(0x05, 0, 0, 0, Label::Pass);
        a.label(Label::V6Match);
        a.load(0x69, 5, 2, 56); // destination port
    }

    a.label(Label::Port);
    a.op(0xdc, 5, 0, 0, 16); // r5 = be16(r5): the port in host order
    a.op(0x57, 5, 0, 0, 0xffff); // bounds it for the verifier
    a.op(0xbf, 4, 5, 0, 0); // r4 = r5
    a.op(0x77, 4, 0, 0, 3); // r4 >>= 3: the bitmap's byte
    a.op(0x57, 5, 0, 0, 7); // r5 &= 7: the bit
    a.map(0, 2, ports_fd); // r0 = &ports[0]
    a.op(0x0f, 0, 4, 0, 0); // r0 += r4
    a.load(0x71, 4, 0, 0); // r4 = byte
    a.op(0x7f, 4, 5, 0, 0); // r4 >>= r5
    a.op(0x57, 4, 0, 0, 1); // r4 &= 1
    a.jump(0x15, 4, 0, 0, Label::Pass);
    a.map(1, 1, xsks_fd); // r1 = xsks
    a.load(0x61, 2, 6, 16); // r2 = ctx->rx_queue_index
    a.op(0xb7, 3, 0, 0, XDP_PASS); // r3 = XDP_PASS: what happens without a socket there
    a.op(0x85, 0, 0, 0, BPF_FUNC_REDIRECT_MAP);
    a.op(0x95, 0, 0, 0, 0); // exit

    a.label(Label::Pass);
    a.op(0xb7, 0, 0, 0, XDP_PASS);
    a.op(0x95, 0, 0, 0, 0);
    a.finish()
}

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    rest: [u32; 27],
}

#[repr(C)]
struct MapUpdateAttr {
    map_fd: u32,
    pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    rest: [u64; 6],
}

/// The attached program and its maps.
pub(crate) struct XdpProgram {
    /// Detaches the program when closed.
    _link: OwnedFd,
    xsks: OwnedFd,
    _ports_map: OwnedFd,
    ports: PortBitmap,
    mode: XdpMode,
}

/// The port bitmap's mapping into our memory (unmapped on drop, on every path).
struct PortBitmap(NonNull<AtomicU8>);

impl Drop for PortBitmap {
    fn drop(&mut self) {
        // SAFETY: unmaps the bitmap mapped in `XdpProgram::attach`; nothing borrows it
        // beyond its owner.
        unsafe { libc::munmap(self.0.as_ptr().cast(), PORT_BITMAP) };
    }
}

// SAFETY: the bitmap is shared memory written only with atomic operations.
unsafe impl Send for XdpProgram {}
// SAFETY: as above.
unsafe impl Sync for XdpProgram {}

impl std::fmt::Debug for XdpProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpProgram").field("mode", &self.mode).finish_non_exhaustive()
    }
}

impl XdpProgram {
    /// Loads the program for `v4` and `v6` with room for `queues` sockets and attaches it
    /// to `ifindex`: in the driver where it can be, else generic (or generic only, with
    /// `generic`).
    pub(crate) fn attach(ifindex: u32, queues: u32, v4: &[Ipv4Addr], v6: &[Ipv6Addr], generic: bool) -> io::Result<XdpProgram> {
        let xsks = owned(bpf(BPF_MAP_CREATE, &MapCreateAttr { map_type: BPF_MAP_TYPE_XSKMAP, key_size: 4, value_size: 4, max_entries: queues.max(1), ..Default::default() })?);
        let ports_map = owned(bpf(
            BPF_MAP_CREATE,
            &MapCreateAttr { map_type: BPF_MAP_TYPE_ARRAY, key_size: 4, value_size: PORT_BITMAP as u32, max_entries: 1, map_flags: BPF_F_MMAPABLE, ..Default::default() },
        )?);
        // SAFETY: maps the array's one value (the kernel rounds the mapping to pages).
        let p = unsafe { libc::mmap(std::ptr::null_mut(), PORT_BITMAP, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, ports_map.as_raw_fd(), 0) };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ports = PortBitmap(NonNull::new(p.cast::<AtomicU8>()).expect("mmap succeeded"));
        let program = assemble(v4, v6, ports_map.as_raw_fd(), xsks.as_raw_fd());
        let prog = load_program(BPF_PROG_TYPE_XDP, BPF_XDP, "ringtcp_xsk", &program)?;
        let link_with = |flags| {
            bpf(BPF_LINK_CREATE, &LinkCreateAttr { prog_fd: prog.as_raw_fd() as u32, target_ifindex: ifindex, attach_type: BPF_XDP, flags, rest: [0; 6] })
        };
        // In the driver first (unless told not to), else the generic path.
        let native = if generic { None } else { link_with(XDP_FLAGS_DRV_MODE).ok().map(owned) };
        let (link, mode) = match native {
            Some(link) => (link, XdpMode::Native),
            None => (owned(link_with(XDP_FLAGS_SKB_MODE).map_err(|e| attach_error(e, ifindex))?), XdpMode::Generic),
        };
        Ok(XdpProgram { _link: link, xsks, _ports_map: ports_map, ports, mode })
    }

    pub(crate) fn mode(&self) -> XdpMode {
        self.mode
    }

    /// Sends the packets arriving on `queue` to the socket `xsk_fd`.
    pub(crate) fn register(&self, queue: u32, xsk_fd: libc::c_int) -> io::Result<()> {
        let (key, value) = (queue, xsk_fd as u32);
        let attr = MapUpdateAttr { map_fd: self.xsks.as_raw_fd() as u32, pad: 0, key: &key as *const u32 as u64, value: &value as *const u32 as u64, flags: 0 };
        bpf(BPF_MAP_UPDATE_ELEM, &attr).map(drop)
    }

    fn byte(&self, port: u16) -> &AtomicU8 {
        // SAFETY: port / 8 < PORT_BITMAP, inside the mapping, which lives as long as self.
        unsafe { &*self.ports.0.as_ptr().add(usize::from(port / 8)) }
    }

    /// Makes TCP packets to `port` (on ringtcp's addresses) ringtcp's.
    pub(crate) fn claim_port(&self, port: u16) {
        self.byte(port).fetch_or(1 << (port % 8), Ordering::Relaxed);
    }

    /// Gives `port` back to the kernel.
    pub(crate) fn release_port(&self, port: u16) {
        self.byte(port).fetch_and(!(1 << (port % 8)), Ordering::Relaxed);
    }
}

fn attach_error(e: io::Error, ifindex: u32) -> io::Error {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => io::Error::new(
            io::ErrorKind::PermissionDenied,
            "attaching an XDP program needs CAP_NET_ADMIN and CAP_BPF (or root): run as root, or `setcap cap_net_admin,cap_bpf,cap_net_raw+ep <your binary>`",
        ),
        Some(libc::EBUSY) | Some(libc::EEXIST) => io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("interface {ifindex} already has an XDP program: detach it first (`ip link set dev <interface> xdp off`)"),
        ),
        _ => io::Error::new(e.kind(), format!("attaching ringtcp's XDP program to interface {ifindex} failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_stays_small_and_every_jump_lands_inside_it() {
        let v4 = ["10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap()];
        let v6 = ["fd00::2".parse().unwrap()];
        for (a, b) in [(&v4[..1], &v6[..]), (&v4[..], &[][..]), (&[][..], &v6[..])] {
            let p = assemble(a, b, 3, 4);
            assert!(p.len() < 100, "{} instructions", p.len());
            for (i, insn) in p.iter().enumerate() {
                let class = insn.code & 0x07;
                // Jumps (classes JMP and JMP32) other than call and exit.
                if (class == 0x05 || class == 0x06) && insn.code != 0x85 && insn.code != 0x95 {
                    let to = i as i64 + 1 + i64::from(insn.off);
                    assert!(to > i as i64 && (to as usize) < p.len(), "jump at {i} to {to}");
                }
            }
            assert_eq!(p.last().map(|i| i.code), Some(0x95), "ends in exit");
        }
    }
}
