//! A deterministic network simulator on virtual time.
//!
//! Hosts (ringtcp [`Shard`]s, or any other stack behind the [`Host`] trait, such as smoltcp
//! in the interop tests) are joined by directed links with seeded loss, duplication,
//! reordering, corruption, delay with jitter, a bandwidth limit and a bounded queue. The
//! same seed gives the same run, packet for packet.
//!
//! ```
//! use ringtcp_transport::sim::{LinkConfig, Sim};
//! use ringtcp_transport::{Config, Secret, Shard};
//! use std::time::Duration;
//!
//! let mut sim = Sim::new(7);
//! let a = sim.add_host(Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([1; 16])));
//! let b = sim.add_host(Shard::new(Config::default(), &["10.0.0.2".parse().unwrap()], Secret([2; 16])));
//! sim.set_links(LinkConfig { delay: Duration::from_millis(5), loss: 0.01, ..LinkConfig::default() });
//! let l = sim.host_mut::<Shard>(b).listen("10.0.0.2:80".parse().unwrap(), 16).unwrap();
//! let now = sim.now();
//! sim.host_mut::<Shard>(a).connect(now, "10.0.0.2:80".parse().unwrap(), None).unwrap();
//! sim.run_until(sim.now() + Duration::from_secs(30), |sim| {
//!     sim.host_mut::<Shard>(b).accept(l).unwrap().is_some()
//! }).unwrap();
//! ```

use std::any::Any;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::shard::Shard;
use crate::time::Instant;

/// Decides, from (sending host, receiving host, packet), which packets to drop.
type DropFilter = Box<dyn FnMut(usize, usize, &[u8]) -> bool>;

/// Largest packet a simulated host may emit.
pub const MAX_PACKET: usize = 9216;

/// A network stack the simulator can drive.
pub trait Host: Any {
    /// The IP addresses packets are routed to this host by.
    fn addresses(&self) -> Vec<IpAddr>;
    /// Takes one received IP packet.
    fn receive(&mut self, now: Instant, packet: &[u8]);
    /// Writes the next packet to send into `buf`.
    fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;
    /// When this host next needs `on_timeout`.
    fn next_timeout(&self) -> Option<Instant>;
    /// Runs timers due at `now`.
    fn on_timeout(&mut self, now: Instant);
}

impl Host for Shard {
    fn addresses(&self) -> Vec<IpAddr> {
        Shard::addresses(self).to_vec()
    }
    fn receive(&mut self, now: Instant, packet: &[u8]) {
        self.handle_packet(now, packet)
    }
    fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.poll_transmit(now, buf)
    }
    fn next_timeout(&self) -> Option<Instant> {
        self.poll_timeout()
    }
    fn on_timeout(&mut self, now: Instant) {
        self.handle_timeout(now)
    }
}

/// Impairments of one direction of a link.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Uniform extra delay in `[0, jitter)` per packet (reorders packets as a side effect).
    pub jitter: Duration,
    /// Probability a packet is lost.
    pub loss: f64,
    /// Probability a packet is delivered twice.
    pub duplicate: f64,
    /// Probability a packet is held back by up to `2·delay + 1 ms` (reordering).
    pub reorder: f64,
    /// Probability one random bit of a packet is flipped.
    pub corrupt: f64,
    /// Bytes per second, `None` for unlimited.
    pub bandwidth: Option<u64>,
    /// Longest a packet may wait for the link before being tail-dropped.
    pub queue: Duration,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            delay: Duration::from_micros(100),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            corrupt: 0.0,
            bandwidth: None,
            queue: Duration::from_millis(200),
        }
    }
}

/// Packet counts of the whole simulated network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Packets hosts emitted.
    pub sent: u64,
    /// Packets delivered (duplicates included).
    pub delivered: u64,
    /// Lost to the loss probability.
    pub lost: u64,
    /// Tail-dropped by a full queue.
    pub queue_drops: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Held back for reordering.
    pub reordered: u64,
    /// Bit-flipped.
    pub corrupted: u64,
    /// Addressed to no host.
    pub unroutable: u64,
}

/// A run did not reach its goal within its virtual-time bound.
#[derive(Clone, Debug)]
pub struct SimTimeout {
    /// Virtual time when the run gave up.
    pub at: Instant,
    /// The seed, so the run can be repeated alone.
    pub seed: u64,
}

impl fmt::Display for SimTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "simulation (seed {}) did not finish by virtual time {:?}", self.seed, Duration::from_nanos(self.at.as_nanos()))
    }
}

impl std::error::Error for SimTimeout {}

struct InFlight {
    at: Instant,
    order: u64,
    to: usize,
    bytes: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.order) == (o.at, o.order)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for InFlight {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(o.at, o.order))
    }
}

#[derive(Debug, Default)]
struct LinkState {
    busy_until: Instant,
}

/// The simulated network.
pub struct Sim {
    seed: u64,
    now: Instant,
    rng: ChaCha8Rng,
    hosts: Vec<Box<dyn Host>>,
    routes: HashMap<IpAddr, usize>,
    links: HashMap<(usize, usize), (LinkConfig, LinkState)>,
    default_link: LinkConfig,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    buf: Vec<u8>,
    stats: SimStats,
    trace: bool,
    filter: Option<DropFilter>,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim").field("seed", &self.seed).field("now", &self.now).field("hosts", &self.hosts.len()).finish()
    }
}

