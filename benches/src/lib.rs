//! Shared set-up for the benchmarks in `benches/`: two transport shards wired back to
//! back with no impairment, driven directly (no simulator bookkeeping in the timed path).

pub mod churn;
pub mod conntime;
pub mod counting;
pub mod fincache_keys;
pub mod netlab;
pub mod soak;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ringtcp_transport::wire::{
    IPV4_HEADER_LEN, PROTO_TCP, TcpFlags, TcpHeader, TcpOptions, emit_ipv4_header, fill_tcp_checksum_v4,
};
use ringtcp_transport::{Config, Error, Instant, ListenerHandle, Secret, SeqNum, Shard, SocketHandle};

/// The client's address in every benchmark.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
/// The server's address in every benchmark.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
/// The server's port.
pub const PORT: u16 = 80;

/// Moves every pending packet between two shards until both are quiet.
pub fn shuttle(a: &mut Shard, b: &mut Shard, now: Instant, buf: &mut [u8]) -> usize {
    let mut moved = 0;
    loop {
        let mut any = false;
        while let Some(n) = a.poll_transmit(now, buf) {
            b.handle_packet(now, &buf[..n]);
            moved += 1;
            any = true;
        }
        while let Some(n) = b.poll_transmit(now, buf) {
            a.handle_packet(now, &buf[..n]);
            moved += 1;
            any = true;
        }
        if !any {
            return moved;
        }
    }
}

/// A client and a server shard joined back to back.
#[derive(Debug)]
pub struct Pair {
    /// The connecting side.
    pub client: Shard,
    /// The listening side.
    pub server: Shard,
    /// The server's listener.
    pub listener: ListenerHandle,
    /// Virtual time.
    pub now: Instant,
    buf: Vec<u8>,
}

impl Pair {
    /// Two shards with `cfg`, the server listening on [`SERVER`]:[`PORT`].
    pub fn new(cfg: Config) -> Pair {
        Pair::with_clients(cfg.clone(), cfg, &[CLIENT])
    }

    /// A client shard owning `client_ips` (to have more 4-tuples than one address gives)
    /// and a server shard, each with its own config.
    pub fn with_clients(client_cfg: Config, server_cfg: Config, client_ips: &[Ipv4Addr]) -> Pair {
        let ips: Vec<IpAddr> = client_ips.iter().map(|&ip| IpAddr::V4(ip)).collect();
        let client = Shard::new(client_cfg, &ips, Secret([1; 16]));
        let mut server = Shard::new(server_cfg, &[IpAddr::V4(SERVER)], Secret([2; 16]));
        let listener = server.listen(SocketAddr::new(IpAddr::V4(SERVER), PORT), 4096).expect("listen");
        Pair { client, server, listener, now: Instant::from_millis(1), buf: vec![0; 2048] }
    }

    /// Delivers everything pending both ways.
    pub fn settle(&mut self) -> usize {
        shuttle(&mut self.client, &mut self.server, self.now, &mut self.buf)
    }

    /// Advances virtual time and fires timers on both sides.
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
    }

    /// One short-lived connection, as a server of `Connection: close` sees it: connect,
    /// a 64-byte request, a 64-byte response, the server closes first, the client closes.
    /// Returns the packets exchanged.
    pub fn lifecycle(&mut self, request: &[u8], response: &[u8], scratch: &mut [u8]) -> Result<usize, Error> {
        self.lifecycle_from(None, request, response, scratch)
    }

    /// [`Pair::lifecycle`] from a chosen client address.
    pub fn lifecycle_from(&mut self, from: Option<Ipv4Addr>, request: &[u8], response: &[u8], scratch: &mut [u8]) -> Result<usize, Error> {
        let server_addr = SocketAddr::new(IpAddr::V4(SERVER), PORT);
        let local = from.map(|ip| SocketAddr::new(IpAddr::V4(ip), 0));
        let c = self.client.connect(self.now, server_addr, local)?;
        let mut packets = self.settle();
        self.client.send(c, request)?;
        packets += self.settle();
        let s = self.server.accept(self.listener)?.ok_or(Error::NotConnected)?;
        let n = self.server.recv(s, scratch)?;
        debug_assert_eq!(n, request.len());
        self.server.send(s, response)?;
        self.server.close(self.now, s)?;
        packets += self.settle();
        let n = self.client.recv(c, scratch)?;
        debug_assert_eq!(n, response.len());
        let eof = self.client.recv(c, scratch)?;
        debug_assert_eq!(eof, 0);
        self.client.close(self.now, c)?;
        packets += self.settle();
        Ok(packets)
    }
}

