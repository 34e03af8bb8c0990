//! SYN cookies (RFC 4987 §3.6): when a listener's SYN queue is full, its SYN-ACK carries
//! everything the connection needs in the ISS (and, with timestamps, in TSval), so the
//! listener keeps no state until the peer's ACK proves the handshake.
//!
//! The ISS of a cookie SYN-ACK is `mac:28 | epoch:1 | mss:3`:
//! - `mss` indexes [`MSS_TABLE`] (the largest entry not above the peer's MSS);
//! - `epoch` is the low bit of the secret's epoch: secrets rotate every
//!   `Config::syn_cookie_period`, and a cookie is valid under the secret that made it while
//!   that secret is current or the previous one, so it lives one to two periods;
//! - `mac` is 28 bits of SipHash-2-4, keyed with the epoch's secret, over the 4-tuple, the
//!   peer's ISN, `mss` and the option bits below. A guess is right once in 2^28.
//!
//! With timestamps (RFC 7323), the low 6 bits of our TSval carry the peer's window scale
//! (4 bits, 15 for none) and SACK-permitted (1 bit; 1 bit is left for ECN); the peer echoes
//! TSval in TSecr, so a cookie connection keeps those options, as on Linux. Without
//! timestamps the SYN-ACK offers neither window scaling nor SACK (nowhere to keep them).
//! The option bits are under the MAC, so a forged TSecr cannot change them.
//!
//! Epoch secrets are derived from the shard's start-up secret with SipHash (a PRF), so each
//! is independent of the others and nothing has to be drawn at run time.

use core::hash::Hasher;
use core::time::Duration;
use std::net::SocketAddr;

use siphasher::sip::SipHasher24;
use siphasher::sip128::{Hasher128, SipHasher24 as SipHasher128};

use crate::isn::{Secret, write_addr};
use crate::seq::SeqNum;
use crate::time::Instant;

/// MSS values a cookie can encode; the peer's MSS is rounded down to one of them (values
/// below the first are rounded up to it, as Linux rounds to 536). The common ones: the
/// RFC 9293 default, IPv6 minimum path MTU, PPPoE / tunnels, and Ethernet.
pub(crate) const MSS_TABLE: [u16; 8] = [256, 536, 1220, 1300, 1380, 1440, 1452, 1460];

/// Bits of TSval that carry options.
const TS_OPT_BITS: u32 = 6;
const TS_OPT_MASK: u32 = (1 << TS_OPT_BITS) - 1;
const NO_WSCALE: u8 = 0xf;
const SACK_BIT: u8 = 0x10;
/// Marks "these options rode in TSval" in the MAC input, so a cookie made with timestamps
/// never validates without them and the other way round.
const TS_PRESENT: u8 = 0x40;

/// The options a cookie connection keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct CookieOptions {
    /// The peer's MSS, rounded down to a table entry.
    pub(crate) mss: u16,
    /// The peer's window shift, if it offered window scaling.
    pub(crate) wscale: Option<u8>,
    /// The peer offered SACK.
    pub(crate) sack: bool,
}

/// What validating an ACK as the third step of a cookie handshake found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CookieCheck {
    /// A cookie this listener issued, still fresh: open the connection with these options.
    Valid(CookieOptions),
    /// Not a cookie we issued, or one whose secret has rotated out.
    Invalid,
}

/// The secrets behind cookies and the two epochs whose cookies are accepted.
#[derive(Clone, Debug)]
pub(crate) struct CookieJar {
    master: Secret,
    period: Duration,
    /// Epoch of `keys[0]`; `keys[1]` belongs to the epoch before it.
    epoch: u64,
    keys: [[u8; 16]; 2],
}

impl CookieJar {
    pub(crate) fn new(master: Secret, period: Duration) -> CookieJar {
        let period = period.max(Duration::from_millis(1));
        let mut jar = CookieJar { master, period, epoch: 0, keys: [[0; 16]; 2] };
        jar.keys = [jar.derive(0), jar.derive(u64::MAX)];
        jar
    }

    /// The secret of epoch `e`: SipHash-128 of `e` under the master secret.
    fn derive(&self, e: u64) -> [u8; 16] {
        let mut h = SipHasher128::new_with_key(&self.master.0);
        h.write_u8(4);
        h.write_u64(e);
        h.finish128().as_bytes()
    }

