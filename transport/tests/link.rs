//! Layer 2 (`link::EthernetLink`): ARP and neighbour discovery answered and used, held
//! packets released or failed, limits and malformed frames counted, and a connection
//! carried end to end between two stacks that know nothing of each other at first.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ringtcp_transport::link::{EthernetLink, LinkConfig};
use ringtcp_transport::wire::{
    ARP_LEN, ArpOp, ArpPacket, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, EthernetFrame, Ipv6Packet, MacAddr,
    NDP_PACKET_LEN, NdpMessage, emit_ethernet_header, emit_neighbor_solicitation, solicited_node,
};
use ringtcp_transport::{Config, Error, Instant, Secret, Shard, State};

const MAC_A: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa]);
const MAC_B: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xb]);
const MAC_GW: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x1]);

fn v4(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A shard and its link answering for `addrs` (each on a /24 or /64).
fn host(mac: MacAddr, addrs: &[&str]) -> (Shard, EthernetLink) {
    let ips: Vec<IpAddr> = addrs.iter().map(|a| a.parse().unwrap()).collect();
    let shard = Shard::new(Config::default(), &ips, Secret([mac.0[5]; 16]));
    let link = EthernetLink::new(LinkConfig::new(mac, ips.iter().map(|&ip| (ip, if ip.is_ipv4() { 24 } else { 64 })).collect()));
    (shard, link)
}

fn drain(link: &mut EthernetLink, shard: &mut Shard, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 2048];
    while let Some(n) = link.poll_transmit(now, shard, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

fn arp_of(frame: &[u8]) -> Option<(MacAddr, ArpPacket)> {
    let f = EthernetFrame::parse(frame).ok()?;
    (f.ethertype == ETHERTYPE_ARP).then(|| (f.dst, ArpPacket::parse(f.payload).unwrap()))
}

fn arp_frame(dst: MacAddr, p: ArpPacket) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    emit_ethernet_header(&mut f, dst, p.sender_mac, ETHERTYPE_ARP);
    p.emit(&mut f[14..14 + ARP_LEN]);
    f
}

fn reply(from_mac: MacAddr, from: &str, to_mac: MacAddr, to: &str) -> Vec<u8> {
    let p = ArpPacket { op: ArpOp::Reply, sender_mac: from_mac, sender_ip: from.parse().unwrap(), target_mac: to_mac, target_ip: to.parse().unwrap() };
    arp_frame(to_mac, p)
}

fn ethertype(frame: &[u8]) -> u16 {
    EthernetFrame::parse(frame).unwrap().ethertype
}

#[test]
fn a_connection_waits_for_arp_and_its_syn_leaves_for_the_resolved_address() {
    let (mut shard, mut link) = host(MAC_B, &["10.0.0.2"]);
    let now = Instant::ZERO;
    shard.connect(now, "10.0.0.1:80".parse().unwrap(), None).unwrap();
    let out = drain(&mut link, &mut shard, now);
    assert_eq!(out.len(), 1, "only the request: the SYN is held");
    let (dst, req) = arp_of(&out[0]).unwrap();
    assert_eq!((dst, req.op, req.sender_mac, req.sender_ip, req.target_ip), (MacAddr::BROADCAST, ArpOp::Request, MAC_B, Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1)));
    link.handle_frame(now, &reply(MAC_A, "10.0.0.1", MAC_B, "10.0.0.2"), &mut shard);
    let out = drain(&mut link, &mut shard, now);
    assert_eq!(out.len(), 1);
    let f = EthernetFrame::parse(&out[0]).unwrap();
    assert_eq!((f.dst, f.src, f.ethertype), (MAC_A, MAC_B, ETHERTYPE_IPV4));
    assert_eq!(f.payload[9], 6, "the held SYN");
    assert_eq!(link.neighbour(v4("10.0.0.1")), Some(MAC_A));
    assert_eq!((link.stats().resolved, link.stats().packets_held, link.stats().arp_requests_sent), (1, 1, 1));
    // A second connection goes straight out: no new request.
    shard.connect(now, "10.0.0.1:81".parse().unwrap(), None).unwrap();
    let out = drain(&mut link, &mut shard, now);
    assert_eq!(out.iter().map(|f| ethertype(f)).collect::<Vec<_>>(), vec![ETHERTYPE_IPV4]);
}

