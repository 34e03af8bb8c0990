//! One `tracing` span per connection, at DEBUG level (target `ringtcp::conn`, name
//! `connection`), from the moment the application gets the socket to the moment it drops
//! it: 4-tuple, shard, duration, bytes each way and how it ended. When DEBUG is off for
//! that target, creating the span is a disabled-callsite check and nothing is allocated.

use std::net::SocketAddr;
use std::time::Instant;

use tracing::field::{Empty, display};

/// The open span of one connection and what it has counted.
#[derive(Debug)]
pub(crate) struct ConnTrace {
    span: tracing::Span,
    opened: Instant,
    bytes_in: u64,
    bytes_out: u64,
}

impl ConnTrace {
    /// A trace for a connection, or `None` when nobody listens at DEBUG for it.
    pub(crate) fn start(shard: usize, local: Option<SocketAddr>, peer: Option<SocketAddr>) -> Option<Box<ConnTrace>> {
        let span = tracing::debug_span!(
            target: "ringtcp::conn",
            "connection",
            shard,
            local = Empty,
            peer = Empty,
            duration_ns = Empty,
            bytes_in = Empty,
            bytes_out = Empty,
            ended = Empty,
        );
        if span.is_disabled() {
            return None;
        }
        if let Some(a) = local {
            span.record("local", display(a));
        }
        if let Some(a) = peer {
            span.record("peer", display(a));
        }
        Some(Box::new(ConnTrace { span, opened: Instant::now(), bytes_in: 0, bytes_out: 0 }))
    }

    /// Bytes handed from the transport to the application.
    pub(crate) fn received(&mut self, n: usize) {
        self.bytes_in += n as u64;
    }

    /// Bytes the transport took from the application.
    pub(crate) fn sent(&mut self, n: usize) {
        self.bytes_out += n as u64;
    }

    /// Records the totals and closes the span. `ended`: `closed` (FIN), `aborted` (RST on
    /// drop: unread data or SO_LINGER 0), `shard_stopped`, or the socket's error kind.
    pub(crate) fn finish(&self, ended: &str) {
        let ns = self.opened.elapsed().as_nanos() as u64;
        self.span.record("duration_ns", ns);
        self.span.record("bytes_in", self.bytes_in);
        self.span.record("bytes_out", self.bytes_out);
        self.span.record("ended", ended);
    }
}
