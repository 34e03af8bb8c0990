//! Segment-level tests of interactive ("pingpong") acknowledgement: once we answer the
//! peer's data within a delayed-ACK time, its next data is not acknowledged at once but by
//! our next reply, as Linux does; a reply that does not come in time ends that.

mod common;

use std::time::Duration;

use common::peer::{Peer, Seg, flags, plain_config};
use ringtcp_transport::SocketHandle;

const PEER_ISS: u32 = 1000;

/// Established, as a server; returns (handle, our first data sequence number).
fn established() -> (Peer, SocketHandle, u32) {
    common::peer::accepted_mss_1000(plain_config(), PEER_ISS)
}

/// The peer sends `data` at `seq` (relative to its first data byte), acknowledging `ack`
/// bytes of ours.
fn request(p: &mut Peer, first: u32, seq: u32, ack: u32, data: &[u8]) {
    p.inject(Seg::new(flags("ACK|PSH"), PEER_ISS + 1 + seq, first + ack).data(data));
}

/// Reads what arrived, as the application would.
fn read_all(p: &mut Peer, h: SocketHandle) -> Vec<u8> {
    let mut buf = [0u8; 4096];
    let n = p.shard.recv(h, &mut buf).unwrap();
    buf[..n].to_vec()
}

/// The first request ("GET /1", acknowledged at once: the quick ACKs of a new
/// connection) and, `after` it, the reply "reply 1".
fn first_exchange(p: &mut Peer, h: SocketHandle, first: u32, after: Duration) {
    request(p, first, 0, 0, b"GET /1");
    assert_eq!(p.one().ack, PEER_ISS + 1 + 6);
    assert_eq!(read_all(p, h), b"GET /1");
    p.advance(after);
    p.shard.send(h, b"reply 1").unwrap();
    assert_eq!(p.one().payload, b"reply 1");
}

#[test]
fn a_request_after_a_prompt_reply_is_acknowledged_by_the_next_reply() {
    let (mut p, h, first) = established();
    first_exchange(&mut p, h, first, Duration::from_millis(5));
    // We replied within 40 ms: the second request waits for our reply to carry its ACK.
    request(&mut p, first, 6, 7, b"GET /2");
    p.none();
    assert_eq!(read_all(&mut p, h), b"GET /2");
    p.advance(Duration::from_millis(5));
    p.shard.send(h, b"reply 2").unwrap();
    let reply = p.one();
    assert_eq!((reply.payload.as_slice(), reply.ack), (&b"reply 2"[..], PEER_ISS + 1 + 12));
}

#[test]
fn a_reply_that_does_not_come_in_time_ends_the_interactive_acks() {
    let (mut p, h, first) = established();
    first_exchange(&mut p, h, first, Duration::ZERO);
    request(&mut p, first, 6, 7, b"GET /2");
    p.none();
    // No reply: the delayed ACK goes after 40 ms...
    p.advance(Duration::from_millis(40));
    assert_eq!(p.one().ack, PEER_ISS + 1 + 12);
    // ...and from then on data is acknowledged at once again.
    request(&mut p, first, 12, 7, b"GET /3");
    assert_eq!(p.one().ack, PEER_ISS + 1 + 18);
}

#[test]
fn a_reply_long_after_the_request_is_no_interactive_exchange() {
    let (mut p, h, first) = established();
    first_exchange(&mut p, h, first, Duration::from_millis(100));
    request(&mut p, first, 6, 7, b"GET /2");
    assert_eq!(p.one().ack, PEER_ISS + 1 + 12, "acknowledged at once");
}

#[test]
fn quickack_acknowledges_at_once_even_in_an_interactive_exchange() {
    let (mut p, h, first) = established();
    first_exchange(&mut p, h, first, Duration::ZERO);
    p.shard.set_quickack(h, true).unwrap();
    request(&mut p, first, 6, 7, b"GET /2");
    assert_eq!(p.one().ack, PEER_ISS + 1 + 12);
}
