//! POSIX socket calls over one transport [`Shard`], on a virtual clock: what packetdrill's
//! calls mean for ringtcp, with Linux's errno values. Sans-IO like the shard itself:
//! packets come in through [`Adapter::inject`], go out through a queue of timestamped
//! packets, and time moves only when packetdrill sleeps or waits for a packet.

mod fast_open;
mod options;

use options::Options;

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ringtcp_transport::{Config, Error, FastOpenServer, Instant, ListenerHandle, Secret, Shard, SocketHandle, SocketOptions, State, TcpInfo};

/// An errno value.
pub type Errno = i32;

/// The wall-clock time (µs since the epoch) virtual time 0 stands for.
const EPOCH_USECS: i64 = 1_700_000_000_000_000;

/// How far `next_packet` lets virtual time run looking for a packet before it gives up:
/// longer than any timer a script waits for (Linux's RTO backs off to 120 s).
pub const PACKET_WAIT_LIMIT: Duration = Duration::from_secs(600);

/// The errno a transport error is on Linux.
pub fn errno_of(e: Error) -> Errno {
    match e {
        Error::ConnectionRefused => libc::ECONNREFUSED,
        Error::ConnectionReset => libc::ECONNRESET,
        Error::ConnectionAborted => libc::ECONNABORTED,
        Error::TimedOut => libc::ETIMEDOUT,
        Error::HostUnreachable => libc::EHOSTUNREACH,
        Error::NotConnected => libc::ENOTCONN,
        Error::BrokenPipe => libc::EPIPE,
        Error::AddrInUse => libc::EADDRINUSE,
        Error::AddrNotAvailable => libc::EADDRNOTAVAIL,
        Error::InvalidHandle => libc::EBADF,
        Error::InvalidInput => libc::EINVAL,
        Error::WouldBlock => libc::EAGAIN,
        Error::ConnectionLimit => libc::ENOBUFS,
    }
}

#[derive(Debug)]
enum Kind {
    /// From `socket()`, perhaps bound.
    Fresh { bound: Option<SocketAddr> },
    Listener(ListenerHandle),
    Conn {
        h: SocketHandle,
        /// `shutdown(SHUT_RD)`: reads return 0 rather than wait.
        read_shut: bool,
        /// A non-blocking connect is under way; `SO_ERROR` / a second `connect` tell how
        /// it ended.
        connecting: bool,
    },
    /// A connect that failed: the error is reported once by `SO_ERROR`.
    Failed,
}

#[derive(Debug)]
struct Fd {
    kind: Kind,
    /// Made as `AF_INET6`: its addresses read back in IPv6 form (IPv4 ones mapped).
    v6: bool,
    nonblocking: bool,
    opts: Options,
    /// An error not yet reported (`SO_ERROR` takes it).
    pending_error: Option<Errno>,
}

/// The adapter's state: one shard, its fds, the virtual clock and the packets it sent.
#[derive(Debug)]
pub struct Adapter {
    shard: Shard,
    now: Instant,
    out: VecDeque<(Vec<u8>, i64)>,
    fds: BTreeMap<i32, Fd>,
    /// The stack's address: IPv4, or IPv6 when packetdrill runs with `--ip_version=ipv6`
    /// (with `ipv4-mapped-ipv6` the wire is IPv4 and the sockets `AF_INET6`).
    local_ip: IpAddr,
    /// Where fd numbers come from and go back to (see [`FdNumbers`]).
    numbers: FdNumbers,
    /// `configure_once` has run.
    configured: bool,
    /// The device MTU packetdrill was given (`--mtu`; its IPv6 runs use 1,520 so that the
    /// corpus's MSS values stay what they are over IPv4).
    mtu: u16,
    /// Where `poll_transmit` writes, kept: `collect` runs after nearly every call, each
    /// clock reading included.
    tx_buf: Box<[u8]>,
    /// PSH is cleared on what the stack sends (see [`crate::psh_mask`]).
    mask_psh: bool,
}

