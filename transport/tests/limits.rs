//! Resource limits: a bound on live connections, a bound on buffer memory (windows shrink
//! under pressure, buffers stop growing at the limit, every connection keeps making
//! progress), slow readers by the thousand in bounded memory, and a peer that keeps its
//! window shut for ever meeting a clear error instead of holding the connection for ever.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::peer::{PEER, Peer, Seg, flags, plain_config};
use ringtcp_transport::wire::TcpOptions;
use ringtcp_transport::{BufferMemory, Config, Error, ListenerHandle, SocketHandle, State};

fn from_port(port: u16) -> SocketAddr {
    SocketAddr::new(PEER.into(), port)
}

/// Opens a connection from `port` and accepts it; returns the handle and our ISS.
fn open(p: &mut Peer, l: ListenerHandle, port: u16) -> (SocketHandle, u32) {
    p.inject_from(from_port(port), Seg::new(flags("SYN"), 1000, 0));
    let iss = p.sent().last().expect("a SYN-ACK").seq;
    p.inject_from(from_port(port), Seg::new(flags("ACK"), 1001, iss + 1));
    (p.shard.accept(l).unwrap().expect("established"), iss)
}

#[test]
fn the_connection_limit_drops_syns_and_refuses_connect() {
    let mut p = Peer::new(Config { max_connections: 2, ..plain_config() });
    let l = p.shard.listen(p.us, 8).unwrap();
    open(&mut p, l, 1);
    p.inject_from(from_port(2), Seg::new(flags("SYN"), 1, 0));
    assert_eq!(p.one().flags, flags("SYN|ACK"));
    p.inject_from(from_port(3), Seg::new(flags("SYN"), 1, 0));
    p.none();
    assert_eq!(p.shard.drops().connection_limit, 1);
    let err = p.shard.connect(p.now, from_port(80), None).unwrap_err();
    assert_eq!(err, Error::ConnectionLimit);
    assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory);
    assert_eq!(p.shard.stats().connect_limited, 1);
    assert_eq!(p.shard.connection_count(), 2);
}

fn memory_config(limit: usize) -> Config {
    Config { buffer_memory: BufferMemory::with_limit(limit), rx_buffer: 64 * 1024, tx_buffer: 64 * 1024, ..plain_config() }
}

/// Pushes `n` bytes of in-order data from `port`, as fast as the advertised window lets
/// a sender go, without the application reading. Returns how much was accepted.
fn flood_data(p: &mut Peer, port: u16, iss: u32, n: usize) -> usize {
    let mut seq = 1001u32;
    let mut acked = 0usize;
    while (seq - 1001) as usize <= n {
        p.inject_from(from_port(port), Seg::new(flags("ACK"), seq, iss + 1).data(&[0xab; 1460]));
        seq += 1460;
        // What the stack acknowledged is what it took.
        if let Some(last) = p.sent().last() {
            acked = (last.ack - 1001) as usize;
        }
    }
    acked
}

#[test]
fn windows_shrink_under_pressure_and_buffers_stop_at_the_limit() {
    // 256 KiB for everything, pressure from 192 KiB: four readers of 64 KiB fill it.
    let mut p = Peer::new(memory_config(256 * 1024));
    let l = p.shard.listen(p.us, 64).unwrap();
    let conns: Vec<(SocketHandle, u32)> = (0..8).map(|i| open(&mut p, l, 100 + i)).collect();
    let mut taken = Vec::new();
    for (i, &(_, iss)) in conns.iter().enumerate() {
        taken.push(flood_data(&mut p, 100 + i as u16, iss, 80 * 1024));
    }
    let used = p.shard.buffer_memory();
    // The limit is checked before each growth, so one growth step (at most one buffer)
    // may pass it; past it every connection keeps only its minimum.
    assert!(used <= 256 * 1024 + 64 * 1024 + 8 * 2 * BufferMemory::MIN_BUFFER, "buffer memory {used} over the limit");
    assert!(p.shard.memory_exhausted());
    assert!(p.shard.stats().memory_pressure >= 1);
    assert!(p.shard.drops().memory_limit > 0, "data past the limit dropped and counted");
    assert!(taken.iter().all(|&t| t >= BufferMemory::MIN_BUFFER), "every connection took its minimum: {taken:?}");
    assert!(taken[7] < taken[0], "later connections met the limit: {taken:?}");

    // Sends past the limit take only what needs no allocation.
    let (h7, _) = conns[7];
    let sent = p.shard.send(h7, &vec![1u8; 32 * 1024]).unwrap();
    assert!(sent <= BufferMemory::MIN_BUFFER, "sent {sent}");
    assert_eq!(p.shard.stats().send_memory_limited, 1);

    // Reading the first connection frees its buffer (memory is tight, so a drained buffer
    // goes at once), but the other connections' windows still count: its window update
    // offers at most four segments, not the 64 KiB it would offer otherwise.
    let (h0, iss0) = conns[0];
    let mut buf = vec![0u8; 128 * 1024];
    let n = p.shard.recv(h0, &mut buf).unwrap();
    assert_eq!(n, taken[0], "everything taken is readable, intact");
    assert!(buf[..n].iter().all(|&b| b == 0xab));
    let update = p.sent().pop().expect("a window update");
    assert!(usize::from(update.win) <= 4 * 1460 && update.win > 0, "window clamped: {}", update.win);

    // Readers drain and most connections go: memory and promises fall, pressure lifts,
    // full windows come back (eight windows of 64 KiB would not fit in 256 KiB: windows
    // promised count as memory, so while they all live each gets less).
    for &(h, _) in &conns[1..] {
        while p.shard.recv(h, &mut buf).is_ok_and(|n| n > 0) {}
    }
    assert!(p.shard.buffer_memory() < 64 * 1024, "{}", p.shard.buffer_memory());
    for &(h, _) in &conns[2..] {
        p.shard.abort(h).unwrap();
    }
    p.sent();
    p.inject_from(from_port(100), Seg::new(flags("ACK"), 1001 + taken[0] as u32, iss0 + 1).data(&[1; 1460]));
    p.inject_from(from_port(100), Seg::new(flags("ACK"), 1001 + taken[0] as u32 + 1460, iss0 + 1).data(&[1; 1460]));
    let ack = p.sent().pop().unwrap();
    assert!(usize::from(ack.win) > 32 * 1024, "window reopened: {}", ack.win);
}

