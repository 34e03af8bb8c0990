//! SYN cookies (RFC 4987 §3.6) and listener queues, segment by segment: a full SYN queue
//! answers with a cookie; a valid cookie ACK opens a connection that carries data both
//! ways with the MSS, window scale, SACK and timestamps the cookie kept; forged, stale and
//! wrong-4-tuple cookies are rejected and counted; the previous secret is accepted and an
//! older one is not; a full accept queue drops SYNs and third ACKs until there is room;
//! replies to garbage are rate-limited.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::peer::{PEER, Peer, Seg, flags, plain_config};
use ringtcp_transport::wire::{SackBlocks, TcpOptions, Timestamps};
use ringtcp_transport::{Config, ListenerHandle, SeqNum, State, SynCookies};

const PEER_ISS: u32 = 7_000;
const PERIOD: Duration = Duration::from_secs(64);

fn from_port(port: u16) -> SocketAddr {
    SocketAddr::new(PEER.into(), port)
}

/// Options a modern peer puts on its SYN.
fn syn_options(tsval: u32) -> TcpOptions {
    TcpOptions {
        mss: Some(1400),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some(Timestamps { val: tsval, ecr: 0 }),
        ..TcpOptions::default()
    }
}

fn ts(val: u32, ecr: u32) -> TcpOptions {
    TcpOptions { timestamps: Some(Timestamps { val, ecr }), ..TcpOptions::default() }
}

/// A listener with backlog 1 whose SYN queue is filled by one embryonic connection from
/// port 1, so the next SYN gets a cookie.
fn full_syn_queue(cfg: Config) -> (Peer, ListenerHandle) {
    let mut p = Peer::new(cfg);
    let l = p.shard.listen(p.us, 1).unwrap();
    p.inject_from(from_port(1), Seg::new(flags("SYN"), 1, 0));
    assert_eq!(p.one().flags, flags("SYN|ACK"), "the first SYN is kept as state");
    assert_eq!(p.shard.syn_queue_len(l).unwrap(), 1);
    (p, l)
}

fn cookie_config() -> Config {
    Config { timestamps: true, sack: true, window_scaling: true, rx_buffer: 256 * 1024, ..plain_config() }
}

#[test]
fn a_full_syn_queue_answers_with_a_cookie_and_keeps_nothing() {
    let (mut p, l) = full_syn_queue(cookie_config());
    let conns = p.shard.connection_count();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(syn_options(500)));
    let sa = p.one();
    assert_eq!(sa.flags, flags("SYN|ACK"));
    assert_eq!(sa.ack, PEER_ISS + 1);
    assert_eq!(sa.opts.mss, Some(1460), "our MSS");
    assert_eq!(sa.opts.window_scale, Some(3), "our shift for a 256 KiB buffer");
    assert!(sa.opts.sack_permitted);
    let t = sa.opts.timestamps.expect("timestamps kept");
    assert_eq!(t.ecr, 500);
    assert_eq!(t.val & 0x3f, 7 | 0x10, "TSval's low bits carry wscale 7 and SACK-permitted");
    assert_eq!(p.shard.stats().syncookies_sent, 1);
    assert_eq!(p.shard.connection_count(), conns, "no state for the cookie SYN");
    assert_eq!(p.shard.syn_queue_len(l).unwrap(), 1);
    // A retransmitted SYN gets the same cookie: nothing was kept, nothing changed.
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(syn_options(500)));
    assert_eq!(p.one().seq, sa.seq);
}