impl Sim {
    /// An empty network whose randomness all comes from `seed`.
    pub fn new(seed: u64) -> Sim {
        Sim {
            seed,
            now: Instant::from_millis(1),
            rng: ChaCha8Rng::seed_from_u64(seed),
            hosts: Vec::new(),
            routes: HashMap::new(),
            links: HashMap::new(),
            default_link: LinkConfig::default(),
            in_flight: BinaryHeap::new(),
            order: 0,
            buf: vec![0; MAX_PACKET],
            stats: SimStats::default(),
            trace: std::env::var_os("RINGTCP_SIM_TRACE").is_some(),
            filter: None,
        }
    }

    /// The seed this network runs with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Packet counts so far.
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// A random number from the simulation's seeded generator (for workloads).
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// Adds a host; returns its index.
    pub fn add_host<H: Host>(&mut self, host: H) -> usize {
        let id = self.hosts.len();
        for a in host.addresses() {
            self.routes.insert(a, id);
        }
        self.hosts.push(Box::new(host));
        id
    }

    /// The host at `id` as its concrete type.
    ///
    /// # Panics
    /// If `id` is not a host of type `H` (a test bug, not a runtime condition).
    pub fn host_mut<H: Host>(&mut self, id: usize) -> &mut H {
        let h: &mut dyn Any = self.hosts[id].as_mut();
        h.downcast_mut::<H>().expect("host type mismatch")
    }

    /// The host at `id`, read-only.
    ///
    /// # Panics
    /// As [`Sim::host_mut`].
    pub fn host<H: Host>(&self, id: usize) -> &H {
        let h: &dyn Any = self.hosts[id].as_ref();
        h.downcast_ref::<H>().expect("host type mismatch")
    }

    /// Sets the impairments of the link from `from` to `to`.
    pub fn set_link(&mut self, from: usize, to: usize, cfg: LinkConfig) {
        self.links.insert((from, to), (cfg, LinkState::default()));
    }

    /// Sets the impairments of every link (existing and future).
    pub fn set_links(&mut self, cfg: LinkConfig) {
        for (c, _) in self.links.values_mut() {
            *c = cfg.clone();
        }
        self.default_link = cfg;
    }

    /// Drops exactly the packets `f(from, to, packet)` says to, before any random
    /// impairment: for tests that need one particular segment lost. Dropped packets count
    /// as lost.
    pub fn set_drop_filter(&mut self, f: impl FnMut(usize, usize, &[u8]) -> bool + 'static) {
        self.filter = Some(Box::new(f));
    }

    /// Injects a raw packet to be delivered to whichever host owns its destination, as if
    /// it came off the wire now (for attack and malformed-input tests).
    pub fn inject(&mut self, packet: Vec<u8>) {
        let Some(to) = dst_of(&packet).and_then(|d| self.routes.get(&d).copied()) else {
            self.stats.unroutable += 1;
            return;
        };
        let at = self.now;
        self.push(at, to, packet);
    }

    fn push(&mut self, at: Instant, to: usize, bytes: Vec<u8>) {
        self.order += 1;
        self.in_flight.push(Reverse(InFlight { at, order: self.order, to, bytes }));
    }

    /// Collects every packet hosts want to send and puts it on its link.
    fn flush(&mut self) {
        for from in 0..self.hosts.len() {
            while let Some(n) = self.hosts[from].transmit(self.now, &mut self.buf) {
                self.stats.sent += 1;
                let bytes = self.buf[..n].to_vec();
                self.route(from, bytes);
            }
        }
    }

