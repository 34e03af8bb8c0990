//! Segment arrival (RFC 9293 §3.10.7.3 for SYN-SENT, §3.10.7.4 for the other states), with
//! RFC 5961's blind-attack checks and RFC 7323's PAWS.

use core::time::Duration;

use super::{AckState, Connection, Ctx, Events, State};
use crate::buffer::RxInsert;
use crate::cc::CongestionControl;
use crate::error::Error;
use crate::sack::DUP_THRESH;
use crate::seq::SeqNum;
use crate::wire::{TcpFlags, TcpHeader, TcpSegment};

/// Least time between answers to out-of-window segments without data.
const OOW_ACK_INTERVAL: Duration = Duration::from_millis(500);

/// RFC 7323 §5.5: TS.Recent older than this is no longer trusted for PAWS.
const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 3600);

impl Connection {
    /// Processes one segment addressed to this connection.
    pub(crate) fn on_segment(&mut self, ctx: &mut Ctx<'_>, seg: &TcpSegment<'_>) {
        match self.state {
            State::Closed | State::Listen => {}
            State::SynSent => self.on_segment_syn_sent(ctx, seg),
            _ => self.on_segment_open(ctx, seg),
        }
        self.chrono_update(ctx.now);
    }

    /// RFC 9293 §3.10.7.3.
    fn on_segment_syn_sent(&mut self, ctx: &mut Ctx<'_>, seg: &TcpSegment<'_>) {
        let h = &seg.header;
        if h.flags.ack() && (h.ack <= self.iss || h.ack > self.snd_max) {
            // An ACK for something we never sent: <SEQ=SEG.ACK><CTL=RST>, unless it is a RST.
            if !h.flags.rst() {
                self.rst_reply = Some(h.ack);
            }
            ctx.drops.unacceptable_ack += 1;
            return;
        }
        if h.flags.rst() {
            // Acceptable only with an ACK of our SYN (RFC 5961 §3.2 leaves SYN-SENT to 9293).
            if h.flags.ack() {
                ctx.stats.in_rsts += 1;
                ctx.stats.attempt_fails += 1;
                self.enter_closed(Some(Error::ConnectionRefused));
            } else {
                ctx.drops.stray_rst += 1;
            }
            return;
        }
        if !h.flags.syn() {
            ctx.drops.no_ack += 1;
            return;
        }
        if h.flags.ack()
            && self.opts.timestamps
            && let Some(ts) = h.options.timestamps
            && ts.ecr != 0
        {
            // A SYN-ACK echoing a timestamp this connection never sent is stale or forged
            // (Linux's PAWS check in SYN-SENT, PAWSActiveRejected): reset it and wait on.
            let first = self.ts_now(self.activity.opened);
            if ts.ecr.wrapping_sub(first) > self.ts_now(ctx.now).wrapping_sub(first) {
                ctx.drops.paws += 1;
                self.rst_reply = Some(h.ack);
                return;
            }
        }
        self.irs = h.seq;
        self.rcv_nxt = h.seq + 1;
        self.rcv_adv = self.rcv_nxt;
        self.negotiate(ctx.cfg, &h.options, ctx.now);
        // SYN windows are never scaled (RFC 7323 §2.2).
        self.snd_wnd = u32::from(h.window);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = h.seq;
        self.snd_wl2 = h.ack;
        if h.flags.ack() {
            self.snd_una = h.ack;
            self.activity.delivered += 1;
            if self.fast_open.is_some() {
                self.fast_open_synack(h);
            }
            self.sample_rtt(ctx, h.ack);
            self.rtx_at = None;
            self.retries = 0;
            self.rtt.reset_backoff();
            self.state = State::Established;
            self.events.set(Events::ESTABLISHED | Events::WRITABLE);
            self.ack_state = AckState::Now;
            self.restart_keepalive(ctx.now);
            // Linux counts "since data was received" from the handshake's end.
            self.activity.data_received = ctx.now;
            self.activity.ack_received = ctx.now;
            if self.tx_end() > self.snd_max {
                // Data waits to follow the handshake: a reply to the SYN-ACK, as Linux
                // treats the write its writer was blocked in (tcp_rcv_synsent_state_process).
                self.data_rcv_at = Some(ctx.now);
            }
        } else {
            // Simultaneous open (RFC 9293 §3.5, figure 8): answer with SYN,ACK on our ISS.
            // Text and FIN wait until ESTABLISHED (RFC 9293 §3.10.7.3); like Linux we drop
            // them rather than queue them, and the peer sends them again once its SYN is
            // acknowledged. Taken now, a FIN would move us to CLOSE-WAIT with our SYN
            // still unacknowledged.
            self.state = State::SynReceived;
            self.snd_nxt = self.iss;
            self.synack_now = true;
            // A Fast Open option on a SYN-ACK would be a server's cookie (RFC 7413 §4.1.2):
            // our SYN-ACK goes without it, as Linux's does.
            if let Some(f) = self.fast_open.as_deref_mut() {
                f.cookie = None;
            }
            return;
        }
        self.accept_text_and_fin(ctx, h, h.seq + 1, seg.payload);
    }