#[test]
fn requests_for_our_address_are_answered_and_others_are_not() {
    let (mut shard, mut link) = host(MAC_B, &["10.0.0.2"]);
    let now = Instant::ZERO;
    let ask = |target: &str| {
        arp_frame(MacAddr::BROADCAST, ArpPacket { op: ArpOp::Request, sender_mac: MAC_A, sender_ip: Ipv4Addr::new(10, 0, 0, 1), target_mac: MacAddr::default(), target_ip: target.parse().unwrap() })
    };
    link.handle_frame(now, &ask("10.0.0.7"), &mut shard);
    assert!(drain(&mut link, &mut shard, now).is_empty());
    assert_eq!(link.stats().drop_not_for_us, 1);
    assert_eq!(link.neighbour(v4("10.0.0.1")), None, "RFC 826: not added from a request for another host");
    link.handle_frame(now, &ask("10.0.0.2"), &mut shard);
    let out = drain(&mut link, &mut shard, now);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].len(), 60, "padded to the Ethernet minimum");
    let (dst, r) = arp_of(&out[0]).unwrap();
    assert_eq!((dst, r.op, r.sender_mac, r.sender_ip, r.target_mac, r.target_ip), (MAC_A, ArpOp::Reply, MAC_B, Ipv4Addr::new(10, 0, 0, 2), MAC_A, Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(link.neighbour(v4("10.0.0.1")), Some(MAC_A), "the asker is learned");
    // A host claiming our own address is not believed.
    let claim = ArpPacket { op: ArpOp::Reply, sender_mac: MAC_A, sender_ip: Ipv4Addr::new(10, 0, 0, 2), target_mac: MAC_B, target_ip: Ipv4Addr::new(10, 0, 0, 2) };
    link.handle_frame(now, &arp_frame(MAC_B, claim), &mut shard);
    assert_eq!(link.stats().drop_address_conflict, 1);
}

#[test]
fn an_unanswered_resolution_fails_the_attempt_with_host_unreachable_after_three_requests() {
    let (mut shard, mut link) = host(MAC_B, &["10.0.0.2"]);
    let mut now = Instant::ZERO;
    let s = shard.connect(now, "10.0.0.9:80".parse().unwrap(), None).unwrap();
    let mut requests = drain(&mut link, &mut shard, now).len();
    for _ in 0..5 {
        let Some(t) = link.poll_timeout() else { break };
        now = t;
        link.handle_timeout(now, &mut shard);
        shard.handle_timeout(now);
        requests += drain(&mut link, &mut shard, now).iter().filter(|f| arp_of(f).is_some()).count();
    }
    assert_eq!(requests, 3, "three requests, a second apart");
    assert_eq!(now, Instant::ZERO + Duration::from_secs(3));
    assert_eq!(shard.error(s), Ok(Some(Error::HostUnreachable)));
    assert_eq!(shard.state(s), Ok(State::Closed));
    assert_eq!(link.stats().resolution_failures, 1);
    assert_eq!(link.neighbour_count(), 0, "the failed entry is gone");
    assert_eq!(link.poll_timeout(), None);
}

#[test]
fn an_expired_entry_is_used_while_unicast_requests_confirm_it() {
    let (mut shard, mut link) = host(MAC_B, &["10.0.0.2"]);
    let mut now = Instant::ZERO;
    shard.connect(now, "10.0.0.1:80".parse().unwrap(), None).unwrap();
    drain(&mut link, &mut shard, now);
    link.handle_frame(now, &reply(MAC_A, "10.0.0.1", MAC_B, "10.0.0.2"), &mut shard);
    drain(&mut link, &mut shard, now);
    now += Duration::from_secs(31);
    shard.connect(now, "10.0.0.1:81".parse().unwrap(), None).unwrap();
    let out = drain(&mut link, &mut shard, now);
    assert_eq!(out.len(), 1, "the SYN goes to the old address");
    assert_eq!(EthernetFrame::parse(&out[0]).unwrap().dst, MAC_A);
    assert_eq!(link.poll_timeout(), Some(now));
    let mut probes = Vec::new();
    for _ in 0..4 {
        link.handle_timeout(now, &mut shard);
        probes.extend(drain(&mut link, &mut shard, now).iter().filter_map(|f| arp_of(f)));
        now += Duration::from_secs(1);
    }
    assert_eq!(probes.len(), 3);
    assert!(probes.iter().all(|(dst, p)| *dst == MAC_A && p.target_ip == Ipv4Addr::new(10, 0, 0, 1)), "unicast");
    assert_eq!(link.neighbour(v4("10.0.0.1")), None, "unconfirmed: dropped");
    // The next packet resolves again, by broadcast.
    shard.connect(now, "10.0.0.1:82".parse().unwrap(), None).unwrap();
    let out = drain(&mut link, &mut shard, now);
    assert_eq!(arp_of(&out[0]).map(|(d, _)| d), Some(MacAddr::BROADCAST));
}

#[test]
fn off_link_destinations_go_through_the_gateway_and_without_one_fail_at_once() {
    let (mut shard, mut link) = host(MAC_B, &["10.0.0.2"]);
    let now = Instant::ZERO;
    let s = shard.connect(now, "192.0.2.7:80".parse().unwrap(), None).unwrap();
    assert!(drain(&mut link, &mut shard, now).is_empty());
    assert_eq!(link.stats().no_route, 1);
    assert_eq!(shard.error(s), Ok(Some(Error::HostUnreachable)));

    let mut cfg = link.config().clone();
    cfg.gateway_v4 = Some(Ipv4Addr::new(10, 0, 0, 1));
    let mut link = EthernetLink::new(cfg);
    shard.connect(now, "192.0.2.7:81".parse().unwrap(), None).unwrap();
    let out = drain(&mut link, &mut shard, now);
    assert_eq!(arp_of(&out[0]).unwrap().1.target_ip, Ipv4Addr::new(10, 0, 0, 1), "the gateway is resolved");
    link.handle_frame(now, &reply(MAC_GW, "10.0.0.1", MAC_B, "10.0.0.2"), &mut shard);
    let out = drain(&mut link, &mut shard, now);
    let f = EthernetFrame::parse(&out[0]).unwrap();
    assert_eq!((f.dst, &f.payload[16..20]), (MAC_GW, &[192, 0, 2, 7][..]));
}

#[test]
fn requests_are_limited_per_second_and_the_cache_is_bounded() {
    let ip = v4("10.0.0.2");
    let mut shard = Shard::new(Config::default(), &[ip], Secret([3; 16]));
    let mut cfg = LinkConfig::new(MAC_B, vec![(ip, 24)]);
    cfg.requests_per_second = 2;
    cfg.neighbours = 4;
    let mut link = EthernetLink::new(cfg);
    let now = Instant::ZERO;
    for host in 10..20 {
        shard.connect(now, SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)), 80), None).unwrap();
    }
    let out = drain(&mut link, &mut shard, now);
    assert_eq!(out.len(), 2);
    assert_eq!((link.stats().requests_limited, link.stats().neighbour_table_full, link.neighbour_count()), (2, 6, 4));
    // A second later the limit allows requests again.
    let later = now + Duration::from_secs(1);
    link.handle_timeout(later, &mut shard);
    assert_eq!(drain(&mut link, &mut shard, later).len(), 2);
}

