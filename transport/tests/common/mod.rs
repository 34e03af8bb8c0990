//! Shared harness for the simulator tests: a two-host network and a bidirectional bulk
//! transfer whose every byte is checked.

#![allow(dead_code, unreachable_pub)]

pub mod peer;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ringtcp_transport::sim::{LinkConfig, Sim};
use ringtcp_transport::{Config, Error, Instant, Secret, Shard, SocketHandle, State};

pub const CLIENT_IP: &str = "10.0.0.1";
pub const SERVER_IP: &str = "10.0.0.2";
pub const CLIENT_IP6: &str = "fd00::1";
pub const SERVER_IP6: &str = "fd00::2";
pub const PORT: u16 = 8080;

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn server_addr() -> SocketAddr {
    SocketAddr::new(ip(SERVER_IP), PORT)
}

/// Deterministic test data: byte `offset` of stream `stream` of run `seed`.
pub fn fill(seed: u64, stream: u64, offset: usize, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        let x = (offset + i) as u64;
        let mut h = x.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ seed.rotate_left(17)
            ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        h ^= h >> 29;
        h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^= h >> 32;
        *b = h as u8;
    }
}

/// One side of a bulk transfer.
#[derive(Debug)]
pub struct Side {
    pub host: usize,
    pub handle: Option<SocketHandle>,
    pub stream_out: u64,
    pub stream_in: u64,
    pub size: usize,
    pub sent: usize,
    pub received: usize,
    pub shut: bool,
    pub eof: bool,
    pub closed: bool,
    pub error: Option<String>,
}

impl Side {
    fn new(host: usize, stream_out: u64, size: usize) -> Side {
        Side {
            host,
            handle: None,
            stream_out,
            stream_in: 1 - stream_out,
            size,
            sent: 0,
            received: 0,
            shut: false,
            eof: false,
            closed: false,
            error: None,
        }
    }

    /// Writes, reads and verifies what it can; shuts down and closes when done.
    fn drive(&mut self, sim: &mut Sim, seed: u64, scratch: &mut [u8], expect: &mut [u8]) {
        let Some(h) = self.handle else { return };
        if self.closed {
            return;
        }
        let now = sim.now();
        let shard = sim.host_mut::<Shard>(self.host);
        while self.sent < self.size {
            let n = (self.size - self.sent).min(scratch.len());
            fill(seed, self.stream_out, self.sent, &mut scratch[..n]);
            match shard.send(h, &scratch[..n]) {
                Ok(0) | Err(Error::WouldBlock) => break,
                Ok(k) => self.sent += k,
                Err(e) => {
                    self.error = Some(format!("send failed after {} bytes: {e}", self.sent));
                    return;
                }
            }
        }
        // Like a tokio stream, which exists only once connect has completed.
        let open = shard.state(h).map(|s| s.is_synchronized()).unwrap_or(true);
        if self.sent == self.size && !self.shut && open {
            shard.shutdown_write(h).unwrap();
            self.shut = true;
        }
        while !self.eof {
            match shard.recv(h, scratch) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    fill(seed, self.stream_in, self.received, &mut expect[..n]);
                    if scratch[..n] != expect[..n] {
                        let at = scratch[..n]
                            .iter()
                            .zip(&expect[..n])
                            .position(|(a, b)| a != b)
                            .unwrap_or(0);
                        self.error = Some(format!(
                            "corrupt data at stream offset {}",
                            self.received + at
                        ));
                        return;
                    }
                    self.received += n;
                }
                Err(Error::WouldBlock) => break,
                Err(e) => {
                    self.error = Some(format!("recv failed after {} bytes: {e}", self.received));
                    return;
                }
            }
        }
        if self.eof && self.shut {
            if self.received != self.size {
                self.error = Some(format!(
                    "EOF after {} of {} bytes",
                    self.received, self.size
                ));
            }
            shard.close(now, h).unwrap();
            self.closed = true;
        }
    }
}

/// What a transfer run ended with.
#[derive(Debug)]
pub struct Outcome {
    pub virtual_time: Duration,
    pub time_wait: usize,
    pub retransmits: u64,
}

/// Parameters of one run.
#[derive(Clone, Debug)]
pub struct Transfer {
    pub seed: u64,
    pub size: usize,
    pub link: LinkConfig,
    pub client: Config,
    pub server: Config,
    pub bound: Duration,
    /// Connect to the server's IPv6 address (both hosts have one of each family, and the
    /// server listens dual-stack on `[::]`).
    pub ipv6: bool,
}

