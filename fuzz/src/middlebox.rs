//! Two shards joined by a link whose middlebox the input controls: it drops, duplicates,
//! delays and reorders packets, flips bits and truncates (without fixing checksums, as a
//! bad link would), and rewrites windows, flags, timestamps and SACK blocks (fixing the
//! checksum, as a meddling middlebox would). Connections carry a known byte pattern both
//! ways. Every byte that arrives must be the right byte at its offset, and every
//! connection must end, completely or with a clean error; never corrupt data, never a
//! connection left hanging.
//!
//! Rewrites of sequence or acknowledgment numbers with a fixed checksum are left out: no
//! TCP can tell those from real data, so integrity cannot be asked of it. A FIN or RST a
//! middlebox sets ends a stream early; what arrived before must still be intact, and only
//! without such rewrites must a stream that ends have every byte. Keepalive is on, as a
//! server on the internet would have it, so a connection whose peer is gone ends too.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use ringtcp_transport::fincache::FinCacheConfig;
use ringtcp_transport::wire::{Ipv4Packet, TcpFlags, TcpSegment, Timestamps};
use ringtcp_transport::{ByteQueue, Config, Error, Instant, Keepalive, ListenerHandle, Secret, Shard, SocketHandle, State};

use crate::emit::{check_sent, tcp_packet};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 2);
const PORT: u16 = 443;
/// Virtual time after which a connection neither finished nor failed is a hang.
const HORIZON: Duration = Duration::from_secs(4 * 3600);