    fn epoch_at(&self, now: Instant) -> u64 {
        now.as_nanos() / self.period.as_nanos().max(1) as u64
    }

    /// Brings the key pair up to `now`'s epoch: the current secret and the one before.
    fn rotate_to(&mut self, now: Instant) {
        let e = self.epoch_at(now);
        if e == self.epoch {
            return;
        }
        self.keys = if e == self.epoch.wrapping_add(1) { [self.derive(e), self.keys[0]] } else { [self.derive(e), self.derive(e.wrapping_sub(1))] };
        self.epoch = e;
    }

    fn mac(key: &[u8; 16], local: &SocketAddr, remote: &SocketAddr, peer_isn: SeqNum, mss_idx: u8, opts: u8) -> u32 {
        let mut h = SipHasher24::new_with_key(key);
        write_addr(&mut h, local);
        write_addr(&mut h, remote);
        h.write_u32(peer_isn.0);
        h.write_u8(mss_idx);
        h.write_u8(opts);
        (h.finish() >> 36) as u32
    }

    /// The ISS of a cookie SYN-ACK answering a SYN with sequence number `peer_isn`, and
    /// (with timestamps) the low TSval bits that carry `opts`. `ts_opts` is `None` when the
    /// connection will not use timestamps (then the options are not kept).
    pub(crate) fn issue(
        &mut self,
        now: Instant,
        local: &SocketAddr,
        remote: &SocketAddr,
        peer_isn: SeqNum,
        peer_mss: u16,
        ts_opts: Option<CookieOptions>,
    ) -> (SeqNum, Option<u32>) {
        self.rotate_to(now);
        let mss_idx = MSS_TABLE.iter().rposition(|&m| m <= peer_mss).unwrap_or(0) as u8;
        let bits = ts_opts.map(encode_options);
        let opts = bits.map_or(0, |b| TS_PRESENT | b);
        let mac = Self::mac(&self.keys[0], local, remote, peer_isn, mss_idx, opts);
        let iss = (mac << 4) | (((self.epoch & 1) as u32) << 3) | u32::from(mss_idx);
        (SeqNum(iss), bits.map(u32::from))
    }

    /// Checks the ACK of a cookie handshake: `ack` is its acknowledgment number (cookie + 1),
    /// `seq` its sequence number (the peer's ISN + 1), `tsecr` its echoed timestamp if any.
    pub(crate) fn check(
        &mut self,
        now: Instant,
        local: &SocketAddr,
        remote: &SocketAddr,
        seq: SeqNum,
        ack: SeqNum,
        tsecr: Option<u32>,
    ) -> CookieCheck {
        self.rotate_to(now);
        let cookie = (ack - 1).0;
        let mss_idx = (cookie & 7) as u8;
        let parity = u64::from((cookie >> 3) & 1);
        // The key of the epoch with this parity: the current one, or the one before (a
        // cookie two epochs old has the current parity and fails the MAC).
        let key = if parity == self.epoch & 1 { &self.keys[0] } else { &self.keys[1] };
        let bits = tsecr.map(|t| (t & TS_OPT_MASK) as u8);
        let opts = bits.map_or(0, |b| TS_PRESENT | b);
        if Self::mac(key, local, remote, seq - 1, mss_idx, opts) != cookie >> 4 {
            return CookieCheck::Invalid;
        }
        let mut o = CookieOptions { mss: MSS_TABLE[usize::from(mss_idx)], ..CookieOptions::default() };
        if let Some(b) = bits {
            o.wscale = (b & NO_WSCALE != NO_WSCALE).then_some(b & NO_WSCALE);
            o.sack = b & SACK_BIT != 0;
        }
        CookieCheck::Valid(o)
    }

    /// How long after the last cookie was sent an ACK can still carry a valid one: past
    /// this every secret that made one has rotated out, so ACKs need not be checked.
    pub(crate) fn lifetime(&self) -> Duration {
        self.period * 2
    }
}

fn encode_options(o: CookieOptions) -> u8 {
    let ws = o.wscale.map_or(NO_WSCALE, |w| w.min(14));
    ws | if o.sack { SACK_BIT } else { 0 }
}

