//! Hostile traffic over TUN, in a namespace the test makes: during a spoofed SYN flood at
//! the highest rate one thread can send, legitimate clients connect and get their answers
//! (SYN cookies), and the listener serves at once when the flood stops, although its SYN
//! queue is full of half-open connections from the flood. A blind in-window attack on an
//! established connection (RSTs, SYNs, ACKs and data with guessed numbers, RFC 5961)
//! neither resets nor corrupts it. ACK and RST floods at the listener get no more replies
//! than the rate limit allows.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use common::{Netns, echo_server, privileged};
use ringtcp::Stack;
use ringtcp_runtime::testing::flood::{FloodConfig, FloodKind, Flooder};

const KERNEL: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const RING: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const PORT: u16 = 80;

/// A two-shard stack on a TUN device in a namespace made for `tag`, serving an echo on
/// `RING:PORT` from a runtime of its own (kept alive by the caller).
fn echo_stack(tag: &str) -> (Netns, Stack, tokio::runtime::Runtime) {
    let ns = Netns::new(tag);
    let stack = ns
        .spawn(|| Stack::builder().shards(2).tun("ringtcp0", KERNEL, RING, 24).build())
        .join()
        .expect("set-up thread")
        .expect("TUN stack");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let listener = rt.block_on(stack.bind((RING, PORT))).unwrap();
    rt.spawn(echo_server(listener));
    (ns, stack, rt)
}

/// One request over a fresh kernel-side connection: connect, send, read the echo.
fn request(i: u32) -> Result<Duration, String> {
    let t = Instant::now();
    let mut s = std::net::TcpStream::connect_timeout(&SocketAddr::from((RING, PORT)), Duration::from_secs(10)).map_err(|e| format!("connect {i}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let msg = format!("request {i:06}");
    s.write_all(msg.as_bytes()).map_err(|e| format!("write {i}: {e}"))?;
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).map_err(|e| format!("read {i}: {e}"))?;
    if back != msg.as_bytes() {
        return Err(format!("request {i}: wrong echo"));
    }
    Ok(t.elapsed())
}

#[test]
fn legitimate_clients_are_served_during_and_after_a_syn_flood() {
    if !privileged("legitimate_clients_are_served_during_and_after_a_syn_flood") {
        return;
    }
    let (ns, stack, _rt) = echo_stack("synflood");

    let flood = Flooder::start(Some(&ns), FloodConfig::syn(SocketAddrV4::new(RING, PORT))).expect("raw socket");
    std::thread::sleep(Duration::from_millis(500));
    let during = ns.spawn(|| (0..40).map(request).collect::<Vec<_>>()).join().unwrap();
    let (sent, rate) = flood.stop().unwrap();
    // At once: the first request after the flood is served.
    let after = ns.spawn(|| request(1_000_000)).join().unwrap();

    let failed: Vec<&String> = during.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failed.is_empty(), "legitimate requests failed during the flood: {failed:?}");
    let after = after.expect("the first request after the flood");
    assert!(after < Duration::from_secs(1), "the first request after the flood took {after:?}");
    assert!(sent > 20_000, "the flood sent only {sent} SYNs ({rate:.0}/s)");
    let stats = stack.stats().unwrap();
    let t = stats.transport();
    assert!(t.syncookies_sent > 1_000, "{t:?}");
    assert!(t.syncookies_recv > 0, "legitimate clients completed through cookies: {t:?}");
    for s in &stats.shards {
        // Half-open state from the flood is bounded by the backlog.
        assert!(s.syn_queued <= 1024 && s.live_connections <= 2 * 1024 + 64, "shard {}: {} embryonic, {} live", s.shard, s.syn_queued, s.live_connections);
    }
    eprintln!("{sent} SYNs at {rate:.0}/s; {} cookies sent, {} validated; first request after the flood in {after:?}", t.syncookies_sent, t.syncookies_recv);
}

