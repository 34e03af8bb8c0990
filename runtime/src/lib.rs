//! # ringtcp-runtime
//!
//! Will hold the shard threads, the io_uring loop, packet devices (multi-queue TUN, the
//! in-memory link, the impairment wrapper) and doorbells. Nothing here is implemented
//! yet; the crate exists so the workspace has the layout of DESIGN.md. It re-exports the
//! transport so dependants can already name its types.

pub use ringtcp_transport as transport;