/// Our TSval for a cookie SYN-ACK: the connection's clock `ts_now` with its low bits
/// replaced by the options, never ahead of the clock (the peer's PAWS must see later
/// segments as newer).
pub(crate) fn cookie_tsval(ts_now: u32, bits: u32) -> u32 {
    let v = (ts_now & !TS_OPT_MASK) | bits;
    if v.wrapping_sub(ts_now) as i32 > 0 { v.wrapping_sub(TS_OPT_MASK + 1) } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (SocketAddr, SocketAddr) {
        ("10.0.0.1:80".parse().unwrap(), "10.0.0.2:40000".parse().unwrap())
    }

    #[test]
    fn a_cookie_round_trips_its_mss_and_options() {
        let mut jar = CookieJar::new(Secret([9; 16]), Duration::from_secs(64));
        let (l, r) = addrs();
        let now = Instant::from_millis(5_000);
        let opts = CookieOptions { mss: 0, wscale: Some(7), sack: true };
        let (iss, bits) = jar.issue(now, &l, &r, SeqNum(1000), 1460, Some(opts));
        let tsval = cookie_tsval(123_456, bits.unwrap());
        assert!(tsval.wrapping_sub(123_456) as i32 <= 0, "TSval never ahead of the clock");
        let got = jar.check(now, &l, &r, SeqNum(1001), iss + 1, Some(tsval));
        assert_eq!(got, CookieCheck::Valid(CookieOptions { mss: 1460, wscale: Some(7), sack: true }));
        // Without timestamps nothing but the MSS is kept.
        let (iss, bits) = jar.issue(now, &l, &r, SeqNum(7), 1400, None);
        assert_eq!(bits, None);
        assert_eq!(jar.check(now, &l, &r, SeqNum(8), iss + 1, None), CookieCheck::Valid(CookieOptions { mss: 1380, wscale: None, sack: false }));
    }

    #[test]
    fn tampered_fields_fail() {
        let mut jar = CookieJar::new(Secret([9; 16]), Duration::from_secs(64));
        let (l, r) = addrs();
        let now = Instant::from_millis(5_000);
        let (iss, bits) = jar.issue(now, &l, &r, SeqNum(1000), 536, Some(CookieOptions::default()));
        let ts = cookie_tsval(99_999, bits.unwrap());
        assert!(matches!(jar.check(now, &l, &r, SeqNum(1001), iss + 1, Some(ts)), CookieCheck::Valid(_)));
        assert_eq!(jar.check(now, &l, &r, SeqNum(1002), iss + 1, Some(ts)), CookieCheck::Invalid, "other peer ISN");
        assert_eq!(jar.check(now, &l, &r, SeqNum(1001), iss + 1, Some(ts ^ 0x10)), CookieCheck::Invalid, "SACK bit flipped");
        assert_eq!(jar.check(now, &l, &r, SeqNum(1001), iss + 1, None), CookieCheck::Invalid, "timestamps dropped");
        assert_eq!(jar.check(now, &l, &r, SeqNum(1001), iss + 2, Some(ts)), CookieCheck::Invalid, "MSS index changed");
        let other: SocketAddr = "10.0.0.3:40000".parse().unwrap();
        assert_eq!(jar.check(now, &l, &other, SeqNum(1001), iss + 1, Some(ts)), CookieCheck::Invalid, "other 4-tuple");
    }

    #[test]
    fn the_previous_secret_is_accepted_an_older_one_is_not() {
        let period = Duration::from_secs(64);
        let mut jar = CookieJar::new(Secret([1; 16]), period);
        let (l, r) = addrs();
        let t0 = Instant::from_millis(10);
        let (iss, _) = jar.issue(t0, &l, &r, SeqNum(5), 1460, None);
        assert!(matches!(jar.check(t0 + period, &l, &r, SeqNum(6), iss + 1, None), CookieCheck::Valid(_)));
        assert_eq!(jar.check(t0 + period * 2, &l, &r, SeqNum(6), iss + 1, None), CookieCheck::Invalid);
        // A jar that skipped epochs derives both keys afresh.
        let mut fresh = CookieJar::new(Secret([1; 16]), period);
        assert!(matches!(fresh.check(t0 + period, &l, &r, SeqNum(6), iss + 1, None), CookieCheck::Valid(_)));
    }
}
