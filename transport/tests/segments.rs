//! Segment-level tests, one per transition of the RFC 9293 §3.3.2 state diagram: inject a
//! segment, assert the exact segments sent back (flags, seq, ack, window, options) and the
//! new state.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::peer::{PEER_PORT, Peer, Seg, US, flags, plain_config};
use ringtcp_transport::wire::{TcpOptions, Timestamps};
use ringtcp_transport::{Config, Error, Event, SocketHandle, State};

const PEER_ISS: u32 = 1000;
const MSS: u16 = 1460;

fn mss_only() -> TcpOptions {
    TcpOptions { mss: Some(MSS), ..TcpOptions::default() }
}

/// LISTEN → SYN-RECEIVED → ESTABLISHED; returns the accepted handle and our ISS.
fn passive(p: &mut Peer) -> (SocketHandle, u32) {
    let l = p.shard.listen(p.us, 8).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(mss_only()));
    let synack = p.one();
    let iss = synack.seq;
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1));
    p.none();
    let h = p.shard.accept(l).unwrap().expect("handshake done, connection acceptable");
    assert_eq!(p.shard.state(h).unwrap(), State::Established);
    (h, iss)
}

/// CLOSED → SYN-SENT → ESTABLISHED; returns the handle and our ISS.
fn active(p: &mut Peer) -> (SocketHandle, u32) {
    let h = p.shard.connect(p.now, p.peer_as_remote(), Some(p.us)).unwrap();
    let syn = p.one();
    let iss = syn.seq;
    p.inject(Seg::new(flags("SYN|ACK"), PEER_ISS, iss + 1).opts(mss_only()));
    assert_eq!(p.one(), Seg::new(flags("ACK"), iss + 1, PEER_ISS + 1));
    assert_eq!(p.shard.state(h).unwrap(), State::Established);
    (h, iss)
}

trait RemoteAddr {
    fn peer_as_remote(&self) -> std::net::SocketAddr;
}

impl RemoteAddr for Peer {
    fn peer_as_remote(&self) -> std::net::SocketAddr {
        self.peer
    }
}

#[test]
fn closed_to_syn_sent_offers_every_option() {
    // No autotuning: the buffer alone sets the window scale.
    let cfg = Config { rx_buffer: 256 * 1024, rx_buffer_max: 0, ..Config::default() };
    let mut p = Peer::new(cfg);
    let h = p.shard.connect(p.now, p.peer, Some(p.us)).unwrap();
    assert_eq!(p.shard.state(h).unwrap(), State::SynSent);
    let syn = p.one();
    assert_eq!(syn.flags, flags("SYN"));
    assert_eq!((syn.ack, syn.win), (0, 65_535), "SYN window is unscaled and capped");
    let o = syn.opts;
    assert_eq!(o.mss, Some(MSS));
    assert_eq!(o.window_scale, Some(3), "262,144 bytes need a shift of 3");
    assert!(o.sack_permitted);
    assert_eq!(o.timestamps.map(|t| t.ecr), Some(0), "TSecr is zero in a SYN");
}

#[test]
fn syn_sent_to_established_on_syn_ack() {
    let mut p = Peer::new(plain_config());
    let h = p.shard.connect(p.now, p.peer, Some(p.us)).unwrap();
    let syn = p.one();
    assert_eq!(syn, Seg::new(flags("SYN"), syn.seq, 0).opts(mss_only()));
    p.inject(Seg::new(flags("SYN|ACK"), PEER_ISS, syn.seq + 1).opts(mss_only()));
    assert_eq!(p.one(), Seg::new(flags("ACK"), syn.seq + 1, PEER_ISS + 1));
    assert_eq!(p.shard.state(h).unwrap(), State::Established);
    assert_eq!(p.shard.stats().active_opens, 1);
}

