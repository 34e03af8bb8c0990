//! A set of running shards and the operations that span them: listening on every shard,
//! and choosing the shard for an outbound connection.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use ringtcp_transport::ListenerHandle;

use crate::shard::{ShardSpec, ShardThread};
use crate::stats::ShardStats;
use crate::shared::{AcceptQueue, Command, Phase, ShardLink, SocketShared};

/// One shard's part of a listener.
#[derive(Debug, Clone)]
pub struct ListenerPart {
    /// The shard.
    pub link: Arc<ShardLink>,
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
}

impl Shards {
    /// Starts one thread per spec.
    pub fn start(specs: Vec<ShardSpec>) -> io::Result<Shards> {
        let socket_buffer = specs.first().map_or(256 * 1024, |s| s.socket_buffer);
        let threads = specs.into_iter().map(ShardThread::spawn).collect::<io::Result<Vec<_>>>()?;
        Ok(Shards { threads, next: AtomicUsize::new(0), socket_buffer })
    }

    /// Number of shards.
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// The shards' links.
    pub fn links(&self) -> impl Iterator<Item = &Arc<ShardLink>> {
        self.threads.iter().map(|t| &t.link)
    }

    /// True if the calling thread is one of these shards' threads (thread-per-core mode).
    fn called_from_own_shard(&self) -> bool {
        crate::local::on_shard_thread() && self.threads.iter().any(|t| crate::local::is_current(&t.link))
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
        self.refuse_on_own_shard("bind")?;
        let mut parts = Vec::with_capacity(self.threads.len());
        let mut bound = addr;
        for t in &self.threads {
            let (tx, rx) = mpsc::channel();
            let queue = Arc::new(AcceptQueue::new(t.link.clone(), backlog));
            let cmd = Command::Listen { addr: bound, backlog, queue: queue.clone(), reply: tx };
            let r = t.link.send(cmd).and_then(|_| rx.recv().map_err(|_| crate::shared::shard_dead())?);
            match r {
                Ok((handle, at)) => {
                    bound = at;
                    parts.push(ListenerPart { link: t.link.clone(), handle, queue });
                }
                Err(e) => {
                    for p in parts {
                        let _ = p.link.send(Command::CloseListener(p.handle));
                    }
                    return Err(e);
                }
            }
        }
        Ok((parts, bound))
    }

    /// Starts a connection on the next shard (round robin). The socket reports progress;
    /// see [`crate::shared::Phase`].
    pub fn connect(&self, remote: SocketAddr, local: Option<SocketAddr>) -> io::Result<Arc<SocketShared>> {
        if self.threads.is_empty() {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "the ringtcp stack has no shards"));
        }
        // On a shard's own thread (thread-per-core), the connection stays on that shard:
        // its packets come back there (port steering) and no call crosses threads.
        let here = self.threads.iter().position(|t| crate::local::is_current(&t.link));
        let i = here.unwrap_or_else(|| self.next.fetch_add(1, Ordering::Relaxed) % self.threads.len());
        let link = self.threads[i].link.clone();
        let socket = SocketShared::new(link.clone(), Phase::Connecting, self.socket_buffer);
        link.send(Command::Connect { remote, local, socket: socket.clone() })?;
        Ok(socket)
    }

    /// Runs `task` on shard `shard`'s thread, beside the shard loop (thread-per-core mode
    /// only).
    pub fn spawn_on(&self, shard: usize, task: impl std::future::Future<Output = ()> + Send + 'static) -> io::Result<()> {
        let t = self.threads.get(shard).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("the stack has {} shards, there is no shard {shard}", self.threads.len()))
        })?;
        if !t.link.is_thread_per_core() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "tasks run on shard threads only in thread-per-core mode: build the stack with thread_per_core(true)",
            ));
        }
        t.link.send(Command::Spawn(Box::pin(task)))
    }

    /// Every shard's counters, asked of each shard thread in turn.
    pub fn stats(&self) -> io::Result<Vec<ShardStats>> {
        self.refuse_on_own_shard("stats")?;
        self.threads
            .iter()
            .map(|t| {
                let (tx, rx) = mpsc::channel();
                t.link.send(Command::Stats(tx))?;
                rx.recv().map_err(|_| crate::shared::shard_dead())
            })
            .collect()
    }

    /// Stops every shard thread.
    pub fn stop(&mut self) {
        for t in &mut self.threads {
            t.stop();
        }
    }
}

/// The default bound on a stack's buffer memory: an eighth of physical memory (Linux
/// sizes `tcp_mem` from free memory in the same spirit), at least 64 MiB, at most 16 GiB.
///
/// ```
/// let b = ringtcp_runtime::stack::default_buffer_memory();
/// assert!(b >= 64 << 20);
/// ```
pub fn default_buffer_memory() -> usize {
    crate::sys::physical_memory().map_or(1 << 30, |m| m / 8).clamp(64 << 20, 16 << 30)
}

/// Closes a listener on every shard.
pub fn close_listener(parts: &[ListenerPart]) {
    for p in parts {
        let _ = p.link.send(Command::CloseListener(p.handle));
    }
}
