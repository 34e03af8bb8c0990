//! Packet devices. Each shard reads and writes whole IPv4 packets on one device: a file
//! descriptor (a queue of a multi-queue TUN device, or one end of a socket-pair link),
//! read and written through io_uring, or one port of an in-process link (`queue.rs`).

use std::os::fd::OwnedFd;

pub mod link;
pub mod queue;
pub mod steering;
pub mod tun;

/// What a shard reads and writes packets on.
#[derive(Debug)]
pub enum Device {
    /// A packet file descriptor (TUN queue, socket-pair link): I/O through io_uring.
    Fd(OwnedFd),
    /// A port of an in-process link: queues in memory, no system call per packet.
    Queue(queue::QueuePort),
}

impl From<OwnedFd> for Device {
    fn from(fd: OwnedFd) -> Device {
        Device::Fd(fd)
    }
}

impl From<queue::QueuePort> for Device {
    fn from(port: queue::QueuePort) -> Device {
        Device::Queue(port)
    }
}