    /// A Fast Open client's SYN-ACK (RFC 7413 §4.1.2): the data it acknowledges leaves the
    /// queue, what it does not is sent again at once, and a cookie it carries is kept for
    /// the next connection to this server.
    fn fast_open_synack(&mut self, h: &TcpHeader) {
        let acked = (h.ack - (self.iss + 1)).min(self.tx.len());
        // Linux's syn_data_acked: the SYN's data counts as taken only if all of it was.
        let all_syn_data_acked = acked > 0 && self.iss + 1 + acked >= self.snd_max;
        self.tx.consume(acked);
        self.tx_seq += acked;
        self.activity.bytes_acked += acked as u64;
        self.snd_nxt = h.ack;
        let mss = h.options.mss.unwrap_or(super::default_peer_mss(self.remote.ip()));
        let first_try = self.retries == 0;
        if let Some(f) = self.fast_open.as_deref_mut() {
            f.syn_data = all_syn_data_acked;
            let sent = f.cookie.take();
            // Linux's tcp_fastopen_cache_set: the MSS is kept from every such SYN-ACK,
            // the cookie only when a valid one came (RFC 7413 §4.1.1: 4 to 16 bytes; a
            // cookie of another length is no cookie, and the cached one stays).
            // A cookie-less SYN asked for none: a cookie the server gives anyway is
            // unsolicited and not kept (Linux ignores it too).
            let valid = |c: &crate::wire::FastOpenOption| (4..=crate::wire::FastOpenOption::MAX_COOKIE).contains(&c.cookie().len());
            let cookie = if f.no_cookie { None } else { h.options.fast_open.filter(valid) };
            // A request the server did not answer (Linux's try_exp): a server that only
            // knows the experimental option may have ignored kind 34. A retransmitted
            // SYN proves nothing (the answer may have been lost).
            let request_unanswered = sent.filter(|s| s.cookie().is_empty() && cookie.is_none() && first_try).map(|s| s.experimental);
            f.learned = Some(crate::listener::fast_open::Learned { cookie, mss, request_unanswered });
        }
    }

