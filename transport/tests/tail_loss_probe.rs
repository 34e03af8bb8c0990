//! Segment-level tests of the tail loss probe (RFC 8985 §7): when, what it sends, how the
//! RTO restarts after it, and how congestion control hears of a loss it repaired.

mod common;

use std::time::Duration;

use common::peer::{Peer, Seg, accepted, flags, plain_config, sack_ack};
use ringtcp_transport::wire::TcpOptions;
use ringtcp_transport::{Config, SocketHandle};

const PEER_ISS: u32 = 1000;
const MSS: u32 = 1460;

/// An established connection whose handshake measured an RTT of 100 ms (SRTT 100 ms,
/// RTTVAR 50 ms, so the RTO is 100 + max(4 × 50, 200) = 300 ms), SACK on if `sack`.
fn established(sack: bool) -> (Peer, SocketHandle, u32) {
    established_with(Config { sack, ..plain_config() }, Duration::from_millis(100))
}

fn established_with(cfg: Config, rtt: Duration) -> (Peer, SocketHandle, u32) {
    let syn = TcpOptions { mss: Some(MSS as u16), sack_permitted: cfg.sack, ..TcpOptions::default() };
    accepted(cfg, PEER_ISS, syn, rtt)
}

fn ack(p: &mut Peer, ack: u32) {
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, ack));
}

fn ack_with_sack(p: &mut Peer, ack: u32, blocks: &[(u32, u32)]) {
    p.inject(sack_ack(PEER_ISS + 1, ack, blocks));
}

fn cwnd(p: &Peer, h: SocketHandle) -> u32 {
    p.shard.tcp_info(h, p.now).unwrap().unwrap().cwnd
}

#[test]
fn an_unanswered_flight_is_probed_with_new_data_after_two_rtts() {
    let (mut p, h, first) = established(true);
    // Eleven segments queued, ten (the initial window) leave.
    p.shard.send(h, &vec![7u8; 11 * MSS as usize]).unwrap();
    assert_eq!(p.sent().len(), 10);
    // PTO = 2 × SRTT + 2 ms with more than one segment in flight: 202 ms. The probe is
    // the eleventh segment, beyond the congestion window.
    let (at, probe) = p.next_sent(Duration::from_secs(2)).unwrap();
    assert_eq!(at, 202);
    assert_eq!(probe.len(), 1);
    assert_eq!((probe[0].seq, probe[0].payload.len()), (first + 10 * MSS, MSS as usize));
    assert_eq!(p.shard.stats().tail_loss_probes, 1);
    // The RTO restarts from the probe: 300 ms later SND.UNA goes again, and no second probe
    // came in between (one per episode).
    let (at, rto) = p.next_sent(Duration::from_secs(2)).unwrap();
    assert_eq!(at, 300);
    assert_eq!(rto[0].seq, first);
    assert_eq!(p.shard.stats().tail_loss_probes, 1);
    assert_eq!(p.shard.stats().rto_timeouts, 1);
}

#[test]
fn a_fin_sent_alone_is_probed_alone_and_the_rto_follows_the_probe() {
    let (mut p, h, first) = established(true);
    p.shard.send(h, b"request").unwrap();
    p.one();
    // Acknowledged after 100 ms: SRTT stays 100 ms, RTTVAR falls to 37.5, the RTO stays 300.
    p.advance(Duration::from_millis(100));
    ack(&mut p, first + 7);
    p.shard.close(p.now, h).unwrap();
    let fin = p.one();
    assert_eq!((fin.flags, fin.seq), (flags("FIN|ACK"), first + 7));
    // One segment in flight: 2 × SRTT + 200 ms = 400 ms, cut to the RTO's 300 ms.
    let (at, probe) = p.next_sent(Duration::from_secs(2)).unwrap();
    assert_eq!(at, 300);
    assert_eq!(probe, vec![fin.clone()], "the FIN alone, not the data before it");
    // Then the RTO, 300 ms after the probe (not backed off: the probe was no timeout),
    // then 600 ms.
    let (at, again) = p.next_sent(Duration::from_secs(2)).unwrap();
    assert_eq!((at, again), (300, vec![fin.clone()]));
    let (at, _) = p.next_sent(Duration::from_secs(2)).unwrap();
    assert_eq!(at, 600);
    assert_eq!(p.shard.stats().tail_loss_probes, 1);
}

/// Four segments sent, the last lost; the first three acknowledged; the probe resends
/// the fourth and is acknowledged, `dsack` telling whether the original had arrived too.
/// Then one more segment is sent and acknowledged past the probe. Returns (cwnd before
/// the probe, cwnd at the end).
fn probe_then_more(dsack: bool) -> (Peer, u32, u32) {
    let (mut p, h, first) = established(true);
    p.shard.send(h, &vec![2u8; 4 * MSS as usize]).unwrap();
    assert_eq!(p.sent().len(), 4);
    ack(&mut p, first + 3 * MSS);
    let before = cwnd(&p, h);
    let (_, probe) = p.next_sent(Duration::from_secs(2)).unwrap();
    assert_eq!(probe[0].seq, first + 3 * MSS);
    let end = first + 4 * MSS;
    if dsack {
        ack_with_sack(&mut p, end, &[(first + 3 * MSS, end)]);
    } else {
        ack(&mut p, end);
    }
    p.shard.send(h, &vec![3u8; MSS as usize]).unwrap();
    assert_eq!(p.one().seq, end);
    ack(&mut p, end + MSS);
    let after = cwnd(&p, h);
    (p, before, after)
}

#[test]
fn a_loss_the_probe_repaired_reduces_the_window() {
    let (p, before, after) = probe_then_more(false);
    assert_eq!(p.shard.stats().tail_loss_probe_recoveries, 1);
    assert!(after < before, "congestion control reacted to the loss: {before} -> {after}");
}

#[test]
fn a_dsack_for_the_probe_means_no_loss_and_no_reduction() {
    let (p, before, after) = probe_then_more(true);
    assert_eq!(p.shard.stats().tail_loss_probe_recoveries, 0);
    assert!(after >= before, "no loss, no reduction: {before} -> {after}");
}

#[test]
fn without_sack_there_is_no_probe_and_the_rto_repairs_the_tail() {
    let (mut p, h, first) = established(false);
    p.shard.send(h, &vec![4u8; 4 * MSS as usize]).unwrap();
    assert_eq!(p.sent().len(), 4);
    let (at, rto) = p.next_sent(Duration::from_secs(2)).unwrap();
    assert_eq!((at, rto[0].seq), (300, first));
    assert_eq!(p.shard.stats().tail_loss_probes, 0);
}

#[test]
fn no_probe_when_turned_off() {
    let cfg = Config { sack: true, tail_loss_probe: false, ..plain_config() };
    let (mut p, h, first) = established_with(cfg, Duration::ZERO);
    p.shard.send(h, &vec![5u8; 4 * MSS as usize]).unwrap();
    assert_eq!(p.sent().len(), 4);
    // The handshake's RTT was zero: the RTO is its 200 ms floor, and it comes first.
    let (at, rto) = p.next_sent(Duration::from_secs(2)).unwrap();
    assert_eq!((at, rto[0].seq), (200, first));
    assert_eq!(p.shard.stats().tail_loss_probes, 0);
}
