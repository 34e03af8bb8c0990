//! Segment-level tests of how the congestion window moves, read back through
//! `Shard::tcp_info`: congestion window validation (no growth for an application-limited
//! sender), slow start on stretch ACKs, and the snapshot's figures and states.

mod common;

use std::time::Duration;

use common::peer::{Peer, Seg, flags, plain_config, sack_ack};
use ringtcp_transport::wire::TcpOptions;
use ringtcp_transport::{Config, CongestionState, SocketHandle, State, TcpInfo};

const PEER_ISS: u32 = 1000;
const MSS: u32 = 1000;

/// A passive connection whose peer announced an MSS of 1,000 (and SACK-permitted when
/// the configuration has SACK on; no other option).
fn established() -> (Peer, SocketHandle, u32) {
    established_with(plain_config())
}

fn established_with(cfg: Config) -> (Peer, SocketHandle, u32) {
    let sack_permitted = cfg.sack;
    let mut p = Peer::new(cfg);
    let l = p.shard.listen(p.us, 8).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(TcpOptions { mss: Some(MSS as u16), sack_permitted, ..TcpOptions::default() }));
    let iss = p.one().seq;
    p.advance(Duration::from_millis(100));
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1));
    let h = p.shard.accept(l).unwrap().expect("handshake done");
    (p, h, iss)
}

fn info(p: &Peer, h: SocketHandle) -> TcpInfo {
    p.shard.tcp_info(h, p.now).unwrap().expect("a live connection")
}

/// Sends `n` bytes and returns the payload bytes that left at once.
fn write(p: &mut Peer, h: SocketHandle, n: usize) -> usize {
    assert_eq!(p.shard.send(h, &vec![7u8; n]).unwrap(), n);
    p.sent().iter().map(|s| s.payload.len()).sum()
}

fn ack(p: &mut Peer, iss: u32, upto: u32) {
    p.advance(Duration::from_millis(5));
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1 + upto).win(65_535));
}

#[test]
fn an_application_limited_sender_keeps_its_window() {
    let (mut p, h, iss) = established();
    assert_eq!(info(&p, h).cwnd, 10 * MSS);
    // Five segments when ten are allowed: the network never carried a full window, so
    // ACKs of them grow nothing (the window is already twice the flight).
    assert_eq!(write(&mut p, h, 5_000), 5_000);
    for upto in [2_000, 4_000, 5_000] {
        ack(&mut p, iss, upto);
        assert_eq!(info(&p, h).cwnd, 10 * MSS, "after the ACK of {upto}");
    }
    // Six segments: slow start may reach twice the flight, twelve, and no further.
    assert_eq!(write(&mut p, h, 6_000), 6_000);
    ack(&mut p, iss, 7_000);
    assert_eq!(info(&p, h).cwnd, 12 * MSS);
    for upto in [9_000, 11_000] {
        ack(&mut p, iss, upto);
        assert_eq!(info(&p, h).cwnd, 12 * MSS, "after the ACK of {upto}");
    }
}

#[test]
fn a_window_limited_sender_doubles_its_window_per_round_trip() {
    let (mut p, h, iss) = established();
    assert_eq!(write(&mut p, h, 40_000), 10_000, "the initial window");
    // The peer acknowledges two segments at a time: each ACK grows the window by two
    // segments and lets four out.
    for (i, upto) in [2_000u32, 4_000, 6_000, 8_000, 10_000].into_iter().enumerate() {
        ack(&mut p, iss, upto);
        assert_eq!(info(&p, h).cwnd, (12 + 2 * i as u32) * MSS);
        assert_eq!(p.sent().iter().map(|s| s.payload.len()).sum::<usize>(), 4_000);
    }
    assert_eq!(info(&p, h).cwnd, 20 * MSS);
}

