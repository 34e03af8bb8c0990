//! Segment-level tests of D-SACK (RFC 2883): a segment received twice is reported, once,
//! as the first SACK block of the next ACK, so the sender can tell that its
//! retransmission was needless.

mod common;

use std::time::Duration;

use common::peer::{Peer, Seg, accepted, flags, plain_config};
use ringtcp_transport::wire::TcpOptions;
use ringtcp_transport::{Config, SeqNum, SocketHandle};

const PEER_ISS: u32 = 1000;
/// The peer's first data byte.
const D: u32 = PEER_ISS + 1;

/// Established, with SACK on both sides when `sack`.
fn established(sack: bool) -> (Peer, SocketHandle, u32) {
    let syn = TcpOptions { mss: Some(1000), sack_permitted: sack, ..TcpOptions::default() };
    accepted(Config { sack, ..plain_config() }, PEER_ISS, syn, Duration::ZERO)
}

fn data(p: &mut Peer, first: u32, from: u32, bytes: &[u8]) {
    p.inject(Seg::new(flags("ACK"), D + from, first).data(bytes));
}

/// The SACK blocks of `s`, relative to the peer's first data byte.
fn blocks(s: &Seg) -> Vec<(u32, u32)> {
    s.opts.sack.as_slice().iter().map(|&(l, r): &(SeqNum, SeqNum)| (l.0 - D, r.0 - D)).collect()
}

#[test]
fn a_segment_received_twice_is_reported_at_once_and_only_once() {
    let (mut p, h, first) = established(true);
    data(&mut p, first, 0, &[1; 500]);
    p.sent();
    // The same segment again (its ACK was lost, say): an ACK at once, D-SACKing it.
    data(&mut p, first, 0, &[1; 500]);
    let ack = p.one();
    assert_eq!((ack.ack, blocks(&ack)), (D + 500, vec![(0, 500)]));
    // The next ACK carries no D-SACK.
    data(&mut p, first, 500, &[2; 1000]);
    data(&mut p, first, 1500, &[3; 1000]);
    let next = p.one();
    assert_eq!((next.ack, blocks(&next)), (D + 2500, vec![]));
    let mut buf = [0u8; 4096];
    assert_eq!(p.shard.recv(h, &mut buf).unwrap(), 2500, "each byte delivered once");
}

#[test]
fn a_duplicate_of_out_of_order_data_comes_first_then_the_block_holding_it() {
    let (mut p, _, first) = established(true);
    data(&mut p, first, 1000, &[2; 500]);
    assert_eq!(blocks(&p.one()), vec![(1000, 1500)]);
    data(&mut p, first, 1000, &[2; 500]);
    assert_eq!(blocks(&p.one()), vec![(1000, 1500), (1000, 1500)]);
}

#[test]
fn a_partly_duplicate_segment_reports_the_old_part_and_delivers_the_new() {
    let (mut p, h, first) = established(true);
    data(&mut p, first, 0, &[1; 500]);
    p.sent();
    let bytes: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    data(&mut p, first, 0, &bytes);
    p.advance(std::time::Duration::from_millis(200));
    let acks = p.sent();
    assert!(acks.iter().any(|s| blocks(s) == vec![(0, 500)]), "{acks:?}");
    assert!(acks.iter().all(|s| s.ack == D + 1000));
    let mut buf = [0u8; 4096];
    let n = p.shard.recv(h, &mut buf).unwrap();
    assert_eq!(n, 1000);
    assert_eq!(&buf[500..n], &bytes[500..], "the new half arrives intact after the first 500");
}

#[test]
fn without_sack_a_duplicate_gets_a_plain_ack() {
    let (mut p, _, first) = established(false);
    data(&mut p, first, 0, &[1; 500]);
    p.sent();
    data(&mut p, first, 0, &[1; 500]);
    let ack = p.one();
    assert_eq!((ack.ack, blocks(&ack)), (D + 500, vec![]));
}
