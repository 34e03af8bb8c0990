//! State shared between application threads and a shard thread: per socket (a lock of
//! its own, held only to move bytes and wakers) and per listener per shard (so accept
//! takes no lock shared by all shards). Application threads never touch transport state:
//! they fill and drain these buffers and ring the shard's doorbell.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, MutexGuard};
use std::task::Waker;

use ringtcp_transport::{ListenerHandle, SocketHandle};

use crate::lock::{LockScope, LockStats, TracedMutex};
use crate::sys;

/// The per-socket lock (bytes and wakers shared by an application task and its shard).
pub static SOCKET_LOCK: LockStats = LockStats::new("socket", LockScope::Socket);
/// The per-listener, per-shard accept-queue lock.
pub static ACCEPT_LOCK: LockStats = LockStats::new("accept_queue", LockScope::Shard);

/// What an application thread asks of a shard.
pub(crate) enum Command {
    /// Open a listener; the reply carries the shard's listener handle or an error.
    Listen { addr: SocketAddr, backlog: usize, queue: Arc<AcceptQueue>, reply: Sender<crate::shard::ListenReply> },
    /// Stop listening.
    CloseListener(ListenerHandle),
    /// The application took a connection from a listener's accept queue that was full:
    /// the shard may move more connections there (and tell the transport how many wait).
    AcceptRoom(ListenerHandle),
    /// Open a connection; the socket's state reports progress.
    Connect { remote: SocketAddr, local: Option<SocketAddr>, socket: Arc<SocketShared> },
    /// Move bytes between this socket's buffers and the transport (data written, space
    /// freed by a read, shutdown requested, options changed).
    Sync(Arc<SocketShared>),
    /// The application dropped the socket.
    Close(Arc<SocketShared>),
    /// Report the shard's counters.
    Stats(Sender<crate::stats::ShardStats>),
    /// Stop the shard thread.
    Shutdown,
    /// Run an application task on the shard thread (thread-per-core mode).
    Spawn(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>),
}

/// The application side's way into one shard: a command queue and a doorbell.
#[derive(Debug)]
pub struct ShardLink {
    pub(crate) id: usize,
    /// `Sender` is `Sync`: application threads send without a lock of ours.
    commands: Sender<Command>,
    doorbell: std::os::fd::OwnedFd,
    /// The doorbell has been rung and the shard has not yet drained it: coalesce.
    rung: AtomicBool,
    /// The shard thread has stopped; every call fails.
    dead: AtomicBool,
    /// How the shard reads its device (`ReadMode` as 0 plain, 1 multishot, 2 in-process).
    read_mode: std::sync::atomic::AtomicU8,
    /// Thread-per-core mode: the shard loop waits on this instead of the eventfd.
    local: std::sync::OnceLock<Arc<tokio::sync::Notify>>,
    /// Commands were queued since the shard last drained them (read by busy polling).
    queued: AtomicBool,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Listen { .. } => "Listen",
            Command::CloseListener(_) => "CloseListener",
            Command::AcceptRoom(_) => "AcceptRoom",
            Command::Connect { .. } => "Connect",
            Command::Sync(_) => "Sync",
            Command::Close(_) => "Close",
            Command::Stats(_) => "Stats",
            Command::Shutdown => "Shutdown",
            Command::Spawn(_) => "Spawn",
        })
    }
}

impl ShardLink {
    pub(crate) fn new(id: usize, commands: Sender<Command>) -> io::Result<ShardLink> {
        Ok(ShardLink {
            id,
            commands,
            doorbell: sys::eventfd()?,
            rung: AtomicBool::new(false),
            dead: AtomicBool::new(false),
            read_mode: std::sync::atomic::AtomicU8::new(0),
            local: std::sync::OnceLock::new(),
            queued: AtomicBool::new(false),
        })
    }

    pub(crate) fn doorbell_fd(&self) -> libc::c_int {
        use std::os::fd::AsRawFd;
        self.doorbell.as_raw_fd()
    }

    /// Queues a command and rings the doorbell (once until the shard drains it).
    pub(crate) fn send(&self, cmd: Command) -> io::Result<()> {
        if self.is_dead() {
            return Err(shard_dead());
        }
        let sent = self.commands.send(cmd);
        if sent.is_err() {
            self.dead.store(true, Ordering::Release);
            return Err(shard_dead());
        }
        self.queued.store(true, Ordering::Release);
        self.wake();
        Ok(())
    }

    /// Clears and returns the commands-queued flag (the shard is about to drain them).
    pub(crate) fn take_queued(&self) -> bool {
        self.queued.swap(false, Ordering::AcqRel)
    }

    /// True if commands wait (no lock taken).
    pub(crate) fn has_queued(&self) -> bool {
        self.queued.load(Ordering::Acquire)
    }

