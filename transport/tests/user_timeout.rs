//! Segment-level tests of the user timeout (TCP_USER_TIMEOUT, RFC 5482; RFC 9293 §3.8.3):
//! how long sent data, a SYN, zero-window probes or keepalive probes may go unanswered
//! before the connection fails with `TimedOut`, in place of the retry counts.

mod common;

use std::time::Duration;

use common::peer::{Peer, Seg, flags, plain_config};
use ringtcp_transport::{Config, Error, Keepalive, SocketHandle, State};

const PEER_ISS: u32 = 1000;

/// Retries that would take minutes: only the user timeout can end these connections soon.
fn patient() -> Config {
    Config { max_retries: 15, syn_retries: 15, ..plain_config() }
}

fn established(cfg: Config) -> (Peer, SocketHandle, u32) {
    let mut p = Peer::new(cfg);
    let l = p.shard.listen(p.us, 8).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0));
    let sa = p.one();
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, sa.seq + 1));
    let h = p.shard.accept(l).unwrap().unwrap();
    (p, h, sa.seq)
}

/// Advances time in 1 ms steps for `total`, returning the times (ms from the start) at
/// which something was sent, and stopping early if the connection closes.
fn watch(p: &mut Peer, h: SocketHandle, total: Duration) -> (Vec<u64>, Option<u64>) {
    let mut sent = Vec::new();
    for ms in 1..=total.as_millis() as u64 {
        p.advance(Duration::from_millis(1));
        if !p.sent().is_empty() {
            sent.push(ms);
        }
        if p.shard.state(h) != Ok(State::Established) {
            return (sent, Some(ms));
        }
    }
    (sent, None)
}

#[test]
fn retransmission_gives_up_when_the_user_timeout_runs_out_not_at_the_retry_count() {
    let (mut p, h, _) = established(patient());
    p.shard.set_user_timeout(h, Some(Duration::from_secs(1))).unwrap();
    p.shard.send(h, b"unanswered").unwrap();
    p.one();
    let (sent, closed) = watch(&mut p, h, Duration::from_secs(5));
    // RTO 200 ms (the handshake's RTT was zero), then 400 ms; the third wait would be
    // 800 ms but only 400 ms of the second are left, so the connection fails at 1 s
    // exactly, with the same data unacknowledged since 0.
    assert_eq!(sent, vec![200, 600]);
    assert_eq!(closed, Some(1000));
    let mut buf = [0u8; 8];
    assert_eq!(p.shard.recv(h, &mut buf), Err(Error::TimedOut));
    assert_eq!(p.shard.stats().timeouts, 1);
}

#[test]
fn a_tail_loss_probe_does_not_restart_the_user_timeout() {
    // With SACK the first retransmission is a tail loss probe (RFC 8985), which restarts
    // the RTO timer; the user timeout still counts from the original send.
    let mut p = Peer::new(Config { sack: true, ..patient() });
    let l = p.shard.listen(p.us, 8).unwrap();
    let sack_ok = ringtcp_transport::wire::TcpOptions { sack_permitted: true, ..Default::default() };
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(sack_ok));
    let sa = p.one();
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, sa.seq + 1));
    let h = p.shard.accept(l).unwrap().unwrap();
    p.shard.set_user_timeout(h, Some(Duration::from_secs(1))).unwrap();
    p.shard.send(h, b"unanswered").unwrap();
    p.one();
    let (sent, closed) = watch(&mut p, h, Duration::from_secs(5));
    // The probe at the RTO's 200 ms (the PTO may not be later), the RTO 200 ms after it,
    // then 400 ms later the time is up: 1 s after the send, not 1 s after the probe.
    assert_eq!(sent, vec![200, 400, 800]);
    assert_eq!(closed, Some(1000));
    assert_eq!(p.shard.stats().tail_loss_probes, 1);
}

