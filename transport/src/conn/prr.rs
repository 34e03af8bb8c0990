//! Proportional Rate Reduction (RFC 6937) for SACK loss recovery: how much may be sent
//! on each ACK while the window comes down to ssthresh. RFC 6675 alone sends
//! cwnd − pipe, which after the cut is often nothing for half a round trip and then a
//! burst; PRR sends in proportion to what the peer reports delivered, so the flight
//! shrinks smoothly to ssthresh (and, once the pipe has fallen below it, grows back at
//! most slow-start fast: the reduction bound, PRR-SSRB).

/// PRR's state for one recovery.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Prr {
    /// prr_delivered: bytes the peer reported delivered since recovery began.
    delivered: usize,
    /// prr_out: bytes sent since recovery began.
    out: usize,
    /// RecoverFS: the flight when recovery began.
    recover_fs: usize,
    /// What the latest ACK lets out, less what has left since (bytes). A positive rest
    /// lets one more whole segment go, as Linux's count in whole segments rounds up.
    budget: isize,
}

impl Prr {
    /// Recovery begins with `flight` bytes outstanding.
    pub(super) fn start(flight: usize) -> Prr {
        Prr { recover_fs: flight.max(1), ..Prr::default() }
    }

    /// RFC 6937 §3, on an ACK that reported `delivered` bytes (cumulatively or by SACK)
    /// with `pipe` bytes still in flight. Below ssthresh the reduction bound is
    /// slow start's (PRR-SSRB: catch up on what was delivered, plus a segment) only on a
    /// `safe_ack`, one that acknowledged retransmitted data and showed no retransmission
    /// lost (Linux's condition, in the spirit of RFC 6937bis's SafeACK: recovery is
    /// repairing, not losing); else no more than this ACK delivered.
    pub(super) fn on_ack(&mut self, delivered: usize, pipe: usize, ssthresh: usize, mss: usize, safe_ack: bool) {
        if delivered == 0 {
            return;
        }
        self.delivered += delivered;
        let sndcnt = if pipe > ssthresh {
            // Proportional part: CEIL(prr_delivered · ssthresh / RecoverFS) − prr_out.
            signed(self.delivered.saturating_mul(ssthresh).div_ceil(self.recover_fs)) - signed(self.out)
        } else {
            let limit = if safe_ack { (signed(self.delivered) - signed(self.out)).max(signed(delivered)) + signed(mss) } else { signed(delivered) };
            limit.min(signed(ssthresh - pipe))
        };
        // The first retransmission goes whatever the count says (RFC 6937 §3: fast
        // retransmit is not subject to PRR).
        self.budget = if self.out == 0 { sndcnt.max(1) } else { sndcnt };
    }

    /// What may leave now: whole segments while the budget is positive.
    pub(super) fn room(&self, mss: usize) -> usize {
        if self.budget > 0 { (self.budget as usize).div_ceil(mss.max(1)) * mss } else { 0 }
    }

    /// `len` bytes left during recovery.
    pub(super) fn sent(&mut self, len: usize) {
        self.out += len;
        self.budget -= signed(len);
    }
}

fn signed(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    #[test]
    fn above_ssthresh_sends_in_proportion_to_what_was_delivered() {
        // Ten segments in flight, ssthresh seven: 0.7 segment per segment delivered,
        // rounded up in whole segments.
        let mut prr = Prr::start(10 * MSS);
        let mut sent = Vec::new();
        for _ in 0..5 {
            prr.on_ack(MSS, 9 * MSS, 7 * MSS, MSS, false);
            let n = prr.room(MSS) / MSS;
            for _ in 0..n {
                prr.sent(MSS);
            }
            sent.push(n);
        }
        // CEIL(0.7, 1.4, 2.1, 2.8, 3.5) less what went: 1, 1, 1, 0, 1.
        assert_eq!(sent, vec![1, 1, 1, 0, 1]);
    }

    #[test]
    fn below_ssthresh_the_reduction_bound_allows_slow_start_growth() {
        let mut prr = Prr::start(10 * MSS);
        let step = |prr: &mut Prr, delivered: usize, pipe: usize, safe: bool| {
            prr.on_ack(delivered * MSS, pipe * MSS, 7 * MSS, MSS, safe);
            let room = prr.room(MSS);
            prr.sent(room);
            room / MSS
        };
        assert_eq!(step(&mut prr, 1, 9, false), 1, "the fast retransmit");
        // Pipe far below ssthresh: a safe ACK of two segments may send three (what was
        // delivered, plus one: slow start's pace).
        assert_eq!(step(&mut prr, 2, 2, true), 3);
        assert_eq!(step(&mut prr, 2, 6, true), 1, "never beyond ssthresh − pipe");
        // Without a safe ACK the bound is what this ACK delivered, with no catching up.
        assert_eq!(step(&mut prr, 1, 2, true), 2, "catching up: prr_delivered − prr_out is 1, plus one");
        assert_eq!(step(&mut prr, 1, 2, false), 1);
    }

    #[test]
    fn the_first_retransmission_always_goes() {
        let mut prr = Prr::start(100 * MSS);
        prr.on_ack(MSS, 99 * MSS, 7 * MSS, MSS, false);
        assert_eq!(prr.room(MSS), MSS, "CEIL(7/100) rounds up to one segment anyway");
        let mut prr = Prr::start(10 * MSS);
        prr.on_ack(MSS, 20 * MSS, MSS, MSS, false);
        prr.sent(MSS);
        prr.on_ack(MSS, 20 * MSS, MSS, MSS, false);
        assert_eq!(prr.room(MSS), 0, "CEIL(2/10) − 1");
    }
}
