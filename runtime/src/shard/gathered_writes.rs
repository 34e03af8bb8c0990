//! Writes that take a packet's payload straight from the connection's send buffer: the
//! headers from a write buffer, the payload from the send buffer's chunks, in one `writev`
//! (`Shard::poll_transmit_gather`). The payload is then copied once, by the kernel, on
//! its way from the application to the device.
//!
//! The chunks must not be reused while a write may still read them. A write to a TUN
//! device completes when it is submitted, before the shard takes in any acknowledgement,
//! but io_uring may finish a write later (in its worker threads), and an acknowledgement
//! handled meanwhile frees what it covers. So while any gathered write is in flight, the
//! shard thread holds the memory it frees ([`buffer_pool::hold_freed`]) and lets it go
//! when the last one completes.

use io_uring::{opcode, squeue, types};
use ringtcp_transport::PayloadSlice;
use ringtcp_transport::buffer_pool;

#[derive(Debug, Default)]
pub(super) struct GatheredWrites {
    /// The pieces of each write slot's gathered write (empty for a plain write); a slot's
    /// vector is not touched while its write is in flight, so the kernel may read it.
    iovs: Vec<Vec<libc::iovec>>,
    in_flight: usize,
    /// Where the payload of the packet being built lies (reused).
    pub(super) payload: Vec<PayloadSlice>,
}

impl GatheredWrites {
    /// The write for slot `slot` of `header` followed by `payload`; counts it in flight
    /// (and holds freed memory from the first one on).
    pub(super) fn prepare(&mut self, fd: libc::c_int, slot: usize, header: &[u8], user_data: u64) -> squeue::Entry {
        if self.iovs.len() <= slot {
            self.iovs.resize_with(slot + 1, Vec::new);
        }
        let v = &mut self.iovs[slot];
        v.clear();
        v.push(libc::iovec { iov_base: header.as_ptr() as *mut libc::c_void, iov_len: header.len() });
        v.extend(self.payload.iter().map(|p| libc::iovec { iov_base: p.addr as *mut libc::c_void, iov_len: p.len }));
        if self.in_flight == 0 {
            buffer_pool::hold_freed(true);
        }
        self.in_flight += 1;
        opcode::Writev::new(types::Fd(fd), v.as_ptr(), v.len() as u32).build().user_data(user_data)
    }

    /// The write of slot `slot` completed (a plain one, or a gathered one).
    pub(super) fn completed(&mut self, slot: usize) {
        if let Some(v) = self.iovs.get_mut(slot)
            && !v.is_empty()
        {
            v.clear();
            self.in_flight -= 1;
            if self.in_flight == 0 {
                buffer_pool::hold_freed(false);
            }
        }
    }
}

impl Drop for GatheredWrites {
    fn drop(&mut self) {
        // The ring is gone with its writes: nothing reads the memory any more.
        if self.in_flight > 0 {
            buffer_pool::hold_freed(false);
        }
    }
}
