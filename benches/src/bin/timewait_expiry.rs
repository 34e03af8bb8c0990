//! The worst single poll while 1,000,000 TIME-WAIT records expire at once.
//!
//! A server shard closes 1,000,000 short connections first (each a real handshake,
//! request, response and close through two shards), all within one second of virtual
//! time, so all their records fall due in the same second. Then virtual time jumps past
//! their TIME-WAIT and `handle_timeout` is called until the cache is empty; each call is
//! timed on the wall clock. Expiry work per call is bounded by `expiry_budget`, so no call
//! holds up packet processing for long.
//!
//! Run: `cargo run --release -p ringtcp-benches --bin timewait_expiry`
//! (`RINGTCP_SLOW_POLLS=1` also lists every poll over 50 µs and how many records it
//! expired, to tell work from scheduling noise.)

use std::net::Ipv4Addr;
use std::time::{Duration, Instant as WallInstant};

use ringtcp_benches::Pair;
use ringtcp_transport::Config;

const CONNECTIONS: usize = 1_000_000;

fn main() {
    let client_cfg = Config { ephemeral_ports: 1024..=65535, ..Config::default() };
    let mut server_cfg = Config::default();
    server_cfg.fin_cache.capacity = CONNECTIONS;
    let budget = server_cfg.fin_cache.expiry_budget;
    // 64 client addresses: each needs only ~15,600 of its 64,512 ports, so no 4-tuple
    // repeats even where addresses share an RFC 6056 counter slot.
    let ips: Vec<Ipv4Addr> = (1..=64).map(|i| Ipv4Addr::new(10, 1, 1, i)).collect();
    let mut pair = Pair::with_clients(client_cfg, server_cfg, &ips);
    let (req, resp) = ([1u8; 64], [2u8; 64]);
    let mut scratch = vec![0u8; 4096];
    let built = WallInstant::now();
    for i in 0..CONNECTIONS {
        pair.lifecycle_from(Some(ips[i % ips.len()]), &req, &resp, &mut scratch).expect("lifecycle");
        pair.advance(Duration::from_nanos(900));
    }
    let records = pair.server.fin_cache().len();
    println!("connections={CONNECTIONS} built_in_s={:.2}", built.elapsed().as_secs_f64());
    println!("records={records} server_control_blocks={}", pair.server.connection_count());
    println!("{:?}", pair.server.fin_cache().stats());
    assert_eq!(records, CONNECTIONS);

    // Time goes on as under a runtime: a poll every millisecond (stale timers of the
    // closed connections drain along the way). The records fall due 60 s after insertion,
    // a million of them within one second.
    let first_due = pair.server.fin_cache().next_expiry().expect("records");
    let mut all = Vec::new();
    let mut in_expiry_second = Vec::new();
    while !pair.server.fin_cache().is_empty() {
        pair.now += Duration::from_millis(1);
        loop {
            let before = pair.server.fin_cache().len();
            let start = WallInstant::now();
            pair.server.handle_timeout(pair.now);
            let took = start.elapsed();
            if std::env::var_os("RINGTCP_SLOW_POLLS").is_some() && took > Duration::from_micros(50) {
                eprintln!("slow poll {:?} at {:?}: expired {}", took, pair.now, before - pair.server.fin_cache().len());
            }
            all.push(took);
            if pair.now >= first_due {
                in_expiry_second.push(took);
            }
            // A backlog beyond the budgets: the shard asks to be polled again at once.
            if pair.server.poll_timeout().is_none_or(|t| t > pair.now) {
                break;
            }
        }
    }
    let report = |name: &str, v: &mut Vec<Duration>| {
        v.sort();
        let pct = |p: f64| v[((v.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
        println!("{name}: polls={} median_us={:.1} p99_us={:.1} max_us={:.1}", v.len(), pct(0.5), pct(0.99), pct(1.0));
    };
    println!("expiry_budget={budget} timer_budget={}", pair.server.config().timer_budget);
    report("all_polls", &mut all);
    report("expiry_second", &mut in_expiry_second);
    println!("worst_poll_us={:.1}", in_expiry_second.last().map_or(0.0, |d| d.as_secs_f64() * 1e6));
}
