//! Segment-level tests of RACK loss detection (RFC 8985 §6): a hole below SACKed data is
//! resent a quarter of the minimum RTT after the SACK (not at once, not at the RTO),
//! reordering inside that window costs no retransmission, a lost retransmission is found
//! by a later delivery, and a SACK of less than a segment proves nothing.

mod common;

use std::time::Duration;

use common::peer::{Peer, accepted, plain_config, sack_ack};
use ringtcp_transport::wire::TcpOptions;
use ringtcp_transport::{CongestionState, Config, SocketHandle, TcpInfo};

const PEER_ISS: u32 = 1000;
const MSS: u32 = 1460;

/// An established SACK connection whose handshake measured 100 ms (min RTT and SRTT
/// 100 ms, RTO 300 ms).
fn established() -> (Peer, SocketHandle, u32) {
    let syn = TcpOptions { mss: Some(MSS as u16), sack_permitted: true, ..TcpOptions::default() };
    accepted(Config { sack: true, ..plain_config() }, PEER_ISS, syn, Duration::from_millis(100))
}

fn info(p: &Peer, h: SocketHandle) -> TcpInfo {
    p.shard.tcp_info(h, p.now).unwrap().unwrap()
}

fn sack(p: &mut Peer, ack: u32, blocks: &[(u32, u32)]) {
    p.inject(sack_ack(PEER_ISS + 1, ack, blocks));
}

#[test]
fn a_hole_below_one_sacked_segment_is_resent_a_quarter_rtt_later() {
    let (mut p, h, first) = established();
    p.shard.send(h, &vec![1u8; 4 * MSS as usize]).unwrap();
    assert_eq!(p.sent().len(), 4);
    // Segments 1 to 3 are lost; the last arrives and is SACKed a round trip later. One
    // SACKed segment is short of DupThresh: RFC 6675 alone would wait for the RTO.
    p.advance(Duration::from_millis(100));
    sack(&mut p, first, &[(first + 3 * MSS, first + 4 * MSS)]);
    p.none();
    assert_eq!(info(&p, h).congestion_state, CongestionState::Disorder);
    // RACK.rtt (100 ms) + min_rtt / 4 (25 ms) after they left, plus the 2 ms timer slack.
    let (at, resent) = p.next_sent(Duration::from_secs(1)).unwrap();
    assert_eq!(at, 27);
    let seqs: Vec<(u32, usize)> = resent.iter().map(|s| (s.seq, s.payload.len())).collect();
    assert_eq!(seqs, vec![(first, MSS as usize)], "one segment: PRR counts the timer as one delivery");
    let stats = p.shard.stats();
    assert_eq!((stats.rack_reorder_timeouts, stats.sack_recoveries, stats.rto_timeouts), (1, 1, 0));
    let i = info(&p, h);
    assert_eq!(i.congestion_state, CongestionState::Recovery);
    assert_eq!(i.lost, 3, "the three segments sent with the SACKed one and before it");
    // The ACK of the retransmission lets the other two holes go.
    p.advance(Duration::from_millis(100));
    sack(&mut p, first + MSS, &[(first + 3 * MSS, first + 4 * MSS)]);
    let seqs: Vec<u32> = p.sent().iter().map(|s| s.seq).collect();
    assert_eq!(seqs, vec![first + MSS, first + 2 * MSS]);
    assert_eq!(info(&p, h).lost, 2);
    p.advance(Duration::from_millis(100));
    sack(&mut p, first + 4 * MSS, &[]);
    let i = info(&p, h);
    assert_eq!((i.congestion_state, i.lost), (CongestionState::Open, 0));
}

/// Four segments from `first`, of which the last is SACKed a round trip later and the
/// first three arrive 10 ms after it, inside RACK's 25 ms window.
fn reordered_flight(p: &mut Peer, h: SocketHandle, first: u32, fill: u8) {
    p.shard.send(h, &vec![fill; 4 * MSS as usize]).unwrap();
    assert_eq!(p.sent().len(), 4);
    p.advance(Duration::from_millis(100));
    sack(p, first, &[(first + 3 * MSS, first + 4 * MSS)]);
    p.advance(Duration::from_millis(10));
    sack(p, first + 4 * MSS, &[]);
}

#[test]
fn reordering_inside_the_window_costs_no_retransmission() {
    let (mut p, h, first) = established();
    reordered_flight(&mut p, h, first, 2);
    p.none();
    assert!(p.next_sent(Duration::from_millis(500)).is_none_or(|(_, s)| s.iter().all(|s| s.payload.is_empty())), "nothing was lost");
    let i = info(&p, h);
    assert_eq!(p.shard.stats().tcp_retrans_segs, 0);
    assert_eq!(i.reordering, 4, "the first segment arrived after one sent four segments' worth after it");
    assert_eq!(i.lost, 0);
}

