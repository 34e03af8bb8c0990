//! The packet capture `conntime` measures connections with: an `AF_PACKET` socket on the
//! kernel's side of the link (the TUN device's kernel end, or the client's veth end), so
//! both stacks are timed at the same place and the same way. A classic BPF filter keeps
//! only IPv4 TCP headers (64 bytes of each packet); the kernel stamps each packet as it
//! passes the tap, and the socket's own counters say whether it dropped any.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// One captured TCP header, as the pairing needs it.
#[derive(Clone, Copy, Debug)]
pub struct Packet {
    /// The kernel's time stamp (CLOCK_REALTIME), in nanoseconds.
    pub t_ns: u64,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub seq: u32,
    /// The TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10).
    pub flags: u8,
}

/// TCP flag bits.
pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const ACK: u8 = 0x10;

/// Bytes kept of each packet: an IPv4 header with no options and a TCP header up to its
/// sequence and flags, with room to spare.
const SNAP: u32 = 64;

/// The capture's result.
#[derive(Debug, Default)]
pub struct Captured {
    pub packets: Vec<Packet>,
    /// Packets the socket dropped (its buffer overflowed): the run's measurement is then
    /// incomplete.
    pub dropped: u64,
}

/// A capture running on its own thread.
#[derive(Debug)]
pub struct Capture {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<io::Result<Captured>>>,
}

impl Capture {
    /// Starts capturing on `device` inside `ns` (the socket is opened there).
    ///
    /// # Errors
    /// Why the socket could not be opened or bound (needs root).
    pub fn start(ns: &super::Netns, device: &str) -> io::Result<Capture> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let device = device.to_owned();
        let flag = stop.clone();
        let thread = ns.spawn(move || {
            let sock = match open(&device) {
                Ok(s) => {
                    let _ = tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                    return Err(e);
                }
            };
            run(&sock, &flag)
        });
        rx.recv().map_err(|_| io::Error::other("capture thread died"))??;
        Ok(Capture { stop, thread: Some(thread) })
    }

    /// Stops the capture and returns what it saw.
    ///
    /// # Errors
    /// A receive error of the capture socket.
    pub fn finish(mut self) -> io::Result<Captured> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map_or_else(|| Ok(Captured::default()), |t| t.join().map_err(|_| io::Error::other("capture thread panicked"))?)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn last_error(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// A cooked (`SOCK_DGRAM`: link headers removed) packet socket on `device`, with the
/// filter, kernel time stamps, a large buffer and a receive timeout (so the stop flag is
/// seen). It asks for every protocol: the kernel shows packets a device sends only to
/// such taps, and the filter keeps the TCP ones (`parse` then checks for IPv4).
fn open(device: &str) -> io::Result<OwnedFd> {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket call; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, i32::from(proto)) };
    if fd < 0 {
        return Err(last_error("AF_PACKET socket (needs root)"));
    }
    // SAFETY: `fd` is a fresh descriptor we own.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // Classic BPF: accept IPv4 TCP (protocol byte at offset 9 of the IP header) with a
    // snap length of SNAP, drop the rest.
    let filter = [
        libc::sock_filter { code: (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16, jt: 0, jf: 0, k: 9 },
        libc::sock_filter { code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16, jt: 0, jf: 1, k: 6 },
        libc::sock_filter { code: (libc::BPF_RET | libc::BPF_K) as u16, jt: 0, jf: 0, k: SNAP },
        libc::sock_filter { code: (libc::BPF_RET | libc::BPF_K) as u16, jt: 0, jf: 0, k: 0 },
    ];
    let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr().cast_mut() };
    setsockopt(&sock, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog, "SO_ATTACH_FILTER")?;
    setsockopt(&sock, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &(256i32 << 20), "SO_RCVBUFFORCE")?;
    setsockopt(&sock, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &1i32, "SO_TIMESTAMPNS")?;
    let tv = libc::timeval { tv_sec: 0, tv_usec: 20_000 };
    setsockopt(&sock, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv, "SO_RCVTIMEO")?;
    let name = std::ffi::CString::new(device).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "device name"))?;
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(last_error(&format!("no interface {device}")));
    }
    // SAFETY: zeroed sockaddr_ll is valid; the fields are then set.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: a sockaddr_ll of the right length.
    let r = unsafe { libc::bind(sock.as_raw_fd(), (&raw const sll).cast(), size_of::<libc::sockaddr_ll>() as u32) };
    if r != 0 {
        return Err(last_error(&format!("bind to {device}")));
    }
    // Packets that arrived before the filter was attached are not ours to judge: drain
    // them, and reset the drop counter.
    let mut scratch = [0u8; 128];
    // SAFETY: a receive into a stack buffer, non-blocking.
    while unsafe { libc::recv(sock.as_raw_fd(), scratch.as_mut_ptr().cast(), scratch.len(), libc::MSG_DONTWAIT) } > 0 {}
    let _ = drops(&sock);
    Ok(sock)
}

