//! TCP Fast Open, server side (RFC 7413). A client that got a cookie from this server on
//! an earlier connection sends it with data in its SYN; the listener checks the cookie,
//! takes the data at once and hands the connection to the application before the
//! handshake completes, so a short request is answered one round trip sooner.
//!
//! The cookie is Linux's (`tcp_fastopen_cookie_gen`): SipHash-2-4 over the client's and
//! the server's addresses, keyed with a 16-byte key, 8 bytes little-endian. A client that
//! moves to another address needs a new cookie; one that replays a SYN with data can make
//! the server process it twice, which is why RFC 7413 §6.2 leaves Fast Open to
//! applications that accept that (a listener turns it on; it is off by default).

use core::hash::Hasher;
use std::net::IpAddr;

use siphasher::sip::SipHasher24;

use crate::wire::FastOpenOption;

/// How a shard serves Fast Open beyond listeners that ask for it (Linux's server bits of
/// `net.ipv4.tcp_fastopen`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FastOpenServer {
    /// Listeners may serve Fast Open at all (Linux's `0x2`); on by default, so a listener
    /// that asks for it gets it.
    pub enabled: bool,
    /// Every listener serves Fast Open, with its backlog as the queue length, whether or
    /// not it set [`SocketOptions::fast_open`](crate::SocketOptions::fast_open) (Linux's
    /// `0x400`).
    pub every_listener: bool,
    /// Take data from any SYN, with or without a cookie (Linux's `0x200`): only for
    /// networks where every client is trusted, since nothing then proves the client owns
    /// its address.
    pub cookie_not_required: bool,
}

impl Default for FastOpenServer {
    fn default() -> Self {
        FastOpenServer { enabled: true, every_listener: false, cookie_not_required: false }
    }
}

/// The key cookies are made with: two SipHash keys, as Linux reads its 16-byte
/// `tcp_fastopen_key` (little-endian words).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct FastOpenKey(u64, u64);

impl core::fmt::Debug for FastOpenKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FastOpenKey(..)")
    }
}

impl FastOpenKey {
    /// A key drawn from the shard's secret (SipHash-128 under it, so it reveals nothing
    /// of the secret's other uses).
    pub(crate) fn derived(secret: crate::isn::Secret) -> FastOpenKey {
        use siphasher::sip128::{Hasher128, SipHasher24 as SipHasher128};
        let mut h = SipHasher128::new_with_key(&secret.0);
        h.write(b"tcp fast open key");
        FastOpenKey::from_bytes(h.finish128().as_bytes())
    }

    pub(crate) fn from_bytes(key: [u8; 16]) -> FastOpenKey {
        let (a, b) = key.split_at(8);
        FastOpenKey(u64::from_le_bytes(a.try_into().unwrap_or_default()), u64::from_le_bytes(b.try_into().unwrap_or_default()))
    }

    /// The cookie for a client at `remote` reaching us at `local` (the transport holds
    /// IPv4 peers in their IPv4 form, so both are of one family).
    pub(crate) fn cookie(&self, local: IpAddr, remote: IpAddr) -> [u8; 8] {
        let mut h = SipHasher24::new_with_keys(self.0, self.1);
        match (remote, local) {
            (IpAddr::V4(r), IpAddr::V4(l)) => {
                h.write(&r.octets());
                h.write(&l.octets());
            }
            (r, l) => {
                h.write(&ipv6_octets(r));
                h.write(&ipv6_octets(l));
            }
        }
        h.finish().to_le_bytes()
    }
}

fn ipv6_octets(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// What a connection opened from a Fast Open SYN keeps (boxed: only such connections pay
/// for it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FastOpenConn {
    /// Opened by Fast Open: handed to the application in SYN-RECEIVED, and may send
    /// before its handshake completes.
    pub(crate) accepted: bool,
    /// The SYN carried data, taken (Linux's `TCPI_OPT_SYN_DATA`).
    pub(crate) syn_data: bool,
    /// The cookie the SYN-ACK gives the client.
    pub(crate) cookie: Option<FastOpenOption>,
    /// The listener (slot, generation) whose Fast Open queue counts this connection while
    /// it is in SYN-RECEIVED.
    pub(crate) queued_on: Option<(u32, u32)>,
    /// Client side: what the SYN-ACK told of its server, for the shard's cache.
    pub(crate) learned: Option<Learned>,
    /// Client side: the SYN carries data without a cookie (`fast_open_no_cookie`).
    pub(crate) no_cookie: bool,
}

/// What a Fast Open client's SYN-ACK told of its server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Learned {
    /// The cookie, if it gave a valid one.
    pub(crate) cookie: Option<FastOpenOption>,
    /// Its MSS.
    pub(crate) mss: u16,
    /// The SYN asked for a cookie, without data and at the first try, and got none:
    /// `Some(true)` if it asked in the experimental form.
    pub(crate) request_unanswered: Option<bool>,
}