#[test]
fn an_announcement_goes_out_for_each_address() {
    let (mut shard, mut link) = host(MAC_B, &["10.0.0.2", "fd77::2"]);
    link.announce();
    let out = drain(&mut link, &mut shard, Instant::ZERO);
    assert_eq!(out.len(), 2);
    let (dst, g) = arp_of(&out[0]).unwrap();
    assert_eq!((dst, g.op, g.sender_ip, g.target_ip), (MacAddr::BROADCAST, ArpOp::Request, Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 2)));
    let f = EthernetFrame::parse(&out[1]).unwrap();
    let p = Ipv6Packet::parse(f.payload).unwrap();
    let m = NdpMessage::parse(p.payload(), p.src(), p.dst(), p.hop_limit()).unwrap().unwrap();
    assert_eq!(f.dst, MacAddr([0x33, 0x33, 0, 0, 0, 1]));
    assert_eq!(m, NdpMessage::Advertisement { target: "fd77::2".parse().unwrap(), target_mac: Some(MAC_B), solicited: false, override_flag: true });
}

#[test]
fn neighbour_discovery_resolves_ipv6_next_hops_and_answers_for_our_addresses() {
    let (mut shard, mut link) = host(MAC_B, &["fd77::2"]);
    let now = Instant::ZERO;
    let peer: Ipv6Addr = "fd77::1".parse().unwrap();
    shard.connect(now, SocketAddr::new(IpAddr::V6(peer), 80), None).unwrap();
    let out = drain(&mut link, &mut shard, now);
    assert_eq!(out.len(), 1);
    let f = EthernetFrame::parse(&out[0]).unwrap();
    let p = Ipv6Packet::parse(f.payload).unwrap();
    assert_eq!((f.dst, p.dst()), (MacAddr::ipv6_multicast(solicited_node(peer)), solicited_node(peer)));
    assert_eq!(NdpMessage::parse(p.payload(), p.src(), p.dst(), p.hop_limit()), Ok(Some(NdpMessage::Solicitation { target: peer, source_mac: Some(MAC_B) })));

    // The peer asks for us (learning us on the way) and we answer; its solicitation
    // also tells us its address, which releases the SYN.
    let mut ns = [0u8; 14 + NDP_PACKET_LEN];
    let me: Ipv6Addr = "fd77::2".parse().unwrap();
    emit_ethernet_header(&mut ns, MacAddr::ipv6_multicast(solicited_node(me)), MAC_A, ETHERTYPE_IPV6);
    emit_neighbor_solicitation(&mut ns[14..], peer, solicited_node(me), me, MAC_A);
    link.handle_frame(now, &ns, &mut shard);
    let out = drain(&mut link, &mut shard, now);
    assert_eq!(out.len(), 2, "the advertisement and the released SYN");
    let kinds: Vec<_> = out
        .iter()
        .map(|fr| {
            let f = EthernetFrame::parse(fr).unwrap();
            let p = Ipv6Packet::parse(f.payload).unwrap();
            (f.dst, p.next_header(), NdpMessage::parse(p.payload(), p.src(), p.dst(), p.hop_limit()).ok().flatten())
        })
        .collect();
    assert!(kinds.contains(&(MAC_A, 58, Some(NdpMessage::Advertisement { target: me, target_mac: Some(MAC_B), solicited: true, override_flag: true }))), "{kinds:?}");
    assert!(kinds.contains(&(MAC_A, 6, None)), "{kinds:?}");
    assert_eq!(link.neighbour(IpAddr::V6(peer)), Some(MAC_A));
}