#[test]
fn a_valid_cookie_opens_a_connection_with_the_negotiated_options() {
    let (mut p, l) = full_syn_queue(cookie_config());
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(syn_options(500)));
    let sa = p.one();
    let iss = sa.seq;
    let our_ts = sa.opts.timestamps.unwrap().val;
    // The third ACK carries the request, with a scaled window of 100 << 7 = 12,800 bytes.
    p.inject(Seg::new(flags("ACK|PSH"), PEER_ISS + 1, iss + 1).win(100).opts(ts(501, our_ts)).data(b"GET /"));
    assert_eq!(p.shard.stats().syncookies_recv, 1);
    let h = p.shard.accept(l).unwrap().expect("straight into the accept queue");
    assert_eq!(p.shard.state(h), Ok(State::Established));
    let mut buf = [0u8; 16];
    assert_eq!(p.shard.recv(h, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"GET /");

    // Our reply: segments of the cookie's MSS (1,400 rounds down to 1,380) less the
    // 12 timestamp bytes, as far as the scaled window allows, timestamps echoing the peer.
    let reply: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    p.shard.set_nodelay(h, true).unwrap();
    assert_eq!(p.shard.send(h, &reply), Ok(20_000));
    let segs = p.sent();
    let data: Vec<&Seg> = segs.iter().filter(|s| !s.payload.is_empty()).collect();
    assert!(data.iter().all(|s| s.payload.len() <= 1_368), "{:?}", data.iter().map(|s| s.payload.len()).collect::<Vec<_>>());
    assert_eq!(data[0].payload.len(), 1_368);
    let sent: usize = data.iter().map(|s| s.payload.len()).sum();
    assert!(sent > 1_368 && sent <= 12_800, "window scaling: {sent} bytes in flight");
    assert!(data.iter().all(|s| s.opts.timestamps.is_some_and(|t| t.ecr == 501)));
    // Our window field is scaled by the shift the cookie's SYN-ACK announced (3): 64 KiB
    // of the 256 KiB buffer, all a peer that has sent only a short request is offered
    // yet (window_growth.rs).
    assert_eq!(usize::from(data[0].win), 65_536 >> 3);
    let mut got = Vec::new();
    for s in &data {
        got.extend_from_slice(&s.payload);
    }
    assert_eq!(got, reply[..sent], "bytes leave intact and in order");

    // SACK was kept: an out-of-order arrival is reported in a SACK block.
    let seq = PEER_ISS + 6;
    p.inject(Seg::new(flags("ACK"), seq + 10, iss + 1).win(100).opts(ts(502, our_ts)).data(b"later"));
    let ack = p.sent().into_iter().find(|s| s.payload.is_empty()).expect("a duplicate ACK");
    let mut want = SackBlocks::default();
    want.push(SeqNum(seq + 10), SeqNum(seq + 15));
    assert_eq!(ack.ack, seq);
    assert_eq!(ack.opts.sack, want);
}

#[test]
fn without_timestamps_a_cookie_keeps_only_the_mss() {
    let (mut p, l) = full_syn_queue(cookie_config());
    let opts = TcpOptions { mss: Some(1000), window_scale: Some(7), sack_permitted: true, ..TcpOptions::default() };
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(opts));
    let sa = p.one();
    assert_eq!((sa.opts.window_scale, sa.opts.sack_permitted, sa.opts.timestamps), (None, false, None), "nowhere to keep them");
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, sa.seq + 1).win(50_000));
    let h = p.shard.accept(l).unwrap().expect("cookie connection");
    p.shard.set_nodelay(h, true).unwrap();
    p.shard.send(h, &[7u8; 3000]).unwrap();
    let sizes: Vec<usize> = p.sent().iter().map(|s| s.payload.len()).collect();
    assert_eq!(sizes[0], 536, "1,000 rounds down to the table's 536");
    assert_eq!(sizes[0].max(sizes[1]), 536);
}

#[test]
fn forged_stale_and_misdirected_cookies_are_rejected_and_counted() {
    let (mut p, l) = full_syn_queue(Config { syn_cookie_period: PERIOD, ..cookie_config() });
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0));
    let iss = p.one().seq;
    let conns = p.shard.connection_count();

    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss.wrapping_add(1 << 8) + 1));
    p.none();
    p.inject_from(from_port(41_000), Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1));
    p.none();
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 2, iss + 1));
    p.none();
    assert_eq!(p.shard.drops().syncookies_failed, 3, "forged, other 4-tuple, other peer ISN");

    // Two periods later the secret that made it is gone.
    p.advance(PERIOD * 2);
    p.sent();
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1));
    p.none();
    assert_eq!(p.shard.drops().syncookies_failed, 4, "stale");
    assert_eq!(p.shard.stats().syncookies_recv, 0);
    assert!(p.shard.connection_count() <= conns);
    assert_eq!(p.shard.accept(l).unwrap(), None);
}