impl Transfer {
    pub fn new(seed: u64, size: usize, link: LinkConfig) -> Transfer {
        Transfer {
            seed,
            size,
            link,
            client: Config::default(),
            server: Config::default(),
            bound: Duration::from_secs(3600),
            ipv6: false,
        }
    }
}

/// Runs `size` bytes each way at once over the impaired link, then a clean close; checks
/// every byte, and that both ends finish in CLOSED or TIME-WAIT.
pub fn run_transfer(t: &Transfer) -> Result<Outcome, String> {
    let mut sim = Sim::new(t.seed);
    let c = sim.add_host(Shard::new(
        t.client.clone(),
        &[ip(CLIENT_IP), ip(CLIENT_IP6)],
        Secret(seed_bytes(t.seed, 1)),
    ));
    let s = sim.add_host(Shard::new(
        t.server.clone(),
        &[ip(SERVER_IP), ip(SERVER_IP6)],
        Secret(seed_bytes(t.seed, 2)),
    ));
    sim.set_links(t.link.clone());
    let listener = sim
        .host_mut::<Shard>(s)
        .listen(SocketAddr::new(ip("::"), PORT), 16)
        .map_err(|e| e.to_string())?;
    let now = sim.now();
    let to = SocketAddr::new(ip(if t.ipv6 { SERVER_IP6 } else { SERVER_IP }), PORT);
    let ch = sim
        .host_mut::<Shard>(c)
        .connect(now, to, None)
        .map_err(|e| e.to_string())?;
    let mut client = Side::new(c, 0, t.size);
    client.handle = Some(ch);
    let mut server = Side::new(s, 1, t.size);
    let mut scratch = vec![0u8; 64 * 1024];
    let mut expect = vec![0u8; 64 * 1024];
    let deadline = sim.now() + t.bound;
    let mut failure = None;
    let res = sim.run_until(deadline, |sim| {
        if server.handle.is_none() {
            server.handle = sim.host_mut::<Shard>(s).accept(listener).unwrap();
            if let Some(h) = server.handle
                && let Ok(peer) = sim.host::<Shard>(s).peer_addr(h)
                && peer.is_ipv6() != t.ipv6
            {
                failure = Some(format!("accepted a connection from {peer}, asked for ipv6={}", t.ipv6));
                return true;
            }
        }
        client.drive(sim, t.seed, &mut scratch, &mut expect);
        server.drive(sim, t.seed, &mut scratch, &mut expect);
        if let Some(e) = client
            .error
            .take()
            .map(|e| format!("client: {e}"))
            .or_else(|| server.error.take().map(|e| format!("server: {e}")))
        {
            failure = Some(e);
            return true;
        }
        client.closed
            && server.closed
            && settled(sim.host::<Shard>(c))
            && settled(sim.host::<Shard>(s))
    });
    if let Some(f) = failure {
        return Err(f);
    }
    if let Err(e) = res {
        return Err(format!(
            "{e}; client sent {} received {} shut {} eof {}, server sent {} received {} shut {} eof {}; states client {:?} server {:?}",
            client.sent,
            client.received,
            client.shut,
            client.eof,
            server.sent,
            server.received,
            server.shut,
            server.eof,
            sim.host::<Shard>(c).state_counts(),
            sim.host::<Shard>(s).state_counts()
        ));
    }
    let tw = count_state(sim.host::<Shard>(c), State::TimeWait)
        + count_state(sim.host::<Shard>(s), State::TimeWait);
    if tw == 0 {
        return Err("neither side went through TIME-WAIT".into());
    }
    let retransmits = sim.host::<Shard>(c).stats().tcp_retrans_segs
        + sim.host::<Shard>(s).stats().tcp_retrans_segs;
    Ok(Outcome {
        virtual_time: sim.now() - Instant::ZERO,
        time_wait: tw,
        retransmits,
    })
}

/// Every connection left is in TIME-WAIT (the others reached CLOSED and were freed).
pub fn settled(shard: &Shard) -> bool {
    shard
        .state_counts()
        .iter()
        .all(|(s, _)| *s == State::TimeWait)
}

pub fn count_state(shard: &Shard, state: State) -> usize {
    shard
        .state_counts()
        .iter()
        .filter(|(s, _)| *s == state)
        .map(|(_, n)| *n)
        .sum()
}

pub fn seed_bytes(seed: u64, salt: u8) -> [u8; 16] {
    let mut k = [salt; 16];
    k[..8].copy_from_slice(&seed.to_le_bytes());
    k
}
