//! A set of running shards and the operations that span them: listening on every shard,
//! and choosing the shard for an outbound connection. How a set is assembled over a
//! device is `assembly.rs`.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::mpsc;

use ringtcp_transport::ListenerHandle;

use crate::accept::AcceptQueue;
use crate::handle::{Command, ShardHandle};
use crate::shard::{ShardSpec, ShardThread};
use crate::socket::{Phase, SocketError, SocketSettings, SocketShared};
use crate::stats::ShardStats;
use crate::thread_per_core;

mod assembly;

pub use assembly::{AF_XDP_EPHEMERAL_PORTS, PairLink, StackConfig, TunAddrs, TunAddrs6, default_buffer_memory};

/// One shard's part of a listener.
#[derive(Debug, Clone)]
pub struct ListenerPart {
    /// The shard.
    pub shard: Arc<ShardHandle>,
    /// Its listener.
    pub handle: ListenerHandle,
    /// Its accept queue.
    pub queue: Arc<AcceptQueue>,
}

/// Running shard threads.
#[derive(Debug)]
pub struct Shards {
    threads: Vec<ShardThread>,
    next: AtomicUsize,
    socket_buffer: usize,
    addrs: Vec<IpAddr>,
    /// The transport's receive and send buffer sizes (the shards' `Config`).
    transport_buffers: (usize, usize),
    /// The shards' ephemeral port range.
    ephemeral_ports: RangeInclusive<u16>,
    /// Where the next port [`pick_bind_port`](Shards::pick_bind_port) tries is, in that
    /// range (starts at a random place).
    next_bind_port: AtomicU32,
    /// How many shards the device steers flows over by port (`Config::port_steering`),
    /// when it does.
    steering: Option<u16>,
    /// The thread giving freed memory back (`FreedMemory::GiveBackEvery`).
    pub(crate) trimmer: Option<crate::allocator_trim::Trimmer>,
}

impl Shards {
    /// Starts one thread per spec; the shards answer for `addrs`.
    ///
    /// # Errors
    ///
    /// Why a shard could not set up its io_uring (the message names the fix).
    pub fn start(specs: Vec<ShardSpec>, addrs: Vec<IpAddr>) -> io::Result<Shards> {
        let socket_buffer = specs.first().map_or(256 * 1024, |s| s.socket_buffer);
        let defaults = ringtcp_transport::Config::default();
        let transport_buffers = specs.first().map_or((defaults.rx_buffer, defaults.tx_buffer), |s| (s.config.rx_buffer, s.config.tx_buffer));
        let ephemeral_ports = specs.first().map_or(defaults.ephemeral_ports.clone(), |s| s.config.ephemeral_ports.clone());
        let steering = specs.first().and_then(|s| s.config.port_steering).map(|(n, _)| n);
        let threads = specs.into_iter().map(ShardThread::spawn).collect::<io::Result<Vec<_>>>()?;
        Ok(Shards {
            threads,
            next: AtomicUsize::new(0),
            socket_buffer,
            addrs,
            transport_buffers,
            ephemeral_ports,
            next_bind_port: AtomicU32::new(rand::random()),
            steering,
            trimmer: None,
        })
    }

    /// The transport's receive and send buffer sizes, where a socket sets none.
    pub fn transport_buffers(&self) -> (usize, usize) {
        self.transport_buffers
    }

    /// The addresses the shards answer for.
    pub fn addresses(&self) -> &[IpAddr] {
        &self.addrs
    }

    /// Number of shards.
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// The shards' handles.
    pub fn handles(&self) -> impl Iterator<Item = &Arc<ShardHandle>> {
        self.threads.iter().map(|t| &t.handle)
    }