#[test]
fn a_thousand_slow_readers_stay_within_the_memory_bound() {
    let limit = 8 << 20;
    let mut p = Peer::new(Config { buffer_memory: BufferMemory::with_limit(limit), ..plain_config() });
    let l = p.shard.listen(p.us, 1024).unwrap();
    let mut conns = Vec::new();
    for i in 0..1000u16 {
        conns.push(open(&mut p, l, 2000 + i));
    }
    for round in 0..4u32 {
        for (i, &(_, iss)) in conns.iter().enumerate() {
            let seq = 1001 + round * 16 * 1460;
            for k in 0..16u32 {
                p.inject_from(from_port(2000 + i as u16), Seg::new(flags("ACK"), seq + k * 1460, iss + 1).data(&[7; 1460]));
            }
            p.sent();
        }
    }
    let used = p.shard.buffer_memory();
    assert!(used <= limit + 1000 * 2 * BufferMemory::MIN_BUFFER, "{used} bytes for 1,000 slow readers");
    assert!(p.shard.connection_memory() < 48 << 20, "{} bytes in all", p.shard.connection_memory());
    // Every connection is still open and readable: nothing was reset or corrupted.
    let mut buf = vec![0u8; 64 * 1024];
    for &(h, _) in &conns {
        assert_eq!(p.shard.state(h), Ok(State::Established));
        let n = p.shard.recv(h, &mut buf).unwrap();
        assert!(n >= BufferMemory::MIN_BUFFER.min(4 * 16 * 1460));
        assert!(buf[..n].iter().all(|&b| b == 7));
    }
}

#[test]
fn a_peer_that_never_opens_its_window_gets_a_timeout_not_a_connection_for_ever() {
    let mut p = Peer::new(Config { tx_buffer: 16 * 1024, ..plain_config() });
    let l = p.shard.listen(p.us, 8).unwrap();
    let (h, iss) = open(&mut p, l, 5);
    p.inject_from(from_port(5), Seg::new(flags("ACK"), 1001, iss + 1).win(0));
    assert_eq!(p.shard.send(h, &[1u8; 64 * 1024]), Ok(16 * 1024), "the send buffer bounds what waits");
    assert_eq!(p.shard.send(h, b"x"), Err(Error::WouldBlock));
    // The peer answers every probe, always with a zero window.
    let mut probes = 0;
    for _ in 0..200 {
        p.advance(Duration::from_secs(60));
        for s in p.sent() {
            if s.seq == iss && s.payload.is_empty() {
                probes += 1;
                p.inject_from(from_port(5), Seg::new(flags("ACK"), 1001, iss + 1).win(0));
            }
        }
        if p.shard.state(h) == Ok(State::Closed) {
            break;
        }
    }
    assert_eq!(p.shard.error(h).unwrap(), Some(Error::TimedOut));
    assert_eq!(probes, 15, "tcp_retries2 probes, then the clear error");
    assert_eq!(p.shard.send(h, b"y"), Err(Error::TimedOut));
}

