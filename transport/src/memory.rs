//! Buffer memory of one shard against its [`BufferMemory`] bounds (Linux's `tcp_mem`):
//! every connection's send and receive buffers, the unread data of remnants, what the
//! runtime holds for the shard's sockets on the application side, and the receive window
//! each connection has promised and not yet seen filled.
//!
//! Promises count because a window once advertised may be filled at any moment, and data
//! inside it that is then dropped for want of memory costs the sender a retransmission
//! timeout (with backoff): so windows are offered from what is left once every promise is
//! counted (`committed`), and the hard limit on what is actually held (`used`) is a safety
//! net that honoured promises rarely reach.

use crate::config::BufferMemory;

/// How tight buffer memory is; connections read it when deciding windows and growth.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, PartialOrd, Ord)]
pub(crate) enum MemoryState {
    /// Below the pressure mark: buffers grow to their configured bounds.
    #[default]
    Normal,
    /// Above it: receive windows are clamped to four segments, so commitments stop growing.
    Pressure,
    /// At the limit: buffers keep what they have (at least `MIN_BUFFER`) and windows offer
    /// only that.
    Exhausted,
}

/// Bytes counted against the bounds.
#[derive(Clone, Debug, Default)]
pub(crate) struct MemoryAccount {
    bounds: BufferMemory,
    /// Buffer bytes of connections and remnants.
    transport: usize,
    /// Bytes the runtime reports for its side of the sockets.
    external: usize,
    /// Receive windows advertised and not yet filled.
    promised: usize,
    /// From what is committed (held and promised): what windows and sends may do.
    state: MemoryState,
    /// What is held has reached the limit: data that needs more is dropped.
    hard: bool,
}

impl MemoryAccount {
    pub(crate) fn new(bounds: BufferMemory) -> MemoryAccount {
        MemoryAccount { bounds, ..MemoryAccount::default() }
    }

    pub(crate) fn state(&self) -> MemoryState {
        self.state
    }

    /// True when held memory is at the limit: received data that needs more is dropped.
    pub(crate) fn hard_limit(&self) -> bool {
        self.hard
    }

    /// Bytes held.
    pub(crate) fn used(&self) -> usize {
        self.transport + self.external
    }

    pub(crate) fn external(&self) -> usize {
        self.external
    }

    pub(crate) fn promised(&self) -> usize {
        self.promised
    }

    /// Replaces a slot's counted bytes and promise (`old` by `new`, each `(bytes,
    /// promise)`); returns true if this crossed into pressure.
    pub(crate) fn update(&mut self, old: (usize, usize), new: (usize, usize)) -> bool {
        self.transport = self.transport - old.0.min(self.transport) + new.0;
        self.promised = self.promised - old.1.min(self.promised) + new.1;
        self.refresh()
    }

    /// The runtime's side changed; returns true if this crossed into pressure.
    pub(crate) fn set_external(&mut self, bytes: usize) -> bool {
        self.external = bytes;
        self.refresh()
    }

    fn refresh(&mut self) -> bool {
        let committed = self.used() + self.promised;
        let before = self.state;
        self.state = if committed >= self.bounds.limit {
            MemoryState::Exhausted
        } else if committed >= self.bounds.pressure {
            MemoryState::Pressure
        } else {
            MemoryState::Normal
        };
        self.hard = self.used() >= self.bounds.limit;
        before == MemoryState::Normal && self.state != MemoryState::Normal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_follow_what_is_committed_and_the_hard_limit_what_is_held() {
        let mut m = MemoryAccount::new(BufferMemory { pressure: 100, limit: 200 });
        assert!(!m.update((0, 0), (99, 0)));
        assert_eq!(m.state(), MemoryState::Normal);
        assert!(m.update((0, 0), (0, 1)), "a promise crossing 100 enters pressure");
        assert!(!m.set_external(100), "already under pressure");
        assert_eq!(m.state(), MemoryState::Exhausted);
        assert!(!m.hard_limit(), "199 bytes held: promised data is still taken");
        m.set_external(101);
        assert!(m.hard_limit());
        assert!(!m.update((99, 1), (0, 0)));
        assert_eq!((m.used(), m.promised(), m.state()), (101, 0, MemoryState::Pressure));
        m.set_external(0);
        assert_eq!(m.state(), MemoryState::Normal);
    }
}
