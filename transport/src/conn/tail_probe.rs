//! Tail loss probe (RFC 8985 §7): when the last segments of a flight are lost, no
//! duplicate ACKs come back to start fast recovery, and only the RTO would repair them.
//! Two smoothed RTTs after the last transmission without an ACK, the sender sends one
//! probe (new data if the receive window allows, or the last segment again), whose ACK
//! (with SACK) starts fast recovery for whatever is still missing. Like Linux, only on
//! connections with SACK and outside loss recovery, one probe per episode.

use core::time::Duration;

use super::{Connection, Ctx, State};
use crate::cc::CongestionControl;
use crate::seq::SeqNum;
use crate::time::Instant;

/// RFC 8985's WCDelAckT: the longest the peer may delay the ACK of a lone segment.
const WORST_CASE_DELAYED_ACK: Duration = Duration::from_millis(200);
/// What Linux adds to 2·SRTT when more than one segment is in flight (TCP_TIMEOUT_MIN).
const PTO_SLACK: Duration = Duration::from_millis(2);
/// The probe timeout before any RTT sample (RFC 8985 §7.2).
const PTO_WITHOUT_RTT: Duration = Duration::from_secs(1);

/// The state of the connection's loss probing.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TailProbe {
    /// When the probe timeout (PTO) fires.
    pub(super) at: Option<Instant>,
    /// A probe is owed now.
    pub(super) owed: bool,
    /// SND.NXT after the probe went out, while its episode lasts (RFC 8985 TLP.end_seq).
    end_seq: Option<SeqNum>,
    /// The probe sent data again rather than new data (TLP.is_retrans).
    retransmitted: bool,
    /// Where the most recently sent new segment began: a probe that retransmits sends
    /// that segment (a FIN sent alone is probed alone).
    last_start: Option<SeqNum>,
}

impl Connection {
    /// RFC 8985 §7.2: after new data went out, or an ACK moved SND.UNA, (re)arms the probe
    /// timeout, at 2·SRTT (plus the peer's worst delayed ACK when one segment is in
    /// flight), never later than the RTO.
    pub(super) fn schedule_tail_probe(&mut self, ctx: &Ctx<'_>) {
        let now = ctx.now;
        self.tlp.at = None;
        if !self.may_probe(ctx) || self.tlp.end_seq.is_some() {
            return;
        }
        let mut pto = match self.rtt.srtt() {
            Some(srtt) if self.flight_size() as usize <= usize::from(self.eff_mss()) => 2 * srtt + WORST_CASE_DELAYED_ACK,
            Some(srtt) => 2 * srtt + PTO_SLACK,
            None => PTO_WITHOUT_RTT,
        };
        if let Some(rto_at) = self.rtx_at {
            pto = pto.min(rto_at - now);
        }
        self.tlp.at = Some(now + pto);
    }

    /// SACK, data or a FIN in flight, no loss recovery or timeout under way, a state that
    /// sends data.
    fn may_probe(&self, ctx: &Ctx<'_>) -> bool {
        ctx.cfg.tail_loss_probe
            && self.opts.sack
            && self.snd_max > self.snd_una
            && self.snd_una > self.iss
            && self.retries == 0
            && !self.recovery.active
            && !self.recovery.after_timeout
            && matches!(self.state, State::Established | State::CloseWait | State::FinWait1 | State::Closing | State::LastAck)
    }

    /// The probe timeout fired: a probe is owed (RFC 8985 §7.3).
    pub(super) fn on_probe_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if self.may_probe(ctx) && self.tlp.end_seq.is_none() {
            self.tlp.owed = true;
            ctx.stats.tail_loss_probes += 1;
            // Nothing was acknowledged since the RTO timer was armed: the user timeout
            // counts from then, not from the probe.
            if let Some(rto_at) = self.rtx_at {
                self.stalled_since = rto_at - self.rtt.rto();
            }
            // The PTO is never later than the RTO and may fall on it: the probe goes
            // instead of the timeout, which restarts from the probe (as in Linux, where
            // the probe timer takes the retransmission timer's place).
            self.rtx_at = Some(ctx.now + self.rtt.rto());
        }
    }

    /// New data may go as the probe: some is unsent and the receive window takes it.
    pub(super) fn probe_with_new_data(&self, max_payload: usize) -> bool {
        let avail = self.tx_end() - self.snd_nxt;
        let wnd_room = self.snd_wnd_end() - self.snd_nxt;
        self.snd_nxt == self.snd_max && avail > 0 && wnd_room >= avail.min(max_payload)
    }

    /// New data (or a FIN) starting at `seq` just left.
    pub(super) fn note_new_segment(&mut self, seq: SeqNum) {
        self.tlp.last_start = Some(seq);
    }

    /// The range of the most recently sent segment, for a probe that retransmits: from
    /// where it began (at most `max_payload` bytes, the last of a super-segment) to where
    /// the data sent ends, the FIN with it if it was sent.
    pub(super) fn last_segment(&self, max_payload: usize) -> (SeqNum, usize) {
        let data_end = self.tx_end();
        let end = if self.snd_max > data_end { data_end } else { self.snd_max };
        let mut start = self.tlp.last_start.filter(|&s| s >= self.snd_una && s <= end).unwrap_or(self.snd_una);
        if end - start > max_payload {
            start = end - max_payload;
        }
        (start, end - start)
    }

    /// The probe left: its episode starts, and the RTO timer restarts from now (RFC 8985
    /// §7.3: re-arm the RTO, not the PTO).
    pub(super) fn tail_probe_sent(&mut self, now: Instant, retransmitted: bool) {
        self.tlp.end_seq = Some(self.snd_max);
        self.tlp.retransmitted = retransmitted;
        self.rtx_at = Some(now + self.rtt.rto());
    }

    /// RFC 8985 §7.4, on every ACK: ends the probe's episode once the ACK tells whether a
    /// retransmitted probe repaired a loss (then congestion control reacts as to any
    /// loss) or only duplicated what had arrived (a D-SACK or a duplicate ACK at the
    /// probe's end); then re-arms the PTO if the ACK moved SND.UNA.
    pub(super) fn tail_probe_on_ack(&mut self, ctx: &mut Ctx<'_>, ack: SeqNum, advanced: bool, dsack: bool, pure_dup: bool) {
        if let Some(end) = self.tlp.end_seq
            && ack >= end
        {
            if !self.tlp.retransmitted || dsack {
                self.tlp.end_seq = None;
            } else if ack > end {
                let flight = self.flight_size();
                self.cc.on_congestion_event(ctx.now, flight);
                self.cc.on_recovery_exit(ctx.now, flight);
                ctx.stats.tail_loss_probe_recoveries += 1;
                self.tlp.end_seq = None;
            } else if pure_dup {
                self.tlp.end_seq = None;
            }
        }
        if advanced {
            self.schedule_tail_probe(ctx);
        }
    }

    /// A probe went out and its episode is still open.
    pub(super) fn tail_probe_out(&self) -> bool {
        self.tlp.end_seq.is_some()
    }

    /// An RTO or fast recovery takes over: the episode ends without a verdict.
    pub(super) fn end_tail_probe(&mut self) {
        self.tlp = TailProbe { last_start: self.tlp.last_start, ..TailProbe::default() };
    }
}
