//! The I/O counters of a shard (`IoStats`), moved by a peer on the other end of an
//! in-memory link that pings the stack: a peer that stops reading makes writes wait (past
//! the write slots, in the transport: counted, nothing dropped); a peer that shuts its read
//! side makes writes fail, counted as I/O errors, while the shard carries on.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use ringtcp_runtime::stack::Shards;
use ringtcp_runtime::stats::ShardStats;

const STACK: Ipv4Addr = Ipv4Addr::new(10, 58, 0, 2);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 58, 0, 1);

fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP echo request from the peer to the stack, sequence number `seq`.
fn ping(seq: u16) -> [u8; 32] {
    let mut p = [0u8; 32];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&32u16.to_be_bytes());
    p[8] = 64;
    p[9] = 1;
    p[12..16].copy_from_slice(&PEER.octets());
    p[16..20].copy_from_slice(&STACK.octets());
    let c = internet_checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20] = 8;
    p[24..26].copy_from_slice(&0x77u16.to_be_bytes());
    p[26..28].copy_from_slice(&seq.to_be_bytes());
    p[28..32].copy_from_slice(b"ping");
    let c = internet_checksum(&p[20..]);
    p[22..24].copy_from_slice(&c.to_be_bytes());
    p
}

fn start() -> (Shards, UnixStream) {
    let (shards, theirs) = common::one_shard(STACK);
    (shards, UnixStream::from(theirs))
}

fn stats_until(shards: &Shards, done: impl Fn(&ShardStats) -> bool) -> ShardStats {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = shards.stats().unwrap().remove(0);
        if done(&s) || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_peer_that_stops_reading_makes_replies_wait_and_then_every_one_arrives() {
    let (shards, mut peer) = start();
    const PINGS: u16 = 3000;
    for seq in 0..PINGS {
        peer.write_all(&ping(seq)).unwrap();
    }
    // Every ping is handled, but the peer reads nothing: replies wait in the link until
    // its buffer is full, then in the ring's write slots, then in the transport, which
    // the loop stops draining (counted) instead of dropping what it drains.
    let all = u64::from(PINGS);
    let s = stats_until(&shards, |s| s.transport.icmp_in == all && s.io.tx_deferred > 0);
    assert_eq!(s.transport.icmp_in, all, "{s:?}");
    assert!(s.io.tx_deferred > 0, "3,000 replies cannot all be in flight: {:?}", s.io);
    assert!(s.io.packets_out < all, "{:?}", s.io);
    assert_eq!((s.io.tx_overflow, s.io.io_errors), (0, 0), "{:?}", s.io);

    // The peer reads again: every reply arrives once, intact (writes blocked on a full
    // socket pair complete in any order).
    peer.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut buf = [0u8; 2048];
    let mut seen = vec![false; usize::from(PINGS)];
    while let Ok(n) = peer.read(&mut buf) {
        assert_eq!(n, 32, "a whole echo reply");
        assert_eq!((buf[9], buf[20]), (1, 0), "ICMP echo reply");
        assert_eq!(&buf[28..32], b"ping", "its data echoed");
        let seq = usize::from(u16::from_be_bytes([buf[26], buf[27]]));
        assert!(!std::mem::replace(&mut seen[seq], true), "reply {seq} twice");
    }
    let missing = seen.iter().filter(|&&s| !s).count();
    assert_eq!(missing, 0, "no reply was dropped");
    let s = stats_until(&shards, |s| s.io.packets_out == all);
    assert_eq!((s.io.packets_out, s.transport.icmp_out, s.io.tx_overflow), (all, all, 0), "{:?}", s.io);
    assert_eq!(s.io.packets_in, all);
    assert!(s.io.submissions > 0 && s.io.completions >= s.io.packets_out, "{:?}", s.io);
}

#[test]
fn writes_to_a_peer_that_shut_its_read_side_are_counted_io_errors_and_the_shard_carries_on() {
    let (shards, mut peer) = start();
    peer.shutdown(Shutdown::Read).unwrap();
    for seq in 0..3 {
        peer.write_all(&ping(seq)).unwrap();
    }
    let s = stats_until(&shards, |s| s.io.io_errors >= 3);
    assert_eq!(s.io.io_errors, 3, "each reply's write failed: {:?}", s.io);
    assert_eq!(s.io.packets_out, 0);
    // Still alive: it reads, handles and counts what comes next.
    peer.write_all(&ping(3)).unwrap();
    let s = stats_until(&shards, |s| s.transport.icmp_in == 4);
    assert_eq!((s.transport.icmp_in, s.io.packets_in), (4, 4), "{s:?}");
}
