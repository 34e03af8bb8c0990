//! Per-socket options at the segment level: quick ACKs, the type-of-service byte, and the
//! socket's own buffer sizes deciding the window its SYN or SYN-ACK offers (cookie
//! SYN-ACKs included) and how much it takes from the application.

mod common;

use std::time::Duration;

use common::peer::{PEER, Peer, Seg, flags, plain_config};
use ringtcp_transport::wire::{Ipv4Packet, TcpOptions};
use ringtcp_transport::{Config, SocketHandle, SocketOptions, SynCookies};

const PEER_ISS: u32 = 5000;

fn established(p: &mut Peer, opts: SocketOptions) -> (SocketHandle, u32) {
    let (h, sa) = accepted(p, opts, TcpOptions { mss: Some(1460), ..TcpOptions::default() }, TcpOptions::default());
    (h, sa.seq)
}

/// A listener with `opts` accepts the peer's SYN (with `syn` options) and third ACK (with
/// `ack` options): the connection and the SYN-ACK it answered with.
fn accepted(p: &mut Peer, opts: SocketOptions, syn: TcpOptions, ack: TcpOptions) -> (SocketHandle, Seg) {
    let l = p.shard.listen_with(p.us, 8, opts).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(syn));
    let sa = p.one();
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, sa.seq + 1).opts(ack));
    (p.shard.accept(l).unwrap().unwrap(), sa)
}

#[test]
fn quickack_acknowledges_each_segment_at_once_until_cleared() {
    let mut p = Peer::new(plain_config());
    let (h, iss) = established(&mut p, SocketOptions::default());
    assert!(!p.shard.quickack(h).unwrap());
    p.shard.set_quickack(h, true).unwrap();
    assert!(p.shard.quickack(h).unwrap());
    p.inject(Seg::new(flags("ACK|PSH"), PEER_ISS + 1, iss + 1).data(b"hello"));
    let ack = p.one();
    assert_eq!((ack.flags, ack.ack), (flags("ACK"), PEER_ISS + 6), "no 40 ms wait");
    p.shard.set_quickack(h, false).unwrap();
    p.inject(Seg::new(flags("ACK|PSH"), PEER_ISS + 6, iss + 1).data(b"again"));
    p.none();
    p.advance(Duration::from_millis(40));
    assert_eq!(p.one().ack, PEER_ISS + 11, "delayed again once cleared");
}

#[test]
fn the_type_of_service_byte_goes_into_every_packet_of_the_connection() {
    let mut p = Peer::new(plain_config());
    let (h, _) = established(&mut p, SocketOptions::default());
    p.shard.set_tos(h, 0xb8).unwrap();
    p.shard.set_nodelay(h, true).unwrap();
    p.shard.send(h, b"expedited").unwrap();
    let raw = p.sent_raw();
    assert_eq!(raw.len(), 1);
    let ip = Ipv4Packet::parse(&raw[0]).expect("a valid header, checksum included");
    assert_eq!((ip.tos(), ip.dst()), (0xb8, PEER));
}

#[test]
fn a_small_receive_buffer_offers_a_small_window_from_the_syn_on() {
    let mut p = Peer::new(Config { window_scaling: true, ..plain_config() });
    let small = SocketOptions { rx_buffer: Some(4096), tx_buffer: Some(4096), ..SocketOptions::default() };
    let h = p.shard.connect_with(p.now, p.peer, None, small).unwrap();
    let syn = p.one();
    assert_eq!(syn.win, 4096);
    assert_eq!(syn.opts.window_scale, Some(0), "no scale needed for a 4 KiB buffer (the stack's 64 KiB default needs none either, 256 KiB would)");
    assert_eq!(p.shard.buffer_sizes(h), Ok((4096, 4096)));
    // The send side takes no more than its buffer holds.
    p.inject(Seg::new(flags("SYN|ACK"), PEER_ISS, syn.seq + 1).opts(TcpOptions { mss: Some(1460), window_scale: Some(7), ..TcpOptions::default() }));
    let _ack = p.sent();
    assert_eq!(p.shard.send(h, &[7u8; 10_000]), Ok(4096));
    // A listener's options shape the SYN-ACK of every connection it accepts.
    let mut q = Peer::new(plain_config());
    let (a, _) = established(&mut q, SocketOptions { rx_buffer: Some(8192), ..SocketOptions::default() });
    assert_eq!(q.shard.buffer_sizes(a).unwrap().0, 8192);
}

