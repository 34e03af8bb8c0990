//! A shard thread: one transport shard, one io_uring, one packet device, one doorbell.
//!
//! The loop: drain application commands, run due timers, hand transport events to the
//! sockets' shared buffers, queue every packet to send as a write, then sleep in
//! `io_uring_enter` until a packet, the doorbell or the next deadline (optionally after
//! busy polling). Reads keep `READS_IN_FLIGHT` buffers posted on the device; writes are
//! batched per wake-up. In thread-per-core mode the same turn runs as a tokio task and
//! waits in tokio's reactor instead (`crate::local`). The device side is `device_io.rs`.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;
use std::time::{Duration, Instant as WallInstant};

use io_uring::{IoUring, opcode};
use ringtcp_transport::{Config, Error, Event, Instant, ListenerHandle, Secret, Shard, SocketHandle, State};

use crate::bufring::{self, BufRing};
use crate::conn_trace::ConnTrace;
use crate::device::Device;
use crate::impair::Impairer;
use crate::setup::io_uring_error;
use crate::shared::{AcceptQueue, Command, Phase, ShardLink, SocketShared, SocketState};
use crate::stats::ShardStats;

mod device_io;

const READS_IN_FLIGHT: usize = 32;
const MAX_WRITES_IN_FLIGHT: usize = 512;
const KIND_READ: u64 = 1 << 56;
const KIND_WRITE: u64 = 2 << 56;
const KIND_DOORBELL: u64 = 3 << 56;
const KIND_READ_MULTI: u64 = 4 << 56;
/// Buffers in the provided-buffer ring for multishot reads.
const RING_BUFFERS: u16 = 512;
const KIND_MASK: u64 = 0xff << 56;
/// An application-side buffer larger than this is freed once drained (as the transport
/// does with its own), so idle connections stay small.
pub const RELEASE_ABOVE: usize = 64 * 1024;

/// Everything a shard thread needs.
#[derive(Debug)]
pub struct ShardSpec {
    /// Index of the shard.
    pub id: usize,
    /// Transport settings.
    pub config: Config,
    /// Addresses the shard answers for.
    pub addrs: Vec<IpAddr>,
    /// ISN / port secret.
    pub secret: Secret,
    /// The packet device: a TUN queue, one end of a socket-pair link, or a port of an
    /// in-process link.
    pub device: Device,
    /// Application-side buffer size per direction per socket.
    pub socket_buffer: usize,
    /// Seeded loss / duplication / reordering / delay in the device path.
    pub impair: Option<crate::impair::ImpairConfig>,
    /// Use plain reads even where multishot reads are available (to test both paths).
    pub plain_reads: bool,
    /// Run the shard loop as a task of a current-thread tokio runtime on the shard thread,
    /// so that application tasks spawned there reach it without crossing threads (see
    /// [`crate::local`]).
    pub thread_per_core: bool,
    /// Before sleeping, keep looking for work this long (zero: never busy-poll). Trades
    /// a core's idle time for the wake-up latency of a sleeping thread.
    pub busy_poll: Duration,
}

/// A running shard thread.
#[derive(Debug)]
pub struct ShardThread {
    /// The application side's way in.
    pub link: Arc<ShardLink>,
    thread: Option<JoinHandle<()>>,
}

impl ShardThread {
    /// Starts the thread; returns once its io_uring is set up (or with the reason it
    /// could not be).
    pub fn spawn(spec: ShardSpec) -> io::Result<ShardThread> {
        let (tx, rx) = mpsc::channel();
        let link = Arc::new(ShardLink::new(spec.id, tx)?);
        let local = spec.thread_per_core.then(|| Arc::new(tokio::sync::Notify::new()));
        if let Some(n) = &local {
            link.set_local_notify(n.clone());
        }
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread_link = link.clone();
        let thread = std::thread::Builder::new().name(format!("ringtcp-shard-{}", spec.id)).spawn(move || {
            match (ShardLoop::new(spec, thread_link.clone(), rx), local) {
                (Ok(l), Some(notify)) => {
                    let _ = ready_tx.send(Ok(()));
                    if let Err(e) = crate::local::run(l, thread_link.clone(), notify) {
                        // The loop was dropped on the way out, failing every socket.
                        tracing::error!(shard = thread_link.id(), error = %e, "a thread-per-core shard could not start its runtime");
                    }
                }
                (Ok(mut l), None) => {
                    let _ = ready_tx.send(Ok(()));
                    l.run();
                }
                (Err(e), _) => {
                    thread_link.mark_dead();
                    let _ = ready_tx.send(Err(e));
                }
            }
        })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(ShardThread { link, thread: Some(thread) }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other("the ringtcp shard thread died while starting")),
        }
    }

    /// Asks the thread to stop and waits for it (unless called on that very thread, as
    /// when a task on a thread-per-core shard drops the last handle to its stack: then
    /// the thread ends once the call returns to its loop).
    pub fn stop(&mut self) {
        let _ = self.link.send(Command::Shutdown);
        if let Some(t) = self.thread.take()
            && t.thread().id() != std::thread::current().id()
        {
            let _ = t.join();
        }
    }
}

