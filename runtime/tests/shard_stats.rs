//! A shard's statistics, read from its own thread: bad packets written into its device are
//! counted under the right drop reason and as packets read.

mod common;

use std::io::Write;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const STACK: Ipv4Addr = Ipv4Addr::new(10, 57, 0, 2);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 57, 0, 1);

/// A 20-byte IPv4 header (TCP, no payload) to `STACK`, its checksum right or off by one.
fn ipv4_header(right_checksum: bool) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&20u16.to_be_bytes());
    h[8] = 64;
    h[9] = 6;
    h[12..16].copy_from_slice(&PEER.octets());
    h[16..20].copy_from_slice(&STACK.octets());
    let mut sum: u32 = h.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let csum = !(sum as u16);
    let csum = if right_checksum { csum } else { csum.wrapping_add(1) };
    h[10..12].copy_from_slice(&csum.to_be_bytes());
    h
}

#[test]
fn malformed_packets_are_counted_by_reason_and_as_packets_in() {
    let (shards, theirs) = common::one_shard(STACK);
    let mut peer = std::fs::File::from(theirs);
    let before = shards.stats().unwrap().remove(0);
    assert_eq!(before.io.packets_in, 0);

    // IP version 5; an IPv6 header announcing a hop-by-hop header it does not carry; a bad
    // IPv4 header checksum; 12 bytes of an IPv4 header.
    let mut v5 = [0u8; 40];
    v5[0] = 0x50;
    peer.write_all(&v5).unwrap();
    let mut v6 = [0u8; 40];
    v6[0] = 0x60;
    peer.write_all(&v6).unwrap();
    peer.write_all(&ipv4_header(false)).unwrap();
    peer.write_all(&ipv4_header(true)[..12]).unwrap();

    let deadline = Instant::now() + Duration::from_secs(2);
    let s = loop {
        let s = shards.stats().unwrap().remove(0);
        if s.io.packets_in >= 4 || Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(s.shard, 0);
    assert_eq!(s.io.packets_in, 4, "{s:?}");
    assert_eq!(s.drops.malformed, 1, "the version-5 packet: {s:?}");
    assert_eq!(s.transport.ip6_in_receives, 1, "{s:?}");
    assert_eq!(s.drops.bad_ip_checksum, 1, "{s:?}");
    assert_eq!(s.drops.truncated, 2, "the IPv6 packet cut before its hop-by-hop header, the 12-byte packet: {s:?}");
    assert_eq!(s.transport.tcp_in_segs, 0, "nothing reached TCP: {s:?}");
}
