//! Deterministic queue steering for a multi-queue TUN device: a 16-instruction eBPF
//! program (attached with `TUNSETSTEERINGEBPF`) sends each TCP packet to queue
//! `flow_hash(source port, destination port) mod queues` (`ringtcp_transport::flow_shard`:
//! the ports' XOR, mixed so that Linux's even client ports spread), reading the ports after the IPv4
//! header's length or after the 40-byte IPv6 header (TCP from either stack carries no
//! IPv6 extension headers in practice; one that did would land on another queue and be
//! answered with a RST there, which is what any stack does with a stray). The value is the same in both
//! directions, so a flow stays on one queue; and a shard opening a connection picks a
//! local port that lands on its own queue (see `Config::port_steering`). The kernel's
//! automatic flow steering does not follow flows that userspace opens, so replies to our
//! SYNs would otherwise reach another shard.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use super::bpf::{Insn, load_program};
use crate::setup::tun_error;
use crate::sys::cvt;

const TUNSETSTEERINGEBPF: libc::c_ulong = 0x8004_54e0;
const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;

const fn insn(code: u8, dst: u8, src: u8, imm: i32) -> Insn {
    Insn::new(code, dst, src, 0, imm)
}

/// A conditional jump on `dst` against `imm`, `off` instructions forward when it holds.
const fn jump(code: u8, dst: u8, imm: i32, off: i16) -> Insn {
    Insn::new(code, dst, 0, off, imm)
}

/// r6 = ctx; r0 = pkt[0]; r7 = r0 >> 4 (IP version); r0 = (r0 & 0xf) << 2 (IPv4 header
/// length); if r7 == 6, r0 = 40 (IPv6 header); r7 = r0; r0 = ntohs(pkt[r7]) (source
/// port); r8 = r0; r0 = ntohs(pkt[r7 + 2]); r0 ^= r8; r0 = (u32)(r0 * multiplier) >> 16
/// (`flow_hash`); exit. The kernel takes the result modulo the queues. A packet too short
/// for the loads ends the program with 0 (queue 0).
const PROGRAM: [Insn; 16] = [
    insn(0xbf, 6, 1, 0),    // mov64 r6, r1
    insn(0x30, 0, 0, 0),    // ld_abs b [0]
    insn(0xbf, 7, 0, 0),    // mov64 r7, r0
    insn(0x77, 7, 0, 4),    // rsh64 r7, 4
    insn(0x57, 0, 0, 0x0f), // and64 r0, 0xf
    insn(0x67, 0, 0, 2),    // lsh64 r0, 2
    jump(0x55, 7, 6, 1),    // jne r7, 6, +1
    insn(0xb7, 0, 0, 40),   // mov64 r0, 40
    insn(0xbf, 7, 0, 0),    // mov64 r7, r0
    insn(0x48, 0, 7, 0),    // ld_ind h [r7 + 0]
    insn(0xbf, 8, 0, 0),    // mov64 r8, r0
    insn(0x48, 0, 7, 2),    // ld_ind h [r7 + 2]
    insn(0xaf, 0, 8, 0),    // xor64 r0, r8
    insn(0x24, 0, 0, ringtcp_transport::STEERING_MULTIPLIER as i32), // mul32 r0, multiplier
    insn(0x74, 0, 0, 16),   // rsh32 r0, 16
    insn(0x95, 0, 0, 0),    // exit
];

/// Attaches the steering program to the TUN device behind `queue`.
pub fn attach(queue: &OwnedFd) -> io::Result<()> {
    let prog = load_program(BPF_PROG_TYPE_SOCKET_FILTER, 0, "steering", &PROGRAM).map_err(|e| tun_error(e, "loading the TUN queue-steering eBPF program"))?;
    let raw: libc::c_int = prog.as_raw_fd();
    // SAFETY: TUNSETSTEERINGEBPF reads an int (the program fd); the device keeps its own
    // reference to the program, so ours may close after.
    cvt(unsafe { libc::ioctl(queue.as_raw_fd(), TUNSETSTEERINGEBPF, &raw) })
        .map_err(|e| tun_error(e, "attaching the TUN queue-steering eBPF program"))?;
    Ok(())
}

/// The queue the program picks for a flow, computed the same way in userspace
/// (`ringtcp_transport::flow_shard`).
pub fn queue_of(local_port: u16, remote_port: u16, queues: u16) -> u16 {
    ringtcp_transport::flow_shard(local_port, remote_port, queues)
}
