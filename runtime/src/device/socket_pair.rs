//! The socket-pair link: two stacks in one process joined by `SOCK_SEQPACKET` socket
//! pairs, one pair per shard, so packets keep their boundaries and pass through exactly
//! the io_uring path a TUN queue uses.

use std::io;
use std::os::fd::OwnedFd;

use crate::sys;

/// `queues` pairs: `.0[k]` for one stack's shard `k`, `.1[k]` for the other's.
pub fn pair(queues: usize) -> io::Result<(Vec<OwnedFd>, Vec<OwnedFd>)> {
    let mut a = Vec::with_capacity(queues);
    let mut b = Vec::with_capacity(queues);
    for _ in 0..queues {
        let (x, y) = sys::packet_pair()?;
        a.push(x);
        b.push(y);
    }
    Ok((a, b))
}
