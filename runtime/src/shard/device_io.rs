//! The shard loop's device side: posting reads, reaping completions, batching writes,
//! the in-process link, and looking for work while busy polling.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use io_uring::{opcode, types};
use ringtcp_transport::Instant;

use super::{
    KIND_DOORBELL, KIND_MASK, KIND_READ, KIND_READ_MULTI, KIND_WRITE, MAX_WRITES_IN_FLIGHT, READS_IN_FLIGHT, ReadMode,
    ShardLoop,
};
use crate::bufring;
use crate::device::Device;
use crate::impair::Direction;

impl ShardLoop {
    pub(super) fn push(&mut self, sqe: io_uring::squeue::Entry) {
        // SAFETY: every buffer an entry points to is owned by `self` (rx_bufs, tx_slots,
        // doorbell_buf) and stays put until its completion is reaped.
        while unsafe { self.ring.submission().push(&sqe) }.is_err() {
            // Submission queue full: hand what is queued to the kernel and retry.
            let _ = self.ring.submit();
        }
        self.stats.submissions += 1;
    }

    pub(super) fn post_read(&mut self, i: usize) {
        let fd = self.device_fd();
        let buf = &mut self.rx_bufs[i];
        let sqe = opcode::Read::new(types::Fd(fd), buf.as_mut_ptr(), buf.len() as u32)
            .build()
            .user_data(KIND_READ | i as u64);
        self.push(sqe);
    }

    pub(super) fn post_doorbell(&mut self) {
        let ptr: *mut u64 = &mut *self.doorbell_buf;
        let sqe = opcode::Read::new(types::Fd(self.link.doorbell_fd()), ptr.cast(), 8).build().user_data(KIND_DOORBELL);
        self.push(sqe);
    }

    pub(super) fn post_read_multi(&mut self) {
        if self.bufring.is_none() {
            return;
        }
        // Length 0: each read fills one buffer of the ring, whatever its size.
        let sqe = opcode::ReadMulti::new(types::Fd(self.device_fd()), 0, bufring::GROUP).build().user_data(KIND_READ_MULTI);
        self.push(sqe);
    }

    /// The device's descriptor (-1 for an in-process link, whose I/O never reaches the ring).
    pub(super) fn device_fd(&self) -> libc::c_int {
        match &self.device {
            Device::Fd(fd) => fd.as_raw_fd(),
            Device::Queue(_) => -1,
        }
    }

    /// Hands every packet waiting on an in-process link to the transport; a link whose
    /// other end is gone stops the loop, as end of file on a socket-pair link does.
    pub(super) fn receive_in_process(&mut self, now: Instant) {
        let Device::Queue(port) = &self.device else { return };
        let mut packets = std::mem::take(&mut self.inbound);
        if !port.receive(&mut packets) {
            self.stop = true;
        }
        for p in packets.iter() {
            self.stats.packets_in += 1;
            let copies = match &mut self.impair {
                Some(imp) => imp.admit(now, Direction::Inbound, p),
                None => 1,
            };
            for _ in 0..copies {
                self.shard.handle_packet(now, p);
            }
        }
        self.inbound = packets;
    }

    /// Posts the device reads (and, with `doorbell`, the doorbell read) the loop lives on.
    pub(crate) fn start_reads(&mut self, doorbell: bool) {
        if matches!(self.device, Device::Queue(_)) {
            if doorbell {
                self.post_doorbell();
            }
            return;
        }
        if self.bufring.is_some() {
            self.post_read_multi();
        } else {
            for i in 0..READS_IN_FLIGHT {
                self.post_read(i);
            }
        }
        if doorbell {
            self.post_doorbell();
        }
    }

    /// True if a turn of the loop would find something to do now: completions, commands,
    /// packets on an in-process link, or a deadline passed.
    pub(crate) fn has_work(&mut self) -> bool {
        self.link.has_queued()
            || matches!(&self.device, Device::Queue(p) if p.has_inbound())
            || !self.ring.completion().is_empty()
            || self.next_deadline().is_some_and(|t| t <= self.now())
    }

