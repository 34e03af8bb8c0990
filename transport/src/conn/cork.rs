//! Holding a short segment back because the application says more data follows: a corked
//! socket (Linux's `TCP_CORK`) and a write flagged "more" (`MSG_MORE`). A header and its
//! body written apart then leave in full segments instead of a short one each.
//!
//! Full segments always go; only a short tail of the queue waits, as Linux's
//! `tcp_nagle_check` with `TCP_NAGLE_CORK`. A FIN, uncorking, or turning Nagle off pushes
//! it out; an ACK that acknowledges data ends what a "more" write held (Linux corks only
//! the push of that write, later pushes follow the socket's own Nagle setting). Nothing
//! waits for ever: with nothing in flight the persist timer runs (as Linux's probe timer,
//! the "200 ms ceiling" of `tcp(7)`), and when it fires the tail goes.

use super::Connection;

/// What holds a short tail back, and the one push that overrides it.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Cork {
    /// `TCP_CORK`.
    on: bool,
    /// The last write said more data follows (`MSG_MORE`).
    more: bool,
    /// The next segment may be short whatever holds it (Linux's `TCP_NAGLE_PUSH`).
    push_once: bool,
}

impl Connection {
    /// Corks (`true`) or uncorks the connection; uncorking lets a held tail go (under the
    /// usual Nagle rule).
    pub(crate) fn set_cork(&mut self, on: bool) {
        self.cork.on = on;
    }

    pub(crate) fn corked(&self) -> bool {
        self.cork.on
    }

    /// A write is queued; `more`: the application says more data follows at once.
    pub(crate) fn note_write(&mut self, more: bool) {
        self.cork.more = more;
    }

    /// The data queued now goes, short tail included, even if corked (turning Nagle off
    /// does this, as on Linux); data written later is not pushed by it.
    pub(crate) fn push_queued(&mut self) {
        self.cork.push_once = self.tx_end() > self.snd_nxt;
    }

    /// An ACK acknowledged data: what a "more" write held is no longer held.
    pub(super) fn cork_acked(&mut self) {
        self.cork.more = false;
    }

    /// A segment left: the one-time push is spent.
    pub(super) fn cork_segment_sent(&mut self) {
        self.cork.push_once = false;
    }

    /// True if a short tail of the queue may leave now: pushed, a FIN behind it, or not
    /// held by a cork and allowed by Nagle (Minshall's form).
    pub(super) fn short_tail_may_go(&self) -> bool {
        if self.cork.push_once || self.fin_queued {
            return true;
        }
        !(self.cork.on || self.cork.more) && (self.nodelay || self.no_small_segment_in_flight())
    }
}
