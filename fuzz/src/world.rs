//! A shard with something of everything a packet can meet: two listeners (one whose SYN
//! queue is full, so cookies are out; one with cookies off), an established connection
//! with data in flight both ways, embryonic connections, a TIME-WAIT record, and an
//! outbound connection in SYN-SENT; and over IPv6 (the shard owns an address of each
//! family): a dual-stack listener on `[::]` with an established connection, a TIME-WAIT
//! record and an IPv4 embryonic connection, and an outbound IPv6 connection in SYN-SENT.
//! Built the same way for every input, so runs are deterministic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ringtcp_transport::buffer_pool;
use ringtcp_transport::fincache::FinCacheConfig;
use ringtcp_transport::wire::{TcpFlags, TcpHeader, TcpOptions, Timestamps};
use ringtcp_transport::{BufferMemory, Config, FastOpenServer, Instant, ListenerHandle, Secret, SeqNum, Shard, SocketHandle};

use crate::emit::{Expect, SegSpec, Sent, check_sent, tcp_packet};

pub(crate) const US: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
pub(crate) const PEER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
pub(crate) const US6: Ipv6Addr = Ipv6Addr::new(0xfd09, 0, 0, 0, 0, 0, 0, 1);
pub(crate) const PEER6: Ipv6Addr = Ipv6Addr::new(0xfd09, 0, 0, 0, 0, 0, 0, 2);

/// The shard's addresses.
pub(crate) const OURS: [IpAddr; 2] = [IpAddr::V4(US), IpAddr::V6(US6)];

/// One 4-tuple the peer side plays, and what it expects next.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tuple {
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) expect: Expect,
}

pub(crate) struct World {
    pub(crate) shard: Shard,
    pub(crate) now: Instant,
    pub(crate) tuples: Vec<Tuple>,
    pub(crate) sockets: Vec<SocketHandle>,
    pub(crate) listeners: Vec<ListenerHandle>,
}

pub(crate) fn config() -> Config {
    Config {
        rx_buffer: 16 * 1024,
        tx_buffer: 16 * 1024,
        max_connections: 48,
        buffer_memory: BufferMemory { pressure: 48 * 1024, limit: 96 * 1024 },
        reassembly_ranges: 4,
        control_queue: 64,
        rst_limit: 50,
        challenge_ack_limit: 50,
        syn_cookie_period: Duration::from_secs(8),
        fin_cache: FinCacheConfig { capacity: 8, ..FinCacheConfig::default() },
        on_link: vec![(PEER.into(), 24)],
        // Every listener serves Fast Open and takes SYN data without a cookie, so random
        // SYNs reach the Fast Open paths (accept in SYN-RECEIVED, early sends).
        fast_open: FastOpenServer { every_listener: true, cookie_not_required: true, ..FastOpenServer::default() },
        ..Config::default()
    }
}

fn ts(val: u32, ecr: u32) -> TcpOptions {
    TcpOptions { timestamps: Some(Timestamps { val, ecr }), ..TcpOptions::default() }
}

/// The world's settings with room for a bulk transfer's segments: receive windows of 64 KB
/// and more, so a super-packet's payload can be kept in its block.
pub(crate) fn bulk_config() -> Config {
    Config { rx_buffer: 256 * 1024, buffer_memory: BufferMemory { pressure: 2 << 20, limit: 4 << 20 }, ..config() }
}

impl World {
    pub(crate) fn new() -> World {
        World::with_config(config())
    }

