//! A shard's I/O: its io_uring, its packet device and its doorbell read. Packets read
//! from the device (or taken from an in-process link) pass the impairment layer, when one
//! is configured, and go to the transport in one place ([`DeviceIo::deliver`]); packets
//! the transport emits are written in batches while write slots are free.
//!
//! Reads are one multishot read into a provided-buffer ring where the kernel has it
//! (6.7+), otherwise [`PLAIN_READS`] plain reads kept posted; an in-process link is read
//! once per turn of the loop, with no system call.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use io_uring::{IoUring, opcode, types};
use ringtcp_transport::buffer_pool::PACKET_BLOCK;
use ringtcp_transport::{Instant, Shard};

use crate::bufring::{self, BufRing};
use crate::device::{Device, ReadMode, in_process, vnet};
use crate::doorbell::Doorbell;
use crate::impair::{Direction, ImpairConfig, Impairer};
use crate::segmenter;
use crate::setup::io_uring_error;
use crate::stats::IoStats;

use super::gathered_writes::GatheredWrites;
use super::tx_buffers::TxBuffers;
use super::xdp_io::XdpIo;

/// Plain reads kept posted on a device without multishot reads.
mod writes;

const PLAIN_READS: usize = 32;
const MAX_WRITES_IN_FLIGHT: usize = 512;
/// Bytes of packets gathered for an in-process link after which they are handed over in
/// the middle of a flush, if the other shard has taken everything before: it starts on
/// them while the rest are built.
const HAND_OVER_AT: usize = 128 << 10;
/// Buffers in the provided-buffer ring for multishot reads.
const RING_BUFFERS: u16 = 512;
/// Buffers in the ring of a device with offloads, each big enough for a 64 KB
/// super-packet (8 MB a shard).
const RING_BUFFERS_VNET: u16 = 128;
const KIND_READ: u64 = 1 << 56;
const KIND_WRITE: u64 = 2 << 56;
const KIND_DOORBELL: u64 = 3 << 56;
const KIND_READ_MULTI: u64 = 4 << 56;
/// The AF_XDP socket has frames (a multishot poll: the turn reads the ring).
const KIND_POLL_XSK: u64 = 5 << 56;
/// The AF_XDP device's packet socket has ARP or neighbour-discovery frames.
const KIND_POLL_CONTROL: u64 = 6 << 56;
const KIND_MASK: u64 = 0xff << 56;

/// How the packets read from a device reach the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// Bare packets, every checksum checked.
    Plain,
    /// After a virtio-net header that says what the kernel vouches for.
    Vnet,
    /// From the other ringtcp stack of an in-process link: partial checksums and
    /// super-segments, taken whole.
    Trusted,
}

/// The ring, the device and the buffers their I/O uses.
pub(super) struct DeviceIo {
    ring: IoUring,
    /// Multishot reads into provided buffers, when the kernel has them.
    bufring: Option<BufRing>,
    device: Device,
    doorbell: Arc<Doorbell>,
    /// Packets taken from an in-process link, reused between turns.
    inbound: in_process::Inbound,
    /// Packets for an in-process link, built here in place and handed over whole.
    outgoing: in_process::Batch,
    rx_bufs: Vec<Box<[u8]>>,
    tx_slots: Vec<Option<Box<[u8]>>>,
    tx_free: Vec<usize>,
    tx_buffers: TxBuffers,
    /// Writes whose payload comes straight from send buffers (after `ring`: dropped once
    /// the ring can no longer read their memory).
    gathered: GatheredWrites,
    doorbell_buf: Box<u64>,
    /// Completions of one wake-up, reused so reaping allocates nothing.
    completions: Vec<(u64, i32, u32)>,
    /// The device takes super-segments and partial checksums: a TUN queue with offloads,
    /// or an in-process link (whose other end is a ringtcp stack of this process).
    offloads: bool,
    /// The link's MTU: the size of the segments an in-process super-segment stands for.
    mtu: usize,
    impair: Option<Impairer>,
    /// On an AF_XDP device: the link layer and the state of its rings and sockets.
    xdp: Option<XdpIo>,
    stats: IoStats,
    /// The device is gone (end of file, a closed link, a failed descriptor).
    gone: bool,
}