#[test]
fn slow_readers_that_start_reading_get_every_byte_at_the_memory_limit() {
    use ringtcp_transport::sim::{LinkConfig, Sim};
    use ringtcp_transport::{Instant, Secret, Shard};
    const CONNS: usize = 100;
    const BYTES: usize = 64 * 1024;
    let client_ip: std::net::IpAddr = "10.0.0.1".parse().unwrap();
    let server_ip: std::net::IpAddr = "10.0.0.2".parse().unwrap();
    let server_cfg = Config { buffer_memory: BufferMemory::with_limit(512 * 1024), ..Config::default() };
    let mut sim = Sim::new(7);
    let c = sim.add_host(Shard::new(Config::default(), &[client_ip], Secret([1; 16])));
    let s = sim.add_host(Shard::new(server_cfg, &[server_ip], Secret([2; 16])));
    sim.set_links(LinkConfig { delay: Duration::from_millis(1), ..LinkConfig::default() });
    let addr = SocketAddr::new(server_ip, 80);
    let l = sim.host_mut::<Shard>(s).listen(addr, 1024).unwrap();
    let now = sim.now();
    let clients: Vec<SocketHandle> = (0..CONNS).map(|_| sim.host_mut::<Shard>(c).connect(now, addr, None).unwrap()).collect();
    let mut sent = vec![0usize; CONNS];
    let mut accepted = Vec::new();
    let mut got = vec![0usize; CONNS];
    let data = vec![0x5a; BYTES];
    let deadline = Instant::ZERO + Duration::from_secs(600);
    let mut reading = false;
    while sim.now() < deadline {
        sim.run_for(Duration::from_millis(20));
        for (i, &h) in clients.iter().enumerate() {
            let shard = sim.host_mut::<Shard>(c);
            if sent[i] < BYTES
                && let Ok(n) = shard.send(h, &data[sent[i]..])
            {
                sent[i] += n;
            }
        }
        while let Ok(Some(h)) = sim.host_mut::<Shard>(s).accept(l) {
            accepted.push(h);
        }
        // The server reads nothing for the first ten seconds, then everything it can.
        reading |= sim.now() > Instant::ZERO + Duration::from_secs(10);
        if reading {
            let mut buf = vec![0u8; 16 * 1024];
            for (k, &h) in accepted.iter().enumerate() {
                while let Ok(n) = sim.host_mut::<Shard>(s).recv(h, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    assert!(buf[..n].iter().all(|&b| b == 0x5a));
                    got[k] += n;
                }
            }
        }
        if got.iter().sum::<usize>() == CONNS * BYTES {
            break;
        }
    }
    let server = sim.host::<Shard>(s);
    assert!(server.stats().memory_pressure > 0 && server.drops().memory_limit > 0, "the limit was reached");
    let stuck: Vec<(usize, usize)> = got.iter().copied().enumerate().filter(|&(_, n)| n < BYTES).collect();
    assert!(stuck.is_empty(), "after {:?} {} connections still short: {:?}", sim.now(), stuck.len(), &stuck[..stuck.len().min(8)]);
}

#[test]
fn a_drained_buffer_holds_no_memory_and_fills_again_intact() {
    let cfg = Config { rx_buffer: 1 << 20, window_scaling: true, buffer_memory: BufferMemory::with_limit(64 << 20), ..plain_config() };
    let mut p = Peer::new(cfg);
    let l = p.shard.listen(p.us, 8).unwrap();
    // A window scale on both sides, so a window beyond 64 KiB can be offered.
    let wscale = TcpOptions { window_scale: Some(7), ..TcpOptions::default() };
    p.inject_from(from_port(3000), Seg::new(flags("SYN"), 1000, 0).opts(wscale));
    let iss = p.sent().last().expect("a SYN-ACK").seq;
    p.inject_from(from_port(3000), Seg::new(flags("ACK"), 1001, iss + 1));
    let h = p.shard.accept(l).unwrap().expect("established");
    let mut buf = vec![0u8; 256 * 1024];
    let mut seq = 1001u32;
    // Two rounds of 100 segments, each read out at once: a bulk receiver's pattern.
    for round in 0..2 {
        for _ in 0..100 {
            p.inject_from(from_port(3000), Seg::new(flags("ACK"), seq, iss + 1).data(&[round as u8 + 1; 1460]));
            seq += 1460;
        }
        p.sent();
        let n = p.shard.recv(h, &mut buf).unwrap();
        assert_eq!(n, 146_000, "round {round}: everything readable");
        assert!(buf[..n].iter().all(|&b| b == round as u8 + 1), "round {round}: intact");
        // Drained: its chunks went back to the pool (which gives them to the next round
        // without an allocation), so the connection counts nothing against the limit.
        assert_eq!(p.shard.buffer_memory(), 0, "round {round}: held after draining");
        p.advance(Duration::from_millis(50));
    }
    // Data comes again after a pause.
    p.advance(Duration::from_millis(100));
    p.inject_from(from_port(3000), Seg::new(flags("ACK"), seq, iss + 1).data(&[9; 1460]));
    assert_eq!(p.shard.recv(h, &mut buf).unwrap(), 1460);
    assert_eq!(buf[0], 9);
}
