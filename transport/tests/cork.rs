//! Segment-level tests of holding a short tail back for more data: a corked connection
//! (`Shard::set_cork`, Linux's `TCP_CORK`) and a write that says more follows
//! (`Shard::send_more`, `MSG_MORE`).

mod common;

use std::time::Duration;

use common::peer::{Peer, Seg, flags, plain_config};
use ringtcp_transport::SocketHandle;
use ringtcp_transport::wire::TcpFlags;

const PEER_ISS: u32 = 1000;

/// Established with an MSS of 1,000 bytes; returns the first data sequence number.
fn established() -> (Peer, SocketHandle, u32) {
    common::peer::accepted_mss_1000(plain_config(), PEER_ISS)
}

/// (start, end) of each segment, relative to the first data byte.
fn ranges(segs: &[Seg], first: u32) -> Vec<(u32, u32)> {
    segs.iter().filter(|s| !s.payload.is_empty()).map(|s| (s.seq - first, s.seq - first + s.payload.len() as u32)).collect()
}

#[test]
fn a_corked_connection_sends_pieces_as_one_segment_when_uncorked() {
    let (mut p, h, first) = established();
    p.shard.set_cork(h, true).unwrap();
    p.shard.send(h, b"GET / HTTP/1.1\r\n").unwrap();
    p.shard.send(h, b"Host: a\r\n\r\n").unwrap();
    p.none();
    p.shard.set_cork(h, false).unwrap();
    let segs = p.sent();
    assert_eq!(ranges(&segs, first), vec![(0, 27)]);
    assert_eq!(segs[0].payload, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
}

#[test]
fn full_segments_leave_a_corked_connection_and_only_the_short_tail_waits() {
    let (mut p, h, first) = established();
    p.shard.set_cork(h, true).unwrap();
    let data: Vec<u8> = (0..3_000u32).map(|i| (i % 253) as u8).collect();
    p.shard.send(h, &data[..2_500]).unwrap();
    assert_eq!(ranges(&p.sent(), first), vec![(0, 1_000), (1_000, 2_000)]);
    // The next write completes the third segment: it goes, whole.
    p.shard.send(h, &data[2_500..]).unwrap();
    let third = p.sent();
    assert_eq!(ranges(&third, first), vec![(2_000, 3_000)]);
    assert_eq!(third[0].payload, &data[2_000..]);
}

#[test]
fn a_corked_tail_goes_after_one_rto_with_nothing_in_flight() {
    let (mut p, h, first) = established();
    p.shard.set_cork(h, true).unwrap();
    p.shard.send(h, b"ping").unwrap();
    p.none();
    // The handshake's RTT sample is about zero: the RTO is its 200 ms floor.
    p.advance(Duration::from_millis(190));
    p.none();
    p.advance(Duration::from_millis(20));
    let segs = p.sent();
    assert_eq!(ranges(&segs, first), vec![(0, 4)]);
    assert!(segs[0].flags.0 & TcpFlags::PSH.0 != 0);
}

#[test]
fn a_write_saying_more_follows_waits_for_the_next_write_even_without_nagle() {
    let (mut p, h, first) = established();
    p.shard.set_nodelay(h, true).unwrap();
    p.shard.send_more(h, b"HTTP/1.1 200 OK\r\n").unwrap();
    p.none();
    p.shard.send(h, b"\r\n").unwrap();
    assert_eq!(ranges(&p.sent(), first), vec![(0, 19)]);
    // Uncorked and without Nagle, a plain short write goes at once.
    p.shard.send(h, b"x").unwrap();
    assert_eq!(ranges(&p.sent(), first), vec![(19, 20)]);
}

#[test]
fn an_ack_of_data_releases_what_a_more_write_held() {
    let (mut p, h, first) = established();
    p.shard.set_nodelay(h, true).unwrap();
    p.shard.send_more(h, &[7u8; 2_100]).unwrap();
    assert_eq!(ranges(&p.sent(), first), vec![(0, 1_000), (1_000, 2_000)]);
    p.shard.send_more(h, &[8u8; 50]).unwrap();
    p.none();
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, first + 1_000));
    assert_eq!(ranges(&p.sent(), first), vec![(2_000, 2_150)]);
}

#[test]
fn turning_nagle_off_pushes_what_a_cork_holds_but_not_what_comes_later() {
    let (mut p, h, first) = established();
    p.shard.set_cork(h, true).unwrap();
    p.shard.send(h, b"abc").unwrap();
    p.none();
    p.shard.set_nodelay(h, true).unwrap();
    assert_eq!(ranges(&p.sent(), first), vec![(0, 3)]);
    assert!(p.shard.cork(h).unwrap(), "still corked");
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, first + 3));
    p.shard.send(h, b"def").unwrap();
    p.none();
}

#[test]
fn closing_a_corked_connection_sends_the_tail_with_the_fin() {
    let (mut p, h, first) = established();
    p.shard.set_cork(h, true).unwrap();
    p.shard.send(h, b"bye").unwrap();
    p.none();
    p.shard.shutdown_write(h).unwrap();
    let segs = p.sent();
    assert_eq!(ranges(&segs, first), vec![(0, 3)]);
    assert!(segs[0].flags.0 & TcpFlags::FIN.0 != 0, "{:?}", segs[0].flags);
}
