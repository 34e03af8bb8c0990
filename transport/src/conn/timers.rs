//! Deadlines: retransmission (RFC 6298), delayed ACK, persist (zero-window probing),
//! keepalive, TIME-WAIT, the orphaned FIN-WAIT-2 limit, and giving idle buffers'
//! allocations back.

use super::{AckState, Connection, Ctx, Recovery, State};
use crate::cc::CongestionControl;
use crate::error::Error;
use crate::time::Instant;

fn due(at: Option<Instant>, now: Instant) -> bool {
    at.is_some_and(|t| t <= now)
}

impl Connection {
    /// Fires every deadline at or before `ctx.now`.
    pub(crate) fn on_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        if due(self.close_at, now) {
            self.close_at = None;
            if matches!(self.state, State::TimeWait | State::FinWait2) {
                self.enter_closed(None);
                return;
            }
        }
        if due(self.delack_at, now) {
            self.delack_at = None;
            if self.ack_state == AckState::Delayed {
                self.ack_state = AckState::Now;
                ctx.stats.delayed_acks += 1;
            }
        }
        if due(self.rtx_at, now) {
            self.rtx_at = None;
            self.on_rto(ctx);
            if self.state == State::Closed {
                return;
            }
        }
        if due(self.persist_at, now) {
            self.persist_at = None;
            self.on_persist(ctx);
            if self.state == State::Closed {
                return;
            }
        }
        if due(self.keepalive_at, now) {
            self.keepalive_at = None;
            self.on_keepalive(ctx);
        }
        if due(self.release_at, now) {
            // No data since the buffers drained: give empty allocations back (one that
            // filled again keeps its allocation until it drains again).
            self.release_at = None;
            self.rx.release_if_empty();
            self.tx.release_if_empty();
        }
    }

    /// RFC 6298 §5.4–5.6 and RFC 5681 §3.1 on a retransmission timeout.
    fn on_rto(&mut self, ctx: &mut Ctx<'_>) {
        let syn_pending = self.snd_una == self.iss;
        if !syn_pending && self.snd_una == self.snd_max {
            return;
        }
        self.retries += 1;
        let limit = match self.state {
            State::SynSent => ctx.cfg.syn_retries,
            State::SynReceived => ctx.cfg.synack_retries,
            _ => ctx.cfg.max_retries,
        };
        if self.retries > limit {
            ctx.stats.timeouts += 1;
            match self.state {
                State::SynReceived if self.listener.is_some() => {
                    ctx.stats.embryonic_drops += 1;
                    ctx.stats.attempt_fails += 1;
                    self.enter_closed(None);
                }
                State::SynSent | State::SynReceived => {
                    ctx.stats.attempt_fails += 1;
                    self.enter_closed(Some(self.soft_error.unwrap_or(Error::TimedOut)));
                }
                _ => self.enter_closed(Some(self.soft_error.unwrap_or(Error::TimedOut))),
            }
            return;
        }
        ctx.stats.rto_timeouts += 1;
        self.rtt.back_off();
        self.rtt_probe = None;
        if syn_pending {
            self.snd_nxt = self.iss;
        } else {
            let flight = self.flight_size();
            self.cc.on_rto(ctx.now, flight);
            // RFC 6582 §3.2 step 1 / RFC 6675 §5.1: losses before now are one event.
            self.recovery = Recovery { recover: self.snd_max, high_rxt: self.snd_una, after_timeout: true, ..Recovery::default() };
            self.rtx_now = None;
            if self.retries > 1 {
                // A second timeout at the same point: the peer may have reneged on its SACKs
                // (RFC 2018 §8), so stop trusting them.
                self.sack.clear();
            }
            self.snd_nxt = self.snd_una;
        }
        self.rtx_at = Some(ctx.now + self.rtt.rto());
    }

    /// The persist timer (RFC 9293 §3.8.6.1): probe a zero window, or push a small piece
    /// through a window that stayed too small for SWS avoidance to allow it.
    fn on_persist(&mut self, ctx: &mut Ctx<'_>) {
        if self.tx_end() <= self.snd_nxt || self.snd_max != self.snd_una {
            self.persist_probes = 0;
            return;
        }
        if self.snd_wnd > 0 {
            self.sws_override = true;
            return;
        }
        self.persist_probes += 1;
        if self.persist_probes > ctx.cfg.max_retries {
            ctx.stats.timeouts += 1;
            self.enter_closed(Some(Error::TimedOut));
            return;
        }
        ctx.stats.window_probes += 1;
        self.probe_now = true;
        let backoff = 1u32 << self.persist_probes.min(16);
        let wait = (self.rtt.rto() * backoff).min(ctx.cfg.rto_max);
        self.persist_at = Some(ctx.now + wait);
    }

    /// RFC 9293 §3.8.4 / RFC 1122 §4.2.3.6.
    fn on_keepalive(&mut self, ctx: &mut Ctx<'_>) {
        let Some(k) = self.keepalive else { return };
        if !self.state.is_synchronized() || self.state == State::TimeWait {
            return;
        }
        if self.snd_max != self.snd_una {
            // Data in flight: the retransmission timer watches the peer instead.
            self.keepalive_at = Some(ctx.now + k.idle);
            return;
        }
        if self.keepalive_probes >= k.probes {
            ctx.stats.timeouts += 1;
            self.enter_closed(Some(Error::TimedOut));
            return;
        }
        self.keepalive_probes += 1;
        ctx.stats.keepalive_probes += 1;
        self.probe_now = true;
        self.keepalive_at = Some(ctx.now + k.interval);
    }
}
