//! Deciding and building the next segment: SYN / SYN-ACK, owed retransmissions, RFC 6675
//! NextSeg in SACK recovery, new data under the congestion and send windows with Nagle and
//! sender SWS avoidance, FIN, probes, and bare ACKs.

use super::{AckState, Connection, Ctx, State};
use crate::cc::CongestionControl;
use crate::seq::SeqNum;
use crate::wire::{
    PROTO_TCP, TcpFlags, TcpHeader, TcpOptions, Timestamps, emit_ip_header, fill_tcp_checksum, fill_tcp_checksum_partial_for,
    ip_header_len,
};

/// The largest IP packet a super-segment may make (the IPv4 total length and the IPv6
/// payload length are 16 bits; ringtcp does not use IPv6 jumbograms).
const MAX_SUPER_PACKET: usize = 65_535;
/// TCP header bytes at most (options included), reserved when sizing a super-segment.
const MAX_TCP_HEADER: usize = 60;

/// A segment about to be built.
struct Plan {
    seq: SeqNum,
    flags: TcpFlags,
    /// Offset into the send buffer and length of the payload.
    data: (usize, usize),
    syn: bool,
    /// A super-segment of segments of this many payload bytes, for the device to cut.
    segment_size: Option<u16>,
}

impl Connection {
    /// Writes the next IPv4 packet this connection wants to send into `buf` and returns its
    /// length, or `None` if it has nothing to send now.
    pub(crate) fn poll_segment(&mut self, ctx: &mut Ctx<'_>, buf: &mut [u8]) -> Option<usize> {
        let n = self.next_segment(ctx, buf);
        if n.is_none() {
            // What was sendable has left: what holds the rest back is settled for now.
            self.chrono_update(ctx.now);
        }
        n
    }

    fn next_segment(&mut self, ctx: &mut Ctx<'_>, buf: &mut [u8]) -> Option<usize> {
        if self.rst_now {
            self.rst_now = false;
            ctx.stats.out_rsts += 1;
            let plan = Plan { seq: self.acceptable_seq(), flags: TcpFlags::RST | TcpFlags::ACK, data: (0, 0), syn: false, segment_size: None };
            return self.emit(ctx, buf, plan);
        }
        if let Some(seq) = self.rst_reply.take() {
            ctx.stats.out_rsts += 1;
            return self.emit(ctx, buf, Plan { seq, flags: TcpFlags::RST, data: (0, 0), syn: false, segment_size: None });
        }
        match self.state {
            State::Closed | State::Listen => return None,
            State::SynSent | State::SynReceived | State::FinWait1 if self.snd_una == self.iss => {
                // Our SYN is not yet acknowledged: (re)send it and nothing else.
                if self.snd_nxt == self.iss || self.synack_now {
                    self.synack_now = false;
                    let flags = if self.state == State::SynSent { TcpFlags::SYN } else { TcpFlags::SYN | TcpFlags::ACK };
                    if self.snd_max != self.iss {
                        ctx.stats.tcp_retrans_segs += 1;
                        if self.state == State::SynSent
                            && let Some(f) = self.fast_open.as_deref_mut()
                        {
                            // Like Linux, a retransmitted SYN drops Fast Open (data and
                            // option): a middlebox may be what dropped the first.
                            f.cookie = None;
                        }
                    } else {
                        self.rtt_probe = Some((self.iss + 1, ctx.now));
                    }
                    // RFC 7413 §4.1: a Fast Open client's first SYN carries the data queued
                    // with its cookie; a retransmitted SYN goes without (Linux: the data
                    // may be what the path or the server drops).
                    let syn_data = if self.state == State::SynSent && self.snd_max == self.iss && self.fast_open.as_ref().is_some_and(|f| f.no_cookie || f.cookie.is_some_and(|c| !c.cookie().is_empty())) {
                        self.tx.len()
                    } else {
                        0
                    };
                    let n = self.emit(ctx, buf, Plan { seq: self.iss, flags, data: (0, syn_data), syn: true, segment_size: None })?;
                    self.snd_nxt = self.iss + 1 + syn_data;
                    self.snd_max = self.snd_max.max(self.snd_nxt);
                    if syn_data > 0 {
                        self.activity.data_sent = ctx.now;
                    }
                    self.arm_rtx(ctx.now);
                    return Some(n);
                }
                if self.sends_early() {
                    // RFC 7413 §4.2.2: a Fast Open server may send data right after its
                    // SYN-ACK, before the client's ACK arrives.
                    return self.poll_data(ctx, buf);
                }
                if self.ack_state == AckState::Now && self.state != State::SynSent {
                    return self.emit_ack(ctx, buf);
                }
                return None;
            }
            State::TimeWait => {
                return if self.ack_state == AckState::Now { self.emit_ack(ctx, buf) } else { None };
            }
            _ => {}
        }
        if let Some(n) = self.poll_data(ctx, buf) {
            return Some(n);
        }
        if self.probe_now {
            self.probe_now = false;
            // <SEQ=SND.UNA−1><ACK>: outside the peer's window, so it must answer with an ACK
            // that carries its current window (RFC 9293 §3.8.6.1, §3.8.4).
            let plan = Plan { seq: self.snd_una - 1, flags: TcpFlags::ACK, data: (0, 0), syn: false, segment_size: None };
            return self.emit(ctx, buf, plan);
        }
        if self.ack_state == AckState::Now {
            return self.emit_ack(ctx, buf);
        }
        None
    }