#[test]
fn a_stretch_ack_grows_slow_start_by_every_segment_it_acknowledges() {
    let (mut p, h, iss) = established();
    assert_eq!(write(&mut p, h, 40_000), 10_000);
    // One ACK for all ten segments (a GRO receiver): the window doubles as if each had
    // been acknowledged on its own, and twenty segments leave.
    ack(&mut p, iss, 10_000);
    assert_eq!(info(&p, h).cwnd, 20 * MSS);
    assert_eq!(p.sent().iter().map(|s| s.payload.len()).sum::<usize>(), 20_000);
}

#[test]
fn the_snapshot_reports_what_the_connection_did() {
    let (mut p, h, iss) = established();
    let i = info(&p, h);
    assert_eq!((i.state, i.congestion_state), (State::Established, CongestionState::Open));
    assert_eq!((i.send_mss, i.advertised_mss, i.receive_mss), (1_000, 1_460, 0));
    let handshake = Duration::from_millis(100);
    assert_eq!((i.srtt, i.min_rtt), (Some(handshake), Some(handshake)), "the SYN-ACK's round trip");
    assert_eq!(i.ssthresh, u32::MAX);
    assert_eq!((i.timestamps, i.sack, i.window_scale), (false, false, None));

    // Data in both directions.
    assert_eq!(write(&mut p, h, 15_000), 10_000);
    let i = info(&p, h);
    assert_eq!((i.in_flight, i.unsent), (10_000, 5_000));
    p.advance(Duration::from_millis(30));
    p.inject(Seg::new(flags("ACK|PSH"), PEER_ISS + 1, iss + 1 + 10_000).data(&[1u8; 700]).win(65_535));
    let i = info(&p, h);
    assert_eq!((i.bytes_acked, i.bytes_received, i.receive_mss), (10_000, 700, 700));
    assert_eq!(i.delivered, 11, "the SYN-ACK and ten segments");
    // RFC 6298 §2.3: SRTT = 7/8 · 100 ms + 1/8 · 30 ms.
    assert_eq!(i.srtt, Some(Duration::from_micros(91_250)));
    assert_eq!(i.min_rtt, Some(Duration::from_millis(30)));
    assert_eq!(i.since_data_received, Duration::ZERO);
    p.sent();
    p.advance(Duration::from_millis(250));
    let i = info(&p, h);
    assert_eq!(i.since_data_received, Duration::from_millis(250));
    assert_eq!(i.since_ack_received, Duration::from_millis(250));

    // Three duplicate ACKs: Disorder on the first, Recovery on the third (RFC 6582).
    let i = info(&p, h);
    assert_eq!(i.in_flight, 5_000, "the rest went out when the window opened");
    for n in 1..=3 {
        p.inject(Seg::new(flags("ACK"), PEER_ISS + 701, iss + 1 + 10_000).win(65_535));
        let want = if n < 3 { CongestionState::Disorder } else { CongestionState::Recovery };
        assert_eq!(info(&p, h).congestion_state, want, "after duplicate {n}");
    }
    assert_eq!(p.one().seq, iss + 1 + 10_000, "the fast retransmission");
    let i = info(&p, h);
    assert_eq!(i.retransmitted_segments, 1);
    assert!(i.ssthresh < u32::MAX && i.cwnd < 20 * MSS, "{i:?}");
    // The full ACK ends recovery.
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 701, iss + 1 + 15_000).win(65_535));
    assert_eq!(info(&p, h).congestion_state, CongestionState::Open);

    // A retransmission timeout: Loss until what was in flight is acknowledged.
    assert_eq!(write(&mut p, h, 2_000), 2_000);
    let rto = info(&p, h).rto;
    p.advance(rto);
    assert_eq!(p.sent().len(), 1, "the retransmission");
    let i = info(&p, h);
    assert_eq!((i.congestion_state, i.timeouts, i.backoff), (CongestionState::Loss, 1, 1));
    assert_eq!(i.cwnd, MSS, "the loss window");
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 701, iss + 1 + 17_000).win(65_535));
    let i = info(&p, h);
    assert_eq!((i.congestion_state, i.timeouts, i.in_flight), (CongestionState::Open, 0, 0));
}

