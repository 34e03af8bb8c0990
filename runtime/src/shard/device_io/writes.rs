//! The write side of a shard's device: the transport's packets into write buffers (or,
//! on a TUN device with offloads, headers only and the payload gathered from the send
//! buffers), through the impairment layer, into io_uring writes; an in-process link's
//! batches.

use std::time::Duration;

use io_uring::{opcode, types};
use ringtcp_transport::{Instant, Shard};

use super::{DeviceIo, HAND_OVER_AT, KIND_WRITE, MAX_WRITES_IN_FLIGHT, with_plain_vnet_header};
use crate::segmenter;
use crate::device::{Device, ReadMode, vnet};
use crate::impair::Direction;

impl DeviceIo {
    /// Hands the transport's packets to the device while there are write slots; what does
    /// not fit stays queued in the transport (its control queue and its connections), and
    /// the completions of the writes in flight bring the loop back for it. Dropping here
    /// instead would cost a retransmission timeout for a data segment under load.
    pub(in crate::shard) fn flush(&mut self, shard: &mut Shard, now: Instant) {
        if let (Device::AfXdp(port), Some(xdp)) = (&mut self.device, &mut self.xdp) {
            xdp.flush(port, shard, now, &mut self.stats);
            return;
        }
        if matches!(self.device, Device::InProcess(_)) && self.impair.is_none() {
            self.flush_in_process(shard, now);
            return;
        }
        if matches!(self.device, Device::Vnet(_)) && self.impair.is_none() {
            self.flush_gathered(shard, now);
            return;
        }
        self.flush_by_buffers(shard, now);
        self.send_outgoing();
    }

    /// Builds the transport's packets straight into the batch for an in-process link and
    /// hands it over at the end: the packet's bytes are written once, where the other
    /// shard reads them. A batch of [`HAND_OVER_AT`] bytes goes early if the other side
    /// has taken everything before, so that it need not wait for the rest; otherwise the
    /// batch grows, which keeps the batches in circulation few (each new one is grown
    /// and zeroed from nothing: handed over at every 128 KB, four streams at once made
    /// so many that the reader freed them faster than they came back, and the link cost
    /// more than the copy it saves).
    fn flush_in_process(&mut self, shard: &mut Shard, now: Instant) {
        let max = self.tx_buffers.build_len();
        loop {
            let room = self.outgoing.begin(max);
            let built = if self.offloads {
                // The other ringtcp stack takes the super-segment whole.
                shard.poll_transmit_offload(now, room).map(|t| {
                    self.stats.super_packets_out += u64::from(t.segment_size.is_some());
                    t.len
                })
            } else {
                shard.poll_transmit(now, room)
            };
            let Some(n) = built else { break };
            self.outgoing.commit(n);
            if self.outgoing.bytes() >= HAND_OVER_AT && matches!(&self.device, Device::InProcess(p) if p.outbound_taken()) {
                self.send_outgoing();
            }
        }
        self.send_outgoing();
    }

    /// Moves the packets gathered for an in-process link to its queue; what its limits
    /// leave out is dropped as a full NIC queue drops it, and TCP retransmits.
    fn send_outgoing(&mut self) {
        let Device::InProcess(port) = &self.device else { return };
        if self.outgoing.is_empty() {
            return;
        }
        let packets = self.outgoing.len() as u64;
        match port.send_batch(&mut self.outgoing) {
            Ok(dropped) => {
                self.stats.packets_out += packets - dropped as u64;
                self.stats.tx_overflow += dropped as u64;
            }
            Err(_) => self.stats.io_errors += packets,
        }
    }

    /// As [`flush`](DeviceIo::flush) on a TUN device with offloads: the headers of each
    /// packet in a small write buffer, the payload written from the send buffer where it
    /// lies (`gathered_writes.rs`).
    fn flush_gathered(&mut self, shard: &mut Shard, now: Instant) {
        loop {
            if !self.write_slot_available() {
                self.stats.tx_deferred += 1;
                return;
            }
            let mut header = self.tx_buffers.for_copy(0);
            let mut payload = std::mem::take(&mut self.gathered.payload);
            payload.clear();
            let got = shard.poll_transmit_gather(now, &mut header[vnet::HEADER_LEN..], vnet::MAX_PACKET, &mut payload);
            self.gathered.payload = payload;
            let Some(g) = got else {
                self.tx_buffers.give_back(header);
                return;
            };
            vnet::write_header(&mut header, &g.transmit);
            self.stats.super_packets_out += u64::from(g.transmit.segment_size.is_some());
            let n = vnet::HEADER_LEN + g.header_len;
            if self.gathered.payload.is_empty() {
                self.submit_write(header, n);
                continue;
            }
            let Some(slot) = self.take_write_slot() else {
                self.stats.tx_overflow += 1;
                self.tx_buffers.give_back(header);
                return;
            };
            self.stats.gathered_out += 1;
            let sqe = self.gathered.prepare(self.device_fd(), slot, &header[..n], KIND_WRITE | slot as u64);
            self.tx_slots[slot] = Some(header);
            self.push(sqe);
        }
    }

