//! RFC 5961 blind-attack mitigations, case by case: RST (§3), SYN (§4), ACK (§5) and the
//! challenge-ACK rate limit (§7).

mod common;

use std::time::Duration;

use common::peer::{Peer, Seg, flags, plain_config};
use ringtcp_transport::wire::TcpOptions;
use ringtcp_transport::{Config, Error, SocketHandle, State};

const PEER_ISS: u32 = 1000;

fn established(cfg: Config) -> (Peer, SocketHandle, u32) {
    let mut p = Peer::new(cfg);
    let l = p.shard.listen(p.us, 8).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(TcpOptions { mss: Some(1460), ..TcpOptions::default() }));
    let iss = p.one().seq;
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1));
    let h = p.shard.accept(l).unwrap().unwrap();
    (p, h, iss)
}

/// The challenge ACK of RFC 5961: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
fn challenge(iss: u32) -> Seg {
    Seg::new(flags("ACK"), iss + 1, PEER_ISS + 1)
}

#[test]
fn rst_at_rcv_nxt_resets() {
    let (mut p, h, _) = established(plain_config());
    p.inject(Seg::new(flags("RST"), PEER_ISS + 1, 0));
    p.none();
    assert_eq!(p.shard.state(h).unwrap(), State::Closed);
    let mut buf = [0u8; 8];
    assert_eq!(p.shard.recv(h, &mut buf), Err(Error::ConnectionReset));
    assert_eq!(p.shard.send(h, b"x"), Err(Error::BrokenPipe), "the reset was reported to the read");
    assert_eq!(p.shard.stats().estab_resets, 1);
}

#[test]
fn a_write_is_the_first_to_hear_of_a_reset_once() {
    let (mut p, h, _) = established(plain_config());
    p.inject(Seg::new(flags("RST"), PEER_ISS + 1, 0));
    // As Linux's socket error: the first call to meet it reports it, later writes fail
    // with a broken pipe.
    assert_eq!(p.shard.send(h, b"x"), Err(Error::ConnectionReset));
    assert_eq!(p.shard.send(h, b"x"), Err(Error::BrokenPipe));
    assert_eq!(p.shard.error(h).unwrap(), Some(Error::ConnectionReset), "SO_ERROR still tells why");
}

#[test]
fn rst_in_window_but_not_exact_gets_a_challenge_ack() {
    let (mut p, h, iss) = established(plain_config());
    p.inject(Seg::new(flags("RST"), PEER_ISS + 500, 0));
    assert_eq!(p.one(), challenge(iss));
    assert_eq!(p.shard.state(h).unwrap(), State::Established);
    assert_eq!(p.shard.stats().challenge_acks, 1);
}

#[test]
fn rst_outside_the_window_is_dropped_silently() {
    let (mut p, h, _) = established(plain_config());
    p.inject(Seg::new(flags("RST"), PEER_ISS + 1 + 70_000, 0));
    p.inject(Seg::new(flags("RST"), PEER_ISS - 10, 0));
    p.none();
    assert_eq!(p.shard.state(h).unwrap(), State::Established);
    assert_eq!(p.shard.drops().out_of_window, 2);
}

#[test]
fn syn_in_a_synchronized_state_gets_a_challenge_ack_whatever_its_sequence() {
    let (mut p, h, iss) = established(plain_config());
    for seq in [PEER_ISS + 1, PEER_ISS + 30_000, PEER_ISS.wrapping_add(2_000_000_000)] {
        p.inject(Seg::new(flags("SYN"), seq, 0));
        assert_eq!(p.one(), challenge(iss), "SYN at {seq}");
        assert_eq!(p.shard.state(h).unwrap(), State::Established);
    }
}

#[test]
fn ack_for_data_never_sent_is_dropped_with_an_ack() {
    let (mut p, h, iss) = established(plain_config());
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1000).data(b"injected"));
    assert_eq!(p.one(), challenge(iss));
    let mut buf = [0u8; 16];
    assert_eq!(p.shard.recv(h, &mut buf), Err(Error::WouldBlock), "the data was not accepted");
    assert_eq!(p.shard.drops().unacceptable_ack, 1);
}

#[test]
fn ack_older_than_the_max_window_is_dropped() {
    let (mut p, h, iss) = established(plain_config());
    // SND.UNA − MAX.SND.WND = iss + 1 − 65,535: one below that is a blind guess.
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, (iss + 1).wrapping_sub(65_536)).data(b"injected"));
    assert_eq!(p.one(), challenge(iss));
    let mut buf = [0u8; 16];
    assert_eq!(p.shard.recv(h, &mut buf), Err(Error::WouldBlock));
    // Within the acceptable range (an old but plausible ACK) the data is taken.
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, (iss + 1).wrapping_sub(1000)).data(b"fine"));
    assert_eq!(p.shard.recv(h, &mut buf).unwrap(), 4);
}

#[test]
fn challenge_acks_are_rate_limited() {
    let cfg = Config { challenge_ack_limit: 3, ..plain_config() };
    let (mut p, h, iss) = established(cfg);
    let mut answers = Vec::new();
    for i in 0..10 {
        p.inject(Seg::new(flags("RST"), PEER_ISS + 100 + i, 0));
        answers.extend(p.sent());
    }
    assert_eq!(answers, vec![challenge(iss); 3]);
    assert_eq!(p.shard.drops().challenge_ack_limited, 7);
    p.advance(Duration::from_secs(1));
    p.inject(Seg::new(flags("RST"), PEER_ISS + 100, 0));
    assert_eq!(p.one(), challenge(iss), "a new second, a new allowance");
    assert_eq!(p.shard.state(h).unwrap(), State::Established);
}
