//! ICMP and ICMPv6 errors that quote one of this connection's segments: path MTU
//! changes, hard errors for an attempt, and soft errors kept for a later timeout.

use super::{Connection, Ctx, IcmpError, State};
use crate::cc::CongestionControl;
use crate::error::Error;
use crate::seq::SeqNum;

impl Connection {
    /// An ICMP or ICMPv6 error quoting this connection (RFC 1122 §4.2.3.9, RFC 5927,
    /// RFC 1191, RFC 8201).
    pub(crate) fn on_icmp_error(&mut self, ctx: &mut Ctx<'_>, err: IcmpError, seq: SeqNum) {
        // RFC 5927 §4.1: believe only errors about data actually in flight.
        if !(seq >= self.snd_una && seq < self.snd_max) {
            ctx.drops.icmp_unmatched += 1;
            return;
        }
        match err {
            // IP_PMTUDISC_DONT and _PROBE keep the MSS whatever an IPv4 path reports.
            IcmpError::PathMtu(_) if self.remote.is_ipv4() && self.pmtud != crate::options::PathMtuDiscovery::Do => {}
            IcmpError::PathMtu(mtu) => {
                let headers = crate::wire::ip_header_len(self.remote.ip()) + crate::wire::TCP_HEADER_LEN;
                let mss = u16::try_from((mtu as usize).saturating_sub(headers)).unwrap_or(u16::MAX);
                if self.state == State::SynSent {
                    // Before the handshake ends there is no send MSS yet: the path's MTU
                    // bounds the MSS the SYN offers and, through it, the one the handshake
                    // settles on (as Linux's route MSS does). A SYN whose data the path
                    // could not carry goes again at once without it (Linux's
                    // tcp_simple_retransmit), not a whole RTO later.
                    if mss < self.rcv_mss {
                        self.rcv_mss = mss;
                        ctx.stats.pmtu_updates += 1;
                        if self.snd_max > self.iss + 1 {
                            self.snd_nxt = self.iss;
                        }
                    }
                } else if mss < self.opts.snd_mss {
                    self.opts.snd_mss = mss;
                    self.cc.set_mss(u32::from(self.eff_mss()));
                    ctx.stats.pmtu_updates += 1;
                    // Resend what was in flight at the new size, without a congestion
                    // response: the loss was the path's MTU, not congestion.
                    self.snd_nxt = self.snd_una;
                    self.rtt_probe = None;
                }
            }
            // Hard errors for a connection attempt; RFC 5461 keeps them soft once
            // synchronized.
            IcmpError::Refused if self.state == State::SynSent => {
                ctx.stats.attempt_fails += 1;
                self.enter_closed(Some(Error::ConnectionRefused));
            }
            // Linux reports a failed resolution as a local ICMP host unreachable, which
            // ends an attempt in SYN-SENT (RFC 5461 §4 argues for exactly this: the error
            // is certain, and waiting out the SYN retries helps nobody).
            IcmpError::NoNeighbour if self.state == State::SynSent => {
                ctx.stats.attempt_fails += 1;
                self.enter_closed(Some(Error::HostUnreachable));
            }
            // Like Linux (tcp_req_err): a passive connection still in the SYN queue whose
            // SYN-ACK drew a network, host or time-exceeded error most likely answered a
            // forged SYN; its slot is given back.
            IcmpError::Soft if self.in_syn_queue && seq == self.iss => {
                ctx.stats.embryonic_drops += 1;
                self.enter_closed(None);
            }
            _ => self.soft_error = Some(Error::HostUnreachable),
        }
    }
}