    pub(crate) fn with_config(cfg: Config) -> World {
        let shard = Shard::new(cfg, &OURS, Secret([0x5a; 16]));
        let mut w = World { shard, now: Instant::from_millis(1_000), tuples: Vec::new(), sockets: Vec::new(), listeners: Vec::new() };
        let l80 = w.shard.listen(SocketAddr::new(US.into(), 80), 2).expect("listen 80");
        let l81 = w.shard.listen(SocketAddr::new(US.into(), 81), 1).expect("listen 81");
        w.listeners = vec![l80, l81];
        let syn_opts = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some(Timestamps { val: 100, ecr: 0 }),
            ..TcpOptions::default()
        };
        let (peer4, us4) = (IpAddr::V4(PEER), IpAddr::V4(US));
        // 0: established on port 80, data in flight both ways.
        w.established((peer4, 40_000), (us4, 80), l80, syn_opts, 0x11);
        // 1: TIME-WAIT: established, we close first, the peer ACKs and closes.
        w.time_wait((peer4, 40_002), (us4, 80), l80, syn_opts);
        // 2, 3: embryonic on port 80, filling its SYN queue; 4: a cookie handed out.
        for port in [40_001, 40_005, 40_006] {
            w.syn((peer4, port), (us4, 80), syn_opts);
        }
        // 5: embryonic on port 81 (backlog 1, cookies off).
        w.syn((peer4, 40_007), (us4, 81), TcpOptions::default());
        // 6: an outbound connection in SYN-SENT.
        w.outbound(SocketAddr::new(peer4, 9_000));
        // 7: nobody: a closed port.
        w.tuples.push(Tuple {
            peer: SocketAddr::new(peer4, 40_009),
            local: SocketAddr::new(us4, 82),
            expect: Expect { peer_nxt: 1, our_nxt: 1, peer_ts: 1, our_ts: 0 },
        });
        // IPv6, on a dual-stack listener on [::]:443.
        let (peer6, us6) = (IpAddr::V6(PEER6), IpAddr::V6(US6));
        let l443 = w.shard.listen(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 443), 4).expect("listen [::]:443");
        w.listeners.push(l443);
        // 8: established over IPv6, data in flight both ways.
        w.established((peer6, 41_000), (us6, 443), l443, syn_opts, 0x33);
        // 9: an IPv6 TIME-WAIT record.
        w.time_wait((peer6, 41_002), (us6, 443), l443, syn_opts);
        // 10: an IPv4 peer embryonic on the dual-stack listener.
        w.syn((peer4, 41_004), (us4, 443), syn_opts);
        // 11: an outbound IPv6 connection in SYN-SENT.
        w.outbound(SocketAddr::new(peer6, 9_000));
        w.shard.check_invariants().unwrap_or_else(|e| panic!("the fuzz world itself is broken: {e}"));
        w
    }

    /// An accepted connection with data in flight both ways (ours filled with `fill`).
    fn established(&mut self, peer: (IpAddr, u16), local: (IpAddr, u16), l: ListenerHandle, opts: TcpOptions, fill: u8) {
        let t = self.handshake(peer, local, opts);
        if let Some(h) = self.shard.accept(l).ok().flatten() {
            self.sockets.push(h);
            let _ = self.shard.set_nodelay(h, true);
            let _ = self.shard.send(h, &[fill; 3000]);
        }
        self.deliver(t, TcpFlags::ACK | TcpFlags::PSH, &[fill.wrapping_add(0x11); 100], Some(ts(101, 0)));
        self.drain();
    }

    /// A connection we close first; the peer ACKs and closes, leaving a TIME-WAIT record.
    fn time_wait(&mut self, peer: (IpAddr, u16), local: (IpAddr, u16), l: ListenerHandle, opts: TcpOptions) {
        let t = self.handshake(peer, local, opts);
        if let Some(h) = self.shard.accept(l).ok().flatten() {
            let _ = self.shard.close(self.now, h);
        }
        self.drain();
        self.deliver(t, TcpFlags::ACK | TcpFlags::FIN, &[], Some(ts(102, 0)));
        self.drain();
    }

    /// An outbound connection to `remote`, left in SYN-SENT, as a tuple.
    fn outbound(&mut self, remote: SocketAddr) {
        if let Ok(h) = self.shard.connect(self.now, remote, None) {
            self.sockets.push(h);
            let local = self.shard.local_addr(h).unwrap_or_else(|_| SocketAddr::new(US.into(), 1));
            let expect = Expect { peer_nxt: 5_000, our_nxt: 0, peer_ts: 300, our_ts: 0 };
            self.tuples.push(Tuple { peer: remote, local, expect });
            self.drain();
        }
    }

    fn syn(&mut self, (peer, peer_port): (IpAddr, u16), (local, port): (IpAddr, u16), opts: TcpOptions) -> usize {
        let t = Tuple {
            peer: SocketAddr::new(peer, peer_port),
            local: SocketAddr::new(local, port),
            expect: Expect { peer_nxt: 1_000, our_nxt: 0, peer_ts: 100, our_ts: 0 },
        };
        self.tuples.push(t);
        let i = self.tuples.len() - 1;
        let h = TcpHeader { src_port: peer_port, dst_port: port, seq: SeqNum(1_000), flags: TcpFlags::SYN, window: 65_535, options: opts, ..TcpHeader::default() };
        self.shard.handle_packet(self.now, &tcp_packet(t.peer, t.local, &h, &[]));
        self.tuples[i].expect.peer_nxt = 1_001;
        self.drain();
        i
    }

    fn handshake(&mut self, peer: (IpAddr, u16), local: (IpAddr, u16), opts: TcpOptions) -> usize {
        let i = self.syn(peer, local, opts);
        self.deliver(i, TcpFlags::ACK, &[], Some(ts(100, 0)));
        self.drain();
        i
    }

    /// Sends an in-sequence segment from tuple `i`'s peer.
    fn deliver(&mut self, i: usize, flags: TcpFlags, payload: &[u8], opts: Option<TcpOptions>) {
        let t = self.tuples[i];
        let mut options = opts.unwrap_or_default();
        if let Some(ts) = &mut options.timestamps {
            ts.ecr = t.expect.our_ts;
        }
        let h = TcpHeader {
            src_port: t.peer.port(),
            dst_port: t.local.port(),
            seq: SeqNum(t.expect.peer_nxt),
            ack: SeqNum(t.expect.our_nxt),
            flags,
            window: 1024,
            options,
            ..TcpHeader::default()
        };
        self.shard.handle_packet(self.now, &tcp_packet(t.peer, t.local, &h, payload));
        let e = &mut self.tuples[i].expect;
        e.peer_nxt = e.peer_nxt.wrapping_add(payload.len() as u32 + u32::from(flags.fin()));
    }

    /// Injects a generated segment for tuple `i`.
    pub(crate) fn inject(&mut self, i: usize, spec: &SegSpec) {
        let t = self.tuples[i % self.tuples.len()];
        let (h, payload) = spec.header(t.peer, t.local, &t.expect);
        self.shard.handle_packet(self.now, &tcp_packet(t.peer, t.local, &h, &payload));
    }

    /// Injects a generated segment for tuple `i` as a TUN device with offloads hands one
    /// over: in a packet block the shard may keep, after a 12-byte header, its checksum
    /// vouched for or not; with `large`, a payload of `spec.payload` bytes (up to 64 KB, a
    /// super-packet) instead of at most an MTU's. Whatever the shard does, the block it
    /// hands back is whole and every byte it kept is read back intact. True if the shard
    /// kept the block.
    pub(crate) fn inject_in_block(&mut self, i: usize, spec: &SegSpec, large: bool, vouched: bool) -> bool {
        let t = self.tuples[i % self.tuples.len()];
        let (h, mut payload) = spec.header(t.peer, t.local, &t.expect);
        if large {
            payload.resize(usize::from(spec.payload).min(65_000), spec.fill);
        }
        let packet = tcp_packet(t.peer, t.local, &h, &payload);
        let mut block = buffer_pool::take_block();
        let Some(room) = block.get_mut(12..12 + packet.len()) else {
            buffer_pool::give_block(block);
            return false;
        };
        room.copy_from_slice(&packet);
        let before: Vec<Vec<u8>> = self.sockets.iter().map(|&s| self.readable(s)).collect();
        let back = self.shard.handle_packet_in(self.now, block, 12..12 + packet.len(), vouched);
        let kept = back.is_none();
        if let Some(back) = back {
            assert_eq!(back.len(), buffer_pool::PACKET_BLOCK, "the block comes back whole");
            buffer_pool::give_block(back);
        }
        // What a socket could read before is still there, and anything after it came
        // from this segment, whose payload bytes are all `fill` (the world holds no
        // out-of-order data this segment could have pulled in).
        for (&s, old) in self.sockets.iter().zip(&before) {
            let now = self.readable(s);
            assert!(now.starts_with(old), "bytes received earlier stay as they were");
            assert!(now[old.len()..].iter().all(|&b| b == spec.fill), "new bytes are the segment's payload");
        }
        kept
    }

    /// The bytes socket `s` can read now (none for a socket that has ended).
    fn readable(&self, s: SocketHandle) -> Vec<u8> {
        let mut out = vec![0u8; 1 << 20];
        let n = self.shard.peek(s, &mut out).unwrap_or(0);
        out.truncate(n);
        out
    }

    /// Takes everything the shard sends, checks it, and learns from it what each tuple's
    /// peer should expect next.
    pub(crate) fn drain(&mut self) -> Vec<Sent> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 2048];
        let mut guard = 0;
        while let Some(n) = self.shard.poll_transmit(self.now, &mut buf) {
            guard += 1;
            assert!(guard < 100_000, "poll_transmit never runs dry");
            assert!(n <= usize::from(self.shard.config().mtu), "a {n}-byte packet over the MTU");
            let Some(s) = check_sent(&buf[..n], &OURS) else { continue };
            for t in &mut self.tuples {
                if t.local == s.src && t.peer == s.dst {
                    t.expect.our_nxt = s.header.seq.0.wrapping_add(s.len as u32);
                    if s.header.flags.ack() {
                        t.expect.peer_nxt = s.header.ack.0;
                    }
                    if let Some(ts) = s.header.options.timestamps {
                        t.expect.our_ts = ts.val;
                    }
                }
            }
            out.push(s);
        }
        out
    }

    /// Moves time on and fires what is due.
    pub(crate) fn advance(&mut self, d: Duration) {
        self.now += d;
        self.shard.handle_timeout(self.now);
        // Budgeted work left over asks for another call at once.
        let mut guard = 0;
        while self.shard.poll_timeout().is_some_and(|t| t <= self.now) {
            guard += 1;
            assert!(guard < 10_000, "poll_timeout keeps saying now");
            self.shard.handle_timeout(self.now);
        }
        for t in &mut self.tuples {
            t.expect.peer_ts = t.expect.peer_ts.wrapping_add(d.as_millis() as u32);
        }
    }

    pub(crate) fn check(&self) {
        if let Err(e) = self.shard.check_invariants() {
            panic!("invariant broken: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emit::Rel;

    /// The packet target's `InBlock` inputs reach a kept block: a large in-order segment
    /// on the established connection becomes readable as sent.
    #[test]
    fn a_large_in_order_segment_in_a_block_is_kept_and_reads_back() {
        let mut w = World::with_config(bulk_config());
        let before = w.readable(w.sockets[0]).len();
        let t = w.tuples[0];
        let spec = SegSpec {
            flags: TcpFlags::ACK.0,
            seq: Rel::Exact,
            ack: Rel::Exact,
            window: 1024,
            mss: None,
            wscale: None,
            sack_permitted: false,
            fast_open: None,
            ts: Some((Rel::Ahead(1), true)),
            sack: Vec::new(),
            payload: 40_000,
            fill: 0xab,
        };
        assert!(w.inject_in_block(0, &spec, true, true), "kept in its block");
        let now = w.readable(w.sockets[0]);
        assert_eq!(now.len(), before + 40_000, "the segment's payload became readable");
        assert!(now[before..].iter().all(|&b| b == 0xab));
        assert!(w.shard.check_invariants().is_ok());
        assert_eq!(w.tuples[0].peer, t.peer);
    }
}