impl Drop for ShardThread {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Counters of the I/O layer of one shard.
#[derive(Clone, Debug, Default)]
pub struct IoStats {
    /// Submission queue entries submitted.
    pub submissions: u64,
    /// Completions reaped.
    pub completions: u64,
    /// Packets read from the device.
    pub packets_in: u64,
    /// Packets written to the device.
    pub packets_out: u64,
    /// Packets dropped because every write slot was busy (held packets and duplicates
    /// made by the impairment layer; the transport's own wait, see `tx_deferred`).
    pub tx_overflow: u64,
    /// Times the loop left packets in the transport because every write slot was busy.
    pub tx_deferred: u64,
    /// Device reads or writes that failed.
    pub io_errors: u64,
}

/// How a shard reads from its device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMode {
    /// One multishot read into a provided-buffer ring (Linux 6.7+).
    Multishot,
    /// A set of plain reads, re-posted as they complete.
    Plain,
    /// No reads: an in-process link's queue, taken once per turn of the loop.
    InProcess,
}

pub(crate) struct ShardLoop {
    shard: Shard,
    ring: IoUring,
    /// Multishot reads into provided buffers, when the kernel has them.
    bufring: Option<BufRing>,
    device: Device,
    /// Packets taken from an in-process link, reused between turns.
    inbound: crate::device::queue::Batch,
    link: Arc<ShardLink>,
    commands: Receiver<Command>,
    epoch: WallInstant,
    sockets: HashMap<SocketHandle, Arc<SocketShared>>,
    /// Sockets the application dropped while data was still queued for sending.
    closing: HashMap<SocketHandle, Arc<SocketShared>>,
    listeners: HashMap<ListenerHandle, Arc<AcceptQueue>>,
    rx_bufs: Vec<Box<[u8]>>,
    tx_slots: Vec<Option<Box<[u8]>>>,
    tx_free: Vec<usize>,
    tx_spare: Vec<Box<[u8]>>,
    doorbell_buf: Box<u64>,
    /// Completions of one wake-up, reused so reaping allocates nothing.
    completions: Vec<(u64, i32, u32)>,
    scratch: Vec<u8>,
    mtu: usize,
    socket_buffer: usize,
    impair: Option<Impairer>,
    stats: IoStats,
    stop: bool,
    busy_poll: Duration,
    /// Bytes of the sockets' application-side buffers, counted against the transport's
    /// buffer memory (reported when it changes).
    app_bytes: usize,
    app_bytes_reported: usize,
}

impl ShardLoop {
    fn new(spec: ShardSpec, link: Arc<ShardLink>, commands: Receiver<Command>) -> io::Result<ShardLoop> {
        let mut builder = IoUring::builder();
        builder.setup_single_issuer().setup_coop_taskrun();
        let ring = match builder.build(1024) {
            Ok(r) => r,
            // Kernels before 6.0 lack SINGLE_ISSUER; try without the flags.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => IoUring::new(1024).map_err(io_uring_error)?,
            Err(e) => return Err(io_uring_error(e)),
        };
        let mtu = usize::from(spec.config.mtu);
        let shard = Shard::new(spec.config, &spec.addrs, spec.secret);
        // Multishot reads into a provided-buffer ring where the kernel supports them (6.7+);
        // otherwise a set of plain reads.
        let mut probe = io_uring::Probe::new();
        let in_process = matches!(spec.device, Device::Queue(_));
        if let Device::Queue(port) = &spec.device {
            port.attach(link.clone());
        }
        let multishot = !in_process
            && !spec.plain_reads
            && ring.submitter().register_probe(&mut probe).is_ok()
            && probe.is_supported(opcode::ReadMulti::CODE);
        let bufring = if multishot { BufRing::new(&ring, RING_BUFFERS, mtu + 64).ok() } else { None };
        link.set_read_mode(if in_process {
            ReadMode::InProcess
        } else if bufring.is_some() {
            ReadMode::Multishot
        } else {
            ReadMode::Plain
        });
        Ok(ShardLoop {
            shard,
            ring,
            bufring,
            device: spec.device,
            inbound: crate::device::queue::Batch::default(),
            link,
            commands,
            epoch: WallInstant::now(),
            sockets: HashMap::new(),
            closing: HashMap::new(),
            listeners: HashMap::new(),
            rx_bufs: (0..READS_IN_FLIGHT).map(|_| vec![0u8; mtu + 64].into_boxed_slice()).collect(),
            tx_slots: Vec::new(),
            tx_free: Vec::new(),
            tx_spare: Vec::new(),
            doorbell_buf: Box::new(0),
            completions: Vec::with_capacity(256),
            scratch: vec![0u8; 64 * 1024],
            mtu,
            socket_buffer: spec.socket_buffer,
            impair: spec.impair.map(Impairer::new),
            stats: IoStats::default(),
            stop: false,
            busy_poll: spec.busy_poll,
            app_bytes: 0,
            app_bytes_reported: 0,
        })
    }

