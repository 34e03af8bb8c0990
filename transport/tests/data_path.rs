//! Segment-level tests of the data path: delayed ACK, reassembly, PAWS, persist and
//! keepalive probes, retransmission timeout with backoff, fast retransmit (NewReno and
//! SACK), ICMP, and counted drops of bad input.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::peer::{PEER, Peer, Seg, US, flags, plain_config};
use ringtcp_transport::wire::{
    IcmpMessage, Ipv4Packet, PROTO_ICMP, TcpOptions, Timestamps, checksum, emit_ipv4_header, emit_unreachable,
};
use ringtcp_transport::{Config, CongestionAlgorithm, Error, Keepalive, PathMtuDiscovery, SocketHandle, State, SynCookies};

const PEER_ISS: u32 = 1000;

fn established_with(cfg: Config, syn_opts: TcpOptions) -> (Peer, SocketHandle, u32, TcpOptions) {
    let mut p = Peer::new(cfg);
    let l = p.shard.listen(p.us, 8).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(syn_opts));
    let sa = p.one();
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, sa.seq + 1).opts(TcpOptions { sack: Default::default(), mss: None, window_scale: None, sack_permitted: false, ..syn_opts }));
    let h = p.shard.accept(l).unwrap().unwrap();
    (p, h, sa.seq, sa.opts)
}

fn established(cfg: Config) -> (Peer, SocketHandle, u32) {
    let (p, h, iss, _) = established_with(cfg, TcpOptions { mss: Some(1460), ..TcpOptions::default() });
    (p, h, iss)
}

#[test]
fn the_first_segments_are_acked_at_once_then_one_segment_waits_for_the_delayed_ack() {
    let (mut p, h, iss) = established(plain_config());
    // Quick-ACK mode at the start, as Linux: the first 16 data segments are acked at once.
    let mut next = PEER_ISS + 1;
    for i in 0..16u32 {
        p.inject(Seg::new(flags("ACK|PSH"), next, iss + 1).data(b"q"));
        next += 1;
        let a = p.one();
        assert_eq!((a.flags, a.ack), (flags("ACK"), next), "segment {i} acked at once");
    }
    assert_eq!(p.shard.stats().delayed_acks, 0);
    let mut sink = [0u8; 64];
    assert_eq!(p.shard.recv(h, &mut sink).unwrap(), 16);
    p.sent();
    // After them, one segment waits for the delayed-ACK timer.
    p.inject(Seg::new(flags("ACK|PSH"), next, iss + 1).data(b"hello"));
    p.none();
    p.advance(Duration::from_millis(39));
    p.none();
    p.advance(Duration::from_millis(1));
    let a = p.one();
    assert_eq!((a.flags, a.seq, a.ack), (flags("ACK"), iss + 1, next + 5));
    assert_eq!(p.shard.stats().delayed_acks, 1);
    let next = next + 5;
    // A reply piggybacks the ACK instead: no separate ACK, no timer.
    p.inject(Seg::new(flags("ACK|PSH"), next, iss + 1).data(b"again"));
    p.shard.set_nodelay(h, true).unwrap();
    p.shard.send(h, b"reply").unwrap();
    let s = p.one();
    assert_eq!((s.ack, s.payload.as_slice()), (next + 5, &b"reply"[..]));
    p.advance(Duration::from_millis(100));
    p.none();
}

#[test]
fn two_of_the_peers_full_sized_segments_are_acked_at_once_even_below_our_mss() {
    // The peer's MSS is 1000 (ours 1460): two of its full segments must be acked at once
    // (RFC 5681 §4.2), even though they hold less than two of our MSS.
    let mut cfg = plain_config();
    cfg.delayed_ack = Duration::from_millis(40);
    let (mut p, h, iss, _) = established_with(cfg, TcpOptions { mss: Some(1000), ..TcpOptions::default() });
    let mut next = PEER_ISS + 1;
    let chunk = vec![5u8; 1000];
    // Past the quick ACKs of the start.
    for _ in 0..16 {
        p.inject(Seg::new(flags("ACK"), next, iss + 1).data(&chunk));
        next += 1000;
        p.sent();
        let mut sink = vec![0u8; 1000];
        p.shard.recv(h, &mut sink).unwrap();
        p.sent();
    }
    p.inject(Seg::new(flags("ACK"), next, iss + 1).data(&chunk));
    next += 1000;
    p.none();
    p.inject(Seg::new(flags("ACK"), next, iss + 1).data(&chunk));
    next += 1000;
    let a = p.one();
    assert_eq!((a.flags, a.ack), (flags("ACK"), next), "the second full segment is acked at once");
}