#[test]
fn syn_sent_to_syn_received_on_simultaneous_syn() {
    let mut p = Peer::new(plain_config());
    let h = p.shard.connect(p.now, p.peer, Some(p.us)).unwrap();
    let iss = p.one().seq;
    // Both sides sent SYN at once (RFC 9293 figure 8).
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(mss_only()));
    assert_eq!(p.one(), Seg::new(flags("SYN|ACK"), iss, PEER_ISS + 1).opts(mss_only()));
    assert_eq!(p.shard.state(h).unwrap(), State::SynReceived);
    // The peer's SYN,ACK crosses ours and completes the handshake.
    p.inject(Seg::new(flags("SYN|ACK"), PEER_ISS, iss + 1).opts(mss_only()));
    assert_eq!(p.shard.state(h).unwrap(), State::Established);
    p.shard.send(h, b"x").unwrap();
    assert_eq!(p.one(), Seg::new(flags("ACK|PSH"), iss + 1, PEER_ISS + 1).win(65_535).data(b"x"));
}

#[test]
fn a_simultaneous_syn_with_data_and_fin_leaves_them_for_after_the_handshake() {
    // Found by the packet fuzz target: taking the FIN moved the connection to CLOSE-WAIT
    // with its SYN unacknowledged, and the sender then read past its buffer.
    let mut p = Peer::new(plain_config());
    let h = p.shard.connect(p.now, p.peer, Some(p.us)).unwrap();
    let iss = p.one().seq;
    p.inject(Seg::new(flags("SYN|FIN"), PEER_ISS, 0).opts(mss_only()).data(b"early"));
    assert_eq!(p.one(), Seg::new(flags("SYN|ACK"), iss, PEER_ISS + 1).opts(mss_only()), "text and FIN not acknowledged");
    assert_eq!(p.shard.state(h).unwrap(), State::SynReceived);
    assert_eq!(p.shard.recv_queue(h).unwrap(), 0);
    // Once our SYN is acknowledged, the peer's retransmission is taken.
    p.inject(Seg::new(flags("ACK|FIN"), PEER_ISS + 1, iss + 1).data(b"early"));
    assert_eq!(p.shard.state(h).unwrap(), State::CloseWait);
    let mut buf = [0u8; 8];
    assert_eq!(p.shard.recv(h, &mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"early");
}

#[test]
fn fin_wait_1_before_the_syn_is_acknowledged_takes_only_an_ack_of_it() {
    // Found by the script fuzz target: a CLOSE in SYN-RECEIVED moves to FIN-WAIT-1 with
    // the SYN unacknowledged; a FIN whose ACK did not cover the SYN then led to CLOSING,
    // and the retransmission read past the send buffer.
    let mut p = Peer::new(plain_config());
    let h = p.shard.connect(p.now, p.peer, Some(p.us)).unwrap();
    let iss = p.one().seq;
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(mss_only()));
    p.one();
    p.shard.shutdown_write(h).unwrap();
    assert_eq!(p.shard.state(h).unwrap(), State::FinWait1);
    p.inject(Seg::new(flags("ACK|FIN"), PEER_ISS + 1, iss));
    assert_eq!(p.one(), Seg::new(flags("RST"), iss, 0).win(0), "<SEQ=SEG.ACK><CTL=RST>");
    assert_eq!(p.shard.state(h).unwrap(), State::FinWait1, "the FIN was not taken");
    // With an ACK of the SYN the FIN is taken (CLOSING: ours is not yet acknowledged);
    // our FIN follows, and its ACK ends in TIME-WAIT.
    p.inject(Seg::new(flags("ACK|FIN"), PEER_ISS + 1, iss + 1));
    assert_eq!(p.shard.state(h).unwrap(), State::Closing);
    let fin = p.sent().into_iter().find(|s| s.flags.fin()).expect("our FIN");
    assert_eq!((fin.seq, fin.ack), (iss + 1, PEER_ISS + 2));
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 2, iss + 2));
    assert_eq!(p.shard.state(h).unwrap(), State::TimeWait);
}

#[test]
fn syn_sent_close_deletes_without_a_segment() {
    let mut p = Peer::new(plain_config());
    let h = p.shard.connect(p.now, p.peer, Some(p.us)).unwrap();
    p.one();
    p.shard.shutdown_write(h).unwrap();
    assert_eq!(p.shard.state(h).unwrap(), State::Closed);
    p.none();
}