impl DeviceIo {
    /// Sets up the ring for `device` and chooses how to read it (reported through
    /// `read_mode`).
    pub(super) fn new(
        device: Device,
        doorbell: Arc<Doorbell>,
        mtu: usize,
        impair: Option<ImpairConfig>,
        plain_reads: bool,
        link_offloads: bool,
        read_mode: impl FnOnce(ReadMode),
    ) -> io::Result<DeviceIo> {
        let mut builder = IoUring::builder();
        builder.setup_single_issuer().setup_coop_taskrun();
        let ring = match builder.build(1024) {
            Ok(r) => r,
            // Kernels before 6.0 lack SINGLE_ISSUER; try without the flags.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => IoUring::new(1024).map_err(io_uring_error)?,
            Err(e) => return Err(io_uring_error(e)),
        };
        let in_process = matches!(device, Device::InProcess(_) | Device::AfXdp(_));
        if let Device::InProcess(port) = &device {
            port.attach(doorbell.clone());
        }
        let xdp = match &device {
            Device::AfXdp(port) => {
                port.mesh.attach(doorbell.clone());
                Some(XdpIo::new(port))
            }
            _ => None,
        };
        let mut probe = io_uring::Probe::new();
        let multishot = !in_process
            && !plain_reads
            && ring.submitter().register_probe(&mut probe).is_ok()
            && probe.is_supported(opcode::ReadMulti::CODE);
        let vnet = matches!(device, Device::Vnet(_));
        let offloads = vnet || (matches!(device, Device::InProcess(_)) && link_offloads);
        // A read buffer holds a packet of the MTU and some slack, or, with a virtio-net
        // header, the header and a 64 KB super-packet.
        let small_frame = if vnet { vnet::HEADER_LEN } else { 0 } + mtu + 64;
        let frame_len = if vnet { vnet::HEADER_LEN + vnet::MAX_PACKET } else { small_frame };
        let big_frame = offloads.then_some(if vnet { vnet::HEADER_LEN } else { 0 } + vnet::MAX_PACKET);
        let ring_buffers = if vnet { RING_BUFFERS_VNET } else { RING_BUFFERS };
        // With a virtio-net header the ring's buffers are the pool's packet blocks, which a
        // receive buffer may keep (`deliver_block`).
        let ring_frame = if vnet { PACKET_BLOCK } else { frame_len };
        let bufring = if multishot { BufRing::new(&ring, ring_buffers, ring_frame).ok() } else { None };
        read_mode(if xdp.is_some() {
            ReadMode::AfXdp
        } else if in_process {
            ReadMode::InProcess
        } else if bufring.is_some() {
            ReadMode::Multishot
        } else {
            ReadMode::Plain
        });
        Ok(DeviceIo {
            ring,
            bufring,
            device,
            doorbell,
            inbound: in_process::Inbound::default(),
            outgoing: in_process::Batch::default(),
            rx_bufs: (0..PLAIN_READS).map(|_| vec![0u8; frame_len].into_boxed_slice()).collect(),
            tx_slots: Vec::new(),
            tx_free: Vec::new(),
            tx_buffers: TxBuffers::new(small_frame, big_frame),
            gathered: GatheredWrites::default(),
            doorbell_buf: Box::new(0),
            completions: Vec::with_capacity(256),
            offloads,
            mtu,
            impair: impair.map(Impairer::new),
            xdp,
            stats: IoStats { offloads, ..IoStats::default() },
            gone: false,
        })
    }

    pub(super) fn stats(&self) -> &IoStats {
        &self.stats
    }

    /// True once the device is gone: the shard stops.
    pub(super) fn is_gone(&self) -> bool {
        self.gone
    }

    pub(super) fn count_io_error(&mut self) {
        self.stats.io_errors += 1;
    }

    /// When a packet the impairment layer holds back is due.
    pub(super) fn next_due(&self) -> Option<Instant> {
        let held = self.impair.as_ref().and_then(|i| i.next_due());
        [held, self.xdp.as_ref().and_then(XdpIo::next_due)].into_iter().flatten().min()
    }

    /// On an AF_XDP device, makes TCP packets to `port` the stack's (a listener opened,
    /// a bound port connected); elsewhere every packet to the stack's addresses is its own.
    pub(super) fn claim_port(&self, port: u16) {
        if let Device::AfXdp(p) = &self.device {
            p.program.claim_port(port);
        }
    }

    /// On an AF_XDP device, gives `port` back to the kernel (its last listener closed).
    pub(super) fn release_port(&self, port: u16) {
        if let Device::AfXdp(p) = &self.device {
            p.program.release_port(port);
        }
    }

    /// On an AF_XDP device: its modes, hand-offs and link layer.
    pub(super) fn af_xdp_stats(&self) -> Option<crate::stats::AfXdpStats> {
        match (&self.device, &self.xdp) {
            (Device::AfXdp(port), Some(xdp)) => Some(xdp.stats(port)),
            _ => None,
        }
    }