#[test]
fn a_listener_s_buffer_size_is_offered_in_its_cookie_syn_acks_too() {
    let mut cfg = plain_config();
    cfg.syn_cookies = SynCookies::Always;
    let mut p = Peer::new(cfg);
    p.shard.listen_with(p.us, 8, SocketOptions { rx_buffer: Some(6000), ..SocketOptions::default() }).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(TcpOptions { mss: Some(1460), ..TcpOptions::default() }));
    let sa = p.one();
    assert_eq!((sa.flags, sa.win), (flags("SYN|ACK"), 6000));
    assert_eq!(p.shard.stats().syncookies_sent, 1);
}

#[test]
fn buffers_below_the_floor_are_raised_to_it() {
    let mut p = Peer::new(plain_config());
    let tiny = SocketOptions { rx_buffer: Some(10), tx_buffer: Some(1), ..SocketOptions::default() };
    let h = p.shard.connect_with(p.now, p.peer, None, tiny).unwrap();
    assert_eq!(p.shard.buffer_sizes(h), Ok((SocketOptions::MIN_BUFFER, SocketOptions::MIN_BUFFER)));
}

#[test]
fn mss_reads_the_payload_of_a_full_segment_less_the_options_each_carries() {
    // A peer with MSS 1100, no timestamps: 1100 bytes a segment; a 3,000-byte write
    // leaves as two full segments and its 800-byte rest (no short segment was in flight).
    let mut p = Peer::new(plain_config());
    let (h, _) = accepted(&mut p, SocketOptions::default(), TcpOptions { mss: Some(1100), ..TcpOptions::default() }, TcpOptions::default());
    assert_eq!(p.shard.mss(h).unwrap(), 1100);
    p.shard.send(h, &[7u8; 3000]).unwrap();
    let sent: Vec<usize> = p.sent().iter().map(|s| s.payload.len()).collect();
    assert_eq!(sent, [1100, 1100, 800]);

    // With timestamps on every segment, 12 bytes of each go to the option.
    let mut p = Peer::new(Config::default());
    let ts = Some(ringtcp_transport::wire::Timestamps { val: 1, ecr: 0 });
    let syn = TcpOptions { mss: Some(1100), timestamps: ts, ..TcpOptions::default() };
    let (h, _) = accepted(&mut p, SocketOptions::default(), syn, TcpOptions { timestamps: ts, ..TcpOptions::default() });
    assert_eq!(p.shard.mss(h).unwrap(), 1088);
}

#[test]
fn an_mss_clamp_is_offered_in_the_syn_and_syn_ack_and_bounds_the_segments_sent() {
    let clamp = SocketOptions { mss: Some(1100), ..SocketOptions::default() };
    // Passive: the peer offers 1300, the listener's SYN-ACK offers 1100, and 1100 is what
    // each segment carries (Linux: TCP_MAXSEG set on the listener).
    let mut p = Peer::new(plain_config());
    let (h, sa) = accepted(&mut p, clamp, TcpOptions { mss: Some(1300), ..TcpOptions::default() }, TcpOptions::default());
    assert_eq!(sa.opts.mss, Some(1100));
    assert_eq!(p.shard.mss(h).unwrap(), 1100);
    p.shard.send(h, &[1u8; 2200]).unwrap();
    let sent: Vec<usize> = p.sent().iter().map(|s| s.payload.len()).collect();
    assert_eq!(sent, [1100, 1100]);

    // Active: the SYN offers 1100; the peer's 1460 does not raise it.
    let mut p = Peer::new(plain_config());
    let h = p.shard.connect_with(p.now, p.peer, Some(p.us), clamp).unwrap();
    let syn = p.one();
    assert_eq!(syn.opts.mss, Some(1100));
    p.inject(Seg::new(flags("SYN|ACK"), PEER_ISS, syn.seq + 1).opts(TcpOptions { mss: Some(1460), ..TcpOptions::default() }));
    p.one();
    assert_eq!(p.shard.mss(h).unwrap(), 1100);

    // Set on a listener already listening (Linux allows it): the next SYN-ACK offers it.
    let mut p = Peer::new(plain_config());
    let l = p.shard.listen(p.us, 8).unwrap();
    p.shard.set_listener_mss(l, Some(1000)).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(TcpOptions { mss: Some(1460), ..TcpOptions::default() }));
    assert_eq!(p.one().opts.mss, Some(1000));

    // A cookie SYN-ACK offers the listener's clamp too.
    let mut cfg = plain_config();
    cfg.syn_cookies = SynCookies::Always;
    let mut p = Peer::new(cfg);
    p.shard.listen_with(p.us, 8, clamp).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(TcpOptions { mss: Some(1460), ..TcpOptions::default() }));
    let sa = p.one();
    assert_eq!(sa.opts.mss, Some(1100));
    assert_eq!(p.shard.stats().syncookies_sent, 1);
}

