//! `TcpStream`: a connection, with tokio's `AsyncRead` / `AsyncWrite` and the rest of
//! `tokio::net::TcpStream`'s API.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BufMut;

use ringtcp_runtime::socket::{SocketSettings, SocketShared};
use tokio::io::{Interest, ReadBuf, Ready};

use crate::io as sio;
use crate::split::{Closer, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::stack::{each_address, resolve};
use crate::Stack;

/// A TCP connection on a ringtcp [`Stack`], with the API of `tokio::net::TcpStream`.
///
/// ```no_run
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// # async fn demo() -> std::io::Result<()> {
/// // On the default stack (configured from the environment, see `Stack::default_stack`).
/// let mut s = ringtcp::TcpStream::connect("10.77.0.1:80").await?;
/// s.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
/// let mut reply = Vec::new();
/// s.read_to_end(&mut reply).await?;
/// # Ok(()) }
/// ```
pub struct TcpStream {
    pub(crate) sock: Arc<SocketShared>,
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream").field("local", &self.sock.local_addr().ok()).field("peer", &self.sock.peer_addr().ok()).finish()
    }
}

impl TcpStream {
    pub(crate) fn from_shared(sock: Arc<SocketShared>) -> TcpStream {
        TcpStream { sock }
    }

    /// Opens a connection on the default stack.
    ///
    /// # Errors
    ///
    /// Why the default stack could not be built ([`Stack::default_stack`]: no CAP_NET_ADMIN,
    /// no `/dev/net/tun`, io_uring refused, an invalid `RINGTCP_*` variable), then as
    /// [`Stack::connect`]: `ConnectionRefused`, `TimedOut`, `OutOfMemory` at the connection limit.
    pub async fn connect<A: tokio::net::ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let stack = Stack::default_stack()?;
        each_address(resolve(addr).await?, |a| {
            let stack = stack.clone();
            async move { TcpStream::connect_on(&stack, a, None, &Default::default()).await }
        })
        .await
    }

    pub(crate) async fn connect_on(stack: &Stack, addr: SocketAddr, local: Option<SocketAddr>, settings: &SocketSettings) -> io::Result<TcpStream> {
        // Connecting to an IPv6 address (an IPv4-mapped one too) is an IPv6 socket's
        // connect: its addresses read back in IPv6 form.
        let settings = SocketSettings { ipv6_api: settings.ipv6_api || addr.is_ipv6(), ..*settings };
        let sock = stack.inner.shards.connect_with(addr, local, &settings)?;
        poll_fn(|cx| sock.poll_connected(cx)).await?;
        Ok(TcpStream { sock })
    }

    /// The local address.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// assert_eq!(stream.local_addr()?.ip().to_string(), "10.9.0.2");
    /// assert_eq!(stream.local_addr()?, peer.peer_addr()?);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `NotConnected` if the shard has not opened the connection (it has, once `connect` returns).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// The remote address.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// assert_eq!(stream.peer_addr()?, "10.9.0.1:7".parse().unwrap());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `NotConnected` if the shard has not opened the connection (it has, once `connect` returns).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.peer_addr()
    }

    /// Turns Nagle's algorithm off (`true`) or on.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// stream.set_nodelay(true)?;
    /// assert!(stream.nodelay()?);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `BrokenPipe` once the shard thread serving the connection has stopped.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.sock.set_nodelay(nodelay)
    }

    /// Whether Nagle's algorithm is off.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// assert!(!stream.nodelay()?, "Nagle's algorithm is on by default, as on Linux");
    /// # Ok(()) }
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(self.sock.nodelay())
    }

    /// Sets the IP time to live of this connection's packets.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// stream.set_ttl(32)?;
    /// assert_eq!(stream.ttl()?, 32);
    /// assert_eq!(stream.set_ttl(0).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a TTL outside 1..=255; `BrokenPipe` once the shard thread has stopped.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.sock.set_ttl(ttl)
    }

    /// The IP time to live of this connection's packets.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// assert_eq!(stream.ttl()?, 64);
    /// # Ok(()) }
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        Ok(self.sock.ttl())
    }

    /// Reset instead of FIN when dropped (SO_LINGER with a zero timeout).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// use tokio::io::AsyncReadExt;
    /// stream.set_zero_linger()?;
    /// drop(stream);
    /// let mut peer = peer;
    /// let err = peer.read(&mut [0u8; 8]).await.unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    /// # Ok(()) }
    /// ```
    pub fn set_zero_linger(&self) -> io::Result<()> {
        self.sock.set_linger(Some(Duration::ZERO));
        Ok(())
    }

    /// SO_LINGER: `Some(Duration::ZERO)` resets the connection on drop; `Some(d)` makes
    /// the drop block the dropping thread until the peer has acknowledged everything
    /// written, FIN included, or `d` has passed (as `close` does on Linux; on a
    /// thread-per-core shard thread, which must not block, the drop does not wait);
    /// `None` (the default) closes in the background.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// # #[allow(deprecated)]
    /// stream.set_linger(Some(std::time::Duration::from_secs(1)))?;
    /// assert_eq!(stream.linger()?, Some(std::time::Duration::from_secs(1)));
    /// drop(stream); // returns once the peer has acknowledged the FIN
    /// # drop(peer);
    /// # Ok(()) }
    /// ```
    #[deprecated = "`SO_LINGER` causes the socket to block the thread on drop"]
    pub fn set_linger(&self, dur: Option<Duration>) -> io::Result<()> {
        self.sock.set_linger(dur);
        Ok(())
    }

    /// The SO_LINGER setting.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        Ok(self.sock.linger())
    }

    /// Acknowledge every segment at once instead of delaying ACKs (`TCP_QUICKACK`). On
    /// ringtcp the setting stays until it is turned off; Linux may leave quick-ACK mode by
    /// itself, so apps there set it again after each read, which works the same here.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// stream.set_quickack(true)?;
    /// assert!(stream.quickack()?);
    /// # drop(peer);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `BrokenPipe` once the shard thread has stopped.
    pub fn set_quickack(&self, quickack: bool) -> io::Result<()> {
        self.sock.set_quickack(quickack)
    }

    /// Whether every segment is acknowledged at once.
    pub fn quickack(&self) -> io::Result<bool> {
        Ok(self.sock.quickack())
    }

    /// Keepalive for this connection (a ringtcp extension: tokio sets it only on a
    /// `TcpSocket`, and `socket2::SockRef` cannot reach a userspace socket): `None` turns
    /// it off; [`Keepalive::default`](crate::transport::Keepalive) has Linux's timings (7,200 s
    /// idle, a probe every 75 s, 9 probes).
    ///
    /// # Errors
    ///
    /// `BrokenPipe` once the shard thread has stopped.
    pub fn set_keepalive(&self, keepalive: Option<crate::transport::Keepalive>) -> io::Result<()> {
        self.sock.set_keepalive(keepalive)
    }

    /// The keepalive setting.
    pub fn keepalive(&self) -> io::Result<Option<crate::transport::Keepalive>> {
        Ok(self.sock.keepalive())
    }

    /// TCP_USER_TIMEOUT (RFC 5482): how long data this side sent, or its zero-window or
    /// keepalive probes, may go unanswered before the connection fails with `TimedOut`,
    /// in place of the retry counts (by default 15 retransmissions, backing off over
    /// several minutes). `None` or zero turns it off. A ringtcp extension, as
    /// `set_keepalive`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// use std::time::Duration;
    /// stream.set_user_timeout(Some(Duration::from_secs(30)))?;
    /// assert_eq!(stream.user_timeout()?, Some(Duration::from_secs(30)));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `BrokenPipe` once the shard thread has stopped.
    pub fn set_user_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_user_timeout(timeout)
    }

    /// The user timeout (`None`: off).
    pub fn user_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.sock.user_timeout())
    }

    /// A kernel socket cannot become a ringtcp connection.
    ///
    /// # Errors
    ///
    /// Always `Unsupported`: the connection lives in the kernel's TCP stack; open it on
    /// ringtcp instead (`ringtcp::net` picks the stack for the whole process).
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        drop(stream);
        Err(unsupported("TcpStream::from_std"))
    }

    /// A ringtcp connection has no kernel socket to hand out.
    ///
    /// # Errors
    ///
    /// Always `Unsupported`.
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        Err(unsupported("TcpStream::into_std"))
    }

    /// Reads what is there now into `buf`'s spare capacity, advancing it, as tokio's
    /// `try_read_buf` (a `BytesMut` grows nothing: only its spare capacity is filled).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// use tokio::io::AsyncWriteExt;
    /// let mut peer = peer;
    /// peer.write_all(b"bytes").await?;
    /// stream.readable().await?;
    /// let mut buf = bytes::BytesMut::with_capacity(64);
    /// assert_eq!(stream.try_read_buf(&mut buf)?, 5);
    /// assert_eq!(&buf[..], b"bytes");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `WouldBlock` when nothing has arrived; otherwise the error the connection ended with.
    pub fn try_read_buf<B: BufMut>(&self, buf: &mut B) -> io::Result<usize> {
        self.sock.try_read_buf(buf)
    }

    /// Runs `f` if the socket is ready for `interest` now, as tokio's `try_io`: on
    /// ringtcp there is no descriptor for `f` to use, so it does its I/O through this
    /// stream's `try_*` methods.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// use tokio::io::Interest;
    /// let n = stream.try_io(Interest::WRITABLE, || stream.try_write(b"hi"))?;
    /// assert_eq!(n, 2);
    /// let err = stream.try_io(Interest::READABLE, || stream.try_read(&mut [0u8; 4])).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "nothing to read yet");
    /// # drop(peer);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `WouldBlock` if the socket is not ready; otherwise what `f` returns.
    pub fn try_io<R>(&self, interest: Interest, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        if self.sock.readiness(interest).is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        f()
    }

    /// Waits until the socket is ready for `interest` and runs `f`, again whenever it
    /// returns `WouldBlock`, as tokio's `async_io`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// use tokio::io::{AsyncWriteExt, Interest};
    /// let mut peer = peer;
    /// peer.write_all(b"later").await?;
    /// let mut buf = [0u8; 8];
    /// let n = stream.async_io(Interest::READABLE, || stream.try_read(&mut buf)).await?;
    /// assert_eq!(&buf[..n], b"later");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// What `f` returns other than `WouldBlock`, or the connection's error.
    pub async fn async_io<R>(&self, interest: Interest, mut f: impl FnMut() -> io::Result<R>) -> io::Result<R> {
        loop {
            self.ready(interest).await?;
            match f() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => tokio::task::yield_now().await,
                r => return r,
            }
        }
    }

    /// The error the connection ended with, if any.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// use tokio::io::AsyncReadExt;
    /// assert!(stream.take_error()?.is_none());
    /// peer.set_zero_linger()?;
    /// drop(peer);
    /// let mut stream = stream;
    /// let _ = stream.read(&mut [0u8; 8]).await;
    /// assert_eq!(stream.take_error()?.map(|e| e.kind()), Some(std::io::ErrorKind::ConnectionReset));
    /// # Ok(()) }
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        Ok(self.sock.take_error())
    }

    /// Receives data without consuming it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// let (mut stream, mut peer) = (stream, peer);
    /// peer.write_all(b"hello").await?;
    /// let mut buf = [0u8; 5];
    /// let n = stream.peek(&mut buf).await?;
    /// assert_eq!(&buf[..n], &b"hello"[..n]);
    /// stream.read_exact(&mut buf).await?;
    /// assert_eq!(&buf, b"hello", "peeked bytes are still there");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The error the connection ended with (reset, timed out...).
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| {
            let mut rb = ReadBuf::new(buf);
            self.sock.poll_peek(cx, &mut rb)
        })
        .await
    }

    /// Polls for data without consuming it.
    pub fn poll_peek(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<usize>> {
        self.sock.poll_peek(cx, buf)
    }

    /// Waits for any of `interest`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// use tokio::io::{AsyncWriteExt, Interest};
    /// let mut peer = peer;
    /// peer.write_all(b"x").await?;
    /// let ready = stream.ready(Interest::READABLE | Interest::WRITABLE).await?;
    /// assert!(ready.is_writable());
    /// # Ok(()) }
    /// ```
    pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
        poll_fn(|cx| self.sock.poll_ready(cx, interest)).await
    }

    /// Waits until a read would not block.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// use tokio::io::AsyncWriteExt;
    /// let mut peer = peer;
    /// peer.write_all(b"hello").await?;
    /// let mut buf = [0u8; 16];
    /// let n = loop {
    ///     stream.readable().await?;
    ///     match stream.try_read(&mut buf) {
    ///         Ok(n) => break n,
    ///         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
    ///         Err(e) => return Err(e),
    ///     }
    /// };
    /// assert_eq!(&buf[..n], b"hello");
    /// # Ok(()) }
    /// ```
    pub async fn readable(&self) -> io::Result<()> {
        self.ready(Interest::READABLE).await.map(|_| ())
    }

    /// Polls for read readiness.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.sock.poll_ready(cx, Interest::READABLE).map_ok(|_| ())
    }

    /// Waits until a write would not block.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// stream.writable().await?;
    /// assert_eq!(stream.try_write(b"hello")?, 5);
    /// # Ok(()) }
    /// ```
    pub async fn writable(&self) -> io::Result<()> {
        self.ready(Interest::WRITABLE).await.map(|_| ())
    }

    /// Polls for write readiness.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.sock.poll_ready(cx, Interest::WRITABLE).map_ok(|_| ())
    }

    /// Reads what is there now; `WouldBlock` if nothing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// let mut buf = [0u8; 16];
    /// assert_eq!(stream.try_read(&mut buf).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `WouldBlock` when nothing has arrived; otherwise the error the connection ended with.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.try_read(buf)
    }

    /// Reads what is there now into several buffers; `WouldBlock` if nothing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// use std::io::IoSliceMut;
    /// use tokio::io::AsyncWriteExt;
    /// let mut peer = peer;
    /// peer.write_all(b"headbody").await?;
    /// stream.readable().await?;
    /// let (mut head, mut body) = ([0u8; 4], [0u8; 4]);
    /// let n = stream.try_read_vectored(&mut [IoSliceMut::new(&mut head), IoSliceMut::new(&mut body)])?;
    /// assert_eq!((n, &head, &body), (8, b"head", b"body"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`try_read`](TcpStream::try_read).
    pub fn try_read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.sock.try_read_vectored(bufs)
    }

    /// Writes what fits now; `WouldBlock` if the buffer is full.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// use tokio::io::AsyncReadExt;
    /// assert_eq!(stream.try_write(b"ping")?, 4);
    /// let mut got = [0u8; 4];
    /// let mut peer = peer;
    /// peer.read_exact(&mut got).await?;
    /// assert_eq!(&got, b"ping");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the send buffer is full; `BrokenPipe` after `shutdown`; the error the connection ended with.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock.try_write(&[buf])
    }

    /// Writes what fits now from several buffers; `WouldBlock` if the buffer is full.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// use std::io::IoSlice;
    /// assert_eq!(stream.try_write_vectored(&[IoSlice::new(b"head"), IoSlice::new(b"body")])?, 8);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`try_write`](TcpStream::try_write).
    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.sock.try_write(bufs)
    }

    /// Borrowed read and write halves, usable from one task at a time each.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// let (mut stream, mut peer) = (stream, peer);
    /// peer.write_all(b"echo").await?;
    /// let (mut r, mut w) = stream.split();
    /// let mut buf = [0u8; 4];
    /// r.read_exact(&mut buf).await?;
    /// w.write_all(&buf).await?;
    /// peer.read_exact(&mut buf).await?;
    /// assert_eq!(&buf, b"echo");
    /// # Ok(()) }
    /// ```
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf { sock: &self.sock }, WriteHalf { sock: &self.sock })
    }

    /// Owned halves that can move to different tasks; [`OwnedReadHalf::reunite`] puts
    /// them back together.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// # let stream = client.connect("10.9.0.1:7").await?;
    /// # let (peer, _) = listener.accept().await?;
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// let (mut r, mut w) = stream.into_split();
    /// let writer = tokio::spawn(async move { w.write_all(b"from another task").await.map(|_| w) });
    /// let mut peer = peer;
    /// let mut buf = [0u8; 17];
    /// peer.read_exact(&mut buf).await?;
    /// assert_eq!(&buf, b"from another task");
    /// let w = writer.await.unwrap()?;
    /// let stream = r.reunite(w).expect("halves of one stream");
    /// # let _ = stream;
    /// # Ok(()) }
    /// ```
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        // The halves now own the socket's lifetime: the closer closes it when both are gone.
        // The stream's own reference moves into them (forgetting a clone's original kept
        // every split socket, its buffers included, alive for ever).
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so the Arc is moved out once.
        let sock = unsafe { std::ptr::read(&this.sock) };
        let closer = Closer::new(sock.clone());
        (
            OwnedReadHalf { sock: sock.clone(), closer: closer.clone() },
            OwnedWriteHalf { sock, _closer: closer, shutdown_on_drop: true },
        )
    }
}

sio::read_impl!(TcpStream);
sio::write_impl!(TcpStream);

impl Drop for TcpStream {
    fn drop(&mut self) {
        self.sock.close();
        self.sock.linger_wait(ringtcp_runtime::thread_per_core::on_shard_thread());
    }
}

pub(crate) fn unsupported(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what} is not possible on ringtcp: its sockets live in a userspace stack, not in the kernel"),
    )
}
