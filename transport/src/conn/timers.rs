//! Deadlines: retransmission (RFC 6298), RACK's reordering timer (RFC 8985), delayed
//! ACK, persist (zero-window probing), keepalive, TIME-WAIT, the orphaned FIN-WAIT-2
//! limit, and giving idle buffers' allocations back.

use core::time::Duration;

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
                // No reply carried the ACK in time: the exchange is not interactive after
                // all (Linux leaves pingpong mode when its delayed ACK timer fires).
                self.interactive = false;
            }
        }
        if due(self.pacing.timer(), now) {
            // Data held for pacing may go: the shard polls the connection after this.
            self.pacing.waiting = false;
        }
        if due(self.rack.at, now) {
            self.rack.at = None;
            self.on_reorder_timeout(ctx);
        }
        if due(self.tlp.at, now) {
            self.tlp.at = None;
            self.on_probe_timeout(ctx);
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
            // No data since RACK's log drained: give its allocation back (one that filled
            // again keeps its allocation until it drains again).
            self.release_at = None;
            self.rack.release_if_empty();
        }
    }

    /// RFC 6298 §5.4–5.6 and RFC 5681 §3.1 on a retransmission timeout.
    fn on_rto(&mut self, ctx: &mut Ctx<'_>) {
        let syn_pending = self.snd_una == self.iss;
        if !syn_pending && self.snd_una == self.snd_max {
            return;
        }
        if self.retries == 0 && !self.tail_probe_out() {
            // The timer was armed an RTO ago (at the send, or at the last ACK that moved
            // SND.UNA): since then nothing was acknowledged. (After a tail loss probe the
            // probe noted when, before it restarted the timer.)
            self.stalled_since = ctx.now - self.rtt.rto();
        }
        self.retries += 1;
        let limit = match self.state {
            State::SynSent => self.syn_retries.unwrap_or(ctx.cfg.syn_retries),
            State::SynReceived => self.syn_retries.unwrap_or(ctx.cfg.synack_retries),
            _ => ctx.cfg.max_retries,
        };
        // RFC 5482 §3 / RFC 9293 §3.8.3: with a user timeout set, time unanswered decides
        // instead of the retry count (Linux: TCP_USER_TIMEOUT replaces tcp_retries2).
        let gave_up = match self.user_timeout {
            Some(ut) => ctx.now - self.stalled_since >= ut,
            None => self.retries > limit,
        };
        if gave_up {
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
        self.end_tail_probe();
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
            // Everything in flight is to be sent again from here (Linux's tcp_enter_loss
            // starts retrans_out over).
            self.retransmitted.clear();
            self.rack.on_rto();
            if self.retries > 1 {
                // A second timeout at the same point: the peer may have reneged on its SACKs
                // (RFC 2018 §8), so stop trusting them.
                self.sack.clear();
                self.rack.forget_sacks();
            }
            self.snd_nxt = self.snd_una;
        }
        self.rtx_at = Some(ctx.now + self.within_user_timeout(ctx.now, self.rtt.rto()));
    }

    /// `wait`, cut to what is left of the user timeout, so that the connection fails when
    /// it runs out rather than at the next backed-off timer (Linux's
    /// tcp_clamp_rto_to_user_timeout); at least a millisecond.
    fn within_user_timeout(&self, now: Instant, wait: Duration) -> Duration {
        match self.user_timeout {
            Some(ut) => wait.min(ut.saturating_sub(now - self.stalled_since)).max(Duration::from_millis(1)),
            None => wait,
        }
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
        if self.persist_probes == 0 {
            self.stalled_since = ctx.now;
        }
        self.persist_probes += 1;
        let gave_up = match self.user_timeout {
            // Linux times zero-window probing from the first probe (icsk_probes_tstamp).
            Some(ut) => ctx.now - self.stalled_since >= ut,
            None => self.persist_probes > ctx.cfg.max_retries,
        };
        if gave_up {
            ctx.stats.timeouts += 1;
            self.enter_closed(Some(Error::TimedOut));
            return;
        }
        ctx.stats.window_probes += 1;
        self.probe_now = true;
        let backoff = 1u32 << self.persist_probes.min(16);
        let wait = (self.rtt.rto() * backoff).min(ctx.cfg.rto_max);
        self.persist_at = Some(ctx.now + self.within_user_timeout(ctx.now, wait));
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
        // With a user timeout, keepalive gives up once the peer has been silent that long
        // and a probe went unanswered (Linux's tcp_keepalive_timer); the timer ran `idle`
        // after the last segment heard, then `interval` per probe.
        let silent = k.idle + k.interval * self.keepalive_probes;
        let gave_up = match self.user_timeout {
            Some(ut) => self.keepalive_probes > 0 && silent >= ut,
            None => self.keepalive_probes >= k.probes,
        };
        if gave_up {
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
