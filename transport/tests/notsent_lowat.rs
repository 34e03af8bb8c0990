//! Segment-level tests of the bound on unsent bytes (`Shard::set_notsent_lowat`, Linux's
//! `TCP_NOTSENT_LOWAT`) and of when a writer is told to write again.

mod common;

use common::peer::{Peer, Seg, flags, plain_config};
use ringtcp_transport::wire::TcpOptions;
use ringtcp_transport::{Config, Error, Event, SocketHandle};

const PEER_ISS: u32 = 1000;
/// The peer's window: a send quantum is half of it, 16,000 bytes of 1,000-byte segments.
const PEER_WINDOW: u16 = 32_000;

/// Established with an MSS of 1,000 bytes and a 32,000-byte peer window; returns the
/// first data sequence number.
fn established(cfg: Config) -> (Peer, SocketHandle, u32) {
    let mut p = Peer::new(cfg);
    let l = p.shard.listen(p.us, 8).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).win(PEER_WINDOW).opts(TcpOptions { mss: Some(1000), ..TcpOptions::default() }));
    let sa = p.one();
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, sa.seq + 1).win(PEER_WINDOW));
    let h = p.shard.accept(l).unwrap().unwrap();
    (p, h, sa.seq + 1)
}

/// Writes as a blocking writer would until the shard takes nothing more; returns how
/// much it took. Each call's segments leave before the next call, as they would between
/// two writes of an application.
fn write_until_full(p: &mut Peer, h: SocketHandle, data: &[u8], sent: &mut Vec<u8>) -> usize {
    let mut taken = 0;
    while taken < data.len() {
        match p.shard.send(h, &data[taken..]) {
            Ok(n) => taken += n,
            Err(Error::WouldBlock) => break,
            Err(e) => panic!("send: {e:?}"),
        }
        sent.extend(p.sent().into_iter().flat_map(|s| s.payload));
    }
    taken
}

fn ack(p: &mut Peer, first: u32, upto: u32, sent: &mut Vec<u8>) {
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, first + upto).win(PEER_WINDOW));
    sent.extend(p.sent().into_iter().flat_map(|s| s.payload));
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn socket_events(p: &mut Peer, h: SocketHandle) -> usize {
    std::iter::from_fn(|| p.shard.poll_event()).filter(|e| *e == Event::Socket(h)).count()
}

#[test]
fn a_write_stops_once_the_bound_is_reached_in_whole_quanta() {
    let (mut p, h, _) = established(plain_config());
    p.shard.set_notsent_lowat(h, Some(4_000)).unwrap();
    let data = pattern(59_000);
    let mut sent = Vec::new();
    // The first quantum (16,000 bytes) is taken, ten segments leave (the initial window);
    // the 6,000 left unsent are over the bound, but the quantum they are in is filled up
    // (10,000 more), and then nothing: 26,000 in all, as Linux takes.
    assert_eq!(write_until_full(&mut p, h, &data, &mut sent), 26_000);
    assert_eq!(sent.len(), 10_000);
    assert_eq!(p.shard.send(h, b"x"), Err(Error::WouldBlock));
    assert!(!p.shard.is_writable(h).unwrap());
}

#[test]
fn without_a_bound_the_send_buffer_alone_limits_a_write() {
    let (mut p, h, _) = established(plain_config());
    let mut sent = Vec::new();
    assert_eq!(write_until_full(&mut p, h, &pattern(100_000), &mut sent), 65_535, "the whole buffer");
    assert_eq!(p.shard.notsent_lowat(h).unwrap(), None);
}

#[test]
fn the_writer_is_woken_once_fewer_than_half_the_bound_are_unsent_and_every_byte_arrives_in_order() {
    let (mut p, h, first) = established(plain_config());
    p.shard.set_notsent_lowat(h, Some(4_000)).unwrap();
    let data = pattern(40_000);
    let mut sent = Vec::new();
    let mut taken = write_until_full(&mut p, h, &data, &mut sent);
    assert_eq!(taken, 26_000);
    socket_events(&mut p, h);
    // Each ACK of 2,000 bytes lets 4,000 more go (slow start); unsent: 12,000, 8,000, 4,000.
    for upto in [2_000, 4_000, 6_000] {
        ack(&mut p, first, upto, &mut sent);
        assert!(!p.shard.is_writable(h).unwrap(), "not yet writable after the ACK of {upto}");
    }
    assert_eq!(sent.len(), 22_000);
    // The ACK that lets the last 4,000 go leaves nothing unsent: under 2,000, half the
    // bound, so the writer hears of it and may write again.
    ack(&mut p, first, 8_000, &mut sent);
    assert_eq!(sent.len(), 26_000);
    assert!(p.shard.is_writable(h).unwrap());
    assert!(socket_events(&mut p, h) > 0, "the writer is woken");
    taken += write_until_full(&mut p, h, &data[taken..], &mut sent);
    assert_eq!(taken, 40_000, "the rest of the data fits under the bound again");
    let mut acked = 8_000;
    while sent.len() < data.len() {
        acked = sent.len() as u32;
        ack(&mut p, first, acked, &mut sent);
    }
    assert!(acked > 8_000);
    assert_eq!(sent, data, "every byte sent once, in order");
}

#[test]
fn the_shard_default_bounds_every_connection_that_sets_none() {
    let cfg = Config { notsent_lowat: Some(4_000), ..plain_config() };
    let (mut p, h, _) = established(cfg);
    assert_eq!(p.shard.notsent_lowat(h).unwrap(), Some(4_000));
    let mut sent = Vec::new();
    assert_eq!(write_until_full(&mut p, h, &pattern(59_000), &mut sent), 26_000);
    // A socket's own value replaces the default; clearing it goes back to the default.
    p.shard.set_notsent_lowat(h, Some(100_000)).unwrap();
    assert!(p.shard.is_writable(h).unwrap());
    p.shard.set_notsent_lowat(h, None).unwrap();
    assert_eq!(p.shard.notsent_lowat(h).unwrap(), Some(4_000));
}

#[test]
fn a_full_send_buffer_is_writable_again_only_once_a_third_of_it_is_free() {
    let (mut p, h, first) = established(plain_config());
    let mut sent = Vec::new();
    // The 65,535-byte buffer full: ten segments out, the rest queued.
    assert_eq!(write_until_full(&mut p, h, &pattern(65_535), &mut sent), 65_535);
    // Room for a few bytes is not enough to wake a writer (Linux's sk_stream_is_writeable:
    // free at least half of what is queued)...
    ack(&mut p, first, 10_000, &mut sent);
    assert_eq!(p.shard.send_queue(h).unwrap(), 55_535);
    assert!(!p.shard.is_writable(h).unwrap(), "10,000 free of 65,535");
    // ...a write would still be taken...
    assert!(p.shard.send_capacity(h).unwrap() > 0);
    // ...and 22,000 free (43,535 queued, half of it 21,767) is.
    ack(&mut p, first, 22_000, &mut sent);
    assert!(p.shard.is_writable(h).unwrap());
}