    /// As [`flush`](DeviceIo::flush), each packet built in a write buffer of its own.
    fn flush_by_buffers(&mut self, shard: &mut Shard, now: Instant) {
        loop {
            if !self.write_slot_available() {
                self.stats.tx_deferred += 1;
                return;
            }
            let mut buf = self.tx_buffers.for_building();
            let built = if matches!(self.device, Device::Vnet(_)) {
                // With offloads the frame starts with a virtio-net header saying what the
                // kernel must do: cut a super-segment, complete a partial checksum.
                shard.poll_transmit_offload(now, &mut buf[vnet::HEADER_LEN..]).map(|t| {
                    vnet::write_header(&mut buf, &t);
                    self.stats.super_packets_out += u64::from(t.segment_size.is_some());
                    (vnet::HEADER_LEN + t.len, t.segment_size)
                })
            } else if self.offloads {
                // The other ringtcp stack takes the super-segment whole.
                shard.poll_transmit_offload(now, &mut buf).map(|t| {
                    self.stats.super_packets_out += u64::from(t.segment_size.is_some());
                    (t.len, t.segment_size)
                })
            } else {
                shard.poll_transmit(now, &mut buf).map(|n| (n, None))
            };
            let Some((n, segment_size)) = built else {
                self.tx_buffers.give_back(buf);
                return;
            };
            if self.impair.is_some()
                && let Some(size) = segment_size
                && let Some(segments) = self.cut_outbound(&buf[..n], size)
            {
                // Impaired segment by segment, as the link beyond the device would.
                self.tx_buffers.give_back(buf);
                for seg in &segments {
                    let copies = self.impair.as_mut().map_or(1, |imp| imp.admit(now, Direction::Outbound, seg));
                    for _ in 0..copies {
                        self.write_copy(seg);
                    }
                }
                continue;
            }
            let buf = self.tx_buffers.fit(buf, n);
            let copies = match &mut self.impair {
                Some(imp) => imp.admit(now, Direction::Outbound, &buf[..n]),
                None => 1,
            };
            if copies == 2 {
                self.write_copy(&buf[..n]);
            }
            if copies == 0 {
                self.tx_buffers.give_back(buf);
            } else {
                self.submit_write(buf, n);
            }
        }
    }

    /// Writes what the transport has to send and waits, at most `limit`, for every write
    /// to complete: for a shard's last packets, which must reach the device before the
    /// ring and the device are closed.
    pub(in crate::shard) fn finish_writes(&mut self, shard: &mut Shard, now: Instant, limit: Duration, read_mode: impl Fn(ReadMode)) {
        let deadline = std::time::Instant::now() + limit;
        loop {
            self.flush(shard, now);
            // With no write in flight every slot is free, so `flush` emptied the transport.
            if self.tx_slots.iter().all(Option::is_none) {
                return;
            }
            let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) else { return };
            if self.submit_and_wait(Some(left)).is_err() {
                return;
            }
            self.reap(shard, now, &read_mode);
        }
    }

    /// Delivers or writes the impaired packets whose delay is over.
    pub(in crate::shard) fn release_held(&mut self, shard: &mut Shard, now: Instant) {
        while let Some((dir, bytes)) = self.impair.as_mut().and_then(|i| i.due(now)) {
            match dir {
                Direction::Inbound if self.xdp.is_some() => {
                    if let Some(xdp) = &mut self.xdp {
                        xdp.link().handle_frame(now, &bytes, shard);
                    }
                }
                Direction::Inbound => {
                    let framing = self.framing();
                    Self::hand_over(&mut self.stats, framing, shard, now, &bytes);
                }
                Direction::Outbound => self.write_copy(&bytes),
            }
        }
    }

    /// A super-segment about to be written, cut into frames of this device's framing.
    fn cut_outbound(&self, frame: &[u8], size: u16) -> Option<Vec<Vec<u8>>> {
        if matches!(self.device, Device::Vnet(_)) {
            let segments = segmenter::split(frame.get(vnet::HEADER_LEN..)?, usize::from(size))?;
            Some(segments.into_iter().map(with_plain_vnet_header).collect())
        } else {
            segmenter::split(frame, usize::from(size))
        }
    }

    /// Writes a copy of `packet` (held or duplicated by the impairment layer).
    fn write_copy(&mut self, packet: &[u8]) {
        let mut buf = self.tx_buffers.for_copy(packet.len());
        let n = packet.len().min(buf.len());
        buf[..n].copy_from_slice(&packet[..n]);
        self.submit_write(buf, n);
    }

    /// True if a write can be queued now (an in-process link takes every packet).
    fn write_slot_available(&self) -> bool {
        matches!(self.device, Device::InProcess(_)) || !self.tx_free.is_empty() || self.tx_slots.len() < MAX_WRITES_IN_FLIGHT
    }

    /// A free write slot, if any.
    fn take_write_slot(&mut self) -> Option<usize> {
        self.tx_free.pop().or_else(|| {
            (self.tx_slots.len() < MAX_WRITES_IN_FLIGHT).then(|| {
                self.tx_slots.push(None);
                self.tx_slots.len() - 1
            })
        })
    }

    /// Queues a write of `buf[..n]`; the buffer is kept until its completion.
    fn submit_write(&mut self, buf: Box<[u8]>, n: usize) {
        if let Device::InProcess(_) = &self.device {
            // Gathered with the rest, in order; handed over at the end of the flush.
            if !self.outgoing.push(&buf[..n]) {
                self.stats.tx_overflow += 1;
            }
            self.tx_buffers.give_back(buf);
            return;
        }
        let Some(slot) = self.take_write_slot() else {
            // Every write slot busy: drop the packet as a full NIC queue would; TCP
            // retransmits it.
            self.stats.tx_overflow += 1;
            self.tx_buffers.give_back(buf);
            return;
        };
        let sqe = opcode::Write::new(types::Fd(self.device_fd()), buf.as_ptr(), n as u32).build().user_data(KIND_WRITE | slot as u64);
        self.tx_slots[slot] = Some(buf);
        self.push(sqe);
    }
}
