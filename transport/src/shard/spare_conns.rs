//! Allocations of ended connections, kept for the next ones.
//!
//! A `Connection` is about 1.3 KB: past glibc's per-thread cache (1,032 bytes), so each
//! new one goes through the allocator's slow path, which first merges the small freed
//! chunks lying around (`malloc_consolidate`), and short connections make two per
//! connection pair. A shard keeps a few empty boxes instead: the connection's contents
//! (its buffers) are dropped when it ends, only the box stays.

use core::mem::MaybeUninit;

use crate::conn::Connection;

/// Empty boxes a shard keeps at most: enough for a burst of connections ending in one
/// turn, about 85 KB.
const KEEP: usize = 64;

// Boxes on purpose: what is kept is the connection's own allocation, handed back out
// whole to a new connection without a copy.
#[allow(clippy::vec_box)]
#[derive(Debug, Default)]
pub(super) struct SpareConns(Vec<Box<MaybeUninit<Connection>>>);

impl SpareConns {
    /// `conn` in a box, a kept one if there is one.
    pub(super) fn boxed(&mut self, conn: Connection) -> Box<Connection> {
        match self.0.pop() {
            Some(b) => Box::write(b, conn),
            None => Box::new(conn),
        }
    }

    /// Drops what `conn` holds and keeps its box (or frees it, when enough are kept).
    pub(super) fn give_back(&mut self, conn: Box<Connection>) {
        if self.0.len() >= KEEP {
            return;
        }
        let raw = Box::into_raw(conn);
        // SAFETY: `raw` comes from a `Box<Connection>` just given up, so it points to a
        // valid connection that nothing else can reach; it is dropped here once, and the
        // box goes on as a `MaybeUninit<Connection>` (same size and alignment), whose
        // contents are never read or dropped again until `boxed` writes a new connection.
        unsafe {
            core::ptr::drop_in_place(raw);
            self.0.push(Box::from_raw(raw.cast::<MaybeUninit<Connection>>()));
        }
    }

    /// Boxes kept.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::KEEP;
    use crate::{Config, Instant, Secret, Shard, State};

    #[test]
    fn ended_connections_leave_a_bounded_number_of_boxes_that_new_ones_take() {
        let mut shard = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([3; 16]));
        let now = Instant::ZERO;
        let opened: Vec<_> = (0..KEEP * 2).map(|_| shard.connect(now, "10.0.0.2:80".parse().unwrap(), None).unwrap()).collect();
        assert_eq!(shard.spare_conns.len(), 0);
        for h in opened {
            shard.abort(h).unwrap();
        }
        let mut buf = [0u8; 1500];
        while shard.poll_transmit(now, &mut buf).is_some() {}
        assert_eq!(shard.spare_conns.len(), KEEP, "at most KEEP boxes stay");
        // A new connection in a kept box is whole: its own addresses and state.
        let h = shard.connect(now, "10.0.0.3:443".parse().unwrap(), None).unwrap();
        assert_eq!(shard.spare_conns.len(), KEEP - 1);
        assert_eq!(shard.peer_addr(h).unwrap(), "10.0.0.3:443".parse().unwrap());
        assert_eq!(shard.state(h).unwrap(), State::SynSent);
        let n = shard.poll_transmit(now, &mut buf).expect("the SYN");
        assert!(n >= 40);
    }
}