#[test]
fn out_of_order_data_is_reassembled_with_immediate_acks() {
    let (mut p, h, iss) = established(plain_config());
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 4, iss + 1).data(b"def"));
    assert_eq!(p.one(), Seg::new(flags("ACK"), iss + 1, PEER_ISS + 1).win(65_535), "duplicate ACK at once");
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1).data(b"abc"));
    assert_eq!(p.one(), Seg::new(flags("ACK"), iss + 1, PEER_ISS + 7).win(65_529), "the filled hole is acked at once");
    let mut buf = [0u8; 16];
    assert_eq!(p.shard.recv(h, &mut buf).unwrap(), 6);
    assert_eq!(&buf[..6], b"abcdef");
    assert_eq!(p.shard.stats().ooo_segments, 1);
}

#[test]
fn paws_drops_segments_with_old_timestamps() {
    let ts = |val| TcpOptions { timestamps: Some(Timestamps { val, ecr: 0 }), ..TcpOptions::default() };
    let cfg = Config { timestamps: true, ..plain_config() };
    let (mut p, h, iss, _) = established_with(cfg, TcpOptions { mss: Some(1460), ..ts(100) });
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1).opts(ts(200)).data(b"new"));
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 4, iss + 1).opts(ts(150)).data(b"old"));
    let s = p.one();
    assert_eq!(s.ack, PEER_ISS + 4, "the old-timestamp segment was not taken, but answered");
    assert_eq!(s.opts.timestamps.map(|t| t.ecr), Some(200), "TS.Recent is the newest valid one");
    let mut buf = [0u8; 16];
    assert_eq!(p.shard.recv(h, &mut buf).unwrap(), 3);
    assert_eq!(p.shard.drops().paws, 1);
}

#[test]
fn a_segment_dropped_for_its_ack_leaves_ts_recent_alone() {
    let ts = |val| TcpOptions { timestamps: Some(Timestamps { val, ecr: 0 }), ..TcpOptions::default() };
    let cfg = Config { timestamps: true, ..plain_config() };
    let (mut p, h, iss, _) = established_with(cfg, TcpOptions { mss: Some(1460), ..ts(100) });
    // A forged FIN acknowledging data never sent, with a far-future TSval: RFC 5961 §5.2
    // answers with an ACK and drops it. The answer echoes the timestamp held before.
    p.inject(Seg::new(flags("FIN|ACK"), PEER_ISS + 1, iss + 9999).opts(ts(200_000)));
    let answer = p.one();
    assert_eq!((answer.ack, answer.opts.timestamps.map(|t| t.ecr)), (PEER_ISS + 1, Some(100)));
    // Had TS.Recent taken 200,000, PAWS would now drop the peer's real data.
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1).opts(ts(101)).data(b"real"));
    let mut buf = [0u8; 16];
    assert_eq!(p.shard.recv(h, &mut buf), Ok(4));
    assert_eq!(p.shard.drops().paws, 0);
    assert_eq!(p.shard.drops().unacceptable_ack, 1);
}

#[test]
fn zero_window_is_probed_until_it_opens() {
    let (mut p, h, iss) = established(plain_config());
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1).win(0));
    p.shard.send(h, b"blocked").unwrap();
    p.none();
    // Persist timer at the RTO (the handshake measured ~0 RTT: the 200 ms floor), then
    // doubling.
    p.advance(Duration::from_millis(200));
    assert_eq!(p.one(), Seg::new(flags("ACK"), iss, PEER_ISS + 1).win(65_535), "<SEQ=SND.UNA−1><ACK>");
    p.advance(Duration::from_millis(399));
    p.none();
    p.advance(Duration::from_millis(1));
    assert_eq!(p.one().seq, iss, "second probe after a doubled interval");
    assert_eq!(p.shard.stats().window_probes, 2);
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1).win(1000));
    assert_eq!(p.one(), Seg::new(flags("ACK|PSH"), iss + 1, PEER_ISS + 1).data(b"blocked"));
}

