//! A shard as the application side reaches it: the commands it takes, a queue for them
//! and its doorbell. Application threads queue a command and ring; the shard drains the
//! queue at its next turn.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::mpsc::Sender;

use ringtcp_transport::{ListenerHandle, SocketOptions};

use crate::accept::AcceptQueue;
use crate::device::ReadMode;
use crate::doorbell::Doorbell;
use crate::socket::{Request, SocketError, SocketHost, SocketSettings, SocketShared};
use crate::stats::ShardStats;

/// What an application thread asks of a shard.
pub(crate) enum Command {
    /// Open a listener; the reply carries the shard's listener handle or an error.
    Listen { addr: SocketAddr, backlog: usize, settings: SocketSettings, queue: Arc<AcceptQueue>, reply: Sender<ListenReply> },
    /// Stop listening.
    CloseListener(ListenerHandle),
    /// Is `addr` held by a listener? (A socket binding it would fail.)
    ListenerHolds { addr: SocketAddr, reply: Sender<bool> },
    /// Open a connection with the transport's `buffers`; the socket reports progress.
    Connect { remote: SocketAddr, local: Option<SocketAddr>, buffers: SocketOptions, socket: Arc<SocketShared> },
    /// A socket or an accept queue needs the shard.
    Socket(Request),
    /// Report the shard's counters.
    Stats(Sender<ShardStats>),
    /// Stop the shard thread.
    Shutdown,
    /// Run an application task on the shard thread (thread-per-core mode).
    Spawn(Pin<Box<dyn Future<Output = ()> + Send>>),
}

/// The listener a shard opened and the address it ended up bound to (port 0 resolved).
pub(crate) type ListenReply = io::Result<(ListenerHandle, SocketAddr)>;

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Listen { addr, .. } => write!(f, "Listen({addr})"),
            Command::CloseListener(l) => write!(f, "CloseListener({l:?})"),
            Command::ListenerHolds { addr, .. } => write!(f, "ListenerHolds({addr})"),
            Command::Connect { remote, .. } => write!(f, "Connect({remote})"),
            Command::Socket(r) => write!(f, "Socket({r:?})"),
            Command::Stats(_) => f.write_str("Stats"),
            Command::Shutdown => f.write_str("Shutdown"),
            Command::Spawn(_) => f.write_str("Spawn"),
        }
    }
}

/// The application side's way into one shard.
#[derive(Debug)]
pub struct ShardHandle {
    id: usize,
    /// `Sender` is `Sync`: application threads send without a lock of ours.
    commands: Sender<Command>,
    doorbell: Arc<Doorbell>,
    /// The shard thread has stopped; every call fails.
    dead: AtomicBool,
    /// How the shard reads its device (`ReadMode` as 0 plain, 1 multishot, 2 in-process).
    read_mode: AtomicU8,
    /// Commands were queued since the shard last drained them (read by busy polling).
    /// On a line of its own: the shard clears it every turn commands came, and the
    /// fields above, which every send reads, would otherwise move with it.
    queued: Padded<AtomicBool>,
}

/// A value alone on its cache line (128 bytes: the adjacent-line prefetcher of x86 moves
/// lines in pairs).
#[derive(Debug)]
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl ShardHandle {
    pub(crate) fn new(id: usize, commands: Sender<Command>, doorbell: Arc<Doorbell>) -> ShardHandle {
        ShardHandle {
            id,
            commands,
            doorbell,
            dead: AtomicBool::new(false),
            read_mode: AtomicU8::new(0),
            queued: Padded(AtomicBool::new(false)),
        }
    }

    /// Queues a command and rings the doorbell (once until the shard drains it).
    pub(crate) fn send(&self, cmd: Command) -> io::Result<()> {
        if self.is_dead() {
            return Err(SocketError::ShardStopped.into());
        }
        if self.commands.send(cmd).is_err() {
            self.dead.store(true, Ordering::Release);
            return Err(SocketError::ShardStopped.into());
        }
        self.queued.store(true, Ordering::Release);
        self.doorbell.ring();
        Ok(())
    }

    /// Clears and returns the commands-queued flag (the shard is about to drain them).
    pub(crate) fn take_queued(&self) -> bool {
        // Read first: a turn that finds nothing queued leaves the line where it is.
        self.queued.load(Ordering::Acquire) && self.queued.swap(false, Ordering::AcqRel)
    }

    /// True if commands wait (no lock taken).
    pub(crate) fn has_queued(&self) -> bool {
        self.queued.load(Ordering::Acquire)
    }

    /// The shard's doorbell.
    pub(crate) fn doorbell(&self) -> &Arc<Doorbell> {
        &self.doorbell
    }

    /// True if this shard runs in thread-per-core mode.
    pub fn is_thread_per_core(&self) -> bool {
        self.doorbell.is_notify()
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

    pub(crate) fn set_read_mode(&self, mode: ReadMode) {
        let code = match mode {
            ReadMode::Plain => 0,
            ReadMode::Multishot => 1,
            ReadMode::InProcess => 2,
            ReadMode::AfXdp => 3,
        };
        self.read_mode.store(code, Ordering::Release);
    }

    /// How the shard reads its device.
    pub fn read_mode(&self) -> ReadMode {
        match self.read_mode.load(Ordering::Acquire) {
            1 => ReadMode::Multishot,
            2 => ReadMode::InProcess,
            3 => ReadMode::AfXdp,
            _ => ReadMode::Plain,
        }
    }
}

impl SocketHost for ShardHandle {
    fn request(&self, r: Request) -> io::Result<()> {
        self.send(Command::Socket(r))
    }

    fn is_dead(&self) -> bool {
        ShardHandle::is_dead(self)
    }

    fn shard_id(&self) -> usize {
        self.id
    }
}
