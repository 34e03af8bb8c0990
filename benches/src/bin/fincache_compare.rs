//! FIN-cache operations for IPv4 and IPv6 peers, interleaved: the two families' caches
//! (1,000,000 records each, `FINCACHE_RECORDS` to change it) are measured in alternating
//! batches of 10,000 operations, so a change in this shared machine's load lands on both
//! alike. Criterion's `fincache` bench times the same operations one family after the
//! other, seconds apart; on this shared machine its IPv6-to-IPv4 ratio for one operation
//! ranged from 0.83 to 1.74 over four runs of one build, which this harness is for.
//!
//! Prints, per operation, the median time per operation of each family over all batches,
//! their ratio, and the median of the per-round ratios (each round measures both); last,
//! the time per record of filling each family's full cache from empty once (the index's
//! growth included).
//!
//! Run: `cargo run --release -p ringtcp-benches --bin fincache_compare [rounds]`

use std::hint::black_box;
use std::net::IpAddr;
use std::time::Instant as Clock;

use ringtcp_benches::fincache_keys::{filled, key4, key6, records, scatter, state};
use ringtcp_transport::Instant;
use ringtcp_transport::fincache::{FinCache, TwKey};

/// Operations per timed batch.
const BATCH: u32 = 10_000;

/// One family's caches and where its operations have got to.
struct Family<K> {
    key: K,
    /// Full: lookups, and inserts that each evict the oldest.
    full: FinCache,
    /// Capacity 1.3 times what it holds: inserts with room. Rebuilt (untimed) at 1.25.
    roomy: FinCache,
    next_full: u32,
    next_roomy: u32,
    lookups: u64,
    /// Nanoseconds per record of filling `full` from empty, its index's growth included.
    fill_ns: f64,
}

const OPS: [&str; 4] = ["lookup_hit", "lookup_miss", "insert", "insert_evicting_oldest"];

// Generic over the key maker (not a `fn` pointer) so each loop is compiled whole: with
// the key built behind an indirect call the CPU overlaps fewer lookups' cache misses, and
// a miss measured 2.5 times slower.
impl<K: Fn(u32) -> TwKey + Copy> Family<K> {
    fn new(key: K) -> Family<K> {
        let n = records();
        let start = Clock::now();
        let full = filled(key, n as usize);
        let fill_ns = start.elapsed().as_nanos() as f64 / f64::from(n);
        Family { key, full, roomy: filled(key, n as usize * 13 / 10), next_full: n, next_roomy: n, lookups: 0, fill_ns }
    }

    /// Nanoseconds per operation for one batch of operation `op`. The peers' addresses
    /// and ports are made before the clock starts (making an IPv6 address from a number
    /// costs more than an IPv4 one, and no shard makes them that way); in the timed loop
    /// each key is put together from them right before its call, as the shard puts one
    /// together from a segment's addresses. (Keys made whole beforehand and copied out of
    /// an array moved the figures by up to 1.7 times either way on this machine, with the
    /// family that lost depending on how the copy's stores met the cache's loads.)
    fn batch(&mut self, op: usize, peers: &mut Vec<(IpAddr, u16)>) -> f64 {
        let key = self.key;
        if op == 2 && self.roomy.len() + BATCH as usize > records() as usize * 5 / 4 {
            self.roomy = filled(key, records() as usize * 13 / 10);
            self.next_roomy = records();
        }
        let first = match op {
            2 => self.next_roomy,
            3 => self.next_full,
            _ => 0,
        };
        peers.clear();
        for j in 0..BATCH {
            let k = match op {
                0 | 1 => key(scatter(self.lookups + u64::from(j))),
                _ => key(first + j),
            };
            peers.push((k.remote_ip, k.remote_port));
        }
        let local_port = if op == 1 { 8443 } else { 443 };
        let tuple = |&(remote_ip, remote_port): &(IpAddr, u16)| TwKey { local_idx: 0, local_port, remote_ip, remote_port };
        let start = Clock::now();
        match op {
            0 => {
                for p in peers.iter() {
                    black_box(self.full.get(&tuple(p)).expect("present"));
                }
            }
            1 => {
                for p in peers.iter() {
                    assert!(black_box(self.full.get(&tuple(p))).is_none());
                }
            }
            2 => {
                for (j, p) in (first..).zip(peers.iter()) {
                    self.roomy.insert(Instant::from_micros(u64::from(j)), tuple(p), state(j));
                }
            }
            _ => {
                for (j, p) in (first..).zip(peers.iter()) {
                    self.full.insert(Instant::from_micros(u64::from(j)), tuple(p), state(j));
                }
            }
        }
        let elapsed = start.elapsed();
        match op {
            0 | 1 => self.lookups += u64::from(BATCH),
            2 => self.next_roomy += BATCH,
            _ => self.next_full += BATCH,
        }
        elapsed.as_nanos() as f64 / f64::from(BATCH)
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    eprintln!("filling two caches of {} records per family...", records());
    let mut v4 = Family::new(key4);
    let mut v6 = Family::new(key6);
    println!("records={} rounds={rounds} batch={BATCH}", records());
    println!("{:<24} {:>10} {:>10} {:>14} {:>16}", "operation", "v4_ns", "v6_ns", "ratio_medians", "median_of_ratios");
    let mut peers = Vec::with_capacity(BATCH as usize);
    for (op, name) in OPS.iter().enumerate() {
        let (mut t4, mut t6, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            // Each family goes first every other round, so neither always runs warmer.
            let (a, b) = if round % 2 == 0 {
                (v4.batch(op, &mut peers), v6.batch(op, &mut peers))
            } else {
                let b = v6.batch(op, &mut peers);
                (v4.batch(op, &mut peers), b)
            };
            t4.push(a);
            t6.push(b);
            ratios.push(b / a);
        }
        let (m4, m6) = (median(&mut t4), median(&mut t6));
        println!("{name:<24} {m4:>10.1} {m6:>10.1} {:>14.2} {:>16.2}", m6 / m4, median(&mut ratios));
    }
    // One fill each, before the rounds: a single sample, not a median.
    println!("{:<24} {:>10.1} {:>10.1} {:>14.2}", "fill_from_empty_once", v4.fill_ns, v6.fill_ns, v6.fill_ns / v4.fill_ns);
}
