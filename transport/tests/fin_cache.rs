//! The FIN cache in the stack: TIME-WAIT connections become compact records that answer
//! for them (RFC 9293 §3.10.7.4, RFC 1337, RFC 6191, RFC 5961), expire per MSL class and
//! are evicted oldest-first when the cache is full.

mod common;

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use common::peer::{PEER, Peer, Seg, US, flags, plain_config};
use ringtcp_transport::fincache::MslClass;
use ringtcp_transport::sim::{LinkConfig, Sim};
use ringtcp_transport::wire::{Ipv4Packet, TcpOptions, TcpSegment, Timestamps};
use ringtcp_transport::{Config, Error, Instant, Secret, SeqNum, Shard, SocketHandle, State};

const PEER_ISS: u32 = 1000;

/// Server side closes first; the peer's FIN arrives; the server is left in TIME-WAIT.
/// Returns our ISS, the handle (closed if `close`) and the listener.
fn into_time_wait(p: &mut Peer, ts: Option<u32>, close: bool) -> (u32, SocketHandle, ringtcp_transport::ListenerHandle) {
    let opts = |val: Option<u32>, mss| TcpOptions {
        mss,
        timestamps: val.map(|v| Timestamps { val: v, ecr: 0 }),
        ..TcpOptions::default()
    };
    let l = p.shard.listen(p.us, 8).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(opts(ts, Some(1460))));
    let iss = p.one().seq;
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1).opts(opts(ts, None)));
    let h = p.shard.accept(l).unwrap().unwrap();
    p.inject(Seg::new(flags("ACK|PSH"), PEER_ISS + 1, iss + 1).opts(opts(ts, None)).data(b"hello"));
    let mut buf = [0u8; 8];
    assert_eq!(p.shard.recv(h, &mut buf).unwrap(), 5);
    p.shard.shutdown_write(h).unwrap();
    if close {
        p.shard.close(p.now, h).unwrap();
    }
    p.sent();
    p.inject(Seg::new(flags("FIN|ACK"), PEER_ISS + 6, iss + 2).opts(opts(ts, None)));
    let last = p.one();
    assert_eq!((last.flags, last.seq, last.ack), (flags("ACK"), iss + 2, PEER_ISS + 7));
    assert_eq!(p.shard.fin_cache().len(), 1);
    (iss, h, l)
}

#[test]
fn a_time_wait_connection_keeps_only_a_record_and_unread_data_stays_readable() {
    let mut p = Peer::new(plain_config());
    let l = p.shard.listen(p.us, 8).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0));
    let iss = p.one().seq;
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1));
    let h = p.shard.accept(l).unwrap().unwrap();
    p.shard.shutdown_write(h).unwrap();
    p.sent();
    p.inject(Seg::new(flags("ACK|PSH"), PEER_ISS + 1, iss + 2).data(b"unread!"));
    p.inject(Seg::new(flags("FIN|ACK"), PEER_ISS + 8, iss + 2));
    p.sent();
    assert_eq!(p.shard.connection_count(), 0, "no control block left");
    assert_eq!(p.shard.fin_cache().len(), 1);
    assert_eq!(p.shard.state(h).unwrap(), State::TimeWait);
    let mut buf = [0u8; 16];
    assert_eq!(p.shard.recv(h, &mut buf).unwrap(), 7);
    assert_eq!(&buf[..7], b"unread!");
    assert_eq!(p.shard.recv(h, &mut buf).unwrap(), 0, "then end of stream");
    assert_eq!(p.shard.send(h, b"x"), Err(Error::BrokenPipe));
    p.shard.close(p.now, h).unwrap();
    assert_eq!(p.shard.state(h), Err(Error::InvalidHandle));
    assert_eq!(p.shard.fin_cache().len(), 1, "closing the handle does not end TIME-WAIT");
}

#[test]
fn rst_is_ignored_and_an_old_duplicate_is_acked_without_change() {
    let mut p = Peer::new(plain_config());
    let (iss, _, _) = into_time_wait(&mut p, None, true);
    p.inject(Seg::new(flags("RST"), PEER_ISS + 7, 0));
    p.none();
    assert_eq!(p.shard.fin_cache().len(), 1, "RFC 1337: TIME-WAIT survives the RST");
    assert_eq!(p.shard.fin_cache().stats().rsts_ignored, 1);
    // A late copy of data we already have: ACK with the record's numbers, nothing else.
    p.inject(Seg::new(flags("ACK|PSH"), PEER_ISS + 1, iss + 1).data(b"hello"));
    assert_eq!(p.one(), Seg::new(flags("ACK"), iss + 2, PEER_ISS + 7).win(0));
    assert_eq!(p.shard.fin_cache().len(), 1);
    assert_eq!(p.shard.connection_count(), 0);
    assert_eq!(p.shard.fin_cache().stats().acks_sent, 1);
}

