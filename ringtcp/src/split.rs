//! Read and write halves of a `TcpStream`, borrowed and owned, as in `tokio::net::tcp`.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ringtcp_runtime::socket::SocketShared;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use tokio::io::{Interest, ReadBuf, Ready};

use crate::TcpStream;
use crate::io as sio;

/// The read half of [`TcpStream::split`].
#[derive(Debug)]
pub struct ReadHalf<'a> {
    pub(crate) sock: &'a Arc<SocketShared>,
}

/// The write half of [`TcpStream::split`].
#[derive(Debug)]
pub struct WriteHalf<'a> {
    pub(crate) sock: &'a Arc<SocketShared>,
}

/// Closes the connection when the last owned half goes, unless `reunite` disarmed it.
#[derive(Debug)]
pub(crate) struct Closer {
    sock: Arc<SocketShared>,
    armed: AtomicBool,
}

impl Closer {
    pub(crate) fn new(sock: Arc<SocketShared>) -> Arc<Closer> {
        Arc::new(Closer { sock, armed: AtomicBool::new(true) })
    }
}

impl Drop for Closer {
    fn drop(&mut self) {
        if self.armed.load(Ordering::Acquire) {
            self.sock.close();
            self.sock.linger_wait(ringtcp_runtime::thread_per_core::on_shard_thread());
        }
    }
}

/// The owned read half of [`TcpStream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf {
    pub(crate) sock: Arc<SocketShared>,
    pub(crate) closer: Arc<Closer>,
}

/// The owned write half of [`TcpStream::into_split`]. Dropping it shuts down writing (a
/// FIN), as tokio's does; [`OwnedWriteHalf::forget`] avoids that.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    pub(crate) sock: Arc<SocketShared>,
    /// Held for its drop: the connection closes when both halves are gone.
    pub(crate) _closer: Arc<Closer>,
    pub(crate) shutdown_on_drop: bool,
}

/// The two halves given to [`OwnedReadHalf::reunite`] came from different streams.
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves that are not from the same socket")
    }
}

impl StdError for ReuniteError {}

impl OwnedReadHalf {
    /// Puts the stream back together.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// # let other = client.connect("10.9.0.1:7").await?;
    /// let (r, w) = stream.into_split();
    /// let (_r2, w2) = other.into_split();
    /// let err = r.reunite(w2).unwrap_err();
    /// let stream = err.0.reunite(w).expect("the right halves");
    /// # let _ = stream;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ReuniteError`] (giving both halves back) if they come from different streams.
    pub fn reunite(self, other: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
        if Arc::ptr_eq(&self.sock, &other.sock) {
            let mut w = other;
            w.shutdown_on_drop = false;
            self.closer.armed.store(false, Ordering::Release);
            let sock = self.sock.clone();
            drop(w);
            drop(self);
            Ok(TcpStream::from_shared(sock))
        } else {
            Err(ReuniteError(self, other))
        }
    }
}

impl OwnedWriteHalf {
    /// Puts the stream back together (the same as [`OwnedReadHalf::reunite`]).
    ///
    /// # Errors
    ///
    /// [`ReuniteError`] (giving both halves back) if they come from different streams.
    pub fn reunite(self, other: OwnedReadHalf) -> Result<TcpStream, ReuniteError> {
        other.reunite(self)
    }

    /// Drops the half without shutting down writing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// let (r, w) = stream.into_split();
    /// w.forget();
    /// # drop(r);
    /// # Ok(()) }
    /// ```
    pub fn forget(mut self) {
        self.shutdown_on_drop = false;
    }


}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            let _ = self.sock.shutdown_write();
        }
    }
}


