//! The shard loop's state and its turn: drain application commands, take in-process
//! packets, run due timers, bring the sockets up to date with the transport's events, and
//! write what the transport emits. How the loop waits between turns is `wait.rs`.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant as WallInstant};

use ringtcp_transport::{Event, Instant, ListenerHandle, Shard, SocketHandle};

use super::ShardSpec;
use super::device_io::DeviceIo;
use crate::accept::AcceptQueue;
use crate::handle::{Command, ShardHandle};
use crate::socket::{Phase, Released, Request, SocketError, SocketSettings, SocketShared};
use crate::stats::ShardStats;

pub(crate) struct ShardLoop {
    shard: Shard,
    pub(super) io: DeviceIo,
    handle: Arc<ShardHandle>,
    commands: Receiver<Command>,
    epoch: WallInstant,
    sockets: HashMap<SocketHandle, Arc<SocketShared>>,
    /// Sockets the application dropped while data was still queued for sending.
    closing: HashMap<SocketHandle, Arc<SocketShared>>,
    /// Each listener's accept queue and the settings of the connections it accepts.
    listeners: HashMap<ListenerHandle, (Arc<AcceptQueue>, SocketSettings)>,
    /// Connections on their way to an accept queue (kept to reuse its allocation).
    fresh: Vec<Arc<SocketShared>>,
    socket_buffer: usize,
    /// A `Shutdown` command arrived.
    shutdown: bool,
    pub(super) busy_poll: Duration,
    /// Bytes of the sockets' application-side buffers, counted against the transport's
    /// buffer memory (reported when it changes).
    app_bytes: usize,
    app_bytes_reported: usize,
}

impl ShardLoop {
    pub(super) fn new(spec: ShardSpec, handle: Arc<ShardHandle>, commands: Receiver<Command>) -> io::Result<ShardLoop> {
        let mtu = usize::from(spec.config.mtu);
        let io = DeviceIo::new(spec.device, handle.doorbell().clone(), mtu, spec.impair, spec.plain_reads, spec.offloads, |m| {
            handle.set_read_mode(m)
        })?;
        Ok(ShardLoop {
            shard: Shard::new(spec.config, &spec.addrs, spec.secret),
            io,
            handle,
            commands,
            epoch: WallInstant::now(),
            sockets: HashMap::new(),
            closing: HashMap::new(),
            listeners: HashMap::new(),
            fresh: Vec::new(),
            socket_buffer: spec.socket_buffer,
            shutdown: false,
            busy_poll: spec.busy_poll,
            app_bytes: 0,
            app_bytes_reported: 0,
        })
    }

    pub(super) fn now(&self) -> Instant {
        Instant::from_nanos(self.epoch.elapsed().as_nanos() as u64)
    }