#[test]
fn the_previous_secret_is_accepted_and_an_older_one_is_not() {
    let (mut p, l) = full_syn_queue(Config { syn_cookie_period: PERIOD, ..cookie_config() });
    p.inject_from(from_port(2), Seg::new(flags("SYN"), PEER_ISS, 0));
    let first = p.one().seq;
    p.inject_from(from_port(3), Seg::new(flags("SYN"), PEER_ISS, 0));
    let second = p.one().seq;
    // One period on, the secret has rotated once: the cookie is from the previous one.
    p.now += PERIOD;
    p.inject_from(from_port(2), Seg::new(flags("ACK"), PEER_ISS + 1, first + 1));
    assert!(p.shard.accept(l).unwrap().is_some(), "previous secret accepted");
    // A cookie from a keep-alive SYN sent now keeps the listener checking cookies.
    p.inject_from(from_port(4), Seg::new(flags("SYN"), PEER_ISS, 0));
    p.sent();
    // Another period on, the first secret is two rotations old.
    p.now += PERIOD;
    p.inject_from(from_port(3), Seg::new(flags("ACK"), PEER_ISS + 1, second + 1));
    assert_eq!(p.shard.accept(l).unwrap(), None, "older secret refused");
    assert_eq!(p.shard.drops().syncookies_failed, 1);
}

#[test]
fn acks_to_a_listener_without_cookies_out_get_rate_limited_rsts() {
    let mut p = Peer::new(Config { rst_limit: 3, ..plain_config() });
    p.shard.listen(p.us, 8).unwrap();
    for i in 0..5u16 {
        p.inject_from(from_port(100 + i), Seg::new(flags("ACK"), 1, 12_345));
    }
    let rsts = p.sent();
    assert_eq!(rsts.len(), 3);
    assert!(rsts.iter().all(|s| s.flags == flags("RST") && s.seq == 12_345), "<SEQ=SEG.ACK><RST>");
    assert_eq!(p.shard.drops().rst_rate_limited, 2);
    assert_eq!(p.shard.drops().syncookies_failed, 0, "no cookie was out: nothing hashed");
    // A second later the budget is back.
    p.advance(Duration::from_secs(1));
    p.inject_from(from_port(200), Seg::new(flags("ACK"), 1, 1));
    assert_eq!(p.one().flags, flags("RST"));
}

#[test]
fn segments_to_closed_ports_get_at_most_the_rst_limit() {
    let mut p = Peer::new(Config { rst_limit: 1000, ..plain_config() });
    for i in 0..1500u32 {
        p.inject_from(from_port(1024 + (i % 60_000) as u16), Seg::new(flags("SYN"), i, 0));
    }
    assert_eq!(p.sent().len(), 1000);
    assert_eq!(p.shard.drops().rst_rate_limited, 500);
    assert_eq!(p.shard.stats().out_rsts, 1000);
}

#[test]
fn a_full_accept_queue_drops_syns_and_third_acks_until_there_is_room() {
    let mut p = Peer::new(Config { syn_cookies: SynCookies::WhenFull, ..plain_config() });
    let l = p.shard.listen(p.us, 2).unwrap();
    let mut isss = Vec::new();
    for port in 1..=3u16 {
        p.inject_from(from_port(port), Seg::new(flags("SYN"), 1, 0));
        isss.push(p.one().seq);
    }
    // Two complete; the third handshake's ACK finds the accept queue full (it came from a
    // cookie: the SYN queue held two).
    for (i, port) in (1..=3u16).enumerate() {
        p.inject_from(from_port(port), Seg::new(flags("ACK"), 2, isss[i] + 1));
    }
    assert_eq!(p.shard.accept_queue_len(l).unwrap(), 2);
    assert_eq!(p.shard.drops().accept_queue_full, 1, "the cookie ACK dropped");
    // A new SYN is dropped outright while no handshake could complete.
    p.inject_from(from_port(4), Seg::new(flags("SYN"), 1, 0));
    p.none();
    assert_eq!(p.shard.drops().accept_queue_full, 2);
    // The runtime says the application still holds one it accepted: room for nothing.
    let first = p.shard.accept(l).unwrap().unwrap();
    p.shard.set_handed_out(l, 1).unwrap();
    p.inject_from(from_port(4), Seg::new(flags("SYN"), 1, 0));
    p.none();
    assert_eq!(p.shard.drops().accept_queue_full, 3);
    // The application took it: the peer's retransmitted ACK now completes the cookie.
    p.shard.set_handed_out(l, 0).unwrap();
    p.inject_from(from_port(3), Seg::new(flags("ACK"), 2, isss[2] + 1));
    assert_eq!(p.shard.accept_queue_len(l).unwrap(), 2);
    assert_eq!(p.shard.stats().syncookies_recv, 1);
    assert_eq!(p.shard.peer_addr(first).unwrap(), from_port(1));
}

