//! # ringtcp
//!
//! The user-facing crate. The tokio-compatible `TcpListener` / `TcpStream` arrive with the
//! runtime (issue 4); until then this crate only re-exports the protocol core, so that no
//! type here pretends to work.

pub use ringtcp_runtime::transport;