    /// The wall-clock (tokio) instant of transport time `t`.
    pub(super) fn wall_instant(&self, t: Instant) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.epoch + Duration::from_nanos(t.as_nanos()))
    }

    /// True once the shard must stop: told to, or its device is gone.
    pub(super) fn stopped(&self) -> bool {
        self.shutdown || self.io.is_gone()
    }

    /// True if the shard stops because it was told to (not because its device is gone).
    pub(super) fn told_to_stop(&self) -> bool {
        self.shutdown && !self.io.is_gone()
    }

    /// The last thing a shard told to stop does: reset every connection and get the RSTs
    /// onto the device before the thread ends (waiting for them at most 200 ms), so peers
    /// learn at once instead of timing out against an address nobody answers any more, as
    /// they do when a process's kernel sockets are closed at its exit.
    pub(super) fn farewell(&mut self) {
        let now = self.now();
        if self.shard.abort_all(now) == 0 {
            return;
        }
        // The sockets are not told of the aborts: what stopped them is the shard, and the
        // loop's drop fails each with `ShardStopped` (`BrokenPipe`), as documented.
        let handle = &self.handle;
        self.io.finish_writes(&mut self.shard, now, Duration::from_millis(200), |m| handle.set_read_mode(m));
    }

    /// One pass over everything but waiting: commands, in-process packets, held packets,
    /// due timers, events for the sockets, packets to send.
    pub(super) fn turn(&mut self) {
        let now = self.now();
        self.drain_commands(now);
        self.io.receive_in_process(&mut self.shard, now);
        self.io.release_held(&mut self.shard, now);
        if self.shard.poll_timeout().is_some_and(|t| t <= now) {
            self.shard.handle_timeout(now);
        }
        self.process_events(now);
        if self.app_bytes != self.app_bytes_reported {
            self.app_bytes_reported = self.app_bytes;
            self.shard.set_external_memory(self.app_bytes);
        }
        self.io.flush(&mut self.shard, now);
    }

    /// Handles the ring's completions (packets go to the transport); returns how many.
    pub(super) fn reap(&mut self) -> usize {
        let now = self.now();
        let handle = &self.handle;
        self.io.reap(&mut self.shard, now, |m| handle.set_read_mode(m))
    }

    /// When the loop must run again if nothing else happens: a transport timer or a
    /// packet the impairment layer holds back.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        [self.shard.poll_timeout(), self.io.next_due()].into_iter().flatten().min()
    }

    /// True if a turn would find something to do now: commands, packets, completions, or
    /// a deadline passed.
    pub(super) fn has_work(&mut self) -> bool {
        self.handle.has_queued() || self.io.has_input() || self.next_deadline().is_some_and(|t| t <= self.now())
    }

    fn drain_commands(&mut self, now: Instant) {
        self.handle.take_queued();
        while let Ok(cmd) = self.commands.try_recv() {
            match cmd {
                Command::Listen { addr, backlog, settings, queue, reply } => {
                    let r = self.shard.listen_with(addr, backlog, settings.buffers).map_err(io::Error::from);
                    if let Ok(l) = r {
                        queue.set_handle(l);
                        self.listeners.insert(l, (queue, settings));
                        if let Ok(at) = self.shard.listener_addr(l) {
                            self.io.claim_port(at.port());
                        }
                    }
                    let _ = reply.send(r.map(|l| (l, self.shard.listener_addr(l).unwrap_or(addr))));
                }
                Command::CloseListener(l) => {
                    let port = self.shard.listener_addr(l).map(|a| a.port());
                    let _ = self.shard.close_listener(l);
                    if let Ok(port) = port {
                        let others = self.listeners.keys().filter(|&&o| o != l).any(|&o| self.shard.listener_addr(o).is_ok_and(|a| a.port() == port));
                        if !others {
                            self.io.release_port(port);
                        }
                    }
                    if let Some((queue, _)) = self.listeners.remove(&l) {
                        // Connections the application never accepted go with their
                        // listener, reset as Linux resets its accept queue on close;
                        // otherwise their peers would wait on them forever.
                        for s in queue.take_all() {
                            s.abort_on_release();
                            self.release(&s, now);
                        }
                    }
                }
                Command::ListenerHolds { addr, reply } => {
                    let _ = reply.send(self.shard.listener_holds(addr));
                }
                Command::Connect { remote, local, buffers, socket } => match self.shard.connect_with(now, remote, local, buffers) {
                    Ok(h) => {
                        if let Some(l) = local {
                            // A port chosen by the application (bind): its replies are
                            // ours from now on.
                            self.io.claim_port(l.port());
                        }
                        socket.attach(h, self.shard.local_addr(h).ok(), Some(remote));
                        self.sockets.insert(h, socket.clone());
                        self.update(&socket, now);
                    }
                    Err(e) => socket.fail(SocketError::Transport(e)),
                },
                Command::Socket(Request::Update(s)) => self.update(&s, now),
                Command::Socket(Request::Close(s)) => self.release(&s, now),
                Command::Socket(Request::AcceptRoom(l)) => self.accept_all(l, now),
                Command::Stats(reply) => {
                    let _ = reply.send(self.snapshot());
                }
                Command::Shutdown => self.shutdown = true,
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
            shard: self.handle.id(),
            transport: self.shard.stats().clone(),
            drops: self.shard.drops().clone(),
            fin_cache: self.shard.fin_cache().stats(),
            states: self.shard.state_counts(),
            accept_queued: self.listeners.values().map(|(q, _)| q.len()).sum(),
            syn_queued: self.listeners.keys().map(|&l| self.shard.syn_queue_len(l).unwrap_or(0)).sum(),
            live_connections: self.shard.connection_count(),
            buffer_memory: self.shard.buffer_memory(),
            io: self.io.stats().clone(),
            af_xdp: self.io.af_xdp_stats(),
        }
    }

    fn process_events(&mut self, now: Instant) {
        while let Some(ev) = self.shard.poll_event() {
            match ev {
                Event::Socket(h) => {
                    if let Some(s) = self.sockets.get(&h).cloned() {
                        self.update(&s, now);
                    } else if let Some(s) = self.closing.get(&h).cloned() {
                        self.release(&s, now);
                    }
                }
                Event::Listener(l) => self.accept_all(l, now),
            }
        }
    }

    /// Moves established connections from the transport to the listener's accept queue
    /// while it has room, and tells the transport how many wait there for the application
    /// (they count against the backlog until the application takes them).
    fn accept_all(&mut self, l: ListenerHandle, now: Instant) {
        let Some((queue, mut settings)) = self.listeners.get(&l).cloned() else { return };
        settings.ttl = queue.ttl().or(settings.ttl);
        let mut fresh = std::mem::take(&mut self.fresh);
        for _ in 0..queue.room() {
            let Ok(Some(h)) = self.shard.accept(l) else { break };
            let s = SocketShared::new(self.handle.clone(), Phase::Open, self.socket_buffer, &settings);
            s.attach(h, self.shard.local_addr(h).ok(), self.shard.peer_addr(h).ok());
            self.sockets.insert(h, s.clone());
            self.update(&s, now);
            fresh.push(s);
        }
        let waiting = queue.push_all(&mut fresh);
        self.fresh = fresh;
        let _ = self.shard.set_handed_out(l, waiting);
    }

    /// Brings a socket and its connection up to date (see [`SocketShared::exchange`]).
    fn update(&mut self, s: &Arc<SocketShared>, now: Instant) {
        let delta = s.exchange(&mut self.shard, now);
        self.count_app_bytes(delta);
    }

    fn count_app_bytes(&mut self, delta: isize) {
        self.app_bytes = self.app_bytes.saturating_add_signed(delta);
    }

    /// The application dropped the socket: the transport gets the connection once it has
    /// everything the application wrote.
    fn release(&mut self, s: &Arc<SocketShared>, now: Instant) {
        let Some(h) = s.handle() else { return };
        let mut delta = 0;
        let released = s.release(&mut self.shard, now, &mut delta);
        self.count_app_bytes(delta);
        match released {
            Released::Lingering => {
                self.sockets.remove(&h);
                self.closing.insert(h, s.clone());
            }
            Released::Done { gave_back } => {
                self.sockets.remove(&h);
                self.closing.remove(&h);
                self.app_bytes -= gave_back.min(self.app_bytes);
            }
        }
    }
}

impl Drop for ShardLoop {
    /// However the thread ends (stop, device gone, panic), nothing may keep waiting on it.
    fn drop(&mut self) {
        self.handle.mark_dead();
        for s in self.sockets.values().chain(self.closing.values()) {
            s.shard_stopped();
        }
        for (q, _) in self.listeners.values() {
            q.shard_stopped();
        }
    }
}
