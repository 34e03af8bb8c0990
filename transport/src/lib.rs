//! # ringtcp-transport
//!
//! The sans-IO TCP/IPv4 core of ringtcp. A [`Shard`] holds connections and listeners and
//! is driven entirely by its caller:
//!
//! - [`Shard::handle_packet`] takes a received IPv4 packet and the current [`Instant`];
//! - [`Shard::poll_transmit`] hands out packets to send;
//! - [`Shard::poll_timeout`] / [`Shard::handle_timeout`] run the timers;
//! - [`Shard::poll_event`] says which sockets changed, for waking application tasks.
//!
//! No threads, no syscalls, no wall clock: the same code runs under the io_uring runtime,
//! under the deterministic simulator (feature `sim`) and in benchmarks.
//!
//! The protocol follows RFC 9293 (state machine), RFC 7323 (window scaling, timestamps,
//! PAWS), RFC 6298 (RTO), RFC 5681 / 6582 (NewReno), RFC 9438 (CUBIC), RFC 2018 / 6675
//! (SACK and loss recovery), RFC 5961 (blind-attack mitigations), RFC 6528 (ISNs) and
//! RFC 6056 (port choice).

pub mod cc;
mod buffer;
mod config;
mod conn;
mod error;
pub mod fincache;
mod isn;
pub mod link;
mod listener;
mod memory;
mod options;
mod rtt;
mod sack;
mod seq;
mod shard;
mod stats;
mod steering;
mod table;
mod time;
mod timer;
pub mod wire;

#[cfg(feature = "sim")]
pub mod sim;

pub use buffer::ByteQueue;
pub use buffer::pool as buffer_pool;
pub use config::{BufferMemory, CongestionAlgorithm, Config, Keepalive, SynCookies};
pub use conn::{CongestionState, State, TcpInfo};
pub use error::Error;
pub use isn::Secret;
pub use listener::fast_open::FastOpenServer;
pub use options::{PathMtuDiscovery, SocketOptions, ipv6_socket_form};
pub use seq::SeqNum;
pub use shard::{Event, Gathered, ListenerHandle, PayloadSlice, Shard, SocketHandle, Transmit};
pub use stats::{Drops, Stats};
pub use steering::{STEERING_MULTIPLIER, flow_hash, flow_shard};
pub use time::Instant;
