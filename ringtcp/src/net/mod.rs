//! A switch for existing tokio apps: the same names as `tokio::net`, backed by ringtcp or
//! by the kernel, chosen at run time.
//!
//! An app changes one line, under a cargo feature of its own, so that with the feature off
//! it is plain tokio and pays nothing:
//!
//! ```ignore
//! #[cfg(feature = "ringtcp")]
//! use ringtcp::net::{TcpListener, TcpSocket, TcpStream, tcp};
//! #[cfg(not(feature = "ringtcp"))]
//! use tokio::net::{TcpListener, TcpSocket, TcpStream, tcp};
//! ```
//!
//! Every public method of tokio's `TcpListener`, `TcpStream`, `TcpSocket` and the halves
//! in `tcp` is here with tokio's name and signature (docs/tokio-parity.md lists them).
//! Calls that need a kernel socket (`from_std`, `into_std`, `bind_device`...) work on the
//! kernel variant and answer `Unsupported` on ringtcp's.
//!
//! With the feature on, `RINGTCP_STACK=kernel` in the environment runs the same binary on
//! the kernel's stack (through tokio), and `RINGTCP_STACK=ringtcp` (the default) on the
//! userspace stack's default [`crate::Stack`].

use std::sync::OnceLock;

mod listener;
mod socket;
mod split;
mod stream;

pub use listener::TcpListener;
pub use socket::TcpSocket;
pub use stream::TcpStream;

/// Owned and borrowed halves, as in `tokio::net::tcp`.
pub mod tcp {
    pub use super::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
}

/// Which stack `ringtcp::net` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The kernel's stack, through `tokio::net`.
    Kernel,
    /// ringtcp's default stack.
    Ringtcp,
}

/// The backend for this process: `RINGTCP_STACK` (`kernel` or `ringtcp`), read once;
/// ringtcp if unset.
///
/// ```
/// assert!(matches!(ringtcp::net::backend(), ringtcp::net::Backend::Kernel | ringtcp::net::Backend::Ringtcp));
/// ```
pub fn backend() -> Backend {
    static CHOICE: OnceLock<Backend> = OnceLock::new();
    *CHOICE.get_or_init(|| match std::env::var("RINGTCP_STACK").as_deref() {
        Ok("kernel") => Backend::Kernel,
        _ => Backend::Ringtcp,
    })
}
