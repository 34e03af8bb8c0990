//! Interop with an implementation none of us wrote: smoltcp, driven in the simulator as
//! client and as server against ringtcp, with and without loss. Data must arrive intact
//! both ways and both ends must close cleanly.

mod common;

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use common::fill;
use ringtcp_transport::sim::{Host, LinkConfig, Sim};
use ringtcp_transport::{Config, Error, Instant, Secret, Shard, SocketHandle, State};
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle as SmolHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

const SMOL_IP: Ipv4Addr = Ipv4Addr::new(10, 7, 0, 1);
const RING_IP: Ipv4Addr = Ipv4Addr::new(10, 7, 0, 2);
const SMOL_IP6: Ipv6Addr = Ipv6Addr::new(0xfd07, 0, 0, 0, 0, 0, 0, 1);
const RING_IP6: Ipv6Addr = Ipv6Addr::new(0xfd07, 0, 0, 0, 0, 0, 0, 2);
const PORT: u16 = 7000;

#[derive(Default)]
struct QueueDevice {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        self.0.push_back(buf);
        r
    }
}

impl Device for QueueDevice {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(Rx, Tx<'_>)> {
        let p = self.rx.pop_front()?;
        Some((Rx(p), Tx(&mut self.tx)))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = 1500;
        caps
    }
}

/// smoltcp behind the simulator's `Host` trait: one interface, one TCP socket.
struct Smol {
    iface: Interface,
    sockets: SocketSet<'static>,
    dev: QueueDevice,
    tcp: SmolHandle,
    /// smoltcp's `poll_delay` needs `&mut`, so the next deadline is computed after every
    /// poll (and every transmit poll, which follows any application action).
    next: Option<Instant>,
}

fn smol_time(t: Instant) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros((t.as_nanos() / 1000) as i64)
}

impl Smol {
    fn new(seed: u64) -> Smol {
        let mut dev = QueueDevice::default();
        let mut cfg = IfaceConfig::new(HardwareAddress::Ip);
        cfg.random_seed = seed;
        let mut iface = Interface::new(cfg, &mut dev, smol_time(Instant::ZERO));
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::Ipv4(SMOL_IP), 24)).unwrap();
            a.push(IpCidr::new(IpAddress::Ipv6(SMOL_IP6), 64)).unwrap();
        });
        let mut sockets = SocketSet::new(Vec::new());
        let sock = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; 128 * 1024]), tcp::SocketBuffer::new(vec![0; 128 * 1024]));
        let tcp = sockets.add(sock);
        Smol { iface, sockets, dev, tcp, next: None }
    }

    fn poll(&mut self, now: Instant) {
        self.iface.poll(smol_time(now), &mut self.dev, &mut self.sockets);
        self.next = self
            .iface
            .poll_delay(smol_time(now), &self.sockets)
            .map(|d| now + Duration::from_micros(d.total_micros()).max(Duration::from_micros(1)));
    }

    fn socket(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(self.tcp)
    }
}

impl Host for Smol {
    fn addresses(&self) -> Vec<IpAddr> {
        vec![IpAddr::V4(SMOL_IP), IpAddr::V6(SMOL_IP6)]
    }
    fn receive(&mut self, now: Instant, packet: &[u8]) {
        self.dev.rx.push_back(packet.to_vec());
        self.poll(now);
    }
    fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if self.dev.tx.is_empty() {
            self.poll(now);
        }
        let p = self.dev.tx.pop_front()?;
        buf[..p.len()].copy_from_slice(&p);
        Some(p.len())
    }
    fn next_timeout(&self) -> Option<Instant> {
        self.next
    }
    fn on_timeout(&mut self, now: Instant) {
        self.poll(now);
    }
}

/// Progress of one side of the exchange.
#[derive(Default, Debug)]
struct Progress {
    sent: usize,
    received: usize,
    closed: bool,
    eof: bool,
}

