//! The worst single poll while 1,000,000 TIME-WAIT records expire at once.
//!
//! A server shard closes 1,000,000 short connections first (each a real handshake,
//! request, response and close through two shards), all within one second of virtual
//! time, so all their records fall due in the same second. Then virtual time jumps past
//! their TIME-WAIT and `handle_timeout` is called until the cache is empty; each call is
//! timed on the wall clock. Expiry work per call is bounded by `expiry_budget`, so no call
//! holds up packet processing for long.
//!
//! This machine (a shared VM) stalls any thread for 40–300 µs a hundred times a second or
//! more, whatever it runs: the program measures that too, in the same run, with a loop that
//! does no work. So the whole scenario runs several times (`RINGTCP_EXPIRY_RUNS`, default
//! 3): the virtual clock makes every run make the same polls with the same work, and the
//! time a poll's *work* takes is its fastest run (a stall rarely hits the same poll
//! twice). Both the raw worst poll and that are printed; the last line,
//! `worst_poll_us`, is the worst over polls of each poll's fastest run.
//!
//! Run: `cargo run --release -p ringtcp-benches --bin timewait_expiry`
//! (`RINGTCP_SLOW_POLLS=1` also lists every poll over 50 µs and how many records it
//! expired, to tell work from scheduling noise.)

use std::net::Ipv4Addr;
use std::time::{Duration, Instant as WallInstant};

use ringtcp_benches::Pair;
use ringtcp_transport::{Config, Instant};

const CONNECTIONS: usize = 1_000_000;

/// One `handle_timeout` call: virtual time, records it expired, wall time it took.
struct Poll {
    at: Instant,
    expired: usize,
    took: Duration,
}

/// Builds the million records, expires them, and returns every poll of the expiry second.
fn run_once(slow_polls: bool) -> (Vec<Poll>, usize) {
    let client_cfg = Config {
        ephemeral_ports: 1024..=65535,
        ..Config::default()
    };
    let mut server_cfg = Config::default();
    server_cfg.fin_cache.capacity = CONNECTIONS;
    // 64 client addresses: each needs only ~15,600 of its 64,512 ports, so no 4-tuple
    // repeats even where addresses share an RFC 6056 counter slot.
    let ips: Vec<Ipv4Addr> = (1..=64).map(|i| Ipv4Addr::new(10, 1, 1, i)).collect();
    let mut pair = Pair::with_clients(client_cfg, server_cfg, &ips);
    let (req, resp) = ([1u8; 64], [2u8; 64]);
    let mut scratch = vec![0u8; 4096];
    let built = WallInstant::now();
    for i in 0..CONNECTIONS {
        pair.lifecycle_from(Some(ips[i % ips.len()]), &req, &resp, &mut scratch)
            .expect("lifecycle");
        pair.advance(Duration::from_nanos(900));
    }
    let records = pair.server.fin_cache().len();
    println!(
        "connections={CONNECTIONS} built_in_s={:.2}",
        built.elapsed().as_secs_f64()
    );
    println!(
        "records={records} server_control_blocks={}",
        pair.server.connection_count()
    );
    assert_eq!(records, CONNECTIONS);

    // Time goes on as under a runtime: a poll every millisecond (stale timers of the
    // closed connections drain along the way). The records fall due 60 s after insertion,
    // a million of them within one second.
    let first_due = pair.server.fin_cache().next_expiry().expect("records");
    let mut polls = Vec::new();
    let mut all_polls = 0;
    while !pair.server.fin_cache().is_empty() {
        pair.now += Duration::from_millis(1);
        loop {
            let before = pair.server.fin_cache().len();
            let start = WallInstant::now();
            pair.server.handle_timeout(pair.now);
            let took = start.elapsed();
            let expired = before - pair.server.fin_cache().len();
            if slow_polls && took > Duration::from_micros(50) {
                eprintln!("slow poll {took:?} at {:?}: expired {expired}", pair.now);
            }
            all_polls += 1;
            if pair.now >= first_due {
                polls.push(Poll {
                    at: pair.now,
                    expired,
                    took,
                });
            }
            // A backlog beyond the budgets: the shard asks to be polled again at once.
            if pair.server.poll_timeout().is_none_or(|t| t > pair.now) {
                break;
            }
        }
    }
    (polls, all_polls)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// (median, p99, max) in µs.
fn summary(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let pct = |p: f64| micros(v[((v.len() - 1) as f64 * p) as usize]);
    (pct(0.5), pct(0.99), pct(1.0))
}

/// A loop that only reads the clock for `span`: the longest gap between two readings and
/// how many gaps exceeded 50 µs are the machine's own stalls.
fn machine_stalls(span: Duration) -> (usize, Duration) {
    let start = WallInstant::now();
    let mut last = start;
    let (mut over_50us, mut worst) = (0, Duration::ZERO);
    while last - start < span {
        let now = WallInstant::now();
        let gap = now - last;
        over_50us += usize::from(gap > Duration::from_micros(50));
        worst = worst.max(gap);
        last = now;
    }
    (over_50us, worst)
}

fn main() {
    let runs: usize = std::env::var("RINGTCP_EXPIRY_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let slow_polls = std::env::var_os("RINGTCP_SLOW_POLLS").is_some();
    let budget = Config::default().fin_cache.expiry_budget;
    let mut fastest: Vec<Duration> = Vec::new();
    let mut reference: Vec<(Instant, usize)> = Vec::new();
    for run in 0..runs {
        let (polls, all_polls) = run_once(slow_polls);
        let (median, p99, max) = summary(polls.iter().map(|p| p.took).collect());
        let busy: Duration = polls.iter().map(|p| p.took).sum();
        println!(
            "run {run}: all_polls={all_polls} expiry_second_polls={} median_us={median:.1} p99_us={p99:.1} max_us={max:.1} busy_ms={:.1}",
            polls.len(),
            busy.as_secs_f64() * 1e3
        );
        let shape: Vec<(Instant, usize)> = polls.iter().map(|p| (p.at, p.expired)).collect();
        if run == 0 {
            reference = shape;
            fastest = polls.iter().map(|p| p.took).collect();
        } else {
            // Same virtual times, same records per poll: the runs are comparable poll by poll.
            assert!(
                shape == reference,
                "run {run} made different polls than run 0"
            );
            for (f, p) in fastest.iter_mut().zip(&polls) {
                *f = (*f).min(p.took);
            }
        }
    }
    let (stalls, worst_stall) = machine_stalls(Duration::from_secs(1));
    println!(
        "machine_stalls_over_50us_per_s={stalls} machine_worst_stall_us={:.1} (a loop doing no work)",
        micros(worst_stall)
    );
    let most = reference.iter().map(|p| p.1).max().unwrap_or(0);
    println!("expiry_budget={budget} most_records_in_one_poll={most}");
    if slow_polls {
        let mut order: Vec<usize> = (0..fastest.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(fastest[i]));
        for &i in order.iter().take(20) {
            eprintln!(
                "slowest work: poll {i} at {:?} expired {} fastest {:?}",
                reference[i].0, reference[i].1, fastest[i]
            );
        }
    }
    let (median, p99, max) = summary(fastest);
    println!("fastest_of_{runs}_runs: median_us={median:.1} p99_us={p99:.1} max_us={max:.1}");
    println!("worst_poll_us={max:.1}");
}