/// What a SYN's Fast Open option (or its absence) gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FastOpenVerdict {
    /// An ordinary handshake.
    Ignore,
    /// An ordinary handshake whose SYN-ACK gives the client this cookie (it asked, or
    /// sent a wrong or stale one); data in the SYN is not taken.
    SendCookie(FastOpenOption),
    /// Take the SYN's data and hand the connection to the application now.
    Accept,
}

/// Linux's `tcp_try_fastopen`. `queue` is the listener's Fast Open queue: its length and
/// the Fast Open connections still in SYN-RECEIVED; `None` when the listener does not
/// serve Fast Open. `valid` makes the client's cookie, only when one is needed (a SYN
/// flood to a listener without Fast Open costs no hashing).
pub(crate) fn verdict(server: FastOpenServer, queue: Option<(usize, usize)>, option: Option<FastOpenOption>, syn_data: bool, valid: impl FnOnce() -> [u8; 8]) -> FastOpenVerdict {
    let Some((qlen, pending)) = queue.filter(|_| server.enabled) else { return FastOpenVerdict::Ignore };
    let asked = option.is_some() || (syn_data && server.cookie_not_required);
    // A full queue (or a zero one) serves an ordinary handshake, as Linux does, so a flood
    // of Fast Open SYNs cannot hold more than `qlen` connections before they prove the
    // handshake.
    if !asked || pending >= qlen {
        return FastOpenVerdict::Ignore;
    }
    if server.cookie_not_required {
        return FastOpenVerdict::Accept;
    }
    let Some(option) = option else { return FastOpenVerdict::Ignore };
    let valid = valid();
    if option.cookie() == valid {
        return FastOpenVerdict::Accept;
    }
    FastOpenOption::new(option.experimental, &valid).map_or(FastOpenVerdict::Ignore, FastOpenVerdict::SendCookie)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux's key words `a0bf63f7-ed803d81-cd641d30-cebc4a90` as bytes.
    fn linux_key(words: [u32; 4]) -> FastOpenKey {
        let mut b = [0u8; 16];
        for (i, w) in words.iter().enumerate() {
            b[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
        }
        FastOpenKey::from_bytes(b)
    }

    #[test]
    fn cookies_are_linuxs() {
        // packetdrill's fastopen/server/simple1.pkt: this key, client 10.248.0.2, server
        // 192.168.0.2, and the cookie Linux sends.
        let key = linux_key([0xa0bf63f7, 0xed803d81, 0xcd641d30, 0xcebc4a90]);
        let cookie = key.cookie("192.168.0.2".parse().unwrap(), "10.248.0.2".parse().unwrap());
        assert_eq!(cookie, [0x00, 0xab, 0xaa, 0xab, 0xe8, 0xe9, 0x54, 0xc2]);
        assert_ne!(key.cookie("192.168.0.3".parse().unwrap(), "10.248.0.2".parse().unwrap()), cookie, "bound to the addresses");
    }

    #[test]
    fn verdicts() {
        let valid = [1, 2, 3, 4, 5, 6, 7, 8];
        let on = FastOpenServer::default();
        let opt = |c: &[u8]| FastOpenOption::new(false, c);
        assert_eq!(verdict(on, None, opt(&valid), true, || valid), FastOpenVerdict::Ignore, "listener without Fast Open");
        assert_eq!(verdict(on, Some((4, 0)), None, true, || valid), FastOpenVerdict::Ignore, "no option");
        assert_eq!(verdict(on, Some((4, 0)), opt(&valid), true, || valid), FastOpenVerdict::Accept);
        assert_eq!(verdict(on, Some((4, 0)), opt(&valid), false, || valid), FastOpenVerdict::Accept, "a valid cookie without data");
        assert_eq!(verdict(on, Some((4, 4)), opt(&valid), true, || valid), FastOpenVerdict::Ignore, "queue full");
        assert_eq!(verdict(on, Some((4, 0)), opt(&[]), true, || valid), FastOpenVerdict::SendCookie(opt(&valid).unwrap()), "a request");
        let wrong = verdict(on, Some((4, 0)), FastOpenOption::new(true, &[9; 8]), true, || valid);
        assert_eq!(wrong, FastOpenVerdict::SendCookie(FastOpenOption::new(true, &valid).unwrap()), "a wrong cookie: the right one, in the client's form");
        let open = FastOpenServer { cookie_not_required: true, ..on };
        assert_eq!(verdict(open, Some((4, 0)), None, true, || valid), FastOpenVerdict::Accept);
        assert_eq!(verdict(open, Some((4, 0)), None, false, || valid), FastOpenVerdict::Ignore, "a plain SYN stays plain");
        let off = FastOpenServer { enabled: false, ..on };
        assert_eq!(verdict(off, Some((4, 0)), opt(&valid), true, || valid), FastOpenVerdict::Ignore, "switched off for the shard");
    }
}