/// An established connection on one shard, fed hand-made in-order data segments: the
/// receive path alone (parse, checksum, lookup, state machine, copy into the buffer).
#[derive(Debug)]
pub struct Receiver {
    /// The shard under test.
    pub shard: Shard,
    /// The connection receiving.
    pub handle: SocketHandle,
    /// The next sequence number the peer sends.
    pub seq: SeqNum,
    ack: SeqNum,
    ts: u32,
    now: Instant,
    out: Vec<u8>,
}

/// The simulated peer's address for [`Receiver`].
const PEER: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 9);

impl Receiver {
    /// Completes a handshake with a scripted peer that uses timestamps and SACK, as Linux does.
    pub fn new() -> Receiver {
        let cfg = Config::default();
        let mut shard = Shard::new(cfg, &[IpAddr::V4(SERVER)], Secret([5; 16]));
        let l = shard.listen(SocketAddr::new(IpAddr::V4(SERVER), PORT), 16).expect("listen");
        let now = Instant::from_millis(10);
        let mut r = Receiver {
            shard,
            handle: SocketHandle::dangling(),
            seq: SeqNum(1000),
            ack: SeqNum(0),
            ts: 1,
            now,
            out: vec![0; 2048],
        };
        let syn_opts = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some(ringtcp_transport::wire::Timestamps { val: 1, ecr: 0 }),
            ..TcpOptions::default()
        };
        let syn = r.segment(TcpFlags::SYN, SeqNum(999), SeqNum(0), syn_opts, &[]);
        r.shard.handle_packet(now, &syn);
        let n = r.shard.poll_transmit(now, &mut r.out).expect("SYN-ACK");
        // Our ISS is in the SYN-ACK's sequence field (IPv4 20 + TCP offset 4).
        let iss = u32::from_be_bytes(r.out[24..28].try_into().expect("4 bytes"));
        let _ = n;
        r.ack = SeqNum(iss.wrapping_add(1));
        let ack = r.segment(TcpFlags::ACK, SeqNum(1000), r.ack, r.ts_opts(), &[]);
        r.shard.handle_packet(now, &ack);
        r.handle = r.shard.accept(l).expect("listener").expect("established");
        r
    }

    fn ts_opts(&self) -> TcpOptions {
        TcpOptions { timestamps: Some(ringtcp_transport::wire::Timestamps { val: self.ts, ecr: 0 }), ..TcpOptions::default() }
    }

    fn segment(&self, flags: TcpFlags, seq: SeqNum, ack: SeqNum, options: TcpOptions, payload: &[u8]) -> Vec<u8> {
        let h = TcpHeader { src_port: 40_000, dst_port: PORT, seq, ack, flags, window: 2048, urgent: 0, options };
        let hlen = h.wire_len();
        let mut buf = vec![0u8; IPV4_HEADER_LEN + hlen + payload.len()];
        emit_ipv4_header(&mut buf, PEER, SERVER, PROTO_TCP, hlen + payload.len(), 64, 0);
        h.emit(&mut buf[IPV4_HEADER_LEN..]);
        buf[IPV4_HEADER_LEN + hlen..].copy_from_slice(payload);
        fill_tcp_checksum_v4(&mut buf[IPV4_HEADER_LEN..], PEER, SERVER);
        buf
    }

    /// The next in-order data segment carrying `payload`.
    pub fn next_segment(&mut self, payload: &[u8]) -> Vec<u8> {
        let s = self.segment(TcpFlags::ACK | TcpFlags::PSH, self.seq, self.ack, self.ts_opts(), payload);
        self.seq += payload.len();
        s
    }

    /// Feeds one prepared segment (the timed part).
    #[inline]
    pub fn receive(&mut self, segment: &[u8]) {
        self.shard.handle_packet(self.now, segment);
    }

    /// Reads everything received and sends the ACKs owed (outside the timed part).
    pub fn drain(&mut self, scratch: &mut [u8]) -> usize {
        let mut total = 0;
        while let Ok(n) = self.shard.recv(self.handle, scratch) {
            if n == 0 {
                break;
            }
            total += n;
        }
        while self.shard.poll_transmit(self.now, &mut self.out).is_some() {}
        total
    }
}

impl Default for Receiver {
    fn default() -> Self {
        Self::new()
    }
}
