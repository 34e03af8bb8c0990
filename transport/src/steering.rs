//! Which shard a flow belongs to, by its ports alone: the one function the devices that
//! spread flows over shards (a multi-queue TUN device through its eBPF program, the
//! AF_XDP hand-off between shards) and `connect`'s port choice agree on.
//!
//! It must give a 4-tuple the same shard in both directions (so it works on the XOR of
//! the two ports) and spread real traffic: Linux's `connect` picks even ports (odd ones
//! are left for `bind`, since 4.6), so `(local ^ remote) mod 2` alone would put every
//! connection from a Linux client to an even server port on shard 0. The XOR is mixed by
//! a multiplicative (Fibonacci) hash first; the eBPF program computes the same in two
//! 32-bit instructions.

/// The multiplier of the mix: 2^32 divided by the golden ratio, odd.
pub const STEERING_MULTIPLIER: u32 = 0x9e37_79b1;

/// The steering value of a flow: its shard is this modulo the number of shards (which
/// is what the kernel does with a TUN steering program's result).
pub fn flow_hash(local_port: u16, remote_port: u16) -> u16 {
    (u32::from(local_port ^ remote_port).wrapping_mul(STEERING_MULTIPLIER) >> 16) as u16
}

/// The shard (of `shards`) the flow between `local_port` and `remote_port` belongs to.
///
/// ```
/// use ringtcp_transport::flow_shard;
/// // Symmetric, and even client ports to an even server port reach both shards.
/// assert_eq!(flow_shard(40_000, 80, 2), flow_shard(80, 40_000, 2));
/// let on_0 = (0..100u16).filter(|i| flow_shard(32_768 + 2 * i, 80, 2) == 0).count();
/// assert!((30..=70).contains(&on_0), "{on_0} of 100 on shard 0");
/// ```
pub fn flow_shard(local_port: u16, remote_port: u16, shards: u16) -> u16 {
    flow_hash(local_port, remote_port) % shards.max(1)
}
