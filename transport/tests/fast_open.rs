//! Segment-level tests of TCP Fast Open (RFC 7413). Server side: cookie requests, data in
//! the SYN taken with a valid cookie and handed to the application before the handshake
//! completes, wrong cookies, the per-listener queue, resets. Client side: asking for a
//! cookie, SYN data with it or (cookie-less mode) without, data the server did not take,
//! SYN retransmission.

mod common;

use std::net::{Ipv4Addr, SocketAddr};

use common::peer::{PEER, PEER_PORT, Peer, Seg, flags, plain_config};
use ringtcp_transport::wire::{FastOpenOption, TcpOptions, emit_unreachable};
use ringtcp_transport::{Config, Error, FastOpenServer, ListenerHandle, SocketOptions, State};

const PEER_ISS: u32 = 5000;

fn listening(cfg: Config, qlen: Option<usize>) -> (Peer, ListenerHandle) {
    let mut p = Peer::new(cfg);
    let l = p.shard.listen_with(p.us, 8, SocketOptions { fast_open: qlen, ..SocketOptions::default() }).unwrap();
    (p, l)
}

fn syn(cookie: Option<FastOpenOption>) -> Seg {
    Seg::new(flags("SYN"), PEER_ISS, 0).opts(TcpOptions { mss: Some(1460), fast_open: cookie, ..TcpOptions::default() })
}

/// A cookie for the peer, asked for with an empty option (kind 34).
fn get_cookie(p: &mut Peer) -> FastOpenOption {
    p.inject(syn(FastOpenOption::new(false, &[])).data(b"ignored"));
    let synack = p.one();
    assert_eq!(synack.ack, PEER_ISS + 1, "a cookie request's data is not taken");
    let cookie = synack.opts.fast_open.expect("the SYN-ACK carries a cookie");
    assert_eq!((cookie.experimental, cookie.cookie().len()), (false, 8));
    // Finish that handshake from another port's point of view: reset it.
    p.inject(Seg::new(flags("RST"), PEER_ISS + 1, 0));
    cookie
}

#[test]
fn a_cookie_request_gets_a_cookie_and_an_ordinary_handshake() {
    let (mut p, l) = listening(plain_config(), Some(4));
    let cookie = get_cookie(&mut p);
    assert_eq!(p.shard.stats().fast_open_cookies_sent, 1);
    assert_eq!(p.shard.accept(l).unwrap(), None, "nothing to accept before the handshake");
    // The same client asking again gets the same cookie (it depends on the addresses and
    // the key only).
    assert_eq!(get_cookie(&mut p), cookie);
}

#[test]
fn data_in_a_syn_with_a_valid_cookie_reaches_the_application_before_the_handshake_ends() {
    let (mut p, l) = listening(plain_config(), Some(4));
    let cookie = get_cookie(&mut p);
    p.inject(syn(Some(cookie)).data(b"GET / HTTP/1.0\r\n\r\n"));
    let synack = p.one();
    assert_eq!(synack.ack, PEER_ISS + 1 + 18, "the SYN-ACK acknowledges the SYN's data");
    assert_eq!(synack.opts.fast_open, None, "a valid cookie is not sent back");
    // Handed over at once, in SYN-RECEIVED, with its data readable.
    let h = p.shard.accept(l).unwrap().expect("a Fast Open connection is acceptable at once");
    assert_eq!(p.shard.state(h).unwrap(), State::SynReceived);
    let mut buf = [0u8; 64];
    assert_eq!(p.shard.recv(h, &mut buf).unwrap(), 18);
    assert_eq!(&buf[..18], b"GET / HTTP/1.0\r\n\r\n");
    let info = p.shard.tcp_info(h, p.now).unwrap().unwrap();
    assert!(info.fast_open && info.syn_data);
    assert_eq!(p.shard.stats().fast_open_accepted, 1);
    // The answer leaves before the client's ACK (RFC 7413 §4.2.2).
    assert_eq!(p.shard.send(h, b"HTTP/1.0 200 OK\r\n\r\n").unwrap(), 19);
    let answer = p.one();
    assert_eq!((answer.seq, answer.payload.len()), (synack.seq + 1, 19));
    // The client's ACK completes the handshake; the connection is not queued twice.
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 19, synack.seq + 20));
    assert_eq!(p.shard.state(h).unwrap(), State::Established);
    assert_eq!(p.shard.accept(l).unwrap(), None);
    p.shard.check_invariants().unwrap();
}