/// How the adapter numbers its fds. packetdrill closes a script's sockets at its end with
/// the process's own `close()`, not through the interface, so in the loaded library each fd
/// must also be a real descriptor of the process: `ffi.rs` backs each with an open
/// `/dev/null`. Tests number them themselves.
#[derive(Clone, Copy, Debug)]
pub struct FdNumbers {
    /// A fresh number, or `None` when none is left (`EMFILE`).
    pub take: fn() -> Option<i32>,
    /// Gives a number back.
    pub give_back: fn(i32),
}

/// What a call returns: a value, or an errno. `EAGAIN` on a blocking fd means "wait for
/// the state to change and call again" to the caller in `ffi.rs`.
pub type Res<T> = Result<T, Errno>;

/// The settings the corpus's `defaults.sh` gives Linux: timestamps, SACK, CUBIC, 5 SYN(-ACK)
/// retries, a 256 KiB send buffer (ringtcp's own defaults already have a 40 ms delayed ACK
/// and a 200 ms minimum RTO, as Linux).
pub fn linux_like_config() -> Config {
    Config {
        syn_retries: 5,
        synack_retries: 5,
        tx_buffer: 256 * 1024,
        // Linux picks its window scale (8) from the largest buffer a socket may grow to,
        // tcp_rmem[2] = 15 MB; ringtcp picks it from the buffer, so the buffer is that.
        rx_buffer: 15 * 1024 * 1024,
        ..Config::default()
    }
}