fn setsockopt<T>(sock: &OwnedFd, level: i32, name: i32, value: &T, what: &str) -> io::Result<()> {
    // SAFETY: `value` points at a live T of the size given.
    let r = unsafe { libc::setsockopt(sock.as_raw_fd(), level, name, (value as *const T).cast(), size_of::<T>() as u32) };
    if r != 0 { Err(last_error(what)) } else { Ok(()) }
}

/// Packets dropped since the last call (the kernel resets the counters when read).
fn drops(sock: &OwnedFd) -> io::Result<u64> {
    let mut st = libc::tpacket_stats { tp_packets: 0, tp_drops: 0 };
    let mut len = size_of::<libc::tpacket_stats>() as u32;
    // SAFETY: a tpacket_stats buffer of the length given.
    let r = unsafe { libc::getsockopt(sock.as_raw_fd(), libc::SOL_PACKET, libc::PACKET_STATISTICS, (&raw mut st).cast(), &mut len) };
    if r != 0 { Err(last_error("PACKET_STATISTICS")) } else { Ok(u64::from(st.tp_drops)) }
}

/// Receives in batches until `stop`, then once more until the socket is empty.
fn run(sock: &OwnedFd, stop: &AtomicBool) -> io::Result<Captured> {
    const BATCH: usize = 256;
    const CMSG: usize = 64;
    let mut bufs = vec![[0u8; SNAP as usize]; BATCH];
    let mut ctrl = vec![[0u8; CMSG]; BATCH];
    let mut out = Captured::default();
    let mut draining = false;
    loop {
        let mut iov: Vec<libc::iovec> = bufs.iter_mut().map(|b| libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() }).collect();
        let mut msgs: Vec<libc::mmsghdr> = (0..BATCH)
            .map(|i| {
                // SAFETY: an all-zero msghdr is valid; its pointers are set below.
                let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
                h.msg_iov = &raw mut iov[i];
                h.msg_iovlen = 1;
                h.msg_control = ctrl[i].as_mut_ptr().cast();
                h.msg_controllen = CMSG;
                libc::mmsghdr { msg_hdr: h, msg_len: 0 }
            })
            .collect();
        let flags = if draining { libc::MSG_DONTWAIT } else { 0 };
        // SAFETY: every header points at live buffers of the lengths given.
        let n = unsafe { libc::recvmmsg(sock.as_raw_fd(), msgs.as_mut_ptr(), BATCH as u32, flags, std::ptr::null_mut()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if !matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted) {
                return Err(e);
            }
            if draining {
                break;
            }
            if stop.load(Ordering::Relaxed) {
                draining = true;
            }
            continue;
        }
        for (i, m) in msgs.iter().take(n as usize).enumerate() {
            let t_ns = stamp(&m.msg_hdr);
            if let Some(p) = parse(&bufs[i][..(m.msg_len as usize).min(SNAP as usize)], t_ns) {
                out.packets.push(p);
            }
        }
        if stop.load(Ordering::Relaxed) {
            draining = true;
        }
    }
    out.dropped = drops(sock)?;
    Ok(out)
}

/// The SO_TIMESTAMPNS control message's time, in nanoseconds.
fn stamp(h: &libc::msghdr) -> u64 {
    // SAFETY: walking the control messages the kernel wrote into our buffer, with the
    // libc macros made for it.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                return ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    0
}

/// The fields of an IPv4 TCP packet's headers.
pub fn parse(b: &[u8], t_ns: u64) -> Option<Packet> {
    if b.len() < 20 || b[0] >> 4 != 4 || b[9] != 6 {
        return None;
    }
    let ihl = usize::from(b[0] & 0x0f) * 4;
    let t = b.get(ihl..ihl + 14)?;
    let ip = |o: usize| Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3]);
    Some(Packet {
        t_ns,
        src: SocketAddrV4::new(ip(12), u16::from_be_bytes([t[0], t[1]])),
        dst: SocketAddrV4::new(ip(16), u16::from_be_bytes([t[2], t[3]])),
        seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
        flags: t[13],
    })
}

/// How long a packet's time is after `epoch_ns`.
pub fn since(epoch_ns: u64, t_ns: u64) -> Duration {
    Duration::from_nanos(t_ns.saturating_sub(epoch_ns))
}
