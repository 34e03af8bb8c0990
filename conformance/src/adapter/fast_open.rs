//! The client side of TCP Fast Open as Linux's socket calls expose it: `sendto()` with
//! `MSG_FASTOPEN` on an unconnected socket, and `TCP_FASTOPEN_CONNECT`, where `connect()`
//! returns at once and the first write goes out in the SYN.

use std::net::SocketAddr;

use ringtcp_transport::SocketOptions;

use super::{Adapter, Kind, Res, errno_of};

impl Adapter {
    /// `sendto(fd, data, MSG_FASTOPEN, remote)`: opens the connection with `data` in its
    /// SYN if a cookie from `remote` is cached, or cookies are not used
    /// (`TCP_FASTOPEN_NO_COOKIE`, or bit 0x4 of the sysctl). Returns the bytes the SYN
    /// carries, or `EINPROGRESS` when it carries none (no cookie yet: the SYN asks for one).
    pub fn send_fast_open(&mut self, fd: i32, remote: SocketAddr, data: &[u8]) -> Res<usize> {
        self.check_family(fd, remote)?;
        // Linux refuses MSG_FASTOPEN while its client bit is off.
        if self.deferred_connect(fd).is_none() && !super::options::client_fast_open_enabled() {
            return Err(libc::EOPNOTSUPP);
        }
        let now = self.now;
        if let Kind::Conn { h, .. } = self.fd(fd)?.kind
            && self.shard.state(h).is_ok_and(|s| s.is_synchronized())
        {
            // Once the handshake is over, MSG_FASTOPEN is an ordinary write, as on Linux.
            return self.send(fd, data, 0);
        }
        let f = self.fd(fd)?;
        let local = match f.kind {
            Kind::Fresh { bound } => bound,
            Kind::Conn { connecting: true, .. } => return Err(libc::EALREADY),
            _ => return Err(libc::EISCONN),
        };
        f.opts.deferred_connect = None;
        let opts = SocketOptions {
            fast_open_no_cookie: f.opts.fast_open_without_cookie(),
            ..f.opts.transport()
        };
        let (h, n) = self.shard.connect_fast_open(now, remote, local, opts, data).map_err(errno_of)?;
        self.fd(fd)?.kind = Kind::Conn { h, read_shut: false, connecting: true };
        self.apply_options(fd)?;
        self.collect();
        if n > 0 { Ok(n) } else { Err(libc::EINPROGRESS) }
    }

    /// `connect()` with `TCP_FASTOPEN_CONNECT` set: with a cookie from `remote` (or none
    /// needed), nothing is sent and the connect succeeds at once (the first write opens the connection);
    /// without one, an ordinary connect whose SYN asks for a cookie.
    pub(super) fn connect_fast_open(&mut self, fd: i32, remote: SocketAddr) -> Res<()> {
        if self.deferred_connect(fd).is_some() {
            // Connected as far as the caller can tell: the first write opens it.
            return Err(libc::EISCONN);
        }
        let no_cookie = self.fd(fd)?.opts.fast_open_without_cookie();
        if no_cookie || self.shard.has_fast_open_cookie(remote.ip()) {
            self.fd(fd)?.opts.deferred_connect = Some(remote);
            return Ok(());
        }
        self.send_fast_open(fd, remote, &[]).map(|_| ())
    }

    /// Queues what a blocking Fast Open write's SYN did not carry while the handshake is
    /// under way (Linux's writer waits holding it): it leaves with the ACK of the SYN-ACK.
    pub fn queue_behind_syn(&mut self, fd: i32, data: &[u8]) -> Res<usize> {
        let (h, _) = self.conn(fd)?;
        match self.shard.send(h, data) {
            Ok(n) => Ok(n),
            Err(ringtcp_transport::Error::WouldBlock) => Ok(0),
            Err(e) => Err(errno_of(e)),
        }
    }

    /// Where a `TCP_FASTOPEN_CONNECT` socket whose connect was deferred connects to: its
    /// first write goes through [`send_fast_open`](Adapter::send_fast_open).
    pub fn deferred_connect(&self, fd: i32) -> Option<SocketAddr> {
        self.fds.get(&fd)?.opts.deferred_connect
    }
}
