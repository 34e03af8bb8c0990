//! Send-buffer autotuning (Linux's `tcp_sndbuf_expand`): a connection starts with
//! `Config::tx_buffer`, and as its congestion window opens the send buffer grows to twice
//! the window (a window in flight, and one queued behind it for the ACKs to clock out), up
//! to `Config::tx_buffer_max`. The buffer bounds what is in flight, so a fixed one would
//! hold a fast path to one buffer per round trip; it grows only with a window the network
//! has granted. A socket that sets its own send buffer (`SO_SNDBUF`) keeps it.

use super::{Connection, MemoryState};
use crate::cc::CongestionControl;

impl Connection {
    /// After an ACK freed space: grows the send buffer to twice the congestion window, if
    /// that is more than it is.
    pub(super) fn tx_expand(&mut self) {
        if self.tx_bound_max == 0 || self.mem != MemoryState::Normal {
            return;
        }
        let want = (2 * self.cc.cwnd() as usize).min(self.tx_bound_max as usize);
        if want > self.tx.bound() {
            self.tx.set_bound(want);
        }
    }
}
