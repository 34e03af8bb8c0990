//! The neighbour cache: IP address → hardware address for the next hops of both families
//! (ARP's table, RFC 826, and neighbour discovery's, RFC 4861 §7.3), bounded like Linux's
//! (`gc_thresh3`: past the bound a new entry is refused, counted, unless an idle one can
//! go), with the packets waiting for a resolution held per entry, bounded too.
//!
//! An entry is `Incomplete` while a broadcast (or solicited-node multicast) request is
//! out, `Reachable` for `reachable_time` after a confirmation, and then `Probing`: still
//! used, while unicast requests confirm it; unanswered, it goes, and the next packet
//! starts a new resolution. Only the entries with a request out have a timer.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::time::Instant;
use crate::wire::MacAddr;

/// Where an entry stands.
#[derive(Debug)]
pub(super) enum Entry {
    /// Requests are out; packets wait.
    Incomplete {
        /// Requests sent so far.
        tries: u8,
        /// When to send the next request or give up.
        next: Instant,
        /// IP packets waiting for the address, oldest first.
        queued: Vec<Vec<u8>>,
    },
    /// Confirmed until `until`.
    Reachable { mac: MacAddr, until: Instant },
    /// Past its confirmation: used while unicast requests ask again.
    Probing { mac: MacAddr, tries: u8, next: Instant },
}

impl Entry {
    /// The hardware address, once resolved.
    pub(super) fn mac(&self) -> Option<MacAddr> {
        match self {
            Entry::Reachable { mac, .. } | Entry::Probing { mac, .. } => Some(*mac),
            Entry::Incomplete { .. } => None,
        }
    }

    fn timer(&self) -> Option<Instant> {
        match self {
            Entry::Incomplete { next, .. } | Entry::Probing { next, .. } => Some(*next),
            Entry::Reachable { .. } => None,
        }
    }
}

/// The cache of one link.
#[derive(Debug)]
pub(super) struct NeighbourCache {
    entries: HashMap<IpAddr, Entry>,
    capacity: usize,
    /// The earliest timer of any entry (`None`: no request out), kept exact by
    /// [`NeighbourCache::note_timer`] and [`NeighbourCache::recompute_timer`].
    next_timer: Option<Instant>,
}

impl NeighbourCache {
    pub(super) fn new(capacity: usize) -> NeighbourCache {
        NeighbourCache { entries: HashMap::new(), capacity, next_timer: None }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn get(&self, ip: &IpAddr) -> Option<&Entry> {
        self.entries.get(ip)
    }

    pub(super) fn get_mut(&mut self, ip: &IpAddr) -> Option<&mut Entry> {
        self.entries.get_mut(ip)
    }

    pub(super) fn remove(&mut self, ip: &IpAddr) -> Option<Entry> {
        self.entries.remove(ip)
    }

    /// Makes room for one more entry if the cache is full: an entry past its
    /// confirmation (reachable and expired) may go. False if none can.
    pub(super) fn room_for_one(&mut self, now: Instant) -> bool {
        if self.entries.len() < self.capacity {
            return true;
        }
        let idle = self.entries.iter().find(|(_, e)| matches!(e, Entry::Reachable { until, .. } if *until <= now)).map(|(ip, _)| *ip);
        match idle {
            Some(ip) => {
                self.entries.remove(&ip);
                true
            }
            None => false,
        }
    }

    /// Inserts or replaces an entry (after [`room_for_one`](Self::room_for_one)).
    pub(super) fn insert(&mut self, ip: IpAddr, entry: Entry) {
        self.note_timer(entry.timer());
        self.entries.insert(ip, entry);
    }

    /// Lowers the earliest timer to `t` if it is earlier.
    pub(super) fn note_timer(&mut self, t: Option<Instant>) {
        if let Some(t) = t {
            self.next_timer = Some(self.next_timer.map_or(t, |n| n.min(t)));
        }
    }

    pub(super) fn next_timer(&self) -> Option<Instant> {
        self.next_timer
    }

    /// The addresses whose timer is due at `now`.
    pub(super) fn due(&self, now: Instant) -> Vec<IpAddr> {
        if self.next_timer.is_none_or(|t| t > now) {
            return Vec::new();
        }
        self.entries.iter().filter(|(_, e)| e.timer().is_some_and(|t| t <= now)).map(|(ip, _)| *ip).collect()
    }

    /// Recomputes the earliest timer after timers fired.
    pub(super) fn recompute_timer(&mut self) {
        self.next_timer = self.entries.values().filter_map(Entry::timer).min();
    }
}