#[test]
fn syn_sent_rst_handling() {
    let mut p = Peer::new(plain_config());
    let h = p.shard.connect(p.now, p.peer, Some(p.us)).unwrap();
    let iss = p.one().seq;
    // An ACK for something never sent: <SEQ=SEG.ACK><CTL=RST>, state unchanged.
    p.inject(Seg::new(flags("SYN|ACK"), PEER_ISS, iss + 5));
    assert_eq!(p.one(), Seg::new(flags("RST"), iss + 5, 0).win(0));
    assert_eq!(p.shard.state(h).unwrap(), State::SynSent);
    // A RST without ACK is not acceptable in SYN-SENT.
    p.inject(Seg::new(flags("RST"), 0, 0));
    p.none();
    assert_eq!(p.shard.state(h).unwrap(), State::SynSent);
    // RST,ACK acknowledging our SYN: refused.
    p.inject(Seg::new(flags("RST|ACK"), 0, iss + 1));
    p.none();
    assert_eq!(p.shard.state(h).unwrap(), State::Closed);
    assert_eq!(p.shard.error(h).unwrap(), Some(Error::ConnectionRefused));
    let mut buf = [0u8; 4];
    assert_eq!(p.shard.recv(h, &mut buf), Err(Error::ConnectionRefused));
}

#[test]
fn listen_to_syn_received_answers_syn_ack() {
    let mut p = Peer::new(plain_config());
    p.shard.listen(p.us, 8).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(mss_only()));
    let synack = p.one();
    assert_eq!(synack, Seg::new(flags("SYN|ACK"), synack.seq, PEER_ISS + 1).opts(mss_only()));
    assert_eq!(p.shard.state_counts(), vec![(State::SynReceived, 1)]);
    assert_eq!(p.shard.stats().passive_opens, 1);
    // Our SYN-ACK was lost: the retransmitted SYN gets it again at once.
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(mss_only()));
    assert_eq!(p.one(), synack);
}

#[test]
fn syn_received_to_established_then_accept() {
    let mut p = Peer::new(plain_config());
    let (h, iss) = passive(&mut p);
    assert_eq!(p.shard.peer_addr(h).unwrap(), p.peer);
    p.inject(Seg::new(flags("ACK|PSH"), PEER_ISS + 1, iss + 1).data(b"ping"));
    let mut buf = [0u8; 8];
    assert_eq!(p.shard.recv(h, &mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"ping");
}

#[test]
fn syn_received_back_to_listen_on_rst() {
    let mut p = Peer::new(plain_config());
    let l = p.shard.listen(p.us, 8).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(mss_only()));
    let iss = p.one().seq;
    p.inject(Seg::new(flags("RST"), PEER_ISS + 1, 0));
    p.none();
    assert_eq!(p.shard.connection_count(), 0, "embryonic connection gone");
    // The listener is still there: the late ACK is answered as LISTEN does (RST), and a
    // new SYN opens a new connection.
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1));
    assert_eq!(p.one(), Seg::new(flags("RST"), iss + 1, 0).win(0));
    p.inject(Seg::new(flags("SYN"), PEER_ISS + 100, 0).opts(mss_only()));
    assert_eq!(p.one().flags, flags("SYN|ACK"));
    assert_eq!(p.shard.accept(l).unwrap(), None);
}

#[test]
fn syn_received_close_goes_to_fin_wait_1() {
    let mut p = Peer::new(plain_config());
    let h = p.shard.connect(p.now, p.peer, Some(p.us)).unwrap();
    let iss = p.one().seq;
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(mss_only()));
    p.one();
    assert_eq!(p.shard.state(h).unwrap(), State::SynReceived);
    p.shard.shutdown_write(h).unwrap();
    assert_eq!(p.shard.state(h).unwrap(), State::FinWait1);
    // The FIN waits for our SYN to be acknowledged, then goes.
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1));
    assert_eq!(p.one(), Seg::new(flags("FIN|ACK"), iss + 1, PEER_ISS + 1).win(65_535));
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 2));
    assert_eq!(p.shard.state(h).unwrap(), State::FinWait2);
}