#[test]
fn keepalive_probes_then_times_out() {
    let (mut p, h, iss) = established(plain_config());
    let ka = Keepalive { idle: Duration::from_secs(10), interval: Duration::from_secs(2), probes: 3 };
    p.shard.set_keepalive(p.now, h, Some(ka)).unwrap();
    p.advance(Duration::from_secs(10));
    assert_eq!(p.one(), Seg::new(flags("ACK"), iss, PEER_ISS + 1));
    // An answer resets the count.
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1));
    p.advance(Duration::from_secs(10));
    p.one();
    for _ in 0..2 {
        p.advance(Duration::from_secs(2));
        p.one();
    }
    p.advance(Duration::from_secs(2));
    assert_eq!(p.shard.state(h).unwrap(), State::Closed);
    let mut buf = [0u8; 1];
    assert_eq!(p.shard.recv(h, &mut buf), Err(Error::TimedOut));
    assert_eq!(p.shard.stats().keepalive_probes, 4);
}

#[test]
fn retransmission_backs_off_then_times_out() {
    let cfg = Config { max_retries: 3, ..plain_config() };
    let (mut p, h, iss) = established(cfg);
    p.shard.send(h, b"lost").unwrap();
    let first = p.one();
    let mut waited = Vec::new();
    let mut t = Duration::ZERO;
    while waited.len() < 3 {
        p.advance(Duration::from_millis(100));
        t += Duration::from_millis(100);
        let s = p.sent();
        if !s.is_empty() {
            assert_eq!(s, vec![first.clone()], "the same segment again");
            waited.push(t.as_millis());
            t = Duration::ZERO;
        }
    }
    // The handshake's RTT was zero, so the RTO sits at its 200 ms floor, then doubles.
    assert_eq!(waited, vec![200, 400, 800]);
    p.advance(Duration::from_millis(1600));
    assert_eq!(p.shard.state(h).unwrap(), State::Closed);
    assert_eq!(p.shard.error(h).unwrap(), Some(Error::TimedOut));
    assert_eq!(p.shard.stats().rto_timeouts, 3);
    let _ = iss;
}

fn send_ten_segments(p: &mut Peer, h: SocketHandle) -> Vec<Seg> {
    p.shard.set_nodelay(h, true).unwrap();
    p.shard.send(h, &vec![9u8; 14_600]).unwrap();
    let s = p.sent();
    assert_eq!(s.len(), 10, "initial window of 10 segments");
    s
}

#[test]
fn three_duplicate_acks_trigger_newreno_fast_retransmit() {
    let cfg = Config { congestion: CongestionAlgorithm::NewReno, ..plain_config() };
    let (mut p, h, iss) = established(cfg);
    let segs = send_ten_segments(&mut p, h);
    // Segment 1 lost; 2, 3, 4 arrive: three duplicate ACKs.
    for _ in 0..3 {
        p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1));
    }
    let s = p.sent();
    assert_eq!(s[0], segs[0], "the first unacked segment, resent at once");
    assert_eq!(p.shard.stats().fast_retransmits, 1);
    assert_eq!(p.shard.stats().newreno_recoveries, 1);
    // A partial ACK (RFC 6582) retransmits the next hole at once.
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1 + 1460 * 4));
    let s = p.sent();
    assert_eq!(s[0].seq, segs[4].seq);
}

