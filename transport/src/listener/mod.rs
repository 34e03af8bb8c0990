//! Listening sockets: the SYN queue, SYN cookies and the accept queue, and their
//! accounting against the backlog. The shard asks a [`Listener`] what to do with each SYN
//! and each completed handshake; everything a listener holds is bounded by its backlog.
//!
//! As on Linux (`tcp_syncookies=1`), the backlog bounds two queues separately:
//! - the **SYN queue**: embryonic connections in SYN-RECEIVED, holding their SYN-ACK
//!   retransmission state. When it is full, SYNs are answered with a cookie
//!   ([`cookie`], RFC 4987 §3.6) and nothing is kept, so a flood of spoofed SYNs costs a
//!   bounded amount of memory and never locks legitimate clients out;
//! - the **accept queue**: established connections the application has not taken yet,
//!   counted end to end: those waiting here and those the runtime has already moved to the
//!   application's side ([`Listener::handed_out`]). When it is full a SYN is dropped and a
//!   third ACK (or a cookie ACK) is dropped, so the peer retries, as on Linux.

pub(crate) mod cookie;
pub(crate) mod fast_open;

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::config::SynCookies;
use crate::options::SocketOptions;
use crate::time::Instant;

/// What to do with a SYN that reached a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SynVerdict {
    /// Keep state: a SYN-RECEIVED connection in the SYN queue.
    Open,
    /// Answer statelessly with a cookie.
    Cookie,
    /// The SYN queue is full and cookies are off.
    DropSynQueueFull,
    /// The accept queue is full: no handshake could complete into it.
    DropAcceptQueueFull,
}

/// A listening socket on one shard.
#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) local: SocketAddr,
    pub(crate) backlog: usize,
    pub(crate) generation: u32,
    /// Embryonic connections (SYN-RECEIVED) of this listener.
    syn_queue: usize,
    /// Established connections waiting for `accept`: (slot, generation).
    accept_queue: VecDeque<(u32, u32)>,
    /// Connections taken with `accept` that the application has not picked up yet (the
    /// runtime's own queue reports them): they still count against the backlog.
    handed_out: usize,
    pub(crate) event_queued: bool,
    /// Buffer sizes of the connections it accepts.
    pub(crate) opts: SocketOptions,
    /// When the last cookie was sent: ACKs are checked as cookies only while one could be
    /// valid, so an ACK flood costs no hashing when no cookie is out.
    last_cookie: Option<Instant>,
    /// Fast Open connections of this listener still in SYN-RECEIVED.
    pub(crate) fast_open_pending: usize,
    /// A Fast Open key of its own, instead of the shard's.
    pub(crate) fast_open_key: Option<fast_open::FastOpenKey>,
}

impl Listener {
    pub(crate) fn new(local: SocketAddr, backlog: usize, generation: u32) -> Self {
        Listener {
            local,
            backlog: backlog.max(1),
            generation,
            syn_queue: 0,
            accept_queue: VecDeque::new(),
            handed_out: 0,
            event_queued: false,
            opts: SocketOptions::default(),
            last_cookie: None,
            fast_open_pending: 0,
            fast_open_key: None,
        }
    }

    /// Established connections counted against the backlog.
    pub(crate) fn accept_backlog(&self) -> usize {
        self.accept_queue.len() + self.handed_out
    }

    /// True when no further connection may become established on this listener.
    pub(crate) fn accept_full(&self) -> bool {
        self.accept_backlog() >= self.backlog
    }

    /// Embryonic connections held.
    pub(crate) fn syn_queue_len(&self) -> usize {
        self.syn_queue
    }

    /// Connections waiting in the transport's accept queue.
    pub(crate) fn accept_queue_len(&self) -> usize {
        self.accept_queue.len()
    }

