//! # ringtcp-runtime
//!
//! Shard threads that drive the sans-IO transport with io_uring: each owns one transport
//! [`ringtcp_transport::Shard`], one io_uring and one packet device (a queue of a
//! multi-queue TUN device, or one end of an in-memory link), and sleeps in the kernel
//! when idle. Application threads reach a shard through its [`shared::ShardLink`]: a
//! command queue and an eventfd doorbell on the shard's ring; bytes move through
//! per-socket buffers ([`shared::SocketShared`]) under a lock of that socket alone. In
//! thread-per-core mode ([`local`]) application tasks run on the shard threads
//! themselves and reach their shard without crossing threads.

mod bufring;
mod conn_trace;
pub mod device;
pub mod impair;
pub mod local;
pub mod lock;
mod setup;
pub mod shard;
pub mod shared;
pub mod stack;
pub mod stats;
mod sys;
#[cfg(feature = "testing")]
pub mod testing;

pub use ringtcp_transport as transport;
