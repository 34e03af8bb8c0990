//! Deadlines for many connections: a hashed timing wheel (1 ms ticks, 4,096 slots, so a
//! 4.1 s horizon) with a heap for the few timers beyond it (keepalive, FIN-WAIT-2).
//!
//! Each connection registers only its earliest deadline. Moving it later (the common case:
//! every ACK pushes the RTO out) costs nothing: the old entry fires, the connection is
//! found not due and registers again. Entries carry the slot generation, so a freed and
//! reused slot never receives a stale timer. Pushing is O(1); a due slot is drained
//! sequentially, so the entries freed connections leave behind cost a generation check
//! each, not a heap sift. An idle connection costs nothing per tick.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::time::Instant;

const TICK_NS: u64 = 1_000_000;
const SLOTS: usize = 4096;
const WORDS: usize = SLOTS / 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    at: Instant,
    idx: u32,
    generation: u32,
}

#[derive(Debug)]
pub(crate) struct TimerQueue {
    slots: Vec<Vec<Entry>>,
    /// Bit per slot: non-empty.
    occupied: [u64; WORDS],
    /// Every tick before this one has been drained.
    cursor: u64,
    overflow: BinaryHeap<Reverse<Entry>>,
    len: usize,
}

impl Default for TimerQueue {
    fn default() -> Self {
        TimerQueue { slots: vec![Vec::new(); SLOTS], occupied: [0; WORDS], cursor: 0, overflow: BinaryHeap::new(), len: 0 }
    }
}

fn tick(at: Instant) -> u64 {
    at.as_nanos() / TICK_NS
}

impl TimerQueue {
    /// Registers `at` for slot `idx` of generation `generation`. The caller keeps the
    /// registered time so that it pushes only when the deadline moves earlier.
    pub(crate) fn push(&mut self, at: Instant, idx: u32, generation: u32) {
        self.len += 1;
        self.place(Entry { at, idx, generation });
    }

    fn place(&mut self, e: Entry) {
        let t = tick(e.at).max(self.cursor);
        if t < self.cursor + SLOTS as u64 {
            let s = (t % SLOTS as u64) as usize;
            self.slots[s].push(e);
            self.occupied[s / 64] |= 1 << (s % 64);
        } else {
            self.overflow.push(Reverse(e));
        }
    }

    /// The first occupied slot at or after the cursor, as a tick.
    fn first_occupied_tick(&self) -> Option<u64> {
        let start = (self.cursor % SLOTS as u64) as usize;
        for step in 0..=WORDS {
            let w = (start / 64 + step) % WORDS;
            let mut bits = self.occupied[w];
            if step == 0 {
                bits &= u64::MAX << (start % 64);
            } else if step == WORDS {
                bits &= !(u64::MAX << (start % 64));
            }
            if bits != 0 {
                let s = w * 64 + bits.trailing_zeros() as usize;
                let dist = (s + SLOTS - start) % SLOTS;
                return Some(self.cursor + dist as u64);
            }
        }
        None
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let wheel = self.first_occupied_tick().and_then(|t| {
            let s = (t % SLOTS as u64) as usize;
            self.slots[s].iter().map(|e| e.at).min()
        });
        let far = self.overflow.peek().map(|Reverse(e)| e.at);
        [wheel, far].into_iter().flatten().min()
    }

    /// Moves overflow entries that now fall inside the horizon into the wheel.
    fn refill(&mut self) {
        while let Some(Reverse(e)) = self.overflow.peek() {
            if tick(e.at) >= self.cursor + SLOTS as u64 {
                break;
            }
            let Some(Reverse(e)) = self.overflow.pop() else { break };
            self.place(e);
        }
    }

