//! Where a sender's time goes (Linux's "chrono" figures in `TCP_INFO`): how long it had
//! data to deliver, and how much of that the peer's receive window or our own send buffer
//! held it back. Someone tuning buffers reads these to tell a slow receiver from a small
//! send buffer from a slow path. Kept only to report.

use core::time::Duration;

use super::Connection;
use crate::time::Instant;

/// What the sender is doing, in Linux's order: a later kind outranks an earlier one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Nothing to deliver.
    #[default]
    Idle,
    /// Data queued or in flight.
    Busy,
    /// Unsent data the peer's receive window keeps back.
    ReceiveWindowLimited,
    /// A writer that found the send buffer full.
    SendBufferLimited,
}

/// The time spent in each kind but `Idle`, and the kind now.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Chrono {
    kind: Kind,
    since: Instant,
    busy: Duration,
    receive_window_limited: Duration,
    send_buffer_limited: Duration,
    /// A writer found the send buffer full and has not been told of room since.
    writer_blocked: bool,
}

impl Chrono {
    fn total(&mut self, kind: Kind) -> Option<&mut Duration> {
        match kind {
            Kind::Idle => None,
            Kind::Busy => Some(&mut self.busy),
            Kind::ReceiveWindowLimited => Some(&mut self.receive_window_limited),
            Kind::SendBufferLimited => Some(&mut self.send_buffer_limited),
        }
    }

    fn switch(&mut self, now: Instant, kind: Kind) {
        if kind == self.kind {
            return;
        }
        let spent = now - self.since;
        if let Some(t) = self.total(self.kind) {
            *t += spent;
        }
        self.kind = kind;
        self.since = now;
    }

    /// (busy, receive-window limited, send-buffer limited) up to `now`; busy includes the
    /// other two, as Linux's `tcpi_busy_time` does.
    pub(super) fn totals(&self, now: Instant) -> (Duration, Duration, Duration) {
        let mut c = *self;
        c.switch(now, Kind::Idle);
        (c.busy + c.receive_window_limited + c.send_buffer_limited, c.receive_window_limited, c.send_buffer_limited)
    }
}

impl Connection {
    /// A write took less than it was offered (`full`) or all of it.
    pub(crate) fn chrono_write(&mut self, now: Instant, full: bool) {
        if full {
            self.chrono.writer_blocked = true;
        }
        self.chrono_update(now);
    }

    /// Brings the kind up to date with the connection's state.
    pub(super) fn chrono_update(&mut self, now: Instant) {
        if self.chrono.writer_blocked && self.is_writable() {
            self.chrono.writer_blocked = false;
        }
        let kind = if self.tx.len() == 0 {
            Kind::Idle
        } else if self.chrono.writer_blocked {
            Kind::SendBufferLimited
        } else if self.held_by_receive_window() {
            Kind::ReceiveWindowLimited
        } else {
            Kind::Busy
        };
        self.chrono.switch(now, kind);
    }

    /// Unsent data that the peer's window keeps back: not even one more segment (or the
    /// rest, if shorter) fits in it.
    fn held_by_receive_window(&self) -> bool {
        let unsent = self.notsent();
        // Saturating: zero where SND.NXT is at or past the window's right edge.
        let room = self.snd_wnd_end() - self.snd_nxt;
        unsent > 0 && room < unsent.min(usize::from(self.eff_mss()))
    }
}