    /// Stops every shard, each resetting its connections on the way out (see
    /// `ShardLoop::farewell`), and waits up to `limit` for them to finish; the threads
    /// are not joined, so this works through a shared reference, as at process exit.
    /// Sockets on these shards fail with `BrokenPipe` afterwards. A shard whose thread is
    /// the calling one stops once the call returns to its loop.
    pub fn stop_all(&self, limit: std::time::Duration) {
        for t in &self.threads {
            let _ = t.handle.send(Command::Shutdown);
        }
        let deadline = std::time::Instant::now() + limit;
        let own = self.called_from_own_shard();
        while !self.threads.iter().all(|t| t.handle.is_dead() || (own && thread_per_core::is_current(&t.handle))) {
            if std::time::Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// True if the calling thread is one of these shards' threads (thread-per-core mode).
    fn called_from_own_shard(&self) -> bool {
        thread_per_core::on_shard_thread() && self.threads.iter().any(|t| thread_per_core::is_current(&t.handle))
    }

    /// Calls that wait for every shard's answer would wait forever on a shard's own thread.
    fn refuse_on_own_shard(&self, what: &str) -> io::Result<()> {
        if self.called_from_own_shard() {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{what} waits for every shard of the stack, so it cannot run on one of the stack's own shard threads: call it before spawning onto the shards, or from another thread"),
            ));
        }
        Ok(())
    }

    /// Listens on `addr` on every shard (port 0: the first shard picks, the others follow).
    pub fn listen(&self, addr: SocketAddr, backlog: usize) -> io::Result<(Vec<ListenerPart>, SocketAddr)> {
        self.listen_with(addr, backlog, SocketSettings::default())
    }

    /// [`listen`](Shards::listen), every accepted connection starting with `settings`.
    ///
    /// # Errors
    ///
    /// `AddrInUse`, `AddrNotAvailable`, `WouldBlock` on one of these shards' own threads,
    /// `BrokenPipe` once a shard has stopped.
    pub fn listen_with(&self, addr: SocketAddr, backlog: usize, settings: SocketSettings) -> io::Result<(Vec<ListenerPart>, SocketAddr)> {
        self.refuse_on_own_shard("bind")?;
        let mut parts = Vec::with_capacity(self.threads.len());
        let mut bound = addr;
        for t in &self.threads {
            let (tx, rx) = mpsc::channel();
            let queue = Arc::new(AcceptQueue::new(t.handle.clone(), backlog));
            let cmd = Command::Listen { addr: bound, backlog, settings, queue: queue.clone(), reply: tx };
            let r = t.handle.send(cmd).and_then(|_| rx.recv().map_err(|_| io::Error::from(SocketError::ShardStopped))?);
            match r {
                Ok((handle, at)) => {
                    bound = at;
                    parts.push(ListenerPart { shard: t.handle.clone(), handle, queue });
                }
                Err(e) => {
                    for p in parts {
                        let _ = p.shard.send(Command::CloseListener(p.handle));
                    }
                    return Err(e);
                }
            }
        }
        Ok((parts, bound))
    }

    /// True if a listener of these shards holds `addr` (every shard has the same
    /// listeners, so the first one is asked). On one of these shards' own threads, which
    /// cannot wait for an answer, it says false and `listen` reports the clash instead.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` once the shard has stopped.
    pub fn listener_holds(&self, addr: SocketAddr) -> io::Result<bool> {
        let Some(t) = self.threads.first() else { return Ok(false) };
        if self.called_from_own_shard() {
            return Ok(false);
        }
        let (tx, rx) = mpsc::channel();
        t.handle.send(Command::ListenerHolds { addr, reply: tx })?;
        rx.recv().map_err(|_| io::Error::from(SocketError::ShardStopped))
    }

    /// A port for a socket bound to `ip` with port 0, chosen at `bind` as Linux does (so
    /// the socket's `local_addr` names it): the next port of the ephemeral range, taken in
    /// turn across the stack, that no listener holds. Unlike Linux's, the choice does not
    /// reserve the port: a later `connect` from it to a peer that already has a
    /// connection from that port is refused with `AddrInUse` (ringtcp's `TcpSocket` then
    /// takes another).
    ///
    /// # Errors
    ///
    /// `AddrInUse` when listeners hold every port of the range; as
    /// [`listener_holds`](Shards::listener_holds).
    pub fn pick_bind_port(&self, ip: IpAddr) -> io::Result<u16> {
        let (start, end) = (*self.ephemeral_ports.start(), *self.ephemeral_ports.end());
        let span = u32::from(end.saturating_sub(start)) + 1;
        for _ in 0..span {
            let port = start + (self.next_bind_port.fetch_add(1, Ordering::Relaxed) % span) as u16;
            if !self.listener_holds(SocketAddr::new(ip, port))? {
                return Ok(port);
            }
        }
        Err(io::Error::new(io::ErrorKind::AddrInUse, format!("every port of the ephemeral range {start}-{end} is held by a listener")))
    }