    fn emit_ack(&mut self, ctx: &mut Ctx<'_>, buf: &mut [u8]) -> Option<usize> {
        let plan = Plan { seq: self.acceptable_seq(), flags: TcpFlags::ACK, data: (0, 0), syn: false, segment_size: None };
        self.emit(ctx, buf, plan)
    }

    /// The sequence number for a segment without data. After an RTO pulls SND.NXT back,
    /// SND.NXT may lie below the peer's RCV.NXT, and a bare ACK from there would be out of
    /// the peer's window; if both sides did that they would answer each other's ACKs
    /// forever. So, like Linux's `tcp_acceptable_seq`, use the highest sequence number sent,
    /// but never past the right edge of the peer's window.
    fn acceptable_seq(&self) -> SeqNum {
        let wnd_end = self.snd_wnd_end();
        if self.snd_max <= wnd_end { self.snd_max } else { wnd_end }
    }

    /// 1 while our SYN is unacknowledged and something followed it (a Fast Open server
    /// sending in SYN-RECEIVED), else 0. The SYN is in neither window: the congestion
    /// window counts data, and the window of the peer's SYN (which acknowledges nothing)
    /// is room for our data from ISS + 1 (Linux's Fast Open child starts with SND.UNA
    /// there and has its whole initial window).
    pub(super) fn unacked_syn(&self) -> usize {
        usize::from(self.snd_una == self.iss && self.snd_nxt > self.iss)
    }

    /// The right edge of the peer's receive window (SND.UNA + SND.WND, past our SYN
    /// while it is unacknowledged: see [`unacked_syn`](Self::unacked_syn)).
    pub(super) fn snd_wnd_end(&self) -> SeqNum {
        self.snd_una + (self.snd_wnd as usize + self.unacked_syn())
    }