    /// RFC 9293 §3.10.7.4: every state from SYN-RECEIVED on.
    fn on_segment_open(&mut self, ctx: &mut Ctx<'_>, seg: &TcpSegment<'_>) {
        let mut header = seg.header;
        if self.state == State::SynReceived
            && self.listener.is_none()
            && header.flags.syn()
            && header.flags.ack()
            && header.seq == self.irs
        {
            // Simultaneous open (RFC 9293 §3.5, figure 8): the peer's SYN,ACK crossed ours.
            // Its SYN is old news (reported as a duplicate, as Linux does); its ACK
            // completes the handshake.
            header.flags = TcpFlags(header.flags.0 & !TcpFlags::SYN.0);
            header.seq = self.irs + 1;
            self.note_duplicate(self.irs, self.irs + 1);
            self.ack_state = AckState::Now;
        }
        let h = &header;
        let now = ctx.now;

        // RFC 7323 §5.3 R1 (PAWS): an old timestamp marks an old duplicate.
        if self.opts.timestamps
            && !h.flags.rst()
            && let Some(ts) = h.options.timestamps
            && (ts.val.wrapping_sub(self.ts_recent) as i32) < 0
            && now - self.ts_recent_at < PAWS_IDLE
        {
            ctx.drops.paws += 1;
            self.ack_state = AckState::Now;
            return;
        }

        if h.flags.syn() {
            if self.state == State::SynReceived && h.seq == self.irs && !h.flags.ack() {
                // Our SYN-ACK was lost and the peer retransmitted its SYN.
                self.synack_now = true;
                return;
            }
            if self.state == State::SynReceived && self.listener.is_some() {
                // RFC 9293 §3.10.7.4 fourth: a passive connection returns to LISTEN.
                self.enter_closed(None);
                return;
            }
            // RFC 5961 §4.2: a SYN in a synchronized state, whatever its sequence number,
            // gets a challenge ACK and is dropped.
            self.challenge_ack(ctx);
            return;
        }

        if !self.acceptable(h, seg.payload.len()) {
            if h.flags.rst() {
                ctx.drops.out_of_window += 1;
                return;
            }
            if self.state == State::TimeWait && h.flags.fin() {
                // A retransmitted FIN: our last ACK was lost. ACK again, restart 2·MSL.
                self.close_at = Some(now + ctx.cfg.fin_cache.duration(crate::fincache::MslClass::Remote));
            }
            if h.seq + seg.seq_len() <= self.rcv_nxt {
                ctx.stats.duplicate_segments += 1;
                self.note_duplicate(h.seq, h.seq + seg.seq_len());
            } else {
                ctx.drops.out_of_window += 1;
            }
            if seg.seq_len() > 0 || self.oow_ack_allowed(now) {
                self.ack_state = AckState::Now;
            } else {
                ctx.drops.challenge_ack_limited += 1;
            }
            return;
        }

        if h.flags.rst() {
            self.on_rst(ctx, h);
            return;
        }

        if !h.flags.ack() {
            ctx.drops.no_ack += 1;
            return;
        }

        // Until our SYN is acknowledged (SYN-RECEIVED, or FIN-WAIT-1 entered from it by a
        // CLOSE, RFC 9293 §3.10.4), only an ACK of it is acceptable; any other gets
        // <SEQ=SEG.ACK><CTL=RST> (§3.10.7.4). Taking a FIN without it led to CLOSING with
        // the SYN unacknowledged (found by the script fuzz target).
        let syn_unacked = self.snd_una == self.iss && matches!(self.state, State::SynReceived | State::FinWait1);
        if syn_unacked && !(self.snd_una < h.ack && h.ack <= self.snd_max) {
            self.rst_reply = Some(h.ack);
            ctx.drops.unacceptable_ack += 1;
            return;
        }
        if self.state == State::SynReceived {
            self.state = State::Established;
            self.snd_wnd = u32::from(h.window) << self.opts.snd_wscale;
            self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
            self.snd_wl1 = h.seq;
            self.snd_wl2 = h.ack;
            self.events.set(Events::ESTABLISHED | Events::WRITABLE);
            self.restart_keepalive(now);
            self.activity.data_received = now;
        }

        if !self.on_ack(ctx, h, seg.payload.len()) {
            return;
        }
        // RFC 7323 §4.3: remember the timestamp of the segment that our next ACK covers;
        // only once its ACK, too, proved acceptable: a segment dropped for acknowledging
        // what was never sent (RFC 5961 §5.2) must not move TS.Recent, or one forged
        // segment with a far-future TSval would make PAWS drop the peer's real ones.
        if self.opts.timestamps
            && let Some(ts) = h.options.timestamps
            && h.seq <= self.last_ack_sent
        {
            self.ts_recent = ts.val;
            self.ts_recent_at = now;
        }
        if self.state == State::Closed {
            return;
        }
        self.restart_keepalive(now);
        self.accept_text_and_fin(ctx, h, h.seq, seg.payload);
    }