    /// Pops one entry due at or before `now`: (deadline, slot index, generation).
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, u32, u32)> {
        let now_tick = tick(now);
        loop {
            self.refill();
            let Some(t) = self.first_occupied_tick() else {
                // Nothing in the wheel: jump the cursor (overflow entries are beyond it).
                let next_far = self.overflow.peek().map(|Reverse(e)| tick(e.at));
                match next_far {
                    Some(f) if f <= now_tick => {
                        self.cursor = f.saturating_sub(SLOTS as u64 - 1).max(self.cursor);
                        continue;
                    }
                    _ => {
                        self.cursor = self.cursor.max(now_tick);
                        return None;
                    }
                }
            };
            if t > now_tick {
                self.cursor = self.cursor.max(now_tick);
                return None;
            }
            let s = (t % SLOTS as u64) as usize;
            let slot = &mut self.slots[s];
            let pos = if t < now_tick { Some(slot.len() - 1) } else { slot.iter().position(|e| e.at <= now) };
            if let Some(i) = pos {
                let e = slot.swap_remove(i);
                if slot.is_empty() {
                    self.occupied[s / 64] &= !(1 << (s % 64));
                    // Given back, however small: kept, each of the 4,096 slots would hold
                    // the most entries it ever held, and that sum only rises as rarer
                    // bursts land on more slots (about a megabyte over a soak's four
                    // shards crept up this way). Freed, the wheel holds memory for pending
                    // timers only, for at most one allocation per tick (1,000 a second).
                    *slot = Vec::new();
                }
                self.len -= 1;
                return Some((e.at, e.idx, e.generation));
            }
            // The current tick holds only entries later than `now`.
            self.cursor = t;
            return None;
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Entries the wheel's slots have room for.
    #[cfg(test)]
    fn slot_capacity(&self) -> usize {
        self.slots.iter().map(Vec::capacity).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(m: u64) -> Instant {
        Instant::from_millis(m)
    }

    #[test]
    fn fires_in_deadline_order_across_the_horizon() {
        let mut q = TimerQueue::default();
        let deadlines = [5u64, 1, 4_000, 1, 10_000, 7_200_000, 3, 4_097];
        for (i, &d) in deadlines.iter().enumerate() {
            q.push(Instant::from_micros(d * 1000 + 250), i as u32, 1);
        }
        assert_eq!(q.next_deadline(), Some(Instant::from_micros(1_250)));
        assert_eq!(q.pop_due(ms(1)), None, "1.25 ms is not due at 1 ms");
        let mut fired = Vec::new();
        let mut now = ms(0);
        while fired.len() < deadlines.len() {
            now = q.next_deadline().expect("entries left");
            while let Some((at, idx, _)) = q.pop_due(now) {
                assert!(at <= now);
                fired.push(deadlines[idx as usize]);
            }
        }
        let mut sorted = deadlines.to_vec();
        sorted.sort();
        assert_eq!(fired, sorted);
        assert_eq!(q.len(), 0);
        assert_eq!(q.next_deadline(), None);
        assert!(now >= ms(7_200_000));
    }

    #[test]
    fn fired_slots_keep_no_memory() {
        let mut q = TimerQueue::default();
        // A burst of 50 timers on each of 1,000 ticks, as a busy second of short
        // connections leaves behind.
        for i in 0..50_000u32 {
            q.push(ms(1 + u64::from(i % 1000)), i, 1);
        }
        assert!(q.slot_capacity() >= 50_000);
        let mut fired = 0;
        while q.pop_due(ms(2_000)).is_some() {
            fired += 1;
        }
        assert_eq!(fired, 50_000);
        assert_eq!(q.slot_capacity(), 0, "a drained wheel holds no entry room");
    }

    #[test]
    fn late_polls_and_past_deadlines_still_fire() {
        let mut q = TimerQueue::default();
        q.push(ms(10), 1, 1);
        assert!(q.pop_due(ms(50_000)).is_some(), "a poll long after the deadline");
        q.push(ms(20), 2, 1);
        assert_eq!(q.pop_due(ms(50_000)).map(|e| e.1), Some(2), "a deadline already in the past");
        q.push(ms(50_000) + core::time::Duration::from_micros(500), 3, 1);
        assert_eq!(q.pop_due(ms(50_000)), None);
        assert_eq!(q.pop_due(ms(50_001)).map(|e| e.1), Some(3));
    }
}