sio::read_impl!(ReadHalf<'_>);
sio::read_impl!(OwnedReadHalf);
sio::write_impl!(WriteHalf<'_>);
sio::write_impl!(OwnedWriteHalf);

/// The read side of tokio's half API: peeking, readiness, `try_*` reads and addresses,
/// each forwarding to the socket as `TcpStream`'s do.
macro_rules! read_half_api {
    ($t:ty) => {
        impl $t {
            /// Polls for data without consuming it.
            pub fn poll_peek(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<usize>> {
                self.sock.poll_peek(cx, buf)
            }

            /// Receives data without consuming it.
            ///
            /// # Errors
            ///
            /// The error the connection ended with.
            pub async fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                std::future::poll_fn(|cx| {
                    let mut rb = ReadBuf::new(buf);
                    self.sock.poll_peek(cx, &mut rb)
                })
                .await
            }

            /// Waits for any of `interest` (a read half is never made writable by this).
            ///
            /// # Errors
            ///
            /// `BrokenPipe` once the shard thread has stopped.
            pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
                std::future::poll_fn(|cx| self.sock.poll_ready(cx, interest)).await
            }

            /// Waits until a read would not block.
            ///
            /// # Errors
            ///
            /// As [`ready`](Self::ready).
            pub async fn readable(&self) -> io::Result<()> {
                self.ready(Interest::READABLE).await.map(|_| ())
            }

            /// Reads what is there now.
            ///
            /// # Errors
            ///
            /// `WouldBlock` when nothing has arrived; the error the connection ended with.
            pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
                self.sock.try_read(buf)
            }

            /// Reads what is there now into several buffers.
            ///
            /// # Errors
            ///
            /// As [`try_read`](Self::try_read).
            pub fn try_read_vectored(&self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
                self.sock.try_read_vectored(bufs)
            }

            /// Reads what is there now into `buf`'s spare capacity.
            ///
            /// # Errors
            ///
            /// As [`try_read`](Self::try_read).
            pub fn try_read_buf<B: bytes::BufMut>(&self, buf: &mut B) -> io::Result<usize> {
                self.sock.try_read_buf(buf)
            }

            /// The remote address.
            ///
            /// # Errors
            ///
            /// `NotConnected` before the connection was opened.
            pub fn peer_addr(&self) -> io::Result<SocketAddr> {
                self.sock.peer_addr()
            }

            /// The local address.
            ///
            /// # Errors
            ///
            /// `NotConnected` before the connection was opened.
            pub fn local_addr(&self) -> io::Result<SocketAddr> {
                self.sock.local_addr()
            }
        }
    };
}

/// The write side of tokio's half API: readiness, `try_*` writes and addresses.
macro_rules! write_half_api {
    ($t:ty) => {
        impl $t {
            /// Waits for any of `interest`.
            ///
            /// # Errors
            ///
            /// `BrokenPipe` once the shard thread has stopped.
            pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
                std::future::poll_fn(|cx| self.sock.poll_ready(cx, interest)).await
            }

            /// Waits until a write would not block.
            ///
            /// # Errors
            ///
            /// As [`ready`](Self::ready).
            pub async fn writable(&self) -> io::Result<()> {
                self.ready(Interest::WRITABLE).await.map(|_| ())
            }

            /// Writes what fits now.
            ///
            /// # Errors
            ///
            /// `WouldBlock` when the send buffer is full; `BrokenPipe` after a shutdown; the
            /// error the connection ended with.
            pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
                self.sock.try_write(&[buf])
            }

            /// Writes what fits now from several buffers.
            ///
            /// # Errors
            ///
            /// As [`try_write`](Self::try_write).
            pub fn try_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
                self.sock.try_write(bufs)
            }

            /// The remote address.
            ///
            /// # Errors
            ///
            /// `NotConnected` before the connection was opened.
            pub fn peer_addr(&self) -> io::Result<SocketAddr> {
                self.sock.peer_addr()
            }

            /// The local address.
            ///
            /// # Errors
            ///
            /// `NotConnected` before the connection was opened.
            pub fn local_addr(&self) -> io::Result<SocketAddr> {
                self.sock.local_addr()
            }
        }
    };
}

read_half_api!(ReadHalf<'_>);
read_half_api!(OwnedReadHalf);
write_half_api!(WriteHalf<'_>);
write_half_api!(OwnedWriteHalf);
