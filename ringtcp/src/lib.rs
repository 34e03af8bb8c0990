//! # ringtcp
//!
//! tokio-compatible TCP sockets on the ringtcp userspace TCP/IP stack: a [`Stack`] runs
//! shard threads over a TUN device (or an in-memory link), and [`TcpListener`] /
//! [`TcpStream`] work like `tokio::net`'s, implementing `AsyncRead` / `AsyncWrite`.
//!
//! `TcpListener::bind` and `TcpStream::connect` use a process-wide default stack built on
//! first use from the environment (see [`Stack::default_stack`]).

#[cfg(feature = "axum")]
mod axum;
#[cfg(feature = "hyper")]
pub mod hyper;
mod io;
mod listener;
pub mod net;
mod socket;
mod split;
mod stack;
mod stats;
mod stream;
#[cfg(feature = "tonic")]
pub mod tonic;

/// Owned and borrowed halves, as in `tokio::net::tcp`.
pub mod tcp {
    pub use crate::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
}

pub use listener::TcpListener;
pub use socket::TcpSocket;
pub use ringtcp_runtime::impair::{ImpairConfig, Impairment};
pub use ringtcp_runtime::lock::{LockScope, LockSnapshot};
pub use ringtcp_runtime::device::ReadMode;
pub use ringtcp_runtime::freed_memory::FreedMemory;
pub use ringtcp_runtime::stats::{AfXdpStats, IoStats};
pub use ringtcp_runtime::stats::ShardStats;
pub use ringtcp_runtime::transport;
pub use stack::{DEFAULT_KERNEL_ADDR, DEFAULT_KERNEL_ADDR6, DEFAULT_STACK_ADDR, DEFAULT_STACK_ADDR6, DEFAULT_TUN, ShardTasks, Stack, StackBuilder};
pub use stats::StackStats;
pub use stream::TcpStream;