    /// Answers to out-of-window segments without data are limited to one per 500 ms per
    /// connection (Linux's `tcp_invalid_ratelimit`; RFC 5961 §5 and §7 ask for such
    /// limits), so that two confused ends cannot keep an ACK loop going.
    fn oow_ack_allowed(&mut self, now: crate::time::Instant) -> bool {
        if self.last_oow_ack.is_some_and(|t| now - t < OOW_ACK_INTERVAL) {
            return false;
        }
        self.last_oow_ack = Some(now);
        true
    }

    /// RFC 9293 §3.10.7.4 first: the four acceptability cases against RCV.WND.
    fn acceptable(&self, h: &TcpHeader, payload_len: usize) -> bool {
        let seg_len = payload_len + usize::from(h.flags.fin());
        let wnd = self.rcv_adv - self.rcv_nxt;
        let wnd = wnd.max(self.advertisable_window());
        let end = self.rcv_nxt + wnd;
        match (seg_len, wnd) {
            (0, 0) => h.seq == self.rcv_nxt,
            // Like Linux, a bare ACK exactly at the right edge is accepted: a sender that
            // filled our window sends its ACKs from there.
            (0, _) => h.seq.in_range(self.rcv_nxt, end + 1),
            (_, 0) => false,
            (n, _) => h.seq.in_range(self.rcv_nxt, end) || (h.seq + (n - 1)).in_range(self.rcv_nxt, end),
        }
    }

    /// RFC 5961 §3.2: only a RST exactly at RCV.NXT resets; one elsewhere in the window gets
    /// a challenge ACK.
    fn on_rst(&mut self, ctx: &mut Ctx<'_>, h: &TcpHeader) {
        if h.seq != self.rcv_nxt {
            self.challenge_ack(ctx);
            return;
        }
        ctx.stats.in_rsts += 1;
        match self.state {
            State::SynReceived => {
                ctx.stats.attempt_fails += 1;
                if self.listener.is_some() {
                    // Back to LISTEN: the embryonic connection goes, the listener stays.
                    self.enter_closed(None);
                } else if self.fast_open.as_ref().is_some_and(|f| f.accepted) {
                    // Fast Open handed this connection to the application as open: a
                    // reset ends it as it would an established one.
                    ctx.stats.estab_resets += 1;
                    self.enter_closed(Some(Error::ConnectionReset));
                } else {
                    self.enter_closed(Some(Error::ConnectionRefused));
                }
            }
            State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait => {
                ctx.stats.estab_resets += 1;
                self.enter_closed(Some(Error::ConnectionReset));
            }
            State::TimeWait if ctx.cfg.fin_cache.rfc1337 => {
                // RFC 1337: a RST must not cut TIME-WAIT short (TIME-WAIT assassination).
            }
            _ => self.enter_closed(None),
        }
    }

    pub(super) fn challenge_ack(&mut self, ctx: &mut Ctx<'_>) {
        if ctx.challenge.allow(ctx.now, ctx.cfg.challenge_ack_limit) {
            ctx.stats.challenge_acks += 1;
            self.ack_state = AckState::Now;
        } else {
            ctx.drops.challenge_ack_limited += 1;
        }
    }