#[test]
fn malformed_and_foreign_frames_are_counted_and_never_reach_the_shard() {
    let (mut shard, mut link) = host(MAC_B, &["10.0.0.2"]);
    let now = Instant::ZERO;
    let mut vlan = reply(MAC_A, "10.0.0.1", MAC_B, "10.0.0.2");
    vlan[12..14].copy_from_slice(&[0x81, 0x00]);
    let mut bad_arp = reply(MAC_A, "10.0.0.1", MAC_B, "10.0.0.2");
    bad_arp[14 + 4] = 8;
    let mut other_host = reply(MAC_A, "10.0.0.1", MAC_B, "10.0.0.2");
    other_host[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 0xc]);
    let mut ipx = reply(MAC_A, "10.0.0.1", MAC_B, "10.0.0.2");
    ipx[12..14].copy_from_slice(&[0x81, 0x37]);
    let mut short_arp = reply(MAC_A, "10.0.0.1", MAC_B, "10.0.0.2");
    short_arp.truncate(14 + 20);
    for f in [&vec![0u8; 5], &vlan, &bad_arp, &other_host, &ipx, &short_arp] {
        link.handle_frame(now, f, &mut shard);
    }
    let s = link.stats();
    assert_eq!((s.frames_in, s.drop_truncated, s.drop_malformed, s.drop_not_for_us, s.drop_ethertype), (6, 1, 3, 1, 1));
    assert_eq!(link.neighbour_count(), 0);
    assert_eq!(shard.stats().ip_in_receives, 0);
    assert!(drain(&mut link, &mut shard, now).is_empty());
}

