//! # ringtcp
//!
//! tokio-compatible TCP sockets on the ringtcp userspace TCP/IP stack: a [`Stack`] runs
//! shard threads over a TUN device (or an in-memory link), and [`TcpListener`] /
//! [`TcpStream`] work like `tokio::net`'s, implementing `AsyncRead` / `AsyncWrite`.
//!
//! Not all of tokio's API is here yet (split halves, peek, readiness, the default stack and
//! the axum integration come next); what is here works.

mod listener;
mod stack;
mod stream;

pub use listener::TcpListener;
pub use ringtcp_runtime::impair::{ImpairConfig, Impairment};
pub use ringtcp_runtime::transport;
pub use stack::{Stack, StackBuilder};
pub use stream::TcpStream;
