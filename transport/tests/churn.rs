//! Server-closes-first churn of 100,000 connections in the simulator: afterwards every
//! closed connection is a FIN-cache record, no control block is left, and the memory the
//! records take is what the cache reports.

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ringtcp_transport::fincache::RECORD_BYTES;
use ringtcp_transport::sim::{LinkConfig, Sim};
use ringtcp_transport::{Config, Error, Event, Secret, Shard, SocketHandle};

const TOTAL: usize = 100_000;
const CLIENTS: [&str; 2] = ["10.0.0.1", "10.0.0.3"];
const IN_FLIGHT: usize = 256;

#[derive(Default)]
struct Client {
    started: usize,
    done: usize,
    /// Response bytes received per connection.
    open: HashMap<SocketHandle, usize>,
}

#[test]
fn hundred_thousand_connections_leave_only_records() {
    let mut sim = Sim::new(11);
    let client_cfg = Config { ephemeral_ports: 1024..=65535, ..Config::default() };
    let mut server_cfg = Config::default();
    server_cfg.fin_cache.capacity = 1 << 17;
    let hosts: Vec<usize> = CLIENTS
        .iter()
        .enumerate()
        .map(|(i, ip)| sim.add_host(Shard::new(client_cfg.clone(), &[ip.parse().unwrap()], Secret([i as u8; 16]))))
        .collect();
    let s = sim.add_host(Shard::new(server_cfg, &["10.0.0.2".parse().unwrap()], Secret([9; 16])));
    sim.set_links(LinkConfig { delay: Duration::from_micros(50), ..LinkConfig::default() });
    let server_addr: SocketAddr = "10.0.0.2:80".parse().unwrap();
    let l = sim.host_mut::<Shard>(s).listen(server_addr, 1024).unwrap();
    let mut clients: Vec<Client> = hosts.iter().map(|_| Client::default()).collect();
    let per_client = TOTAL / hosts.len();
    let mut served = 0usize;
    let request = [7u8; 64];
    let response = [8u8; 64];
    let mut buf = [0u8; 256];

    sim.run_until(sim.now() + Duration::from_secs(50), |sim| {
        let now = sim.now();
        for (ci, &h) in hosts.iter().enumerate() {
            let cl = &mut clients[ci];
            let shard = sim.host_mut::<Shard>(h);
            while cl.open.len() < IN_FLIGHT && cl.started < per_client {
                let c = shard.connect(now, server_addr, None).expect("a free port");
                shard.send(c, &request).unwrap();
                cl.open.insert(c, 0);
                cl.started += 1;
            }
            while let Some(ev) = shard.poll_event() {
                let Event::Socket(c) = ev else { continue };
                let Some(got) = cl.open.get_mut(&c) else { continue };
                loop {
                    match shard.recv(c, &mut buf) {
                        Ok(0) => {
                            assert_eq!(*got, 64, "the whole response before end of stream");
                            shard.close(now, c).unwrap();
                            cl.open.remove(&c);
                            cl.done += 1;
                            break;
                        }
                        Ok(n) => *got += n,
                        Err(Error::WouldBlock) => break,
                        Err(e) => panic!("client connection failed: {e}"),
                    }
                }
            }
        }
        let server = sim.host_mut::<Shard>(s);
        while let Some(ev) = server.poll_event() {
            match ev {
                Event::Listener(_) => {
                    while let Some(h) = server.accept(l).unwrap() {
                        // Requests are small: they arrive with the handshake's last ACK or
                        // right after; answer as soon as the 64 bytes are in.
                        if server.recv_queue(h).unwrap() == 64 {
                            serve(server, h, now, &mut buf, &response);
                            served += 1;
                        }
                    }
                }
                Event::Socket(h) => {
                    if server.recv_queue(h) == Ok(64) {
                        serve(server, h, now, &mut buf, &response);
                        served += 1;
                    }
                }
            }
        }
        clients.iter().all(|c| c.done == per_client)
            && sim.host::<Shard>(s).connection_count() == 0
            && hosts.iter().all(|&h| sim.host::<Shard>(h).connection_count() == 0)
    })
    .expect("churn finished");

    assert_eq!(served, TOTAL);
    let server = sim.host::<Shard>(s);
    let fc = server.fin_cache();
    let stats = fc.stats();
    assert_eq!(server.connection_count(), 0, "no connection keeps a control block");
    assert_eq!(fc.len(), TOTAL, "every closed connection is a record");
    assert_eq!((stats.inserted, stats.evicted, stats.expired), (TOTAL as u64, 0, 0));
    // The report is what the cache holds (checked against the allocator in
    // fin_cache_memory.rs): 25 chunks of 4,096 records of 22 bytes, the index grown with
    // them by doubling from 8 buckets of 64 bytes to 16,384 (the first size whose 15-entry
    // buckets hold 100,000 entries at most half full; the capacity would allow
    // 2 · 131,072 / 15), the chunk table and time runs.
    assert_eq!(stats.bytes as usize, fc.memory());
    let records = 25 * 4096 * RECORD_BYTES;
    let index = 16_384 * 64;
    let bytes = stats.bytes as usize;
    assert!(bytes >= records + index && bytes < records + index + 64 * 1024, "{bytes} bytes");
    assert!(server.connection_memory() < 64 * 1024, "no per-connection memory is left");
    let clients_left: usize = hosts.iter().map(|&h| sim.host::<Shard>(h).connection_count()).sum();
    assert_eq!(clients_left, 0, "clients closed second: LAST-ACK, then CLOSED");
    let _: IpAddr = server_addr.ip();
}

fn serve(server: &mut Shard, h: SocketHandle, now: ringtcp_transport::Instant, buf: &mut [u8], response: &[u8]) {
    let n = server.recv(h, buf).unwrap();
    assert_eq!(n, 64);
    server.send(h, response).unwrap();
    server.close(now, h).unwrap();
}
