//! TCP Fast Open, client side (RFC 7413 §4.1): the cookies servers gave this shard, and
//! connections that carry their first data in the SYN.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::{Shard, Slot, SocketHandle};
use crate::error::Error;
use crate::listener::fast_open::{FastOpenConn, Learned};
use crate::options::SocketOptions;
use crate::time::Instant;
use crate::wire::FastOpenOption;

/// Servers remembered at most (Linux keeps its cookies in the TCP metrics cache, also
/// bounded); past it an arbitrary entry makes room.
const CACHE_ENTRIES: usize = 1024;

/// Linux's `MAX_TCP_OPTION_SPACE`: SYN data leaves room for every option beside it.
const OPTION_SPACE: usize = 40;

/// Which form of the option a cookie request takes (Linux's `try_exp`): kind 34 first;
/// after a server left such a request unanswered, once the experimental form (servers
/// from before kind 34 was assigned know only that); if that goes unanswered too, kind 34
/// for good.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum RequestForm {
    #[default]
    Assigned,
    TryExperimental,
    Settled,
}

/// What the cache keeps of one server.
#[derive(Clone, Copy, Debug)]
struct Server {
    cookie: Option<FastOpenOption>,
    mss: u16,
    request: RequestForm,
}

/// The MSS each Fast Open server announced last, the cookie it gave, if one (RFC 7413
/// §4.1.3: SYN data must fit one segment the server takes), and the form a cookie request
/// to it takes.
#[derive(Debug, Default)]
pub(crate) struct FastOpenCache {
    servers: HashMap<IpAddr, Server>,
}

impl FastOpenCache {
    /// What a Fast Open SYN-ACK from `server` told: its MSS, and a cookie if it gave one
    /// (without one, an entry held already keeps its cookie). Like Linux's TCP metrics,
    /// the MSS is kept even from a server that gave no cookie: cookie-less SYN data is
    /// sized by it.
    pub(crate) fn learn(&mut self, server: IpAddr, learned: Learned) {
        let next = |request: RequestForm| match (learned.request_unanswered, request) {
            (Some(false), RequestForm::Assigned) => RequestForm::TryExperimental,
            (Some(true), _) => RequestForm::Settled,
            (_, r) => r,
        };
        if let Some(entry) = self.servers.get_mut(&server) {
            *entry = Server { cookie: learned.cookie.or(entry.cookie), mss: learned.mss, request: next(entry.request) };
            return;
        }
        if self.servers.len() >= CACHE_ENTRIES {
            let Some(&any) = self.servers.keys().next() else { return };
            self.servers.remove(&any);
        }
        self.servers.insert(server, Server { cookie: learned.cookie, mss: learned.mss, request: next(RequestForm::Assigned) });
    }

    fn get(&self, server: IpAddr) -> Option<Server> {
        self.servers.get(&server).copied()
    }

    fn clear(&mut self) {
        self.servers = HashMap::new();
    }
}