    /// RFC 9293 §3.10.7.4 fifth, with RFC 5961 §5.2. Returns false if the segment is dropped.
    fn on_ack(&mut self, ctx: &mut Ctx<'_>, h: &TcpHeader, payload_len: usize) -> bool {
        let ack = h.ack;
        if ack > self.snd_max {
            // Acks data never sent.
            ctx.drops.unacceptable_ack += 1;
            self.challenge_ack(ctx);
            return false;
        }
        if ack < self.snd_una - self.max_snd_wnd as usize {
            // RFC 5961 §5.2: too old to be a real ACK; a blind injection attempt.
            ctx.drops.unacceptable_ack += 1;
            self.challenge_ack(ctx);
            return false;
        }
        let window = u32::from(h.window) << self.opts.snd_wscale;
        let dup_candidate = payload_len == 0
            && !h.flags.fin()
            && ack == self.snd_una
            && window == self.snd_wnd
            && self.snd_max > self.snd_una;

        let sacked_before = self.sack.sacked_bytes();
        let mut newly_sacked = 0;
        if self.opts.sack {
            for &(l, r) in h.options.sack.as_slice() {
                newly_sacked += self.sack.add(self.snd_una, self.snd_max, l, r);
            }
            self.activity.delivered += newly_sacked.div_ceil(usize::from(self.eff_mss())) as u32;
        }

        self.activity.ack_received = ctx.now;
        let una_before = self.snd_una;
        let advanced = ack > self.snd_una;
        if advanced || newly_sacked > 0 {
            let delay = self.rack.on_ack(ack, h.options.sack.as_slice(), &self.sack, ctx.now, self.rtt.min_rtt(), usize::from(self.eff_mss()));
            if advanced && let Some(delay) = delay {
                self.cc.on_delay_sample(delay, ack, self.snd_nxt);
            }
        }
        if advanced {
            self.on_new_ack(ctx, ack, sacked_before);
        } else if dup_candidate {
            self.on_dup_ack(ctx);
        }
        // RFC 2883 §4: a first SACK block below the cumulative ACK reports a duplicate.
        let dsack = h.options.sack.as_slice().first().is_some_and(|&(_, r)| r <= ack);
        self.tail_probe_on_ack(ctx, ack, advanced, dsack, dup_candidate && newly_sacked == 0);
        let rack_lost = self.opts.sack && self.rack_after_ack(ctx, dsack);
        if !self.recovery.active
            && self.opts.sack
            && self.snd_una >= self.recovery.recover
            && (rack_lost || self.count_lost_edge().is_some())
        {
            // RFC 6675 §5: IsLost(HighACK + 1) also starts recovery; so does a loss RACK
            // found (RFC 8985 §6.2).
            self.enter_recovery(ctx);
        }
        if self.recovery.active && self.opts.sack {
            let delivered = self.delivered_data(una_before, sacked_before);
            self.prr_on_ack(delivered, self.rack.ack_repaired());
        }

        // RFC 9293 §3.10.7.4: update the send window only from a newer segment.
        if self.snd_wl1 < h.seq || (self.snd_wl1 == h.seq && self.snd_wl2 <= ack) {
            self.snd_wnd = window;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            self.snd_wl1 = h.seq;
            self.snd_wl2 = ack;
            if window > 0 {
                self.persist_at = None;
                self.persist_probes = 0;
            }
        }

        let fin_acked = self.fin_seq().is_some_and(|f| self.snd_una > f);
        match self.state {
            State::FinWait1 if fin_acked => {
                self.state = State::FinWait2;
                // The sending side is finished: an owner waiting for that (a lingering
                // close) must hear of it, even when the ACK carried no data's worth.
                self.events.set(Events::WRITABLE);
                if !self.owned {
                    self.close_at = Some(ctx.now + ctx.cfg.fin_wait2_timeout);
                }
            }
            State::Closing if fin_acked => {
                self.enter_time_wait(ctx);
                return false;
            }
            State::LastAck if fin_acked => {
                self.enter_closed(None);
                return false;
            }
            _ => {}
        }
        true
    }

    fn sample_rtt(&mut self, ctx: &mut Ctx<'_>, ack: SeqNum) {
        if let Some((end, sent)) = self.rtt_probe
            && ack >= end
        {
            self.rtt.sample(ctx.now - sent);
            self.rtt_probe = None;
        }
    }

    /// RFC 6937 §3 DeliveredData of the ACK being processed: the change in SND.UNA plus
    /// the change in SACKed bytes since the snapshot taken before it was read.
    fn delivered_data(&self, una_before: SeqNum, sacked_before: usize) -> usize {
        (self.snd_una - una_before + self.sack.sacked_bytes()).saturating_sub(sacked_before)
    }

