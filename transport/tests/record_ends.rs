//! Segment-level tests of record ends (`Shard::send_record`, Linux's `MSG_EOR`): no
//! segment, first sent or resent, carries bytes from both sides of a record's end.

mod common;

use std::time::Duration;

use common::peer::{Peer, Seg, flags, plain_config};
use ringtcp_transport::wire::TcpFlags;
use ringtcp_transport::{Error, SocketHandle};

const PEER_ISS: u32 = 1000;

/// Established with an MSS of 1,000 bytes; returns the first data sequence number.
fn established() -> (Peer, SocketHandle, u32) {
    common::peer::accepted_mss_1000(plain_config(), PEER_ISS)
}

fn ranges(segs: &[Seg], first: u32) -> Vec<(u32, u32, bool)> {
    segs.iter().map(|s| (s.seq - first, s.seq - first + s.payload.len() as u32, s.flags.0 & TcpFlags::PSH.0 != 0)).collect()
}

#[test]
fn the_data_after_a_record_never_shares_its_segment() {
    let (mut p, h, first) = established();
    assert_eq!(p.shard.send(h, &[1u8; 10_400]).unwrap(), 10_400);
    assert_eq!(p.shard.send_record(h, &[2u8; 400]).unwrap(), 400);
    assert_eq!(p.shard.send(h, &[3u8; 2_000]).unwrap(), 2_000);
    // The initial window: ten segments.
    assert_eq!(p.sent().len(), 10);
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, first + 10_000));
    let after = ranges(&p.sent(), first);
    // The record [10000, 10800) goes alone, short and pushed; what follows starts a
    // segment of its own.
    assert_eq!(&after[..3], &[(10_000, 10_800, true), (10_800, 11_800, false), (11_800, 12_800, true)]);
}

#[test]
fn a_retransmission_stops_at_the_record_end_too() {
    let (mut p, h, first) = established();
    p.shard.send_record(h, &[1u8; 400]).unwrap();
    p.shard.send(h, &[2u8; 1_600]).unwrap();
    // (The last 600 bytes wait for an ACK: Nagle.)
    assert_eq!(ranges(&p.sent(), first), vec![(0, 400, true), (400, 1_400, false)]);
    // Everything lost: the timeout resends from SND.UNA, the first segment only up to the
    // record end (the rest of the one-segment window then goes in a segment of its own).
    p.advance(Duration::from_millis(200));
    let resent = ranges(&p.sent(), first);
    assert_eq!(resent[0], (0, 400, true));
    assert!(resent.iter().all(|&(l, r, _)| r <= 400 || l >= 400), "{resent:?}");
}

#[test]
fn nagle_holds_a_short_tail_but_not_a_short_record_with_data_behind_it() {
    let (mut p, h, first) = established();
    p.shard.send(h, &[1u8; 700]).unwrap();
    assert_eq!(p.sent().len(), 1);
    p.shard.send(h, &[1u8; 300]).unwrap();
    // With a short segment unacknowledged, a short tail waits (Nagle)...
    p.none();
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, first + 700));
    assert_eq!(ranges(&p.sent(), first), vec![(700, 1_000, true)]);
    p.shard.send(h, &[2u8; 300]).unwrap();
    p.none();
    // ...but once the record ends and more data follows, the record is no tail: it goes,
    // and the 500 bytes after it wait.
    p.shard.send_record(h, &[3u8; 200]).unwrap();
    p.shard.send(h, &[4u8; 500]).unwrap();
    assert_eq!(ranges(&p.sent(), first), vec![(1_000, 1_500, true)]);
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, first + 1_500));
    assert_eq!(ranges(&p.sent(), first), vec![(1_500, 2_000, true)]);
}

#[test]
fn too_many_unacknowledged_record_ends_make_the_writer_wait() {
    let (mut p, h, first) = established();
    for _ in 0..4_096 {
        assert_eq!(p.shard.send_record(h, b"r"), Ok(1));
    }
    assert_eq!(p.shard.send_record(h, b"r"), Err(Error::WouldBlock));
    assert_eq!(p.shard.send(h, b"plain data still goes in"), Ok(24));
    let sent = p.sent();
    assert!(sent.iter().all(|s| s.payload.len() == 1), "one byte per record");
    // Acknowledged records make room again.
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, first + sent.len() as u32));
    assert_eq!(p.shard.send_record(h, b"r"), Ok(1));
}
