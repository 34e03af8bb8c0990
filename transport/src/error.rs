//! Errors the transport reports to the socket layer.

use std::fmt;
use std::io;

/// Why a connection ended abnormally, or why a call was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The peer answered our SYN with a RST, or ICMP said the port is unreachable.
    ConnectionRefused,
    /// The peer reset an established connection.
    ConnectionReset,
    /// The local side aborted the connection.
    ConnectionAborted,
    /// Retransmissions, SYN retries, keepalive or zero-window probes went unanswered.
    TimedOut,
    /// ICMP reported the host or network unreachable and retries then ran out.
    HostUnreachable,
    /// The connection is not (or no longer) established for this operation.
    NotConnected,
    /// Writing after `shutdown(Write)` or after the connection closed.
    BrokenPipe,
    /// The local address and port are taken.
    AddrInUse,
    /// The local address is not one of this stack's addresses, or no ephemeral port is free.
    AddrNotAvailable,
    /// The handle does not name a live socket of this shard.
    InvalidHandle,
    /// An argument is not acceptable (an IPv6 address before IPv6 support, port 0 to listen
    /// on a specific port that is required, ...).
    InvalidInput,
    /// The operation cannot complete now (no buffer space, nothing to read).
    WouldBlock,
    /// The shard already holds `Config::max_connections` live connections.
    ConnectionLimit,
}

impl Error {
    /// The `std::io::ErrorKind` tokio returns for the same event on the kernel stack.
    pub fn kind(self) -> io::ErrorKind {
        match self {
            Error::ConnectionRefused => io::ErrorKind::ConnectionRefused,
            Error::ConnectionReset => io::ErrorKind::ConnectionReset,
            Error::ConnectionAborted => io::ErrorKind::ConnectionAborted,
            Error::TimedOut => io::ErrorKind::TimedOut,
            Error::HostUnreachable => io::ErrorKind::HostUnreachable,
            Error::NotConnected => io::ErrorKind::NotConnected,
            Error::BrokenPipe => io::ErrorKind::BrokenPipe,
            Error::AddrInUse => io::ErrorKind::AddrInUse,
            Error::AddrNotAvailable => io::ErrorKind::AddrNotAvailable,
            Error::InvalidHandle | Error::InvalidInput => io::ErrorKind::InvalidInput,
            Error::WouldBlock => io::ErrorKind::WouldBlock,
            Error::ConnectionLimit => io::ErrorKind::OutOfMemory,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Error::ConnectionRefused => "connection refused: no one listens on that port",
            Error::ConnectionReset => "connection reset by peer",
            Error::ConnectionAborted => "connection aborted locally",
            Error::TimedOut => "connection timed out: the peer stopped answering",
            Error::HostUnreachable => "host unreachable (ICMP)",
            Error::NotConnected => "socket is not connected",
            Error::BrokenPipe => "broken pipe: the write side is shut down",
            Error::AddrInUse => "address in use: another socket holds this address and port",
            Error::AddrNotAvailable => "address not available: not an address of this stack, or no free port",
            Error::InvalidHandle => "invalid socket handle: the socket was closed or belongs to another shard",
            Error::InvalidInput => "invalid argument",
            Error::WouldBlock => "operation would block",
            Error::ConnectionLimit => {
                "connection limit reached: the stack holds its maximum of live connections; close some or raise max_connections"
            }
        };
        f.write_str(s)
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}
