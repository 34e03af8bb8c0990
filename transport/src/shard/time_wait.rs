//! TIME-WAIT: connections become FIN-cache records, and records answer segments
//! (RFC 9293 §3.10.7.4, RFC 1337, RFC 6191, RFC 5961).

use std::net::{IpAddr, SocketAddr};

use super::{Control, Event, Shard, Slot, SocketHandle};
use crate::fincache::{MslClass, TwKey, TwState};
use crate::table::ConnKey;
use crate::time::Instant;
use crate::wire::{TcpSegment, Timestamps};

impl Shard {
    /// The FIN-cache key of a 4-tuple, either family, with the local address one of ours
    /// (kept as its index in the shard's addresses).
    fn tw_key(&self, local: SocketAddr, remote: SocketAddr) -> Option<TwKey> {
        let idx = self.addrs.iter().position(|a| *a == local.ip())?;
        Some(TwKey { local_idx: u8::try_from(idx).ok()?, local_port: local.port(), remote_ip: remote.ip(), remote_port: remote.port() })
    }

    /// The live record of a 4-tuple, if any.
    pub(super) fn record_for(&self, local: SocketAddr, remote: SocketAddr) -> Option<TwState> {
        self.fin_cache.get(&self.tw_key(local, remote)?)
    }

    /// An outbound connect takes over a record's 4-tuple (RFC 6191).
    pub(super) fn reuse_record(&mut self, local: SocketAddr, remote: SocketAddr) {
        if let Some(key) = self.tw_key(local, remote)
            && self.fin_cache.remove(&key).is_some()
        {
            self.fin_cache.stats_mut().reused_by_connect += 1;
        }
    }

    /// MSL class of a peer: one of our own addresses (or loopback), on an on-link prefix
    /// (IPv6 link-local `fe80::/10` always is), or remote.
    pub fn msl_class(&self, peer: IpAddr) -> MslClass {
        if peer.is_loopback() || self.is_local(peer) {
            return MslClass::Loopback;
        }
        if let IpAddr::V6(p) = peer
            && p.is_unicast_link_local()
        {
            return MslClass::Local;
        }
        let on_link = self.cfg.on_link.iter().any(|&(net, len)| crate::wire::same_network(net, peer, len));
        if on_link { MslClass::Local } else { MslClass::Remote }
    }

    /// Replaces a connection that reached TIME-WAIT (and sent its last ACK) with a record.
    /// Its owner, if it still holds the handle, keeps a remnant with the unread data.
    pub(super) fn retire_to_fin_cache(&mut self, idx: u32) {
        let Some(Slot::Live(c)) = self.conns.get(idx as usize) else { return };
        let Some(key) = self.tw_key(c.local, c.remote) else {
            // Not representable as a record (a local address past the 256th): it keeps its
            // own 2·MSL timer.
            return;
        };
        let (snd_nxt, rcv_nxt, ts_recent) = c.time_wait_view();
        let state = TwState { snd_nxt, rcv_nxt, ts_recent, class: self.msl_class(c.remote.ip()) };
        self.fin_cache.insert(self.last_now, key, state);
        self.table.remove_if(&ConnKey::new(c.local, c.remote), idx);
        let Some(Slot::Live(conn)) = self.conns.get_mut(idx as usize) else { return };
        if !conn.owned {
            self.remove_slot(idx);
            return;
        }
        let generation = conn.generation;
        let mut remnant = conn.take_remnant();
        let queue_event = !remnant.event_queued;
        remnant.event_queued = true;
        // The slot (and so the owner's handle) stays; the control block goes.
        self.make_remnant(idx, remnant);
        if queue_event {
            self.events.push_back(Event::Socket(SocketHandle { idx, generation }));
        }
    }

