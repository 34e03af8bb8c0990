//! A spoofed-packet flooder for flood tests and benchmarks: one thread writing TCP
//! segments from random source addresses, batched with `sendmmsg`, as fast as it can or at
//! a given rate, through a raw socket (`IPPROTO_RAW`: routed by the kernel) or, faster,
//! through a packet socket on a given interface that bypasses the queueing discipline
//! (`PACKET_QDISC_BYPASS`: straight to the device, as a traffic generator sends). It runs
//! in a namespace the caller made, so the flood never leaves it.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringtcp_transport::SeqNum;
use ringtcp_transport::wire::{IPV4_HEADER_LEN, PROTO_TCP, TcpFlags, TcpHeader, TcpOptions, Timestamps, emit_ipv4_header, fill_tcp_checksum_v4};

use super::Netns;

/// Packets handed to the kernel per `sendmmsg`.
const BATCH: usize = 64;

/// What the flood sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloodKind {
    /// SYNs with the options a Linux client sends (MSS, SACK-permitted, timestamps, window
    /// scale), each from a random address of the source prefix and a random port.
    Syn,
    /// ACKs with random sequence and acknowledgment numbers.
    Ack,
    /// RSTs with random sequence numbers.
    Rst,
    /// Against one known 4-tuple (the source is `from`, not random): RSTs, SYNs, ACKs and
    /// data segments with guessed sequence and acknowledgment numbers, in turn; the blind
    /// in-window attacks of RFC 5961.
    Blind {
        /// The connection's peer address, which the attacker spoofs.
        from: SocketAddrV4,
    },
}

/// A flood's settings.
#[derive(Clone, Debug)]
pub struct FloodConfig {
    /// Where the packets go.
    pub target: SocketAddrV4,
    /// What they are.
    pub kind: FloodKind,
    /// Source addresses are drawn from this prefix (address, length).
    pub sources: (Ipv4Addr, u8),
    /// Packets per second at most; `None` is as fast as the thread can send.
    pub rate: Option<u64>,
    /// Seed of the addresses, ports and numbers.
    pub seed: u64,
    /// Send through a packet socket on this interface (and, for an Ethernet device, to
    /// this MAC address) instead of a routed raw socket.
    pub device: Option<(String, Option<[u8; 6]>)>,
}

impl FloodConfig {
    /// A SYN flood at `target` from 198.18.0.0/15 (the benchmarking range of RFC 2544),
    /// as fast as possible.
    pub fn syn(target: SocketAddrV4) -> FloodConfig {
        FloodConfig { target, kind: FloodKind::Syn, sources: (Ipv4Addr::new(198, 18, 0, 0), 15), rate: None, seed: 1, device: None }
    }
}

/// A running flood.
#[derive(Debug)]
pub struct Flooder {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    started: Instant,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Flooder {
    /// Starts flooding from a thread inside `ns` (or in this thread's namespace).
    ///
    /// # Errors
    /// If the raw socket cannot be opened (it needs CAP_NET_RAW).
    pub fn start(ns: Option<&Netns>, cfg: FloodConfig) -> io::Result<Flooder> {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let body = {
            let (stop, sent) = (stop.clone(), sent.clone());
            let cfg = cfg.clone();
            move || -> io::Result<()> {
                let opened = match &cfg.device {
                    Some((ifname, mac)) => packet_socket(ifname, *mac),
                    None => raw_socket().map(|s| (s, Destination::Ip)),
                };
                let (socket, dst) = match opened {
                    Ok(s) => {
                        let _ = ready_tx.send(Ok(()));
                        s
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                        return Err(e);
                    }
                };
                flood(&socket, &dst, &cfg, &stop, &sent)
            }
        };
        let thread = match ns {
            Some(ns) => ns.spawn(body),
            None => std::thread::spawn(body),
        };
        ready_rx.recv().map_err(|_| io::Error::other("the flood thread died while starting"))??;
        Ok(Flooder { stop, sent, started: Instant::now(), thread: Some(thread) })
    }