#[test]
fn a_closed_connection_has_no_snapshot_but_still_a_state() {
    let (mut p, h, iss) = established();
    p.shard.shutdown_write(h).unwrap();
    let fin = p.one();
    assert!(fin.flags.fin());
    p.inject(Seg::new(flags("ACK|FIN"), PEER_ISS + 1, iss + 2));
    p.sent();
    assert_eq!(p.shard.state(h).unwrap(), State::TimeWait);
    assert_eq!(p.shard.tcp_info(h, p.now).unwrap(), None);
}

/// Grows the window to 20 segments: ten out, all acknowledged, and 20 more out and acked.
fn grown_to_twenty(p: &mut Peer, h: SocketHandle, iss: u32) {
    assert_eq!(write(p, h, 10_000), 10_000);
    ack(p, iss, 10_000);
    assert_eq!(info(p, h).cwnd, 20 * MSS);
}

#[test]
fn sending_again_after_an_idle_rto_restarts_from_the_initial_window() {
    let (mut p, h, iss) = established();
    grown_to_twenty(&mut p, h, iss);
    // RFC 5681 §4.1: idle for longer than the RTO (300 ms here), the window shrinks back
    // to the restart window before the next flight (ssthresh, never set, stays unlimited:
    // slow start climbs back).
    let rto = info(&p, h).rto;
    p.advance(rto * 3);
    assert_eq!(write(&mut p, h, 30_000), 10_000, "a restart window's worth");
    let i = info(&p, h);
    assert_eq!((i.cwnd, i.ssthresh), (10 * MSS, u32::MAX));
    assert_eq!(p.shard.stats().idle_restarts, 1);

    // A pause shorter than the RTO keeps the window.
    let (mut p, h, iss) = established();
    grown_to_twenty(&mut p, h, iss);
    p.advance(Duration::from_millis(150));
    assert_eq!(write(&mut p, h, 30_000), 20_000);
    assert_eq!(p.shard.stats().idle_restarts, 0);
}

#[test]
fn the_idle_restart_can_be_turned_off() {
    let (mut p, h, iss) = established_with(Config { slow_start_after_idle: false, ..plain_config() });
    grown_to_twenty(&mut p, h, iss);
    p.advance(Duration::from_secs(5));
    assert_eq!(write(&mut p, h, 30_000), 20_000, "the whole window, as Linux with tcp_slow_start_after_idle=0");
    assert_eq!(p.shard.stats().idle_restarts, 0);
}

/// Ten segments out, the second (and third) arriving before the first: duplicate ACKs
/// that report them, then the ACK that ends the reordering. The window grows by what
/// that ACK newly delivered (one segment), not by the three it covers: the other two
/// were reported by the duplicate ACKs, which do not grow it (RFC 5681 §3.2, RFC 6937's
/// DeliveredData).
fn reordered_then_acked(sack: bool) -> TcpInfo {
    let (mut p, h, iss) = established_with(Config { sack, ..plain_config() });
    assert_eq!(write(&mut p, h, 15_000), 10_000);
    let first = iss + 1;
    for upto in [2 * MSS, 3 * MSS] {
        p.advance(Duration::from_millis(5));
        let dup = if sack { sack_ack(PEER_ISS + 1, first, &[(first + MSS, first + upto)]) } else { Seg::new(flags("ACK"), PEER_ISS + 1, first) };
        p.inject(dup);
        // Limited transmit (RFC 3042) lets one new segment out per duplicate ACK.
        assert_eq!(p.sent().iter().map(|s| s.payload.len()).sum::<usize>(), MSS as usize);
    }
    assert_eq!(info(&p, h).cwnd, 10 * MSS, "duplicate ACKs do not grow the window");
    ack(&mut p, iss, 3 * MSS);
    info(&p, h)
}

#[test]
fn the_ack_that_ends_reordering_grows_the_window_by_what_it_newly_delivered() {
    for sack in [true, false] {
        let i = reordered_then_acked(sack);
        assert_eq!(i.cwnd, 11 * MSS, "sack {sack}");
        assert_eq!(i.congestion_state, CongestionState::Open);
    }
}