#[test]
fn before_the_clients_ack_the_whole_initial_window_carries_data() {
    // Our unacknowledged SYN takes no room: neither a segment of the initial window of
    // ten nor a byte of the window the client's SYN offered (10 segments of 1,000 bytes
    // exactly, as in packetdrill's fastopen/server/opt34/simple3.pkt).
    let (mut p, l) = listening(plain_config(), Some(4));
    let cookie = get_cookie(&mut p);
    let opts = TcpOptions { mss: Some(1000), fast_open: Some(cookie), ..TcpOptions::default() };
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).win(10_000).opts(opts).data(b"hello"));
    let synack = p.one();
    let h = p.shard.accept(l).unwrap().unwrap();
    assert_eq!(p.shard.state(h).unwrap(), State::SynReceived);
    p.shard.set_nodelay(h, true).unwrap();
    assert_eq!(p.shard.send(h, &[3u8; 15_000]).unwrap(), 15_000);
    let data: Vec<Seg> = p.sent().into_iter().filter(|s| !s.payload.is_empty()).collect();
    assert_eq!(data.len(), 10, "{:?}", data.iter().map(|s| s.payload.len()).collect::<Vec<_>>());
    assert!(data.iter().all(|s| s.payload.len() == 1000));
    assert_eq!((data[0].seq, data[9].seq), (synack.seq + 1, synack.seq + 9001));
}

#[test]
fn a_wrong_cookie_gets_the_right_one_in_the_clients_form_and_no_data_is_taken() {
    let (mut p, l) = listening(plain_config(), Some(4));
    let right = get_cookie(&mut p);
    p.inject(syn(FastOpenOption::new(true, &[0x55; 8])).data(b"forged"));
    let synack = p.one();
    assert_eq!(synack.ack, PEER_ISS + 1);
    let sent = synack.opts.fast_open.expect("a fresh cookie");
    assert!(sent.experimental, "answered in the experimental form the client used");
    assert_eq!(sent.cookie(), right.cookie());
    assert_eq!(p.shard.accept(l).unwrap(), None);
    assert_eq!(p.shard.stats().fast_open_accepted, 0);
}

#[test]
fn a_listener_with_a_key_of_its_own_takes_only_its_own_cookies() {
    let (mut p, l) = listening(plain_config(), Some(4));
    let shards = get_cookie(&mut p);
    // Linux's TCP_FASTOPEN_KEY on the listening socket (sockopt-fastopen-key.pkt).
    p.shard.set_listener_fast_open_key(l, [9; 16]).unwrap();
    let own = get_cookie(&mut p);
    assert_ne!(own.cookie(), shards.cookie(), "the listener's cookies come from its own key");
    // The shard's cookie is now a wrong one here: no data taken, the right cookie sent.
    p.inject(syn(Some(shards)).data(b"old cookie"));
    let synack = p.one();
    assert_eq!(synack.ack, PEER_ISS + 1);
    assert_eq!(synack.opts.fast_open.map(|c| c.cookie().to_vec()), Some(own.cookie().to_vec()));
    p.inject(Seg::new(flags("RST"), PEER_ISS + 1, 0));
    p.inject(syn(Some(own)).data(b"new cookie"));
    assert_eq!(p.one().ack, PEER_ISS + 1 + 10, "its own cookie's data is taken");
    assert!(p.shard.accept(l).unwrap().is_some());
}

#[test]
fn a_listener_that_did_not_ask_ignores_the_option() {
    let (mut p, l) = listening(plain_config(), None);
    p.inject(syn(FastOpenOption::new(false, &[])).data(b"x"));
    let synack = p.one();
    assert_eq!((synack.ack, synack.opts.fast_open), (PEER_ISS + 1, None));
    assert_eq!(p.shard.accept(l).unwrap(), None);
    // Unless the shard serves every listener (Linux's tcp_fastopen 0x400).
    let cfg = Config { fast_open: FastOpenServer { every_listener: true, ..FastOpenServer::default() }, ..plain_config() };
    let (mut p, _) = listening(cfg, None);
    p.inject(syn(FastOpenOption::new(false, &[])));
    assert!(p.one().opts.fast_open.is_some());
}