    /// Packets sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Stops the flood; returns the packets sent and the rate achieved.
    ///
    /// # Errors
    /// If sending failed.
    pub fn stop(mut self) -> io::Result<(u64, f64)> {
        self.stop.store(true, Ordering::Relaxed);
        let elapsed = self.started.elapsed().as_secs_f64();
        if let Some(t) = self.thread.take() {
            t.join().map_err(|_| io::Error::other("the flood thread panicked"))??;
        }
        let n = self.sent();
        Ok((n, n as f64 / elapsed.max(1e-9)))
    }
}

impl Drop for Flooder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Where `sendmmsg` sends: an IP destination (raw socket) or a link-layer one.
enum Destination {
    Ip,
    Link(libc::sockaddr_ll),
}

/// A packet socket bound to `ifname` that hands IPv4 packets straight to the device.
fn packet_socket(ifname: &str, mac: Option<[u8; 6]>) -> io::Result<(OwnedFd, Destination)> {
    let proto = (libc::ETH_P_IP as u16).to_be();
    // Protocol 0: the socket only sends. Opened for ETH_P_IP, it would also be handed a
    // clone of every packet the stack under test writes to the device (packet_rcv runs in
    // that writer's context), a cost a traffic generator on another machine never puts on
    // the server. The protocol of what it sends comes with each destination below.
    // SAFETY: socket takes no pointers.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nobody else.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let name = std::ffi::CString::new(ifname).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name"))?;
    // SAFETY: a valid NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    let one: libc::c_int = 1;
    // SAFETY: setsockopt reads one int.
    let r = unsafe {
        libc::setsockopt(socket.as_raw_fd(), libc::SOL_PACKET, 20 /* PACKET_QDISC_BYPASS */, (&one as *const libc::c_int).cast(), 4)
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
    let mut ll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    ll.sll_family = libc::AF_PACKET as u16;
    ll.sll_protocol = proto;
    ll.sll_ifindex = index as i32;
    if let Some(m) = mac {
        ll.sll_halen = 6;
        ll.sll_addr[..6].copy_from_slice(&m);
    }
    Ok((socket, Destination::Link(ll)))
}

fn raw_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket takes no pointers; a valid fd or -1 comes back.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::IPPROTO_RAW) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// xorshift64*: plenty for addresses and sequence numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Writes packet `i` of the flood into `buf`; returns its length.
fn build(cfg: &FloodConfig, rng: &mut Rng, i: u64, buf: &mut [u8]) -> usize {
    let r = rng.next();
    let (net, len) = cfg.sources;
    let host_bits = 32 - u32::from(len.min(32));
    let mask = if host_bits == 0 { 0 } else { u32::MAX >> (32 - host_bits) };
    let (src, sport) = match cfg.kind {
        FloodKind::Blind { from } => (*from.ip(), from.port()),
        _ => (Ipv4Addr::from((u32::from(net) & !mask) | (r as u32 & mask)), 1024 + ((r >> 32) as u16 % 64_000)),
    };
    let seq = SeqNum((r >> 16) as u32);
    let ack = SeqNum(rng.next() as u32);
    let (flags, options, payload) = match cfg.kind {
        FloodKind::Syn => (
            TcpFlags::SYN,
            TcpOptions {
                mss: Some(1460),
                sack_permitted: true,
                timestamps: Some(Timestamps { val: r as u32, ecr: 0 }),
                window_scale: Some(7),
                ..TcpOptions::default()
            },
            0,
        ),
        FloodKind::Ack => (TcpFlags::ACK, TcpOptions::default(), 0),
        FloodKind::Rst => (TcpFlags::RST, TcpOptions::default(), 0),
        FloodKind::Blind { .. } => match i % 4 {
            0 => (TcpFlags::RST, TcpOptions::default(), 0),
            1 => (TcpFlags::SYN, TcpOptions::default(), 0),
            2 => (TcpFlags::ACK, TcpOptions::default(), 0),
            _ => (TcpFlags::ACK | TcpFlags::PSH, TcpOptions::default(), 64),
        },
    };
    let h = TcpHeader {
        src_port: sport,
        dst_port: cfg.target.port(),
        seq,
        ack,
        flags,
        window: 64_240,
        urgent: 0,
        options,
    };
    let hlen = h.wire_len();
    let total = IPV4_HEADER_LEN + hlen + payload;
    emit_ipv4_header(buf, src, *cfg.target.ip(), PROTO_TCP, hlen + payload, 64, i as u16);
    h.emit(&mut buf[IPV4_HEADER_LEN..]);
    buf[IPV4_HEADER_LEN + hlen..total].fill(0x41);
    fill_tcp_checksum_v4(&mut buf[IPV4_HEADER_LEN..total], src, *cfg.target.ip());
    total
}

fn flood(socket: &OwnedFd, link: &Destination, cfg: &FloodConfig, stop: &AtomicBool, sent: &AtomicU64) -> io::Result<()> {
    let mut rng = Rng(cfg.seed | 1);
    let mut bufs = vec![[0u8; 128]; BATCH];
    let ip_dst = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr { s_addr: u32::from(*cfg.target.ip()).to_be() },
        sin_zero: [0; 8],
    };
    let (name, namelen): (*const libc::c_void, u32) = match link {
        Destination::Ip => ((&ip_dst as *const libc::sockaddr_in).cast(), size_of::<libc::sockaddr_in>() as u32),
        Destination::Link(ll) => ((ll as *const libc::sockaddr_ll).cast(), size_of::<libc::sockaddr_ll>() as u32),
    };
    let mut iovs: Vec<libc::iovec> = bufs.iter_mut().map(|b| libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: 0 }).collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| libc::mmsghdr {
            msg_hdr: libc::msghdr {
                msg_name: name.cast_mut(),
                msg_namelen: namelen,
                msg_iov: iov,
                msg_iovlen: 1,
                msg_control: std::ptr::null_mut(),
                msg_controllen: 0,
                msg_flags: 0,
            },
            msg_len: 0,
        })
        .collect();
    let start = Instant::now();
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if let Some(rate) = cfg.rate {
            let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
            if i >= due {
                std::thread::sleep(Duration::from_micros(200));
                continue;
            }
        }
        for (k, m) in msgs.iter_mut().enumerate() {
            // SAFETY: each header's iovec points into `bufs[k]`, alive and unaliased here.
            let iov = unsafe { &mut *m.msg_hdr.msg_iov };
            // SAFETY: `iov_base` points at a 128-byte buffer of `bufs`.
            let buf = unsafe { std::slice::from_raw_parts_mut(iov.iov_base.cast::<u8>(), 128) };
            iov.iov_len = build(cfg, &mut rng, i + k as u64, buf);
        }
        // SAFETY: every header points at a live iovec, buffer and address.
        let n = unsafe { libc::sendmmsg(socket.as_raw_fd(), msgs.as_mut_ptr(), BATCH as u32, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            // A full device queue: the kernel drops, as a NIC would; keep going.
            if matches!(e.raw_os_error(), Some(libc::ENOBUFS | libc::EAGAIN | libc::EINTR | libc::EPERM)) {
                continue;
            }
            return Err(e);
        }
        i += BATCH as u64;
        sent.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(())
}