#[test]
fn each_ack_that_shows_data_delivered_out_of_order_counts_once() {
    let (mut p, h, first) = established();
    p.shard.send(h, &vec![3u8; 4 * MSS as usize]).unwrap();
    assert_eq!(p.sent().len(), 4);
    p.advance(Duration::from_millis(100));
    // The last segment SACKed: nothing below it has been delivered yet, so no reordering.
    sack(&mut p, first, &[(first + 3 * MSS, first + 4 * MSS)]);
    assert_eq!(info(&p, h).reord_seen, 0);
    // The second SACKed below it: one ACK showing reordering.
    sack(&mut p, first, &[(first + MSS, first + 2 * MSS), (first + 3 * MSS, first + 4 * MSS)]);
    assert_eq!(info(&p, h).reord_seen, 1);
    // The first and third acknowledged cumulatively, both below what was SACKed: one ACK,
    // one more (as Linux's `tcpi_reord_seen` counts the packetdrill script's "2 cases").
    sack(&mut p, first + 4 * MSS, &[]);
    let i = info(&p, h);
    assert_eq!((i.reord_seen, p.shard.stats().tcp_retrans_segs), (2, 0));
}

#[test]
fn a_lost_retransmission_is_resent_without_waiting_for_the_rto() {
    let (mut p, h, first) = established();
    p.shard.send(h, &vec![3u8; 12 * MSS as usize]).unwrap();
    assert_eq!(p.sent().len(), 10, "the initial window");
    let seg = |n: u32| first + n * MSS;
    // Segment 1 lost; 2 to 4 SACKed: three segments, fast recovery resends 1 at once.
    p.advance(Duration::from_millis(100));
    sack(&mut p, first, &[(seg(1), seg(4))]);
    let resent = p.sent();
    assert_eq!(resent.first().map(|s| s.seq), Some(first));
    // The rest of the flight is SACKed: room for the last two new segments.
    p.advance(Duration::from_millis(1));
    sack(&mut p, first, &[(seg(1), seg(10))]);
    let fresh: Vec<u32> = p.sent().iter().filter(|s| !s.payload.is_empty()).map(|s| s.seq).collect();
    assert_eq!(fresh, vec![seg(10), seg(11)]);
    // They are SACKed a round trip later and segment 1 is still missing: its
    // retransmission left before them more than a round trip ago, so it was lost too.
    p.advance(Duration::from_millis(101));
    sack(&mut p, first, &[(seg(1), seg(12))]);
    let again = p.sent();
    assert_eq!(again.first().map(|s| (s.seq, s.payload.len())), Some((first, MSS as usize)), "{again:?}");
    let stats = p.shard.stats();
    assert_eq!((stats.tcp_retrans_segs, stats.rto_timeouts), (2, 0));
    p.advance(Duration::from_millis(100));
    sack(&mut p, seg(12), &[]);
    assert_eq!(info(&p, h).congestion_state, CongestionState::Open);
}

#[test]
fn a_sack_of_part_of_a_segment_proves_nothing_and_the_rto_resends_whole_segments() {
    let (mut p, h, first) = established();
    p.shard.send(h, &vec![4u8; 4 * MSS as usize]).unwrap();
    assert_eq!(p.sent().len(), 4);
    let end = first + 4 * MSS;
    // Only the last byte arrived (a middlebox cut the segment): no segment was
    // delivered, so RACK has nothing to go on.
    p.advance(Duration::from_millis(100));
    sack(&mut p, first, &[(end - 1, end)]);
    // The tail loss probe resends the last segment; no reordering timer came before it.
    let (_, probe) = p.next_sent(Duration::from_secs(1)).unwrap();
    assert_eq!(probe[0].seq, first + 3 * MSS);
    assert_eq!(p.shard.stats().rack_reorder_timeouts, 0);
    // The RTO then resends from SND.UNA, one full segment in a one-segment window: the
    // byte SACKed above SND.NXT does not make room for a 1-byte sliver.
    let (_, rto) = p.next_sent(Duration::from_secs(1)).unwrap();
    let lens: Vec<(u32, usize)> = rto.iter().map(|s| (s.seq, s.payload.len())).collect();
    assert_eq!(lens, vec![(first, MSS as usize)]);
    assert_eq!(p.shard.stats().rto_timeouts, 1);
    assert_eq!(info(&p, h).congestion_state, CongestionState::Loss);
}

#[test]
fn once_reordering_was_seen_three_sacked_segments_wait_for_the_window() {
    let (mut p, h, first) = established();
    // A first flight shows reordering: the last of four segments is SACKed before the
    // other three arrive.
    reordered_flight(&mut p, h, first, 5);
    assert_eq!(info(&p, h).reordering, 4);
    // A second flight: its first segment comes after the next three. Three SACKed
    // segments would start fast recovery at once (RFC 6675's IsLost); with reordering
    // seen, RACK's window holds the retransmission back...
    let next = first + 4 * MSS;
    p.shard.send(h, &vec![6u8; 6 * MSS as usize]).unwrap();
    assert_eq!(p.sent().len(), 6);
    p.advance(Duration::from_millis(100));
    sack(&mut p, next, &[(next + MSS, next + 4 * MSS)]);
    assert!(p.sent().iter().all(|s| s.payload.is_empty()), "no fast retransmit");
    assert_eq!(info(&p, h).congestion_state, CongestionState::Disorder);
    // ...and the late segment arrives within it: nothing was resent.
    p.advance(Duration::from_millis(10));
    sack(&mut p, next + 6 * MSS, &[]);
    assert_eq!(p.shard.stats().tcp_retrans_segs, 0);
    assert_eq!(p.shard.stats().sack_recoveries, 0);
    assert_eq!(info(&p, h).congestion_state, CongestionState::Open);
}