#[test]
fn the_fast_open_queue_bounds_connections_still_in_their_handshake() {
    let (mut p, l) = listening(plain_config(), Some(1));
    let cookie = get_cookie(&mut p);
    p.inject(syn(Some(cookie)).data(b"one"));
    let first = p.one();
    assert_eq!(first.ack, PEER_ISS + 4);
    // A second client port while the first is still in SYN-RECEIVED: an ordinary
    // handshake, its data not taken.
    p.inject_from(SocketAddr::new(PEER.into(), PEER_PORT + 1), syn(Some(cookie)).data(b"two"));
    assert_eq!(p.one().ack, PEER_ISS + 1);
    // Once the first completes its handshake, the queue has room again.
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 4, first.seq + 1));
    let h = p.shard.accept(l).unwrap().unwrap();
    assert_eq!(p.shard.state(h).unwrap(), State::Established);
    p.inject_from(SocketAddr::new(PEER.into(), PEER_PORT + 2), syn(Some(cookie)).data(b"three"));
    assert_eq!(p.one().ack, PEER_ISS + 6);
    p.shard.check_invariants().unwrap();
}

#[test]
fn a_reset_after_the_application_took_the_connection_is_a_reset() {
    let (mut p, l) = listening(plain_config(), Some(4));
    let cookie = get_cookie(&mut p);
    p.inject(syn(Some(cookie)).data(b"hi"));
    p.one();
    let h = p.shard.accept(l).unwrap().unwrap();
    p.inject(Seg::new(flags("RST|ACK"), PEER_ISS + 3, 0));
    assert_eq!(p.shard.error(h).unwrap(), Some(Error::ConnectionReset));
}

// ---- the client side ----

/// Opens a Fast Open connection from local port `port` and returns it with the SYN sent.
fn client_syn(p: &mut Peer, port: u16, data: &[u8]) -> (ringtcp_transport::SocketHandle, usize, Seg) {
    let local = SocketAddr::new(p.us.ip(), port);
    let (h, taken) = p.shard.connect_fast_open(p.now, p.peer, Some(local), SocketOptions::default(), data).unwrap();
    let syn = p.one();
    assert!(syn.flags.syn() && !syn.flags.ack());
    (h, taken, syn)
}

/// Delivers `s` from the peer to local port `port`.
fn to_port(p: &mut Peer, port: u16, s: Seg) {
    let buf = common::peer::packet(p.peer, SocketAddr::new(p.us.ip(), port), &s);
    p.shard.handle_packet(p.now, &buf);
}

/// The server's SYN-ACK (ISS 9000, MSS 1400) acknowledging up to `ack`.
fn synack(ack: u32, cookie: Option<FastOpenOption>) -> Seg {
    synack_with_mss(ack, 1400, cookie)
}

#[test]
fn a_client_asks_for_a_cookie_then_sends_its_first_data_in_the_syn() {
    let mut p = Peer::new(plain_config());
    // No cookie yet: the SYN asks for one and carries nothing.
    let (h, taken, syn) = client_syn(&mut p, 5001, b"early data");
    assert_eq!((taken, syn.payload.len()), (0, 0));
    assert_eq!(syn.opts.fast_open, FastOpenOption::new(false, &[]), "a cookie request");
    let cookie = FastOpenOption::new(false, &[7; 8]).unwrap();
    to_port(&mut p, 5001, synack(syn.seq + 1, Some(cookie)));
    assert_eq!(p.shard.state(h).unwrap(), State::Established);
    assert!(p.shard.has_fast_open_cookie(p.peer.ip()));
    p.sent();

    // With the cookie: one segment's worth of data (the server's MSS less 40 bytes of
    // option room, as Linux sizes it) leaves in the SYN, with the cookie.
    let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    let (h, taken, syn) = client_syn(&mut p, 5002, &data);
    assert_eq!(taken, 1360);
    assert_eq!(syn.payload, &data[..1360]);
    assert_eq!(syn.opts.fast_open, Some(cookie));
    to_port(&mut p, 5002, synack(syn.seq + 1 + 1360, None));
    let info = p.shard.tcp_info(h, p.now).unwrap().unwrap();
    assert!(info.syn_data, "the server took the SYN's data");
    assert_eq!(info.bytes_acked, 1360);
    assert_eq!(p.shard.stats().fast_open_connects, 2);
}

