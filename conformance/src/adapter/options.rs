//! Socket options as Linux's `setsockopt` / `getsockopt` take them: kept on the socket
//! (`Options`) and carried into its connection when it has one.

use std::net::SocketAddr;
use std::time::Duration;

use ringtcp_transport::{Keepalive, PathMtuDiscovery, SocketOptions};

use super::{Adapter, Kind, Res, errno_of};

/// Options set on a socket, kept for the connection it becomes.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Options {
    pub(super) nodelay: bool,
    pub(super) rcvbuf: Option<usize>,
    pub(super) sndbuf: Option<usize>,
    /// `SO_LINGER`: `Some(0)` makes `close` reset.
    pub(super) linger: Option<u32>,
    pub(super) keepalive: bool,
    pub(super) keepalive_params: Option<Keepalive>,
    pub(super) quickack: bool,
    /// `TCP_INQ`: `recvmsg` reports the bytes left queued.
    pub(super) inq: bool,
    /// `TCP_SYNCNT`.
    pub(super) syncnt: Option<u32>,
    /// `TCP_CORK`.
    pub(super) cork: bool,
    /// `TCP_NOTSENT_LOWAT` (`None`: 0, the shard's default).
    pub(super) notsent_lowat: Option<u32>,
    /// `TCP_USER_TIMEOUT`, in milliseconds (0: none).
    pub(super) user_timeout_ms: u32,
    pub(super) reuseaddr: bool,
    /// `TCP_MAXSEG` set before `connect` or `listen`: the MSS clamp.
    pub(super) maxseg: Option<u16>,
    /// `TCP_FASTOPEN`: a listener's Fast Open queue length.
    pub(super) fast_open: Option<usize>,
    /// `TCP_FASTOPEN_KEY`: a key of this socket's own for its listener's cookies.
    pub(super) fast_open_key: Option<[u8; 16]>,
    /// `TCP_FASTOPEN_CONNECT`: `connect` may defer the SYN to the first write.
    pub(super) fast_open_connect: bool,
    /// `TCP_FASTOPEN_NO_COOKIE`: Fast Open data goes in the SYN without a cookie.
    pub(super) fast_open_no_cookie: bool,
    /// `IP_MTU_DISCOVER`, as set (Linux's `IP_PMTUDISC_*` value).
    pub(super) mtu_discover: Option<i32>,
    /// A connect deferred by `TCP_FASTOPEN_CONNECT`: the first write opens it.
    pub(super) deferred_connect: Option<SocketAddr>,
}

impl Options {
    /// Whether Fast Open data goes in the SYN without a cookie: this socket's
    /// `TCP_FASTOPEN_NO_COOKIE`, or the sysctl's bit for every client.
    pub(super) fn fast_open_without_cookie(&self) -> bool {
        self.fast_open_no_cookie || client_fast_open_without_cookie()
    }

    /// What the transport takes of these options when a connection or listener opens.
    pub(super) fn transport(&self) -> SocketOptions {
        let path_mtu_discovery = self.mtu_discover.and_then(path_mtu_discovery).unwrap_or_default();
        SocketOptions { rx_buffer: self.rcvbuf, tx_buffer: self.sndbuf, mss: self.maxseg, syn_retries: self.syncnt, path_mtu_discovery, ..SocketOptions::default() }
    }
}