    pub(crate) fn now(&self) -> Instant {
        Instant::from_nanos(self.epoch.elapsed().as_nanos() as u64)
    }

    /// One pass over everything but I/O: commands, due timers, events for the sockets,
    /// packets to send queued as writes.
    pub(crate) fn turn(&mut self) {
        let now = self.now();
        self.drain_commands(now);
        self.receive_in_process(now);
        self.release_held(now);
        if self.shard.poll_timeout().is_some_and(|t| t <= now) {
            self.shard.handle_timeout(now);
        }
        self.process_events(now);
        if self.app_bytes != self.app_bytes_reported {
            self.app_bytes_reported = self.app_bytes;
            self.shard.set_external_memory(self.app_bytes);
        }
        self.flush_tx(now);
    }

    /// When the loop must run again if nothing else happens: a transport timer or a
    /// packet the impairment layer holds back.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let held = self.impair.as_ref().and_then(|i| i.next_due());
        [self.shard.poll_timeout(), held].into_iter().flatten().min()
    }

    fn run(&mut self) {
        self.start_reads(true);
        while !self.stop {
            self.turn();
            if self.stop {
                break;
            }
            let mut wait = self.next_deadline().map(|t| t.saturating_duration_since(self.now()));
            if !self.busy_poll.is_zero() {
                if self.submit().is_err() {
                    self.count_io_error();
                    break;
                }
                let until = WallInstant::now() + self.busy_poll;
                let mut spins = 0u32;
                while !self.has_work() && WallInstant::now() < until {
                    spins += 1;
                    if spins.is_multiple_of(32) {
                        // Device completions are posted when this thread enters the kernel.
                        let _ = self.submit();
                    }
                    std::hint::spin_loop();
                }
                if self.has_work() {
                    wait = Some(Duration::ZERO);
                }
            }
            if let Err(e) = self.submit_and_wait(wait)
                && e.raw_os_error() != Some(libc::EINTR)
            {
                self.stats.io_errors += 1;
                break;
            }
            self.reap();
        }
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stop
    }

    pub(crate) fn busy_poll(&self) -> Duration {
        self.busy_poll
    }

    /// The wall-clock (tokio) instant of transport time `t`.
    pub(crate) fn wall_instant(&self, t: Instant) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.epoch + Duration::from_nanos(t.as_nanos()))
    }

    fn drain_commands(&mut self, now: Instant) {
        self.link.take_queued();
        while let Ok(cmd) = self.commands.try_recv() {
            match cmd {
                Command::Listen { addr, backlog, queue, reply } => {
                    let r = self.shard.listen(addr, backlog).map_err(io::Error::from);
                    if let Ok(l) = r {
                        queue.set_handle(l);
                        self.listeners.insert(l, queue);
                    }
                    let _ = reply.send(r.map(|l| (l, self.shard.listener_addr(l).unwrap_or(addr))));
                }
                Command::CloseListener(l) => {
                    let _ = self.shard.close_listener(l);
                    if let Some(queue) = self.listeners.remove(&l) {
                        // Connections the application never accepted go with their
                        // listener, reset as Linux resets its accept queue on close;
                        // otherwise their peers would wait on them forever.
                        for s in queue.take_all() {
                            s.state().zero_linger = true;
                            self.close(&s, now);
                        }
                    }
                }
                Command::Connect { remote, local, socket } => {
                    let r = self.shard.connect(now, remote, local);
                    let mut st = socket.state();
                    match r {
                        Ok(h) => {
                            st.handle = Some(h);
                            st.local = self.shard.local_addr(h).ok();
                            st.peer = Some(remote);
                            st.trace = ConnTrace::start(self.link.id(), st.local, st.peer);
                            drop(st);
                            self.sockets.insert(h, socket.clone());
                            self.sync(&socket);
                        }
                        Err(e) => {
                            st.error = Some(e.kind());
                            st.phase = Phase::Failed;
                            st.wake_all();
                        }
                    }
                }
                Command::AcceptRoom(l) => self.accept_all(l),
                Command::Sync(s) => self.sync(&s),
                Command::Close(s) => self.close(&s, now),
                Command::Stats(reply) => {
                    let _ = reply.send(self.snapshot());
                }
                Command::Shutdown => self.stop = true,
                Command::Spawn(task) => {
                    // Only thread-per-core shards run a runtime; elsewhere the task is
                    // dropped, which its spawner sees as a task that never finished.
                    if tokio::runtime::Handle::try_current().is_ok() {
                        tokio::spawn(task);
                    }
                }
            }
        }
    }

    fn snapshot(&self) -> ShardStats {
        ShardStats {
            shard: self.link.id(),
            transport: self.shard.stats().clone(),
            drops: self.shard.drops().clone(),
            fin_cache: self.shard.fin_cache().stats(),
            states: self.shard.state_counts(),
            accept_queued: self.listeners.values().map(|q| q.len()).sum(),
            syn_queued: self.listeners.keys().map(|&l| self.shard.syn_queue_len(l).unwrap_or(0)).sum(),
            live_connections: self.shard.connection_count(),
            buffer_memory: self.shard.buffer_memory(),
            io: self.stats.clone(),
        }
    }

    fn process_events(&mut self, now: Instant) {
        while let Some(ev) = self.shard.poll_event() {
            match ev {
                Event::Socket(h) => {
                    if let Some(s) = self.sockets.get(&h).cloned() {
                        self.sync(&s);
                    } else if let Some(s) = self.closing.get(&h).cloned() {
                        self.close(&s, now);
                    }
                }
                Event::Listener(l) => self.accept_all(l),
            }
        }
    }

    /// Moves established connections from the transport to the listener's accept queue
    /// while it has room, and tells the transport how many wait there for the application
    /// (they count against the backlog until the application takes them).
    fn accept_all(&mut self, l: ListenerHandle) {
        let Some(queue) = self.listeners.get(&l).cloned() else { return };
        let mut fresh = Vec::new();
        for _ in 0..queue.room() {
            let Ok(Some(h)) = self.shard.accept(l) else { break };
            let s = SocketShared::new(self.link.clone(), Phase::Open, self.socket_buffer);
            {
                let mut st = s.state();
                st.handle = Some(h);
                st.local = self.shard.local_addr(h).ok();
                st.peer = self.shard.peer_addr(h).ok();
                st.trace = ConnTrace::start(self.link.id(), st.local, st.peer);
            }
            self.sockets.insert(h, s.clone());
            self.sync(&s);
            fresh.push(s);
        }
        let waiting = queue.push_all(fresh);
        let _ = self.shard.set_handed_out(l, waiting);
    }

    /// Moves bytes both ways between a socket's shared buffers and the transport, and
    /// reports state and errors to the application side.
    fn sync(&mut self, s: &Arc<SocketShared>) {
        let mut st = s.state();
        st.sync_queued = false;
        let Some(h) = st.handle else { return };
        let _ = self.shard.set_nodelay(h, st.nodelay);
        let _ = self.shard.set_ttl(h, st.ttl.clamp(1, 255) as u8);
        let tx_before = st.tx.len();
        while !st.tx.is_empty() {
            let (a, _) = st.tx.as_slices();
            match self.shard.send(h, a) {
                Ok(0) | Err(Error::WouldBlock) => break,
                Ok(n) => {
                    st.tx.drain(..n);
                    if let Some(t) = st.trace.as_deref_mut() {
                        t.sent(n);
                    }
                }
                Err(e) => {
                    fail(&mut st, e);
                    break;
                }
            }
        }
        if st.tx_shutdown && st.tx.is_empty() {
            let _ = self.shard.shutdown_write(h);
        }
        let wrote = st.tx.len() < tx_before;
        st.memory_tight = self.shard.memory_tight();
        if st.tx.is_empty() && (st.tx.capacity() > RELEASE_ABOVE || st.memory_tight) {
            st.tx = Default::default();
        }
        let mut got = false;
        // At the memory limit the application side grows no more either (beyond a floor,
        // so that every connection can still be read).
        let cap = if self.shard.memory_exhausted() {
            st.cap.min(st.rx.capacity().max(ringtcp_transport::BufferMemory::MIN_BUFFER))
        } else {
            st.cap
        };
        while st.rx.len() < cap && !st.rx_eof {
            let room = (cap - st.rx.len()).min(self.scratch.len());
            match self.shard.recv(h, &mut self.scratch[..room]) {
                Ok(0) => {
                    st.rx_eof = true;
                    got = true;
                }
                Ok(n) => {
                    st.rx.extend(&self.scratch[..n]);
                    if let Some(t) = st.trace.as_deref_mut() {
                        t.received(n);
                    }
                    got = true;
                }
                Err(Error::WouldBlock) => break,
                Err(e) => {
                    fail(&mut st, e);
                    got = true;
                    break;
                }
            }
        }
        match self.shard.state(h) {
            Ok(State::SynSent | State::SynReceived) => {}
            Ok(State::Closed) => {
                if let Ok(Some(e)) = self.shard.error(h) {
                    fail(&mut st, e);
                }
                if st.phase == Phase::Connecting {
                    st.phase = Phase::Failed;
                    st.error.get_or_insert(io::ErrorKind::ConnectionRefused);
                }
                st.wake_all();
            }
            Ok(_) => {
                if st.phase == Phase::Connecting {
                    st.phase = Phase::Open;
                    st.wake_all();
                }
            }
            Err(_) => {}
        }
        st.rx_more = !st.rx_eof && self.shard.recv_queue(h).is_ok_and(|n| n > 0);
        let held = st.rx.capacity() + st.tx.capacity();
        self.app_bytes = self.app_bytes - st.accounted.min(self.app_bytes) + held;
        st.accounted = held;
        // Wake after unlocking, so the woken task does not find the lock held.
        let reader = if got { st.read_waker.take() } else { None };
        let writer = if wrote { st.write_waker.take() } else { None };
        drop(st);
        if let Some(w) = reader {
            w.wake();
        }
        if let Some(w) = writer {
            w.wake();
        }
    }

    /// The application dropped the socket: flush what it wrote, then close (or reset,
    /// with unread data or SO_LINGER 0, as Linux does).
    fn close(&mut self, s: &Arc<SocketShared>, now: Instant) {
        let Some(h) = s.state().handle else { return };
        self.sync(s);
        let mut st = s.state();
        let unread = !st.rx.is_empty() || self.shard.recv_queue(h).unwrap_or(0) > 0;
        if let Some(t) = st.trace.take() {
            let ended = match st.error {
                Some(kind) => format!("{kind:?}"),
                None if st.zero_linger || unread => "aborted".to_owned(),
                None => "closed".to_owned(),
            };
            // The subscriber runs outside the socket lock: its time is not the app's wait.
            drop(st);
            t.finish(&ended);
            st = s.state();
        }
        if st.zero_linger || unread {
            drop(st);
            let _ = self.shard.abort(h);
        } else if !st.tx.is_empty() && st.error.is_none() {
            // Keep it until the transport has taken everything the application wrote.
            drop(st);
            self.sockets.remove(&h);
            self.closing.insert(h, s.clone());
            return;
        } else {
            drop(st);
            let _ = self.shard.close(now, h);
        }
        self.sockets.remove(&h);
        self.closing.remove(&h);
        let mut st = s.state();
        self.app_bytes -= std::mem::take(&mut st.accounted).min(self.app_bytes);
    }
}

fn fail(st: &mut SocketState, e: Error) {
    st.error.get_or_insert(e.kind());
    if st.phase == Phase::Connecting {
        st.phase = Phase::Failed;
    }
    st.wake_all();
}

impl Drop for ShardLoop {
    /// However the thread ends (stop, device gone, panic), nothing may keep waiting on it.
    fn drop(&mut self) {
        if self.bufring.is_some() {
            let _ = self.ring.submitter().unregister_buf_ring(bufring::GROUP);
        }
        self.link.mark_dead();
        for s in self.sockets.values().chain(self.closing.values()) {
            let mut st = s.state();
            if let Some(t) = st.trace.take() {
                t.finish("shard_stopped");
            }
            st.error.get_or_insert(io::ErrorKind::BrokenPipe);
            if st.phase == Phase::Connecting {
                st.phase = Phase::Failed;
            }
            st.wake_all();
        }
        for q in self.listeners.values() {
            q.fail(io::ErrorKind::BrokenPipe);
        }
    }
}

/// The address a listener ended up bound to (port 0 resolved).
pub(crate) type ListenReply = io::Result<(ListenerHandle, SocketAddr)>;