#[test]
fn old_syns_get_rate_limited_acks_and_the_rest_are_counted_drops() {
    let cfg = Config { challenge_ack_limit: 2, ..plain_config() };
    let mut p = Peer::new(cfg);
    let (iss, _, _) = into_time_wait(&mut p, None, true);
    // SYNs at or below RCV.NXT are not provably new (RFC 9293 §3.10.7.4): ACK, within the
    // RFC 5961 §7 rate, and drop.
    for _ in 0..5 {
        p.inject(Seg::new(flags("SYN"), PEER_ISS + 2, 0));
    }
    let acks = p.sent();
    assert_eq!(acks.len(), 2, "{acks:?}");
    assert!(acks.iter().all(|a| (a.flags, a.seq, a.ack) == (flags("ACK"), iss + 2, PEER_ISS + 7)));
    let st = p.shard.fin_cache().stats();
    assert_eq!((st.acks_sent, st.dropped), (2, 3), "{st:?}");
    // A second later the rate allows ACKs again.
    p.advance(Duration::from_secs(1));
    p.inject(Seg::new(flags("SYN"), PEER_ISS + 2, 0));
    assert_eq!(p.one().flags, flags("ACK"));
    assert_eq!(p.shard.fin_cache().len(), 1, "the record stays throughout");
}

#[test]
fn rst_ends_time_wait_when_rfc1337_is_off() {
    let mut cfg = plain_config();
    cfg.fin_cache.rfc1337 = false;
    let mut p = Peer::new(cfg);
    into_time_wait(&mut p, None, true);
    // Only a RST exactly at RCV.NXT ends it (RFC 5961 §3.2); another one is dropped.
    p.inject(Seg::new(flags("RST"), PEER_ISS + 9, 0));
    assert_eq!(p.shard.fin_cache().len(), 1);
    assert_eq!(p.shard.fin_cache().stats().dropped, 1);
    p.inject(Seg::new(flags("RST"), PEER_ISS + 7, 0));
    assert!(p.shard.fin_cache().is_empty());
}

#[test]
fn syn_with_a_newer_timestamp_reopens_and_carries_data() {
    let cfg = Config { timestamps: true, ..plain_config() };
    let mut p = Peer::new(cfg);
    let (iss, _, l) = into_time_wait(&mut p, Some(100), true);
    let ts = |val| TcpOptions { timestamps: Some(Timestamps { val, ecr: 0 }), ..TcpOptions::default() };
    p.inject(Seg::new(flags("SYN"), PEER_ISS + 5000, 0).opts(TcpOptions { mss: Some(1460), ..ts(200) }));
    let sa = p.one();
    assert_eq!(sa.flags, flags("SYN|ACK"));
    assert_eq!(sa.ack, PEER_ISS + 5001);
    assert!(SeqNum(sa.seq) > SeqNum(iss + 2), "the new ISS lies above the old SND.NXT");
    assert!(p.shard.fin_cache().is_empty());
    assert_eq!(p.shard.fin_cache().stats().reopened, 1);
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 5001, sa.seq + 1).opts(ts(201)));
    p.inject(Seg::new(flags("ACK|PSH"), PEER_ISS + 5001, sa.seq + 1).opts(ts(202)).data(b"again"));
    // The listener hands out the new connection, and it carries the new data.
    let h = p.shard.accept(l).unwrap().expect("reopened connection accepted");
    let mut buf = [0u8; 8];
    assert_eq!(p.shard.recv(h, &mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"again");
}

#[test]
fn syn_with_an_older_timestamp_is_acked_and_dropped() {
    let cfg = Config { timestamps: true, ..plain_config() };
    let mut p = Peer::new(cfg);
    let (iss, _, _) = into_time_wait(&mut p, Some(100), true);
    p.inject(
        Seg::new(flags("SYN"), PEER_ISS + 5000, 0)
            .opts(TcpOptions { timestamps: Some(Timestamps { val: 50, ecr: 0 }), ..TcpOptions::default() }),
    );
    let ack = p.one();
    assert_eq!((ack.flags, ack.seq, ack.ack), (flags("ACK"), iss + 2, PEER_ISS + 7));
    assert_eq!(p.shard.fin_cache().len(), 1, "the record stays");
    assert_eq!(p.shard.connection_count(), 0, "no new connection");
}

