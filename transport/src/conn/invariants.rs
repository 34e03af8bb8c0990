//! What must hold for a connection between any two calls, whatever arrived: checked by
//! the fuzz targets after every step, so a violation is found where it is caused.

use super::{Connection, State};

impl Connection {
    /// Checks the sequence spaces, buffers and timers; the message says what broke.
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        let fail = |what: &str| Err(format!("{}:{} {:?}: {what}", self.remote, self.local.port(), self.state));
        // RFC 9293 §3.3.1: SND.UNA ≤ SND.NXT ≤ SND.MAX.
        if self.snd_nxt.diff(self.snd_una) < 0 {
            return fail(&format!("SND.NXT {} before SND.UNA {}", self.snd_nxt, self.snd_una));
        }
        if self.snd_max.diff(self.snd_nxt) < 0 {
            return fail(&format!("SND.NXT {} past SND.MAX {}", self.snd_nxt, self.snd_max));
        }
        if self.tx.len() > self.tx.bound() {
            return fail("send buffer over its bound");
        }
        if self.rx.len() > self.rx.capacity() {
            return fail("receive buffer over its bound");
        }
        if self.rx.ranges() > self.rx.max_ranges() {
            return fail("more out-of-order ranges than allowed");
        }
        let sending = matches!(self.state, State::Established | State::CloseWait | State::FinWait1 | State::Closing | State::LastAck);
        if sending {
            // Nothing is in flight that the send buffer (and a FIN) does not hold.
            let held = self.tx.len() + usize::from(self.fin_queued);
            if self.snd_max.diff(self.tx_seq) > held as i32 {
                return fail(&format!("SND.MAX {} beyond the {held} bytes held from {}", self.snd_max, self.tx_seq));
            }
            if self.snd_una.diff(self.tx_seq) > 1 {
                return fail("acknowledged bytes still in the send buffer");
            }
        }
        // Every state past SYN-RECEIVED but FIN-WAIT-1 is reached only once our SYN is
        // acknowledged.
        let past_handshake = matches!(self.state, State::Established | State::CloseWait | State::Closing | State::LastAck | State::FinWait2 | State::TimeWait);
        if past_handshake && self.snd_una == self.iss && self.snd_max != self.iss {
            return fail("past the handshake with our SYN unacknowledged");
        }
        if self.sack.sacked_bytes() > self.snd_max - self.snd_una {
            return fail("more SACKed than in flight");
        }
        // Something in flight always has a timer that will retransmit or probe it.
        let in_flight = self.snd_max != self.snd_una;
        let live = !matches!(self.state, State::Closed | State::Listen | State::TimeWait | State::FinWait2);
        if live && in_flight && self.rtx_at.is_none() && self.persist_at.is_none() {
            return fail("data in flight with no retransmission timer");
        }
        Ok(())
    }
}
