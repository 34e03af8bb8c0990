//! Tracing at INFO against no tracing, interleaved: the same short-connection churn as the
//! `tracing_overhead` criterion bench (in-memory link, 2 shards each side, 16 connections
//! in flight), run in rounds that alternate between a `fmt` subscriber at INFO and tracing
//! off (A B B A A B ...), so that the machine's drift over the run falls on both arms
//! alike. The criterion bench must run its configurations one after the other (a global
//! subscriber cannot be removed) and on this shared machine two runs of the *same*
//! configuration drift 4–8 %, more than the 2 % to be shown; here the filter is switched
//! between rounds through a reload handle instead, which rebuilds every callsite's interest
//! just as installing or removing a subscriber would.
//!
//! Prints the median µs per connection of each arm, their ratio, and for scale the ratio
//! between the two halves of the tracing-off rounds (what noise alone gives).
//!
//! Run: `cargo run --release -p ringtcp-benches --bin tracing_ab [rounds] [connections_per_round]`

use std::net::Ipv4Addr;

use ringtcp::Stack;
use ringtcp_benches::churn::{IN_FLIGHT, churn, serve_echo};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 97, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 97, 0, 2);

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20).max(2);
    let per_round: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000).max(IN_FLIGHT);

    let (filter, handle) = tracing_subscriber::reload::Layer::new(LevelFilter::OFF);
    let subscriber =
        tracing_subscriber::registry().with(filter).with(tracing_subscriber::fmt::layer().with_writer(std::io::sink));
    tracing::subscriber::set_global_default(subscriber).expect("first subscriber");

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (client, server) = Stack::builder().shards(2).memory_pair(CLIENT, SERVER).unwrap();
    rt.block_on(async { serve_echo(server.bind((SERVER, 80)).await.unwrap()) });
    // Warm-up: the FIN cache and every buffer pool reach their working size.
    rt.block_on(churn(&client, SERVER, per_round));

    let (mut off, mut info) = (Vec::new(), Vec::new());
    for r in 0..rounds * 2 {
        // A B B A A B B A ...: each arm is as often first as second in a pair.
        let info_now = matches!(r % 4, 1 | 2);
        handle.reload(if info_now { LevelFilter::INFO } else { LevelFilter::OFF }).expect("reload");
        let us = rt.block_on(churn(&client, SERVER, per_round)).as_secs_f64() * 1e6 / per_round as f64;
        if info_now { info.push(us) } else { off.push(us) }
    }
    let (first_half, second_half) = off.split_at(off.len() / 2);
    let noise = median(&mut second_half.to_vec()) / median(&mut first_half.to_vec());
    let (off_med, info_med) = (median(&mut off), median(&mut info));
    println!("rounds={rounds} connections_per_round={per_round} in_flight={IN_FLIGHT}");
    println!("tracing_off: median_us_per_conn={off_med:.2}");
    println!("info_subscriber: median_us_per_conn={info_med:.2}");
    println!("noise_ratio_off_second_half_over_first_half={noise:.3}");
    println!("info_over_off_median_ratio={:.3}", info_med / off_med);
}