/// The shard's settings from Linux's sysctls as a script left them (`read` gives the value
/// of `net/ipv4/<name>`): the corpus configures the stack that way, through its
/// `defaults.sh` and per-script `sysctl` lines. Settings with no sysctl, or a sysctl not
/// readable, stay as [`linux_like_config`] has them.
/// Linux's `tcp_fastopen_key` (`a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4`, perhaps followed by
/// `,` and a backup key): four hexadecimal words, each stored little-endian, as Linux keys
/// its SipHash with them.
pub fn fast_open_key_from_sysctl(text: &str) -> Option<[u8; 16]> {
    let primary = text.trim().split(',').next()?;
    let words: Vec<u32> = primary.split('-').map(|w| u32::from_str_radix(w, 16)).collect::<Result<_, _>>().ok()?;
    let mut key = [0u8; 16];
    for (i, w) in words.iter().enumerate().take(4) {
        key[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    (words.len() == 4).then_some(key)
}

pub fn config_from_sysctls(read: impl Fn(&str) -> Option<String>) -> Config {
    let mut cfg = linux_like_config();
    let int = |name: &str| read(name).and_then(|v| v.trim().parse::<i64>().ok());
    let triple = |name: &str| -> Option<[usize; 3]> {
        let v = read(name)?;
        let n: Vec<usize> = v.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        (n.len() == 3).then(|| [n[0], n[1], n[2]])
    };
    if let Some(v) = int("tcp_timestamps") {
        cfg.timestamps = v != 0;
    }
    if let Some(v) = int("tcp_sack") {
        cfg.sack = v != 0;
    }
    if let Some(v) = int("tcp_window_scaling") {
        cfg.window_scaling = v != 0;
    }
    if let Some(v) = int("tcp_syn_retries") {
        cfg.syn_retries = v.clamp(1, 127) as u32;
    }
    if let Some(v) = int("tcp_synack_retries") {
        cfg.synack_retries = v.clamp(1, 127) as u32;
    }
    // Linux scales its window for the largest receive buffer (tcp_rmem[2]); ringtcp for
    // its buffer, so the buffer is that one.
    if let Some([_, _, max]) = triple("tcp_rmem") {
        cfg.rx_buffer = max.max(SocketOptions::MIN_BUFFER);
    }
    if let Some([_, default, _]) = triple("tcp_wmem") {
        cfg.tx_buffer = default.max(SocketOptions::MIN_BUFFER);
    }
    // Linux probes tails (RFC 8985 TLP) with tcp_early_retrans 3 or 4.
    if let Some(v) = int("tcp_early_retrans") {
        cfg.tail_loss_probe = matches!(v, 3 | 4);
    }
    // Linux's default, UINT_MAX, is no bound.
    if let Some(v) = int("tcp_notsent_lowat") {
        cfg.notsent_lowat = u32::try_from(v).ok().filter(|&v| v != u32::MAX);
    }
    if let Some(v) = int("tcp_slow_start_after_idle") {
        cfg.slow_start_after_idle = v != 0;
    }
    // Linux's server bits: 0x2 enables, 0x200 takes data without a cookie, 0x400 serves
    // every listener.
    if let Some(v) = int("tcp_fastopen") {
        cfg.fast_open = FastOpenServer { enabled: v & 0x2 != 0, cookie_not_required: v & 0x200 != 0, every_listener: v & 0x400 != 0 };
    }
    if let Some(cc) = read("tcp_congestion_control") {
        cfg.congestion = if cc.trim() == "reno" { ringtcp_transport::CongestionAlgorithm::NewReno } else { ringtcp_transport::CongestionAlgorithm::Cubic };
    }
    cfg
}

impl Adapter {
    /// Replaces the shard with one built from `cfg`, once, before any socket exists: the
    /// adapter is made when packetdrill loads it, before the script's set-up commands have
    /// run; the first `socket()` builds the shard the script configured.
    pub fn configure_once(&mut self, cfg: impl FnOnce() -> Config, fast_open_key: impl FnOnce() -> Option<[u8; 16]>) {
        if self.configured {
            return;
        }
        self.configured = true;
        if self.fds.is_empty() {
            let cfg = Config { mtu: self.mtu, ..cfg() };
            self.shard = Shard::new(cfg, &[self.local_ip], Secret([7; 16]));
            if let Some(key) = fast_open_key() {
                self.shard.set_fast_open_key(key);
            }
        }
    }

    /// Takes the handshake options from `cfg` (Linux's tcp_timestamps, tcp_sack and
    /// tcp_window_scaling, which scripts change as they go and which act on the next
    /// handshake).
    pub fn refresh_handshake_options(&mut self, cfg: &Config) {
        self.shard.set_handshake_options(cfg.timestamps, cfg.sack, cfg.window_scaling);
    }

    /// `TCP_FASTOPEN_KEY` on socket `fd`: as on Linux, the key of that socket's listener
    /// (now, or when it listens); listeners without one use the shard's, which stands
    /// for `net.ipv4.tcp_fastopen_key`.
    pub fn set_fast_open_key(&mut self, fd: i32, key: [u8; 16]) -> Res<()> {
        let f = self.fd(fd)?;
        f.opts.fast_open_key = Some(key);
        if let Kind::Listener(l) = f.kind {
            self.shard.set_listener_fast_open_key(l, key).map_err(errno_of)?;
        }
        Ok(())
    }

    /// An adapter whose shard owns `local_ip`.
    pub fn new(local_ip: IpAddr, cfg: Config, numbers: FdNumbers) -> Adapter {
        Adapter {
            mtu: cfg.mtu,
            shard: Shard::new(cfg, &[local_ip], Secret([7; 16])),
            now: Instant::ZERO,
            out: VecDeque::new(),
            fds: BTreeMap::new(),
            local_ip,
            numbers,
            configured: false,
            tx_buf: vec![0u8; 65_600].into_boxed_slice(),
            mask_psh: false,
        }
    }

    /// From now on PSH is cleared on every segment the stack sends, for the scripts whose
    /// only difference from Linux is where PSH goes (see [`crate::psh_mask`]).
    pub fn mask_psh(&mut self) {
        self.mask_psh = true;
    }

    /// The shard's counters that scripts read with `nstat`, under Linux's names:
    /// `TcpExtOutOfWindowIcmps` is the ICMP errors that matched no connection or quoted a
    /// sequence number not in flight (RFC 5927 §4.1).
    pub fn kernel_counters(&self) -> [(&'static str, u64); 1] {
        [("TcpExtOutOfWindowIcmps", self.shard.drops().icmp_unmatched)]
    }

    /// `ip tcp_metrics flush`: the shard forgets the Fast Open cookies it learned.
    pub fn forget_fast_open_cookies(&mut self) {
        self.shard.forget_fast_open_cookies();
    }

    /// The stack's own address.
    pub fn local_ip(&self) -> IpAddr {
        self.local_ip
    }

    /// Virtual wall-clock time, µs since the epoch.
    pub fn now_usecs(&self) -> i64 {
        EPOCH_USECS + (self.now.as_nanos() / 1000) as i64
    }

    /// Moves virtual time forward by `d`, firing every timer due on the way at its own
    /// time (so a retransmission is stamped when it happened).
    pub fn advance(&mut self, d: Duration) {
        let target = Instant::from_nanos(self.now.as_nanos() + d.as_nanos() as u64);
        while let Some(t) = self.shard.poll_timeout() {
            if t > target {
                break;
            }
            if t > self.now {
                self.now = t;
            }
            self.shard.handle_timeout(self.now);
            self.collect();
        }
        self.now = target;
        self.shard.handle_timeout(self.now);
        self.collect();
    }

    /// A packet from packetdrill's side of the wire.
    pub fn inject(&mut self, packet: &[u8]) {
        self.shard.handle_packet(self.now, packet);
        self.collect();
    }

    /// The next packet the stack sends and when (µs since the epoch), letting virtual
    /// time run to the stack's next timer while none is queued, at most `limit`.
    pub fn next_packet(&mut self, limit: Duration) -> Option<(Vec<u8>, i64)> {
        let give_up = self.now.as_nanos() + limit.as_nanos() as u64;
        loop {
            if let Some(p) = self.out.pop_front() {
                return Some(p);
            }
            let t = self.shard.poll_timeout()?;
            if t.as_nanos() > give_up {
                return None;
            }
            if t > self.now {
                self.now = t;
            }
            self.shard.handle_timeout(self.now);
            self.collect();
        }
    }

    /// Queues what the shard has to send, stamped now; while the script's qdisc drops
    /// everything (see [`crate::shell_controls`]), the packets leave the shard and go no
    /// further.
    pub(super) fn collect(&mut self) {
        let stamp = self.now_usecs();
        let drop_all = crate::shell_controls::qdisc_drops_all();
        while let Some(n) = self.shard.poll_transmit(self.now, &mut self.tx_buf) {
            if drop_all {
                continue;
            }
            if self.mask_psh {
                crate::psh_mask::clear_psh(&mut self.tx_buf[..n]);
            }
            self.out.push_back((self.tx_buf[..n].to_vec(), stamp));
        }
    }

    fn fd(&mut self, fd: i32) -> Res<&mut Fd> {
        self.fds.get_mut(&fd).ok_or(libc::EBADF)
    }

    fn conn(&mut self, fd: i32) -> Res<(SocketHandle, bool)> {
        match self.fd(fd)?.kind {
            Kind::Conn { h, read_shut, .. } => Ok((h, read_shut)),
            Kind::Listener(_) | Kind::Fresh { .. } => Err(libc::ENOTCONN),
            Kind::Failed => Err(libc::ENOTCONN),
        }
    }

    // ---- the calls ----

    /// `socket(AF_INET or AF_INET6, SOCK_STREAM[|SOCK_NONBLOCK], IPPROTO_TCP)`.
    pub fn socket(&mut self, domain: i32, ty: i32, protocol: i32) -> Res<i32> {
        if domain != libc::AF_INET && domain != libc::AF_INET6 {
            return Err(libc::EAFNOSUPPORT);
        }
        if ty & 0xf != libc::SOCK_STREAM || (protocol != 0 && protocol != libc::IPPROTO_TCP) {
            return Err(libc::EPROTONOSUPPORT);
        }
        let fd = (self.numbers.take)().ok_or(libc::EMFILE)?;
        let nonblocking = ty & libc::SOCK_NONBLOCK != 0;
        let v6 = domain == libc::AF_INET6;
        self.fds.insert(fd, Fd { kind: Kind::Fresh { bound: None }, v6, nonblocking, opts: Options::default(), pending_error: None });
        Ok(fd)
    }

    /// An address of the socket's family: `EAFNOSUPPORT` otherwise, as Linux answers.
    fn check_family(&mut self, fd: i32, addr: SocketAddr) -> Res<()> {
        if self.fd(fd)?.v6 == addr.is_ipv6() { Ok(()) } else { Err(libc::EAFNOSUPPORT) }
    }

    /// `addr` as socket `fd` shows it: IPv4-mapped on an `AF_INET6` socket.
    fn as_seen(&mut self, fd: i32, addr: SocketAddr) -> Res<SocketAddr> {
        Ok(if self.fd(fd)?.v6 { ringtcp_transport::ipv6_socket_form(addr) } else { addr })
    }

    pub fn bind(&mut self, fd: i32, addr: SocketAddr) -> Res<()> {
        self.check_family(fd, addr)?;
        let ip = addr.ip().to_canonical();
        if !ip.is_unspecified() && ip != self.local_ip {
            return Err(libc::EADDRNOTAVAIL);
        }
        let taken = addr.port() != 0 && self.shard.listener_holds(SocketAddr::new(self.local_ip, addr.port()));
        let f = self.fd(fd)?;
        match &mut f.kind {
            Kind::Fresh { bound: b @ None } => {
                if taken {
                    return Err(libc::EADDRINUSE);
                }
                *b = Some(addr);
                Ok(())
            }
            _ => Err(libc::EINVAL),
        }
    }

    pub fn listen(&mut self, fd: i32, backlog: i32) -> Res<()> {
        let local_ip = self.local_ip;
        let f = self.fd(fd)?;
        let bound = match f.kind {
            Kind::Fresh { bound } => bound.unwrap_or(SocketAddr::new(local_ip, 0)),
            // Linux lets `listen` change the backlog of a listener; nothing to do here.
            Kind::Listener(_) => return Ok(()),
            _ => return Err(libc::EINVAL),
        };
        let opts = SocketOptions { fast_open: f.opts.fast_open, ..f.opts.transport() };
        // The shard listens on its own address; the wildcard means that one.
        let addr = SocketAddr::new(local_ip, bound.port());
        // Linux's accept queue holds backlog + 1.
        let backlog = usize::try_from(backlog).unwrap_or(0).max(1) + 1;
        let l = self.shard.listen_with(addr, backlog, opts).map_err(errno_of)?;
        let f = self.fd(fd)?;
        f.kind = Kind::Listener(l);
        if let Some(key) = f.opts.fast_open_key {
            self.shard.set_listener_fast_open_key(l, key).map_err(errno_of)?;
        }
        Ok(())
    }

    /// A connection from the accept queue: its fd and the peer's address.
    pub fn accept(&mut self, fd: i32) -> Res<(i32, SocketAddr)> {
        let (l, opts) = match self.fd(fd)? {
            Fd { kind: Kind::Listener(l), opts, .. } => (*l, *opts),
            _ => return Err(libc::EINVAL),
        };
        if self.shard.accept_queue_len(l).map_err(errno_of)? == 0 {
            return Err(libc::EAGAIN);
        }
        let new_fd = (self.numbers.take)().ok_or(libc::EMFILE)?;
        let h = self.shard.accept(l).map_err(errno_of)?.ok_or(libc::EAGAIN)?;
        let peer = self.shard.peer_addr(h).map_err(errno_of)?;
        let v6 = self.fd(fd)?.v6;
        // Options are inherited from the listener, as on Linux.
        self.fds.insert(new_fd, Fd { kind: Kind::Conn { h, read_shut: false, connecting: false }, v6, nonblocking: false, opts, pending_error: None });
        self.apply_options(new_fd)?;
        self.collect();
        Ok((new_fd, self.as_seen(new_fd, peer)?))
    }

    /// Starts a connection; `EINPROGRESS` while the handshake runs (a blocking caller
    /// waits with [`Adapter::connect_done`]).
    pub fn connect(&mut self, fd: i32, remote: SocketAddr) -> Res<()> {
        self.check_family(fd, remote)?;
        let now = self.now;
        if self.fd(fd)?.opts.fast_open_connect && matches!(self.fd(fd)?.kind, Kind::Fresh { .. }) {
            return self.connect_fast_open(fd, remote);
        }
        let f = self.fd(fd)?;
        let local = match f.kind {
            Kind::Fresh { bound } => bound,
            Kind::Conn { connecting: true, .. } => return Err(libc::EALREADY),
            Kind::Conn { .. } => return Err(libc::EISCONN),
            Kind::Listener(_) => return Err(libc::EISCONN),
            Kind::Failed => {
                return Err(f.pending_error.take().unwrap_or(libc::ECONNABORTED));
            }
        };
        let opts = f.opts.transport();
        let h = self.shard.connect_with(now, remote, local, opts).map_err(errno_of)?;
        self.fd(fd)?.kind = Kind::Conn { h, read_shut: false, connecting: true };
        self.apply_options(fd)?;
        self.collect();
        Err(libc::EINPROGRESS)
    }

    /// How a connect under way stands: `Ok` once established, `EINPROGRESS` before, the
    /// error it ended with after.
    pub fn connect_done(&mut self, fd: i32) -> Res<()> {
        let (h, _) = self.conn(fd)?;
        match self.shard.state(h) {
            Ok(State::SynSent | State::SynReceived) => Err(libc::EINPROGRESS),
            Ok(State::Closed) | Err(_) => {
                let e = self.shard.error(h).ok().flatten().map_or(libc::ECONNREFUSED, errno_of);
                Err(e)
            }
            Ok(_) => {
                if let Kind::Conn { connecting, .. } = &mut self.fd(fd)?.kind {
                    *connecting = false;
                }
                Ok(())
            }
        }
    }

    /// Reads up to `buf.len()` bytes (`peek`: without taking them).
    pub fn recv(&mut self, fd: i32, buf: &mut [u8], peek: bool) -> Res<usize> {
        let (h, read_shut) = self.conn(fd)?;
        if buf.is_empty() {
            return Ok(0);
        }
        let r = if peek { self.shard.peek(h, buf) } else { self.shard.recv(h, buf) };
        self.collect();
        match r {
            Ok(n) => Ok(n),
            // After SHUT_RD, Linux still hands over what arrives and reads 0 instead of
            // waiting when nothing has.
            Err(Error::WouldBlock) if read_shut => Ok(0),
            Err(Error::WouldBlock) => Err(libc::EAGAIN),
            Err(e) => Err(errno_of(e)),
        }
    }

    /// Queues bytes for sending; how many were taken (`EAGAIN` if none fit). `flags` as
    /// send(2)'s: with `MSG_EOR` a record ends after the last byte, once all of `data` is
    /// taken (the rest of a blocking write comes back here with the flag); with
    /// `MSG_MORE` a short tail waits for more.
    pub fn send(&mut self, fd: i32, data: &[u8], flags: i32) -> Res<usize> {
        let (ends_record, more) = (flags & libc::MSG_EOR != 0, flags & libc::MSG_MORE != 0);
        let (h, _) = self.conn(fd)?;
        let fast_open = self.shard.tcp_info(h, self.now).ok().flatten().is_some_and(|i| i.fast_open);
        if let Ok(State::SynSent | State::SynReceived) = self.shard.state(h)
            && !fast_open
        {
            // Linux waits for the handshake (or says EAGAIN on a non-blocking socket),
            // unless Fast Open handed the connection over before it completed.
            return Err(libc::EAGAIN);
        }
        // As Linux's tcp_sendmsg, a call goes on queueing after what it queued has been
        // sent: it matters where a bound on unsent bytes (TCP_NOTSENT_LOWAT) takes part
        // of a write, sends some, and then takes more.
        let mut taken = 0;
        loop {
            let rest = &data[taken..];
            let r = match (ends_record, more) {
                (true, _) => self.shard.send_record(h, rest),
                (false, true) => self.shard.send_more(h, rest),
                (false, false) => self.shard.send(h, rest),
            };
            self.collect();
            match r {
                Ok(n) if n > 0 && taken + n < data.len() => taken += n,
                Ok(n) => return Ok(taken + n),
                // What was taken is the answer; the error waits for the next call.
                Err(_) if taken > 0 => return Ok(taken),
                Err(Error::WouldBlock) => return Err(libc::EAGAIN),
                Err(e) => return Err(errno_of(e)),
            }
        }
    }

    pub fn shutdown(&mut self, fd: i32, how: i32) -> Res<()> {
        if !(libc::SHUT_RD..=libc::SHUT_RDWR).contains(&how) {
            return Err(libc::EINVAL);
        }
        let (h, _) = self.conn(fd)?;
        if (how == libc::SHUT_RD || how == libc::SHUT_RDWR)
            && let Kind::Conn { read_shut, .. } = &mut self.fd(fd)?.kind
        {
            *read_shut = true;
        }
        if how == libc::SHUT_WR || how == libc::SHUT_RDWR {
            let r = self.shard.shutdown_write(h);
            self.collect();
            r.map_err(errno_of)?;
        }
        Ok(())
    }

    pub fn close(&mut self, fd: i32) -> Res<()> {
        let f = self.fds.remove(&fd).ok_or(libc::EBADF)?;
        (self.numbers.give_back)(fd);
        let r = match f.kind {
            Kind::Listener(l) => self.shard.close_listener(l),
            Kind::Conn { h, .. } if f.opts.linger == Some(0) => self.shard.abort(h),
            Kind::Conn { h, .. } => self.shard.close(self.now, h),
            Kind::Fresh { .. } | Kind::Failed => Ok(()),
        };
        self.collect();
        // Closing always releases the fd; a transport complaint is not the caller's.
        let _ = r;
        Ok(())
    }

    pub fn nonblocking(&mut self, fd: i32) -> Res<bool> {
        Ok(self.fd(fd)?.nonblocking)
    }

    pub fn set_nonblocking(&mut self, fd: i32, on: bool) -> Res<()> {
        self.fd(fd)?.nonblocking = on;
        Ok(())
    }

    /// `poll` events of one fd now.
    pub fn poll_events(&mut self, fd: i32) -> i16 {
        let Some(f) = self.fds.get(&fd) else { return libc::POLLNVAL };
        let mut ev = 0i16;
        match f.kind {
            Kind::Fresh { .. } => ev |= libc::POLLOUT | libc::POLLHUP,
            Kind::Failed => ev |= libc::POLLERR | libc::POLLHUP | libc::POLLOUT | libc::POLLIN,
            Kind::Listener(l) => {
                if self.shard.accept_queue_len(l).unwrap_or(0) > 0 {
                    ev |= libc::POLLIN | libc::POLLRDNORM;
                }
            }
            Kind::Conn { h, read_shut, .. } => {
                let state = self.shard.state(h).unwrap_or(State::Closed);
                let err = self.shard.error(h).ok().flatten();
                if self.shard.is_readable(h).unwrap_or(true) || read_shut {
                    ev |= libc::POLLIN | libc::POLLRDNORM;
                }
                if !matches!(state, State::SynSent | State::SynReceived) && self.shard.is_writable(h).unwrap_or(false) {
                    ev |= libc::POLLOUT | libc::POLLWRNORM;
                }
                if err.is_some() {
                    ev |= libc::POLLERR;
                }
                // The peer's FIN: readable to EOF, and POLLRDHUP.
                if matches!(state, State::CloseWait | State::LastAck | State::Closing | State::TimeWait) {
                    ev |= libc::POLLIN | libc::POLLRDNORM | libc::POLLRDHUP;
                }
                if state == State::Closed || matches!(state, State::TimeWait | State::LastAck | State::Closing) {
                    ev |= libc::POLLHUP;
                    if err.is_some() || state == State::Closed {
                        ev |= libc::POLLIN | libc::POLLRDNORM | libc::POLLRDHUP;
                    }
                }
            }
        }
        ev
    }

    /// `SO_ERROR`: the pending error, taken.
    pub fn take_error(&mut self, fd: i32) -> Res<i32> {
        let f = self.fd(fd)?;
        if let Some(e) = f.pending_error.take() {
            return Ok(e);
        }
        if let Kind::Conn { connecting: true, .. } = f.kind {
            return match self.connect_done(fd) {
                Ok(()) | Err(libc::EINPROGRESS) => Ok(0),
                Err(e) => {
                    self.fd(fd)?.kind = Kind::Failed;
                    Ok(e)
                }
            };
        }
        if let Kind::Conn { h, .. } = f.kind {
            return Ok(self.shard.error(h).ok().flatten().map_or(0, errno_of));
        }
        Ok(0)
    }

    /// Bytes waiting to be read (`FIONREAD` / `SIOCINQ`).
    pub fn inq(&mut self, fd: i32) -> Res<usize> {
        let (h, _) = self.conn(fd)?;
        self.shard.recv_queue(h).map_err(errno_of)
    }

    /// With `TCP_INQ` on, what `recvmsg` reports after a read: the bytes still queued,
    /// or 1 when none are and the peer's FIN has come (Linux's `tcp_inq_hint`, so that a
    /// reader can tell the end of the stream without another read).
    pub fn inq_hint(&mut self, fd: i32) -> Res<Option<i32>> {
        if !self.fd(fd)?.opts.inq {
            return Ok(None);
        }
        let (h, _) = self.conn(fd)?;
        let queued = self.shard.recv_queue(h).map_err(errno_of)?;
        let fin = matches!(self.shard.state(h), Ok(State::CloseWait | State::Closing | State::LastAck | State::TimeWait | State::Closed));
        Ok(Some(if queued == 0 && fin { 1 } else { i32::try_from(queued).unwrap_or(i32::MAX) }))
    }

    /// Bytes not yet acknowledged (`SIOCOUTQ`).
    pub fn outq(&mut self, fd: i32) -> Res<usize> {
        let (h, _) = self.conn(fd)?;
        self.shard.send_queue(h).map_err(errno_of)
    }

    /// The connection's state for `TCP_INFO`'s `tcpi_state`.
    pub fn state(&mut self, fd: i32) -> Res<State> {
        match self.fd(fd)?.kind {
            Kind::Listener(_) => Ok(State::Listen),
            Kind::Conn { h, .. } => self.shard.state(h).or(Ok(State::Closed)),
            _ => Ok(State::Closed),
        }
    }

    /// What `TCP_INFO` reports: the state, and the connection's snapshot while it has a
    /// control block.
    pub fn tcp_info(&mut self, fd: i32) -> Res<(State, Option<TcpInfo>)> {
        let state = self.state(fd)?;
        let info = match self.fd(fd)?.kind {
            Kind::Conn { h, .. } => self.shard.tcp_info(h, self.now).ok().flatten(),
            _ => None,
        };
        Ok((state, info))
    }

    /// True if `fd` is one of the adapter's sockets.
    pub fn owns(&self, fd: i32) -> bool {
        self.fds.contains_key(&fd)
    }

    pub fn local_addr_of(&mut self, fd: i32) -> Res<SocketAddr> {
        let f = self.fd(fd)?;
        let unspecified = if f.v6 { IpAddr::V6(Ipv6Addr::UNSPECIFIED) } else { IpAddr::V4(Ipv4Addr::UNSPECIFIED) };
        let addr = match f.kind {
            Kind::Listener(l) => self.shard.listener_addr(l).map_err(errno_of)?,
            Kind::Conn { h, .. } => self.shard.local_addr(h).map_err(errno_of)?,
            Kind::Fresh { bound } => bound.unwrap_or(SocketAddr::new(unspecified, 0)),
            Kind::Failed => return Err(libc::EINVAL),
        };
        self.as_seen(fd, addr)
    }

    pub fn peer_addr_of(&mut self, fd: i32) -> Res<SocketAddr> {
        let (h, _) = self.conn(fd)?;
        let addr = self.shard.peer_addr(h).map_err(errno_of)?;
        self.as_seen(fd, addr)
    }
}