    /// TSval for a record's ACK: the same clock and per-connection offset the connection
    /// used, so the peer's PAWS sees it continue.
    pub(super) fn ts_val(&self, now: Instant, local: SocketAddr, remote: SocketAddr) -> u32 {
        (now.as_millis() as u32).wrapping_add(self.isn.ts_offset(&local, &remote))
    }

    fn queue_tw_ack(&mut self, local: SocketAddr, remote: SocketAddr, st: &TwState) {
        let ts = st.ts_recent.map(|ecr| Timestamps { val: 0, ecr });
        self.fin_cache.stats_mut().acks_sent += 1;
        self.push_control(Control::TwAck { local, remote, seq: st.snd_nxt, ack: st.rcv_nxt, ts });
    }

    fn rate_limited_tw_ack(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, st: &TwState) {
        if self.challenge.allow(now, self.cfg.challenge_ack_limit) {
            self.queue_tw_ack(local, remote, st);
        } else {
            self.fin_cache.stats_mut().dropped += 1;
        }
    }

    /// A segment for a 4-tuple with no connection: answer it from its record, if there is
    /// one. Returns false when there is no record.
    pub(super) fn on_record_segment(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, seg: &TcpSegment<'_>) -> bool {
        let Some(key) = self.tw_key(local, remote) else { return false };
        let Some(st) = self.fin_cache.get(&key) else { return false };
        let h = &seg.header;
        let newer_ts = |recent: u32| h.options.timestamps.map(|t| (t.val.wrapping_sub(recent) as i32) > 0);

        if h.flags.rst() {
            if self.cfg.fin_cache.rfc1337 {
                // RFC 1337: a RST must not end TIME-WAIT early.
                self.fin_cache.stats_mut().rsts_ignored += 1;
            } else if h.seq == st.rcv_nxt {
                self.fin_cache.remove(&key);
            } else {
                self.fin_cache.stats_mut().dropped += 1;
            }
            return true;
        }

        if h.flags.syn() && !h.flags.ack() {
            // RFC 9293 §3.10.7.4 / RFC 6191: a new incarnation is acceptable when provably
            // new: a newer timestamp, or without timestamps a sequence number above RCV.NXT.
            let provably_new = match st.ts_recent {
                Some(recent) => newer_ts(recent).unwrap_or(h.seq > st.rcv_nxt),
                None => h.seq > st.rcv_nxt,
            };
            if provably_new && let Some(l) = self.find_listener(local) {
                self.fin_cache.remove(&key);
                self.fin_cache.stats_mut().reopened += 1;
                // The new ISS must lie above the old SND.NXT (RFC 9293 §3.10.7.4).
                self.on_listener_syn(now, l, local, remote, h, &[], Some(st.snd_nxt + 65_536));
            } else {
                // An old duplicate SYN, or nobody listens: ACK (RFC 5961 §4) and drop.
                self.rate_limited_tw_ack(now, local, remote, &st);
            }
            return true;
        }

        // PAWS (RFC 7323 §5): an older timestamp marks an old duplicate.
        if let Some(recent) = st.ts_recent
            && newer_ts(recent) == Some(false)
            && h.options.timestamps.is_some_and(|t| t.val != recent)
        {
            self.rate_limited_tw_ack(now, local, remote, &st);
            return true;
        }

        let end = h.seq + seg.seq_len();
        if h.flags.fin() && end == st.rcv_nxt {
            // The peer retransmitted its FIN: our last ACK was lost. ACK again and restart
            // 2·MSL (RFC 9293 §3.10.7.4, TIME-WAIT).
            self.fin_cache.stats_mut().fins_reacked += 1;
            self.fin_cache.restart(now, &key);
            self.queue_tw_ack(local, remote, &st);
        } else if seg.seq_len() > 0 && end <= st.rcv_nxt {
            // An old duplicate: ACK what we have, change nothing.
            self.queue_tw_ack(local, remote, &st);
        } else {
            self.rate_limited_tw_ack(now, local, remote, &st);
        }
        true
    }
}
