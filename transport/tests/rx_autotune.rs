//! Receive-buffer autotuning: the window grows past the initial buffer for a reader that
//! takes what arrives as fast as it arrives, and stays within it for one that does not.

mod common;

use std::time::Duration;

use common::peer::{Peer, Seg, accepted, flags};
use ringtcp_transport::wire::TcpOptions;
use ringtcp_transport::{Config, SocketHandle};

const PEER_ISS: u32 = 9_000;
const RTT: Duration = Duration::from_millis(1);

fn connection(cfg: Config) -> (Peer, SocketHandle, u32, u8) {
    let syn = TcpOptions { mss: Some(1460), window_scale: Some(7), ..TcpOptions::default() };
    let (p, h, our) = accepted(cfg, PEER_ISS, syn, RTT);
    let info = p.shard.tcp_info(h, p.now).unwrap().expect("a live connection");
    let (_, shift) = info.window_scale.expect("window scaling negotiated");
    (p, h, our, shift)
}

fn tuned() -> Config {
    Config { timestamps: false, sack: false, ..Config::default() }
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
