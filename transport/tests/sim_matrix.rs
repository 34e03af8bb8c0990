//! The simulator matrix: bidirectional transfers of 0 B, 1 B, 100 kB and 10 MB under loss,
//! duplication, reordering, corruption, delay and jitter, over 1,000 seeded runs. Every
//! byte must arrive intact and in order, and both ends must finish in CLOSED or TIME-WAIT
//! within a virtual-time bound. A third of the seeds run over IPv6, the rest over IPv4,
//! against the same dual-stack listener.
//!
//! A failing run prints its key; rerun it alone with
//! `RINGTCP_SIM_ONLY=<profile>:<size>:<seed> cargo test -p ringtcp-transport --test sim_matrix`.

mod common;

use std::time::Duration;

use common::{Transfer, run_transfer};
use ringtcp_transport::CongestionAlgorithm;
use ringtcp_transport::sim::LinkConfig;

/// (size, seeds) per profile: 9 profiles × 112 = 1,008 runs.
const SIZES: [(usize, u64); 4] = [(0, 30), (1, 30), (100_000, 49), (10_000_000, 3)];

fn base() -> LinkConfig {
    LinkConfig {
        delay: Duration::from_millis(2),
        bandwidth: Some(12_500_000),
        queue: Duration::from_millis(50),
        ..LinkConfig::default()
    }
}

fn profile(name: &str) -> LinkConfig {
    let b = base();
    match name {
        "clean" => b,
        "loss1" => LinkConfig { loss: 0.01, ..b },
        "loss5" => LinkConfig { loss: 0.05, ..b },
        "loss20" => LinkConfig { loss: 0.20, ..b },
        "duplicate" => LinkConfig { duplicate: 0.05, ..b },
        "reorder" => LinkConfig { reorder: 0.10, ..b },
        "corrupt1" => LinkConfig { corrupt: 0.01, ..b },
        "jitter" => LinkConfig { delay: Duration::from_millis(20), jitter: Duration::from_millis(5), ..b },
        "everything" => LinkConfig {
            loss: 0.05,
            duplicate: 0.02,
            reorder: 0.05,
            corrupt: 0.01,
            jitter: Duration::from_millis(3),
            ..b
        },
        _ => panic!("unknown profile {name}"),
    }
}

/// Varies the stack's options by seed so both recovery paths (SACK / NewReno) and both
/// controllers run across the matrix.
fn transfer(profile_name: &str, size: usize, seed: u64) -> Transfer {
    let mut t = Transfer::new(seed, size, profile(profile_name));
    t.ipv6 = seed % 3 == 1;
    for cfg in [&mut t.client, &mut t.server] {
        cfg.congestion = if seed.is_multiple_of(2) { CongestionAlgorithm::Cubic } else { CongestionAlgorithm::NewReno };
        cfg.sack = seed % 4 < 2;
        cfg.timestamps = !seed.is_multiple_of(3);
        // At 20 % loss each way a handshake attempt fails a third of the time; Linux's six
        // SYN retries would make one run in a thousand fail to connect, which is not what
        // this matrix is about.
        cfg.syn_retries = 20;
        cfg.synack_retries = 20;
    }
    t
}

fn run_profile(name: &str) {
    let only = std::env::var("RINGTCP_SIM_ONLY").ok();
    let mut failures = Vec::new();
    let mut runs = 0;
    for (size, seeds) in SIZES {
        for seed in 1..=seeds {
            let key = format!("{name}:{size}:{seed}");
            if let Some(o) = &only
                && *o != key
            {
                continue;
            }
            runs += 1;
            if let Err(e) = run_transfer(&transfer(name, size, seed)) {
                failures.push(format!("{key}: {e}"));
            }
        }
    }
    if only.is_none() {
        assert!(runs > 100, "profile {name} ran only {runs} runs");
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} runs failed (rerun one with RINGTCP_SIM_ONLY=<key>):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn clean() {
    run_profile("clean");
}

#[test]
fn loss_1_percent() {
    run_profile("loss1");
}

#[test]
fn loss_5_percent() {
    run_profile("loss5");
}

#[test]
fn loss_20_percent() {
    run_profile("loss20");
}

#[test]
fn duplication() {
    run_profile("duplicate");
}

#[test]
fn reordering() {
    run_profile("reorder");
}

#[test]
fn corruption_1_percent() {
    run_profile("corrupt1");
}

#[test]
fn delay_and_jitter() {
    run_profile("jitter");
}

#[test]
fn everything_at_once() {
    run_profile("everything");
}
