//! The FIN cache against a plain model: random inserts, removals, 2·MSL restarts and
//! expiry over three classes, and every lookup answers what the model says.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use proptest::prelude::*;
use ringtcp_transport::fincache::{FinCache, FinCacheConfig, MslClass, TwKey, TwState};
use ringtcp_transport::{Instant, SeqNum};

/// Enough keys that a family's live records can pass the 30 at which its index first grows
/// (and 60 at which it grows again).
const KEYS: u16 = 240;

#[derive(Clone, Debug)]
enum Op {
    Insert { key: u16, class: usize, ts: Option<u32>, seq: u32 },
    Remove(u16),
    Restart(u16),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..KEYS, 0..3usize, proptest::option::of(any::<u32>()), any::<u32>())
            .prop_map(|(key, class, ts, seq)| Op::Insert { key, class, ts, seq }),
        1 => (0..KEYS).prop_map(Op::Remove),
        1 => (0..KEYS).prop_map(Op::Restart),
        2 => (0..4_000u64).prop_map(Op::Advance),
    ]
}

fn key(i: u16) -> TwKey {
    // Few peers and ports, so keys share index buckets and chunks; a third of the keys
    // are IPv6 (the families share capacity and the expiry budget), and one IPv6 peer is
    // the IPv4-mapped form of an IPv4 one, which must stay a different key.
    let remote_ip = match i % 3 {
        0 => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i % 5)),
        1 if i % 5 == 1 => IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped()),
        _ => IpAddr::V4(Ipv4Addr::new(10, 0, 0, (i % 5) as u8)),
    };
    TwKey { local_idx: (i % 2) as u8, local_port: 80, remote_ip, remote_port: 1000 + i / 5 }
}

/// When a record inserted at `now_ms` is due (insertion times round up to the millisecond).
fn due(now_ns: u64, dur: Duration) -> u64 {
    now_ns.div_ceil(1_000_000) * 1_000_000 + dur.as_nanos() as u64
}

/// Runs `ops` on a cache with `cfg` and on the model, checking every key, the counts and
/// the next wake-up after each.
fn check_against_model(cfg: FinCacheConfig, ops: Vec<Op>, start_us: u64) -> Result<(), TestCaseError> {
    let mut fc = FinCache::new(cfg.clone());
    // key → (state, due time in ns)
    let mut model: HashMap<u16, (TwState, u64)> = HashMap::new();
    let mut now = start_us * 1_000 + 123;
    for op in ops {
        match op {
            Op::Insert { key: k, class, ts, seq } => {
                let st = TwState { snd_nxt: SeqNum(seq), rcv_nxt: SeqNum(!seq), ts_recent: ts, class: MslClass::ALL[class] };
                fc.insert(Instant::from_nanos(now), key(k), st);
                model.insert(k, (st, due(now, cfg.duration(st.class))));
            }
            Op::Remove(k) => {
                prop_assert_eq!(fc.remove(&key(k)), model.remove(&k).map(|m| m.0));
            }
            Op::Restart(k) => {
                fc.restart(Instant::from_nanos(now), &key(k));
                if let Some(m) = model.get_mut(&k) {
                    m.1 = due(now, cfg.duration(m.0.class));
                }
            }
            Op::Advance(ms) => {
                now += ms * 1_000_000;
                // A budget of 7 a call: come back while more are due, as the shard does.
                while fc.expire(Instant::from_nanos(now)) {}
                model.retain(|_, m| m.1 > now);
            }
        }
        for k in 0..KEYS {
            prop_assert_eq!(fc.get(&key(k)), model.get(&k).map(|m| m.0), "key {} at {} ns", k, now);
        }
        prop_assert_eq!(fc.len(), model.len());
        let live = fc.stats().live;
        for c in MslClass::ALL {
            prop_assert_eq!(live[c as usize], model.values().filter(|m| m.0.class == c).count() as u64);
        }
        // The cache may wake earlier (for the slot of a removed record), never later.
        if let Some(next) = model.values().map(|m| m.1).min() {
            let wake = fc.next_expiry().map(|t| t.as_nanos());
            prop_assert!(wake.is_some_and(|w| w <= next), "wake {:?}, a record is due at {}", wake, next);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn lookups_match_the_model(ops in proptest::collection::vec(op(), 1..400), start_us in 0..5_000u64) {
        check_against_model(FinCacheConfig { expiry_budget: 7, ..FinCacheConfig::default() }, ops, start_us)?;
    }

    #[test]
    fn lookups_match_the_model_while_the_index_grows(ops in proptest::collection::vec(op(), 100..400), start_us in 0..5_000u64) {
        // TIME-WAITs long enough that a family's live records pass the 30 and 60 at which
        // its index grows: lookups are checked while entries move and after.
        let long = Duration::from_secs(3600);
        check_against_model(FinCacheConfig { expiry_budget: 7, time_wait: [long / 4, long / 2, long], ..FinCacheConfig::default() }, ops, start_us)?;
    }

    #[test]
    fn a_small_cache_evicts_and_never_loses_a_newer_record(ops in proptest::collection::vec(op(), 1..400)) {
        // Capacity 10 for 240 keys: inserts evict. Whatever is found is the latest state
        // inserted for its key; never more than the capacity is held.
        let mut fc = FinCache::new(FinCacheConfig { capacity: 10, ..FinCacheConfig::default() });
        let mut latest: HashMap<u16, TwState> = HashMap::new();
        let mut now = 1_000u64;
        for op in ops {
            match op {
                Op::Insert { key: k, class, ts, seq } => {
                    let st = TwState { snd_nxt: SeqNum(seq), rcv_nxt: SeqNum(!seq), ts_recent: ts, class: MslClass::ALL[class] };
                    fc.insert(Instant::from_nanos(now), key(k), st);
                    latest.insert(k, st);
                    prop_assert_eq!(fc.get(&key(k)), Some(st), "the newest record is there");
                }
                Op::Remove(k) => {
                    fc.remove(&key(k));
                    latest.remove(&k);
                }
                Op::Restart(k) => fc.restart(Instant::from_nanos(now), &key(k)),
                Op::Advance(ms) => {
                    now += ms * 1_000_000;
                    while fc.expire(Instant::from_nanos(now)) {}
                }
            }
            let mut found = 0;
            for k in 0..KEYS {
                if let Some(st) = fc.get(&key(k)) {
                    prop_assert_eq!(Some(&st), latest.get(&k));
                    found += 1;
                }
            }
            prop_assert_eq!(found, fc.len());
            prop_assert!(fc.len() <= 10);
        }
    }
}