#[test]
fn syn_without_timestamps_reopens_only_above_rcv_nxt() {
    let mut p = Peer::new(plain_config());
    into_time_wait(&mut p, None, true);
    p.inject(Seg::new(flags("SYN"), PEER_ISS + 3, 0));
    assert_eq!(p.one().flags, flags("ACK"), "at or below RCV.NXT: not provably new");
    p.inject(Seg::new(flags("SYN"), PEER_ISS + 100_000, 0));
    assert_eq!(p.one().flags, flags("SYN|ACK"));
    assert_eq!(p.shard.fin_cache().stats().reopened, 1);
}

/// Relays packets between shards with nothing in between, for bulk connection tests.
fn settle(a: &mut Shard, b: &mut Shard, now: Instant) {
    let mut buf = vec![0u8; 2048];
    loop {
        let mut any = false;
        while let Some(n) = a.poll_transmit(now, &mut buf) {
            b.handle_packet(now, &buf[..n]);
            any = true;
        }
        while let Some(n) = b.poll_transmit(now, &mut buf) {
            a.handle_packet(now, &buf[..n]);
            any = true;
        }
        if !any {
            return;
        }
    }
}

/// One short connection where the server closes first.
fn server_closes_first(client: &mut Shard, server: &mut Shard, l: ringtcp_transport::ListenerHandle, now: Instant) -> SocketAddr {
    let c = client.connect(now, "10.0.0.2:80".parse().unwrap(), None).unwrap();
    settle(client, server, now);
    let s = server.accept(l).unwrap().unwrap();
    server.send(s, b"bye").unwrap();
    server.close(now, s).unwrap();
    settle(client, server, now);
    let mut buf = [0u8; 8];
    assert_eq!(client.recv(c, &mut buf).unwrap(), 3);
    assert_eq!(client.recv(c, &mut buf).unwrap(), 0);
    let local = client.local_addr(c).unwrap();
    client.close(now, c).unwrap();
    settle(client, server, now);
    local
}

#[test]
fn a_full_cache_evicts_exactly_the_oldest() {
    let mut cfg = Config::default();
    cfg.fin_cache.capacity = 1000;
    let mut client = Shard::new(Config { ephemeral_ports: 1024..=65535, ..Config::default() }, &["10.0.0.1".parse().unwrap()], Secret([1; 16]));
    let mut server = Shard::new(cfg, &["10.0.0.2".parse().unwrap()], Secret([2; 16]));
    let l = server.listen("10.0.0.2:80".parse().unwrap(), 64).unwrap();
    let mut now = Instant::from_millis(1);
    let mut ports = Vec::new();
    for _ in 0..1500 {
        ports.push(server_closes_first(&mut client, &mut server, l, now));
        now += Duration::from_millis(1);
    }
    let fc = server.fin_cache();
    assert_eq!(fc.len(), 1000);
    assert_eq!(fc.stats().evicted, 500);
    assert_eq!(server.connection_count(), 0);
    let key = |a: SocketAddr| ringtcp_transport::fincache::TwKey {
        local_idx: 0,
        local_port: 80,
        remote_ip: Ipv4Addr::new(10, 0, 0, 1).into(),
        remote_port: a.port(),
    };
    assert!(ports[..500].iter().all(|&a| !fc.contains(&key(a))), "the 500 oldest are gone");
    assert!(ports[500..].iter().all(|&a| fc.contains(&key(a))), "the 1,000 newest remain");
}

#[test]
fn a_growing_index_asks_for_the_timer_at_once_until_its_move_is_done() {
    let mut client = Shard::new(Config { ephemeral_ports: 1024..=65535, ..Config::default() }, &["10.0.0.1".parse().unwrap()], Secret([1; 16]));
    let mut server = Shard::new(Config::default(), &["10.0.0.2".parse().unwrap()], Secret([2; 16]));
    let l = server.listen("10.0.0.2:80".parse().unwrap(), 64).unwrap();
    let now = Instant::from_millis(1);
    // The index starts small and grows as records come; stop just as a move starts.
    while !server.fin_cache().growing() {
        server_closes_first(&mut client, &mut server, l, now);
    }
    let records = server.fin_cache().len();
    // Records are due in 60 s, but the move is due now: the timer path finishes it.
    let mut calls = 0;
    while server.poll_timeout().is_some_and(|t| t <= now) {
        server.handle_timeout(now);
        calls += 1;
        assert!(calls < 100, "the move never ends");
    }
    assert!(calls > 0, "a move under way asks for the timer at once");
    assert!(!server.fin_cache().growing());
    assert_eq!(server.fin_cache().len(), records, "nothing expired, nothing lost");
    assert!(server.poll_timeout().is_none_or(|t| t > now), "nothing more due at once: {:?}", server.poll_timeout());
}