    /// Hands one received frame (a packet, after its virtio-net header on a device with
    /// offloads) to the transport, through the impairment layer: the one place every read
    /// path delivers.
    fn deliver(&mut self, shard: &mut Shard, now: Instant, frame: &[u8]) {
        self.stats.packets_in += 1;
        if self.impair.is_some()
            && let Some(segments) = self.cut_inbound(frame)
        {
            // Counted as `hand_over` counts them: the ones the kernel handed over.
            self.stats.super_packets_in += u64::from(matches!(self.framing(), Framing::Vnet));
            for seg in &segments {
                self.deliver_impaired(shard, now, seg);
            }
            return;
        }
        self.deliver_impaired(shard, now, frame);
    }

    /// A received super-segment cut into the segments it stands for, each a frame of this
    /// device's framing, so that the impairment layer loses or reorders segments as a link
    /// would, not whole flights. The segment size is the virtio-net header's, or, from an
    /// in-process link (which carries no header), what the MTU leaves after the headers.
    fn cut_inbound(&self, frame: &[u8]) -> Option<Vec<Vec<u8>>> {
        match self.framing() {
            Framing::Vnet => {
                let h = vnet::VnetHeader::parse(frame)?;
                if !h.is_super_packet() {
                    return None;
                }
                let segments = segmenter::split(&frame[vnet::HEADER_LEN..], usize::from(h.gso_size))?;
                Some(segments.into_iter().map(with_plain_vnet_header).collect())
            }
            Framing::Trusted => segmenter::split(frame, self.mtu.saturating_sub(segmenter::header_len(frame)?)),
            Framing::Plain => None,
        }
    }

    fn deliver_impaired(&mut self, shard: &mut Shard, now: Instant, frame: &[u8]) {
        let copies = match &mut self.impair {
            Some(imp) => imp.admit(now, Direction::Inbound, frame),
            None => 1,
        };
        let framing = self.framing();
        for _ in 0..copies {
            Self::hand_over(&mut self.stats, framing, shard, now, frame);
        }
    }

    fn framing(&self) -> Framing {
        match self.device {
            Device::Vnet(_) => Framing::Vnet,
            Device::InProcess(_) if self.offloads => Framing::Trusted,
            Device::InProcess(_) | Device::Fd(_) | Device::AfXdp(_) => Framing::Plain,
        }
    }

    /// Gives the transport the frame in `block[..len]`, a virtio-net header and a packet,
    /// letting it keep the block for a large payload (one copy fewer on the way to the
    /// application); returns the block unless it was kept.
    fn deliver_block(&mut self, shard: &mut Shard, now: Instant, block: Box<[u8]>, len: usize) -> Option<Box<[u8]>> {
        self.stats.packets_in += 1;
        let Some(vouched) = Self::vnet_frame(&mut self.stats, &block[..len.min(block.len())]) else { return Some(block) };
        let back = shard.handle_packet_in(now, block, vnet::HEADER_LEN..len, vouched);
        self.stats.blocks_kept_in += u64::from(back.is_none());
        back
    }

    /// The virtio-net header of `frame`, counted: `Some(true)` if the kernel vouches for
    /// the packet's checksum, `None` if the frame is shorter than its header (not a packet
    /// the kernel would hand over).
    fn vnet_frame(stats: &mut IoStats, frame: &[u8]) -> Option<bool> {
        let Some(header) = vnet::VnetHeader::parse(frame) else {
            stats.io_errors += 1;
            return None;
        };
        if header.is_super_packet() {
            stats.super_packets_in += 1;
        }
        if header.checksum_vouched() {
            stats.checksum_vouched_in += 1;
        }
        Some(header.checksum_vouched())
    }

    /// Gives the transport one frame: with a virtio-net header, a packet whose checksum
    /// the kernel vouches for skips the transport's check; from the other ringtcp stack of
    /// an in-process link, every packet does.
    fn hand_over(stats: &mut IoStats, framing: Framing, shard: &mut Shard, now: Instant, frame: &[u8]) {
        match framing {
            Framing::Plain => return shard.handle_packet(now, frame),
            Framing::Trusted => return shard.handle_offloaded_packet(now, frame),
            Framing::Vnet => {}
        }
        let Some(vouched) = Self::vnet_frame(stats, frame) else { return };
        let packet = &frame[vnet::HEADER_LEN..];
        if vouched {
            shard.handle_offloaded_packet(now, packet);
        } else {
            shard.handle_packet(now, packet);
        }
    }