/// From local ports 5001 and 5002: a cookie request the server leaves unanswered, then
/// the experimental-form request it answers with `cookie`.
fn learn_in_the_experimental_form(p: &mut Peer, cookie: FastOpenOption) {
    let (_, _, syn) = client_syn(p, 5001, b"");
    to_port(p, 5001, synack(syn.seq + 1, None));
    p.sent();
    let (_, _, syn) = client_syn(p, 5002, b"");
    assert!(syn.opts.fast_open.is_some_and(|o| o.experimental), "after an unanswered request, the experimental form");
    to_port(p, 5002, synack(syn.seq + 1, Some(cookie)));
    p.sent();
}

#[test]
fn an_unanswered_cookie_request_is_tried_once_in_the_experimental_form() {
    let mut p = Peer::new(plain_config());
    // A server that ignores Fast Open: kind 34, then (perhaps it knows only the
    // experimental option) once as option 254, then kind 34 for good.
    let mut forms = Vec::new();
    for port in 5001..5005 {
        let (h, _, syn) = client_syn(&mut p, port, b"");
        forms.push(syn.opts.fast_open.map(|o| (o.experimental, o.cookie().len())));
        to_port(&mut p, port, synack(syn.seq + 1, None));
        assert_eq!(p.shard.state(h).unwrap(), State::Established);
        p.sent();
    }
    assert_eq!(forms, [Some((false, 0)), Some((true, 0)), Some((false, 0)), Some((false, 0))]);

    // A server that answers the experimental request: its cookie goes back in its form,
    // until it hands out one in the assigned form.
    let mut p = Peer::new(plain_config());
    let old_form = FastOpenOption::new(true, &[0x12, 0x34, 0xab, 0xcd]).unwrap();
    learn_in_the_experimental_form(&mut p, old_form);
    let (_, taken, syn) = client_syn(&mut p, 5003, b"GET /");
    assert_eq!((taken, syn.opts.fast_open), (5, Some(old_form)));
    let new_form = FastOpenOption::new(false, &[0xab, 0xcd, 0x56, 0x78]).unwrap();
    to_port(&mut p, 5003, synack(syn.seq + 1 + 5, Some(new_form)));
    p.sent();
    let (_, _, syn) = client_syn(&mut p, 5004, b"GET /");
    assert_eq!(syn.opts.fast_open, Some(new_form));
}

#[test]
fn the_servers_mss_is_kept_from_every_fast_open_syn_ack_not_only_those_with_a_cookie() {
    let mut p = client_with_cookie();
    // Cached with the cookie: MSS 1400, so 1360 bytes ride in the SYN.
    let data = vec![5u8; 3000];
    let (_, taken, syn) = client_syn(&mut p, 5002, &data);
    assert_eq!(taken, 1360);
    // This SYN-ACK takes the data and announces MSS 1000, with no cookie (it accepted ours).
    let smaller = Seg::new(flags("SYN|ACK"), 9000, syn.seq + 1 + 1360).opts(TcpOptions { mss: Some(1000), ..TcpOptions::default() }).win(65_535);
    to_port(&mut p, 5002, smaller);
    p.sent();
    // The next SYN is sized by the MSS last heard (Linux's tcp_fastopen_cache_set), and
    // still carries the cookie.
    let (_, taken, syn) = client_syn(&mut p, 5003, &data);
    assert_eq!((taken, syn.payload.len()), (960, 960));
    assert_eq!(syn.opts.fast_open, FastOpenOption::new(false, &[7; 8]));
}

#[test]
fn without_cookies_the_syn_carries_data_and_no_option_and_an_unasked_cookie_is_not_kept() {
    let mut p = Peer::new(plain_config());
    let no_cookie = SocketOptions { fast_open_no_cookie: true, ..SocketOptions::default() };
    let open = |p: &mut Peer, port: u16, data: &[u8]| {
        let local = SocketAddr::new(p.us.ip(), port);
        let (h, taken) = p.shard.connect_fast_open(p.now, p.peer, Some(local), no_cookie, data).unwrap();
        (h, taken, p.one())
    };
    // Nothing known of the server: the data fits our own MSS (1460) less 40 bytes.
    let (h, taken, syn) = open(&mut p, 5001, &[1u8; 1000]);
    assert_eq!((taken, syn.payload.len()), (1000, 1000));
    assert_eq!(syn.opts.fast_open, None, "no cookie and no request");
    // The server takes it and announces MSS 940.
    to_port(&mut p, 5001, synack_with_mss(syn.seq + 1 + 1000, 940, None));
    assert!(p.shard.tcp_info(h, p.now).unwrap().unwrap().syn_data);
    p.sent();
    // The next SYN is sized by that MSS; a cookie this server gives anyway is not kept.
    let data = vec![2u8; 1900];
    let (h, taken, syn) = open(&mut p, 5002, &data);
    assert_eq!((taken, syn.payload.len()), (900, 900));
    to_port(&mut p, 5002, synack_with_mss(syn.seq + 1 + 900, 1460, FastOpenOption::new(false, &[7; 8])));
    assert_eq!(p.shard.state(h).unwrap(), State::Established);
    assert!(!p.shard.has_fast_open_cookie(p.peer.ip()), "an unsolicited cookie");
    p.sent();
    // With cookies back on, the next SYN asks for one.
    let (_, taken, syn) = client_syn(&mut p, 5003, b"data");
    assert_eq!((taken, syn.opts.fast_open), (0, FastOpenOption::new(false, &[])));
}