    /// Rings the doorbell without a command (packets arrived on an in-process link).
    pub(crate) fn wake(&self) {
        if let Some(n) = self.local.get() {
            // A permit is stored if the loop is busy, so the wake-up is never lost; from
            // the shard's own thread this is a flag and a local wake, no system call.
            n.notify_one();
        } else if !self.rung.swap(true, Ordering::AcqRel) {
            sys::eventfd_ring(self.doorbell_fd());
        }
    }

    pub(crate) fn set_local_notify(&self, n: Arc<tokio::sync::Notify>) {
        let _ = self.local.set(n);
    }

    /// True if this shard runs in thread-per-core mode.
    pub fn is_thread_per_core(&self) -> bool {
        self.local.get().is_some()
    }

    /// The shard saw the doorbell; later commands must ring again.
    pub(crate) fn rearm(&self) {
        self.rung.store(false, Ordering::Release);
    }

    pub(crate) fn mark_dead(&self) {
        self.dead.store(true, Ordering::Release);
    }

    /// True once the shard thread has stopped.
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// This shard's index.
    pub fn id(&self) -> usize {
        self.id
    }

    pub(crate) fn set_read_mode(&self, mode: crate::shard::ReadMode) {
        let code = match mode {
            crate::shard::ReadMode::Plain => 0,
            crate::shard::ReadMode::Multishot => 1,
            crate::shard::ReadMode::InProcess => 2,
        };
        self.read_mode.store(code, Ordering::Release);
    }

    /// How the shard reads its device.
    pub fn read_mode(&self) -> crate::shard::ReadMode {
        match self.read_mode.load(Ordering::Acquire) {
            1 => crate::shard::ReadMode::Multishot,
            2 => crate::shard::ReadMode::InProcess,
            _ => crate::shard::ReadMode::Plain,
        }
    }
}

/// The error every call gets once its shard thread is gone.
pub fn shard_dead_error() -> io::Error {
    shard_dead()
}

pub(crate) fn shard_dead() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the ringtcp shard thread serving this socket has stopped; the stack must be restarted")
}


/// Where a connection stands, as the application sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Connecting (SYN sent, not yet established).
    Connecting,
    /// Established (or past it, still usable for what is left).
    Open,
    /// Ended with an error.
    Failed,
}

/// Bytes and wakers of one connection.
#[derive(Debug)]
pub struct SocketState {
    /// Received bytes not yet read by the application.
    pub rx: VecDeque<u8>,
    /// End of stream: the peer's FIN arrived and everything before it is in `rx`.
    pub rx_eof: bool,
    /// The transport holds more received bytes than `rx` had room for: a read that makes
    /// room must ask the shard for them.
    pub rx_more: bool,
    /// Buffer memory is tight: a drained `rx` is freed at once, and the shard is told (so
    /// that it counts the bytes as given back).
    pub memory_tight: bool,
    /// Bytes written by the application, not yet taken by the transport.
    pub tx: VecDeque<u8>,
    /// The application shut down writing.
    pub tx_shutdown: bool,
    /// The first error, kept for every later call.
    pub error: Option<io::ErrorKind>,
    /// Connection progress.
    pub phase: Phase,
    /// Local and remote addresses, once known.
    pub local: Option<SocketAddr>,
    /// Remote address.
    pub peer: Option<SocketAddr>,
    /// TCP_NODELAY as the application set it.
    pub nodelay: bool,
    /// IP TTL the application set (reported back by `ttl`).
    pub ttl: u32,
    /// RST on close (SO_LINGER 0).
    pub zero_linger: bool,
    /// A sync is already queued: coalesce further doorbells.
    pub sync_queued: bool,
    /// The shard's handle for this socket.
    pub handle: Option<SocketHandle>,
    /// Task waiting to read.
    pub read_waker: Option<Waker>,
    /// Task waiting to write.
    pub write_waker: Option<Waker>,
    /// Capacity of `rx` and of `tx`.
    pub cap: usize,
    /// Bytes of `rx` and `tx` the shard last counted against its buffer memory.
    pub(crate) accounted: usize,
    /// The connection's DEBUG span, when one is being recorded.
    pub(crate) trace: Option<Box<crate::conn_trace::ConnTrace>>,
}

impl SocketState {
    /// Wakes the reader and the writer.
    pub fn wake_all(&mut self) {
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
        if let Some(w) = self.write_waker.take() {
            w.wake();
        }
    }
}

/// One connection as both sides see it.
#[derive(Debug)]
pub struct SocketShared {
    /// The shard that owns the connection.
    pub link: Arc<ShardLink>,
    state: TracedMutex<SocketState>,
}

