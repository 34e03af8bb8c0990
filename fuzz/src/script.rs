//! Scripts of packets, time steps and application calls against one shard (starting from
//! the `world` state), with every packet the shard sends checked and the shard's
//! invariants checked after every step: SND.UNA ≤ SND.NXT ≤ SND.MAX, buffers and queues
//! within their bounds, the books (connections, memory, listener queues, table) agreeing
//! with what is held, every deadline covered by a timer, the counters adding up.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use ringtcp_transport::wire::{
    IPV4_HEADER_LEN, Icmpv6ErrorKind, PROTO_TCP, TcpFlags, TcpHeader, emit_icmpv6_error, emit_ipv4_header, emit_unreachable,
};
use ringtcp_transport::{Error, Keepalive, SeqNum};

use crate::emit::{Expect, Rel, SegSpec, tcp_packet};
use crate::world::{PEER, PEER6, Tuple, US, World};

#[derive(Arbitrary, Debug)]
enum Op {
    Segment { tuple: u8, spec: SegSpec },
    Advance { ms: u16 },
    Connect { port: u16 },
    Listen { port: u8, backlog: u8 },
    CloseListener { which: u8 },
    Accept { which: u8 },
    Send { sock: u8, len: u16 },
    Recv { sock: u8, len: u16 },
    Peek { sock: u8 },
    Shutdown { sock: u8 },
    Close { sock: u8 },
    Abort { sock: u8 },
    Keepalive { sock: u8, on: bool },
    Nodelay { sock: u8, on: bool },
    HandedOut { which: u8, n: u8 },
    External { kb: u16 },
    /// An ICMP (or, for an IPv6 tuple, ICMPv6) error quoting one of the tuples' segments.
    Icmp { tuple: u8, code: u8, mtu: u16, seq: Rel },
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut w = World::new();
    for _ in 0..256 {
        let Ok(op) = Op::arbitrary(&mut u) else { break };
        crate::debug(&op);
        step(&mut w, &op);
        w.drain();
        w.check();
        if u.is_empty() {
            break;
        }
    }
    // Whatever the script did, time running on must leave a consistent shard.
    for _ in 0..4 {
        w.advance(Duration::from_secs(30));
        w.drain();
        w.check();
    }
}

fn pick<T: Copy>(v: &[T], i: u8) -> Option<T> {
    (!v.is_empty()).then(|| v[usize::from(i) % v.len()])
}