    /// RFC 4987 §3.6 and Linux's `tcp_conn_request`: decides a SYN's fate.
    pub(crate) fn syn_verdict(&self, mode: SynCookies) -> SynVerdict {
        if self.accept_full() {
            return SynVerdict::DropAcceptQueueFull;
        }
        match mode {
            SynCookies::Always => SynVerdict::Cookie,
            _ if self.syn_queue < self.backlog => SynVerdict::Open,
            SynCookies::WhenFull => SynVerdict::Cookie,
            SynCookies::Off => SynVerdict::DropSynQueueFull,
        }
    }

    /// The Fast Open queue: its length and the connections in it; `None` when this
    /// listener does not serve Fast Open.
    pub(crate) fn fast_open_queue(&self, server: fast_open::FastOpenServer) -> Option<(usize, usize)> {
        let qlen = self.opts.fast_open.or(server.every_listener.then_some(self.backlog))?;
        (qlen > 0).then_some((qlen, self.fast_open_pending))
    }

    /// An embryonic connection joined the SYN queue.
    pub(crate) fn syn_queued(&mut self) {
        self.syn_queue += 1;
    }

    /// A cookie went out at `now`.
    pub(crate) fn cookie_sent(&mut self, now: Instant) {
        self.last_cookie = Some(now);
    }

    /// Whether an ACK to this listener may carry a cookie that can still be valid.
    pub(crate) fn cookies_outstanding(&self, now: Instant, lifetime: core::time::Duration) -> bool {
        self.last_cookie.is_some_and(|t| now - t <= lifetime)
    }

    /// A handshake completed: from the SYN queue (`from_syn_queue`) or from a cookie, into
    /// the accept queue. Returns true if the listener had no event queued yet.
    pub(crate) fn established(&mut self, slot: (u32, u32), from_syn_queue: bool) -> bool {
        if from_syn_queue {
            self.syn_queue = self.syn_queue.saturating_sub(1);
        }
        self.accept_queue.push_back(slot);
        !std::mem::replace(&mut self.event_queued, true)
    }

    /// A connection of this listener closed before it was accepted.
    pub(crate) fn forget(&mut self, slot: u32, in_accept_queue: bool, in_syn_queue: bool) {
        if in_accept_queue {
            self.accept_queue.retain(|&(i, _)| i != slot);
        }
        if in_syn_queue {
            self.syn_queue = self.syn_queue.saturating_sub(1);
        }
    }

    /// The connections waiting in the accept queue.
    pub(crate) fn queued(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.accept_queue.iter().copied()
    }

    /// The next connection to hand to the application.
    pub(crate) fn pop(&mut self) -> Option<(u32, u32)> {
        self.accept_queue.pop_front()
    }

    /// The runtime reports how many accepted connections still wait for the application.
    pub(crate) fn set_handed_out(&mut self, n: usize) {
        self.handed_out = n;
    }

    /// Asks for an event so the runtime looks at this listener again (after a drop for a
    /// full accept queue it may find that the application has made room). Returns true if
    /// none was queued.
    pub(crate) fn want_event(&mut self) -> bool {
        !std::mem::replace(&mut self.event_queued, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_both_queues_and_the_mode() {
        let mut l = Listener::new("10.0.0.1:80".parse().unwrap(), 2, 1);
        assert_eq!(l.syn_verdict(SynCookies::WhenFull), SynVerdict::Open);
        assert_eq!(l.syn_verdict(SynCookies::Always), SynVerdict::Cookie);
        l.syn_queued();
        l.syn_queued();
        assert_eq!(l.syn_verdict(SynCookies::WhenFull), SynVerdict::Cookie);
        assert_eq!(l.syn_verdict(SynCookies::Off), SynVerdict::DropSynQueueFull);
        l.established((7, 1), true);
        assert_eq!(l.syn_queue_len(), 1);
        l.set_handed_out(1);
        assert!(l.accept_full(), "one waiting here and one on the application's side");
        assert_eq!(l.syn_verdict(SynCookies::WhenFull), SynVerdict::DropAcceptQueueFull);
        assert_eq!(l.pop(), Some((7, 1)));
        assert!(!l.accept_full());
    }
}
