//! Buffer memory of one shard against its [`BufferMemory`] bounds (Linux's `tcp_mem`):
//! every connection's send and receive buffers, the unread data of remnants, and what the
//! runtime holds for the shard's sockets on the application side.

use crate::config::BufferMemory;

/// How tight buffer memory is; connections read it when deciding windows and growth.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, PartialOrd, Ord)]
pub(crate) enum MemoryState {
    /// Below the pressure mark: buffers grow to their configured bounds.
    #[default]
    Normal,
    /// Above it: receive windows are clamped to four segments, so memory stops growing.
    Pressure,
    /// At the limit: buffers keep what they have (at least `MIN_BUFFER`) and grow no more.
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
    state: MemoryState,
}

impl MemoryAccount {
    pub(crate) fn new(bounds: BufferMemory) -> MemoryAccount {
        MemoryAccount { bounds, ..MemoryAccount::default() }
    }

    pub(crate) fn state(&self) -> MemoryState {
        self.state
    }

    pub(crate) fn used(&self) -> usize {
        self.transport + self.external
    }

    pub(crate) fn external(&self) -> usize {
        self.external
    }

    /// Replaces `old` counted bytes by `new`; returns true if this crossed into pressure.
    pub(crate) fn update(&mut self, old: usize, new: usize) -> bool {
        self.transport = self.transport - old.min(self.transport) + new;
        self.refresh()
    }

    /// The runtime's side changed; returns true if this crossed into pressure.
    pub(crate) fn set_external(&mut self, bytes: usize) -> bool {
        self.external = bytes;
        self.refresh()
    }

    fn refresh(&mut self) -> bool {
        let used = self.used();
        let before = self.state;
        self.state = if used >= self.bounds.limit {
            MemoryState::Exhausted
        } else if used >= self.bounds.pressure {
            MemoryState::Pressure
        } else {
            MemoryState::Normal
        };
        before == MemoryState::Normal && self.state != MemoryState::Normal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_follow_the_marks_and_count_entries_into_pressure() {
        let mut m = MemoryAccount::new(BufferMemory { pressure: 100, limit: 200 });
        assert!(!m.update(0, 99));
        assert_eq!(m.state(), MemoryState::Normal);
        assert!(m.update(0, 1), "crossing 100 enters pressure");
        assert!(!m.set_external(100), "already under pressure");
        assert_eq!(m.state(), MemoryState::Exhausted);
        assert!(!m.update(100, 0));
        assert_eq!((m.used(), m.state()), (100, MemoryState::Pressure));
        m.set_external(0);
        assert_eq!(m.state(), MemoryState::Normal);
    }
}
