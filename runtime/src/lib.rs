//! # ringtcp-runtime
//!
//! Shard threads that drive the sans-IO transport with io_uring: each owns one transport
//! [`ringtcp_transport::Shard`], one io_uring and one packet device (a queue of a
//! multi-queue TUN device, one end of a socket-pair link, or a port of an in-process
//! link), and sleeps in the kernel when idle. Application threads reach a shard through
//! its [`handle::ShardHandle`]: a command queue and a [`doorbell::Doorbell`]. Bytes move
//! through per-socket buffers ([`socket::SocketShared`], the socket contract) under a
//! lock of that socket alone; connections wait for `accept` in per-shard
//! [`accept::AcceptQueue`]s. In thread-per-core mode ([`thread_per_core`]) application
//! tasks run on the shard threads themselves and reach their shard without crossing
//! threads. [`stack`] assembles shards over a device and runs operations that span them.

pub mod accept;
pub mod allocator_trim;
pub mod freed_memory;
mod bufring;
mod conn_trace;
pub mod device;
pub mod doorbell;
pub mod handle;
pub mod impair;
pub mod lock;
pub mod segmenter;
mod setup;
pub mod shard;
pub mod socket;
pub mod stack;
pub mod stats;
mod sys;
#[cfg(feature = "testing")]
pub mod testing;
pub mod thread_per_core;

pub use ringtcp_transport as transport;
