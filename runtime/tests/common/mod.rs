//! One shard on one end of a socket-pair link, the other end left to the test: a peer
//! that writes raw packets and reads what the shard sends.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::OwnedFd;

use ringtcp_runtime::device::socket_pair;
use ringtcp_runtime::shard::ShardSpec;
use ringtcp_runtime::stack::Shards;
use ringtcp_runtime::transport::{Config, Secret};

/// A running shard answering for `addr`, and the link's other end.
pub(crate) fn one_shard(addr: Ipv4Addr) -> (Shards, OwnedFd) {
    let (ours, theirs) = socket_pair::pair(1).unwrap();
    let spec = ShardSpec {
        id: 0,
        config: Config::default(),
        addrs: vec![IpAddr::V4(addr)],
        secret: Secret([7; 16]),
        device: ours.into_iter().next().unwrap().into(),
        socket_buffer: 64 * 1024,
        impair: None,
        plain_reads: false,
        offloads: false,
        thread_per_core: false,
        busy_poll: std::time::Duration::ZERO,
    };
    (Shards::start(vec![spec], vec![IpAddr::V4(addr)]).unwrap(), theirs.into_iter().next().unwrap())
}