#[test]
fn listen_to_closed_on_close() {
    let mut p = Peer::new(plain_config());
    let l = p.shard.listen(p.us, 8).unwrap();
    p.shard.close_listener(l).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0));
    // RFC 9293 §3.10.7.1: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    assert_eq!(p.one(), Seg::new(flags("RST|ACK"), 0, PEER_ISS + 1).win(0));
    assert_eq!(p.shard.accept(l), Err(Error::InvalidHandle));
}

#[test]
fn established_to_fin_wait_1_to_fin_wait_2_to_time_wait_to_closed() {
    let mut p = Peer::new(plain_config());
    let (h, iss) = passive(&mut p);
    p.shard.shutdown_write(h).unwrap();
    assert_eq!(p.shard.state(h).unwrap(), State::FinWait1);
    assert_eq!(p.one(), Seg::new(flags("FIN|ACK"), iss + 1, PEER_ISS + 1));
    while p.shard.poll_event().is_some() {}
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 2));
    p.none();
    assert_eq!(p.shard.state(h).unwrap(), State::FinWait2);
    // An ACK of the FIN alone (no data) still tells the owner: a lingering close waits
    // for it.
    assert_eq!(p.shard.poll_event(), Some(Event::Socket(h)));
    // Half-close: the peer may still send, and we still read and acknowledge.
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 2).data(&[7u8; 1460]));
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1461, iss + 2).data(&[8u8; 1460]));
    assert_eq!(p.one(), Seg::new(flags("ACK"), iss + 2, PEER_ISS + 2921).win(65_535 - 2920), "ACK every second segment");
    p.inject(Seg::new(flags("FIN|ACK"), PEER_ISS + 2921, iss + 2));
    assert_eq!(p.one(), Seg::new(flags("ACK"), iss + 2, PEER_ISS + 2922).win(65_535 - 2921));
    assert_eq!(p.shard.state(h).unwrap(), State::TimeWait);
    let mut buf = vec![0u8; 4096];
    assert_eq!(p.shard.recv(h, &mut buf).unwrap(), 2920, "unread data stays readable in TIME-WAIT");
    assert_eq!(p.shard.recv(h, &mut buf).unwrap(), 0);
    // 2·MSL later (MSL 30 s): CLOSED.
    p.advance(Duration::from_secs(59));
    assert_eq!(p.shard.state(h).unwrap(), State::TimeWait);
    p.advance(Duration::from_secs(1));
    assert_eq!(p.shard.state(h).unwrap(), State::Closed);
    p.none();
}

#[test]
fn fin_wait_1_to_closing_to_time_wait() {
    let mut p = Peer::new(plain_config());
    let (h, iss) = passive(&mut p);
    p.shard.shutdown_write(h).unwrap();
    p.one();
    // Simultaneous close: the peer's FIN arrives before the ACK of ours.
    p.inject(Seg::new(flags("FIN|ACK"), PEER_ISS + 1, iss + 1));
    assert_eq!(p.one(), Seg::new(flags("ACK"), iss + 2, PEER_ISS + 2).win(65_534));
    assert_eq!(p.shard.state(h).unwrap(), State::Closing);
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 2, iss + 2));
    p.none();
    assert_eq!(p.shard.state(h).unwrap(), State::TimeWait);
}

#[test]
fn fin_wait_1_to_time_wait_on_fin_acking_our_fin() {
    let mut p = Peer::new(plain_config());
    let (h, iss) = passive(&mut p);
    p.shard.shutdown_write(h).unwrap();
    p.one();
    p.inject(Seg::new(flags("FIN|ACK"), PEER_ISS + 1, iss + 2));
    assert_eq!(p.one(), Seg::new(flags("ACK"), iss + 2, PEER_ISS + 2).win(65_534));
    assert_eq!(p.shard.state(h).unwrap(), State::TimeWait);
    assert_eq!(p.shard.stats().time_wait_entered, 1);
}