    /// `sacked_before`: the SACKed bytes before this ACK's blocks were added.
    fn on_new_ack(&mut self, ctx: &mut Ctx<'_>, ack: SeqNum, sacked_before: usize) {
        let now = ctx.now;
        let una_before = self.snd_una;
        let data_acked = if ack > self.tx_seq { (ack - self.tx_seq).min(self.tx.len()) } else { 0 };
        let sacked_mid = self.sack.sacked_bytes();
        self.tx.consume(data_acked);
        self.activity.bytes_acked += data_acked as u64;
        self.buffers_drained(now);
        self.tx_seq += data_acked;
        let acked = ack - self.snd_una;
        self.snd_una = ack;
        if self.snd_nxt < ack {
            self.snd_nxt = ack;
        }
        self.sack.advance(ack);
        self.retransmitted.advance(ack);
        self.records.acked(ack);
        // Delivered segments: SYN and FIN count one each; data SACKed earlier was counted
        // when it was SACKed.
        let resacked = sacked_mid - self.sack.sacked_bytes().min(sacked_mid);
        let fresh = data_acked.saturating_sub(resacked).div_ceil(usize::from(self.eff_mss()));
        self.activity.delivered += (acked.saturating_sub(data_acked) + fresh) as u32;
        self.sample_rtt(ctx, ack);
        self.retries = 0;
        // Like Linux: forward progress ends the backoff even without a fresh sample.
        self.rtt.reset_backoff();
        // RFC 6298 §5.2 / §5.3.
        self.rtx_at = if self.snd_una == self.snd_max { None } else { Some(now + self.rtt.rto()) };
        let mss = u32::from(self.eff_mss());
        if self.recovery.after_timeout && ack >= self.recovery.recover {
            self.recovery.after_timeout = false;
        }
        if self.recovery.active {
            if ack >= self.recovery.recover {
                self.recovery.active = false;
                self.recovery.inflation = 0;
                self.cc.on_recovery_exit(now, self.flight_size());
                self.rack.on_recovery_exit();
            } else if !self.opts.sack {
                // RFC 6582 §3.2 step 5: a partial ACK retransmits the next hole at once and
                // deflates the window by what it acked, adding back one SMSS.
                self.rtx_now = Some(self.snd_una);
                let deflated = self.recovery.inflation.saturating_sub(acked as u32);
                self.recovery.inflation = if acked as u32 >= mss { deflated + mss } else { deflated };
            }
        } else if data_acked > 0 && self.cwnd_limited() {
            // The window grows by what this ACK newly reports delivered (RFC 6937's
            // DeliveredData, less the SYN and FIN), as Linux's does: data SACKed earlier
            // was reported by duplicate ACKs, which do not grow it (RFC 5681 §3.2), and is
            // not counted again now; without SACK each duplicate ACK stood for a segment
            // delivered.
            let credit = if self.opts.sack {
                self.delivered_data(una_before, sacked_before).saturating_sub(acked - data_acked)
            } else {
                data_acked.saturating_sub(self.recovery.dupacks as usize * usize::from(self.eff_mss()))
            };
            let flight = self.flight_size();
            if credit > 0 {
                self.cc.on_ack(now, credit as u32, flight);
            }
        }
        self.recovery.dupacks = 0;
        if data_acked > 0 {
            self.tx_expand();
            self.events.set(Events::WRITABLE);
            self.cork_acked();
        }
    }

    fn on_dup_ack(&mut self, ctx: &mut Ctx<'_>) {
        self.recovery.dupacks += 1;
        if self.recovery.active {
            if !self.opts.sack {
                // RFC 6582 §3.2 step 4: each further duplicate ACK inflates the window.
                self.recovery.inflation += u32::from(self.eff_mss());
            }
            return;
        }
        // RFC 6582 §3.2 step 2: no second fast retransmit for losses from before `recover`.
        // With SACK, once reordering has been seen, RACK alone decides (its window
        // absorbs what three duplicates would have called a loss).
        if self.recovery.dupacks as usize >= DUP_THRESH
            && self.snd_una >= self.recovery.recover
            && !(self.opts.sack && self.rack.reordering_seen())
        {
            self.enter_recovery(ctx);
        }
    }

