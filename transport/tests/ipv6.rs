//! IPv6 at the segment level: the handshake, data, close, RST, RFC 5961 and FIN-cache
//! answers over IPv6 (RFC 8200 / RFC 9293), dual-stack listeners, extension headers and
//! ICMPv6 (RFC 4443, RFC 8201) reaching the shard, each bad packet counted.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::peer::{PEER, PEER_PORT, PEER6, Peer, Seg, US, US6, US_PORT, flags, packet, plain_config};
use ringtcp_transport::wire::{
    IPV6_HEADER_LEN, Icmpv6ErrorKind, Icmpv6Message, Ipv6Packet, PROTO_ICMPV6, TcpOptions, Timestamps, emit_icmpv6_error,
};
use ringtcp_transport::{Config, Error, SocketHandle, SocketOptions, State, SynCookies};

const PEER_ISS: u32 = 5000;

fn mss(m: u16) -> TcpOptions {
    TcpOptions { mss: Some(m), ..TcpOptions::default() }
}

/// LISTEN → ESTABLISHED over IPv6; returns the accepted handle and our ISS.
fn passive(p: &mut Peer) -> (SocketHandle, u32) {
    let l = p.shard.listen(p.us, 8).unwrap();
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(mss(1440)));
    let synack = p.one();
    assert_eq!(synack.flags, flags("SYN|ACK"));
    assert_eq!(synack.ack, PEER_ISS + 1);
    // RFC 8200 §5 / RFC 9293 §3.7.1: 1,500 less 40 bytes of IPv6 and 20 of TCP.
    assert_eq!(synack.opts.mss, Some(1440));
    let iss = synack.seq;
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 1));
    p.none();
    let h = p.shard.accept(l).unwrap().expect("handshake complete");
    assert_eq!(p.shard.peer_addr(h).unwrap(), p.peer);
    assert_eq!(p.shard.local_addr(h).unwrap(), p.us);
    (h, iss)
}

#[test]
fn handshake_data_and_close_over_ipv6_end_in_a_v6_record() {
    // The peer's prefix is on-link, so its record gets the local MSL class.
    let cfg = Config { on_link: vec![("fd77::".parse().unwrap(), 64)], ..plain_config() };
    let mut p = Peer::new_v6(cfg);
    let (h, iss) = passive(&mut p);
    p.inject(Seg::new(flags("ACK|PSH"), PEER_ISS + 1, iss + 1).data(b"over v6"));
    let ack = p.one();
    assert_eq!((ack.flags, ack.ack), (flags("ACK"), PEER_ISS + 8));
    let mut buf = [0u8; 16];
    assert_eq!(p.shard.recv(h, &mut buf).unwrap(), 7);
    assert_eq!(&buf[..7], b"over v6");
    p.shard.send(h, b"and back").unwrap();
    let data = p.one();
    assert_eq!((data.seq, data.payload.as_slice()), (iss + 1, &b"and back"[..]));
    // We close first: FIN, the peer's ACK and FIN, our last ACK, then a record.
    p.shard.close(p.now, h).unwrap();
    let fin = p.one();
    assert_eq!((fin.flags, fin.seq), (flags("FIN|ACK"), iss + 9));
    p.inject(Seg::new(flags("FIN|ACK"), PEER_ISS + 8, iss + 10));
    let last = p.one();
    assert_eq!((last.flags, last.seq, last.ack), (flags("ACK"), iss + 10, PEER_ISS + 9));
    assert_eq!(p.shard.fin_cache().len_v6(), 1, "TIME-WAIT is an IPv6 record, not a connection");
    assert_eq!(p.shard.connection_count(), 0);
    // A retransmitted FIN is answered from the record (RFC 9293 §3.10.7.4); a RST does
    // not end it (RFC 1337).
    p.inject(Seg::new(flags("FIN|ACK"), PEER_ISS + 8, iss + 10));
    assert_eq!(p.one(), Seg::new(flags("ACK"), iss + 10, PEER_ISS + 9).win(0));
    p.inject(Seg::new(flags("RST"), PEER_ISS + 9, 0));
    p.none();
    let st = p.shard.fin_cache().stats();
    assert_eq!((st.fins_reacked, st.rsts_ignored, st.live), (1, 1, [0, 1, 0]), "{st:?}");
}