const SMOL_STREAM: u64 = 10;
const RING_STREAM: u64 = 20;

fn drive_smol(s: &mut Smol, p: &mut Progress, size: usize, seed: u64, buf: &mut [u8], expect: &mut [u8]) -> Result<(), String> {
    let sock = s.socket();
    while p.sent < size && sock.can_send() {
        let n = (size - p.sent).min(buf.len());
        fill(seed, SMOL_STREAM, p.sent, &mut buf[..n]);
        let k = sock.send_slice(&buf[..n]).map_err(|e| format!("smoltcp send: {e}"))?;
        if k == 0 {
            break;
        }
        p.sent += k;
    }
    while sock.can_recv() {
        let n = sock.recv_slice(buf).map_err(|e| format!("smoltcp recv: {e}"))?;
        if n == 0 {
            break;
        }
        fill(seed, RING_STREAM, p.received, &mut expect[..n]);
        if buf[..n] != expect[..n] {
            return Err(format!("smoltcp got corrupt data near offset {}", p.received));
        }
        p.received += n;
    }
    if !sock.may_recv() && sock.state() != tcp::State::SynSent && sock.state() != tcp::State::Listen {
        p.eof = true;
    }
    if p.sent == size && !p.closed && sock.may_send() {
        sock.close();
        p.closed = true;
    }
    Ok(())
}

fn drive_ring(sh: &mut Shard, h: SocketHandle, p: &mut Progress, size: usize, seed: u64, buf: &mut [u8], expect: &mut [u8]) -> Result<(), String> {
    while p.sent < size {
        let n = (size - p.sent).min(buf.len());
        fill(seed, RING_STREAM, p.sent, &mut buf[..n]);
        match sh.send(h, &buf[..n]) {
            Ok(k) => p.sent += k,
            Err(Error::WouldBlock) => break,
            Err(e) => return Err(format!("ringtcp send: {e}")),
        }
    }
    loop {
        match sh.recv(h, buf) {
            Ok(0) => {
                p.eof = true;
                break;
            }
            Ok(n) => {
                fill(seed, SMOL_STREAM, p.received, &mut expect[..n]);
                if buf[..n] != expect[..n] {
                    return Err(format!("ringtcp got corrupt data near offset {}", p.received));
                }
                p.received += n;
            }
            Err(Error::WouldBlock) => break,
            Err(e) => return Err(format!("ringtcp recv: {e}")),
        }
    }
    let open = sh.state(h).map(|s| s.is_synchronized()).unwrap_or(false);
    if p.sent == size && !p.closed && open {
        sh.shutdown_write(h).map_err(|e| e.to_string())?;
        p.closed = true;
    }
    Ok(())
}