    fn push(&mut self, sqe: io_uring::squeue::Entry) {
        // SAFETY: every buffer an entry points to is owned by `self` (rx_bufs, tx_slots,
        // doorbell_buf, the buffer ring) and stays put until its completion is reaped.
        while unsafe { self.ring.submission().push(&sqe) }.is_err() {
            // Submission queue full: hand what is queued to the kernel and retry.
            let _ = self.ring.submit();
        }
        self.stats.submissions += 1;
    }

    /// The device's descriptor (-1 for an in-process link, whose I/O never reaches the ring).
    fn device_fd(&self) -> libc::c_int {
        match &self.device {
            Device::Fd(fd) | Device::Vnet(fd) => fd.as_raw_fd(),
            Device::InProcess(_) | Device::AfXdp(_) => -1,
        }
    }

    fn post_read(&mut self, i: usize) {
        let fd = self.device_fd();
        let buf = &mut self.rx_bufs[i];
        let sqe = opcode::Read::new(types::Fd(fd), buf.as_mut_ptr(), buf.len() as u32).build().user_data(KIND_READ | i as u64);
        self.push(sqe);
    }

    fn post_doorbell(&mut self) {
        let ptr: *mut u64 = &mut *self.doorbell_buf;
        let sqe = opcode::Read::new(types::Fd(self.doorbell.fd()), ptr.cast(), 8).build().user_data(KIND_DOORBELL);
        self.push(sqe);
    }

    fn post_read_multi(&mut self) {
        if self.bufring.is_none() {
            return;
        }
        // Length 0: each read fills one buffer of the ring, whatever its size.
        let sqe = opcode::ReadMulti::new(types::Fd(self.device_fd()), 0, bufring::GROUP).build().user_data(KIND_READ_MULTI);
        self.push(sqe);
    }

    /// Posts the device reads (and, with `doorbell`, the doorbell read) the loop lives on.
    pub(super) fn start_reads(&mut self, doorbell: bool) {
        if let Device::AfXdp(port) = &self.device {
            let (xsk, control) = (port.xsk.fd(), port.control.fd());
            self.post_poll(xsk, KIND_POLL_XSK);
            self.post_poll(control, KIND_POLL_CONTROL);
        } else if !matches!(self.device, Device::InProcess(_)) {
            if self.bufring.is_some() {
                self.post_read_multi();
            } else {
                for i in 0..PLAIN_READS {
                    self.post_read(i);
                }
            }
        }
        if doorbell {
            self.post_doorbell();
        }
    }