/// A connection from `from` that we close first and that ends in TIME-WAIT (a record).
fn close_from(p: &mut Peer, l: ringtcp_transport::ListenerHandle, from: SocketAddr) {
    p.inject_from(from, Seg::new(flags("SYN"), PEER_ISS, 0));
    let iss = p.one().seq;
    p.inject_from(from, Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1));
    let h = p.shard.accept(l).unwrap().unwrap();
    p.shard.close(p.now, h).unwrap();
    p.sent();
    p.inject_from(from, Seg::new(flags("FIN|ACK"), PEER_ISS + 1, iss + 2));
    p.sent();
}

#[test]
fn expiry_follows_the_class_durations() {
    let mut cfg = plain_config();
    cfg.on_link = vec![(IpAddr::V4(Ipv4Addr::new(10, 9, 0, 0)), 24)];
    let mut p = Peer::new(cfg);
    // Also answer for 10.9.0.2 (the default peer address): a peer that is one of our own
    // addresses is the loopback class.
    assert_eq!(p.shard.msl_class(IpAddr::V4(US)), MslClass::Loopback);
    assert_eq!(p.shard.msl_class(IpAddr::V4(Ipv4Addr::LOCALHOST)), MslClass::Loopback);
    assert_eq!(p.shard.msl_class(IpAddr::V4(PEER)), MslClass::Local);
    assert_eq!(p.shard.msl_class("192.0.2.7".parse().unwrap()), MslClass::Remote);
    let l = p.shard.listen(p.us, 8).unwrap();
    let peers: [SocketAddr; 3] = ["10.9.0.1:5000".parse().unwrap(), "10.9.0.2:5000".parse().unwrap(), "192.0.2.7:5000".parse().unwrap()];
    for from in peers {
        close_from(&mut p, l, from);
    }
    assert_eq!(p.shard.fin_cache().stats().live, [1, 1, 1]);
    let start = p.now;
    let live_at = |p: &mut Peer, secs: u64| {
        let t = start + Duration::from_secs(secs);
        p.advance(t - p.now);
        p.shard.fin_cache().stats().live
    };
    assert_eq!(live_at(&mut p, 1), [1, 1, 1]);
    assert_eq!(live_at(&mut p, 2), [0, 1, 1], "loopback: 2 s");
    assert_eq!(live_at(&mut p, 9), [0, 1, 1]);
    assert_eq!(live_at(&mut p, 10), [0, 0, 1], "local: 10 s");
    assert_eq!(live_at(&mut p, 59), [0, 0, 1]);
    assert_eq!(live_at(&mut p, 60), [0, 0, 0], "remote: 60 s");
    assert_eq!(p.shard.fin_cache().stats().expired, 3);
    assert_eq!(p.shard.poll_timeout(), None, "nothing left to time");
}

#[test]
fn without_truncation_every_class_waits_the_remote_duration() {
    let mut cfg = plain_config();
    cfg.fin_cache.msl_truncation = false;
    let mut p = Peer::new(cfg);
    let l = p.shard.listen(p.us, 8).unwrap();
    close_from(&mut p, l, "10.9.0.1:5000".parse().unwrap());
    p.advance(Duration::from_secs(59));
    assert_eq!(p.shard.fin_cache().len(), 1);
    p.advance(Duration::from_secs(1));
    assert_eq!(p.shard.fin_cache().len(), 0);
}

