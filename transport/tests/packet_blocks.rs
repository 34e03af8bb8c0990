//! `Shard::handle_packet_in`: a large in-order payload stays in the packet block it came
//! in (it becomes part of the receive buffer) and every other packet's block comes back;
//! either way the application reads exactly the bytes the peer sent, in order.

mod common;

use std::time::Duration;

use common::peer::{Peer, Seg, accepted, flags, packet};
use ringtcp_transport::buffer_pool::{give_block, take_block};
use ringtcp_transport::wire::TcpOptions;
use ringtcp_transport::{Config, SocketHandle, State};

const PEER_ISS: u32 = 5_000;

fn config() -> Config {
    Config { rx_buffer: 1 << 20, timestamps: false, sack: true, ..Config::default() }
}

/// A connection accepted from a peer that scales its window.
fn connection() -> (Peer, SocketHandle, u32) {
    accepted(config(), PEER_ISS, TcpOptions { mss: Some(1460), window_scale: Some(7), sack_permitted: true, ..TcpOptions::default() }, Duration::from_millis(1))
}

fn pattern(offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len).map(|i| (i * 31 % 251) as u8).collect()
}

/// Delivers `s` in a pooled block after a 12-byte device header, as the TUN path does;
/// returns the block if the shard handed it back, and where its memory was.
fn deliver(p: &mut Peer, s: &Seg) -> (Option<Box<[u8]>>, *const u8) {
    let raw = packet(p.peer, p.us, s);
    let mut block = take_block();
    let at = block.as_ptr();
    block[12..12 + raw.len()].copy_from_slice(&raw);
    (p.shard.handle_packet_in(p.now, block, 12..12 + raw.len(), true), at)
}

fn read_all(p: &mut Peer, h: SocketHandle) -> Vec<u8> {
    let mut out = vec![0u8; 1 << 20];
    let n = p.shard.recv(h, &mut out).unwrap();
    out.truncate(n);
    out
}

#[test]
fn a_large_in_order_payload_is_kept_and_read_intact_and_its_block_comes_back() {
    let (mut p, h, our) = connection();
    let data = pattern(0, 40_000);
    let (back, at) = deliver(&mut p, &Seg::new(flags("ACK"), PEER_ISS + 1, our).data(&data));
    assert!(back.is_none(), "the block became part of the receive buffer");
    let acks = p.sent();
    assert_eq!(acks.last().map(|a| a.ack), Some(PEER_ISS + 1 + 40_000), "acknowledged at once: {acks:?}");
    // A small segment after it is copied (its block comes back) and lands after it.
    let tail = pattern(40_000, 500);
    let (back, _) = deliver(&mut p, &Seg::new(flags("ACK|PSH"), PEER_ISS + 1 + 40_000, our).data(&tail));
    give_block(back.expect("a small payload is copied; its block comes back"));
    let got = read_all(&mut p, h);
    assert_eq!(got.len(), 40_500);
    assert!(got == pattern(0, 40_500), "bytes intact and in order");
    // Drained, the kept block went back to this thread's pool: the next block is it.
    let again = take_block();
    let reused = std::ptr::eq(again.as_ptr(), at) || {
        let second = take_block();
        let r = std::ptr::eq(second.as_ptr(), at);
        give_block(second);
        r
    };
    give_block(again);
    assert!(reused, "the kept block is back in the pool");
}

#[test]
fn out_of_order_data_is_copied_and_the_stream_stays_whole() {
    let (mut p, h, our) = connection();
    // Both within the first window (64 KB).
    let first = pattern(0, 33_000);
    let second = pattern(33_000, 30_000);
    // The second part first: held out of order, copied, its block back.
    let (back, _) = deliver(&mut p, &Seg::new(flags("ACK"), PEER_ISS + 1 + 33_000, our).data(&second));
    give_block(back.expect("out-of-order data is copied"));
    // The first part fills the hole: with data held beyond it, it is copied too.
    let (back, _) = deliver(&mut p, &Seg::new(flags("ACK"), PEER_ISS + 1, our).data(&first));
    give_block(back.expect("filling a hole copies"));
    assert_eq!(p.sent().last().map(|a| a.ack), Some(PEER_ISS + 1 + 63_000));
    assert!(read_all(&mut p, h) == pattern(0, 63_000));
}

#[test]
fn a_duplicate_of_kept_data_is_not_kept_again() {
    let (mut p, h, our) = connection();
    let data = pattern(0, 33_000);
    let seg = Seg::new(flags("ACK"), PEER_ISS + 1, our).data(&data);
    assert!(deliver(&mut p, &seg).0.is_none());
    let (back, _) = deliver(&mut p, &seg);
    give_block(back.expect("a retransmission of received bytes is not kept"));
    assert!(read_all(&mut p, h) == data, "the bytes once");
}

#[test]
fn data_with_the_fin_that_ends_the_connection_is_kept_for_the_application() {
    let (mut p, h, _) = connection();
    // We close first: FIN-WAIT-1, then FIN-WAIT-2 once the peer acknowledges our FIN.
    p.shard.shutdown_write(h).unwrap();
    let fin = p.sent().into_iter().find(|s| s.flags.fin()).expect("our FIN");
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, fin.seq + 1));
    // The peer's last data and its FIN: the connection is over (TIME-WAIT) while the
    // application has not read yet.
    let data = pattern(0, 50_000);
    let (back, _) = deliver(&mut p, &Seg::new(flags("ACK|FIN"), PEER_ISS + 1, fin.seq + 1).data(&data));
    assert!(back.is_none(), "kept");
    assert_eq!(p.sent().last().map(|a| a.ack), Some(PEER_ISS + 1 + 50_000 + 1), "data and FIN acknowledged");
    assert!(read_all(&mut p, h) == data);
    assert!(matches!(p.shard.state(h), Ok(State::TimeWait) | Ok(State::Closed) | Err(_)));
}

#[test]
fn a_packet_that_resets_the_connection_gives_its_block_back() {
    let (mut p, _h, our) = connection();
    let data = pattern(0, 40_000);
    let (back, _) = deliver(&mut p, &Seg::new(flags("RST|ACK"), PEER_ISS + 1, our).data(&data));
    give_block(back.expect("nothing of a RST is kept"));
}