#[derive(Arbitrary, Debug)]
struct Setup {
    conns: u8,
    sizes: [(u16, u16); 3],
    sack: bool,
    timestamps: bool,
    window_scaling: bool,
    nodelay: bool,
    small_buffers: bool,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Action {
    Pass,
    Drop,
    Duplicate,
    Delay(u8),
    FlipBit { at: u16, bit: u8 },
    Truncate { keep: u16 },
    Window(u16),
    Flags(u8),
    StripOptions,
    OldTimestamp(u16),
    LieSack { ahead: u16, len: u16 },
}

/// The byte at `offset` of stream `stream`.
fn pattern(stream: u64, offset: usize) -> u8 {
    let x = (offset as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    (x ^ (x >> 29)) as u8
}

/// One side of one connection, as its application drives it.
#[derive(Debug)]
struct End {
    handle: Option<SocketHandle>,
    stream_out: u64,
    stream_in: u64,
    size: usize,
    sent: usize,
    received: usize,
    shut: bool,
    eof: bool,
    closed: bool,
    failed: Option<Error>,
}

impl End {
    fn new(stream_out: u64, stream_in: u64, size: usize) -> End {
        End { handle: None, stream_out, stream_in, size, sent: 0, received: 0, shut: false, eof: false, closed: false, failed: None }
    }

    fn finished(&self) -> bool {
        self.closed || self.failed.is_some()
    }

    /// Writes, reads and checks what it can; closes when both directions are done.
    /// `complete_eof`: end of stream means every byte arrived (no flags were rewritten).
    fn drive(&mut self, shard: &mut Shard, now: Instant, peer_size: usize, complete_eof: bool) {
        let Some(h) = self.handle else { return };
        if self.finished() {
            return;
        }
        // The server side (odd streams) moves bytes through `send_from` / `recv_into`, as the
        // runtime does; the client side through slices.
        let via_queues = self.stream_out % 2 == 1;
        let mut chunk = [0u8; 4096];
        while self.sent < self.size {
            let n = (self.size - self.sent).min(chunk.len());
            for (i, b) in chunk[..n].iter_mut().enumerate() {
                *b = pattern(self.stream_out, self.sent + i);
            }
            let r = if via_queues { shard.send_from(h, &mut ByteQueue::from(&chunk[..n])) } else { shard.send(h, &chunk[..n]) };
            match r {
                Ok(0) | Err(Error::WouldBlock) => break,
                Ok(k) => self.sent += k,
                Err(e) => return self.fail(shard, h, e),
            }
        }
        let open = shard.state(h).map(State::is_synchronized).unwrap_or(true);
        if self.sent == self.size && !self.shut && open {
            let _ = shard.shutdown_write(h);
            self.shut = true;
        }
        while !self.eof {
            // Every other read onto a queue that already holds a few bytes, whose last
            // chunk then takes the small pieces.
            let mut inbox = ByteQueue::new();
            let held = if self.received % 2 == 0 { 3 } else { 0 };
            inbox.extend_from_slice(&b"old"[..held]);
            let r = if via_queues { shard.recv_into(h, &mut inbox, chunk.len()) } else { shard.recv(h, &mut chunk) };
            if via_queues {
                let n = inbox.len() - held;
                inbox.copy_at(held, &mut chunk[..n]);
            }
            match r {
                Ok(0) => {
                    self.eof = true;
                    if complete_eof {
                        assert_eq!(self.received, peer_size, "end of stream before every byte arrived");
                    }
                }
                Ok(n) => {
                    for (i, &b) in chunk[..n].iter().enumerate() {
                        assert_eq!(b, pattern(self.stream_in, self.received + i), "corrupt byte at offset {} of stream {}", self.received + i, self.stream_in);
                    }
                    self.received += n;
                    assert!(self.received <= peer_size, "more bytes arrived than were sent");
                }
                Err(Error::WouldBlock) => break,
                Err(e) => return self.fail(shard, h, e),
            }
        }
        if let Ok(Some(e)) = shard.error(h) {
            return self.fail(shard, h, e);
        }
        if shard.state(h) == Ok(State::Closed) && !self.eof {
            return self.fail(shard, h, Error::NotConnected);
        }
        if self.eof && self.shut {
            let _ = shard.close(now, h);
            self.closed = true;
        }
    }

    fn fail(&mut self, shard: &mut Shard, h: SocketHandle, e: Error) {
        self.failed = Some(e);
        let _ = shard.abort(h);
    }
}

struct Link {
    /// Packets in flight: (arrival, sequence for a stable order) → (to the server?, bytes).
    queue: BTreeMap<(Instant, u64), (bool, Vec<u8>)>,
    n: u64,
    /// A FIN or RST may have been set by the middlebox.
    flags_rewritten: bool,
}

impl Link {
    fn push(&mut self, at: Instant, to_server: bool, bytes: Vec<u8>) {
        self.n += 1;
        self.queue.insert((at, self.n), (to_server, bytes));
    }
}

/// Rewrites a parsed TCP packet's header (checksum fixed); `None` if it does not parse.
fn rewrite(bytes: &[u8], f: impl FnOnce(&mut ringtcp_transport::wire::TcpHeader)) -> Option<Vec<u8>> {
    let ip = Ipv4Packet::parse(bytes).ok()?;
    let seg = TcpSegment::parse_v4(ip.payload(), ip.src(), ip.dst()).ok()?;
    let mut h = seg.header;
    f(&mut h);
    let from = SocketAddr::V4(SocketAddrV4::new(ip.src(), h.src_port));
    let to = SocketAddr::V4(SocketAddrV4::new(ip.dst(), h.dst_port));
    Some(tcp_packet(from, to, &h, seg.payload))
}

/// What the middlebox does to one packet: the copies it lets through, and when.
fn apply(action: Action, bytes: Vec<u8>, now: Instant, link: &mut Link) -> Vec<(Instant, Vec<u8>)> {
    let at = now + Duration::from_millis(1);
    match action {
        Action::Pass => vec![(at, bytes)],
        Action::Drop => Vec::new(),
        Action::Duplicate => vec![(at, bytes.clone()), (at + Duration::from_millis(1), bytes)],
        Action::Delay(ms) => vec![(at + Duration::from_millis(u64::from(ms) * 4), bytes)],
        Action::FlipBit { at: pos, bit } => {
            let mut b = bytes;
            let i = usize::from(pos) % b.len().max(1);
            if let Some(x) = b.get_mut(i) {
                *x ^= 1 << (bit % 8);
            }
            vec![(at, b)]
        }
        Action::Truncate { keep } => {
            let mut b = bytes;
            b.truncate(usize::from(keep) % (b.len() + 1));
            vec![(at, b)]
        }
        Action::Window(w) => rewrite(&bytes, |h| h.window = w).map(|b| (at, b)).into_iter().collect(),
        Action::Flags(f) => {
            link.flags_rewritten = true;
            rewrite(&bytes, |h| h.flags = TcpFlags(f & 0x3f)).map(|b| (at, b)).into_iter().collect()
        }
        Action::StripOptions => rewrite(&bytes, |h| h.options = Default::default()).map(|b| (at, b)).into_iter().collect(),
        Action::OldTimestamp(back) => rewrite(&bytes, |h| {
            if let Some(t) = &mut h.options.timestamps {
                *t = Timestamps { val: t.val.wrapping_sub(u32::from(back)), ecr: t.ecr };
            }
        })
        .map(|b| (at, b))
        .into_iter()
        .collect(),
        Action::LieSack { ahead, len } => rewrite(&bytes, |h| {
            let l = h.ack + usize::from(ahead);
            h.options.sack.push(l, l + usize::from(len.max(1)));
        })
        .map(|b| (at, b))
        .into_iter()
        .collect(),
    }
}

fn config(s: &Setup) -> Config {
    let buf = if s.small_buffers { 4 * 1024 } else { 64 * 1024 };
    Config {
        rx_buffer: buf,
        tx_buffer: buf,
        sack: s.sack,
        timestamps: s.timestamps,
        window_scaling: s.window_scaling,
        nodelay: s.nodelay,
        // Fewer, shorter retries: a failing connection fails in minutes of virtual time.
        keepalive: Some(Keepalive { idle: Duration::from_secs(60), interval: Duration::from_secs(10), probes: 3 }),
        max_retries: 8,
        syn_retries: 4,
        synack_retries: 3,
        rto_max: Duration::from_secs(10),
        // A small FIN cache: its index is allocated whole at the first record, and a big
        // one would cost every run more than the transfer itself.
        fin_cache: FinCacheConfig { capacity: 256, ..FinCacheConfig::default() },
        ..Config::default()
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::arbitrary(&mut u) else { return };
    crate::debug(&setup);
    let cfg = config(&setup);
    let mut client = Shard::new(cfg.clone(), &[IpAddr::V4(CLIENT)], Secret([1; 16]));
    let mut server = Shard::new(cfg, &[IpAddr::V4(SERVER)], Secret([2; 16]));
    let listener: ListenerHandle = server.listen(SocketAddr::new(SERVER.into(), PORT), 16).expect("listen");
    let mut now = Instant::from_millis(1);
    let n = usize::from(setup.conns % 3) + 1;
    let mut pairs: Vec<(End, End)> = Vec::new();
    for (i, &(up, down)) in setup.sizes.iter().enumerate().take(n) {
        let (up, down) = (usize::from(up) % 40_000, usize::from(down) % 40_000);
        let mut c = End::new(2 * i as u64, 2 * i as u64 + 1, up);
        c.handle = Some(client.connect(now, SocketAddr::new(SERVER.into(), PORT), None).expect("connect"));
        pairs.push((c, End::new(2 * i as u64 + 1, 2 * i as u64, down)));
    }
    let client_ports: Vec<u16> = pairs.iter().map(|(c, _)| client.local_addr(c.handle.expect("client handle")).expect("bound").port()).collect();
    let mut link = Link { queue: BTreeMap::new(), n: 0, flags_rewritten: false };
    let mut buf = vec![0u8; 2048];
    let mut steps = 0u64;
    loop {
        steps += 1;
        assert!(steps < 2_000_000, "the simulation does not progress");
        while let Ok(Some(h)) = server.accept(listener) {
            let port = server.peer_addr(h).expect("peer").port();
            match client_ports.iter().position(|&p| p == port) {
                Some(i) if pairs[i].1.handle.is_none() => pairs[i].1.handle = Some(h),
                // A second incarnation of a 4-tuple whose first one ended: not ours to drive.
                _ => {
                    let _ = server.abort(h);
                }
            }
        }
        let strict = !link.flags_rewritten;
        for (c, s) in &mut pairs {
            let (cs, ss) = (c.size, s.size);
            c.drive(&mut client, now, ss, strict);
            s.drive(&mut server, now, cs, strict);
        }
        for (shard, to_server, ours) in [(&mut client, true, CLIENT), (&mut server, false, SERVER)] {
            while let Some(len) = shard.poll_transmit(now, &mut buf) {
                check_sent(&buf[..len], &[IpAddr::V4(ours)]);
                let action = if u.is_empty() { Action::Pass } else { Action::arbitrary(&mut u).unwrap_or(Action::Pass) };
                for (at, bytes) in apply(action, buf[..len].to_vec(), now, &mut link) {
                    link.push(at, to_server, bytes);
                }
            }
        }
        for shard in [&client, &server] {
            if let Err(e) = shard.check_invariants() {
                panic!("invariant broken: {e}");
            }
        }
        // A server end that never got its connection (the handshake was mangled, or the
        // client gave up) has nothing to finish; every end that has a connection must end.
        let unfinished = pairs.iter().flat_map(|(c, s)| [c, s]).any(|e| e.handle.is_some() && !e.finished());
        if !unfinished && link.queue.is_empty() {
            crate::debug(&(now, &pairs));
            break;
        }
        // Next event: a packet arriving or a timer.
        let next = [link.queue.keys().next().map(|k| k.0), client.poll_timeout(), server.poll_timeout()].into_iter().flatten().min();
        let Some(next) = next else {
            panic!("nothing left to happen, yet connections are unfinished: {pairs:?}");
        };
        assert!(next - Instant::ZERO < HORIZON, "connections neither finished nor failed after {HORIZON:?}: {pairs:?}");
        now = now.max(next);
        while let Some((&(at, k), _)) = link.queue.iter().next() {
            if at > now {
                break;
            }
            let (to_server, bytes) = link.queue.remove(&(at, k)).expect("present");
            let to = if to_server { &mut server } else { &mut client };
            to.handle_packet(now, &bytes);
        }
        client.handle_timeout(now);
        server.handle_timeout(now);
    }
}
