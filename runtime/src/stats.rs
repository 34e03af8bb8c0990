//! A snapshot of one shard's counters, taken on the shard's own thread (the transport is
//! single-threaded and keeps plain integers; asking the shard is the only way to read them
//! without making every counter atomic).

use ringtcp_transport::fincache::FinCacheStats;
use ringtcp_transport::{Drops, State, Stats};

use crate::shard::IoStats;

/// What one shard reports when asked for its statistics.
#[derive(Clone, Debug, Default)]
pub struct ShardStats {
    /// The shard's index.
    pub shard: usize,
    /// Transport counters (`netstat -s` style).
    pub transport: Stats,
    /// Packets dropped, by reason.
    pub drops: Drops,
    /// The FIN cache's counters and bytes.
    pub fin_cache: FinCacheStats,
    /// Connections by state; TIME-WAIT counts FIN-cache records.
    pub states: Vec<(State, usize)>,
    /// Connections established and waiting in this shard's accept queues.
    pub accept_queued: usize,
    /// io_uring and device counters.
    pub io: IoStats,
}

impl ShardStats {
    /// Connections in `state` on this shard.
    pub fn in_state(&self, state: State) -> usize {
        self.states.iter().filter(|(s, _)| *s == state).map(|(_, n)| n).sum()
    }
}
