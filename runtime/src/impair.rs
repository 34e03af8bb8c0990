//! A seeded impairment layer in the device path (this machine has no `tc netem`): loss,
//! duplication, reordering and delay with jitter, applied to packets read from and
//! written to any device, TUN included. The same seed gives the same decisions.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ringtcp_transport::Instant;

/// Impairments of one direction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Impairment {
    /// Probability a packet is lost.
    pub loss: f64,
    /// Probability a packet is delivered twice.
    pub duplicate: f64,
    /// Probability a packet is held back by up to `reorder_delay` (so later ones pass it).
    pub reorder: f64,
    /// Longest a reordered packet is held.
    pub reorder_delay: Duration,
    /// Delay added to every packet.
    pub delay: Duration,
    /// Extra uniform delay in `[0, jitter)`.
    pub jitter: Duration,
}

/// Impairments of both directions and the seed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImpairConfig {
    /// Packets from the device to the stack.
    pub inbound: Impairment,
    /// Packets from the stack to the device.
    pub outbound: Impairment,
    /// Seed of the decisions.
    pub seed: u64,
}

impl ImpairConfig {
    /// The same impairment both ways.
    pub fn symmetric(imp: Impairment, seed: u64) -> ImpairConfig {
        ImpairConfig { inbound: imp.clone(), outbound: imp, seed }
    }
}

/// Counters of what the layer did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImpairStats {
    /// Packets dropped.
    pub lost: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Packets held back for reordering.
    pub reordered: u64,
}

/// Which way a packet travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Device to stack.
    Inbound,
    /// Stack to device.
    Outbound,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Held {
    at: Instant,
    order: u64,
    inbound: bool,
    bytes: Vec<u8>,
}

/// Held packets' room the queue keeps however quiet it gets.
const KEEP_HELD: usize = 256;

/// The layer itself: decides per packet, and holds delayed ones until due.
#[derive(Debug)]
pub struct Impairer {
    cfg: ImpairConfig,
    rng: ChaCha8Rng,
    held: BinaryHeap<Reverse<Held>>,
    order: u64,
    /// What it did.
    pub stats: ImpairStats,
}

impl Impairer {
    /// A layer with `cfg`.
    pub fn new(cfg: ImpairConfig) -> Impairer {
        let rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        Impairer { cfg, rng, held: BinaryHeap::new(), order: 0, stats: ImpairStats::default() }
    }

    /// Decides what happens to `packet`: returns how many copies pass now (0, 1 or 2);
    /// delayed copies are kept and come back from [`Impairer::due`].
    pub fn admit(&mut self, now: Instant, dir: Direction, packet: &[u8]) -> usize {
        let imp = match dir {
            Direction::Inbound => &self.cfg.inbound,
            Direction::Outbound => &self.cfg.outbound,
        };
        let imp = imp.clone();
        if self.rng.random_bool(imp.loss.clamp(0.0, 1.0)) {
            self.stats.lost += 1;
            return 0;
        }
        let copies = if self.rng.random_bool(imp.duplicate.clamp(0.0, 1.0)) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        let mut now_copies = 0;
        for _ in 0..copies {
            let mut delay = imp.delay;
            if !imp.jitter.is_zero() {
                delay += Duration::from_nanos(self.rng.random_range(0..imp.jitter.as_nanos() as u64));
            }
            if !imp.reorder_delay.is_zero() && self.rng.random_bool(imp.reorder.clamp(0.0, 1.0)) {
                self.stats.reordered += 1;
                delay += Duration::from_nanos(self.rng.random_range(0..imp.reorder_delay.as_nanos() as u64));
            }
            if delay.is_zero() {
                now_copies += 1;
            } else {
                self.order += 1;
                self.held.push(Reverse(Held {
                    at: now + delay,
                    order: self.order,
                    inbound: dir == Direction::Inbound,
                    bytes: packet.to_vec(),
                }));
            }
        }
        now_copies
    }

    /// A held packet that is due, with its direction.
    pub fn due(&mut self, now: Instant) -> Option<(Direction, Vec<u8>)> {
        if self.held.peek().is_some_and(|Reverse(h)| h.at <= now) {
            let Reverse(h) = self.held.pop()?;
            // A burst grew the queue; once it has drained to an eighth, give most of that
            // back (halving at most, so a steady load does not shrink and regrow it).
            if self.held.capacity() > KEEP_HELD && self.held.len() * 8 < self.held.capacity() {
                self.held.shrink_to((self.held.capacity() / 2).max(KEEP_HELD));
            }
            let dir = if h.inbound { Direction::Inbound } else { Direction::Outbound };
            return Some((dir, h.bytes));
        }
        None
    }

    /// When the next held packet is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.held.peek().map(|Reverse(h)| h.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_decisions_and_rates_near_the_probabilities() {
        let imp = Impairment { loss: 0.05, duplicate: 0.02, reorder: 0.05, reorder_delay: Duration::from_millis(2), ..Impairment::default() };
        let run = |seed| {
            let mut i = Impairer::new(ImpairConfig::symmetric(imp.clone(), seed));
            let passed: Vec<usize> = (0..20_000).map(|_| i.admit(Instant::ZERO, Direction::Inbound, b"p")).collect();
            (passed, i.stats.clone())
        };
        let (a, sa) = run(7);
        let (b, _) = run(7);
        assert_eq!(a, b, "deterministic");
        assert!((800..1200).contains(&sa.lost), "5 % of 20,000 lost: {}", sa.lost);
        assert!((250..550).contains(&sa.duplicated), "2 % duplicated: {}", sa.duplicated);
        assert!(sa.reordered > 500, "5 % held back: {}", sa.reordered);
    }

    #[test]
    fn a_drained_burst_gives_its_room_back() {
        let imp = Impairment { delay: Duration::from_millis(1), ..Impairment::default() };
        let mut i = Impairer::new(ImpairConfig::symmetric(imp, 3));
        for _ in 0..10_000 {
            i.admit(Instant::ZERO, Direction::Inbound, b"burst");
        }
        assert!(i.held.capacity() >= 10_000);
        let mut back = 0;
        while i.due(Instant::from_millis(1)).is_some() {
            back += 1;
        }
        assert_eq!(back, 10_000, "every held packet came back");
        assert!(i.held.capacity() <= 2 * KEEP_HELD, "room kept after the burst: {}", i.held.capacity());
    }

    #[test]
    fn held_packets_come_back_when_due() {
        let imp = Impairment { delay: Duration::from_millis(5), ..Impairment::default() };
        let mut i = Impairer::new(ImpairConfig::symmetric(imp, 1));
        assert_eq!(i.admit(Instant::ZERO, Direction::Outbound, b"x"), 0);
        assert_eq!(i.next_due(), Some(Instant::from_millis(5)));
        assert!(i.due(Instant::from_millis(4)).is_none());
        assert_eq!(i.due(Instant::from_millis(5)), Some((Direction::Outbound, b"x".to_vec())));
    }
}
