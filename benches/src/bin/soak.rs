//! The soak harness (issue 11): short connections, bulk transfers and HTTP at once
//! through the impairment layer for a set time, sampling memory and counters; at the end
//! every connection and TIME-WAIT record must be gone, and no operation may have failed.
//! No root needed (two stacks in this process, joined by the in-memory link).
//!
//! Run: `cargo run --release -p ringtcp-benches --bin soak -- [--seconds 600] [--warm-up 60]
//! [--freed-memory keep|keep:<MB>|give-back:<ms>|allocator]` (`--short` is the 20-second
//! mode CI runs as a test; `--freed-memory` picks `StackBuilder::freed_memory`,
//! `give-back:10000` by default).

use std::time::Duration;

use ringtcp_benches::soak::{self, SoakConfig};

fn main() {
    let mut cfg = SoakConfig {
        duration: Duration::from_secs(600),
        sample_every: Duration::from_secs(10),
        warm_up: Duration::from_secs(60),
        ..SoakConfig::short()
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--short" => cfg = SoakConfig::short(),
            "--warm-up" => {
                let secs: u64 = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
                    eprintln!("soak: --warm-up takes a number of seconds");
                    std::process::exit(2)
                });
                cfg.warm_up = Duration::from_secs(secs);
            }
            "--freed-memory" => {
                let v = args.next().unwrap_or_default();
                cfg.freed_memory = v.parse().unwrap_or_else(|e| {
                    eprintln!("soak: --freed-memory {v:?}: {e}");
                    std::process::exit(2)
                });
            }
            "--seconds" => {
                let secs: u64 = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
                    eprintln!("soak: --seconds takes a number");
                    std::process::exit(2)
                });
                cfg.duration = Duration::from_secs(secs);
                cfg.warm_up = cfg.warm_up.min(cfg.duration / 5);
            }
            other => {
                eprintln!("soak: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    println!("{:>8} {:>10} {:>10} {:>10} {:>8} {:>8} {:>12} {:>12} {:>10}", "seconds", "rss_MiB", "heap_MiB", "pool_MiB", "conns", "records", "buf_bytes", "fincache_b", "ops");
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let report = soak::run(&cfg, |s| {
        println!(
            "{:>8.0} {:>10.1} {:>10.1} {:>10.1} {:>8} {:>8} {:>12} {:>12} {:>10}",
            s.at.as_secs_f64(),
            mib(s.rss),
            mib(s.heap_in_use),
            mib(s.pool_bytes as u64),
            s.connections,
            s.records,
            s.buffer_memory,
            s.fin_cache_bytes,
            s.ops
        );
    });
    let growth = report.rss_growth(cfg.warm_up);
    println!(
        "\n{} short connections, {} MiB bulk echoed and checked, {} HTTP responses, {} retransmissions",
        report.churned,
        report.bulk_bytes >> 20,
        report.http_responses,
        report.retransmissions
    );
    println!("errors: {}", report.errors.len());
    for e in report.errors.iter().take(20) {
        println!("  {e}");
    }
    println!("left after the run: {} connections, {} TIME-WAIT records", report.leaked_connections, report.leaked_records);
    let t = report.allocator_trims;
    println!("freed memory handed back: {} times asked, {} released, {:?} spent", t.trims, t.released, t.time);
    println!("memory after warm-up ({:?}): peak {:+.1} % over its first sample", cfg.warm_up, growth * 100.0);
    let window = Duration::from_secs(60).min(cfg.duration / 10);
    println!(
        "memory trend: median of the last {window:?} {:+.1} % over the median of the first {window:?} after warm-up",
        report.rss_trend(cfg.warm_up, window) * 100.0
    );
    let ok = report.errors.is_empty() && report.leaked_connections == 0 && report.leaked_records == 0 && growth <= 0.05;
    println!("goals (flat within 5 %, zero errors, zero leaks): {}", if ok { "met" } else { "MISSED" });
    if !ok {
        std::process::exit(1);
    }
}
