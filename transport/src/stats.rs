//! Counters in the spirit of `netstat -s`. Plain integers: a shard is single-threaded, the
//! runtime publishes snapshots.

macro_rules! counters {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct $name {
            $($(#[$fm])* pub $field: u64,)*
        }

        impl $name {
            /// Every counter with its name, in declaration order.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
                [$((stringify!($field), self.$field)),*].into_iter()
            }

            /// Adds another shard's counters to these.
            pub fn add(&mut self, other: &$name) {
                $(self.$field += other.$field;)*
            }
        }
    };
}

/// The same shape for counters kept elsewhere in the crate (the link layer's).
pub(crate) use counters;

counters! {
    /// Packets dropped, by reason.
    Drops {
        /// IPv4 header checksum wrong.
        bad_ip_checksum,
        /// TCP or ICMP checksum wrong.
        bad_checksum,
        /// Shorter than its headers claim.
        truncated,
        /// Not IPv4 or IPv6, or a header length field out of range.
        malformed,
        /// IPv6 extension headers this host must not skip (RFC 8200 §4).
        extension_header,
        /// A TCP option with an impossible length.
        bad_option,
        /// IPv4 and IPv6 fragments (never reassembled).
        fragment,
        /// Addressed to an address this stack does not own.
        not_for_us,
        /// An IP protocol other than TCP and ICMP.
        unknown_protocol,
        /// A SYN to a listener whose SYN queue is full, with SYN cookies off.
        listen_overflow,
        /// A SYN, third ACK or cookie ACK dropped because the listener's accept queue is
        /// full (Linux's ListenOverflows): the peer retries.
        accept_queue_full,
        /// An ACK to a listener that carried no valid SYN cookie while cookies were out
        /// (forged, stale, or for another 4-tuple).
        syncookies_failed,
        /// RSTs for segments that matched nothing, not sent because of `rst_limit`.
        rst_rate_limited,
        /// A SYN or cookie ACK dropped because the shard holds `max_connections`.
        connection_limit,
        /// Received data dropped because buffer memory reached its limit.
        memory_limit,
        /// A segment outside the receive window (answered with an ACK unless RST).
        out_of_window,
        /// Rejected by PAWS (RFC 7323 §5).
        paws,
        /// An ACK for data never sent or far too old (RFC 5961 §5).
        unacceptable_ack,
        /// Out-of-order data beyond the reassembly range limit.
        reassembly_full,
        /// Challenge ACKs not sent because of the rate limit (RFC 5961 §7).
        challenge_ack_limited,
        /// An ICMP error that matched no connection or quoted a sequence number not in
        /// flight (RFC 5927 §4.1).
        icmp_unmatched,
        /// RSTs and replies that did not fit in the control queue.
        control_queue_full,
        /// A segment with neither SYN, ACK nor RST where one is required.
        no_ack,
        /// RST segments that matched nothing (never answered: RFC 9293 §3.10.7.1).
        stray_rst,
        /// A segment for a listener that was not a SYN (answered with RST if it had ACK).
        listen_non_syn,
    }
}

counters! {
    /// Transport counters for one shard.
    Stats {
        /// IP packets received (both families).
        ip_in_receives,
        /// IP packets sent (both families).
        ip_out_requests,
        /// IPv6 packets received (also counted in `ip_in_receives`).
        ip6_in_receives,
        /// TCP segments received with a valid checksum.
        tcp_in_segs,
        /// TCP segments sent.
        tcp_out_segs,
        /// Segments retransmitted.
        tcp_retrans_segs,
        /// Connections opened by `connect` (CLOSED → SYN-SENT).
        active_opens,
        /// Connections opened from a listener (LISTEN → SYN-RECEIVED).
        passive_opens,
        /// Connection attempts that failed (SYN-SENT / SYN-RECEIVED → CLOSED).
        attempt_fails,
        /// Established connections reset (by either side).
        estab_resets,
        /// RST segments received.
        in_rsts,
        /// RST segments sent.
        out_rsts,
        /// Fast retransmits (duplicate ACKs or SACK loss detection).
        fast_retransmits,
        /// Retransmission timeouts.
        rto_timeouts,
        /// SYNs whose data was taken with TCP Fast Open (RFC 7413).
        fast_open_accepted,
        /// SYN-ACKs that gave a client a Fast Open cookie (it asked, or sent a wrong one).
        fast_open_cookies_sent,
        /// Connections opened with Fast Open as a client (with a cookie or asking for one).
        fast_open_connects,
        /// Connections that sent again after an idle period longer than their RTO and
        /// restarted their congestion window (RFC 5681 §4.1).
        idle_restarts,
        /// Connections reset because data came after the application closed them
        /// (RFC 1122 §4.2.2.13; Linux's TCPAbortOnData).
        aborts_on_data,
        /// Tail loss probes sent (RFC 8985 §7.3).
        tail_loss_probes,
        /// Losses a retransmitted tail loss probe repaired, to which congestion control
        /// then reacted (RFC 8985 §7.4; Linux's TCPLossProbeRecovery).
        tail_loss_probe_recoveries,
        /// Loss recoveries started by RACK's reordering timer (RFC 8985 §6.3): a segment
        /// sent before one the peer has was still missing a round trip plus the
        /// reordering window later.
        rack_reorder_timeouts,
        /// Loss recoveries run with SACK (RFC 6675).
        sack_recoveries,
        /// Loss recoveries run without SACK (RFC 6582).
        newreno_recoveries,
        /// Challenge ACKs sent (RFC 5961).
        challenge_acks,
        /// ACKs sent after the delayed-ACK timer.
        delayed_acks,
        /// Out-of-order segments held for reassembly.
        ooo_segments,
        /// Segments that carried only data already received.
        duplicate_segments,
        /// Zero-window probes sent.
        window_probes,
        /// Keepalive probes sent.
        keepalive_probes,
        /// Connections that timed out.
        timeouts,
        /// Connections that entered TIME-WAIT.
        time_wait_entered,
        /// Path MTU reductions from ICMP fragmentation-needed and ICMPv6 packet-too-big.
        pmtu_updates,
        /// ICMP and ICMPv6 messages received.
        icmp_in,
        /// ICMP and ICMPv6 messages sent (echo replies).
        icmp_out,
        /// Embryonic connections dropped because their listener closed or they timed out.
        embryonic_drops,
        /// SYN-ACKs sent with a SYN cookie (RFC 4987).
        syncookies_sent,
        /// Connections opened by a valid SYN cookie.
        syncookies_recv,
        /// `connect` calls refused because the shard holds `max_connections`.
        connect_limited,
        /// Times buffer memory crossed into pressure (windows clamped).
        memory_pressure,
        /// Sends cut short because buffer memory reached its limit.
        send_memory_limited,
    }
}