#[test]
fn established_to_close_wait_to_last_ack_to_closed() {
    let mut p = Peer::new(plain_config());
    let (h, iss) = active(&mut p);
    p.inject(Seg::new(flags("FIN|ACK"), PEER_ISS + 1, iss + 1));
    // The FIN takes one sequence number; the right edge of the window stays put
    // (receiver SWS avoidance), so the window shrinks by one.
    assert_eq!(p.one(), Seg::new(flags("ACK"), iss + 1, PEER_ISS + 2).win(65_534), "a FIN is acknowledged at once");
    assert_eq!(p.shard.state(h).unwrap(), State::CloseWait);
    let mut buf = [0u8; 4];
    assert_eq!(p.shard.recv(h, &mut buf).unwrap(), 0, "end of stream");
    // Half-close the other way: we may still send in CLOSE-WAIT.
    p.shard.send(h, b"late").unwrap();
    assert_eq!(p.one(), Seg::new(flags("ACK|PSH"), iss + 1, PEER_ISS + 2).win(65_534).data(b"late"));
    p.shard.shutdown_write(h).unwrap();
    assert_eq!(p.shard.state(h).unwrap(), State::LastAck);
    assert_eq!(p.one(), Seg::new(flags("FIN|ACK"), iss + 5, PEER_ISS + 2).win(65_534));
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 2, iss + 6));
    p.none();
    assert_eq!(p.shard.state(h).unwrap(), State::Closed);
    assert_eq!(p.shard.error(h).unwrap(), None);
}

#[test]
fn time_wait_answers_a_retransmitted_fin_and_restarts_2msl() {
    let mut p = Peer::new(plain_config());
    let (h, iss) = passive(&mut p);
    p.shard.shutdown_write(h).unwrap();
    p.one();
    p.inject(Seg::new(flags("FIN|ACK"), PEER_ISS + 1, iss + 2));
    let ack = p.one();
    p.advance(Duration::from_secs(50));
    assert_eq!(p.shard.connection_count(), 0, "TIME-WAIT is a FIN-cache record now");
    // Our ACK was lost; the peer retransmits its FIN. The record answers with the same
    // numbers, and a zero window: there is no buffer behind a record.
    p.inject(Seg::new(flags("FIN|ACK"), PEER_ISS + 1, iss + 2));
    assert_eq!(p.one(), Seg { win: 0, ..ack });
    assert_eq!(p.shard.fin_cache().stats().fins_reacked, 1);
    p.advance(Duration::from_secs(50));
    assert_eq!(p.shard.state(h).unwrap(), State::TimeWait, "2·MSL restarted by the FIN");
    p.advance(Duration::from_secs(10));
    assert_eq!(p.shard.state(h).unwrap(), State::Closed);
}

#[test]
fn time_wait_ignores_rst_per_rfc1337() {
    let mut p = Peer::new(plain_config());
    let (h, iss) = passive(&mut p);
    p.shard.shutdown_write(h).unwrap();
    p.one();
    p.inject(Seg::new(flags("FIN|ACK"), PEER_ISS + 1, iss + 2));
    p.one();
    p.inject(Seg::new(flags("RST"), PEER_ISS + 2, 0));
    p.none();
    assert_eq!(p.shard.state(h).unwrap(), State::TimeWait);
}

#[test]
fn abort_sends_rst_and_frees_the_connection() {
    let mut p = Peer::new(plain_config());
    let (h, iss) = passive(&mut p);
    p.shard.send(h, b"unsent-or-unacked").unwrap();
    p.one();
    p.shard.abort(h).unwrap();
    assert_eq!(p.one(), Seg::new(flags("RST|ACK"), iss + 18, PEER_ISS + 1));
    assert_eq!(p.shard.connection_count(), 0);
    assert_eq!(p.shard.state(h), Err(Error::InvalidHandle));
}

#[test]
fn close_with_unread_data_resets_like_linux() {
    let mut p = Peer::new(plain_config());
    let (h, iss) = passive(&mut p);
    p.inject(Seg::new(flags("ACK|PSH"), PEER_ISS + 1, iss + 1).data(b"unread"));
    p.shard.close(p.now, h).unwrap();
    let s = p.sent();
    assert_eq!(s.last().unwrap(), &Seg::new(flags("RST|ACK"), iss + 1, PEER_ISS + 7).win(65_535 - 6));
}