impl Shard {
    /// Opens a connection with TCP Fast Open (RFC 7413 §4.1, Linux's `sendto` with
    /// `MSG_FASTOPEN`): with a cookie from this server (or with
    /// [`SocketOptions::fast_open_no_cookie`], without one), as much of `data` as fits one
    /// segment goes in the SYN and the count is returned; without a cookie, the SYN asks
    /// for one, 0 is returned and `data` waits for the handshake, as for any connection.
    ///
    /// ```
    /// use ringtcp_transport::{Config, Instant, Secret, Shard, SocketOptions, State};
    ///
    /// let mut server = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([1; 16]));
    /// let mut client = Shard::new(Config::default(), &["10.0.0.2".parse().unwrap()], Secret([2; 16]));
    /// let fast_open = SocketOptions { fast_open: Some(16), ..SocketOptions::default() };
    /// let l = server.listen_with("10.0.0.1:80".parse().unwrap(), 128, fast_open).unwrap();
    /// let (now, remote) = (Instant::ZERO, "10.0.0.1:80".parse().unwrap());
    /// let mut buf = [0u8; 1600];
    /// let mut exchange = |client: &mut Shard, server: &mut Shard| {
    ///     for _ in 0..3 {
    ///         while let Some(n) = client.poll_transmit(now, &mut buf) { server.handle_packet(now, &buf[..n]); }
    ///         while let Some(n) = server.poll_transmit(now, &mut buf) { client.handle_packet(now, &buf[..n]); }
    ///     }
    /// };
    ///
    /// // The first connection asks for a cookie; its data waits for the handshake.
    /// let (_, in_syn) = client.connect_fast_open(now, remote, None, SocketOptions::default(), b"GET /").unwrap();
    /// assert_eq!(in_syn, 0);
    /// exchange(&mut client, &mut server);
    /// assert!(client.has_fast_open_cookie("10.0.0.1".parse().unwrap()));
    /// server.accept(l).unwrap().expect("an ordinary handshake");
    ///
    /// // The second carries its request in the SYN: the server application can read it
    /// // as soon as the SYN arrives, before the handshake completes.
    /// let (_, in_syn) = client.connect_fast_open(now, remote, None, SocketOptions::default(), b"GET /").unwrap();
    /// assert_eq!(in_syn, 5);
    /// while let Some(n) = client.poll_transmit(now, &mut buf) { server.handle_packet(now, &buf[..n]); }
    /// let h = server.accept(l).unwrap().expect("handed over at once");
    /// assert_eq!(server.state(h).unwrap(), State::SynReceived);
    /// let mut got = [0u8; 5];
    /// assert_eq!(server.recv(h, &mut got).unwrap(), 5);
    /// assert_eq!(&got, b"GET /");
    /// ```
    pub fn connect_fast_open(&mut self, now: Instant, remote: SocketAddr, local: Option<SocketAddr>, opts: SocketOptions, data: &[u8]) -> Result<(SocketHandle, usize), Error> {
        let h = self.connect_with(now, remote, local, opts)?;
        let cached = self.fast_open_cache.get(remote.ip().to_canonical());
        let Some(Slot::Live(c)) = self.conns.get_mut(h.idx as usize) else { return Err(Error::InvalidHandle) };
        // SYN data fits one segment of the server's last known MSS (ours before it is
        // known), beside every option a SYN may carry.
        let room = usize::from(cached.map_or(c.rcv_mss(), |s| s.mss.min(c.rcv_mss()))).saturating_sub(OPTION_SPACE);
        let taken = match cached {
            _ if opts.fast_open_no_cookie => {
                c.fast_open = Some(Box::new(FastOpenConn { no_cookie: true, ..FastOpenConn::default() }));
                // A connection just opened takes this much (its buffer holds more).
                c.send(&data[..data.len().min(room)]).unwrap_or(0)
            }
            Some(Server { cookie: Some(cookie), .. }) => {
                c.fast_open = Some(Box::new(FastOpenConn { cookie: Some(cookie), ..FastOpenConn::default() }));
                c.send(&data[..data.len().min(room)]).unwrap_or(0)
            }
            _ => {
                let experimental = cached.is_some_and(|s| s.request == RequestForm::TryExperimental);
                c.fast_open = FastOpenOption::new(experimental, &[]).map(|request| Box::new(FastOpenConn { cookie: Some(request), ..FastOpenConn::default() }));
                0
            }
        };
        self.stats.fast_open_connects += 1;
        self.after(h.idx);
        Ok((h, taken))
    }

    /// True if this shard holds a Fast Open cookie from `server` (see
    /// [`connect_fast_open`](Shard::connect_fast_open) for an example).
    pub fn has_fast_open_cookie(&self, server: IpAddr) -> bool {
        self.fast_open_cache.get(server.to_canonical()).is_some_and(|s| s.cookie.is_some())
    }

    /// Forgets what every server told this shard about Fast Open: its cookies, MSS and the
    /// form its cookie requests take (Linux's `ip tcp_metrics flush all`). The next
    /// [`connect_fast_open`](Shard::connect_fast_open) to any server asks for a cookie
    /// again, as after a start; useful when servers have changed their keys.
    ///
    /// ```
    /// use ringtcp_transport::{Config, Instant, Secret, Shard, SocketOptions};
    ///
    /// let mut server = Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([1; 16]));
    /// let mut client = Shard::new(Config::default(), &["10.0.0.2".parse().unwrap()], Secret([2; 16]));
    /// let fast_open = SocketOptions { fast_open: Some(16), ..SocketOptions::default() };
    /// server.listen_with("10.0.0.1:80".parse().unwrap(), 128, fast_open).unwrap();
    /// let (now, remote) = (Instant::ZERO, "10.0.0.1:80".parse().unwrap());
    /// let mut buf = [0u8; 1600];
    /// client.connect_fast_open(now, remote, None, SocketOptions::default(), b"GET /").unwrap();
    /// for _ in 0..3 {
    ///     while let Some(n) = client.poll_transmit(now, &mut buf) { server.handle_packet(now, &buf[..n]); }
    ///     while let Some(n) = server.poll_transmit(now, &mut buf) { client.handle_packet(now, &buf[..n]); }
    /// }
    /// assert!(client.has_fast_open_cookie(remote.ip()));
    ///
    /// client.forget_fast_open_cookies();
    /// assert!(!client.has_fast_open_cookie(remote.ip()));
    /// // Asks again: nothing goes in the SYN.
    /// let (_, in_syn) = client.connect_fast_open(now, remote, None, SocketOptions::default(), b"GET /").unwrap();
    /// assert_eq!(in_syn, 0);
    /// ```
    pub fn forget_fast_open_cookies(&mut self) {
        self.fast_open_cache.clear();
    }
}
