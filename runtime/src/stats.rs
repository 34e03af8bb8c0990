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
    /// Embryonic connections (SYN-RECEIVED) held in this shard's SYN queues.
    pub syn_queued: usize,
    /// Live connections (control blocks; TIME-WAIT records are not counted).
    pub live_connections: usize,
    /// Buffer bytes counted against the shard's memory bound (transport buffers and the
    /// sockets' application-side buffers).
    pub buffer_memory: usize,
    /// io_uring and device counters.
    pub io: IoStats,
}

impl ShardStats {
    /// Connections in `state` on this shard.
    ///
    /// ```
    /// use ringtcp_runtime::stats::ShardStats;
    /// use ringtcp_runtime::transport::State;
    ///
    /// let s = ShardStats { states: vec![(State::Established, 3), (State::TimeWait, 9)], ..ShardStats::default() };
    /// assert_eq!(s.in_state(State::TimeWait), 9);
    /// assert_eq!(s.in_state(State::SynSent), 0);
    /// ```
    pub fn in_state(&self, state: State) -> usize {
        self.states.iter().filter(|(s, _)| *s == state).map(|(_, n)| n).sum()
    }
}