#[test]
fn data_after_close_resets_like_linux() {
    let mut p = Peer::new(plain_config());
    let (h, iss) = passive(&mut p);
    p.shard.close(p.now, h).unwrap();
    assert_eq!(p.one(), Seg::new(flags("FIN|ACK"), iss + 1, PEER_ISS + 1));
    // The peer, not yet aware, sends data: the application that would read it is gone.
    // RFC 1122 §4.2.2.13: a RST shows the data was lost; its SEQ is the segment's ACK.
    p.inject(Seg::new(flags("ACK|PSH"), PEER_ISS + 1, iss + 1).data(b"too late"));
    assert_eq!(p.one(), Seg::new(flags("RST"), iss + 1, 0).win(0));
    assert_eq!(p.shard.state(h), Err(Error::InvalidHandle), "the connection is gone");
    assert_eq!(p.shard.stats().aborts_on_data, 1);
    // A shutdown of the sending side alone keeps the receiving side: data is taken.
    let mut p = Peer::new(plain_config());
    let (h2, iss2) = passive(&mut p);
    p.shard.shutdown_write(h2).unwrap();
    p.sent();
    p.inject(Seg::new(flags("ACK|PSH"), PEER_ISS + 1, iss2 + 2).data(b"welcome"));
    let mut buf = [0u8; 16];
    assert_eq!(p.shard.recv(h2, &mut buf), Ok(7));
    assert_eq!(p.shard.stats().aborts_on_data, 0);
}

#[test]
fn closed_port_answers_rst() {
    let mut p = Peer::new(plain_config());
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0));
    assert_eq!(p.one(), Seg::new(flags("RST|ACK"), 0, PEER_ISS + 1).win(0));
    p.inject(Seg::new(flags("ACK"), PEER_ISS, 5555).data(b"abc"));
    assert_eq!(p.one(), Seg::new(flags("RST"), 5555, 0).win(0));
    p.inject(Seg::new(flags("RST"), PEER_ISS, 0));
    p.none();
    assert_eq!(p.shard.drops().stray_rst, 1);
}

#[test]
fn window_scale_timestamps_and_sack_are_negotiated() {
    let cfg = Config { rx_buffer: 1 << 20, rx_buffer_max: 0, ..Config::default() };
    let mut p = Peer::new(cfg);
    let l = p.shard.listen(p.us, 8).unwrap();
    let syn_opts = TcpOptions {
        mss: Some(1200),
        window_scale: Some(2),
        sack_permitted: true,
        timestamps: Some(Timestamps { val: 500, ecr: 0 }),
        ..TcpOptions::default()
    };
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(syn_opts));
    let sa = p.one();
    assert_eq!(sa.opts.mss, Some(MSS));
    assert_eq!(sa.opts.window_scale, Some(5), "1 MiB needs a shift of 5");
    assert!(sa.opts.sack_permitted);
    assert_eq!(sa.opts.timestamps.map(|t| t.ecr), Some(500), "TSecr echoes the peer's TSval");
    let our_ts = sa.opts.timestamps.unwrap().val;
    let ts = |val| TcpOptions { timestamps: Some(Timestamps { val, ecr: our_ts }), ..TcpOptions::default() };
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, sa.seq + 1).win(100).opts(ts(501)));
    let h = p.shard.accept(l).unwrap().unwrap();
    // The peer's window 100 << 2 = 400 bytes bounds what we send; its MSS of 1200 less
    // 12 bytes of timestamps bounds each segment.
    p.shard.set_nodelay(h, true).unwrap();
    p.shard.send(h, &[1u8; 1000]).unwrap();
    // Sender SWS avoidance (RFC 9293 §3.8.6.2.1): 400 bytes is under half the largest
    // window the peer offered (65,535 in its SYN), so it waits...
    p.none();
    // ...until the override timeout (our persist timer) lets the sliver go.
    p.advance(Duration::from_secs(1));
    let s = p.one();
    assert_eq!(s.payload.len(), 400);
    // A peer that has sent nothing yet is offered the SYN-ACK's 65,535 bytes, not the
    // whole buffer (window_growth.rs), now in units of 32 bytes, rounded up as Linux does.
    assert_eq!(s.win, (65_536 >> 5) as u16, "our window is scaled by 5");
    assert_eq!(s.opts.timestamps.map(|t| t.ecr), Some(501));
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, sa.seq + 401).win(1000).opts(ts(502)));
    let s = p.one();
    assert_eq!(s.payload.len(), 600);
    // Out-of-order data from the peer gets an immediate ACK carrying a SACK block.
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 101, sa.seq + 1001).win(1000).opts(ts(503)).data(&[2u8; 50]));
    let dup = p.one();
    assert_eq!(dup.ack, PEER_ISS + 1);
    assert_eq!(dup.opts.sack.as_slice().iter().map(|(l, r)| (l.0, r.0)).collect::<Vec<_>>(), vec![(PEER_ISS + 101, PEER_ISS + 151)]);
    let _ = PEER_PORT;
    let _ = US;
}