#[test]
fn an_active_open_picks_the_v6_source_and_the_v6_default_mss() {
    let mut p = Peer::new_v6(plain_config());
    // The unspecified address with our port: the shard picks the IPv6 source itself.
    let h = p.shard.connect(p.now, p.peer, Some(format!("[::]:{US_PORT}").parse().unwrap())).unwrap();
    let syn = p.one();
    assert_eq!(syn.opts.mss, Some(1440));
    assert_eq!(p.shard.local_addr(h).unwrap().ip(), IpAddr::V6(US6));
    // A SYN-ACK without MSS: RFC 9293 §3.7.1 and RFC 8200 §5 give 1,220 over IPv6.
    p.inject_from(p.peer, Seg::new(flags("SYN|ACK"), PEER_ISS, syn.seq + 1));
    assert_eq!(p.one().flags, flags("ACK"));
    p.shard.set_nodelay(h, true).unwrap();
    p.shard.send(h, &[7u8; 3000]).unwrap();
    let sizes: Vec<usize> = p.sent().iter().map(|s| s.payload.len()).collect();
    assert_eq!(sizes, [1220, 1220, 560]);
}

#[test]
fn a_closed_port_answers_rst_and_rfc5961_holds_over_ipv6() {
    let mut p = Peer::new_v6(plain_config());
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0));
    assert_eq!(p.one(), Seg::new(flags("RST|ACK"), 0, PEER_ISS + 1).win(0));
    let (h, iss) = passive(&mut p);
    // RFC 5961 §3.2: a RST in the window but not at RCV.NXT gets a challenge ACK.
    p.inject(Seg::new(flags("RST"), PEER_ISS + 100, 0));
    assert_eq!(p.one(), Seg::new(flags("ACK"), iss + 1, PEER_ISS + 1));
    // §4.2: so does a SYN on an established connection.
    p.inject(Seg::new(flags("SYN"), PEER_ISS + 7, 0));
    assert_eq!(p.one(), Seg::new(flags("ACK"), iss + 1, PEER_ISS + 1));
    assert_eq!(p.shard.state(h).unwrap(), State::Established);
    // The exact RST resets.
    p.inject(Seg::new(flags("RST"), PEER_ISS + 1, 0));
    assert_eq!(p.shard.error(h).unwrap(), Some(Error::ConnectionReset));
    assert!(p.shard.stats().challenge_acks >= 2);
}

#[test]
fn a_dual_stack_listener_takes_both_families_and_only_v6_takes_one() {
    let mut p = Peer::new_v6(plain_config());
    let any6: SocketAddr = format!("[::]:{US_PORT}").parse().unwrap();
    let l = p.shard.listen(any6, 8).unwrap();
    assert_eq!(p.shard.listen(format!("0.0.0.0:{US_PORT}").parse().unwrap(), 8), Err(Error::AddrInUse));
    let v4_peer = SocketAddr::new(PEER.into(), PEER_PORT);
    let v4_us = SocketAddr::new(US.into(), US_PORT);
    for (from, to) in [(p.peer, p.us), (v4_peer, v4_us)] {
        p.shard.handle_packet(p.now, &packet(from, to, &Seg::new(flags("SYN"), PEER_ISS, 0)));
        let synack = p.sent_raw();
        assert_eq!(synack.len(), 1);
        let (src, seg) = common::peer::parse_packet(&synack[0]);
        assert_eq!(src, to.ip(), "answered from the address the SYN went to");
        assert_eq!(seg.header.options.mss, Some(if from.is_ipv4() { 1460 } else { 1440 }));
        let ack = Seg::new(flags("ACK"), PEER_ISS + 1, seg.header.seq.0 + 1);
        p.shard.handle_packet(p.now, &packet(from, to, &ack));
        let h = p.shard.accept(l).unwrap().expect("accepted");
        assert_eq!(p.shard.peer_addr(h).unwrap(), from);
    }

    let mut q = Peer::new_v6(plain_config());
    let only = SocketOptions { only_v6: true, ..SocketOptions::default() };
    q.shard.listen_with(any6, 8, only).unwrap();
    q.shard.handle_packet(q.now, &packet(v4_peer, v4_us, &Seg::new(flags("SYN"), PEER_ISS, 0)));
    let answer = q.sent_raw();
    let (_, rst) = common::peer::parse_packet(&answer[0]);
    assert!(rst.header.flags.rst(), "an IPv6-only listener does not take IPv4");
    // IPv4 may have its own listener on the port beside an IPv6-only one.
    q.shard.listen(format!("0.0.0.0:{US_PORT}").parse().unwrap(), 8).unwrap();
}