fn step(w: &mut World, op: &Op) {
    let now = w.now;
    match *op {
        Op::Segment { tuple, ref spec } => w.inject(usize::from(tuple), spec),
        Op::Advance { ms } => w.advance(Duration::from_millis(u64::from(ms))),
        Op::Connect { port } => {
            // Odd ports to the IPv6 peer, even ones to the IPv4 peer.
            let peer: IpAddr = if port % 2 == 1 { PEER6.into() } else { PEER.into() };
            let remote = SocketAddr::new(peer, port.max(1));
            match w.shard.connect(now, remote, None) {
                Ok(h) => {
                    w.sockets.push(h);
                    if let Ok(local) = w.shard.local_addr(h) {
                        let expect = Expect { peer_nxt: 77_000, our_nxt: 0, peer_ts: 500, our_ts: 0 };
                        w.tuples.push(Tuple { peer: remote, local, expect });
                    }
                }
                Err(e) => assert!(matches!(e, Error::AddrNotAvailable | Error::AddrInUse | Error::ConnectionLimit), "connect: {e:?}"),
            }
        }
        Op::Listen { port, backlog } => {
            if let Ok(l) = w.shard.listen(SocketAddr::new(US.into(), 80 + u16::from(port % 8)), usize::from(backlog)) {
                w.listeners.push(l);
            }
        }
        Op::CloseListener { which } => {
            if let Some(l) = pick(&w.listeners, which) {
                let _ = w.shard.close_listener(l);
            }
        }
        Op::Accept { which } => {
            if let Some(l) = pick(&w.listeners, which)
                && let Ok(Some(h)) = w.shard.accept(l)
            {
                w.sockets.push(h);
            }
        }
        Op::Send { sock, len } => {
            if let Some(h) = pick(&w.sockets, sock) {
                let data = vec![0x5c; usize::from(len)];
                if let Ok(n) = w.shard.send(h, &data) {
                    assert!(n <= data.len());
                }
            }
        }
        Op::Recv { sock, len } => {
            if let Some(h) = pick(&w.sockets, sock) {
                let mut buf = vec![0u8; usize::from(len)];
                if let Ok(n) = w.shard.recv(h, &mut buf) {
                    assert!(n <= buf.len());
                }
            }
        }
        Op::Peek { sock } => {
            if let Some(h) = pick(&w.sockets, sock) {
                let mut buf = [0u8; 512];
                if let Ok(n) = w.shard.peek(h, &mut buf) {
                    let queued = w.shard.recv_queue(h).unwrap_or(0);
                    assert!(n <= queued, "peeked {n} bytes of {queued}");
                }
            }
        }
        Op::Shutdown { sock } => {
            if let Some(h) = pick(&w.sockets, sock) {
                let _ = w.shard.shutdown_write(h);
            }
        }
        Op::Close { sock } | Op::Abort { sock } => {
            if let Some(h) = pick(&w.sockets, sock) {
                let r = if matches!(op, Op::Close { .. }) { w.shard.close(now, h) } else { w.shard.abort(h) };
                if r.is_ok() {
                    assert_eq!(w.shard.state(h), Err(Error::InvalidHandle), "a closed handle stays closed");
                }
                w.sockets.retain(|&x| x != h);
            }
        }
        Op::Keepalive { sock, on } => {
            if let Some(h) = pick(&w.sockets, sock) {
                let ka = on.then_some(Keepalive { idle: Duration::from_secs(1), interval: Duration::from_millis(300), probes: 2 });
                let _ = w.shard.set_keepalive(now, h, ka);
            }
        }
        Op::Nodelay { sock, on } => {
            if let Some(h) = pick(&w.sockets, sock) {
                let _ = w.shard.set_nodelay(h, on);
            }
        }
        Op::HandedOut { which, n } => {
            if let Some(l) = pick(&w.listeners, which) {
                let _ = w.shard.set_handed_out(l, usize::from(n % 8));
            }
        }
        Op::External { kb } => w.shard.set_external_memory(usize::from(kb) * 1024),
        Op::Icmp { tuple, code, mtu, seq } => {
            let Some(t) = pick(&w.tuples, tuple) else { return };
            // The quoted packet: one we could have sent on this tuple.
            let h = TcpHeader {
                src_port: t.local.port(),
                dst_port: t.peer.port(),
                seq: SeqNum(seq.from(t.expect.our_nxt)),
                flags: TcpFlags::ACK,
                ..TcpHeader::default()
            };
            let quoted = tcp_packet(t.local, t.peer, &h, &[]);
            let mut buf = vec![0u8; 1280];
            let n = match (t.local.ip(), t.peer.ip()) {
                (IpAddr::V4(local), IpAddr::V4(peer)) => {
                    let mut offending = quoted.clone();
                    emit_ipv4_header(&mut offending, local, peer, PROTO_TCP, quoted.len() - IPV4_HEADER_LEN, 64, 0);
                    emit_unreachable(&mut buf, peer, US, code % 16, mtu, &offending)
                }
                (IpAddr::V6(local), IpAddr::V6(peer)) => {
                    let kind = match code % 4 {
                        0 => Icmpv6ErrorKind::Unreachable(code >> 2),
                        1 => Icmpv6ErrorKind::PacketTooBig(u32::from(mtu)),
                        2 => Icmpv6ErrorKind::TimeExceeded,
                        _ => Icmpv6ErrorKind::ParameterProblem(code >> 2),
                    };
                    emit_icmpv6_error(&mut buf, peer, local, kind, &quoted)
                }
                _ => None,
            };
            if let Some(n) = n {
                w.shard.handle_packet(now, &buf[..n]);
            }
        }
    }
}
