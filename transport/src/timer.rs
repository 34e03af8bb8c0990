//! Deadlines for many connections at O(log n) per change and nothing per idle tick.
//!
//! Each connection registers only its earliest deadline. Moving a deadline later (the
//! common case: every ACK pushes the RTO out) costs nothing: the old entry stays in the heap
//! and, when it fires, the connection is found not due and re-registers. Moving a deadline
//! earlier pushes a new entry. Entries carry the slot generation, so a freed and reused
//! slot never receives a stale timer.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::time::Instant;

#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    heap: BinaryHeap<Reverse<(Instant, u32, u32)>>,
}

impl TimerQueue {
    /// Registers `at` for slot `idx` of generation `generation`. The caller keeps the
    /// registered time so that it pushes only when the deadline moves earlier.
    pub(crate) fn push(&mut self, at: Instant, idx: u32, generation: u32) {
        self.heap.push(Reverse((at, idx, generation)));
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Pops one entry due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, u32, u32)> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}