/// Two stacks that know nothing of each other: ARP both ways, a connection, 200 KB each
/// way intact and in order, a close.
#[test]
fn two_stacks_carry_a_connection_over_ethernet_from_a_cold_cache() {
    let (mut a, mut la) = host(MAC_A, &["10.0.0.1"]);
    let (mut b, mut lb) = host(MAC_B, &["10.0.0.2"]);
    let l = a.listen("10.0.0.1:80".parse().unwrap(), 8).unwrap();
    let mut now = Instant::ZERO;
    let c = b.connect(now, "10.0.0.1:80".parse().unwrap(), None).unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (mut sent_c, mut sent_s, mut got_s, mut got_c) = (0, 0, Vec::new(), Vec::new());
    let mut server = None;
    let mut buf = vec![0u8; 2048];
    for _ in 0..20_000 {
        if server.is_none() {
            server = a.accept(l).unwrap();
        }
        if sent_c < data.len() {
            sent_c += b.send(c, &data[sent_c..]).unwrap_or(0);
        }
        if let Some(s) = server {
            if sent_s < data.len() {
                sent_s += a.send(s, &data[sent_s..]).unwrap_or(0);
            }
            let n = a.recv(s, &mut buf).unwrap_or(0);
            got_s.extend_from_slice(&buf[..n]);
        }
        let n = b.recv(c, &mut buf).unwrap_or(0);
        got_c.extend_from_slice(&buf[..n]);
        let mut moved = false;
        while let Some(n) = la.poll_transmit(now, &mut a, &mut buf) {
            lb.handle_frame(now, &buf[..n], &mut b);
            moved = true;
        }
        while let Some(n) = lb.poll_transmit(now, &mut b, &mut buf) {
            la.handle_frame(now, &buf[..n], &mut a);
            moved = true;
        }
        if got_s.len() == data.len() && got_c.len() == data.len() {
            break;
        }
        if !moved {
            now += Duration::from_millis(1);
            a.handle_timeout(now);
            b.handle_timeout(now);
            la.handle_timeout(now, &mut a);
            lb.handle_timeout(now, &mut b);
        }
    }
    assert!(got_s == data && got_c == data, "server got {} of {}, client got {}", got_s.len(), data.len(), got_c.len());
    assert_eq!((la.neighbour(v4("10.0.0.2")), lb.neighbour(v4("10.0.0.1"))), (Some(MAC_B), Some(MAC_A)));
    assert_eq!(lb.stats().arp_requests_sent, 1, "one resolution for the whole connection");
    assert_eq!(la.stats().arp_requests_sent, 0, "the server learned the client from its request");
}

