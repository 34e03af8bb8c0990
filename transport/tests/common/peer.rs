//! A scripted peer: builds exact segments, feeds them to one shard and parses every
//! segment the shard answers with, so tests can assert flags, numbers, window and options.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use ringtcp_transport::wire::{
    Ipv4Packet, Ipv6Packet, PROTO_TCP, TcpFlags, TcpHeader, TcpOptions, TcpSegment, emit_ip_header,
    fill_tcp_checksum, ip_header_len,
};
use ringtcp_transport::{Config, Instant, Secret, SeqNum, Shard};

pub const US: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
pub const PEER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
/// The IPv6 pair, for the same scripts over IPv6.
pub const US6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 2);
pub const PEER6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1);
pub const US_PORT: u16 = 80;
pub const PEER_PORT: u16 = 40_000;

/// A segment as seen on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seg {
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub win: u16,
    pub payload: Vec<u8>,
    pub opts: TcpOptions,
}

impl Seg {
    pub fn new(flags: TcpFlags, seq: u32, ack: u32) -> Seg {
        Seg {
            flags,
            seq,
            ack,
            win: 65_535,
            payload: Vec::new(),
            opts: TcpOptions::default(),
        }
    }
    pub fn win(mut self, w: u16) -> Seg {
        self.win = w;
        self
    }
    pub fn data(mut self, d: &[u8]) -> Seg {
        self.payload = d.to_vec();
        self
    }
    pub fn opts(mut self, o: TcpOptions) -> Seg {
        self.opts = o;
        self
    }
}

pub fn flags(names: &str) -> TcpFlags {
    let mut f = TcpFlags::empty();
    for n in names.split('|') {
        f |= match n {
            "SYN" => TcpFlags::SYN,
            "ACK" => TcpFlags::ACK,
            "FIN" => TcpFlags::FIN,
            "RST" => TcpFlags::RST,
            "PSH" => TcpFlags::PSH,
            other => panic!("unknown flag {other}"),
        };
    }
    f
}

/// Config for exact-number tests: a 65,535-byte buffer (window field = free space, shift
/// 0), no timestamps or SACK unless a test turns them on.
pub fn plain_config() -> Config {
    Config {
        rx_buffer: 65_535,
        tx_buffer: 65_535,
        timestamps: false,
        sack: false,
        window_scaling: false,
        ..Config::default()
    }
}

/// The IPv4 or IPv6 packet carrying `s` from `from` to `to`, checksums filled in.
pub fn packet(from: SocketAddr, to: SocketAddr, s: &Seg) -> Vec<u8> {
    let (src, dst) = (from, to);
    let h = TcpHeader {
        src_port: src.port(),
        dst_port: dst.port(),
        seq: SeqNum(s.seq),
        ack: SeqNum(s.ack),
        flags: s.flags,
        window: s.win,
        urgent: 0,
        options: s.opts,
    };
    let hlen = h.wire_len();
    let ip_len = ip_header_len(dst.ip());
    let mut buf = vec![0u8; ip_len + hlen + s.payload.len()];
    emit_ip_header(&mut buf, src.ip(), dst.ip(), PROTO_TCP, hlen + s.payload.len(), 64, 0, 0).expect("one family");
    h.emit(&mut buf[ip_len..]);
    buf[ip_len + hlen..].copy_from_slice(&s.payload);
    fill_tcp_checksum(&mut buf[ip_len..], src.ip(), dst.ip());
    buf
}

/// The source and TCP segment of a packet of either family.
pub fn parse_packet(raw: &[u8]) -> (IpAddr, TcpSegment<'_>) {
    let (src, dst, payload) = if raw[0] >> 4 == 6 {
        let ip = Ipv6Packet::parse(raw).expect("stack sent a bad IPv6 packet");
        assert_eq!(ip.next_header(), PROTO_TCP, "not TCP");
        (IpAddr::V6(ip.src()), IpAddr::V6(ip.dst()), ip.payload())
    } else {
        let ip = Ipv4Packet::parse(raw).expect("stack sent a bad IPv4 packet");
        (IpAddr::V4(ip.src()), IpAddr::V4(ip.dst()), ip.payload())
    };
    (src, TcpSegment::parse(payload, src, dst).expect("stack sent a bad TCP segment"))
}

pub struct Peer {
    pub shard: Shard,
    pub now: Instant,
    pub us: SocketAddr,
    pub peer: SocketAddr,
}

impl Peer {
    pub fn new(cfg: Config) -> Peer {
        Peer {
            shard: Shard::new(cfg, &[US.into()], Secret([3; 16])),
            now: Instant::from_millis(1000),
            us: SocketAddr::V4(SocketAddrV4::new(US, US_PORT)),
            peer: SocketAddr::V4(SocketAddrV4::new(PEER, PEER_PORT)),
        }
    }

