//! A shard's I/O on an AF_XDP queue: frames from the socket's RX ring (those of flows
//! another shard owns handed over through the mesh), copies of ARP and neighbour
//! discovery from the packet socket, all through the link layer to the transport; the
//! link layer's frames built straight into the socket's TX frames, one kick per flush.

use ringtcp_transport::link::EthernetLink;
use ringtcp_transport::{Instant, Shard};

use crate::device::af_xdp::{self, AfXdpPort, XdpMode, XskMode};
use crate::device::in_process::{Inbound, SendError};
use crate::impair::{Direction, Impairer};
use crate::stats::{AfXdpStats, IoStats};

/// How long a flush the kernel could not finish (TX frames or ring full, device busy)
/// waits before it is tried again.
const TX_RETRY_NS: u64 = 20_000;

pub(super) struct XdpIo {
    link: EthernetLink,
    forwarded: Inbound,
    /// The packet socket signalled frames, or the last drain stopped at its limit.
    control_ready: bool,
    /// When to try a blocked flush again.
    retry_at: Option<Instant>,
    stats: AfXdpStats,
}

impl XdpIo {
    pub(super) fn new(port: &AfXdpPort) -> XdpIo {
        let mut link = EthernetLink::new(port.link.clone());
        if port.link.answers_requests {
            link.announce();
        }
        let stats = AfXdpStats {
            zero_copy: port.xsk_mode() == XskMode::ZeroCopy,
            native_xdp: port.xdp_mode() == XdpMode::Native,
            ..AfXdpStats::default()
        };
        XdpIo { link, forwarded: Inbound::default(), control_ready: true, retry_at: None, stats }
    }

    pub(super) fn link(&mut self) -> &mut EthernetLink {
        &mut self.link
    }

    pub(super) fn stats(&self, port: &AfXdpPort) -> AfXdpStats {
        let (kernel_rx_dropped, kernel_invalid_descs) = port.xsk.kernel_drops();
        AfXdpStats { link: self.link.stats().clone(), kernel_rx_dropped, kernel_invalid_descs, busy_kicks: port.xsk.busy_kicks, ..self.stats.clone() }
    }

    pub(super) fn control_ready(&mut self) {
        self.control_ready = true;
    }

    /// Takes in everything waiting: the RX ring, frames other shards handed over, the
    /// packet socket's copies; then runs the link layer's due timers.
    pub(super) fn receive(&mut self, port: &mut AfXdpPort, shard: &mut Shard, now: Instant, impair: &mut Option<Impairer>, io: &mut IoStats) {
        let (me, shards) = (port.shard, port.shards);
        let link = &mut self.link;
        let stats = &mut self.stats;
        let mesh = &port.mesh;
        port.xsk.receive(|frame| {
            io.packets_in += 1;
            if shards > 1
                && let Some(owner) = af_xdp::owner(frame, shards)
                && owner != me
            {
                match mesh.send_to(owner, frame) {
                    Ok(()) => stats.forwarded_out += 1,
                    Err(SendError::Full | SendError::Closed) => stats.forward_overflow += 1,
                }
                return;
            }
            deliver(link, shard, now, impair, frame);
        });
        if port.mesh.has_inbound() {
            let mut batch = std::mem::take(&mut self.forwarded);
            port.mesh.receive(&mut batch);
            for frame in batch.iter() {
                self.stats.forwarded_in += 1;
                deliver(&mut self.link, shard, now, impair, frame);
            }
            self.forwarded = batch;
        }
        if self.control_ready {
            let link = &mut self.link;
            self.control_ready = !port.control.drain(|frame| deliver(link, shard, now, impair, frame));
        }
        if self.link.poll_timeout().is_some_and(|t| t <= now) {
            self.link.handle_timeout(now, shard);
        }
    }

    /// Builds the link layer's frames (the transport's packets behind their Ethernet
    /// headers) in free TX frames and kicks the kernel once.
    pub(super) fn flush(&mut self, port: &mut AfXdpPort, shard: &mut Shard, now: Instant, io: &mut IoStats) {
        let frame_room = usize::from(shard.config().mtu) + ringtcp_transport::wire::ETHERNET_HEADER_LEN;
        let link = &mut self.link;
        self.retry_at = None;
        loop {
            match port.xsk.send_with(|buf| link.poll_transmit(now, shard, &mut buf[..frame_room.min(af_xdp::FRAME_SIZE as usize)])) {
                Some(true) => io.packets_out += 1,
                Some(false) => break,
                None => {
                    // Every TX frame is in the kernel's hands: the rest stays in the
                    // transport until completions bring frames back.
                    io.tx_deferred += 1;
                    self.retry_at = Some(now + std::time::Duration::from_nanos(TX_RETRY_NS));
                    break;
                }
            }
        }
        if !port.xsk.flush() {
            self.retry_at = Some(now + std::time::Duration::from_nanos(TX_RETRY_NS));
        }
    }

    /// When the loop must come back: a link-layer timer, or a blocked flush.
    pub(super) fn next_due(&self) -> Option<Instant> {
        [self.link.poll_timeout(), self.retry_at].into_iter().flatten().min()
    }

    pub(super) fn has_input(&mut self, port: &mut AfXdpPort) -> bool {
        self.control_ready || port.xsk.has_input() || port.mesh.has_inbound()
    }
}

/// One frame to the link layer, through the impairment layer when there is one (frames
/// it holds back come back through [`deliver_held`]).
fn deliver(link: &mut EthernetLink, shard: &mut Shard, now: Instant, impair: &mut Option<Impairer>, frame: &[u8]) {
    let copies = match impair {
        Some(imp) => imp.admit(now, Direction::Inbound, frame),
        None => 1,
    };
    for _ in 0..copies {
        link.handle_frame(now, frame, shard);
    }
}
