//! `TcpListener`: a listener on every shard; accept drains the shards' queues directly.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use ringtcp_runtime::stack::{ListenerPart, close_listener};
use ringtcp_runtime::socket::SocketSettings;
use ringtcp_runtime::thread_per_core;

use crate::stack::{each_address, resolve};
use crate::stream::unsupported;
use crate::{Stack, TcpStream};

/// A TCP listener on a ringtcp [`Stack`], with the API of `tokio::net::TcpListener`.
///
/// ```no_run
/// # async fn demo(stack: ringtcp::Stack) -> std::io::Result<()> {
/// let listener = stack.bind("10.77.0.2:7").await?;
/// loop {
///     let (mut stream, _peer) = listener.accept().await?;
///     tokio::spawn(async move {
///         let (mut r, mut w) = tokio::io::split(&mut stream);
///         let _ = tokio::io::copy(&mut r, &mut w).await;
///     });
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct TcpListener {
    _stack: Stack,
    parts: Arc<Parts>,
    local: SocketAddr,
    next: AtomicUsize,
    /// The TTL of accepted connections when `set_ttl` was not called.
    default_ttl: u32,
}

/// The listener's part on every shard; closed when the last handle goes.
#[derive(Debug)]
struct Parts(Vec<ListenerPart>);

impl Drop for Parts {
    fn drop(&mut self) {
        close_listener(&self.0);
    }
}

impl TcpListener {
    pub(crate) fn bind_on(stack: Stack, addr: SocketAddr, backlog: usize, settings: &SocketSettings) -> io::Result<TcpListener> {
        // A listener on an IPv6 address is an IPv6 socket: on `[::]` it also takes IPv4
        // connections (unless IPv6-only), and reports them IPv4-mapped, as Linux does.
        let settings = SocketSettings { ipv6_api: settings.ipv6_api || addr.is_ipv6(), ..*settings };
        let (parts, local) = stack.inner.shards.listen_with(addr, backlog, settings)?;
        let local = if settings.ipv6_api { ringtcp_runtime::transport::ipv6_socket_form(local) } else { local };
        let default_ttl = settings.ttl.unwrap_or(64);
        Ok(TcpListener { _stack: stack, parts: Arc::new(Parts(parts)), local, next: AtomicUsize::new(0), default_ttl })
    }

    /// Another handle to the same listener (as `std::net::TcpListener::try_clone`); the
    /// listener closes when the last handle is dropped. In thread-per-core mode each
    /// shard's task accepts through its own handle.
    ///
    /// ```no_run
    /// # async fn demo(stack: ringtcp::Stack) -> std::io::Result<()> {
    /// let listener = stack.bind("10.77.0.2:80").await?;
    /// let second = listener.try_clone();
    /// assert_eq!(second.local_addr()?, listener.local_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn try_clone(&self) -> TcpListener {
        TcpListener { _stack: self._stack.clone(), parts: self.parts.clone(), local: self.local, next: AtomicUsize::new(0), default_ttl: self.default_ttl }
    }

    /// Listens on `addr` of the default stack (see [`Stack::default_stack`]).
    ///
    /// # Errors
    ///
    /// Why the default stack could not be built ([`Stack::default_stack`]: no CAP_NET_ADMIN,
    /// no `/dev/net/tun`, io_uring refused, an invalid `RINGTCP_*` variable), then as
    /// [`Stack::bind`]: `AddrInUse`, `AddrNotAvailable`.
    pub async fn bind<A: tokio::net::ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let stack = Stack::default_stack()?;
        each_address(resolve(addr).await?, |a| {
            let stack = stack.clone();
            async move { TcpListener::bind_on(stack, a, 1024, &SocketSettings::default()) }
        })
        .await
    }

    /// Listens on `addr` of `stack` (the same as [`Stack::bind`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// let listener = ringtcp::TcpListener::bind_with(&server, "10.9.0.1:8080").await?;
    /// assert_eq!(listener.local_addr()?.port(), 8080);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `AddrInUse` if the port is taken on this stack; `AddrNotAvailable` for an address the stack does not answer for.
    pub async fn bind_with<A: tokio::net::ToSocketAddrs>(stack: &Stack, addr: A) -> io::Result<TcpListener> {
        each_address(resolve(addr).await?, |a| async move { TcpListener::bind_on(stack.clone(), a, 1024, &SocketSettings::default()) }).await
    }

    /// Waits for a connection.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// let stream = client.connect("10.9.0.1:7").await?;
    /// let (accepted, peer) = listener.accept().await?;
    /// assert_eq!(peer, stream.local_addr()?);
    /// assert_eq!(accepted.peer_addr()?, peer);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `BrokenPipe` once the stack's shard threads have stopped.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection. Each shard's queue is tried in turn, starting after the last
    /// one served, so no shard starves the others. On a shard's own thread
    /// (thread-per-core mode) only that shard's queue is served: its connections stay on
    /// its thread, and every shard runs an accept loop of its own.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let parts = &self.parts.0;
        if thread_per_core::on_shard_thread()
            && let Some(part) = parts.iter().find(|p| thread_per_core::is_current(&p.shard))
        {
            if let Some(s) = part.queue.take(cx.waker())? {
                let peer = s.peer_addr().unwrap_or(self.local);
                return Poll::Ready(Ok((TcpStream::from_shared(s), peer)));
            }
            return Poll::Pending;
        }
        let n = parts.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            let part = &parts[(start + i) % n];
            if let Some(s) = part.queue.take(cx.waker())? {
                let peer = s.peer_addr().unwrap_or(self.local);
                return Poll::Ready(Ok((TcpStream::from_shared(s), peer)));
            }
        }
        Poll::Pending
    }

    /// The address the listener is bound to.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// let any_port = server.bind("10.9.0.1:0").await?;
    /// assert_ne!(any_port.local_addr()?.port(), 0, "port 0 picks a free port");
    /// # Ok(()) }
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    /// Sets the IP TTL of the connections accepted from now on (`IP_TTL` on a listening
    /// socket: Linux gives accepted sockets the listener's).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// let listener = server.bind("10.9.0.1:7").await?;
    /// listener.set_ttl(17)?;
    /// assert_eq!(listener.ttl()?, 17);
    /// let _c = client.connect("10.9.0.1:7").await?;
    /// let (accepted, _) = listener.accept().await?;
    /// assert_eq!(accepted.ttl()?, 17);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` outside 1..=255.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        if ttl == 0 || ttl > 255 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "TTL must be between 1 and 255"));
        }
        for p in &self.parts.0 {
            p.queue.set_ttl(ttl);
        }
        Ok(())
    }

    /// The IP TTL accepted connections get.
    ///
    /// # Errors
    ///
    /// None today; the `Result` is tokio's signature.
    pub fn ttl(&self) -> io::Result<u32> {
        Ok(self.parts.0.first().and_then(|p| p.queue.ttl()).unwrap_or(self.default_ttl))
    }

    /// A kernel listener cannot become a ringtcp listener.
    ///
    /// # Errors
    ///
    /// Always `Unsupported`: bind on ringtcp instead (`ringtcp::net` picks the stack for
    /// the whole process).
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        drop(listener);
        Err(unsupported("TcpListener::from_std"))
    }

    /// A ringtcp listener has no kernel socket to hand out.
    ///
    /// # Errors
    ///
    /// Always `Unsupported`.
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        Err(unsupported("TcpListener::into_std"))
    }
}

