//! The counters a user reads in `Stack::stats()` (netstat -s style), each moved by a
//! scenario that exercises it: packets in and out, ICMP, duplicates, reassembly limits,
//! segments without ACK, non-SYNs to listeners, bad options, fragments, a full control
//! queue, connection timeouts and embryonic drops. Counters that other test files already
//! pin down are asserted there; the last test checks that every counter is asserted by
//! some test, so a new counter cannot ship unexercised.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::peer::{PEER, Peer, Seg, US, flags, plain_config};
use ringtcp_transport::fincache::FinCacheStats;
use ringtcp_transport::wire::{IPV4_HEADER_LEN, PROTO_ICMP, TcpOptions, checksum, emit_ipv4_header, fill_tcp_checksum_v4};
use ringtcp_transport::{Config, Drops, Error, SocketHandle, State, Stats};

const PEER_ISS: u32 = 1000;

fn established(cfg: Config) -> (Peer, SocketHandle, u32) {
    let mut p = Peer::new(cfg);
    let l = p.shard.listen(p.us, 8).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0));
    let iss = p.one().seq;
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1));
    let h = p.shard.accept(l).unwrap().unwrap();
    (p, h, iss)
}

/// An IPv4 packet carrying `s` from the peer to us, as `Peer::inject` would send it.
fn tcp_packet(s: &Seg) -> Vec<u8> {
    let p = Peer::new(plain_config());
    common::peer::packet(p.peer, p.us, s)
}

fn echo_request(ident: u16) -> Vec<u8> {
    let mut req = vec![0u8; IPV4_HEADER_LEN + 8 + 4];
    emit_ipv4_header(&mut req, PEER, US, PROTO_ICMP, 12, 64, 1);
    let id = ident.to_be_bytes();
    req[20..32].copy_from_slice(&[8, 0, 0, 0, id[0], id[1], 0, 1, b'p', b'i', b'n', b'g']);
    let c = checksum::checksum(&req[20..]);
    req[22..24].copy_from_slice(&c.to_be_bytes());
    req
}

#[test]
fn every_packet_in_and_out_is_counted_at_ip_and_tcp_and_icmp_level() {
    let (mut p, h, iss) = established(plain_config());
    let sent_so_far = 1; // the SYN-ACK
    let s = p.shard.stats().clone();
    assert_eq!(
        (s.ip_in_receives, s.tcp_in_segs),
        (2, 2),
        "SYN and ACK: {s:?}"
    );
    assert_eq!(
        (s.ip_out_requests, s.tcp_out_segs),
        (sent_so_far, sent_so_far),
        "{s:?}"
    );

    p.shard.set_nodelay(h, true).unwrap();
    p.shard.send(h, b"one").unwrap();
    p.shard.send(h, b"two").unwrap();
    let out = p.sent().len() as u64;
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 7));
    let s = p.shard.stats().clone();
    assert_eq!((s.ip_in_receives, s.tcp_in_segs), (3, 3), "{s:?}");
    assert_eq!(
        (s.ip_out_requests, s.tcp_out_segs),
        (sent_so_far + out, sent_so_far + out),
        "{s:?}"
    );
    assert_eq!((s.icmp_in, s.icmp_out), (0, 0));

    // A ping is an IP packet in and one out, but no TCP segment.
    p.shard.handle_packet(p.now, &echo_request(9));
    assert_eq!(p.sent_raw().len(), 1, "the echo reply");
    let s = p.shard.stats().clone();
    assert_eq!((s.icmp_in, s.icmp_out), (1, 1), "{s:?}");
    assert_eq!((s.ip_in_receives, s.tcp_in_segs), (4, 3), "{s:?}");
    assert_eq!(
        (s.ip_out_requests, s.tcp_out_segs),
        (sent_so_far + out + 1, sent_so_far + out),
        "{s:?}"
    );
}

#[test]
fn data_received_twice_counts_as_a_duplicate_and_is_acked_at_once() {
    let (mut p, h, iss) = established(plain_config());
    p.inject(Seg::new(flags("ACK|PSH"), PEER_ISS + 1, iss + 1).data(b"abc"));
    p.advance(Duration::from_millis(200));
    p.sent();
    assert_eq!(p.shard.stats().duplicate_segments, 0);
    p.inject(Seg::new(flags("ACK|PSH"), PEER_ISS + 1, iss + 1).data(b"abc"));
    assert_eq!(
        p.one(),
        Seg::new(flags("ACK"), iss + 1, PEER_ISS + 4).win(65_532),
        "the duplicate is answered at once"
    );
    assert_eq!(p.shard.stats().duplicate_segments, 1);
    let mut buf = [0u8; 8];
    assert_eq!(p.shard.recv(h, &mut buf).unwrap(), 3, "delivered once");
}