fn synack_with_mss(ack: u32, mss: u16, cookie: Option<FastOpenOption>) -> Seg {
    Seg::new(flags("SYN|ACK"), 9000, ack).opts(TcpOptions { mss: Some(mss), fast_open: cookie, ..TcpOptions::default() }).win(65_535)
}

#[test]
fn a_simultaneous_open_answers_with_a_syn_ack_that_carries_no_cookie() {
    let mut p = client_with_cookie();
    let (h, taken, syn) = client_syn(&mut p, 5002, b"hello");
    assert_eq!((taken, syn.opts.fast_open.is_some()), (5, true));
    // The peer's own SYN crosses ours (RFC 9293 §3.5, figure 8).
    to_port(&mut p, 5002, Seg::new(flags("SYN"), 7000, 0).opts(TcpOptions { mss: Some(1400), ..TcpOptions::default() }));
    assert_eq!(p.shard.state(h).unwrap(), State::SynReceived);
    let synack = p.one();
    assert_eq!((synack.flags, synack.seq, synack.ack), (flags("SYN|ACK"), syn.seq, 7001));
    // A Fast Open option on a SYN-ACK means a server's cookie (RFC 7413 §4.1.2).
    assert_eq!(synack.opts.fast_open, None);
    assert!(synack.payload.is_empty());
}

/// A client shard that holds a cookie from the peer (got on a first connection).
fn client_with_cookie() -> Peer {
    let mut p = Peer::new(plain_config());
    let (_, _, syn) = client_syn(&mut p, 5001, b"");
    to_port(&mut p, 5001, synack(syn.seq + 1, FastOpenOption::new(false, &[7; 8])));
    p.sent();
    p
}