    /// Hands queued entries to the kernel without waiting.
    pub(crate) fn submit(&mut self) -> io::Result<()> {
        match self.ring.submit() {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) || e.raw_os_error() == Some(libc::EINTR) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn count_io_error(&mut self) {
        self.stats.io_errors += 1;
    }

    /// Has the kernel signal `fd` whenever it posts a completion (thread-per-core mode
    /// waits on it through tokio's reactor instead of in `io_uring_enter`).
    pub(crate) fn register_completion_eventfd(&self, fd: libc::c_int) -> io::Result<()> {
        self.ring.submitter().register_eventfd(fd)
    }

    pub(super) fn submit_and_wait(&mut self, wait: Option<Duration>) -> io::Result<()> {
        let r = match wait {
            Some(d) => {
                let ts = types::Timespec::new().sec(d.as_secs()).nsec(d.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            None => self.ring.submit_and_wait(1),
        };
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ETIME) || e.raw_os_error() == Some(libc::EBUSY) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Handles every completion the ring holds; returns how many there were.
    pub(crate) fn reap(&mut self) -> usize {
        let mut done = std::mem::take(&mut self.completions);
        done.clear();
        for cqe in self.ring.completion() {
            done.push((cqe.user_data(), cqe.result(), cqe.flags()));
        }
        self.stats.completions += done.len() as u64;
        let now = self.now();
        for &(ud, res, flags) in &done {
            let idx = (ud & !KIND_MASK) as usize;
            match ud & KIND_MASK {
                KIND_READ_MULTI => {
                    if let Some(bid) = io_uring::cqueue::buffer_select(flags) {
                        if res > 0 {
                            self.deliver_from_ring(now, bid, res as usize);
                        }
                        if let Some(br) = &mut self.bufring {
                            br.recycle(bid);
                        }
                    } else if res < 0 && res != -libc::ENOBUFS && res != -libc::EINTR && res != -libc::EAGAIN {
                        self.stats.io_errors += 1;
                        if res == -libc::EBADF || res == -libc::EIO {
                            self.stop = true;
                            continue;
                        }
                        // The kernel refuses multishot reads on this device: plain reads.
                        self.fall_back_to_plain_reads();
                        continue;
                    }
                    if res == 0 {
                        self.stop = true;
                        continue;
                    }
                    // The kernel ends a multishot read when it runs out of buffers or on
                    // an error; start another.
                    if !io_uring::cqueue::more(flags) {
                        self.post_read_multi();
                    }
                }
                KIND_READ => {
                    if res > 0 {
                        self.stats.packets_in += 1;
                        let n = res as usize;
                        let copies = match &mut self.impair {
                            Some(imp) => imp.admit(now, Direction::Inbound, &self.rx_bufs[idx][..n]),
                            None => 1,
                        };
                        for _ in 0..copies {
                            self.shard.handle_packet(now, &self.rx_bufs[idx][..n]);
                        }
                    } else if res < 0 && res != -libc::EAGAIN && res != -libc::EINTR {
                        self.stats.io_errors += 1;
                        if res == -libc::EBADF || res == -libc::EIO {
                            // The device is gone: nothing more will arrive.
                            self.stop = true;
                            continue;
                        }
                    }
                    if res == 0 {
                        // End of file: the other end of an in-memory link closed.
                        self.stop = true;
                        continue;
                    }
                    self.post_read(idx);
                }
                KIND_WRITE => {
                    if res < 0 {
                        self.stats.io_errors += 1;
                    } else {
                        self.stats.packets_out += 1;
                    }
                    if let Some(buf) = self.tx_slots[idx].take() {
                        self.tx_spare.push(buf);
                    }
                    self.tx_free.push(idx);
                }
                KIND_DOORBELL => {
                    self.link.rearm();
                    self.post_doorbell();
                }
                _ => {}
            }
        }
        let n = done.len();
        self.completions = done;
        n
    }

    /// Hands the transport's packets to the device while there are write slots; what does
    /// not fit stays queued in the transport (its control queue and its connections), and
    /// the completions of the writes in flight bring the loop back for it. Dropping here
    /// instead would cost a retransmission timeout for a data segment under load.
    pub(super) fn flush_tx(&mut self, now: Instant) {
        loop {
            if !self.write_slot_available() {
                self.stats.tx_deferred += 1;
                return;
            }
            let mut buf = self.tx_spare.pop().unwrap_or_else(|| vec![0u8; self.mtu + 64].into_boxed_slice());
            let Some(n) = self.shard.poll_transmit(now, &mut buf) else {
                self.tx_spare.push(buf);
                return;
            };
            let copies = match &mut self.impair {
                Some(imp) => imp.admit(now, Direction::Outbound, &buf[..n]),
                None => 1,
            };
            if copies == 2 {
                self.write_packet(&buf[..n]);
            }
            if copies == 0 {
                self.tx_spare.push(buf);
            } else {
                self.submit_write(buf, n);
            }
        }
    }

    pub(super) fn fall_back_to_plain_reads(&mut self) {
        if self.bufring.take().is_some() {
            let _ = self.ring.submitter().unregister_buf_ring(bufring::GROUP);
        }
        self.link.set_read_mode(ReadMode::Plain);
        for i in 0..READS_IN_FLIGHT {
            self.post_read(i);
        }
    }

    /// Hands a packet the kernel read into ring buffer `bid` to the transport.
    pub(super) fn deliver_from_ring(&mut self, now: Instant, bid: u16, n: usize) {
        self.stats.packets_in += 1;
        let Some(br) = &self.bufring else { return };
        let packet = br.data(bid, n);
        let copies = match &mut self.impair {
            Some(imp) => imp.admit(now, Direction::Inbound, packet),
            None => 1,
        };
        for _ in 0..copies {
            self.shard.handle_packet(now, packet);
        }
    }

    /// Writes a copy of `packet` to the device (held or duplicated packets).
    pub(super) fn write_packet(&mut self, packet: &[u8]) {
        let mut buf = self.tx_spare.pop().unwrap_or_else(|| vec![0u8; self.mtu + 64].into_boxed_slice());
        let n = packet.len().min(buf.len());
        buf[..n].copy_from_slice(&packet[..n]);
        self.submit_write(buf, n);
    }

    /// True if a write can be queued now (an in-process link takes every packet).
    fn write_slot_available(&self) -> bool {
        matches!(self.device, Device::Queue(_)) || !self.tx_free.is_empty() || self.tx_slots.len() < MAX_WRITES_IN_FLIGHT
    }

    /// Queues a write of `buf[..n]`; the buffer is kept until its completion.
    pub(super) fn submit_write(&mut self, buf: Box<[u8]>, n: usize) {
        if let Device::Queue(port) = &self.device {
            match port.send(&buf[..n]) {
                Ok(()) => self.stats.packets_out += 1,
                Err(crate::device::queue::SendError::Full) => self.stats.tx_overflow += 1,
                Err(crate::device::queue::SendError::Closed) => self.stats.io_errors += 1,
            }
            self.tx_spare.push(buf);
            return;
        }
        let slot = match self.tx_free.pop() {
            Some(s) => s,
            None if self.tx_slots.len() < MAX_WRITES_IN_FLIGHT => {
                self.tx_slots.push(None);
                self.tx_slots.len() - 1
            }
            None => {
                // Every write slot busy: drop the packet as a full NIC queue would; TCP
                // retransmits it.
                self.stats.tx_overflow += 1;
                self.tx_spare.push(buf);
                return;
            }
        };
        let sqe = opcode::Write::new(types::Fd(self.device_fd()), buf.as_ptr(), n as u32)
            .build()
            .user_data(KIND_WRITE | slot as u64);
        self.tx_slots[slot] = Some(buf);
        self.push(sqe);
    }

    /// Delivers or writes the impaired packets whose delay is over.
    pub(super) fn release_held(&mut self, now: Instant) {
        while let Some((dir, bytes)) = self.impair.as_mut().and_then(|i| i.due(now)) {
            match dir {
                Direction::Inbound => self.shard.handle_packet(now, &bytes),
                Direction::Outbound => self.write_packet(&bytes),
            }
        }
    }
}