#[test]
fn connect_skips_ports_with_records_unless_timestamps_make_reuse_safe() {
    for timestamps in [false, true] {
        let cfg = Config { ephemeral_ports: 40_000..=40_001, timestamps, ..Config::default() };
        let mut client = Shard::new(cfg, &["10.0.0.1".parse().unwrap()], Secret([1; 16]));
        let mut server = Shard::new(Config { timestamps, ..Config::default() }, &["10.0.0.2".parse().unwrap()], Secret([2; 16]));
        let l = server.listen("10.0.0.2:80".parse().unwrap(), 8).unwrap();
        let now = Instant::from_millis(5);
        let dst: SocketAddr = "10.0.0.2:80".parse().unwrap();
        // The client closes first twice: both of its ports end up in its FIN cache.
        let mut used = Vec::new();
        for _ in 0..2 {
            let c = client.connect(now, dst, None).unwrap();
            settle(&mut client, &mut server, now);
            let s = server.accept(l).unwrap().unwrap();
            used.push(client.local_addr(c).unwrap().port());
            client.close(now, c).unwrap();
            settle(&mut client, &mut server, now);
            server.close(now, s).unwrap();
            settle(&mut client, &mut server, now);
        }
        used.sort();
        assert_eq!(used, vec![40_000, 40_001], "a free port is preferred to a record's");
        assert_eq!(client.fin_cache().len(), 2);
        let later = now + Duration::from_millis(10);
        match client.connect(later, dst, None) {
            Ok(c) => {
                assert!(timestamps, "without timestamps a record's 4-tuple must not be reused");
                settle(&mut client, &mut server, later);
                assert_eq!(client.state(c).unwrap(), State::Established);
                assert_eq!(client.fin_cache().stats().reused_by_connect, 1);
            }
            Err(e) => {
                assert!(!timestamps, "with timestamps RFC 6191 allows reuse, got {e}");
                assert_eq!(e, Error::AddrNotAvailable);
            }
        }
    }
}

#[test]
fn lost_last_ack_is_answered_from_the_record_and_the_peer_closes() {
    let mut sim = Sim::new(3);
    let c = sim.add_host(Shard::new(Config::default(), &["10.0.0.1".parse().unwrap()], Secret([1; 16])));
    let s = sim.add_host(Shard::new(Config::default(), &["10.0.0.2".parse().unwrap()], Secret([2; 16])));
    sim.set_links(LinkConfig { delay: Duration::from_millis(5), ..LinkConfig::default() });
    // Drop the server's first ACK of the client's FIN.
    let client_fin = Rc::new(Cell::new(None::<u32>));
    let dropped = Rc::new(Cell::new(0u32));
    let (fin, drops) = (client_fin.clone(), dropped.clone());
    sim.set_drop_filter(move |from, _to, bytes| {
        let Ok(ip) = Ipv4Packet::parse(bytes) else { return false };
        let Ok(seg) = TcpSegment::parse_v4(ip.payload(), ip.src(), ip.dst()) else { return false };
        let h = seg.header;
        if from == 0 && h.flags.fin() {
            fin.set(Some((h.seq + seg.payload.len()).0 + 1));
        }
        if from == 1 && drops.get() == 0 && h.flags == ringtcp_transport::wire::TcpFlags::ACK && Some(h.ack.0) == fin.get() {
            drops.set(1);
            return true;
        }
        false
    });
    let l = sim.host_mut::<Shard>(s).listen("10.0.0.2:80".parse().unwrap(), 8).unwrap();
    let now = sim.now();
    let ch = sim.host_mut::<Shard>(c).connect(now, "10.0.0.2:80".parse().unwrap(), None).unwrap();
    let mut sh = None;
    let mut client_closed = false;
    sim.run_until(sim.now() + Duration::from_secs(30), |sim| {
        let now = sim.now();
        if sh.is_none()
            && let Some(h) = sim.host_mut::<Shard>(s).accept(l).unwrap()
        {
            sim.host_mut::<Shard>(s).close(now, h).unwrap();
            sh = Some(h);
        }
        let client = sim.host_mut::<Shard>(c);
        let mut buf = [0u8; 4];
        if !client_closed && client.recv(ch, &mut buf) == Ok(0) {
            client.close(now, ch).unwrap();
            client_closed = true;
        }
        client_closed && sim.host::<Shard>(c).connection_count() == 0
    })
    .unwrap();
    assert_eq!(dropped.get(), 1, "the last ACK was lost once");
    let server = sim.host::<Shard>(s);
    assert_eq!(server.fin_cache().stats().fins_reacked, 1, "the retransmitted FIN was answered from the record");
    assert_eq!(server.connection_count(), 0);
    assert_eq!(server.fin_cache().len(), 1);
    let client = sim.host::<Shard>(c);
    assert_eq!(client.stats().tcp_retrans_segs, 1, "the client resent its FIN once, then closed");
    assert_eq!(client.stats().out_rsts + client.stats().in_rsts, 0);
}
