//! Initial sequence numbers (RFC 6528) and ephemeral port offsets (RFC 6056 §3.3.4, Algorithm 4),
//! both from SipHash-2-4 keyed with a secret drawn by the caller at start-up.

use core::hash::Hasher;
use std::net::SocketAddr;

use siphasher::sip::SipHasher24;

use crate::seq::SeqNum;
use crate::time::Instant;

/// The secret behind ISNs and port choice. Draw it from a CSPRNG at start-up; a
/// predictable secret makes blind in-window attacks possible (RFC 6528 §3).
#[derive(Clone, Copy)]
pub struct Secret(pub [u8; 16]);

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Counters of RFC 6056 Algorithm 4 (the RFC suggests a table of this order).
pub(crate) const PORT_TABLE: usize = 256;

#[derive(Debug, Clone)]
pub(crate) struct IsnGenerator {
    key: Secret,
}

pub(crate) fn write_addr(h: &mut impl Hasher, a: &SocketAddr) {
    match a {
        SocketAddr::V4(v4) => h.write(&v4.ip().octets()),
        SocketAddr::V6(v6) => h.write(&v6.ip().octets()),
    }
    h.write_u16(a.port());
}

impl IsnGenerator {
    pub(crate) fn new(key: Secret) -> Self {
        IsnGenerator { key }
    }

    fn hasher(&self, domain: u8) -> SipHasher24 {
        let mut h = SipHasher24::new_with_key(&self.key.0);
        h.write_u8(domain);
        h
    }

    /// RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), with M
    /// a timer ticking every 4 microseconds.
    pub(crate) fn isn(&self, local: &SocketAddr, remote: &SocketAddr, now: Instant) -> SeqNum {
        let mut h = self.hasher(0);
        write_addr(&mut h, local);
        write_addr(&mut h, remote);
        let m = (now.as_nanos() / 4_000) as u32;
        SeqNum((h.finish() as u32).wrapping_add(m))
    }

    /// A per-connection offset for the timestamp clock (RFC 7323 §5.4), so TSval reveals
    /// neither uptime nor how many connections came before.
    pub(crate) fn ts_offset(&self, local: &SocketAddr, remote: &SocketAddr) -> u32 {
        let mut h = self.hasher(1);
        write_addr(&mut h, local);
        write_addr(&mut h, remote);
        h.finish() as u32
    }

    /// RFC 6056 Algorithm 4 (double-hash): F(local, remote, secret) picks the starting
    /// offset, G(local, remote, secret2) the counter slot, so each local address and
    /// destination walks the whole port range before reusing a 4-tuple.
    pub(crate) fn port_offset(&self, local_ip: &SocketAddr, remote: &SocketAddr) -> (u32, usize) {
        let mut f = self.hasher(2);
        write_addr(&mut f, local_ip);
        write_addr(&mut f, remote);
        let mut g = self.hasher(3);
        write_addr(&mut g, local_ip);
        write_addr(&mut g, remote);
        (f.finish() as u32, g.finish() as usize % PORT_TABLE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isn_depends_on_tuple_secret_and_clock() {
        let a: SocketAddr = "10.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let c: SocketAddr = "10.0.0.2:81".parse().unwrap();
        let g = IsnGenerator::new(Secret([7; 16]));
        let t = Instant::from_millis(1);
        assert_ne!(g.isn(&a, &b, t), g.isn(&a, &c, t));
        assert_ne!(g.isn(&a, &b, t), IsnGenerator::new(Secret([8; 16])).isn(&a, &b, t));
        // The clock component advances 250 per millisecond.
        let later = g.isn(&a, &b, Instant::from_millis(2));
        assert_eq!(later - g.isn(&a, &b, t), 250);
    }
}