#[test]
fn limited_transmit_sends_new_data_on_the_first_two_duplicate_acks() {
    // RFC 3042 / RFC 5681 §3.2: without SACK, each of the first two duplicate ACKs lets
    // one new segment out beyond cwnd; the third starts fast retransmit.
    let cfg = Config { congestion: CongestionAlgorithm::NewReno, ..plain_config() };
    let (mut p, h, iss) = established(cfg);
    p.shard.set_nodelay(h, true).unwrap();
    p.shard.send(h, &vec![9u8; 14_600 + 3 * 1460]).unwrap();
    let first = p.sent();
    assert_eq!(first.len(), 10, "the initial window");
    let next = first[9].seq + 1460;
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1));
    let s = p.sent();
    assert_eq!(s.iter().map(|x| (x.seq, x.payload.len())).collect::<Vec<_>>(), vec![(next, 1460)], "one new segment on the first duplicate ACK");
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1));
    let s = p.sent();
    assert_eq!(s.iter().map(|x| (x.seq, x.payload.len())).collect::<Vec<_>>(), vec![(next + 1460, 1460)], "and one on the second");
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1));
    let s = p.sent();
    assert_eq!(s[0].seq, iss + 1, "the third: fast retransmit of the first segment");
    assert_eq!(p.shard.stats().fast_retransmits, 1);
}

#[test]
fn sack_blocks_mark_holes_lost_and_only_holes_are_resent() {
    let cfg = Config { sack: true, ..plain_config() };
    let (mut p, h, iss, _) = established_with(cfg, TcpOptions { mss: Some(1460), sack_permitted: true, ..TcpOptions::default() });
    let segs = send_ten_segments(&mut p, h);
    let mut sack = ringtcp_transport::wire::SackBlocks::default();
    // Segments 1 and 3 lost; 2 and 4..6 SACKed.
    let seq = |i: u32| ringtcp_transport::SeqNum(iss + 1 + 1460 * i);
    sack.push(seq(3), seq(6));
    sack.push(seq(1), seq(2));
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1).opts(TcpOptions { sack, ..TcpOptions::default() }));
    let s = p.sent();
    let resent: Vec<u32> = s.iter().map(|x| x.seq).collect();
    assert!(resent.starts_with(&[segs[0].seq, segs[2].seq]), "holes 1 and 3, in order: {resent:?}");
    assert!(!resent.contains(&segs[1].seq) && !resent.contains(&segs[3].seq), "SACKed segments are not resent");
    assert_eq!(p.shard.stats().sack_recoveries, 1);
}

#[test]
fn sack_recovery_resends_unsacked_data_below_the_highest_sack_instead_of_waiting_for_the_rto() {
    let cfg = Config { sack: true, ..plain_config() };
    let (mut p, h, iss, _) = established_with(cfg, TcpOptions { mss: Some(1460), sack_permitted: true, ..TcpOptions::default() });
    send_ten_segments(&mut p, h);
    let seq = |i: u32| ringtcp_transport::SeqNum(iss + 1 + 1460 * i);
    let sack = |blocks: &[(u32, u32)]| {
        let mut b = ringtcp_transport::wire::SackBlocks::default();
        for &(l, r) in blocks {
            b.push(seq(l), seq(r));
        }
        TcpOptions { sack: b, ..TcpOptions::default() }
    };
    // Segments 0, 3..7 and 9 lost, 1, 2 and 8 SACKed: segment 0 is lost by IsLost and
    // resent; recovery starts.
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1).opts(sack(&[(1, 3), (8, 9)])));
    let mut resent: Vec<u32> = p.sent().iter().map(|s| s.seq).collect();
    assert_eq!(resent.first(), Some(&seq(0).0));
    // The retransmission arrives: the cumulative ACK moves to segment 3. Nothing above it
    // is "lost" by the DupThresh rule (one SACKed segment above), and there is no new data:
    // RFC 6675 NextSeg rule 3 resends segment 3 now, as the window allows.
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, seq(3).0).opts(sack(&[(8, 9)])));
    resent.extend(p.sent().iter().map(|s| s.seq));
    assert!(resent.contains(&seq(3).0), "segment 3 resent before any timeout: {resent:?}");
    assert!(!resent.contains(&seq(8).0), "SACKed data is not resent");
    assert_eq!(p.shard.stats().rto_timeouts, 0);
}

fn icmp_about(p: &mut Peer, offending: &[u8], code: u8, mtu: u16) {
    let mut buf = [0u8; 200];
    let n = emit_unreachable(&mut buf, Ipv4Addr::new(10, 9, 0, 254), US, code, mtu, offending).unwrap();
    p.shard.handle_packet(p.now, &buf[..n]);
}

