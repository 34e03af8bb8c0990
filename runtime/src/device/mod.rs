//! Packet devices. Each shard reads and writes whole IPv4 packets on one file descriptor:
//! a queue of a multi-queue TUN device, or one end of an in-memory link. The shard loop
//! does not know which.

pub mod link;
pub mod steering;
pub mod tun;
