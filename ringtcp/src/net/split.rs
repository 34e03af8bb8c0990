//! The switch's stream halves: tokio's or ringtcp's, every method of tokio's.

use std::error::Error as StdError;
use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BufMut;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf, Ready};

use super::TcpStream;

/// The read half of [`TcpStream::split`].
#[derive(Debug)]
pub enum ReadHalf<'a> {
    /// On the kernel's stack.
    Kernel(tokio::net::tcp::ReadHalf<'a>),
    /// On ringtcp.
    Ringtcp(crate::tcp::ReadHalf<'a>),
}

/// The write half of [`TcpStream::split`].
#[derive(Debug)]
pub enum WriteHalf<'a> {
    /// On the kernel's stack.
    Kernel(tokio::net::tcp::WriteHalf<'a>),
    /// On ringtcp.
    Ringtcp(crate::tcp::WriteHalf<'a>),
}

/// The owned read half of [`TcpStream::into_split`].
#[derive(Debug)]
pub enum OwnedReadHalf {
    /// On the kernel's stack.
    Kernel(tokio::net::tcp::OwnedReadHalf),
    /// On ringtcp.
    Ringtcp(crate::tcp::OwnedReadHalf),
}

/// The owned write half of [`TcpStream::into_split`].
#[derive(Debug)]
pub enum OwnedWriteHalf {
    /// On the kernel's stack.
    Kernel(tokio::net::tcp::OwnedWriteHalf),
    /// On ringtcp.
    Ringtcp(crate::tcp::OwnedWriteHalf),
}

/// The two halves given to `reunite` came from different streams.
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves that are not from the same socket")
    }
}

impl StdError for ReuniteError {}

/// The same call on either variant of a half.
macro_rules! either {
    ($self:expr, $t:ident, $s:ident => $e:expr) => {
        match $self {
            $t::Kernel($s) => $e,
            $t::Ringtcp($s) => $e,
        }
    };
}

/// tokio's read-half methods, forwarded.
macro_rules! read_methods {
    ($t:ident) => {
        /// Polls for data without consuming it.
        pub fn poll_peek(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<usize>> {
            either!(self, $t, h => h.poll_peek(cx, buf))
        }

        /// Receives data without consuming it.
        ///
        /// # Errors
        ///
        /// As the backend's.
        pub async fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            either!(self, $t, h => h.peek(buf).await)
        }

        /// Waits for any of `interest`.
        ///
        /// # Errors
        ///
        /// As the backend's.
        pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
            either!(self, $t, h => h.ready(interest).await)
        }

        /// Waits until a read would not block.
        ///
        /// # Errors
        ///
        /// As the backend's.
        pub async fn readable(&self) -> io::Result<()> {
            either!(self, $t, h => h.readable().await)
        }

        /// Reads what is there now.
        ///
        /// # Errors
        ///
        /// `WouldBlock` if nothing; as the backend's.
        pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
            either!(self, $t, h => h.try_read(buf))
        }

        /// Reads what is there now into several buffers.
        ///
        /// # Errors
        ///
        /// `WouldBlock` if nothing; as the backend's.
        pub fn try_read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
            either!(self, $t, h => h.try_read_vectored(bufs))
        }

        /// Reads what is there now into `buf`'s spare capacity.
        ///
        /// # Errors
        ///
        /// `WouldBlock` if nothing; as the backend's.
        pub fn try_read_buf<B: BufMut>(&self, buf: &mut B) -> io::Result<usize> {
            either!(self, $t, h => h.try_read_buf(buf))
        }

        /// The remote address.
        ///
        /// # Errors
        ///
        /// As the backend's.
        pub fn peer_addr(&self) -> io::Result<SocketAddr> {
            either!(self, $t, h => h.peer_addr())
        }

        /// The local address.
        ///
        /// # Errors
        ///
        /// As the backend's.
        pub fn local_addr(&self) -> io::Result<SocketAddr> {
            either!(self, $t, h => h.local_addr())
        }
    };
}

