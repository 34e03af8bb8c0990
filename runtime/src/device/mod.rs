//! Packet devices. Each shard reads and writes whole IP packets on one device: a file
//! descriptor (a queue of a multi-queue TUN device, with or without the virtio-net header
//! of its offloads, or one end of a socket-pair link), read and written through io_uring,
//! one port of an in-process link (`in_process.rs`), or one queue of a real interface
//! through AF_XDP (`af_xdp/`), whose frames carry Ethernet headers.

use std::os::fd::OwnedFd;

pub mod af_xdp;
mod bpf;
pub mod in_process;
pub mod socket_pair;
pub mod steering;
pub mod tun;
pub mod vnet;

/// What a shard reads and writes packets on.
#[derive(Debug)]
pub enum Device {
    /// A packet file descriptor (TUN queue, socket-pair link): I/O through io_uring.
    Fd(OwnedFd),
    /// A TUN queue with offloads on: every packet read or written carries a virtio-net
    /// header first ([`vnet`]), and packets read may be TCP super-packets of up to 64 KB.
    Vnet(OwnedFd),
    /// A port of an in-process link: queues in memory, no system call per packet.
    InProcess(in_process::InProcessPort),
    /// A queue of a real interface through AF_XDP: Ethernet frames in shared rings, no
    /// system call per packet received.
    AfXdp(Box<af_xdp::AfXdpPort>),
}

impl From<OwnedFd> for Device {
    fn from(fd: OwnedFd) -> Device {
        Device::Fd(fd)
    }
}

impl From<in_process::InProcessPort> for Device {
    fn from(port: in_process::InProcessPort) -> Device {
        Device::InProcess(port)
    }
}

/// How a shard reads from its device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMode {
    /// One multishot read into a provided-buffer ring (Linux 6.7+).
    Multishot,
    /// A set of plain reads, re-posted as they complete.
    Plain,
    /// No reads: an in-process link's queue, taken once per turn of the loop.
    InProcess,
    /// No reads: AF_XDP rings, taken once per turn of the loop.
    AfXdp,
}