impl SocketShared {
    pub(crate) fn new(link: Arc<ShardLink>, phase: Phase, cap: usize) -> Arc<SocketShared> {
        let shard = link.id as u32;
        Arc::new(SocketShared {
            link,
            state: TracedMutex::new(SocketState {
                rx: VecDeque::new(),
                rx_eof: false,
                rx_more: false,
                memory_tight: false,
                tx: VecDeque::new(),
                tx_shutdown: false,
                error: None,
                phase,
                local: None,
                peer: None,
                nodelay: false,
                ttl: 64,
                zero_linger: false,
                sync_queued: false,
                handle: None,
                read_waker: None,
                write_waker: None,
                cap,
                accounted: 0,
                trace: None,
            }, &SOCKET_LOCK, shard),
        })
    }

    /// The socket's state, locked.
    pub fn state(&self) -> MutexGuard<'_, SocketState> {
        self.state.lock()
    }

    /// Asks the shard to move bytes for this socket (coalesced while one is queued).
    pub fn request_sync(self: &Arc<Self>, st: &mut SocketState) -> io::Result<()> {
        if st.sync_queued {
            return Ok(());
        }
        st.sync_queued = true;
        self.link.send(Command::Sync(self.clone()))
    }

    /// Gives the socket back to its shard (dropped by the application).
    pub fn close(self: &Arc<Self>) {
        let _ = self.link.send(Command::Close(self.clone()));
    }
}

/// One shard's accept queue for one listener, bounded by the listener's backlog. Each
/// shard has its own, so accepting takes no lock shared by all shards. The connections
/// waiting here still count against the backlog in the transport (the shard reports how
/// many), so the backlog bounds established connections end to end; when the queue is
/// full the shard stops moving connections into it, and the application's next accept
/// asks the shard for more.
#[derive(Debug)]
pub struct AcceptQueue {
    inner: TracedMutex<AcceptInner>,
    link: Arc<ShardLink>,
    backlog: usize,
    /// The shard's listener, once it exists.
    handle: std::sync::OnceLock<ListenerHandle>,
}

impl AcceptQueue {
    /// An empty queue of `link`'s shard for a listener with `backlog`.
    pub fn new(link: Arc<ShardLink>, backlog: usize) -> AcceptQueue {
        let shard = link.id as u32;
        AcceptQueue {
            inner: TracedMutex::new(AcceptInner::default(), &ACCEPT_LOCK, shard),
            link,
            backlog: backlog.max(1),
            handle: std::sync::OnceLock::new(),
        }
    }
}

#[derive(Debug, Default)]
struct AcceptInner {
    ready: VecDeque<Arc<SocketShared>>,
    waker: Option<Waker>,
    error: Option<io::ErrorKind>,
    /// The queue was full when the shard last filled it: the next take tells the shard.
    notify_on_take: bool,
}

impl AcceptQueue {
    pub(crate) fn set_handle(&self, h: ListenerHandle) {
        let _ = self.handle.set(h);
    }

    /// Room for more connections (the shard fills at most this many).
    pub(crate) fn room(&self) -> usize {
        self.backlog.saturating_sub(self.inner.lock().ready.len())
    }

    /// Adds connections, wakes the acceptor, and returns how many now wait. A full queue
    /// asks the next `take` to tell the shard.
    pub(crate) fn push_all(&self, fresh: Vec<Arc<SocketShared>>) -> usize {
        let mut q = self.inner.lock();
        let woke = !fresh.is_empty();
        q.ready.extend(fresh);
        let waiting = q.ready.len();
        q.notify_on_take = waiting >= self.backlog;
        let waker = if woke { q.waker.take() } else { None };
        drop(q);
        if let Some(w) = waker {
            w.wake();
        }
        waiting
    }

    pub(crate) fn fail(&self, kind: io::ErrorKind) {
        let mut q = self.inner.lock();
        q.error = Some(kind);
        if let Some(w) = q.waker.take() {
            w.wake();
        }
    }

    /// Takes every connection still waiting (its listener is closing).
    pub(crate) fn take_all(&self) -> Vec<Arc<SocketShared>> {
        self.inner.lock().ready.drain(..).collect()
    }

    /// Connections waiting to be accepted.
    pub fn len(&self) -> usize {
        self.inner.lock().ready.len()
    }

    /// True if none is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The listener's backlog: the most connections this queue holds.
    pub fn backlog(&self) -> usize {
        self.backlog
    }

    /// Takes one accepted connection, or registers `waker` and returns `Ok(None)`.
    pub fn take(&self, waker: &Waker) -> io::Result<Option<Arc<SocketShared>>> {
        let mut q = self.inner.lock();
        if let Some(s) = q.ready.pop_front() {
            let tell = std::mem::take(&mut q.notify_on_take);
            drop(q);
            if tell && let Some(&h) = self.handle.get() {
                // The shard stopped filling a full queue; a dead shard fails the next take.
                let _ = self.link.send(Command::AcceptRoom(h));
            }
            return Ok(Some(s));
        }
        if let Some(kind) = q.error {
            return Err(io::Error::new(kind, shard_dead().to_string()));
        }
        if !q.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            q.waker = Some(waker.clone());
        }
        Ok(None)
    }
}
