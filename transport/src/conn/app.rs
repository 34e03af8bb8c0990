//! What the application side does with a connection: send, receive, peek, shut down,
//! abort, and the options and readings it may ask for. The shard calls these for
//! `Shard::send`, `Shard::recv` and the rest.


use core::time::Duration;

use super::{Connection, Events, State};
use crate::config::{BufferMemory, Keepalive};
use crate::error::Error;
use crate::memory::MemoryState;
use crate::time::Instant;

impl Connection {
    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// Queues data for sending; returns how much was taken (0 when the buffer is full).
    pub(crate) fn send(&mut self, data: &[u8]) -> Result<usize, Error> {
        self.writable()?;
        let n = self.tx.push(data, self.send_capacity());
        if n == 0 && !data.is_empty() {
            return Err(Error::WouldBlock);
        }
        Ok(n)
    }

    /// As [`send`](Connection::send), moving the bytes out of `src` (see
    /// [`TxBuffer::push_from`](crate::buffer::tx::TxBuffer::push_from)).
    pub(crate) fn send_from(&mut self, src: &mut crate::ByteQueue) -> Result<usize, Error> {
        self.writable()?;
        let had = !src.is_empty();
        let n = self.tx.push_from(src, self.send_capacity());
        if n == 0 && had {
            return Err(Error::WouldBlock);
        }
        Ok(n)
    }

    /// `Ok` if a write may queue bytes now, else the error it meets.
    fn writable(&mut self) -> Result<(), Error> {
        if let Some(e) = self.error {
            // A reset is reported once, to the first call that meets it (Linux's socket
            // error, consumed by whoever reads it); writes after that meet a broken pipe.
            let first = !std::mem::replace(&mut self.error_reported, true);
            return Err(match e {
                Error::ConnectionRefused | Error::TimedOut | Error::HostUnreachable => e,
                Error::ConnectionReset if first => e,
                _ => Error::BrokenPipe,
            });
        }
        if !self.state.can_send() || self.fin_queued {
            return Err(match self.state {
                State::Closed => Error::NotConnected,
                _ => Error::BrokenPipe,
            });
        }
        Ok(())
    }

    /// As [`send`](Connection::send), then, if all of `data` was taken, ends a record
    /// there (`MSG_EOR`): no segment will carry bytes from both sides of that point.
    pub(crate) fn send_record(&mut self, data: &[u8]) -> Result<usize, Error> {
        if self.records.is_full() {
            return Err(Error::WouldBlock);
        }
        let n = self.send(data)?;
        if n == data.len() {
            self.records.push(self.tx_end());
        }
        Ok(n)
    }

    /// What a write could take whatever the memory state.
    pub(crate) fn unlimited_send_capacity(&self) -> usize {
        if !self.state.can_send() || self.fin_queued || self.error.is_some() {
            return 0;
        }
        self.notsent_room().map_or(self.tx.free(), |room| self.tx.free().min(room))
    }

    /// What a write may take now: the send buffer's room (at the memory limit, only what
    /// needs no allocation), within the bound on unsent bytes.
    pub(crate) fn send_capacity(&self) -> usize {
        if !self.state.can_send() || self.fin_queued || self.error.is_some() {
            return 0;
        }
        let free = self.buffer_room();
        self.notsent_room().map_or(free, |room| free.min(room))
    }

    /// Room in the send buffer; at the memory limit, only what needs no allocation.
    fn buffer_room(&self) -> usize {
        match self.mem {
            MemoryState::Exhausted => self.tx.free_without_growth(BufferMemory::MIN_BUFFER),
            _ => self.tx.free(),
        }
    }

    /// Bytes queued but not yet acknowledged.
    pub(crate) fn send_queue(&self) -> usize {
        self.tx.len()
    }

    /// A buffer may have drained (its chunks went back to the pool as it did): when
    /// memory is tight RACK's empty segment log gives its allocation back at once;
    /// otherwise a large one is given back if no data comes within `IDLE_RELEASE`.
    pub(crate) fn buffers_drained(&mut self, now: Instant) {
        if self.mem != MemoryState::Normal {
            self.rack.release_if_empty();
        } else if self.release_at.is_none() && self.rack.holds_idle_allocation() {
            self.release_at = Some(now + super::rack::IDLE_RELEASE);
        }
    }

    /// Reads received data. `Ok(0)` is end of stream (the peer's FIN, after all data).
    pub(crate) fn recv(&mut self, out: &mut [u8], now: Instant) -> Result<usize, Error> {
        if self.rx.len() > 0 {
            let n = self.rx.read(out);
            self.rx_taken(n, now);
            self.buffers_drained(now);
            self.maybe_window_update();
            return Ok(n);
        }
        if self.fin_received {
            return Ok(0);
        }
        if let Some(e) = self.error {
            self.error_reported = true;
            return Err(e);
        }
        match self.state {
            State::Closed => Err(Error::NotConnected),
            _ => Err(Error::WouldBlock),
        }
    }

    /// Moves up to `max` received bytes to the end of `out` (see [`RxBuffer::read_into`]);
    /// otherwise as [`recv`](Self::recv).
    ///
    /// [`RxBuffer::read_into`]: crate::buffer::rx::RxBuffer::read_into
    /// Hands the memory of a reserved payload to the receive buffer (see
    /// [`Shard::handle_packet_in`](crate::Shard::handle_packet_in)).
    pub(crate) fn fulfil_rx(&mut self, mem: Box<[u8]>, range: core::ops::Range<usize>) -> Result<(), Box<[u8]>> {
        self.rx.fulfil(mem, range)
    }