#[test]
fn syn_cookies_work_over_ipv6() {
    let cfg = Config { syn_cookies: SynCookies::Always, timestamps: true, ..plain_config() };
    let mut p = Peer::new_v6(cfg);
    let l = p.shard.listen(p.us, 8).unwrap();
    let ts = |val| TcpOptions { mss: Some(1440), timestamps: Some(Timestamps { val, ecr: 0 }), ..TcpOptions::default() };
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(ts(1)));
    let synack = p.one();
    assert_eq!(p.shard.stats().syncookies_sent, 1);
    assert_eq!(synack.opts.mss, Some(1440), "the IPv6 MSS in a cookie SYN-ACK too");
    assert_eq!(p.shard.syn_queue_len(l).unwrap(), 0, "no state kept");
    let ecr = synack.opts.timestamps.unwrap().val;
    let ack = TcpOptions { timestamps: Some(Timestamps { val: 2, ecr }), ..TcpOptions::default() };
    p.inject(Seg::new(flags("ACK|PSH"), PEER_ISS + 1, synack.seq + 1).opts(ack).data(b"cookie"));
    let h = p.shard.accept(l).unwrap().expect("a valid cookie opens the connection");
    let mut buf = [0u8; 8];
    assert_eq!(p.shard.recv(h, &mut buf).unwrap(), 6);
    assert_eq!(p.shard.stats().syncookies_recv, 1);
    // The same cookie from another IPv6 source is rejected.
    let other = SocketAddr::new("fd77::99".parse().unwrap(), PEER_PORT);
    p.inject_from(other, Seg::new(flags("ACK"), PEER_ISS + 1, synack.seq + 1).opts(ack));
    assert_eq!(p.shard.drops().syncookies_failed, 1);
}

/// A SYN to our listener whose IPv6 packet carries `exts` (type, bytes with the first
/// byte left for the next header) before TCP.
fn syn_with_extensions(p: &Peer, exts: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let plain = packet(p.peer, p.us, &Seg::new(flags("SYN"), PEER_ISS, 0));
    let tcp = &plain[IPV6_HEADER_LEN..];
    let mut out = plain[..IPV6_HEADER_LEN].to_vec();
    let ext_len: usize = exts.iter().map(|e| e.1.len()).sum();
    out[4..6].copy_from_slice(&((ext_len + tcp.len()) as u16).to_be_bytes());
    if let Some(first) = exts.first() {
        out[6] = first.0;
    }
    for (i, (_, bytes)) in exts.iter().enumerate() {
        let mut b = bytes.clone();
        b[0] = exts.get(i + 1).map_or(6, |e| e.0);
        out.extend_from_slice(&b);
    }
    out.extend_from_slice(tcp);
    out
}

#[test]
fn extension_headers_are_walked_and_bad_packets_counted() {
    let mut p = Peer::new_v6(plain_config());
    p.shard.listen(p.us, 8).unwrap();
    // Hop-by-hop with PadN and destination options with Pad1s: skipped, the SYN answered.
    let hbh = vec![0, 0, 1, 4, 0, 0, 0, 0];
    let dst = vec![0, 0, 0, 0, 0, 0, 0, 0];
    p.shard.handle_packet(p.now, &syn_with_extensions(&p, &[(0, hbh), (60, dst)]));
    assert_eq!(p.one().flags, flags("SYN|ACK"));
    let before = p.shard.drops().clone();
    // A routing header with segments left: not ours to act on.
    p.shard.handle_packet(p.now, &syn_with_extensions(&p, &[(43, vec![0, 0, 4, 1, 0, 0, 0, 0])]));
    // A first fragment.
    p.shard.handle_packet(p.now, &syn_with_extensions(&p, &[(44, vec![0, 0, 0, 1, 0, 0, 0, 9])]));
    // An IPv4-mapped source on the wire.
    let mapped = SocketAddr::new(IpAddr::V6(PEER.to_ipv6_mapped()), PEER_PORT);
    p.shard.handle_packet(p.now, &packet(mapped, p.us, &Seg::new(flags("SYN"), PEER_ISS, 0)));
    // A bad TCP checksum, a truncated header, a packet for an address not ours.
    let mut bad = packet(p.peer, p.us, &Seg::new(flags("SYN"), PEER_ISS, 0));
    bad[IPV6_HEADER_LEN + 4] ^= 1;
    p.shard.handle_packet(p.now, &bad);
    p.shard.handle_packet(p.now, &bad[..30]);
    let elsewhere = SocketAddr::new("fd77::3".parse().unwrap(), US_PORT);
    p.shard.handle_packet(p.now, &packet(p.peer, elsewhere, &Seg::new(flags("SYN"), PEER_ISS, 0)));
    p.none();
    let d = p.shard.drops();
    assert_eq!(d.extension_header - before.extension_header, 1);
    assert_eq!(d.fragment - before.fragment, 1);
    assert_eq!(d.malformed - before.malformed, 1);
    assert_eq!(d.bad_checksum - before.bad_checksum, 1);
    assert_eq!(d.truncated - before.truncated, 1);
    assert_eq!(d.not_for_us - before.not_for_us, 1);
    assert_eq!(p.shard.stats().ip6_in_receives, 7);
}