/// Delivers `s` from `from` to `to` (a connection of ours on a port of its own, not the
/// listener's).
fn inject_to(p: &mut Peer, to: std::net::SocketAddr, from: std::net::SocketAddr, s: Seg) {
    let buf = common::peer::packet(from, to, &s);
    p.shard.handle_packet(p.now, &buf);
}

#[test]
fn abort_all_resets_every_connection_owned_or_orphaned_and_keeps_time_wait() {
    let mut p = Peer::new(plain_config());
    // An owned connection with data in flight.
    let (h1, iss1) = passive(&mut p);
    p.shard.send(h1, b"in flight").unwrap();
    assert_eq!(p.one().payload, b"in flight");
    // An orphaned one: closed by the application, our FIN acknowledged (FIN-WAIT-2).
    let other: std::net::SocketAddr = (p.peer.ip(), PEER_PORT + 1).into();
    let h2 = p.shard.connect(p.now, other, Some((US, 0).into())).unwrap();
    let iss2 = p.one().seq;
    let local2 = p.shard.local_addr(h2).unwrap();
    inject_to(&mut p, local2, other, Seg::new(flags("SYN|ACK"), PEER_ISS, iss2 + 1).opts(mss_only()));
    assert_eq!(p.one(), Seg::new(flags("ACK"), iss2 + 1, PEER_ISS + 1));
    p.shard.close(p.now, h2).unwrap();
    assert_eq!(p.one(), Seg::new(flags("FIN|ACK"), iss2 + 1, PEER_ISS + 1));
    inject_to(&mut p, local2, other, Seg::new(flags("ACK"), PEER_ISS + 1, iss2 + 2));
    p.none();
    // A third in TIME-WAIT: it has nothing to reset (RFC 9293 §3.10.5) and its record stays.
    let third: std::net::SocketAddr = (p.peer.ip(), PEER_PORT + 2).into();
    let h3 = p.shard.connect(p.now, third, Some((US, 0).into())).unwrap();
    let iss3 = p.one().seq;
    let local3 = p.shard.local_addr(h3).unwrap();
    inject_to(&mut p, local3, third, Seg::new(flags("SYN|ACK"), PEER_ISS, iss3 + 1).opts(mss_only()));
    p.one();
    p.shard.close(p.now, h3).unwrap();
    p.one();
    inject_to(&mut p, local3, third, Seg::new(flags("FIN|ACK"), PEER_ISS + 1, iss3 + 2));
    let ack = p.one();
    assert_eq!((ack.flags, ack.seq, ack.ack), (flags("ACK"), iss3 + 2, PEER_ISS + 2));
    assert_eq!(p.shard.connection_count(), 2);

    assert_eq!(p.shard.abort_all(p.now), 2);
    let mut sent = p.sent();
    sent.sort_by_key(|s| s.seq);
    let mut want = vec![
        Seg::new(flags("RST|ACK"), iss1 + 1 + 9, PEER_ISS + 1),
        Seg::new(flags("RST|ACK"), iss2 + 2, PEER_ISS + 1),
    ];
    want.sort_by_key(|s| s.seq);
    assert_eq!(sent.len(), 2, "one RST each, nothing for TIME-WAIT: {sent:#?}");
    for (got, want) in sent.iter().zip(&want) {
        assert_eq!((got.flags, got.seq, got.ack), (want.flags, want.seq, want.ack));
    }
    assert_eq!(p.shard.error(h1).unwrap(), Some(Error::ConnectionAborted), "the application learns why");
    p.shard.close(p.now, h1).unwrap();
    p.none();
    assert_eq!(p.shard.connection_count(), 0);
    // The TIME-WAIT record still answers a retransmitted FIN.
    inject_to(&mut p, local3, third, Seg::new(flags("FIN|ACK"), PEER_ISS + 1, iss3 + 2));
    let again = p.one();
    assert_eq!((again.flags, again.seq, again.ack), (flags("ACK"), iss3 + 2, PEER_ISS + 2));
}