/// tokio's write-half methods, forwarded.
macro_rules! write_methods {
    ($t:ident) => {
        /// Waits for any of `interest`.
        ///
        /// # Errors
        ///
        /// As the backend's.
        pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
            either!(self, $t, h => h.ready(interest).await)
        }

        /// Waits until a write would not block.
        ///
        /// # Errors
        ///
        /// As the backend's.
        pub async fn writable(&self) -> io::Result<()> {
            either!(self, $t, h => h.writable().await)
        }

        /// Writes what fits now.
        ///
        /// # Errors
        ///
        /// `WouldBlock` if the buffer is full; as the backend's.
        pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
            either!(self, $t, h => h.try_write(buf))
        }

        /// Writes what fits now from several buffers.
        ///
        /// # Errors
        ///
        /// `WouldBlock` if the buffer is full; as the backend's.
        pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            either!(self, $t, h => h.try_write_vectored(bufs))
        }

        /// The remote address.
        ///
        /// # Errors
        ///
        /// As the backend's.
        pub fn peer_addr(&self) -> io::Result<SocketAddr> {
            either!(self, $t, h => h.peer_addr())
        }

        /// The local address.
        ///
        /// # Errors
        ///
        /// As the backend's.
        pub fn local_addr(&self) -> io::Result<SocketAddr> {
            either!(self, $t, h => h.local_addr())
        }
    };
}

impl ReadHalf<'_> {
    read_methods!(ReadHalf);
}

impl WriteHalf<'_> {
    write_methods!(WriteHalf);
}

impl OwnedReadHalf {
    read_methods!(OwnedReadHalf);

    /// Puts the stream back together.
    ///
    /// # Errors
    ///
    /// [`ReuniteError`] (giving both halves back) if they come from different streams.
    pub fn reunite(self, other: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
        match (self, other) {
            (OwnedReadHalf::Kernel(r), OwnedWriteHalf::Kernel(w)) => r
                .reunite(w)
                .map(TcpStream::Kernel)
                .map_err(|e| ReuniteError(OwnedReadHalf::Kernel(e.0), OwnedWriteHalf::Kernel(e.1))),
            (OwnedReadHalf::Ringtcp(r), OwnedWriteHalf::Ringtcp(w)) => r
                .reunite(w)
                .map(TcpStream::Ringtcp)
                .map_err(|e| ReuniteError(OwnedReadHalf::Ringtcp(e.0), OwnedWriteHalf::Ringtcp(e.1))),
            (r, w) => Err(ReuniteError(r, w)),
        }
    }
}

impl OwnedWriteHalf {
    write_methods!(OwnedWriteHalf);

    /// Puts the stream back together.
    ///
    /// # Errors
    ///
    /// [`ReuniteError`] (giving both halves back) if they come from different streams.
    pub fn reunite(self, other: OwnedReadHalf) -> Result<TcpStream, ReuniteError> {
        other.reunite(self)
    }

    /// Drops the half without shutting down writing.
    pub fn forget(self) {
        either!(self, OwnedWriteHalf, h => h.forget())
    }
}

macro_rules! async_read {
    ($t:ty, $name:ident) => {
        impl AsyncRead for $t {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
                either!(self.get_mut(), $name, h => Pin::new(h).poll_read(cx, buf))
            }
        }
    };
}

macro_rules! async_write {
    ($t:ty, $name:ident) => {
        impl AsyncWrite for $t {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
                either!(self.get_mut(), $name, h => Pin::new(h).poll_write(cx, data))
            }
            fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
                either!(self.get_mut(), $name, h => Pin::new(h).poll_write_vectored(cx, bufs))
            }
            fn is_write_vectored(&self) -> bool {
                either!(self, $name, h => h.is_write_vectored())
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                either!(self.get_mut(), $name, h => Pin::new(h).poll_flush(cx))
            }
            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                either!(self.get_mut(), $name, h => Pin::new(h).poll_shutdown(cx))
            }
        }
    };
}

async_read!(ReadHalf<'_>, ReadHalf);
async_read!(OwnedReadHalf, OwnedReadHalf);
async_write!(WriteHalf<'_>, WriteHalf);
async_write!(OwnedWriteHalf, OwnedWriteHalf);
