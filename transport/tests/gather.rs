//! `Shard::poll_transmit_gather`: the headers it builds followed by the payload slices it
//! points at are, byte for byte, the packets `poll_transmit_offload` builds whole, through
//! a transfer with losses, retransmissions and a FIN.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ringtcp_transport::{Config, Instant, PayloadSlice, Secret, Shard, SocketHandle};

/// One side of the comparison: a server shard and its client, driven identically.
struct Pair {
    server: Shard,
    client: Shard,
    conn: SocketHandle,
    client_conn: SocketHandle,
    received: Vec<u8>,
}

fn pair(v6: bool) -> Pair {
    let (s, c): (IpAddr, IpAddr) = if v6 {
        (Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 2).into(), Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1).into())
    } else {
        (Ipv4Addr::new(10, 0, 0, 1).into(), Ipv4Addr::new(10, 0, 0, 2).into())
    };
    let mut server = Shard::new(Config::default(), &[s], Secret([1; 16]));
    let mut client = Shard::new(Config::default(), &[c], Secret([2; 16]));
    let l = server.listen((s, 80).into(), 8).unwrap();
    let client_conn = client.connect(Instant::ZERO, (s, 80).into(), None).unwrap();
    let mut buf = vec![0u8; 2048];
    for _ in 0..3 {
        while let Some(n) = client.poll_transmit(Instant::ZERO, &mut buf) {
            server.handle_packet(Instant::ZERO, &buf[..n]);
        }
        while let Some(n) = server.poll_transmit(Instant::ZERO, &mut buf) {
            client.handle_packet(Instant::ZERO, &buf[..n]);
        }
    }
    let conn = server.accept(l).unwrap().expect("handshake done");
    Pair { server, client, conn, client_conn, received: Vec::new() }
}

/// The next packet of `p`'s server, gathered and put together.
fn gathered(p: &mut Pair, now: Instant) -> Option<Vec<u8>> {
    let mut header = vec![0u8; 1600];
    let mut slices: Vec<PayloadSlice> = Vec::new();
    let g = p.server.poll_transmit_gather(now, &mut header, 65_535, &mut slices)?;
    let mut packet = header[..g.header_len].to_vec();
    for s in &slices {
        // SAFETY: nothing was taken from the send buffer since the call.
        packet.extend_from_slice(unsafe { std::slice::from_raw_parts(s.addr, s.len) });
    }
    assert_eq!(packet.len(), g.transmit.len);
    Some(packet)
}

fn whole(p: &mut Pair, now: Instant) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 65_535];
    let t = p.server.poll_transmit_offload(now, &mut buf)?;
    Some(buf[..t.len].to_vec())
}

fn same_transfer(v6: bool) {
    let (mut a, mut b) = (pair(v6), pair(v6));
    let data: Vec<u8> = (0..600_000u32).map(|i| (i * 7 % 253) as u8).collect();
    let mut now = Instant::ZERO;
    let mut sent = 0;
    let mut gathered_bytes = 0;
    let mut round = 0;
    while round < 400 {
        round += 1;
        if sent < data.len() {
            let n = a.server.send(a.conn, &data[sent..]);
            assert_eq!(b.server.send(b.conn, &data[sent..]), n);
            // A full send buffer answers WouldBlock: try again next round.
            sent += n.unwrap_or(0);
            if sent == data.len() {
                a.server.shutdown_write(a.conn).unwrap();
                b.server.shutdown_write(b.conn).unwrap();
            }
        }
        let mut k = 0;
        loop {
            let (x, y) = (gathered(&mut a, now), whole(&mut b, now));
            assert_eq!(x, y, "packet {k} of round {round}: gathered and built whole differ");
            let Some(packet) = x else { break };
            gathered_bytes += packet.len();
            k += 1;
            // Every seventh packet is lost on the way (both sides alike), so that
            // retransmissions are gathered too; the clients take the super-segments
            // whole, as a kernel's GRO would hand them over.
            if k % 7 != 3 {
                a.client.handle_offloaded_packet(now, &packet);
                b.client.handle_offloaded_packet(now, &packet);
            }
        }
        let mut buf = vec![0u8; 2048];
        for p in [&mut a, &mut b] {
            let mut chunk = vec![0u8; 1 << 20];
            if let Ok(n) = p.client.recv(p.client_conn, &mut chunk) {
                p.received.extend_from_slice(&chunk[..n]);
            }
            while let Some(n) = p.client.poll_transmit(now, &mut buf) {
                p.server.handle_packet(now, &buf[..n]);
            }
        }
        now += Duration::from_millis(5);
        a.server.handle_timeout(now);
        b.server.handle_timeout(now);
        a.client.handle_timeout(now);
        b.client.handle_timeout(now);
    }
    assert_eq!(sent, data.len(), "everything was queued");
    assert!(a.received == data && b.received == data, "both clients received every byte in order");
    assert!(gathered_bytes > data.len(), "the data went out, some of it twice ({gathered_bytes} bytes)");
    assert!(a.server.stats().tcp_retrans_segs > 0, "losses were repaired by retransmissions");
}

#[test]
fn gathered_packets_are_the_packets_built_whole_ipv4() {
    same_transfer(false);
}

#[test]
fn gathered_packets_are_the_packets_built_whole_ipv6() {
    same_transfer(true);
}