#[test]
fn the_last_segment_a_window_lets_out_carries_psh() {
    let mut p = Peer::new(plain_config());
    let (h, iss) = passive(&mut p);
    assert_eq!(p.shard.send(h, &vec![7u8; 30_000]).unwrap(), 30_000);
    let flight = p.sent();
    assert!(flight.len() >= 2, "a burst of several segments: {}", flight.len());
    let (last, rest) = flight.split_last().unwrap();
    assert!(rest.iter().all(|s| !s.flags.contains(flags("PSH"))), "no PSH inside the burst");
    assert!(last.flags.contains(flags("PSH")), "PSH on the last segment the congestion window lets out");
    let end = last.seq + last.payload.len() as u32;
    assert!(end < iss + 1 + 30_000, "the queue is not empty yet: the window stopped the burst");
}

#[test]
fn a_syn_ack_echoing_a_timestamp_never_sent_is_reset_and_a_valid_one_then_accepted() {
    let mut p = Peer::new(Config { timestamps: true, ..plain_config() });
    let h = p.shard.connect(p.now, p.peer, Some(p.us)).unwrap();
    let syn = p.one();
    let sent_ts = syn.opts.timestamps.unwrap().val;
    let ts = |ecr| TcpOptions { timestamps: Some(Timestamps { val: 77, ecr }), ..mss_only() };
    // TSecr from before this connection's first SYN: a stale or forged SYN-ACK. A RST at
    // its ACK, without timestamps (none were agreed), and the connection waits on.
    p.inject(Seg::new(flags("SYN|ACK"), PEER_ISS, syn.seq + 1).opts(ts(sent_ts.wrapping_sub(5000))));
    let rst = p.one();
    assert_eq!((rst.flags, rst.seq, rst.opts.timestamps), (flags("RST"), syn.seq + 1, None));
    assert_eq!(p.shard.state(h).unwrap(), State::SynSent);
    assert_eq!(p.shard.drops().paws, 1);
    // The right echo completes the handshake.
    p.inject(Seg::new(flags("SYN|ACK"), PEER_ISS, syn.seq + 1).opts(ts(sent_ts)));
    assert_eq!(p.one().ack, PEER_ISS + 1);
    assert_eq!(p.shard.state(h).unwrap(), State::Established);
}

#[test]
fn a_connection_keeps_the_options_it_offered_when_the_shard_s_change_mid_handshake() {
    let mut p = Peer::new(plain_config());
    let h = p.shard.connect(p.now, p.peer, Some(p.us)).unwrap();
    let syn = p.one();
    assert_eq!((syn.opts.timestamps, syn.opts.sack_permitted), (None, false));
    // Timestamps and SACK on for connections opened from now on (as a sysctl change).
    p.shard.set_handshake_options(true, true, false);
    let both = TcpOptions { timestamps: Some(Timestamps { val: 9, ecr: 0 }), sack_permitted: true, ..mss_only() };
    p.inject(Seg::new(flags("SYN|ACK"), PEER_ISS, syn.seq + 1).opts(both));
    let ack = p.one();
    assert_eq!(ack.opts.timestamps, None, "not offered in our SYN, so not in use");
    let info = p.shard.tcp_info(h, p.now).unwrap().unwrap();
    assert!(!info.timestamps && !info.sack);
    // The next connection offers them.
    p.shard.connect(p.now, p.peer, Some(SocketAddr::new(p.us.ip(), 5555))).unwrap();
    let next = p.one();
    assert!(next.opts.timestamps.is_some() && next.opts.sack_permitted);
}
