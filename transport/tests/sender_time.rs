//! Segment-level tests of where a sender's time goes (`TcpInfo::busy_time`,
//! `receive_window_limited`, `send_buffer_limited`: Linux's chrono figures).

mod common;

use std::time::Duration;

use common::peer::{Peer, Seg, flags, plain_config};
use ringtcp_transport::wire::TcpOptions;
use ringtcp_transport::{SocketHandle, SocketOptions, TcpInfo};

const PEER_ISS: u32 = 1000;

/// Established with an MSS of 1,000 bytes and the peer's window `win`, our socket's send
/// buffer `tx`; returns our first data sequence number.
fn established(win: u16, tx: usize) -> (Peer, SocketHandle, u32) {
    let mut p = Peer::new(plain_config());
    let opts = SocketOptions { tx_buffer: Some(tx), ..SocketOptions::default() };
    let l = p.shard.listen_with(p.us, 8, opts).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).win(win).opts(TcpOptions { mss: Some(1000), ..TcpOptions::default() }));
    let sa = p.one();
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, sa.seq + 1).win(win));
    let h = p.shard.accept(l).unwrap().unwrap();
    (p, h, sa.seq + 1)
}

fn info(p: &Peer, h: SocketHandle) -> TcpInfo {
    p.shard.tcp_info(h, p.now).unwrap().unwrap()
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

#[test]
fn time_held_by_a_closed_receive_window_is_counted_apart_within_the_busy_time() {
    let (mut p, h, first) = established(0, 65_535);
    assert_eq!(ms(info(&p, h).busy_time), 0);
    p.shard.send(h, &[1u8; 1000]).unwrap();
    p.none();
    p.advance(Duration::from_millis(100));
    let i = info(&p, h);
    assert_eq!((ms(i.receive_window_limited), ms(i.busy_time)), (100, 100));
    // The window opens: the data goes, and waiting for its ACK is busy, not limited.
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, first).win(2000));
    assert_eq!(p.sent().len(), 1);
    p.advance(Duration::from_millis(30));
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, first + 1000).win(2000));
    // Acknowledged: nothing to deliver, the clocks stop.
    p.advance(Duration::from_millis(500));
    let i = info(&p, h);
    assert_eq!((ms(i.receive_window_limited), ms(i.busy_time), ms(i.send_buffer_limited)), (100, 130, 0));
}

#[test]
fn time_a_writer_waits_for_room_in_the_send_buffer_is_counted_until_it_is_writable_again() {
    let (mut p, h, first) = established(65_535, 4096);
    // The 4,096-byte buffer takes less than offered: the writer is held by it.
    assert_eq!(p.shard.send(h, &[2u8; 10_000]).unwrap(), 4096);
    p.sent();
    p.advance(Duration::from_millis(50));
    assert_eq!(ms(info(&p, h).send_buffer_limited), 50);
    // An ACK that frees the whole buffer makes it writable: the limit ends there.
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, first + 4096));
    p.advance(Duration::from_millis(50));
    let i = info(&p, h);
    assert_eq!((ms(i.send_buffer_limited), ms(i.busy_time), ms(i.receive_window_limited)), (50, 50, 0));
}
