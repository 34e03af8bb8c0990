//! Frames, time and connection attempts through a shard's Ethernet layer
//! (`link::EthernetLink`): ARP and neighbour discovery from anyone (spoofed, conflicting,
//! malformed), raw frames, connects to on-link and off-link hosts of both families, time
//! steps that expire entries and give up resolutions. After every step the frames the
//! link sends must be well formed and its own, and the neighbour cache within its bound.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use ringtcp_transport::link::{EthernetLink, LinkConfig};
use ringtcp_transport::wire::{
    ARP_LEN, ArpOp, ArpPacket, ETHERTYPE_ARP, ETHERTYPE_IPV6, EthernetFrame, MacAddr, NDP_PACKET_LEN, emit_ethernet_header,
    emit_neighbor_advertisement, emit_neighbor_solicitation, solicited_node,
};
use ringtcp_transport::{Config, Instant, Secret, Shard};

const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const NEIGHBOURS: usize = 16;

#[derive(Arbitrary, Debug)]
enum Step {
    /// An ARP packet from host `.sender` about host `.target` (2 is us).
    Arp { request: bool, sender: u8, sender_mac: [u8; 6], target: u8, to_broadcast: bool },
    /// A neighbour solicitation (or advertisement) from `fd00::<from>` about `fd00::<target>`.
    Ndp { advertise: bool, from: u8, target: u8, mac: [u8; 6], unspecified_source: bool },
    /// Any bytes as a frame.
    Raw(Vec<u8>),
    /// A connection attempt to host `.host` (on-link below 200, off-link above).
    Connect { host: u8, v6: bool, port: u16 },
    Advance { ms: u16 },
}

fn v4(host: u8) -> Ipv4Addr {
    if host < 200 { Ipv4Addr::new(10, 0, 0, host) } else { Ipv4Addr::new(192, 0, 2, host) }
}

fn v6(host: u8) -> Ipv6Addr {
    if host < 200 { Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(host)) } else { Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(host)) }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(steps) = u.arbitrary_iter::<Step>().and_then(|it| it.take(64).collect::<Result<Vec<_>, _>>()) else { return };
    crate::debug(&steps);
    let addrs: Vec<IpAddr> = vec![IpAddr::V4(v4(2)), IpAddr::V6(v6(2))];
    let mut shard = Shard::new(Config::default(), &addrs, Secret([7; 16]));
    let mut cfg = LinkConfig::new(MAC, vec![(addrs[0], 24), (addrs[1], 64)]);
    cfg.gateway_v4 = Some(v4(1));
    cfg.neighbours = NEIGHBOURS;
    let mut link = EthernetLink::new(cfg);
    link.announce();
    let mut now = Instant::ZERO;
    let mut buf = vec![0u8; 2048];
    for step in &steps {
        match step {
            Step::Arp { request, sender, sender_mac, target, to_broadcast } => {
                let p = ArpPacket {
                    op: if *request { ArpOp::Request } else { ArpOp::Reply },
                    sender_mac: MacAddr(*sender_mac),
                    sender_ip: v4(*sender),
                    target_mac: MAC,
                    target_ip: v4(*target),
                };
                let mut f = vec![0u8; 60];
                emit_ethernet_header(&mut f, if *to_broadcast { MacAddr::BROADCAST } else { MAC }, MacAddr(*sender_mac), ETHERTYPE_ARP);
                p.emit(&mut f[14..14 + ARP_LEN]);
                link.handle_frame(now, &f, &mut shard);
            }
            Step::Ndp { advertise, from, target, mac, unspecified_source } => {
                let mut f = vec![0u8; 14 + NDP_PACKET_LEN];
                let src = if *unspecified_source { Ipv6Addr::UNSPECIFIED } else { v6(*from) };
                let group = solicited_node(v6(*target));
                emit_ethernet_header(&mut f, MacAddr::ipv6_multicast(group), MacAddr(*mac), ETHERTYPE_IPV6);
                if *advertise {
                    emit_neighbor_advertisement(&mut f[14..], v6(2), v6(*target), MacAddr(*mac), !*unspecified_source);
                } else {
                    emit_neighbor_solicitation(&mut f[14..], src, group, v6(*target), MacAddr(*mac));
                }
                link.handle_frame(now, &f, &mut shard);
            }
            Step::Raw(bytes) => link.handle_frame(now, bytes, &mut shard),
            Step::Connect { host, v6: six, port } => {
                let ip = if *six { IpAddr::V6(v6(*host)) } else { IpAddr::V4(v4(*host)) };
                let _ = shard.connect(now, SocketAddr::new(ip, (*port).max(1)), None);
            }
            Step::Advance { ms } => {
                now += Duration::from_millis(u64::from(*ms));
                link.handle_timeout(now, &mut shard);
                shard.handle_timeout(now);
            }
        }
        let mut sent = 0;
        while let Some(n) = link.poll_transmit(now, &mut shard, &mut buf) {
            let f = EthernetFrame::parse(&buf[..n]).expect("the link sends well-formed frames");
            assert_eq!(f.src, MAC, "every frame is sent from our address");
            assert!(n >= 60, "frames are padded to the Ethernet minimum");
            if f.ethertype == ETHERTYPE_ARP {
                let p = ArpPacket::parse(f.payload).expect("the link sends well-formed ARP");
                assert_eq!(p.sender_mac, MAC);
                assert!(addrs.contains(&IpAddr::V4(p.sender_ip)), "ARP from our own address: {p:?}");
            }
            sent += 1;
            assert!(sent < 10_000, "the link keeps sending");
        }
        assert!(link.neighbour_count() <= NEIGHBOURS, "the neighbour cache holds {}", link.neighbour_count());
        if let Err(e) = shard.check_invariants() {
            panic!("the shard's books disagree: {e}");
        }
    }
}
