//! Segment-level tests of HyStart (CUBIC's delay-based end of slow start, as Linux's): a
//! round whose ACKs come back clearly later than the path's minimum ends slow start at
//! the window that built the queue; a steady delay lets slow start run on.

mod common;

use std::time::Duration;

use common::peer::{Peer, Seg, flags, plain_config};
use ringtcp_transport::wire::TcpOptions;
use ringtcp_transport::{Config, SocketHandle};

const PEER_ISS: u32 = 1000;

/// A sender with 200 KB to send, MSS 1,000; the first ten segments acknowledged 200 ms
/// after they left (the path's minimum). Returns (peer, handle, first data sequence).
fn after_first_round() -> (Peer, SocketHandle, u32) {
    let mut p = Peer::new(Config { tx_buffer: 200_000, ..plain_config() });
    let l = p.shard.listen(p.us, 8).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(TcpOptions { mss: Some(1000), ..TcpOptions::default() }));
    let sa = p.one();
    // A 200 ms handshake, so that the RTO (over 200 ms) leaves room for slower ACKs.
    p.advance(Duration::from_millis(200));
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, sa.seq + 1));
    let h = p.shard.accept(l).unwrap().unwrap();
    let first = sa.seq + 1;
    p.shard.send(h, &vec![7u8; 200_000]).unwrap();
    assert_eq!(p.sent().len(), 10);
    p.advance(Duration::from_millis(200));
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, first + 10_000));
    assert_eq!(p.sent().iter().map(|s| s.payload.len()).sum::<usize>(), 20_000, "slow start: twenty more");
    (p, h, first)
}

/// The second round's ACKs, two segments each, 1 ms apart, `delay` after they left.
fn second_round(p: &mut Peer, h: SocketHandle, first: u32, delay: Duration) -> Vec<(u32, u32)> {
    p.advance(delay);
    let mut windows = Vec::new();
    for i in 1..=10u32 {
        p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, first + 10_000 + 2000 * i));
        p.sent();
        let info = p.shard.tcp_info(h, p.now).unwrap().unwrap();
        windows.push((info.cwnd / 1000, info.ssthresh));
        p.advance(Duration::from_millis(1));
    }
    windows
}

#[test]
fn a_round_of_acks_forty_ms_late_ends_slow_start_at_the_ninth_sample() {
    let (mut p, h, first) = after_first_round();
    let w = second_round(&mut p, h, first, Duration::from_millis(240));
    // Eight samples to trust the round's minimum (241 ms and up, 40 ms over 200): slow
    // start grows the window two segments per ACK until then...
    assert!(w[..8].iter().all(|&(_, ssthresh)| ssthresh == u32::MAX), "{w:?}");
    assert_eq!(w[7].0, 36);
    // ...and the ninth ends it where the window stands.
    assert_eq!(w[8], (36, 36_000), "{w:?}");
    assert!(w[9].0 <= 37, "congestion avoidance from there: {w:?}");
}

#[test]
fn a_steady_delay_lets_slow_start_run_on() {
    let (mut p, h, first) = after_first_round();
    let w = second_round(&mut p, h, first, Duration::from_millis(200));
    assert!(w.iter().all(|&(_, ssthresh)| ssthresh == u32::MAX), "{w:?}");
    assert_eq!(w[9].0, 40, "two segments per ACK of two");
}