#[test]
fn syn_data_the_server_did_not_take_is_sent_again_at_once() {
    let mut p = client_with_cookie();
    let (h, taken, syn) = client_syn(&mut p, 5002, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(taken, 18);
    // The SYN-ACK acknowledges the SYN only (the server dropped the data: RFC 7413 §4.1.2).
    to_port(&mut p, 5002, synack(syn.seq + 1, None));
    let again: Vec<Seg> = p.sent().into_iter().filter(|s| !s.payload.is_empty()).collect();
    assert_eq!(again.len(), 1, "{again:#?}");
    assert_eq!((again[0].seq, again[0].payload.as_slice()), (syn.seq + 1, &b"GET / HTTP/1.0\r\n\r\n"[..]));
    assert!(!p.shard.tcp_info(h, p.now).unwrap().unwrap().syn_data);
}

#[test]
fn a_retransmitted_syn_carries_neither_data_nor_the_option() {
    let mut p = client_with_cookie();
    let (h, _, first) = client_syn(&mut p, 5002, b"hello");
    assert_eq!(first.payload, b"hello");
    p.advance(std::time::Duration::from_secs(1));
    let second = p.one();
    assert!(second.flags.syn());
    assert_eq!((second.payload.len(), second.opts.fast_open), (0, None));
    // The server answers the retransmission: the data follows the handshake.
    to_port(&mut p, 5002, synack(second.seq + 1, None));
    assert_eq!(p.shard.state(h).unwrap(), State::Established);
    assert!(p.sent().iter().any(|s| s.payload == b"hello"));
}

#[test]
fn a_cookie_of_an_invalid_length_is_not_cached_and_the_old_one_stays() {
    let mut p = client_with_cookie();
    let (_, _, syn) = client_syn(&mut p, 5002, b"hello");
    assert_eq!(syn.opts.fast_open, FastOpenOption::new(false, &[7; 8]));
    // A two-byte cookie (RFC 7413 §4.1.1: 4 to 16 bytes) is no cookie.
    to_port(&mut p, 5002, synack(syn.seq + 6, FastOpenOption::new(false, &[1, 2])));
    p.sent();
    let (_, taken, next) = client_syn(&mut p, 5003, b"again");
    assert_eq!(taken, 5);
    assert_eq!(next.opts.fast_open, FastOpenOption::new(false, &[7; 8]), "the valid cookie is used again");
}

#[test]
fn fragmentation_needed_for_a_syn_with_data_resends_the_syn_at_once_with_a_smaller_mss() {
    let mut p = client_with_cookie();
    let local = SocketAddr::new(p.us.ip(), 5002);
    let (_, taken) = p.shard.connect_fast_open(p.now, p.peer, Some(local), SocketOptions::default(), &[9u8; 1200]).unwrap();
    assert!(taken > 760, "the SYN carries more than the path will take: {taken}");
    let syn = p.sent_raw().remove(0);
    let mut buf = [0u8; 200];
    let n = emit_unreachable(&mut buf, Ipv4Addr::new(10, 9, 0, 254), common::peer::US, 4, 800, &syn).unwrap();
    p.shard.handle_packet(p.now, &buf[..n]);
    // At once, not an RTO later: a bare SYN offering the path's MSS, without Fast Open.
    let again = p.one();
    assert!(again.flags.syn() && again.payload.is_empty());
    assert_eq!((again.opts.mss, again.opts.fast_open), (Some(760), None));
    // The server offers 1,400; the data then goes in segments the path carries.
    to_port(&mut p, 5002, synack(again.seq + 1, None));
    let data: Vec<Seg> = p.sent().into_iter().filter(|s| !s.payload.is_empty()).collect();
    assert!(data.iter().all(|s| s.payload.len() <= 760), "{:?}", data.iter().map(|s| s.payload.len()).collect::<Vec<_>>());
    assert_eq!(data.iter().map(|s| s.payload.len()).sum::<usize>(), taken);
}

#[test]
fn syn_data_acknowledged_in_part_is_not_counted_as_taken_and_its_resent_rest_is_in_flight_until_acked() {
    let mut p = client_with_cookie();
    let (h, taken, syn) = client_syn(&mut p, 5002, &[3u8; 1000]);
    assert_eq!(taken, 1000);
    // The SYN-ACK takes 100 of the 1,000 bytes: the rest goes again at once.
    to_port(&mut p, 5002, synack(syn.seq + 101, None));
    let again: Vec<Seg> = p.sent().into_iter().filter(|s| !s.payload.is_empty()).collect();
    assert_eq!(again.iter().map(|s| s.payload.len()).sum::<usize>(), 900);
    let info = p.shard.tcp_info(h, p.now).unwrap().unwrap();
    assert!(!info.syn_data, "only a SYN whose data was all taken counts (Linux's TCPI_OPT_SYN_DATA)");
    assert_eq!(info.retransmitted_in_flight, 900);
    // An ACK of 500 of them leaves 400 outstanding; the ACK of the rest none.
    to_port(&mut p, 5002, Seg::new(flags("ACK"), 9001, syn.seq + 601));
    assert_eq!(p.shard.tcp_info(h, p.now).unwrap().unwrap().retransmitted_in_flight, 400);
    to_port(&mut p, 5002, Seg::new(flags("ACK"), 9001, syn.seq + 1001));
    assert_eq!(p.shard.tcp_info(h, p.now).unwrap().unwrap().retransmitted_in_flight, 0);
}

#[test]
fn forgetting_cookies_makes_the_next_syn_ask_again_in_the_assigned_form() {
    let mut p = Peer::new(plain_config());
    // A server that left the first request unanswered and answered the experimental one.
    learn_in_the_experimental_form(&mut p, FastOpenOption::new(true, &[9; 8]).unwrap());
    assert!(p.shard.has_fast_open_cookie(p.peer.ip()));

    p.shard.forget_fast_open_cookies();
    assert!(!p.shard.has_fast_open_cookie(p.peer.ip()));
    // As on a fresh shard: a cookie request in the assigned form, no data in the SYN.
    let (_, taken, syn) = client_syn(&mut p, 5003, b"GET /");
    assert_eq!((taken, syn.payload.len()), (0, 0));
    assert_eq!(syn.opts.fast_open, FastOpenOption::new(false, &[]));
}