#[test]
fn out_of_order_data_past_the_range_limit_is_dropped_and_counted() {
    let cfg = Config {
        reassembly_ranges: 2,
        ..plain_config()
    };
    let (mut p, h, iss) = established(cfg);
    // Three separate holes' worth of data: two ranges are kept, the third is not.
    for off in [10u32, 20, 30] {
        p.inject(Seg::new(flags("ACK"), PEER_ISS + 1 + off, iss + 1).data(b"xx"));
        assert_eq!(
            p.one().ack,
            PEER_ISS + 1,
            "each one is answered with a duplicate ACK"
        );
    }
    let s = (
        p.shard.stats().ooo_segments,
        p.shard.drops().reassembly_full,
    );
    assert_eq!(s, (2, 1), "(held out of order, dropped)");
    // The sender retransmits from the hole; everything held comes out in order.
    let mut data = vec![b'a'; 10];
    data.extend_from_slice(b"xx");
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1).data(&data));
    let mut buf = [0u8; 64];
    assert_eq!(
        p.shard.recv(h, &mut buf).unwrap(),
        12,
        "the first range joined; the dropped one is not there"
    );
}

#[test]
fn segments_without_ack_are_dropped_and_counted_in_synchronized_and_syn_sent_states() {
    let (mut p, h, _) = established(plain_config());
    p.inject(Seg::new(flags("PSH"), PEER_ISS + 1, 0).data(b"no ack"));
    assert_eq!(p.shard.drops().no_ack, 1);
    p.none();
    let mut buf = [0u8; 8];
    assert_eq!(
        p.shard.recv(h, &mut buf),
        Err(Error::WouldBlock),
        "the data was not taken"
    );

    // SYN-SENT: neither SYN nor RST.
    let mut p = Peer::new(plain_config());
    let c = p.shard.connect(p.now, p.peer, Some(p.us)).unwrap();
    let syn = p.one();
    p.inject(Seg::new(flags("ACK"), PEER_ISS, syn.seq + 1).data(b"?"));
    assert_eq!(p.shard.drops().no_ack, 1);
    assert_eq!(p.shard.state(c).unwrap(), State::SynSent);
}

#[test]
fn non_syn_segments_to_a_listener_are_counted_and_only_an_ack_gets_a_rst() {
    let mut p = Peer::new(plain_config());
    p.shard.listen(p.us, 8).unwrap();
    p.inject(Seg::new(flags("ACK"), PEER_ISS, 5555));
    let rst = p.one();
    assert_eq!(
        (rst.flags, rst.seq),
        (flags("RST"), 5555),
        "RFC 9293 §3.10.7.2: <SEQ=SEG.ACK><CTL=RST>"
    );
    p.inject(Seg::new(flags("FIN"), PEER_ISS, 0));
    p.none();
    assert_eq!(p.shard.drops().listen_non_syn, 2);
    assert_eq!(p.shard.connection_count(), 0);
}

#[test]
fn an_option_with_an_impossible_length_is_a_counted_drop() {
    let mut p = Peer::new(plain_config());
    p.shard.listen(p.us, 8).unwrap();
    let mut pkt = tcp_packet(&Seg::new(flags("SYN"), PEER_ISS, 0).opts(TcpOptions {
        mss: Some(1460),
        ..TcpOptions::default()
    }));
    // The MSS option's length byte: 1 cannot cover its own kind and length.
    let opt = IPV4_HEADER_LEN + 20;
    assert_eq!(pkt[opt], 2, "MSS kind");
    pkt[opt + 1] = 1;
    pkt[IPV4_HEADER_LEN + 16..IPV4_HEADER_LEN + 18].fill(0);
    fill_tcp_checksum_v4(&mut pkt[IPV4_HEADER_LEN..], PEER, US);
    p.shard.handle_packet(p.now, &pkt);
    p.none();
    assert_eq!(p.shard.drops().bad_option, 1);
    assert_eq!(p.shard.stats().passive_opens, 0);
}

#[test]
fn ipv4_fragments_are_counted_and_never_reach_tcp() {
    let mut p = Peer::new(plain_config());
    p.shard.listen(p.us, 8).unwrap();
    for (flags_frag, what) in [(0x2000u16, "more fragments"), (0x0010, "offset 128")] {
        let mut pkt = tcp_packet(&Seg::new(flags("SYN"), PEER_ISS, 0));
        pkt[6..8].copy_from_slice(&flags_frag.to_be_bytes());
        pkt[10..12].fill(0);
        let c = checksum::checksum(&pkt[..IPV4_HEADER_LEN]);
        pkt[10..12].copy_from_slice(&c.to_be_bytes());
        p.shard.handle_packet(p.now, &pkt);
        p.none();
        assert!(p.shard.drops().fragment > 0, "{what}");
    }
    assert_eq!(p.shard.drops().fragment, 2);
    assert_eq!(p.shard.stats().tcp_in_segs, 0);
}