    pub(super) fn enter_recovery(&mut self, ctx: &mut Ctx<'_>) {
        self.end_tail_probe();
        let flight = self.flight_size();
        self.recovery.active = true;
        self.recovery.recover = self.snd_max;
        self.recovery.high_rxt = self.snd_una;
        self.recovery.prr = super::prr::Prr::start(flight as usize);
        self.cc.on_congestion_event(ctx.now, flight);
        // RFC 6675 (4.3) / RFC 6582 step 2: retransmit the first unacknowledged segment.
        self.rtx_now = Some(self.snd_una);
        self.rtt_probe = None;
        ctx.stats.fast_retransmits += 1;
        if self.opts.sack {
            ctx.stats.sack_recoveries += 1;
            self.recovery.inflation = 0;
        } else {
            ctx.stats.newreno_recoveries += 1;
            self.recovery.inflation = DUP_THRESH as u32 * u32::from(self.eff_mss());
        }
    }

    /// PRR's count for an ACK in SACK recovery (`prr.rs`).
    pub(super) fn prr_on_ack(&mut self, delivered: usize, safe_ack: bool) {
        let pipe = self.recovery_pipe();
        let ssthresh = self.cc.ssthresh() as usize;
        self.recovery.prr.on_ack(delivered, pipe, ssthresh, usize::from(self.eff_mss()), safe_ack);
    }

