//! Listener queues: 1,000 connection attempts arriving at once at a listener with backlog
//! 1,024 are all accepted (smoltcp's one-socket-per-connection model would refuse them).

mod common;

use std::time::Duration;

use common::{CLIENT_IP, SERVER_IP, ip, server_addr};
use ringtcp_transport::sim::{LinkConfig, Sim};
use ringtcp_transport::{Config, Secret, Shard, State};

#[test]
fn thousand_simultaneous_connects_are_all_accepted() {
    let mut sim = Sim::new(42);
    let c = sim.add_host(Shard::new(Config::default(), &[ip(CLIENT_IP)], Secret([1; 16])));
    let s = sim.add_host(Shard::new(Config::default(), &[ip(SERVER_IP)], Secret([2; 16])));
    sim.set_links(LinkConfig { delay: Duration::from_millis(1), ..LinkConfig::default() });
    let l = sim.host_mut::<Shard>(s).listen(server_addr(), 1024).unwrap();
    let now = sim.now();
    let clients: Vec<_> = (0..1000).map(|_| sim.host_mut::<Shard>(c).connect(now, server_addr(), None).unwrap()).collect();
    let mut accepted = Vec::new();
    // Nobody accepts until every handshake has finished: all 1,000 wait in the queues.
    sim.run_for(Duration::from_millis(50));
    assert_eq!(sim.host::<Shard>(s).accept_queue_len(l).unwrap(), 1000);
    while let Some(h) = sim.host_mut::<Shard>(s).accept(l).unwrap() {
        accepted.push(h);
    }
    assert_eq!(accepted.len(), 1000);
    let server = sim.host::<Shard>(s);
    assert_eq!(server.drops().listen_overflow, 0);
    assert!(accepted.iter().all(|&h| server.state(h) == Ok(State::Established)));
    let client = sim.host::<Shard>(c);
    assert!(clients.iter().all(|&h| client.state(h) == Ok(State::Established)));
    assert_eq!(client.stats().out_rsts + server.stats().out_rsts, 0);
    let mut peers: Vec<_> = accepted.iter().map(|&h| server.peer_addr(h).unwrap()).collect();
    peers.sort();
    peers.dedup();
    assert_eq!(peers.len(), 1000, "1,000 distinct client ports");
}
