//! Listening sockets: a bounded SYN queue (embryonic connections in SYN-RECEIVED) and a
//! bounded accept queue (established, not yet accepted). Both count against one backlog,
//! as on Linux, so a burst of N ≤ backlog connection attempts is accepted whole.

use std::collections::VecDeque;
use std::net::SocketAddr;

/// A listening socket on one shard.
#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) local: SocketAddr,
    pub(crate) backlog: usize,
    pub(crate) generation: u32,
    /// Connections in SYN-RECEIVED that belong to this listener.
    pub(crate) syn_pending: usize,
    /// Established connections waiting for `accept`: (slot, generation).
    pub(crate) accept_queue: VecDeque<(u32, u32)>,
    pub(crate) event_queued: bool,
}

impl Listener {
    pub(crate) fn new(local: SocketAddr, backlog: usize, generation: u32) -> Self {
        Listener { local, backlog, generation, syn_pending: 0, accept_queue: VecDeque::new(), event_queued: false }
    }

    /// True if one more SYN may be taken.
    pub(crate) fn has_room(&self) -> bool {
        self.syn_pending + self.accept_queue.len() < self.backlog
    }
}
