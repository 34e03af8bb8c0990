//! Segment-level tests of pacing (`Config::pacing`, Linux's rates): the first ten
//! segments leave at once, after that the window an ACK frees leaves spaced at twice
//! cwnd · MSS / SRTT in slow start, intact and in order; without pacing it leaves at once.

mod common;

use std::time::Duration;

use common::peer::{Peer, Seg, accepted, flags, plain_config};
use ringtcp_transport::wire::TcpOptions;
use ringtcp_transport::{Config, SocketHandle};

const PEER_ISS: u32 = 5000;

/// An established connection with an MSS of 1,000 bytes whose handshake measured 100 ms,
/// with 20,000 bytes queued: the first ten segments (the initial window) have left.
fn sending(pacing: bool) -> (Peer, SocketHandle, u32, Vec<u8>) {
    let syn = TcpOptions { mss: Some(1000), ..TcpOptions::default() };
    let (mut p, h, first) = accepted(Config { pacing, ..plain_config() }, PEER_ISS, syn, Duration::from_millis(100));
    let data: Vec<u8> = (0..20_000u32).map(|i| (i * 13 + i / 997) as u8).collect();
    assert_eq!(p.shard.send(h, &data).unwrap(), data.len());
    let burst = p.sent();
    assert_eq!(burst.len(), 10, "the initial window leaves unpaced");
    (p, h, first, data)
}

/// The ACK of the first two segments, 100 ms later: slow start makes cwnd 12, so four
/// segments may go.
fn ack_two(p: &mut Peer, first: u32) {
    p.advance(Duration::from_millis(100));
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, first + 2000));
}

#[test]
fn the_window_an_ack_frees_leaves_spaced_at_the_pacing_rate() {
    let (mut p, _h, first, data) = sending(true);
    ack_two(&mut p, first);
    let mut out = p.sent();
    assert_eq!(out.len(), 1, "one segment at once (it is late), the rest paced");
    let mut times = vec![0];
    while out.len() < 4 {
        let (ms, segs) = p.next_sent(Duration::from_millis(50)).expect("the paced segments follow");
        assert_eq!(segs.len(), 1, "one at a time");
        times.push(times.last().unwrap() + ms);
        out.extend(segs);
    }
    // 2 × 1,000 bytes × 12 / 100 ms = 240 kB/s: 4.2 ms a segment, half of it forgiven to
    // the first (it left late), less the part of a millisecond each timer fired late.
    let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|&g| (2..=5).contains(&g)), "gaps {gaps:?} ms");
    assert!(times[3] >= 9, "three gaps of a paced flight take at least 9 ms: {times:?}");
    for (k, s) in out.iter().enumerate() {
        let off = 10_000 + 1000 * k;
        assert_eq!(s.seq, first + off as u32, "in order");
        assert_eq!(s.payload, &data[off..off + 1000], "intact");
    }
    p.none();
}

#[test]
fn without_pacing_the_window_an_ack_frees_leaves_at_once() {
    let (mut p, _h, first, _data) = sending(false);
    ack_two(&mut p, first);
    let out = p.sent();
    let seqs: Vec<u32> = out.iter().map(|s| s.seq - first).collect();
    assert_eq!(seqs, vec![10_000, 11_000, 12_000, 13_000]);
}