#[test]
fn a_blind_in_window_attack_neither_resets_nor_corrupts_a_connection() {
    if !privileged("a_blind_in_window_attack_neither_resets_nor_corrupts_a_connection") {
        return;
    }
    let (ns, stack, _rt) = echo_stack("blind");
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let (back_tx, back_rx) = std::sync::mpsc::channel::<Result<Vec<u8>, String>>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let client = ns.spawn(move || {
        let mut s = std::net::TcpStream::connect((RING, PORT)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        addr_tx.send(s.local_addr().unwrap()).unwrap();
        for msg in rx {
            let mut back = vec![0u8; msg.len()];
            let r = s.write_all(&msg).and_then(|_| s.read_exact(&mut back)).map(|_| back).map_err(|e| e.to_string());
            back_tx.send(r).unwrap();
        }
    });
    let SocketAddr::V4(from) = addr_rx.recv().unwrap() else { unreachable!() };
    let check = |round: u8| {
        let msg: Vec<u8> = (0..20_000u32).map(|i| (i as u8).wrapping_mul(round)).collect();
        tx.send(msg.clone()).unwrap();
        let back = back_rx.recv_timeout(Duration::from_secs(20)).expect("an answer").expect("the connection works");
        assert!(back == msg, "round {round}: echo corrupted");
    };
    check(1);
    let attack = FloodConfig { kind: FloodKind::Blind { from }, ..FloodConfig::syn(SocketAddrV4::new(RING, PORT)) };
    let flood = Flooder::start(Some(&ns), attack).unwrap();
    let started = Instant::now();
    let mut round = 2;
    // Echo rounds go on under the attack for at least a second and a half.
    while round < 6 || started.elapsed() < Duration::from_millis(1500) {
        check(round);
        round = round.wrapping_add(1).max(2);
    }
    let (sent, _) = flood.stop().unwrap();
    // The rounds take longer on a loaded machine: the limit is per second of attack.
    let attacked = started.elapsed().as_secs_f64();
    check(1);
    drop(tx);
    client.join().unwrap();
    assert!(sent > 10_000, "the attack sent only {sent} segments");
    let stats = stack.stats().unwrap();
    let (t, d) = (stats.transport(), stats.drops());
    assert_eq!(t.estab_resets, 0, "no established connection was reset: {t:?}");
    assert!(t.challenge_acks + d.challenge_ack_limited + d.out_of_window > 1_000, "the guesses were counted: {t:?} {d:?}");
    // 1,000 a second on each of the two shards, with a second of slack for the limiter's
    // window boundaries and the segments still queued when the flood stopped.
    let bound = (2.0 * 1000.0 * (attacked.ceil() + 1.0)) as u64;
    assert!(t.challenge_acks <= bound, "challenge ACKs stay within their limit per second per shard: {} in {attacked:.1} s", t.challenge_acks);
}

#[test]
fn ack_and_rst_floods_at_a_listener_are_not_reflected() {
    if !privileged("ack_and_rst_floods_at_a_listener_are_not_reflected") {
        return;
    }
    let (ns, stack, _rt) = echo_stack("ackflood");
    let mut total = 0;
    let start = Instant::now();
    for kind in [FloodKind::Ack, FloodKind::Rst] {
        let flood = Flooder::start(Some(&ns), FloodConfig { kind, ..FloodConfig::syn(SocketAddrV4::new(RING, PORT)) }).unwrap();
        std::thread::sleep(Duration::from_millis(800));
        total += flood.stop().unwrap().0;
    }
    let secs = start.elapsed().as_secs_f64().ceil() as u64 + 1;
    ns.spawn(|| request(7)).join().unwrap().expect("served after the floods");
    let stats = stack.stats().unwrap();
    let (t, d) = (stats.transport(), stats.drops());
    assert!(total > 10_000, "the floods sent only {total} segments");
    // Every ACK got at most a rate-limited RST (1,000 per second per shard); no RST got one.
    assert!(t.out_rsts <= secs * 1000 * 2, "{} RSTs sent for {total} garbage segments in {secs} s", t.out_rsts);
    assert!(d.rst_rate_limited > 0 && d.stray_rst > 0, "{d:?}");
}
