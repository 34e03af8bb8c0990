//! Congestion window validation (RFC 7661's aim, the way Linux's `tcp_cwnd_validate` and
//! `tcp_is_cwnd_limited` do it): the window grows only while it is what limits the
//! sender. An application that sends less than the window allows (request / response,
//! app-limited bursts) would otherwise inflate it without the network ever having carried
//! that much, and the next large write would go out as one burst the path never proved
//! it takes.

use super::Connection;
use crate::cc::CongestionControl;
use crate::seq::SeqNum;

/// How much of the window the current round used.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct CwndUse {
    /// A send in this round was stopped by the congestion window.
    limited: bool,
    /// The largest flight (bytes, SND.MAX − SND.UNA) in this round.
    max_flight: u32,
    /// The round ends when SND.UNA reaches this.
    round_end: SeqNum,
}

impl CwndUse {
    pub(super) fn new(iss: SeqNum) -> Self {
        CwndUse { limited: false, max_flight: 0, round_end: iss }
    }
}

impl Connection {
    /// Records a transmission of new data, or a send the window stopped (`limited`).
    pub(super) fn note_cwnd_use(&mut self, limited: bool) {
        let flight = self.flight_size();
        let u = &mut self.cwnd_use;
        // A new round starts once the last one is acknowledged; within a round the
        // strongest signal wins: being limited, else the largest flight.
        if self.snd_una >= u.round_end || limited || (!u.limited && flight > u.max_flight) {
            *u = CwndUse { limited, max_flight: flight, round_end: self.snd_nxt };
        }
    }

    /// May the window grow on this ACK? Yes when the window limited the sender this round,
    /// or, in slow start, while it is less than twice the largest flight: slow start
    /// doubles what the network carried, not what it was allowed to carry.
    pub(super) fn cwnd_limited(&self) -> bool {
        let u = &self.cwnd_use;
        let cwnd = self.cc.cwnd();
        u.limited || (cwnd < self.cc.ssthresh() && u64::from(cwnd) < 2 * u64::from(u.max_flight))
    }
}