#[test]
fn a_third_ack_into_a_full_accept_queue_waits_for_the_synack_retry() {
    let mut p = Peer::new(Config { syn_cookies: SynCookies::Off, ..plain_config() });
    let l = p.shard.listen(p.us, 2).unwrap();
    p.inject_from(from_port(1), Seg::new(flags("SYN"), 1, 0));
    let a = p.one().seq;
    p.inject_from(from_port(2), Seg::new(flags("SYN"), 1, 0));
    let b = p.one().seq;
    p.inject_from(from_port(1), Seg::new(flags("ACK"), 2, a + 1));
    p.shard.set_handed_out(l, 1).unwrap();
    // Full: one queued here and one on the application's side.
    p.inject_from(from_port(2), Seg::new(flags("ACK"), 2, b + 1));
    p.none();
    assert_eq!(p.shard.drops().accept_queue_full, 1);
    assert_eq!(p.shard.accept_queue_len(l).unwrap(), 1);
    // The embryonic connection stays and retries its SYN-ACK (RTO 1 s).
    p.advance(Duration::from_secs(1));
    let retry = p.one();
    assert_eq!((retry.flags, retry.seq), (flags("SYN|ACK"), b));
    p.shard.accept(l).unwrap().unwrap();
    p.shard.set_handed_out(l, 0).unwrap();
    p.inject_from(from_port(2), Seg::new(flags("ACK"), 2, b + 1));
    assert_eq!(p.shard.accept_queue_len(l).unwrap(), 1, "room now: the handshake completes");
}

#[test]
fn cookies_always_mode_keeps_no_syn_state_and_off_mode_drops() {
    let mut p = Peer::new(Config { syn_cookies: SynCookies::Always, ..plain_config() });
    let l = p.shard.listen(p.us, 64).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0));
    let sa = p.one();
    assert_eq!((p.shard.syn_queue_len(l).unwrap(), p.shard.connection_count()), (0, 0));
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, sa.seq + 1));
    assert!(p.shard.accept(l).unwrap().is_some());

    let (mut p, _) = full_syn_queue(Config { syn_cookies: SynCookies::Off, ..plain_config() });
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0));
    p.none();
    assert_eq!(p.shard.drops().listen_overflow, 1);
    assert_eq!(p.shard.stats().syncookies_sent, 0);
}

#[test]
fn a_syn_reopening_a_time_wait_record_keeps_state_even_with_the_syn_queue_full() {
    let mut p = Peer::new(cookie_config());
    let l = p.shard.listen(p.us, 1).unwrap();
    // A connection from port 1 that we close first: it leaves a TIME-WAIT record.
    p.inject_from(from_port(1), Seg::new(flags("SYN"), 100, 0).opts(ts(10, 0)));
    let iss = p.one().seq;
    p.inject_from(from_port(1), Seg::new(flags("ACK"), 101, iss + 1).opts(ts(11, 0)));
    let h = p.shard.accept(l).unwrap().unwrap();
    p.shard.close(p.now, h).unwrap();
    let fin = p.one();
    p.inject_from(from_port(1), Seg::new(flags("ACK|FIN"), 101, fin.seq + 1).opts(ts(12, 0)));
    p.sent();
    assert_eq!(p.shard.fin_cache().len(), 1);
    // The SYN queue fills with an embryonic connection from port 2.
    p.inject_from(from_port(2), Seg::new(flags("SYN"), 1, 0));
    p.sent();
    assert_eq!(p.shard.syn_queue_len(l).unwrap(), 1);
    // A new incarnation from port 1 (newer timestamp): state, and an ISS above the old
    // SND.NXT, which a cookie could not give (RFC 9293 §3.10.7.4, RFC 6191).
    p.inject_from(from_port(1), Seg::new(flags("SYN"), 5_000, 0).opts(ts(20, 0)));
    let sa = p.one();
    assert_eq!(sa.flags, flags("SYN|ACK"));
    assert!(SeqNum(sa.seq) > SeqNum(fin.seq + 1), "new ISS {} above the old SND.NXT {}", sa.seq, fin.seq + 1);
    assert_eq!(p.shard.stats().syncookies_sent, 0);
    assert_eq!(p.shard.syn_queue_len(l).unwrap(), 2);
    assert_eq!(p.shard.fin_cache().stats().reopened, 1);
}