    fn route(&mut self, from: usize, mut bytes: Vec<u8>) {
        let Some(to) = dst_of(&bytes).and_then(|d| self.routes.get(&d).copied()) else {
            self.stats.unroutable += 1;
            return;
        };
        if let Some(f) = &mut self.filter
            && f(from, to, &bytes)
        {
            self.stats.lost += 1;
            return;
        }
        let default = self.default_link.clone();
        let (cfg, state) = self.links.entry((from, to)).or_insert_with(|| (default, LinkState::default()));
        let cfg = cfg.clone();
        // Serialisation on a bandwidth-limited link, with a bounded queue in front of it.
        let mut depart = self.now;
        if let Some(bw) = cfg.bandwidth {
            let start = state.busy_until.max(self.now);
            if start - self.now > cfg.queue {
                self.stats.queue_drops += 1;
                return;
            }
            let tx = Duration::from_nanos((bytes.len() as u64 * 1_000_000_000) / bw.max(1));
            depart = start + tx;
            state.busy_until = depart;
        }
        if self.rng.random_bool(cfg.loss.clamp(0.0, 1.0)) {
            self.stats.lost += 1;
            return;
        }
        if self.rng.random_bool(cfg.corrupt.clamp(0.0, 1.0)) && !bytes.is_empty() {
            let bit = self.rng.random_range(0..bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            self.stats.corrupted += 1;
        }
        let mut at = depart + cfg.delay;
        if !cfg.jitter.is_zero() {
            at += Duration::from_nanos(self.rng.random_range(0..cfg.jitter.as_nanos() as u64));
        }
        if self.rng.random_bool(cfg.reorder.clamp(0.0, 1.0)) {
            let extra = 2 * cfg.delay + Duration::from_millis(1);
            at += Duration::from_nanos(self.rng.random_range(0..extra.as_nanos() as u64));
            self.stats.reordered += 1;
        }
        if self.rng.random_bool(cfg.duplicate.clamp(0.0, 1.0)) {
            self.stats.duplicated += 1;
            let again = at + Duration::from_micros(self.rng.random_range(0..1000));
            self.push(again, to, bytes.clone());
        }
        self.push(at, to, bytes);
    }

    /// Advances to the next event (a delivery or a timer) and processes everything due
    /// then. Returns false when nothing at all is pending.
    pub fn step(&mut self) -> bool {
        self.flush();
        let next_packet = self.in_flight.peek().map(|Reverse(p)| p.at);
        let next_timer = self.hosts.iter().filter_map(|h| h.next_timeout()).min();
        let Some(next) = [next_packet, next_timer].into_iter().flatten().min() else {
            return false;
        };
        if next > self.now {
            self.now = next;
        }
        while let Some(Reverse(p)) = self.in_flight.peek() {
            if p.at > self.now {
                break;
            }
            let Some(Reverse(p)) = self.in_flight.pop() else { break };
            self.stats.delivered += 1;
            if self.trace {
                eprintln!("{:>12.6} -> host {} {}", self.now.as_nanos() as f64 / 1e9, p.to, describe(&p.bytes));
            }
            self.hosts[p.to].receive(self.now, &p.bytes);
        }
        for h in &mut self.hosts {
            if h.next_timeout().is_some_and(|t| t <= self.now) {
                h.on_timeout(self.now);
            }
        }
        self.flush();
        true
    }

    /// Steps until `done` returns true, failing with the seed once virtual time passes
    /// `deadline` or nothing is left to happen. `done` runs before every step, so it can
    /// also drive applications (write, read, close).
    pub fn run_until(&mut self, deadline: Instant, mut done: impl FnMut(&mut Sim) -> bool) -> Result<(), SimTimeout> {
        loop {
            if done(self) {
                return Ok(());
            }
            if self.now > deadline || !self.step() {
                // One more look: the last step may have completed the goal.
                if done(self) {
                    return Ok(());
                }
                return Err(SimTimeout { at: self.now, seed: self.seed });
            }
        }
    }

    /// Runs for `d` of virtual time (or until nothing is pending).
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            let next_packet = self.in_flight.peek().map(|Reverse(p)| p.at);
            let next_timer = self.hosts.iter().filter_map(|h| h.next_timeout()).min();
            match [next_packet, next_timer].into_iter().flatten().min() {
                Some(t) if t <= end => {
                    if !self.step() {
                        break;
                    }
                }
                _ => {
                    self.flush();
                    if self.in_flight.peek().is_some_and(|Reverse(p)| p.at <= end) {
                        continue;
                    }
                    self.now = end;
                    break;
                }
            }
        }
    }
}

/// One line about a packet, for traces (`RINGTCP_SIM_TRACE=1`).
pub fn describe(packet: &[u8]) -> String {
    use crate::wire::{Ipv4Packet, Ipv6Packet, TcpSegment};
    let (src, dst, proto, payload) = match packet.first().map(|b| b >> 4) {
        Some(6) => match Ipv6Packet::parse(packet) {
            Ok(ip) => (IpAddr::V6(ip.src()), IpAddr::V6(ip.dst()), ip.next_header(), ip.payload()),
            Err(e) => return format!("bad IPv6 ({} bytes: {e})", packet.len()),
        },
        _ => match Ipv4Packet::parse(packet) {
            Ok(ip) => (IpAddr::V4(ip.src()), IpAddr::V4(ip.dst()), ip.protocol(), ip.payload()),
            Err(e) => return format!("bad IPv4 ({} bytes: {e})", packet.len()),
        },
    };
    match TcpSegment::parse(payload, src, dst) {
        Ok(s) => {
            let h = &s.header;
            format!(
                "{}:{} > {}:{} {:?} seq={} ack={} len={} win={} {:?}{}",
                src,
                h.src_port,
                dst,
                h.dst_port,
                h.flags,
                h.seq,
                h.ack,
                s.payload.len(),
                h.window,
                h.options.sack,
                if h.options.timestamps.is_some() { " ts" } else { "" }
            )
        }
        Err(e) => format!("{src} > {dst} proto {proto} ({e})"),
    }
}

/// The destination address of an IPv4 or IPv6 packet, read from the fixed header.
fn dst_of(packet: &[u8]) -> Option<IpAddr> {
    match packet.first().map(|b| b >> 4) {
        Some(4) if packet.len() >= 20 => Some(IpAddr::V4(Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]))),
        Some(6) if packet.len() >= 40 => {
            <[u8; 16]>::try_from(&packet[24..40]).ok().map(|b| IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}
