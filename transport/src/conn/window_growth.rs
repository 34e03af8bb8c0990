//! The receive window offered: how far it may open, and when a read is worth announcing.
//! A connection starts by offering at most 64 KB and opens further only as data actually
//! arrives (Linux's `rcv_ssthresh` and `tcp_grow_window`). A buffer that grows on demand
//! makes every byte of window a promise of memory the peer can claim at once; offering the
//! whole buffer bound in the first ACK would let any peer, and a thousand idle or hostile
//! ones, claim that much per connection before it ever proved it sends. A sender in slow
//! start adds one segment to its window per segment acknowledged, and each arriving
//! segment opens ours by two, so a transfer starting from an ordinary initial window (ten
//! segments) stays inside it: what it holds back is the peer that has sent nothing.

use super::{AckState, Connection, MemoryState};

/// Segments shorter than this do not open the window (Linux's `tcp_event_data_recv`: tiny
/// segments are what a peer inflating our window cheaply would send).
const MIN_GROWING_SEGMENT: usize = 128;

/// The limit on the offered window, in bytes.
#[derive(Clone, Copy, Debug)]
pub(super) struct WindowGrowth {
    limit: usize,
}

impl WindowGrowth {
    /// Starts at what fits an unscaled window field (RFC 7323 §2.2: the SYN's window is
    /// not scaled, so no more can have been offered in the handshake), or the buffer.
    pub(super) fn new(buffer: usize) -> Self {
        WindowGrowth { limit: buffer.min(65_535) }
    }

    /// The limit as a window field can carry it: rounded up to the scale's unit, as Linux
    /// does, so that 65,535 bytes with a shift of 8 is offered as 256 units and not
    /// rounded down to 255. The caller bounds it by the free space.
    pub(super) fn limit(&self, shift: u8) -> usize {
        let unit = 1usize << shift;
        self.limit.div_ceil(unit) * unit
    }

    /// Opens the limit for a segment of `len` bytes that arrived (in order, or out of
    /// order with SACK to report it): by two of our MSS, or twice the segment when it is
    /// a coalesced one, up to the buffer's bound.
    pub(super) fn grow(&mut self, len: usize, mss: u16, buffer: usize) {
        if len < MIN_GROWING_SEGMENT || self.limit >= buffer {
            return;
        }
        let step = (2 * usize::from(mss)).max(2 * len);
        self.limit = (self.limit + step).min(buffer);
    }
}

impl Connection {
    /// The receive window we could advertise now, before SWS rules: no more than data
    /// arriving has opened (`window_growth`). Under memory pressure it is clamped to four
    /// segments (Linux's `tcp_clamp_window`); at the limit, to what the buffer holds room
    /// for without growing.
    pub(super) fn advertisable_window(&self) -> usize {
        let max = 65_535usize << self.opts.rcv_wscale;
        let wnd = self.rx.window().min(max).min(self.window_growth.limit(self.opts.rcv_wscale));
        match self.mem {
            MemoryState::Normal => wnd,
            MemoryState::Pressure => wnd.min(4 * usize::from(self.rcv_mss)),
            MemoryState::Exhausted => wnd.min(self.rx.window_without_growth(crate::config::BufferMemory::MIN_BUFFER)),
        }
    }

    /// After the application reads: tell the peer when the window has opened enough to
    /// matter. Receiver SWS avoidance (RFC 9293 §3.8.6.2.2) wants a step of at least
    /// min(buffer/2, MSS); like Linux we also wait until what is left of the announced
    /// window is at most half the buffer and the new one is at least twice it, so a reader
    /// keeping up with a bulk sender adds no extra ACKs.
    pub(super) fn maybe_window_update(&mut self) {
        if !self.state.can_receive() {
            return;
        }
        let announced = self.rcv_adv - self.rcv_nxt;
        let free = self.advertisable_window();
        let step = (self.rx.capacity() / 2).min(usize::from(self.rcv_mss));
        let max = self.rx.capacity().min(65_535usize << self.opts.rcv_wscale);
        if 2 * announced <= max && free >= 2 * announced && free >= announced + step {
            self.ack_state = AckState::Now;
        }
    }

    /// Called for each data segment stored in the receive buffer.
    pub(super) fn grow_window(&mut self, len: usize) {
        // Under memory pressure the window is clamped instead (`advertisable_window`);
        // it does not open further until the pressure is gone (Linux's check #1).
        if self.mem == MemoryState::Normal {
            self.window_growth.grow(len, self.rcv_mss, self.rx.capacity());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_an_unscaled_window_and_rounds_up_to_the_scale_unit() {
        let g = WindowGrowth::new(15 << 20);
        assert_eq!(g.limit(0), 65_535);
        assert_eq!(g.limit(8), 65_536);
        assert_eq!(WindowGrowth::new(4096).limit(0), 4096, "a small buffer is offered whole");
    }

    #[test]
    fn opens_by_two_segments_per_segment_up_to_the_buffer() {
        let mut g = WindowGrowth::new(100_000);
        g.grow(100, 1460, 100_000);
        assert_eq!(g.limit(0), 65_535, "a tiny segment opens nothing");
        g.grow(1460, 1460, 100_000);
        assert_eq!(g.limit(0), 65_535 + 2920);
        g.grow(16_000, 1460, 100_000);
        assert_eq!(g.limit(0), 100_000, "a coalesced segment opens twice its size, bounded by the buffer");
    }
}
