//! Connections out of captured headers, timed as the seed experiment timed them: from the
//! client's first SYN to the server's last ACK (its acknowledgement of the client's FIN,
//! since the server closes first). A 4-tuple is used again and again (the client's ports
//! wrap while the server still holds TIME-WAIT for them), so a SYN with a new initial
//! sequence number starts a new connection on the tuple; a SYN with the same one is a
//! retransmission, which the drop-free criterion forbids.

use std::collections::HashMap;
use std::net::SocketAddrV4;

use super::capture::{ACK, FIN, Packet, RST, SYN};

/// One connection as the capture saw it.
#[derive(Clone, Copy, Debug)]
pub struct Conn {
    /// When its first SYN passed, in nanoseconds (the capture's clock).
    pub syn_ns: u64,
    /// First SYN to the server's last ACK, in nanoseconds; `None` if it never completed
    /// (no FIN from the client, or no ACK of it).
    pub duration_ns: Option<u64>,
}

/// What the pairing found.
#[derive(Debug, Default)]
pub struct Paired {
    pub conns: Vec<Conn>,
    /// SYNs sent again for a connection (same initial sequence number).
    pub syn_retransmits: u64,
    /// Connections the server reset.
    pub resets: u64,
}

impl Paired {
    /// Connections that completed.
    pub fn completed(&self) -> usize {
        self.conns.iter().filter(|c| c.duration_ns.is_some()).count()
    }
}

#[derive(Debug)]
struct Open {
    syn_ns: u64,
    isn: u32,
    /// When the client's FIN passed.
    client_fin: bool,
    /// The server's last ACK after the client's FIN.
    done_ns: Option<u64>,
}

/// Pairs the packets of connections to `server` (sorted by time or not: they are sorted
/// here).
pub fn pair(mut packets: Vec<Packet>, server: SocketAddrV4) -> Paired {
    packets.sort_by_key(|p| p.t_ns);
    let mut open: HashMap<SocketAddrV4, Open> = HashMap::new();
    let mut out = Paired::default();
    let close = |o: Open, out: &mut Paired| out.conns.push(Conn { syn_ns: o.syn_ns, duration_ns: o.done_ns.map(|d| d - o.syn_ns) });
    for p in packets {
        if p.dst == server {
            let client = p.src;
            if p.flags & (SYN | ACK) == SYN {
                match open.get(&client) {
                    Some(o) if o.isn == p.seq && o.done_ns.is_none() => out.syn_retransmits += 1,
                    _ => {
                        if let Some(o) = open.remove(&client) {
                            close(o, &mut out);
                        }
                        open.insert(client, Open { syn_ns: p.t_ns, isn: p.seq, client_fin: false, done_ns: None });
                    }
                }
            } else if p.flags & FIN != 0
                && let Some(o) = open.get_mut(&client)
            {
                o.client_fin = true;
            }
        } else if p.src == server
            && let Some(o) = open.get_mut(&p.dst)
        {
            if p.flags & RST != 0 {
                out.resets += 1;
            } else if o.client_fin && p.flags & ACK != 0 {
                o.done_ns = Some(p.t_ns);
            }
        }
    }
    for (_, o) in open {
        close(o, &mut out);
    }
    out.conns.sort_by_key(|c| c.syn_ns);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(t: u64, from: u16, to: u16, seq: u32, flags: u8) -> Packet {
        let a = |port| SocketAddrV4::new(std::net::Ipv4Addr::new(10, 0, 0, if port == 80 { 2 } else { 1 }), port);
        Packet { t_ns: t, src: a(from), dst: a(to), seq, flags }
    }

    #[test]
    fn a_reused_tuple_is_two_connections_and_a_repeated_syn_is_a_retransmission() {
        let server = SocketAddrV4::new(std::net::Ipv4Addr::new(10, 0, 0, 2), 80);
        let mut p = vec![
            pkt(0, 5000, 80, 100, SYN),
            pkt(1_000_000_000, 5000, 80, 100, SYN), // retransmitted
            pkt(1_000_100_000, 80, 5000, 9, SYN | ACK),
            pkt(1_000_200_000, 5000, 80, 101, ACK),
            pkt(1_000_300_000, 80, 5000, 10, FIN | ACK),
            pkt(1_000_400_000, 5000, 80, 101, FIN | ACK),
            pkt(1_000_500_000, 80, 5000, 11, ACK),
            // The same tuple again, a new ISN: a new connection, never finished.
            pkt(2_000_000_000, 5000, 80, 777, SYN),
            pkt(2_000_100_000, 80, 5000, 50, RST),
        ];
        p.reverse();
        let r = pair(p, server);
        assert_eq!(r.syn_retransmits, 1);
        assert_eq!(r.resets, 1);
        assert_eq!(r.conns.len(), 2);
        assert_eq!(r.conns[0].duration_ns, Some(1_000_500_000));
        assert_eq!(r.conns[1].duration_ns, None);
        assert_eq!(r.completed(), 1);
    }
}