    /// Watches `fd` for readability until cancelled (re-armed if the kernel ends it).
    fn post_poll(&mut self, fd: libc::c_int, kind: u64) {
        let sqe = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32).multi(true).build().user_data(kind);
        self.push(sqe);
    }

    fn fall_back_to_plain_reads(&mut self, read_mode: impl FnOnce(ReadMode)) {
        if self.bufring.take().is_some() {
            let _ = self.ring.submitter().unregister_buf_ring(bufring::GROUP);
        }
        read_mode(ReadMode::Plain);
        for i in 0..PLAIN_READS {
            self.post_read(i);
        }
    }

    /// Hands every packet waiting on an in-process link to the transport; a link whose
    /// other end is gone ends the device, as end of file on a socket-pair link does.
    pub(super) fn receive_in_process(&mut self, shard: &mut Shard, now: Instant) {
        if let (Device::AfXdp(port), Some(xdp)) = (&mut self.device, &mut self.xdp) {
            xdp.receive(port, shard, now, &mut self.impair, &mut self.stats);
            return;
        }
        let Device::InProcess(port) = &self.device else { return };
        let mut packets = std::mem::take(&mut self.inbound);
        if !port.receive(&mut packets) {
            self.gone = true;
        }
        for p in packets.iter() {
            self.deliver(shard, now, p);
        }
        self.inbound = packets;
    }

    /// True if packets wait on an in-process link or completions in the ring.
    pub(super) fn has_input(&mut self) -> bool {
        if let (Device::AfXdp(port), Some(xdp)) = (&mut self.device, &mut self.xdp)
            && xdp.has_input(port)
        {
            return true;
        }
        matches!(&self.device, Device::InProcess(p) if p.has_inbound()) || !self.ring.completion().is_empty()
    }

    /// Hands queued entries to the kernel without waiting.
    pub(super) fn submit(&mut self) -> io::Result<()> {
        match self.ring.submit() {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) || e.raw_os_error() == Some(libc::EINTR) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Has the kernel signal `fd` whenever it posts a completion (a thread-per-core shard
    /// waits on it through tokio's reactor instead of in `io_uring_enter`).
    pub(super) fn register_completion_eventfd(&self, fd: libc::c_int) -> io::Result<()> {
        self.ring.submitter().register_eventfd(fd)
    }

    /// Submits and sleeps in the kernel until a completion or `wait` has passed.
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
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EBUSY | libc::EINTR)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Handles every completion the ring holds, delivering packets to `shard`; returns
    /// how many there were.
    pub(super) fn reap(&mut self, shard: &mut Shard, now: Instant, read_mode: impl Fn(ReadMode)) -> usize {
        let mut done = std::mem::take(&mut self.completions);
        done.clear();
        for cqe in self.ring.completion() {
            done.push((cqe.user_data(), cqe.result(), cqe.flags()));
        }
        self.stats.completions += done.len() as u64;
        for &(ud, res, flags) in &done {
            let idx = (ud & !KIND_MASK) as usize;
            match ud & KIND_MASK {
                KIND_READ_MULTI => self.multishot_read_done(shard, now, res, flags, &read_mode),
                KIND_READ => {
                    if res > 0 {
                        let buf = std::mem::take(&mut self.rx_bufs[idx]);
                        self.deliver(shard, now, &buf[..res as usize]);
                        self.rx_bufs[idx] = buf;
                    } else if self.read_failed(res) {
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
                        self.tx_buffers.give_back(buf);
                    }
                    self.gathered.completed(idx);
                    self.tx_free.push(idx);
                }
                KIND_DOORBELL => {
                    self.doorbell.rearm();
                    self.post_doorbell();
                }
                KIND_POLL_XSK | KIND_POLL_CONTROL => self.poll_done(ud & KIND_MASK, res, flags),
                _ => {}
            }
        }
        let n = done.len();
        self.completions = done;
        n
    }

    /// A poll of the AF_XDP device's sockets fired (or ended: re-armed).
    fn poll_done(&mut self, kind: u64, res: i32, flags: u32) {
        if res < 0 && res != -libc::ECANCELED {
            self.stats.io_errors += 1;
        }
        if kind == KIND_POLL_CONTROL
            && let Some(xdp) = &mut self.xdp
        {
            xdp.control_ready();
        }
        if !io_uring::cqueue::more(flags)
            && let Device::AfXdp(port) = &self.device
        {
            let fd = if kind == KIND_POLL_XSK { port.xsk.fd() } else { port.control.fd() };
            self.post_poll(fd, kind);
        }
    }

    /// A read returned `res <= 0`: true if the device is gone (end of file: the other end
    /// of a socket-pair link closed; or a dead descriptor), counting real errors.
    fn read_failed(&mut self, res: i32) -> bool {
        if res == 0 {
            self.gone = true;
            return true;
        }
        if res != -libc::EAGAIN && res != -libc::EINTR {
            self.stats.io_errors += 1;
            if res == -libc::EBADF || res == -libc::EIO {
                self.gone = true;
                return true;
            }
        }
        false
    }

    fn multishot_read_done(&mut self, shard: &mut Shard, now: Instant, res: i32, flags: u32, read_mode: &impl Fn(ReadMode)) {
        if let Some(bid) = io_uring::cqueue::buffer_select(flags) {
            if let Some(mut br) = self.bufring.take() {
                if res > 0 && matches!(self.framing(), Framing::Vnet) && self.impair.is_none() {
                    let block = br.take(bid);
                    let back = self.deliver_block(shard, now, block, res as usize);
                    let buf = back.unwrap_or_else(|| br.new_buffer());
                    br.put(bid, buf);
                } else if res > 0 {
                    self.deliver(shard, now, br.data(bid, res as usize));
                }
                br.recycle(bid);
                self.bufring = Some(br);
            }
        } else if res < 0 && res != -libc::ENOBUFS && res != -libc::EINTR && res != -libc::EAGAIN {
            self.stats.io_errors += 1;
            if res == -libc::EBADF || res == -libc::EIO {
                self.gone = true;
            } else {
                // The kernel refuses multishot reads on this device: plain reads.
                self.fall_back_to_plain_reads(read_mode);
            }
            return;
        }
        if res == 0 {
            self.gone = true;
            return;
        }
        // The kernel ends a multishot read when it runs out of buffers or on an error;
        // start another.
        if !io_uring::cqueue::more(flags) {
            self.post_read_multi();
        }
    }
}

/// `packet` behind an all-zero virtio-net header: one segment, its checksum complete.
fn with_plain_vnet_header(packet: Vec<u8>) -> Vec<u8> {
    let mut frame = vec![0u8; vnet::HEADER_LEN];
    frame.extend_from_slice(&packet);
    frame
}

impl Drop for DeviceIo {
    fn drop(&mut self) {
        if self.bufring.is_some() {
            let _ = self.ring.submitter().unregister_buf_ring(bufring::GROUP);
        }
    }
}
