//! A scripted peer: builds exact segments, feeds them to one shard and parses every
//! segment the shard answers with, so tests can assert flags, numbers, window and options.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use ringtcp_transport::wire::{
    IPV4_HEADER_LEN, Ipv4Packet, PROTO_TCP, TcpFlags, TcpHeader, TcpOptions, TcpSegment,
    emit_ipv4_header, fill_tcp_checksum_v4,
};
use ringtcp_transport::{Config, Instant, Secret, SeqNum, Shard};

pub const US: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
pub const PEER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
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

/// The IPv4 packet carrying `s` from `from` to `to`, checksums filled in.
pub fn packet(from: SocketAddr, to: SocketAddr, s: &Seg) -> Vec<u8> {
    let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (from, to) else {
        unreachable!("IPv4 only")
    };
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
    let mut buf = vec![0u8; IPV4_HEADER_LEN + hlen + s.payload.len()];
    emit_ipv4_header(&mut buf, *src.ip(), *dst.ip(), PROTO_TCP, hlen + s.payload.len(), 64, 0);
    h.emit(&mut buf[IPV4_HEADER_LEN..]);
    buf[IPV4_HEADER_LEN + hlen..].copy_from_slice(&s.payload);
    fill_tcp_checksum_v4(&mut buf[IPV4_HEADER_LEN..], *src.ip(), *dst.ip());
    buf
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
            let ip = Ipv4Packet::parse(&raw).expect("stack sent a bad IPv4 packet");
            assert_eq!(ip.src(), US, "sent from an address that is not ours");
            let seg = TcpSegment::parse_v4(ip.payload(), ip.src(), ip.dst())
                .expect("stack sent a bad TCP segment");
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
}