#[test]
fn a_full_control_queue_drops_further_rsts_and_counts_them() {
    let cfg = Config {
        control_queue: 2,
        ..plain_config()
    };
    let mut p = Peer::new(cfg);
    // SYNs to a closed port, not transmitted in between: two RSTs fit, three do not.
    for i in 0..5 {
        p.inject(Seg::new(flags("SYN"), PEER_ISS + i * 100, 0));
    }
    assert_eq!(p.shard.drops().control_queue_full, 3);
    let rsts = p.sent();
    assert_eq!(rsts.len(), 2, "{rsts:?}");
    assert!(rsts.iter().all(|s| s.flags == flags("RST|ACK")));
    assert_eq!(
        p.shard.stats().out_rsts,
        2,
        "only RSTs sent are counted as sent"
    );
}

#[test]
fn a_syn_never_completed_times_out_as_an_embryonic_drop() {
    let cfg = Config {
        synack_retries: 2,
        ..plain_config()
    };
    let mut p = Peer::new(cfg);
    let l = p.shard.listen(p.us, 8).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0));
    p.one();
    for _ in 0..20 {
        p.advance(Duration::from_secs(10));
        p.sent();
    }
    let s = p.shard.stats().clone();
    assert_eq!(
        (s.timeouts, s.embryonic_drops, s.attempt_fails),
        (1, 1, 1),
        "{s:?}"
    );
    assert_eq!(
        s.rto_timeouts, 2,
        "two SYN-ACK retransmissions first: {s:?}"
    );
    assert_eq!(p.shard.accept(l).unwrap(), None);

    // Closing a listener drops the connections still in its SYN queue: no timeout.
    p.inject(Seg::new(flags("SYN"), PEER_ISS + 50_000, 0));
    p.one();
    p.shard.close_listener(l).unwrap();
    assert_eq!(
        p.one().flags,
        flags("RST|ACK"),
        "the half-open peer is told"
    );
    let s = p.shard.stats().clone();
    assert_eq!((s.timeouts, s.embryonic_drops), (1, 2), "{s:?}");
    assert_eq!(p.shard.connection_count(), 0);
}

#[test]
fn unacknowledged_data_times_the_connection_out_after_max_retries() {
    let cfg = Config {
        max_retries: 3,
        ..plain_config()
    };
    let (mut p, h, _) = established(cfg);
    p.shard.set_nodelay(h, true).unwrap();
    p.shard.send(h, b"anyone there?").unwrap();
    p.one();
    for _ in 0..30 {
        p.advance(Duration::from_secs(30));
        p.sent();
    }
    let s = p.shard.stats().clone();
    assert_eq!((s.rto_timeouts, s.timeouts), (3, 1), "{s:?}");
    assert_eq!(s.tcp_retrans_segs, 3, "{s:?}");
    assert_eq!(p.shard.error(h).unwrap(), Some(Error::TimedOut));
}

/// Names of the fields of `FinCacheStats`, from its `Debug` form (`Name { a: 0, b: .. }`).
fn fin_cache_counter_names() -> Vec<String> {
    let text = format!("{:?}", FinCacheStats::default());
    let body = text.split_once('{').map(|(_, b)| b).unwrap_or_default();
    let mut names = Vec::new();
    let mut depth = 0;
    let mut field = String::new();
    for ch in body.chars() {
        match ch {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => names.push(std::mem::take(&mut field).trim().to_string()),
            ',' if depth == 0 => field.clear(),
            c if depth == 0 && (c.is_ascii_alphanumeric() || c == '_') => field.push(c),
            _ => {}
        }
    }
    names
}

#[test]
fn every_counter_is_asserted_by_some_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let mut sources = String::new();
    for dir in ["transport/tests", "runtime/tests", "ringtcp/tests"] {
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("counters.rs")
                {
                    sources.push_str(&std::fs::read_to_string(&path).unwrap());
                } else if path.ends_with("counters.rs") {
                    // This file: only its scenarios, not the list below.
                    let text = std::fs::read_to_string(&path).unwrap();
                    let cut = text
                        .find("fn fin_cache_counter_names")
                        .unwrap_or(text.len());
                    sources.push_str(&text[..cut]);
                }
            }
        }
    }
    let names: BTreeSet<String> = Stats::default()
        .iter()
        .chain(Drops::default().iter())
        .map(|(n, _)| n.to_string())
        .chain(fin_cache_counter_names())
        .collect();
    assert!(names.len() > 50, "counters found: {names:?}");
    let mentioned = |name: &str| {
        sources.match_indices(name).any(|(at, _)| {
            let before = sources[..at].chars().next_back();
            let after = sources[at + name.len()..].chars().next();
            before == Some('.') && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    };
    let unasserted: Vec<&String> = names.iter().filter(|n| !mentioned(n)).collect();
    assert!(
        unasserted.is_empty(),
        "counters no test reads (give each a scenario that moves it): {unasserted:?}"
    );
}
