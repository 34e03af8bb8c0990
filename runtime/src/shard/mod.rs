//! A shard thread: one transport shard, one io_uring, one packet device, one doorbell.
//!
//! - `event_loop.rs`: the loop's state and one turn of it (commands, timers, sockets,
//!   packets out);
//! - `device_io/`: the ring and the device (reads, writes, the impairment layer);
//! - `gathered_writes.rs`: writes whose payload comes straight from send buffers;
//! - `wait.rs`: the loop itself and its two ways of waiting (in `io_uring_enter`, or as a
//!   task of the shard thread's tokio runtime in thread-per-core mode).

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use ringtcp_transport::{Config, Secret};

use crate::device::Device;
use crate::doorbell::Doorbell;
use crate::handle::{Command, ShardHandle};

mod event_loop;
mod device_io;
mod gathered_writes;
mod tx_buffers;
mod wait;
mod xdp_io;

use event_loop::ShardLoop;

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
    /// Super-segments and partial checksums on an in-process link (a TUN device's
    /// offloads are settled when it is opened: see `Device::Vnet`).
    pub offloads: bool,
    /// Run the shard loop as a task of a current-thread tokio runtime on the shard thread,
    /// so that application tasks spawned there reach it without crossing threads (see
    /// [`crate::thread_per_core`]).
    pub thread_per_core: bool,
    /// Before sleeping, keep looking for work this long (zero: never busy-poll). Trades
    /// a core's idle time for the wake-up latency of a sleeping thread.
    pub busy_poll: Duration,
}

/// A running shard thread.
#[derive(Debug)]
pub struct ShardThread {
    /// The application side's way in.
    pub handle: Arc<ShardHandle>,
    thread: Option<JoinHandle<()>>,
}

impl ShardThread {
    /// Starts the thread; returns once its io_uring is set up (or with the reason it
    /// could not be).
    pub fn spawn(spec: ShardSpec) -> io::Result<ShardThread> {
        let (tx, rx) = mpsc::channel();
        let doorbell = Arc::new(Doorbell::new()?);
        let notify = spec.thread_per_core.then(|| Arc::new(tokio::sync::Notify::new()));
        if let Some(n) = &notify {
            doorbell.use_notify(n.clone());
        }
        let handle = Arc::new(ShardHandle::new(spec.id, tx, doorbell));
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread_handle = handle.clone();
        let thread = std::thread::Builder::new().name(format!("ringtcp-shard-{}", spec.id)).spawn(move || {
            match (ShardLoop::new(spec, thread_handle.clone(), rx), notify) {
                (Ok(l), Some(notify)) => {
                    let _ = ready_tx.send(Ok(()));
                    if let Err(e) = wait::run_on_tokio(l, thread_handle.clone(), notify) {
                        // The loop was dropped on the way out, failing every socket.
                        tracing::error!(shard = thread_handle.id(), error = %e, "a thread-per-core shard could not start its runtime");
                    }
                }
                (Ok(l), None) => {
                    let _ = ready_tx.send(Ok(()));
                    wait::run_in_kernel(l);
                }
                (Err(e), _) => {
                    thread_handle.mark_dead();
                    let _ = ready_tx.send(Err(e));
                }
            }
        })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(ShardThread { handle, thread: Some(thread) }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other("the ringtcp shard thread died while starting")),
        }
    }

    /// Asks the thread to stop and waits for it (unless called on that very thread, as
    /// when a task on a thread-per-core shard drops the last handle to its stack: then
    /// the thread ends once the call returns to its loop).
    pub fn stop(&mut self) {
        let _ = self.handle.send(Command::Shutdown);
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