    /// The same over IPv6: the shard owns `US6` (and `US`, for dual-stack tests); the
    /// peer is `PEER6`.
    pub fn new_v6(cfg: Config) -> Peer {
        Peer {
            shard: Shard::new(cfg, &[US6.into(), US.into()], Secret([3; 16])),
            now: Instant::from_millis(1000),
            us: SocketAddr::new(US6.into(), US_PORT),
            peer: SocketAddr::new(PEER6.into(), PEER_PORT),
        }
    }

    /// Delivers `s` from the peer to the shard.
    pub fn inject(&mut self, s: Seg) {
        self.inject_from(self.peer, s)
    }

    pub fn inject_from(&mut self, from: SocketAddr, s: Seg) {
        let buf = packet(from, self.us, &s);
        self.shard.handle_packet(self.now, &buf);
    }

    /// Every packet the shard sends now, as bytes.
    pub fn sent_raw(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 2048];
        while let Some(n) = self.shard.poll_transmit(self.now, &mut buf) {
            out.push(buf[..n].to_vec());
        }
        out
    }

    /// Every segment the shard sends now.
    pub fn sent(&mut self) -> Vec<Seg> {
        let mut out = Vec::new();
        for raw in self.sent_raw() {
            let (src, seg) = parse_packet(&raw);
            assert!(self.shard.addresses().contains(&src), "sent from {src}, not an address of ours");
            let h = seg.header;
            out.push(Seg {
                flags: h.flags,
                seq: h.seq.0,
                ack: h.ack.0,
                win: h.window,
                payload: seg.payload.to_vec(),
                opts: h.options,
            });
        }
        out
    }

    /// Exactly one segment sent now.
    pub fn one(&mut self) -> Seg {
        let s = self.sent();
        assert_eq!(s.len(), 1, "expected one segment, got {s:#?}");
        s.into_iter().next().unwrap()
    }

    /// Nothing sent now.
    pub fn none(&mut self) {
        let s = self.sent();
        assert!(s.is_empty(), "expected silence, got {s:#?}");
    }

    /// Advances time and fires due timers.
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.shard.handle_timeout(self.now);
    }

    /// Steps 1 ms at a time for at most `limit`, until something is sent; returns after
    /// how many milliseconds, and what.
    pub fn next_sent(&mut self, limit: Duration) -> Option<(u64, Vec<Seg>)> {
        for ms in 1..=limit.as_millis() as u64 {
            self.advance(Duration::from_millis(1));
            let s = self.sent();
            if !s.is_empty() {
                return Some((ms, s));
            }
        }
        None
    }
}

/// An ACK from the peer (its sequence number `seq`) of `ack`, with these SACK blocks.
pub fn sack_ack(seq: u32, ack: u32, blocks: &[(u32, u32)]) -> Seg {
    let mut sack = ringtcp_transport::wire::SackBlocks::default();
    for &(l, r) in blocks {
        sack.push(SeqNum(l), SeqNum(r));
    }
    Seg::new(flags("ACK"), seq, ack).opts(TcpOptions { sack, ..TcpOptions::default() })
}

/// A connection a listener on `us` accepted from the peer: its SYN (ISS `peer_iss`)
/// carries `syn_opts` and its handshake ACK comes `rtt` after our SYN-ACK, so the
/// connection starts with that RTT measured. Returns the shard, the accepted handle and
/// our first data sequence number.
pub fn accepted(cfg: Config, peer_iss: u32, syn_opts: TcpOptions, rtt: Duration) -> (Peer, ringtcp_transport::SocketHandle, u32) {
    let mut p = Peer::new(cfg);
    let l = p.shard.listen(p.us, 8).unwrap();
    p.inject(Seg::new(flags("SYN"), peer_iss, 0).opts(syn_opts));
    let sa = p.one();
    p.advance(rtt);
    p.inject(Seg::new(flags("ACK"), peer_iss.wrapping_add(1), sa.seq + 1));
    let h = p.shard.accept(l).unwrap().expect("the handshake completes");
    (p, h, sa.seq + 1)
}

/// A connection accepted from a peer whose SYN offers an MSS of 1,000 bytes and nothing
/// else, with no RTT measured.
pub fn accepted_mss_1000(cfg: Config, peer_iss: u32) -> (Peer, ringtcp_transport::SocketHandle, u32) {
    accepted(cfg, peer_iss, TcpOptions { mss: Some(1000), ..TcpOptions::default() }, Duration::ZERO)
}