    pub(crate) fn recv_into(&mut self, out: &mut crate::ByteQueue, max: usize, now: Instant) -> Result<usize, Error> {
        if self.rx.len() > 0 && max > 0 {
            let n = self.rx.read_into(out, max);
            self.rx_taken(n, now);
            self.buffers_drained(now);
            self.maybe_window_update();
            return Ok(n);
        }
        self.recv(&mut [], now)
    }

    /// Copies received data without consuming it.
    pub(crate) fn peek(&self, out: &mut [u8]) -> Result<usize, Error> {
        if self.rx.len() > 0 {
            return Ok(self.rx.peek(out));
        }
        if self.fin_received {
            return Ok(0);
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        Err(Error::WouldBlock)
    }

    /// Bytes ready to read.
    pub(crate) fn recv_queue(&self) -> usize {
        self.rx.len()
    }

    /// True once reading would not block: data, end of stream, or an error.
    pub(crate) fn is_readable(&self) -> bool {
        self.rx.len() > 0 || self.fin_received || self.error.is_some() || self.state == State::Closed
    }

    /// True once a writer should write again: the buffer has room for at least half what
    /// it holds (Linux's `sk_stream_is_writeable`, so a writer is not woken for every
    /// acknowledged segment), and, with a not-sent bound, fewer than half its bytes are
    /// unsent (see `notsent.rs`). A write may succeed before this holds.
    pub(crate) fn is_writable(&self) -> bool {
        let room = self.buffer_room();
        (self.send_capacity() > 0 && room >= self.tx.len() / 2 && self.below_notsent_wakeup())
            || self.error.is_some()
            || !self.state.can_send()
            || self.fin_queued
    }

    /// RFC 9293 CLOSE for the sending direction: FIN after the queued data.
    pub(crate) fn shutdown_write(&mut self) {
        if self.fin_queued {
            return;
        }
        match self.state {
            State::SynSent => {
                // RFC 9293 §3.10.4: CLOSE in SYN-SENT deletes the connection.
                self.state = State::Closed;
                self.events.set(Events::CLOSED);
                self.clear_timers();
            }
            State::SynReceived | State::Established => {
                self.fin_queued = true;
                self.state = State::FinWait1;
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.state = State::LastAck;
            }
            _ => {}
        }
    }

    /// RFC 9293 ABORT: RST if synchronized, then CLOSED at once.
    pub(crate) fn abort(&mut self) {
        if matches!(
            self.state,
            State::SynReceived | State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait
        ) {
            self.rst_now = true;
        }
        self.enter_closed(None);
        self.error.get_or_insert(Error::ConnectionAborted);
    }

    /// Ends the connection without a word to the peer (a handshake that went nowhere).
    pub(crate) fn discard(&mut self) {
        self.enter_closed(None);
    }

    pub(crate) fn set_quickack(&mut self, on: bool) {
        self.quickack = on;
        if on {
            self.interactive = false;
        } else {
            self.quick_acks_left = 0;
        }
    }

    pub(crate) fn set_syn_retries(&mut self, retries: Option<u32>) {
        self.syn_retries = retries;
    }

    /// Turning Nagle off also pushes what is queued, corked or not (as Linux).
    pub(crate) fn set_nodelay(&mut self, on: bool) {
        self.nodelay = on;
        if on {
            self.push_queued();
        }
    }

    pub(crate) fn nodelay(&self) -> bool {
        self.nodelay
    }

    pub(crate) fn set_keepalive(&mut self, ka: Option<Keepalive>, now: Instant) {
        self.keepalive = ka;
        self.keepalive_probes = 0;
        self.keepalive_at = match ka {
            Some(k) if self.state.is_synchronized() => Some(now + k.idle),
            _ => None,
        };
    }

    /// TCP_USER_TIMEOUT; zero means none, as on Linux.
    pub(crate) fn set_user_timeout(&mut self, ut: Option<Duration>) {
        self.user_timeout = ut.filter(|d| !d.is_zero());
    }

    pub(crate) fn user_timeout(&self) -> Option<Duration> {
        self.user_timeout
    }

    /// Allocated bytes: the control block and both buffers.
    pub(crate) fn memory(&self) -> usize {
        core::mem::size_of::<Connection>() + self.buffer_bytes()
    }

    /// The receive and send buffer capacities.
    /// Resizes the send buffer of an open connection (floored like any buffer size);
    /// a writer waiting for room may go on if it grew.
    pub(crate) fn set_send_buffer(&mut self, bytes: usize) {
        self.tx.set_bound(bytes.max(crate::options::SocketOptions::MIN_BUFFER));
        // Its own size from now on: no autotuning (as Linux's SOCK_SNDBUF_LOCK).
        self.tx_bound_max = 0;
        self.events.set(super::Events::WRITABLE);
    }

    pub(crate) fn buffer_capacities(&self) -> (usize, usize) {
        (self.rx.capacity(), self.tx.bound())
    }

    /// Bytes allocated for the send and receive buffers.
    pub(crate) fn buffer_bytes(&self) -> usize {
        self.tx.allocated() + self.rx.allocated()
    }
}