/// Our last data segment, quoted in an ICMPv6 error from a router.
fn icmpv6_about(p: &mut Peer, kind: Icmpv6ErrorKind, offending: &[u8]) {
    let mut buf = vec![0u8; 1400];
    let router = "fd77::fe".parse().unwrap();
    let n = emit_icmpv6_error(&mut buf, router, US6, kind, offending).unwrap();
    p.shard.handle_packet(p.now, &buf[..n]);
}

#[test]
fn packet_too_big_shrinks_the_segments_and_forged_errors_are_ignored() {
    let mut p = Peer::new_v6(plain_config());
    let (h, iss) = passive(&mut p);
    p.shard.send(h, &[1u8; 2880]).unwrap();
    let raw = p.sent_raw();
    assert_eq!(raw.len(), 2, "two full 1,440-byte segments");
    // RFC 5927 §4.1: an error quoting a sequence number not in flight is not believed.
    let mut stale = raw[0].clone();
    stale[IPV6_HEADER_LEN + 4..IPV6_HEADER_LEN + 8].copy_from_slice(&(iss - 1000).to_be_bytes());
    icmpv6_about(&mut p, Icmpv6ErrorKind::PacketTooBig(1300), &stale);
    assert_eq!(p.shard.drops().icmp_unmatched, 1);
    p.none();
    // RFC 8201 §4: an MTU below 1,280 counts as 1,280; what was in flight goes again at
    // 1,280 − 60 = 1,220 bytes a segment.
    icmpv6_about(&mut p, Icmpv6ErrorKind::PacketTooBig(600), &raw[0]);
    assert_eq!(p.shard.stats().pmtu_updates, 1);
    p.advance(Duration::from_millis(1));
    let resent: Vec<usize> = p.sent().iter().map(|s| s.payload.len()).collect();
    assert_eq!(resent, [1220, 1220, 440]);
    // The peer's ACK of everything; the connection goes on.
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, iss + 2881));
    assert_eq!(p.shard.state(h).unwrap(), State::Established);
}

#[test]
fn port_unreachable_refuses_a_v6_connect_and_echo_is_answered() {
    let mut p = Peer::new_v6(plain_config());
    let h = p.shard.connect(p.now, p.peer, None).unwrap();
    let syn = p.sent_raw().remove(0);
    icmpv6_about(&mut p, Icmpv6ErrorKind::Unreachable(4), &syn);
    assert_eq!(p.shard.error(h).unwrap(), Some(Error::ConnectionRefused));

    // Echo request → echo reply from our address, data intact.
    let buf = echo_request(b"ping6");
    p.shard.handle_packet(p.now, &buf);
    let out = p.sent_raw();
    assert_eq!(out.len(), 1);
    let ip = Ipv6Packet::parse(&out[0]).unwrap();
    assert_eq!((ip.src(), ip.dst(), ip.next_header()), (US6, PEER6, PROTO_ICMPV6));
    let reply = Icmpv6Message::parse(ip.payload(), ip.src(), ip.dst()).unwrap();
    assert_eq!(reply, Icmpv6Message::EchoReply { ident: 0x77, seq: 3 });
    assert_eq!(&ip.payload()[8..], b"ping6");
    assert_eq!(p.shard.stats().icmp_out, 1);
}

/// An ICMPv6 echo request from the peer to us, checksummed over the pseudo-header
/// (RFC 4443 §2.3), built by hand.
fn echo_request(data: &[u8]) -> Vec<u8> {
    let mut msg = vec![128, 0, 0, 0, 0, 0x77, 0, 3];
    msg.extend_from_slice(data);
    let mut summed = Vec::new();
    summed.extend_from_slice(&PEER6.octets());
    summed.extend_from_slice(&US6.octets());
    summed.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    summed.extend_from_slice(&[0, 0, 0, PROTO_ICMPV6]);
    summed.extend_from_slice(&msg);
    let sum = ringtcp_transport::wire::checksum::checksum(&summed);
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut packet = vec![0u8; IPV6_HEADER_LEN];
    ringtcp_transport::wire::emit_ipv6_header(&mut packet, PEER6, US6, PROTO_ICMPV6, msg.len(), 64);
    packet.extend_from_slice(&msg);
    packet
}

#[test]
fn the_traffic_class_set_on_a_v6_connection_is_on_its_packets() {
    let mut p = Peer::new_v6(plain_config());
    let (h, _) = passive(&mut p);
    p.shard.set_tos(h, 0xb8).unwrap();
    p.shard.send(h, b"marked").unwrap();
    let raw = p.sent_raw();
    assert_eq!(raw.len(), 1);
    let ip = Ipv6Packet::parse(&raw[0]).unwrap();
    assert_eq!(ip.traffic_class(), 0xb8, "DSCP EF in the IPv6 traffic class (RFC 8200 §7)");
}