#[test]
fn icmp_port_unreachable_refuses_a_connection_attempt() {
    let mut p = Peer::new(plain_config());
    let h = p.shard.connect(p.now, p.peer, Some(p.us)).unwrap();
    let syn = p.sent_raw().remove(0);
    icmp_about(&mut p, &syn, 3, 0);
    assert_eq!(p.shard.state(h).unwrap(), State::Closed);
    assert_eq!(p.shard.error(h).unwrap(), Some(Error::ConnectionRefused));
}

#[test]
fn host_unreachable_for_a_syn_ack_gives_the_syn_queue_slot_back() {
    let mut p = Peer::new(plain_config());
    let l = p.shard.listen(p.us, 8).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0));
    let synack = p.sent_raw().remove(0);
    assert_eq!(p.shard.syn_queue_len(l), Ok(1));
    // A quote with another sequence number is not believed (RFC 5927 §4.1)...
    let mut forged = synack.clone();
    forged[24] ^= 0x40;
    icmp_about(&mut p, &forged, 1, 0);
    assert_eq!(p.shard.syn_queue_len(l), Ok(1));
    assert_eq!(p.shard.drops().icmp_unmatched, 1);
    // ...the real one ends the embryonic connection, as Linux's tcp_req_err does: the SYN
    // most likely came from a forged source. Its third ACK then meets no connection.
    icmp_about(&mut p, &synack, 1, 0);
    assert_eq!(p.shard.syn_queue_len(l), Ok(0));
    assert_eq!(p.shard.stats().embryonic_drops, 1);
    p.sent();
    let iss = u32::from_be_bytes([synack[24], synack[25], synack[26], synack[27]]);
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1));
    assert_eq!(p.one().flags, flags("RST"));
    assert_eq!(p.shard.accept(l), Ok(None));
}

#[test]
fn icmp_fragmentation_needed_shrinks_segments() {
    let (mut p, h, iss) = established(plain_config());
    p.shard.set_nodelay(h, true).unwrap();
    p.shard.send(h, &vec![5u8; 1460]).unwrap();
    let big = p.sent_raw().remove(0);
    icmp_about(&mut p, &big, 4, 1000);
    let s = p.sent();
    assert_eq!((s[0].seq, s[0].payload.len()), (iss + 1, 960), "resent at the path MTU less 40");
    assert_eq!(p.shard.stats().pmtu_updates, 1);
}

#[test]
fn without_path_mtu_discovery_segments_leave_without_df_and_keep_their_size() {
    for (mode, df, resent_len) in [(PathMtuDiscovery::Do, true, 960), (PathMtuDiscovery::Dont, false, 1460), (PathMtuDiscovery::Probe, true, 1460)] {
        let (mut p, h, _) = established(plain_config());
        p.shard.set_path_mtu_discovery(h, mode).unwrap();
        p.shard.set_nodelay(h, true).unwrap();
        p.shard.send(h, &vec![5u8; 1460]).unwrap();
        let big = p.sent_raw().remove(0);
        assert_eq!(big[6] & 0x40 != 0, df, "{mode:?}: DF");
        assert!(Ipv4Packet::parse(&big).is_ok(), "{mode:?}: a valid header checksum");
        icmp_about(&mut p, &big, 4, 1000);
        let s = p.sent();
        let len = s.first().map_or(1460, |s| s.payload.len());
        assert_eq!(len, resent_len, "{mode:?}: the size after fragmentation needed");
        assert_eq!(p.shard.tcp_info(h, p.now).unwrap().unwrap().send_mss, resent_len as u16);
    }
}

#[test]
fn icmp_quoting_a_sequence_not_in_flight_is_ignored() {
    let (mut p, h, _) = established(plain_config());
    p.shard.set_nodelay(h, true).unwrap();
    p.shard.send(h, b"x").unwrap();
    let mut seg = p.sent_raw().remove(0);
    // Forge the quoted sequence number (RFC 5927 §4.1).
    seg[24] ^= 0x40;
    icmp_about(&mut p, &seg, 4, 576);
    assert_eq!(p.shard.drops().icmp_unmatched, 1);
    assert_eq!(p.shard.stats().pmtu_updates, 0);
}

