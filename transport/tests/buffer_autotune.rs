//! Buffer autotuning. Receive: the window grows past the initial buffer for a reader that
//! takes what arrives as fast as it arrives, and stays within it for one that does not.
//! Send: the send buffer grows with the congestion window, unless the socket set its own.

mod common;

use std::time::Duration;

use common::peer::{Peer, Seg, accepted, flags};
use ringtcp_transport::wire::TcpOptions;
use std::net::{IpAddr, Ipv4Addr};

use ringtcp_transport::{Config, Instant, Secret, Shard, SocketHandle};

const PEER_ISS: u32 = 9_000;
const RTT: Duration = Duration::from_millis(1);

fn connection(cfg: Config) -> (Peer, SocketHandle, u32, u8) {
    let syn = TcpOptions { mss: Some(1460), window_scale: Some(7), ..TcpOptions::default() };
    let (p, h, our) = accepted(cfg, PEER_ISS, syn, RTT);
    let info = p.shard.tcp_info(h, p.now).unwrap().expect("a live connection");
    let (_, shift) = info.window_scale.expect("window scaling negotiated");
    (p, h, our, shift)
}

/// Autotuning on, with Linux's bounds (it is off by default).
fn tuned() -> Config {
    Config { timestamps: false, sack: false, rx_buffer_max: 6 << 20, tx_buffer_max: 4 << 20, ..Config::default() }
}

/// The peer fills the window it was offered, in 60,000-byte segments, over `rounds`
/// round trips; the application reads `read(round)` bytes after each. Returns the
/// largest window offered.
fn run(cfg: Config, rounds: usize, read: impl Fn(usize) -> usize) -> usize {
    let (mut p, h, our, shift) = connection(cfg);
    let mut sent: u32 = 0;
    let mut window = 65_535usize;
    let mut largest = 0;
    let mut out = vec![0u8; 8 << 20];
    for round in 0..rounds {
        let mut room = window;
        while room > 0 {
            let n = room.min(60_000);
            p.inject(Seg::new(flags("ACK"), PEER_ISS + 1 + sent, our).data(&vec![1u8; n]));
            sent += n as u32;
            room -= n;
        }
        let want = read(round);
        if want > 0 {
            let _ = p.shard.recv(h, &mut out[..want]);
        }
        p.advance(RTT);
        // The last segment we sent tells the peer how far it may go.
        if let Some(a) = p.sent().last() {
            let edge = a.ack.wrapping_add(u32::from(a.win) << shift);
            window = edge.wrapping_sub(PEER_ISS + 1 + sent) as usize;
            largest = largest.max(usize::from(a.win) << shift);
        } else {
            window = 0;
        }
    }
    largest
}

#[test]
fn a_reader_that_keeps_up_lets_the_window_grow_past_the_initial_buffer() {
    let largest = run(tuned(), 40, |_| 8 << 20);
    assert!(largest > 1 << 20, "the window grew to {largest} bytes, past the 256 KiB the buffer started with");
    assert!(largest <= 6 << 20, "never past the autotuning bound: {largest}");
}

#[test]
fn a_slow_reader_keeps_the_initial_buffer() {
    let largest = run(tuned(), 40, |_| 4096);
    assert!(largest <= 256 * 1024, "a reader taking 4 KB a round trip is offered at most the initial buffer: {largest}");
}

#[test]
fn without_autotuning_a_fast_reader_gets_the_fixed_buffer() {
    let largest = run(Config { rx_buffer_max: 0, ..tuned() }, 40, |_| 8 << 20);
    assert!(largest <= 256 * 1024 && largest > 128 * 1024, "the fixed buffer, opened up: {largest}");
}

/// A sender and a receiver shard joined without loss, 1 ms apart; the receiver reads
/// everything each round. With `sndbuf`, the sender's socket sets its own send buffer.
/// Returns the largest send buffer bound seen and the bytes delivered intact.
fn transfer(sndbuf: Option<usize>, rounds: usize) -> (usize, usize) {
    let (a, b): (IpAddr, IpAddr) = (Ipv4Addr::new(10, 0, 0, 1).into(), Ipv4Addr::new(10, 0, 0, 2).into());
    let mut server = Shard::new(tuned(), &[a], Secret([1; 16]));
    let mut client = Shard::new(tuned(), &[b], Secret([2; 16]));
    let l = server.listen((a, 80).into(), 8).unwrap();
    let mut now = Instant::ZERO;
    let c = client.connect(now, (a, 80).into(), None).unwrap();
    let mut buf = vec![0u8; 65_536];
    let mut exchange = |server: &mut Shard, client: &mut Shard, now: Instant| {
        while let Some(t) = server.poll_transmit_offload(now, &mut buf) {
            client.handle_offloaded_packet(now, &buf[..t.len]);
        }
        while let Some(n) = client.poll_transmit(now, &mut buf) {
            server.handle_packet(now, &buf[..n]);
        }
    };
    for _ in 0..3 {
        exchange(&mut server, &mut client, now);
        now += RTT;
    }
    let s = server.accept(l).unwrap().expect("handshake done");
    if let Some(size) = sndbuf {
        server.set_send_buffer(s, size).unwrap();
    }
    let data: Vec<u8> = (0..64 << 20).map(|i: u32| (i % 251) as u8).collect();
    let (mut sent, mut got, mut largest) = (0, Vec::new(), 0);
    let mut out = vec![0u8; 16 << 20];
    for _ in 0..rounds {
        if let Ok(n) = server.send(s, &data[sent..]) {
            sent += n;
        }
        largest = largest.max(server.buffer_sizes(s).unwrap().1);
        exchange(&mut server, &mut client, now);
        if let Ok(n) = client.recv(c, &mut out) {
            got.extend_from_slice(&out[..n]);
        }
        exchange(&mut server, &mut client, now);
        now += RTT;
        server.handle_timeout(now);
        client.handle_timeout(now);
    }
    assert!(got[..] == data[..got.len()], "bytes intact and in order");
    (largest, got.len())
}

#[test]
fn the_send_buffer_grows_with_the_congestion_window() {
    let (largest, delivered) = transfer(None, 60);
    assert!(largest > 1 << 20, "the send buffer grew to {largest} bytes, past the 256 KiB it started with");
    assert!(largest <= 4 << 20, "never past the bound: {largest}");
    assert!(delivered > 16 << 20, "a fast path is not held to 256 KiB a round trip: {delivered} bytes in 60 ms");
}

#[test]
fn a_socket_with_its_own_send_buffer_keeps_it() {
    let (largest, _) = transfer(Some(300_000), 60);
    assert_eq!(largest, 300_000);
}