/// SYNs sent to `PEER` over `secs` seconds, one `advance` per 100 ms, and whether the
/// connect failed with `TimedOut` by then.
fn syns_until_timeout(p: &mut Peer, h: SocketHandle, secs: u64) -> (usize, bool) {
    let mut syns = 0;
    for _ in 0..secs * 10 {
        syns += p.sent().iter().filter(|s| s.flags == flags("SYN")).count();
        p.advance(Duration::from_millis(100));
    }
    syns += p.sent().iter().filter(|s| s.flags == flags("SYN")).count();
    (syns, p.shard.error(h).unwrap() == Some(ringtcp_transport::Error::TimedOut))
}

#[test]
fn a_socket_s_syn_retry_count_replaces_the_shard_s() {
    let mut p = Peer::new(plain_config());
    let opts = SocketOptions { syn_retries: Some(1), ..SocketOptions::default() };
    let h = p.shard.connect_with(p.now, (PEER, 80).into(), None, opts).unwrap();
    // The SYN, one retransmission after 1 s, and the end after the next 2 s: not the
    // shard's six retries (over two minutes).
    assert_eq!(syns_until_timeout(&mut p, h, 4), (2, true));
}

#[test]
fn a_syn_retry_count_set_during_the_handshake_acts_from_the_next_timeout() {
    let mut p = Peer::new(plain_config());
    let h = p.shard.connect(p.now, (PEER, 80).into(), None).unwrap();
    assert_eq!(syns_until_timeout(&mut p, h, 2), (2, false), "the SYN and its first retransmission");
    p.shard.set_syn_retries(h, Some(1)).unwrap();
    // Already retried once: the next timeout (2 s after the retransmission) ends it.
    assert_eq!(syns_until_timeout(&mut p, h, 2), (0, true));
}

#[test]
fn the_send_buffer_of_an_open_connection_can_grow_and_shrink() {
    let mut p = Peer::new(plain_config());
    let (h, iss) = established(&mut p, SocketOptions::default());
    // The 65,535-byte buffer full...
    assert_eq!(p.shard.send(h, &vec![1u8; 100_000]).unwrap(), 65_535);
    p.sent();
    // ...grown: the writer may go on at once.
    p.shard.set_send_buffer(h, 100_000).unwrap();
    assert_eq!(p.shard.buffer_sizes(h).unwrap().1, 100_000);
    assert_eq!(p.shard.send(h, &vec![2u8; 100_000]).unwrap(), 34_465);
    // Shrunk below what it holds: what is queued stays and is sent; nothing more is
    // taken until the buffer holds less than the new size.
    p.shard.set_send_buffer(h, 4096).unwrap();
    assert_eq!(p.shard.send(h, b"x"), Err(ringtcp_transport::Error::WouldBlock));
    assert_eq!(p.shard.send_queue(h).unwrap(), 100_000);
    // The peer acknowledges what arrives until 3,000 bytes are left.
    let mut acked = iss + 1;
    let mut sent_to = iss + 1;
    while p.shard.send_queue(h).unwrap() > 3000 {
        sent_to = p.sent().iter().map(|s| s.seq + s.payload.len() as u32).fold(sent_to, u32::max);
        acked = sent_to.min(iss + 1 + 97_000);
        p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, acked));
    }
    assert_eq!(acked, iss + 1 + 97_000);
    assert_eq!(p.shard.send(h, &[3u8; 5000]).unwrap(), 1096, "room for 4,096 less the 3,000 still held");
}