/// Both stacks answer for an IPv4 and an IPv6 address; `v6` picks the family the
/// connection uses.
fn exchange(seed: u64, smol_is_client: bool, link: LinkConfig, size: usize, v6: bool) {
    let mut sim = Sim::new(seed);
    let smol = sim.add_host(Smol::new(seed));
    let cfg = Config { syn_retries: 12, ..Config::default() };
    let ring = sim.add_host(Shard::new(cfg, &[IpAddr::V4(RING_IP), IpAddr::V6(RING_IP6)], Secret([9; 16])));
    let (ring_ip, smol_ip) = if v6 { (IpAddr::V6(RING_IP6), IpAddr::V6(SMOL_IP6)) } else { (IpAddr::V4(RING_IP), IpAddr::V4(SMOL_IP)) };
    sim.set_links(link);
    let mut listener = None;
    let mut handle = None;
    if smol_is_client {
        listener = Some(sim.host_mut::<Shard>(ring).listen((ring_ip, PORT).into(), 8).unwrap());
        let s = sim.host_mut::<Smol>(smol);
        let cx = s.iface.context();
        s.sockets.get_mut::<tcp::Socket>(s.tcp).connect(cx, (IpAddress::from(ring_ip), PORT), 49_152).unwrap();
    } else {
        sim.host_mut::<Smol>(smol).socket().listen(PORT).unwrap();
        let now = sim.now();
        handle = Some(sim.host_mut::<Shard>(ring).connect(now, (smol_ip, PORT).into(), None).unwrap());
    }
    let (mut ps, mut pr) = (Progress::default(), Progress::default());
    let (mut buf, mut expect) = (vec![0u8; 32 * 1024], vec![0u8; 32 * 1024]);
    let mut failure = None;
    let deadline = sim.now() + Duration::from_secs(600);
    let run = sim.run_until(deadline, |sim| {
        if handle.is_none()
            && let Some(l) = listener
        {
            handle = sim.host_mut::<Shard>(ring).accept(l).unwrap();
        }
        let r = drive_smol(sim.host_mut::<Smol>(smol), &mut ps, size, seed, &mut buf, &mut expect).and_then(|_| match handle {
            Some(h) => drive_ring(sim.host_mut::<Shard>(ring), h, &mut pr, size, seed, &mut buf, &mut expect),
            None => Ok(()),
        });
        if let Err(e) = r {
            failure = Some(e);
            return true;
        }
        let smol_done = matches!(sim.host_mut::<Smol>(smol).socket().state(), tcp::State::Closed | tcp::State::TimeWait);
        let ring_done = handle
            .map(|h| matches!(sim.host::<Shard>(ring).state(h), Ok(State::Closed | State::TimeWait)))
            .unwrap_or(false);
        ps.eof && pr.eof && smol_done && ring_done
    });
    if let Some(f) = failure {
        panic!("seed {seed}: {f}");
    }
    if let Err(e) = run {
        let ring_state = handle.map(|h| sim.host::<Shard>(ring).state(h));
        panic!("{e}: smoltcp {:?} {ps:?}, ringtcp {ring_state:?} {pr:?}", sim.host_mut::<Smol>(smol).socket());
    }
    assert_eq!((ps.received, pr.received), (size, size), "seed {seed}: every byte both ways");
    let ring_shard = sim.host::<Shard>(ring);
    let h = handle.unwrap();
    assert_eq!(ring_shard.local_addr(h).unwrap().ip(), ring_ip, "the connection is of the family asked for");
    assert_eq!(ring_shard.error(h).unwrap(), None, "clean close, no reset");
    assert_eq!(ring_shard.stats().in_rsts + ring_shard.stats().out_rsts, 0);
}

fn lossy() -> LinkConfig {
    LinkConfig { delay: Duration::from_millis(5), loss: 0.03, reorder: 0.03, ..LinkConfig::default() }
}

fn clean() -> LinkConfig {
    LinkConfig { delay: Duration::from_millis(5), ..LinkConfig::default() }
}

#[test]
fn smoltcp_client_ringtcp_server() {
    for seed in 1..=5 {
        exchange(seed, true, clean(), 300_000, false);
    }
}

#[test]
fn ringtcp_client_smoltcp_server() {
    for seed in 1..=5 {
        exchange(seed, false, clean(), 300_000, false);
    }
}

#[test]
fn smoltcp_client_ringtcp_server_with_loss() {
    for seed in 1..=10 {
        exchange(seed, true, lossy(), 200_000, false);
    }
}

#[test]
fn ringtcp_client_smoltcp_server_with_loss() {
    for seed in 1..=10 {
        exchange(seed, false, lossy(), 200_000, false);
    }
}

#[test]
fn smoltcp_and_ringtcp_over_ipv6_both_ways() {
    for seed in 1..=5 {
        exchange(seed, true, clean(), 300_000, true);
        exchange(seed, false, clean(), 300_000, true);
    }
}

#[test]
fn smoltcp_and_ringtcp_over_ipv6_with_loss() {
    for seed in 1..=10 {
        exchange(seed, seed % 2 == 0, lossy(), 200_000, true);
    }
}