    /// Data, retransmissions and FIN.
    fn poll_data(&mut self, ctx: &mut Ctx<'_>, buf: &mut [u8]) -> Option<usize> {
        if !matches!(
            self.state,
            State::Established | State::CloseWait | State::FinWait1 | State::Closing | State::LastAck
        ) && !self.sends_early()
        {
            return None;
        }
        if self.pacing_holds(ctx) {
            return None;
        }
        let mss = usize::from(self.eff_mss());
        let max_payload = self.max_payload();

        // RFC 8985 §7.3: an owed tail loss probe is one segment of new data if the
        // receive window takes it (below, beyond cwnd and Nagle), else the last segment
        // sent, again.
        let probe = core::mem::take(&mut self.tlp.owed);
        if probe && !self.probe_with_new_data(max_payload) {
            let (seq, len) = self.last_segment(max_payload);
            let n = self.send_range(ctx, buf, seq, len, true)?;
            self.tail_probe_sent(ctx.now, true);
            return Some(n);
        }

        // Owed retransmission: fast retransmit on entering recovery, NewReno partial ACK.
        if let Some(seq) = self.rtx_now.take()
            && seq >= self.snd_una
            && seq < self.snd_max
            && let Some((l, r)) = self.sack.next_hole(seq, self.snd_max)
        {
            return self.send_range(ctx, buf, l, (r - l).min(max_payload), true);
        }

        if self.snd_una == self.snd_max && self.tx_end() > self.snd_nxt && self.snd_wnd > 0 && !self.recovery.active {
            self.restart_after_idle(ctx);
        }
        let sack_recovery = self.recovery.active && self.opts.sack;
        let cwnd_room = if sack_recovery {
            // RFC 6937 in place of RFC 6675 §5 step (C)'s cwnd − pipe: what the last ACK
            // let out.
            let room = self.recovery.prr.room(mss);
            if room == 0 {
                return None;
            }
            // NextSeg rule 1: a lost hole above HighRxt, or (RFC 8985 §6.2) the first piece
            // RACK deems lost, a lost retransmission included: the lower first.
            let by_rack = self.rack.next_lost(self.snd_una);
            let by_count = self.sack.next_lost(self.snd_una, self.snd_max, self.recovery.high_rxt, self.count_lost_edge());
            let lost = match (by_rack, by_count) {
                (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
                (a, b) => a.or(b),
            };
            if let Some((l, r)) = lost {
                return self.send_range(ctx, buf, l, (r - l).min(max_payload), true);
            }
            // Rule 3 (a SHOULD): when no new data may go either (rule 2), resend the first
            // un-SACKed segment below the highest SACK rather than leave the room unused
            // until the RTO.
            let new_data_may_go = self.snd_nxt == self.snd_max
                && self.tx_end() > self.snd_nxt
                && self.snd_wnd_end() > self.snd_nxt;
            if !new_data_may_go
                && let Some((l, r)) = self.sack.next_unsacked(self.snd_una, self.snd_max, self.recovery.high_rxt)
            {
                return self.send_range(ctx, buf, l, (r - l).min(max_payload), true);
            }
            room
        } else {
            // Limited transmit (RFC 3042, RFC 5681 §3.2 steps 1-2): the first and second
            // duplicate ACK each let one segment of new data out beyond cwnd, so a small
            // window still gets the three duplicates fast retransmit needs. With SACK the
            // segments the duplicates SACK leave the flight and make that room already.
            let limited = if !self.recovery.active && !self.opts.sack && self.snd_nxt == self.snd_max {
                self.recovery.dupacks.min(2) as usize * mss
            } else {
                0
            };
            let cwnd = self.cc.cwnd() as usize + self.recovery.inflation as usize + limited;
            // SACKed data above SND.NXT (pulled back by an RTO) is not in this flight.
            let flight = (self.snd_nxt - self.snd_una).saturating_sub(self.sack.sacked_below(self.snd_nxt) + self.unacked_syn());
            let room = cwnd.saturating_sub(flight);
            if probe { room.max(max_payload) } else { room }
        };

        // After an RTO SND.NXT is pulled back: skip what the peer already SACKed.
        if self.snd_nxt < self.snd_max
            && let Some((l, _)) = self.sack.next_hole(self.snd_nxt, self.snd_max)
        {
            self.snd_nxt = l;
        }
        let retransmit = self.snd_nxt < self.snd_max;
        let data_end = self.tx_end();
        let avail = data_end - self.snd_nxt;
        let wnd_room = self.snd_wnd_end() - self.snd_nxt;
        // New data outside loss recovery may leave as one super-segment where the device
        // segments: the segments are the ones that would have left one by one now (the
        // same windows, so ACK clocking and congestion control see no difference), and the
        // device cuts them at `max_payload`, so every later retransmission, SACK block
        // and hole lines up with what the peer received.
        let super_cap = if ctx.tx.enabled && !retransmit && !self.recovery.active {
            let room = ctx.gather.room(buf).min(MAX_SUPER_PACKET).saturating_sub(ip_header_len(self.remote.ip()) + MAX_TCP_HEADER);
            (room / max_payload * max_payload).max(max_payload)
        } else {
            max_payload
        };
        let mut len = avail.min(if probe { max_payload } else { super_cap }).min(wnd_room).min(cwnd_room);
        // A record end (MSG_EOR) closes the segment; one that reaches it may go even if
        // short, for it is not the tail that Nagle and SWS avoidance hold back.
        let (clipped, mut ends_record) = self.records.clip(self.snd_nxt, len);
        len = clipped;
        if len > max_payload && !len.is_multiple_of(max_payload) {
            // A super-segment ends on a segment boundary, but for a tail that would leave
            // at once anyway (the end of the queue with Nagle satisfied, a record's end):
            // a short segment in the middle of a flight is what sender SWS avoidance forbids.
            let tail_may_go = ends_record || (len == avail && self.short_tail_may_go());
            if !tail_may_go {
                len -= len % max_payload;
            }
        }
        if retransmit && let Some((_, hole_end)) = self.sack.next_hole(self.snd_nxt, self.snd_max) {
            len = len.min(hole_end - self.snd_nxt);
            ends_record = self.records.clip(self.snd_nxt, len).1;
        }
        if len > 0 && len < max_payload && !retransmit && !self.sws_override && !probe {
            // Nagle (RFC 896 / RFC 9293 §3.7.4) for the tail of the queue; sender SWS
            // avoidance (RFC 9293 §3.8.6.2.1) for a window-limited piece.
            let ok = if len == avail {
                self.short_tail_may_go()
            } else {
                ends_record || len >= (self.max_snd_wnd as usize) / 2
            };
            if !ok {
                len = 0;
            }
        }
        let fin = self.fin_queued && self.snd_nxt + len == data_end;
        if len == 0 && !fin {
            if avail > 0 && !retransmit && cwnd_room < avail.min(max_payload) {
                self.note_cwnd_use(true);
            }
            if avail > 0 && self.snd_max == self.snd_una && self.persist_at.is_none() && self.rtx_at.is_none() {
                // Blocked by the peer's window with nothing in flight: only the persist timer
                // can get things moving again (RFC 9293 §3.8.6.1).
                self.persist_at = Some(ctx.now + self.rtt.rto());
            }
            return None;
        }
        if sack_recovery {
            self.recovery.prr.sent(len);
            if retransmit {
                self.recovery.high_rxt = self.recovery.high_rxt.max(self.snd_nxt + len);
            }
        }
        self.sws_override = false;
        self.cork_segment_sent();
        let seq = self.snd_nxt;
        let mut flags = TcpFlags::ACK;
        if fin {
            flags |= TcpFlags::FIN;
        }
        // PSH on the segment that empties the queue, and, as Linux does, on the last one
        // a burst can send before the congestion or receive window stops it: the data so
        // far is all the receiver gets for a while, so it should not sit in its buffer
        // (RFC 9293 §3.9.1.2 leaves when to push to the sender).
        let room_after = cwnd_room.min(wnd_room).saturating_sub(len);
        let next_len = (avail - len).min(max_payload);
        if len > 0 && (seq + len == data_end || ends_record || (!retransmit && room_after < next_len)) {
            flags |= TcpFlags::PSH;
        }
        let offset = seq - self.tx_seq;
        let segment_size = (len > max_payload).then(|| u16::try_from(max_payload).unwrap_or(u16::MAX));
        let n = self.emit(ctx, buf, Plan { seq, flags, data: (offset, len), syn: false, segment_size })?;
        self.paced(ctx, len, len.div_ceil(max_payload).max(1));
        self.snd_nxt = seq + len + usize::from(fin);
        if self.snd_nxt > self.snd_max {
            self.note_new_segment(seq);
            self.rack.sent(self.snd_max.max(seq), seq + len, ctx.now, max_payload);
            if !len.is_multiple_of(max_payload) {
                // The last (or only) segment of this send is short.
                self.snd_sml = seq + len;
            }
            if len > 0 {
                self.activity.data_sent = ctx.now;
                // A reply within a delayed-ACK time of what we received: the peer's next
                // data may wait for ours to carry its ACK (Linux's tcp_event_data_sent).
                if self.data_rcv_at.is_some_and(|t| ctx.now - t < ctx.cfg.delayed_ack) {
                    self.interactive = true;
                }
            }
            self.snd_max = self.snd_nxt;
            self.notsent_drained();
            self.note_cwnd_use(cwnd_room <= len);
            if self.rtt_probe.is_none() && !retransmit {
                self.rtt_probe = Some((self.snd_nxt, ctx.now));
            }
        }
        if retransmit {
            ctx.stats.tcp_retrans_segs += 1;
            self.activity.retransmitted_segments += 1;
            self.retransmitted.add(self.snd_una, self.snd_max, seq, seq + len);
            self.rack.resent(seq, seq + len, ctx.now);
            self.rtt_probe = None;
        }
        self.arm_rtx(ctx.now);
        if probe {
            self.tail_probe_sent(ctx.now, false);
        } else if !retransmit {
            self.schedule_tail_probe(ctx);
        }
        Some(n)
    }

    /// RFC 6675 §4 SetPipe, less what RACK deems lost and has not sent again.
    pub(super) fn recovery_pipe(&self) -> usize {
        let lost_edge = self.count_lost_edge();
        self.sack
            .pipe(self.snd_una, self.snd_max, self.recovery.high_rxt, lost_edge)
            .saturating_sub(self.rack.pipe_overcount(lost_edge.unwrap_or(self.snd_una), self.recovery.high_rxt))
    }

    /// RFC 6675's IsLost edge (what three SACKed segments above deem lost) until
    /// reordering has been seen; from then on only RACK's time-based verdicts count, so
    /// reordering that RACK's window absorbs costs no retransmission (RFC 8985 §6.2 step
    /// 4; Linux, with RACK on, uses no count).
    pub(super) fn count_lost_edge(&self) -> Option<SeqNum> {
        if self.rack.reordering_seen() { None } else { self.sack.lost_edge(usize::from(self.eff_mss())) }
    }

    /// Nagle's test (RFC 9293 §3.7.4) in Minshall's form, as Linux has it: a short segment
    /// waits only while an earlier short segment is unacknowledged, not behind any data.
    /// So the short tail of a large write goes at once instead of one round trip (or a
    /// delayed ACK) later, and short segments are still at most one per round trip.
    pub(super) fn no_small_segment_in_flight(&self) -> bool {
        self.snd_sml <= self.snd_una || self.no_data_in_flight()
    }

    /// Nothing unacknowledged but, for a Fast Open connection, its own SYN-ACK: Nagle's
    /// "no outstanding data" counts data, and the SYN-ACK is not data.
    fn no_data_in_flight(&self) -> bool {
        self.snd_max == self.snd_una || (self.sends_early() && self.snd_max == self.iss + 1)
    }

    /// New data is about to leave with nothing in flight: the controller hears how long
    /// the sender was idle, and after more than an RTO the window restarts (RFC 5681 §4.1).
    fn restart_after_idle(&mut self, ctx: &mut Ctx<'_>) {
        let idle = ctx.now.saturating_duration_since(self.activity.data_sent);
        self.cc.on_transmit_start(ctx.now, idle);
        let rto = self.rtt.rto();
        if ctx.cfg.slow_start_after_idle && idle > rto {
            self.cc.restart_after_idle(idle, rto);
            ctx.stats.idle_restarts += 1;
        }
    }

    /// Retransmits `[seq, seq + len)` (within a hole) without moving SND.NXT.
    fn send_range(&mut self, ctx: &mut Ctx<'_>, buf: &mut [u8], seq: SeqNum, len: usize, count: bool) -> Option<usize> {
        let data_end = self.tx_end();
        let len = self.records.clip(seq, len.min(data_end - seq)).0;
        let fin = self.fin_queued && seq + len == data_end;
        if len == 0 && !fin {
            return None;
        }
        let mut flags = TcpFlags::ACK;
        if fin {
            flags |= TcpFlags::FIN;
        }
        let offset = seq - self.tx_seq;
        let n = self.emit(ctx, buf, Plan { seq, flags, data: (offset, len), syn: false, segment_size: None })?;
        self.paced(ctx, len, 1);
        if self.recovery.active {
            self.recovery.high_rxt = self.recovery.high_rxt.max(seq + len);
            self.recovery.prr.sent(len);
        }
        if count {
            ctx.stats.tcp_retrans_segs += 1;
            self.activity.retransmitted_segments += 1;
            self.retransmitted.add(self.snd_una, self.snd_max, seq, seq + len);
            self.rack.resent(seq, seq + len, ctx.now);
        }
        self.rtt_probe = None;
        self.arm_rtx(ctx.now);
        Some(n)
    }

    /// Payload bytes that fit one segment beside the options it will carry.
    fn max_payload(&self) -> usize {
        let opts = self.segment_options(false, Default::default());
        usize::from(self.opts.snd_mss).saturating_sub(opts.wire_len()).max(1)
    }

    fn segment_options(&self, syn: bool, now: crate::time::Instant) -> TcpOptions {
        let mut o = TcpOptions::default();
        if syn {
            o.mss = Some(self.rcv_mss);
            if self.opts.wscale_ok {
                o.window_scale = Some(self.opts.rcv_wscale);
            }
            o.sack_permitted = self.opts.sack;
            if matches!(self.state, State::SynReceived | State::SynSent) {
                o.fast_open = self.fast_open.as_ref().and_then(|f| f.cookie);
            }
        }
        // In SYN-SENT only the SYN offers timestamps: a RST from there (to a SYN-ACK we
        // refuse) goes before they were agreed (RFC 7323 §3.2).
        if self.opts.timestamps && (syn || self.state != State::SynSent) {
            let ecr = if syn && self.state == State::SynSent { 0 } else { self.ts_recent };
            o.timestamps = Some(Timestamps { val: self.ts_now(now), ecr });
        }
        if !syn && self.opts.sack && (self.rx.has_out_of_order() || self.dsack.is_some()) {
            // 40 option bytes hold 3 blocks beside timestamps, 4 without (RFC 2018 §3).
            let room = if self.opts.timestamps { 3 } else { 4 };
            o.sack = match self.dsack {
                // RFC 2883 §4: the duplicate's block first, then the usual ones.
                Some((l, r)) => {
                    let mut blocks = crate::wire::SackBlocks::default();
                    blocks.push(l, r);
                    for &(l, r) in self.rx.sack_blocks(room - 1).as_slice() {
                        blocks.push(l, r);
                    }
                    blocks
                }
                None => self.rx.sack_blocks(room),
            };
        }
        o
    }

    /// The window field for a non-SYN segment; moves RCV.ADV (never left).
    fn window_field(&mut self) -> u16 {
        let shift = self.opts.rcv_wscale;
        let announced = self.rcv_adv - self.rcv_nxt;
        let free = self.advertisable_window();
        let step = (self.rx.capacity() / 2).min(usize::from(self.rcv_mss));
        // Receiver SWS avoidance (RFC 9293 §3.8.6.2.2): keep the old right edge unless the
        // window grows by a meaningful step.
        let wnd = if free >= announced + step || free < announced { free.max(announced) } else { announced };
        // A window that is not a whole number of scale units is rounded up where we could
        // offer that much anyway, as Linux does: rounded down, the edge a SYN-ACK offered
        // (65,535 bytes) would move left by a unit at the first scaled window (RFC 7323
        // §2.4 allows either; shrinking is the one the peer must work around).
        let unit = 1usize << shift;
        let up = wnd.div_ceil(unit) * unit;
        let wnd = if up <= free { up } else { wnd };
        let field = (wnd >> shift).min(65_535);
        let edge = self.rcv_nxt + (field << shift);
        if edge > self.rcv_adv {
            self.rcv_adv = edge;
        }
        field as u16
    }

    fn emit(&mut self, ctx: &mut Ctx<'_>, buf: &mut [u8], plan: Plan) -> Option<usize> {
        let (local, remote) = (self.local, self.remote);
        let options = self.segment_options(plan.syn, ctx.now);
        if !plan.syn {
            // A D-SACK is reported once (RFC 2883 §4).
            self.dsack = None;
        }
        let window = if plan.syn {
            // SYN windows are not scaled (RFC 7323 §2.2). A SYN-ACK's window is a promise
            // like any other: it sets the right edge (and so counts against memory).
            let w = self.advertisable_window().min(65_535);
            if self.state == State::SynReceived && self.rcv_adv < self.rcv_nxt + w {
                self.rcv_adv = self.rcv_nxt + w;
            }
            w as u16
        } else if plan.flags.rst() && !plan.flags.ack() {
            0
        } else {
            self.window_field()
        };
        let with_ack = plan.flags.ack();
        let header = TcpHeader {
            src_port: local.port(),
            dst_port: remote.port(),
            seq: plan.seq,
            ack: if with_ack { self.rcv_nxt } else { SeqNum(0) },
            flags: plan.flags,
            window,
            urgent: 0,
            options,
        };
        let hlen = header.wire_len();
        let (offset, len) = plan.data;
        let ip_len = ip_header_len(remote.ip());
        let total = ip_len + hlen + len;
        // A data segment for a device that checksums and gathers leaves its payload in
        // the send buffer: only the headers are built here.
        let gathered = ctx.gather.on && ctx.tx.enabled && len > 0;
        let built = if gathered { ip_len + hlen } else { total };
        if ctx.gather.room(buf) < total || buf.len() < built {
            return None;
        }
        emit_ip_header(buf, local.ip(), remote.ip(), PROTO_TCP, hlen + len, self.ttl, *ctx.ip_ident, self.tos)?;
        if self.pmtud == crate::options::PathMtuDiscovery::Dont && remote.is_ipv4() {
            crate::wire::clear_ipv4_dont_fragment(buf);
        }
        *ctx.ip_ident = ctx.ip_ident.wrapping_add(1);
        let seg = &mut buf[ip_len..built];
        header.emit(seg);
        if gathered {
            self.tx.gather_out(offset, len, &mut ctx.gather.slices);
        } else if len > 0 {
            self.tx.copy_out(offset, &mut seg[hlen..]);
        }
        // A device that checksums completes a data segment's checksum (the part worth
        // sparing: a pass over the payload); the rest get theirs here.
        ctx.tx.segment_size = plan.segment_size;
        ctx.tx.partial_checksum = ctx.tx.enabled && len > 0;
        if ctx.tx.partial_checksum {
            fill_tcp_checksum_partial_for(seg, local.ip(), remote.ip(), hlen + len);
        } else {
            fill_tcp_checksum(seg, local.ip(), remote.ip());
        }
        if with_ack {
            self.last_ack_sent = self.rcv_nxt;
            self.ack_state = AckState::Idle;
            self.delack_at = None;
            self.unacked_bytes = 0;
        }
        // Counted as the segments and packets the device will send.
        let segments = plan.segment_size.map_or(1, |s| len.div_ceil(usize::from(s).max(1))) as u64;
        ctx.stats.tcp_out_segs += segments;
        ctx.stats.ip_out_requests += segments;
        Some(total)
    }
}