    /// Starts a connection on the next shard (round robin), or, from a given local port
    /// on a device that steers by port, on the shard its replies will reach. The socket
    /// reports progress; it is open once [`SocketShared::poll_connected`] says so.
    pub fn connect(&self, remote: SocketAddr, local: Option<SocketAddr>) -> io::Result<Arc<SocketShared>> {
        self.connect_with(remote, local, &SocketSettings::default())
    }

    /// [`connect`](Shards::connect), the connection starting with `settings`.
    ///
    /// # Errors
    ///
    /// `NotConnected` for a stack without shards, `BrokenPipe` once the shard has stopped;
    /// the connection's own failure is reported by the socket.
    pub fn connect_with(&self, remote: SocketAddr, local: Option<SocketAddr>, settings: &SocketSettings) -> io::Result<Arc<SocketShared>> {
        if self.threads.is_empty() {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "the ringtcp stack has no shards"));
        }
        let i = match (local.map_or(0, |l| l.port()), self.steering) {
            // A given local port: the device sends the replies to the shard the port
            // steers to, so the connection must live there.
            (port, Some(n)) if port != 0 && n > 1 => usize::from(crate::device::steering::queue_of(port, remote.port(), n)) % self.threads.len(),
            // On a shard's own thread (thread-per-core), the connection stays on that
            // shard: it picks a port steered to itself and no call crosses threads.
            _ => self
                .threads
                .iter()
                .position(|t| thread_per_core::is_current(&t.handle))
                .unwrap_or_else(|| self.next.fetch_add(1, Ordering::Relaxed) % self.threads.len()),
        };
        let shard = self.threads[i].handle.clone();
        let socket = SocketShared::new(shard.clone(), Phase::Connecting, self.socket_buffer, settings);
        shard.send(Command::Connect { remote, local, buffers: settings.buffers, socket: socket.clone() })?;
        Ok(socket)
    }

    /// Runs `task` on shard `shard`'s thread, beside the shard loop (thread-per-core mode
    /// only).
    pub fn spawn_on(&self, shard: usize, task: impl std::future::Future<Output = ()> + Send + 'static) -> io::Result<()> {
        let t = self.threads.get(shard).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("the stack has {} shards, there is no shard {shard}", self.threads.len()))
        })?;
        if !t.handle.is_thread_per_core() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "tasks run on shard threads only in thread-per-core mode: build the stack with thread_per_core(true)",
            ));
        }
        t.handle.send(Command::Spawn(Box::pin(task)))
    }

    /// Every shard's counters, asked of each shard thread in turn.
    pub fn stats(&self) -> io::Result<Vec<ShardStats>> {
        self.refuse_on_own_shard("stats")?;
        self.threads
            .iter()
            .map(|t| {
                let (tx, rx) = mpsc::channel();
                t.handle.send(Command::Stats(tx))?;
                rx.recv().map_err(|_| io::Error::from(SocketError::ShardStopped))
            })
            .collect()
    }

    /// Stops every shard thread (and the stack's allocator trimming).
    pub fn stop(&mut self) {
        for t in &mut self.threads {
            t.stop();
        }
        self.trimmer = None;
    }

    /// What the stack's allocator trimming has done (`FreedMemory::GiveBackEvery`); all
    /// zero where none runs.
    ///
    /// ```
    /// use ringtcp_runtime::freed_memory::FreedMemory;
    /// use ringtcp_runtime::stack::{PairLink, StackConfig};
    ///
    /// let cfg = StackConfig { shards: 1, freed_memory: FreedMemory::AllocatorDefault, ..StackConfig::default() };
    /// let (a, _b) = cfg.start_pair("10.9.4.1".parse().unwrap(), "10.9.4.2".parse().unwrap(), PairLink::InProcess)?;
    /// assert_eq!(a.allocator_trims().trims, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn allocator_trims(&self) -> crate::allocator_trim::TrimStats {
        self.trimmer.as_ref().map(|t| t.stats()).unwrap_or_default()
    }
}

/// Closes a listener on every shard.
pub fn close_listener(parts: &[ListenerPart]) {
    for p in parts {
        let _ = p.shard.send(Command::CloseListener(p.handle));
    }
}