    /// RFC 9293 §3.10.7.4 seventh and eighth: segment text and FIN. `data_seq` is the
    /// sequence number of the first payload byte.
    fn accept_text_and_fin(&mut self, ctx: &mut Ctx<'_>, h: &TcpHeader, data_seq: SeqNum, payload: &[u8]) {
        if !self.owned
            && matches!(self.state, State::FinWait1 | State::FinWait2)
            && !payload.is_empty()
            && data_seq + payload.len() > self.rcv_nxt
        {
            // New data for a connection the application has closed: nobody will read it.
            // RFC 1122 §4.2.2.13 (RFC 9293 §3.6.1): reset to show the data was lost, as
            // Linux does (TCPAbortOnData), with the RST a segment carrying an ACK gets
            // (<SEQ=SEG.ACK><CTL=RST>, RFC 9293 §3.10.7.1), instead of holding it.
            ctx.stats.aborts_on_data += 1;
            self.rst_reply = Some(h.ack);
            self.enter_closed(None);
            return;
        }
        let mut fin = h.flags.fin();
        if self.state.can_receive() && !payload.is_empty() {
            self.activity.data_received = ctx.now;
            let mut start = data_seq;
            let mut data = payload;
            if start < self.rcv_nxt {
                let skip = (self.rcv_nxt - start).min(data.len());
                self.note_duplicate(start, start + skip);
                data = &data[skip..];
                start = self.rcv_nxt;
            }
            // Trim to the window; a FIN beyond it is not accepted either.
            let wnd = (self.rcv_adv - self.rcv_nxt).max(self.advertisable_window());
            let room = (self.rcv_nxt + wnd) - start;
            if data.len() > room {
                data = &data[..room];
                fin = false;
            }
            if self.mem_hard {
                // Held memory at its limit (windows are offered from what is left once
                // promises are counted, so data inside one rarely gets here): keep only
                // what needs no allocation, hold nothing out of order; the peer
                // retransmits the rest once memory frees up.
                let fit = if start == self.rcv_nxt {
                    self.rx.window_without_growth(crate::config::BufferMemory::MIN_BUFFER)
                } else {
                    0
                };
                if data.len() > fit {
                    data = &data[..fit];
                    fin = false;
                    ctx.drops.memory_limit += 1;
                    self.ack_state = AckState::Now;
                }
            }
            let had_holes = self.rx.has_out_of_order();
            let inserted = if data.is_empty() {
                None
            } else if !had_holes && start == self.rcv_nxt && ctx.adopt.reserve(data) {
                // The packet's memory becomes the receive buffer's once it is processed.
                Some(self.rx.reserve(data.len()))
            } else {
                Some(self.rx.insert(self.rcv_nxt, start, data))
            };
            match inserted {
                None => {}
                Some(RxInsert::InOrder(n)) => {
                    self.grow_window(n);
                    self.data_rcv_at = Some(ctx.now);
                    self.rcv_nxt += n;
                    self.rcv_rtt_measure(ctx.now);
                    self.activity.bytes_received += n as u64;
                    self.unacked_bytes += n;
                    self.events.set(Events::READABLE);
                    // A full-sized segment is the peer's: the largest it sent so far, or its
                    // MSS before that, never more than ours.
                    self.rcv_seg_max = self.rcv_seg_max.max(u16::try_from(payload.len()).unwrap_or(u16::MAX)).min(self.rcv_mss);
                    let full = usize::from(self.rcv_seg_max.max(self.opts.snd_mss.min(self.rcv_mss)));
                    if had_holes || self.unacked_bytes >= 2 * full {
                        // RFC 5681 §4.2: ACK at once when a gap fills, and at least every
                        // second full-sized segment.
                        self.ack_state = AckState::Now;
                    } else if self.quickack || (self.quick_acks_left > 0 && !self.interactive) {
                        self.quick_acks_left = self.quick_acks_left.saturating_sub(1);
                        self.ack_state = AckState::Now;
                    } else if self.ack_state == AckState::Idle {
                        self.ack_state = AckState::Delayed;
                        self.delack_at = Some(ctx.now + ctx.cfg.delayed_ack);
                    }
                }
                Some(RxInsert::OutOfOrder) => {
                    ctx.stats.ooo_segments += 1;
                    // Out-of-order data opens the window only with SACK: a duplicate ACK
                    // carries an unchanged window (RFC 5681 §2), and without SACK those are
                    // all the sender has to find the loss (as Linux's tcp_data_queue_ofo).
                    if self.opts.sack {
                        self.grow_window(data.len());
                    }
                    // Loss or reordering: ACK at once from here on (Linux's
                    // tcp_enter_quickack_mode leaves pingpong mode too).
                    self.interactive = false;
                    // RFC 5681 §4.2: an out-of-order segment gets an immediate duplicate ACK.
                    self.ack_state = AckState::Now;
                }
                Some(RxInsert::Duplicate) => {
                    ctx.stats.duplicate_segments += 1;
                    self.note_duplicate(start, start + data.len());
                    self.ack_state = AckState::Now;
                }
                Some(RxInsert::NoRoom) => {
                    ctx.drops.reassembly_full += 1;
                    self.ack_state = AckState::Now;
                    fin = false;
                }
            }
        }
        if fin && matches!(self.state, State::SynReceived | State::Established | State::FinWait1 | State::FinWait2) {
            let fin_seq = data_seq + payload.len();
            if fin_seq == self.rcv_nxt {
                self.on_fin(ctx);
            } else if fin_seq > self.rcv_nxt {
                self.ooo_fin = Some(fin_seq);
                self.ack_state = AckState::Now;
            }
        } else if self.ooo_fin == Some(self.rcv_nxt) && !self.fin_received {
            self.on_fin(ctx);
        }
        if fin && self.state == State::TimeWait {
            self.close_at = Some(ctx.now + ctx.cfg.fin_cache.duration(crate::fincache::MslClass::Remote));
            self.ack_state = AckState::Now;
        }
    }

    /// RFC 9293 §3.10.7.4 eighth.
    fn on_fin(&mut self, ctx: &mut Ctx<'_>) {
        self.ooo_fin = None;
        self.rcv_nxt += 1;
        self.fin_received = true;
        self.ack_state = AckState::Now;
        self.delack_at = None;
        self.events.set(Events::READABLE);
        match self.state {
            State::SynReceived | State::Established => self.state = State::CloseWait,
            State::FinWait1 => {
                // Our FIN is not yet acknowledged (that case moved us to FIN-WAIT-2).
                self.state = State::Closing;
            }
            State::FinWait2 => self.enter_time_wait(ctx),
            _ => {}
        }
    }
}

impl Connection {
    /// RFC 2883: `[left, right)` arrived again; with SACK in use the next ACK reports it.
    fn note_duplicate(&mut self, left: SeqNum, right: SeqNum) {
        if self.opts.sack && right > left {
            self.dsack = Some((left, right));
        }
    }
}