#[test]
fn echo_request_gets_an_echo_reply() {
    let mut p = Peer::new(plain_config());
    let mut req = vec![0u8; 20 + 8 + 4];
    emit_ipv4_header(&mut req, PEER, US, PROTO_ICMP, 12, 64, 1);
    req[20..32].copy_from_slice(&[8, 0, 0, 0, 0, 7, 0, 1, b'p', b'i', b'n', b'g']);
    let c = checksum::checksum(&req[20..]);
    req[22..24].copy_from_slice(&c.to_be_bytes());
    p.shard.handle_packet(p.now, &req);
    let out = p.sent_raw();
    let ip = Ipv4Packet::parse(&out[0]).unwrap();
    assert_eq!((ip.src(), ip.dst()), (US, PEER));
    assert_eq!(IcmpMessage::parse(ip.payload()).unwrap(), IcmpMessage::EchoReply { ident: 7, seq: 1 });
}

#[test]
fn bad_packets_are_counted_and_dropped() {
    let (mut p, h, iss) = established(plain_config());
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1).data(b"good"));
    let mut pkt = {
        // Capture what a valid data segment looks like, then damage copies of it.
        let mut buf = vec![0u8; 20 + 20 + 4];
        emit_ipv4_header(&mut buf, PEER, US, 6, 24, 64, 0);
        buf
    };
    pkt[40..44].copy_from_slice(b"evil");
    p.shard.handle_packet(p.now, &pkt); // TCP checksum never filled in
    p.shard.handle_packet(p.now, &pkt[..10]);
    let mut frag = pkt.clone();
    frag[6] = 0x20;
    p.shard.handle_packet(p.now, &frag);
    let mut other = vec![0u8; 28];
    emit_ipv4_header(&mut other, PEER, Ipv4Addr::new(10, 9, 0, 77), 6, 8, 64, 0);
    p.shard.handle_packet(p.now, &other);
    let mut udp = vec![0u8; 28];
    emit_ipv4_header(&mut udp, PEER, US, 17, 8, 64, 0);
    p.shard.handle_packet(p.now, &udp);
    let d = p.shard.drops();
    assert_eq!(
        (d.bad_checksum, d.truncated, d.bad_ip_checksum, d.not_for_us, d.unknown_protocol),
        (1, 1, 1, 1, 1),
        "{d:?}"
    );
    let mut buf = [0u8; 16];
    assert_eq!(p.shard.recv(h, &mut buf).unwrap(), 4, "only the good data arrived");
}

#[test]
fn listener_backlog_overflow_is_counted() {
    let mut p = Peer::new(Config { syn_cookies: SynCookies::Off, ..plain_config() });
    p.shard.listen(p.us, 4).unwrap();
    for i in 0..6u16 {
        let from = std::net::SocketAddr::new(PEER.into(), 50_000 + i);
        p.inject_from(from, Seg::new(flags("SYN"), PEER_ISS, 0));
    }
    assert_eq!(p.sent().len(), 4);
    assert_eq!(p.shard.drops().listen_overflow, 2);
}

#[test]
fn nagle_holds_a_small_write_until_the_ack_and_nodelay_does_not() {
    let (mut p, h, iss) = established(plain_config());
    p.shard.send(h, b"first").unwrap();
    assert_eq!(p.one().payload, b"first", "nothing in flight: a small segment may go");
    p.shard.send(h, b"second").unwrap();
    p.none();
    p.shard.send(h, b"third").unwrap();
    p.none();
    // The ACK of the first releases the rest as one segment.
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 6));
    assert_eq!(p.one().payload, b"secondthird");
    p.shard.set_nodelay(h, true).unwrap();
    p.shard.send(h, b"a").unwrap();
    assert_eq!(p.one().payload, b"a", "TCP_NODELAY: a small write goes at once");
    p.shard.send(h, b"b").unwrap();
    assert_eq!(p.one().payload, b"b", "even with data in flight");
    assert!(p.shard.nodelay(h).unwrap());
}