impl Adapter {
    /// Sets an integer option; `ENOPROTOOPT` for one ringtcp does not have.
    pub fn set_option(&mut self, fd: i32, level: i32, name: i32, value: i32) -> Res<()> {
        let f = self.fd(fd)?;
        let v = value;
        match (level, name) {
            (libc::SOL_SOCKET, libc::SO_REUSEADDR) => f.opts.reuseaddr = v != 0,
            // ringtcp's listeners are per shard already; SO_REUSEPORT has nothing to add.
            (libc::SOL_SOCKET, libc::SO_REUSEPORT) => {}
            // Linux doubles the value asked for (for its bookkeeping), as `getsockopt`
            // then shows; ringtcp stores it doubled too, so scripts read back what Linux
            // shows, and uses it as the buffer.
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => f.opts.rcvbuf = Some((v.max(0) as usize * 2).max(SocketOptions::MIN_BUFFER)),
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => {
                let bytes = (v.max(0) as usize * 2).max(SocketOptions::MIN_BUFFER);
                f.opts.sndbuf = Some(bytes);
                // On a connection it acts at once, as on Linux.
                if let Kind::Conn { h, .. } = f.kind {
                    self.shard.set_send_buffer(h, bytes).map_err(errno_of)?;
                }
                return Ok(());
            }
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => f.opts.keepalive = v != 0,
            (libc::IPPROTO_TCP, libc::TCP_NODELAY) => {
                // Setting it on pushes what is queued, every time (Linux's TCP_NAGLE_PUSH).
                f.opts.nodelay = v != 0;
                if let Kind::Conn { h, .. } = f.kind {
                    self.shard.set_nodelay(h, v != 0).map_err(errno_of)?;
                    self.collect();
                }
                return Ok(());
            }
            (libc::IPPROTO_TCP, libc::TCP_CORK) => {
                f.opts.cork = v != 0;
                if let Kind::Conn { h, .. } = f.kind {
                    self.shard.set_cork(h, v != 0).map_err(errno_of)?;
                    self.collect();
                }
                return Ok(());
            }
            (libc::IPPROTO_TCP, crate::cmsg::TCP_INQ) => f.opts.inq = v != 0,
            // Linux refuses a negative value and takes any other, in milliseconds.
            (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT) => f.opts.user_timeout_ms = u32::try_from(v).map_err(|_| libc::EINVAL)?,
            // Linux keeps any value; 0 stands for the sysctl's.
            (libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT) => f.opts.notsent_lowat = (v != 0).then_some(v as u32),
            (libc::IPPROTO_TCP, libc::TCP_QUICKACK) => {
                // On a connection it acts at once, as on Linux (off ends quick-ACK mode).
                f.opts.quickack = v != 0;
                if let Kind::Conn { h, .. } = f.kind {
                    self.shard.set_quickack(h, v != 0).map_err(errno_of)?;
                }
                return Ok(());
            }
            (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE | libc::TCP_KEEPINTVL | libc::TCP_KEEPCNT) => {
                if v < 1 {
                    return Err(libc::EINVAL);
                }
                let mut ka = f.opts.keepalive_params.unwrap_or_default();
                match name {
                    libc::TCP_KEEPIDLE => ka.idle = Duration::from_secs(v as u64),
                    libc::TCP_KEEPINTVL => ka.interval = Duration::from_secs(v as u64),
                    _ => ka.probes = v as u32,
                }
                f.opts.keepalive_params = Some(ka);
            }
            // Linux takes 88 (TCP_MIN_MSS) to 32767 (MAX_TCP_WINDOW), 0 to clear; it acts
            // from the next connect or listen (and on what a listener accepts).
            (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => {
                if v != 0 && !(88..=32_767).contains(&v) {
                    return Err(libc::EINVAL);
                }
                f.opts.maxseg = (v != 0).then_some(v as u16);
                if let Kind::Listener(l) = f.kind {
                    let mss = f.opts.maxseg;
                    self.shard.set_listener_mss(l, mss).map_err(errno_of)?;
                }
            }
            // Linux takes 1 to 127 (MAX_TCP_SYNCNT), from the next connect or listen.
            (libc::IPPROTO_TCP, libc::TCP_SYNCNT) => {
                let n = u32::try_from(v).ok().filter(|v| (1..=127).contains(v)).ok_or(libc::EINVAL)?;
                f.opts.syncnt = Some(n);
                // On a handshake under way it acts from the next timeout, as on Linux.
                if let Kind::Conn { h, .. } = f.kind {
                    self.shard.set_syn_retries(h, Some(n)).map_err(errno_of)?;
                }
                return Ok(());
            }
            (libc::IPPROTO_TCP, libc::TCP_FASTOPEN_CONNECT) => {
                // Linux refuses it while the client bit of net.ipv4.tcp_fastopen is off,
                // read when asked (scripts turn it off and on as they go).
                if v != 0 && !client_fast_open_enabled() {
                    return Err(libc::EOPNOTSUPP);
                }
                f.opts.fast_open_connect = v != 0;
            }
            (libc::IPPROTO_TCP, libc::TCP_FASTOPEN_NO_COOKIE) => f.opts.fast_open_no_cookie = v != 0,
            (libc::IPPROTO_TCP, libc::TCP_FASTOPEN) => {
                let qlen = usize::try_from(v).map_err(|_| libc::EINVAL)?;
                f.opts.fast_open = Some(qlen);
                if let Kind::Listener(l) = f.kind {
                    self.shard.set_listener_fast_open(l, qlen).map_err(errno_of)?;
                }
            }
            (libc::IPPROTO_IP, libc::IP_TOS) => {
                if let Kind::Conn { h, .. } = f.kind {
                    self.shard.set_tos(h, v as u8).map_err(errno_of)?;
                }
                return Ok(());
            }
            (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER) => {
                let mode = path_mtu_discovery(v).ok_or(libc::EINVAL)?;
                f.opts.mtu_discover = Some(v);
                if let Kind::Conn { h, .. } = f.kind {
                    self.shard.set_path_mtu_discovery(h, mode).map_err(errno_of)?;
                }
                return Ok(());
            }
            (libc::IPPROTO_IP, libc::IP_TTL) => {
                if let Kind::Conn { h, .. } = f.kind {
                    self.shard.set_ttl(h, v as u8).map_err(errno_of)?;
                }
                return Ok(());
            }
            _ => return Err(libc::ENOPROTOOPT),
        }
        self.apply_options(fd)
    }

    /// `SO_LINGER`.
    pub fn set_linger(&mut self, fd: i32, on: bool, secs: u32) -> Res<()> {
        self.fd(fd)?.opts.linger = on.then_some(secs);
        Ok(())
    }

    pub fn linger(&mut self, fd: i32) -> Res<Option<u32>> {
        Ok(self.fd(fd)?.opts.linger)
    }

    /// Reads an integer option.
    pub fn option(&mut self, fd: i32, level: i32, name: i32) -> Res<i32> {
        let cfg_rx = self.shard.config().rx_buffer;
        let cfg_tx = self.shard.config().tx_buffer;
        let cfg_syn_retries = self.shard.config().syn_retries;
        let f = self.fd(fd)?;
        let o = f.opts;
        let conn = match f.kind {
            Kind::Conn { h, .. } => Some(h),
            _ => None,
        };
        Ok(match (level, name) {
            (libc::SOL_SOCKET, libc::SO_ERROR) => return self.take_error(fd),
            (libc::SOL_SOCKET, libc::SO_REUSEADDR) => i32::from(o.reuseaddr),
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => i32::from(o.keepalive),
            (libc::SOL_SOCKET, libc::SO_TYPE) => libc::SOCK_STREAM,
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => o.rcvbuf.unwrap_or(cfg_rx) as i32,
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => o.sndbuf.unwrap_or(cfg_tx) as i32,
            (libc::IPPROTO_TCP, libc::TCP_NODELAY) => i32::from(o.nodelay),
            (libc::IPPROTO_TCP, libc::TCP_CORK) => i32::from(o.cork),
            (libc::IPPROTO_TCP, libc::TCP_QUICKACK) => i32::from(o.quickack),
            (libc::IPPROTO_TCP, crate::cmsg::TCP_INQ) => i32::from(o.inq),
            (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT) => o.user_timeout_ms as i32,
            (libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT) => o.notsent_lowat.unwrap_or(0) as i32,
            (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => o.keepalive_params.unwrap_or_default().idle.as_secs() as i32,
            (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL) => o.keepalive_params.unwrap_or_default().interval.as_secs() as i32,
            (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) => o.keepalive_params.unwrap_or_default().probes as i32,
            // Linux answers the clamp, or 536 (TCP_MSS_DEFAULT), for a socket not yet
            // connected.
            (libc::IPPROTO_TCP, libc::TCP_FASTOPEN) => o.fast_open.unwrap_or(0) as i32,
            (libc::IPPROTO_TCP, libc::TCP_FASTOPEN_CONNECT) => i32::from(o.fast_open_connect),
            (libc::IPPROTO_TCP, libc::TCP_FASTOPEN_NO_COOKIE) => i32::from(o.fast_open_no_cookie),
            (libc::IPPROTO_TCP, libc::TCP_SYNCNT) => o.syncnt.unwrap_or(cfg_syn_retries) as i32,
            (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => match conn {
                Some(h) => i32::from(self.shard.mss(h).map_err(errno_of)?),
                None => i32::from(o.maxseg.unwrap_or(536)),
            },
            (libc::IPPROTO_IP, libc::IP_TTL) => match conn {
                Some(h) => i32::from(self.shard.ttl(h).map_err(errno_of)?),
                None => 64,
            },
            // Linux's default for a TCP socket is IP_PMTUDISC_WANT (1).
            (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER) => o.mtu_discover.unwrap_or(libc::IP_PMTUDISC_WANT),
            _ => return Err(libc::ENOPROTOOPT),
        })
    }

    /// Carries a socket's options into its connection.
    pub(super) fn apply_options(&mut self, fd: i32) -> Res<()> {
        let now = self.now;
        let f = self.fds.get(&fd).ok_or(libc::EBADF)?;
        let Kind::Conn { h, .. } = f.kind else { return Ok(()) };
        let o = f.opts;
        // Only a change: turning Nagle off pushes queued data, which setting another
        // option must not do.
        if self.shard.nodelay(h) != Ok(o.nodelay) {
            let _ = self.shard.set_nodelay(h, o.nodelay);
        }
        if o.cork {
            let _ = self.shard.set_cork(h, true);
        }
        if o.quickack {
            let _ = self.shard.set_quickack(h, true);
        }
        let ka = o.keepalive.then(|| o.keepalive_params.unwrap_or_default());
        let _ = self.shard.set_keepalive(now, h, ka);
        let _ = self.shard.set_user_timeout(h, Some(Duration::from_millis(u64::from(o.user_timeout_ms))));
        let _ = self.shard.set_notsent_lowat(h, o.notsent_lowat);
        Ok(())
    }
}

/// The transport's mode for a Linux `IP_PMTUDISC_*` value; `None` for one Linux refuses.
/// WANT (Linux's default) is DO for TCP; INTERFACE and OMIT, which keep DF and ignore the
/// path's reports, are PROBE's behaviour.
fn path_mtu_discovery(v: i32) -> Option<PathMtuDiscovery> {
    Some(match v {
        libc::IP_PMTUDISC_DONT => PathMtuDiscovery::Dont,
        libc::IP_PMTUDISC_WANT | libc::IP_PMTUDISC_DO => PathMtuDiscovery::Do,
        libc::IP_PMTUDISC_PROBE | libc::IP_PMTUDISC_INTERFACE | libc::IP_PMTUDISC_OMIT => PathMtuDiscovery::Probe,
        _ => return None,
    })
}

/// Whether Linux's client bit (0x1) of `net.ipv4.tcp_fastopen` is on now (on if the
/// sysctl cannot be read, as Linux's default 1).
pub(super) fn client_fast_open_enabled() -> bool {
    fast_open_sysctl().is_none_or(|v| v & 1 != 0)
}

/// Whether Fast Open clients go without cookies now (bit 0x4 of `net.ipv4.tcp_fastopen`,
/// Linux's TFO_CLIENT_NO_COOKIE), read at each Fast Open send as Linux reads it.
fn client_fast_open_without_cookie() -> bool {
    fast_open_sysctl().is_some_and(|v| v & 4 != 0)
}

fn fast_open_sysctl() -> Option<i64> {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_fastopen").ok().and_then(|v| v.trim().parse::<i64>().ok())
}
