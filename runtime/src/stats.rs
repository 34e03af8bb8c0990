//! A snapshot of one shard's counters, taken on the shard's own thread (the transport is
//! single-threaded and keeps plain integers; asking the shard is the only way to read them
//! without making every counter atomic).

use ringtcp_transport::fincache::FinCacheStats;
use ringtcp_transport::{Drops, State, Stats};


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
    /// On an AF_XDP device: its modes, hand-offs and link layer.
    pub af_xdp: Option<AfXdpStats>,
}

/// What a shard on an AF_XDP queue reports besides its I/O counters.
#[derive(Clone, Debug, Default)]
pub struct AfXdpStats {
    /// The socket is bound in zero-copy mode (the driver fills the UMEM itself); false:
    /// copy mode.
    pub zero_copy: bool,
    /// The XDP program runs in the driver; false: generic XDP.
    pub native_xdp: bool,
    /// Frames received on this shard's queue for a flow of another shard, handed over.
    pub forwarded_out: u64,
    /// Frames other shards handed over.
    pub forwarded_in: u64,
    /// Frames that could not be handed over (the other shard's inbox was full).
    pub forward_overflow: u64,
    /// Frames the kernel dropped before the socket (RX ring full, no fill frame).
    pub kernel_rx_dropped: u64,
    /// Descriptors the kernel refused.
    pub kernel_invalid_descs: u64,
    /// Flushes the kernel could not finish at once.
    pub busy_kicks: u64,
    /// The link layer: ARP, neighbour discovery, resolutions, frame drops.
    pub link: ringtcp_transport::link::LinkStats,
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

/// Counters of the I/O layer of one shard.
#[derive(Clone, Debug, Default)]
pub struct IoStats {
    /// Submission queue entries submitted.
    pub submissions: u64,
    /// Completions reaped.
    pub completions: u64,
    /// Packets read from the device.
    pub packets_in: u64,
    /// Packets written to the device.
    pub packets_out: u64,
    /// Packets dropped because every write slot was busy (held packets and duplicates
    /// made by the impairment layer; the transport's own wait, see `tx_deferred`).
    pub tx_overflow: u64,
    /// Times the loop left packets in the transport because every write slot was busy.
    pub tx_deferred: u64,
    /// Device reads or writes that failed.
    pub io_errors: u64,
    /// True if the device takes the kernel's checksum and segmentation offloads (a TUN
    /// queue with a virtio-net header); false where the kernel refused them or the device
    /// has none.
    pub offloads: bool,
    /// Packets read that stood for several TCP segments (the kernel's segmentation
    /// offload left them whole).
    pub super_packets_in: u64,
    /// Super-segments written: one TCP header before many segments' payload, which the
    /// kernel cuts (the transport's `tcp_out_segs` counts the segments).
    pub super_packets_out: u64,
    /// Packets read whose TCP checksum the kernel vouched for (partial, or verified), so
    /// the transport did not check it.
    pub checksum_vouched_in: u64,
    /// Packets read whose payload the connection kept where it was read (a packet block
    /// of the buffer pool became part of its receive buffer) instead of copying it out:
    /// large in-order super-packets.
    pub blocks_kept_in: u64,
    /// Packets written with their payload taken straight from the send buffer (a
    /// `writev` of the headers and the send buffer's chunks) instead of copied into a
    /// write buffer first.
    pub gathered_out: u64,
}
