//! A bound on the bytes a connection holds that it has not sent yet (Linux's
//! `TCP_NOTSENT_LOWAT`). An application that writes ahead (an HTTP/2 server, a stream
//! multiplexer) keeps its own queue then, where it can still reorder or drop what it has
//! not written, instead of handing the socket megabytes the peer's window keeps back.
//!
//! The rule is Linux's, in bytes instead of socket buffers: a write is taken while fewer
//! than the limit's bytes are unsent, in whole send quanta (the size Linux gives one
//! buffer, `tcp_xmit_size_goal`: half the peer's largest window, at most one
//! super-segment, at least one MSS), and a quantum partly filled is always filled up. A
//! writer is woken only once fewer than half the limit's bytes are unsent (Linux's
//! `tcp_stream_memory_free` with `wake`), so it is not woken for each segment sent.

use super::{Connection, Events};

/// The largest payload of one quantum: a super-segment's, less its headers.
const MAX_QUANTUM: usize = 65_535 - 60 - 60;

impl Connection {
    /// Sets the bound (`None`: unbounded).
    pub(crate) fn set_notsent_lowat(&mut self, lowat: Option<u32>) {
        self.notsent_lowat = lowat;
        if self.notsent_room().is_none_or(|r| r > 0) {
            // A larger bound may let a waiting writer go on at once.
            self.events.set(Events::WRITABLE);
        }
    }

    pub(crate) fn notsent_lowat(&self) -> Option<u32> {
        self.notsent_lowat
    }

    /// Bytes queued that have never been sent.
    pub(crate) fn notsent(&self) -> usize {
        let sent_to = self.snd_max.max(self.tx_seq);
        if self.tx_end() > sent_to { self.tx_end() - sent_to } else { 0 }
    }

    /// What one send quantum holds (Linux's size goal).
    fn send_quantum(&self) -> usize {
        let mss = usize::from(self.eff_mss()).max(1);
        // RFC 9293 §3.8.6.2.1's sender SWS rule counts in halves of the largest window
        // the peer offered, and so does Linux's `tcp_bound_to_half_wnd`.
        let half_window = (self.max_snd_wnd as usize / 2).max(1);
        let bound = MAX_QUANTUM.min(half_window);
        (bound / mss * mss).max(mss)
    }

    /// How many more bytes a write may queue under the bound (`None`: no bound): up to
    /// the first quantum boundary at or past the bound, and at least the rest of a
    /// partly filled quantum.
    pub(crate) fn notsent_room(&self) -> Option<usize> {
        let lowat = self.notsent_lowat? as usize;
        let (queued, q) = (self.notsent(), self.send_quantum());
        let end = queued.div_ceil(q).max(lowat.max(1).div_ceil(q)) * q;
        Some(end - queued)
    }

    /// True unless the bound holds a writer back: poll readiness, as Linux gives it.
    pub(crate) fn below_notsent_wakeup(&self) -> bool {
        self.notsent_lowat.is_none_or(|l| self.notsent() * 2 < l as usize)
    }

    /// After new data left: a writer held back by the bound may go on now.
    pub(crate) fn notsent_drained(&mut self) {
        if self.notsent_lowat.is_some() && self.below_notsent_wakeup() {
            self.events.set(Events::WRITABLE);
        }
    }
}