#[test]
fn acknowledged_progress_restarts_the_user_timeout() {
    let (mut p, h, iss) = established(patient());
    p.shard.set_user_timeout(h, Some(Duration::from_millis(700))).unwrap();
    let mut acked = iss + 1;
    // Five rounds, each losing its first transmission and acknowledged after the
    // retransmission: 2.5 s in all, far past 700 ms, and the connection lives on.
    for round in 0..5u8 {
        p.shard.send(h, &[round; 100]).unwrap();
        assert_eq!(p.one().seq, acked);
        p.advance(Duration::from_millis(200));
        assert_eq!(p.one().seq, acked, "round {round}: retransmitted at the RTO");
        p.advance(Duration::from_millis(300));
        acked += 100;
        p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, acked));
        p.none();
        assert_eq!(p.shard.state(h), Ok(State::Established), "round {round}");
    }
    assert_eq!(p.shard.stats().timeouts, 0);
}

#[test]
fn zero_window_probing_gives_up_at_the_user_timeout() {
    let (mut p, h, iss) = established(patient());
    p.shard.set_user_timeout(h, Some(Duration::from_millis(1500))).unwrap();
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1).win(0));
    p.shard.send(h, b"blocked").unwrap();
    p.none();
    let (probes, closed) = watch(&mut p, h, Duration::from_secs(10));
    // Probes at 200 ms, then 400 and 800 ms later; timed from the first probe, 1.5 s
    // runs out at 1.7 s (the third wait is cut from 800 to 300 ms).
    assert_eq!(probes, vec![200, 600, 1400]);
    assert_eq!(closed, Some(1700));
    assert_eq!(p.shard.error(h).unwrap(), Some(Error::TimedOut));
}

#[test]
fn keepalive_gives_up_once_the_peer_was_silent_for_the_user_timeout() {
    let (mut p, h, _) = established(patient());
    let ka = Keepalive { idle: Duration::from_secs(10), interval: Duration::from_secs(2), probes: 9 };
    p.shard.set_keepalive(p.now, h, Some(ka)).unwrap();
    p.shard.set_user_timeout(h, Some(Duration::from_secs(13))).unwrap();
    let (probes, closed) = watch(&mut p, h, Duration::from_secs(60));
    // Nine probes would take until 28 s; with 13 s of silence allowed, the timer at 14 s
    // (two probes unanswered) ends it.
    assert_eq!(probes, vec![10_000, 12_000]);
    assert_eq!(closed, Some(14_000));
    assert_eq!(p.shard.error(h).unwrap(), Some(Error::TimedOut));
}

#[test]
fn connect_gives_up_at_the_user_timeout() {
    let mut p = Peer::new(patient());
    let h = p.shard.connect(p.now, p.peer, Some(p.us)).unwrap();
    p.shard.set_user_timeout(h, Some(Duration::from_millis(1500))).unwrap();
    assert_eq!(p.one().flags, flags("SYN"));
    let mut syns = Vec::new();
    let mut gone = None;
    for ms in 1..=10_000u64 {
        p.advance(Duration::from_millis(1));
        if !p.sent().is_empty() {
            syns.push(ms);
        }
        if p.shard.state(h) != Ok(State::SynSent) {
            gone = Some(ms);
            break;
        }
    }
    // The SYN's initial RTO is 1 s; the next wait is cut to the 500 ms left.
    assert_eq!(syns, vec![1000]);
    assert_eq!(gone, Some(1500));
    assert_eq!(p.shard.error(h).unwrap(), Some(Error::TimedOut));
}

#[test]
fn zero_means_none_and_the_retry_count_decides_again() {
    let cfg = Config { max_retries: 2, ..plain_config() };
    let (mut p, h, _) = established(cfg);
    p.shard.set_user_timeout(h, Some(Duration::from_secs(60))).unwrap();
    p.shard.set_user_timeout(h, Some(Duration::ZERO)).unwrap();
    assert_eq!(p.shard.user_timeout(h), Ok(None));
    p.shard.send(h, b"x").unwrap();
    p.one();
    let (sent, closed) = watch(&mut p, h, Duration::from_secs(10));
    // Two retransmissions (200, 400 ms apart), then the third timeout (800 ms) ends it.
    assert_eq!(sent, vec![200, 600]);
    assert_eq!(closed, Some(1400));
}