/// One scenario that moves every link counter, checked as a whole: nothing is counted
/// twice or in the wrong place.
#[test]
fn every_link_counter_counts_what_it_says() {
    use ringtcp_transport::link::LinkStats;
    let (mut shard, mut link) = host(MAC_B, &["10.0.0.2", "fd77::2"]);
    let now = Instant::ZERO;
    // Nine SYNs to one unknown neighbour: eight held, one over the bound; one request.
    for port in 1..=9 {
        shard.connect(now, SocketAddr::new(v4("10.0.0.1"), port), None).unwrap();
    }
    assert_eq!(drain(&mut link, &mut shard, now).len(), 1);
    // Its reply releases the eight.
    link.handle_frame(now, &reply(MAC_A, "10.0.0.1", MAC_B, "10.0.0.2"), &mut shard);
    assert_eq!(drain(&mut link, &mut shard, now).len(), 8);
    // 1,100 requests for our address without a drain: 1,024 answers wait, 76 overflow.
    let ask = arp_frame(MacAddr::BROADCAST, ArpPacket { op: ArpOp::Request, sender_mac: MAC_A, sender_ip: Ipv4Addr::new(10, 0, 0, 1), target_mac: MacAddr::default(), target_ip: Ipv4Addr::new(10, 0, 0, 2) });
    for _ in 0..1100 {
        link.handle_frame(now, &ask, &mut shard);
    }
    assert_eq!(drain(&mut link, &mut shard, now).len(), 1024);
    // A solicitation for us (answered), an advertisement for the asker, an IPv6 SYN to it.
    let (me, peer): (Ipv6Addr, Ipv6Addr) = ("fd77::2".parse().unwrap(), "fd77::1".parse().unwrap());
    let mut ns = [0u8; 14 + NDP_PACKET_LEN];
    emit_ethernet_header(&mut ns, MacAddr::ipv6_multicast(solicited_node(me)), MAC_A, ETHERTYPE_IPV6);
    emit_neighbor_solicitation(&mut ns[14..], peer, solicited_node(me), me, MAC_A);
    link.handle_frame(now, &ns, &mut shard);
    let mut na = [0u8; 14 + NDP_PACKET_LEN];
    emit_ethernet_header(&mut na, MAC_B, MAC_A, ETHERTYPE_IPV6);
    ringtcp_transport::wire::emit_neighbor_advertisement(&mut na[14..], me, peer, MAC_A, true);
    link.handle_frame(now, &na, &mut shard);
    shard.connect(now, SocketAddr::new(IpAddr::V6("fd77::9".parse().unwrap()), 80), None).unwrap();
    assert_eq!(drain(&mut link, &mut shard, now).len(), 2, "the advertisement and a solicitation for fd77::9");
    // A frame too short, one for another host.
    link.handle_frame(now, &[0u8; 10], &mut shard);
    let mut other = ask.clone();
    other[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 0xc]);
    link.handle_frame(now, &other, &mut shard);
    let want = LinkStats {
        frames_in: 1 + 1100 + 2 + 2,
        frames_out: 1 + 8 + 1024 + 2,
        arp_requests_in: 1100,
        arp_replies_in: 1,
        arp_requests_sent: 1,
        arp_replies_sent: 1100,
        ndp_solicitations_in: 1,
        ndp_advertisements_in: 1,
        ndp_solicitations_sent: 1,
        ndp_advertisements_sent: 1,
        resolved: 1,
        packets_held: 9,
        held_overflow: 1,
        frame_queue_overflow: 76,
        drop_truncated: 1,
        drop_not_for_us: 1,
        ..LinkStats::default()
    };
    // The counters left at zero here are asserted by the tests above (failures, limits,
    // routes, malformed frames, conflicts, other EtherTypes).
    assert_eq!(link.stats(), &want);
}
