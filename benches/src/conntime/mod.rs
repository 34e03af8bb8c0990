//! `conntime`, the experiment ringtcp was founded on, reproduced: each connection's time
//! from its first SYN to the server's last ACK, against the time of its SYN, under an
//! open-loop load of short connections with the server closing first, for ringtcp over TUN
//! and for tokio over the kernel behind a veth pair; the highest rate each serves without
//! a retransmitted SYN or a failed connection; and a TIME-WAIT storm (a large population
//! expiring under steady load), with the memory TIME-WAIT holds. The binary
//! (`src/bin/conntime.rs`) runs the phases; this module holds what they share.

pub mod capture;
pub mod load;
pub mod pairing;
pub mod plot;
pub mod servers;

use std::time::Duration;

pub use crate::netlab::Netns;
use load::LoadResult;
use pairing::Paired;

/// One measured run of the load against one stack.
#[derive(Debug)]
pub struct Run {
    /// `ringtcp` or `kernel`.
    pub stack: &'static str,
    /// Offered connections per second.
    pub rate: u64,
    pub load: LoadResult,
    pub paired: Paired,
    /// Packets the capture dropped.
    pub capture_drops: u64,
    /// The capture clock's time when the load started, in nanoseconds.
    pub epoch_ns: u64,
}

impl Run {
    /// No retransmitted SYN, no failed or reset connection, and the capture saw every
    /// connection complete: the seed's drop-free criterion.
    pub fn drop_free(&self) -> bool {
        self.load.failed == 0 && self.paired.syn_retransmits == 0 && self.paired.resets == 0 && self.capture_complete()
    }

    /// The capture dropped nothing and paired at least every connection the load saw
    /// succeed.
    pub fn capture_complete(&self) -> bool {
        self.capture_drops == 0 && self.paired.completed() as u64 >= self.load.ok
    }

    /// Connections the load saw succeed that the capture did not pair.
    pub fn missed(&self) -> u64 {
        self.load.ok.saturating_sub(self.paired.completed() as u64)
    }

    /// (seconds since the load started, connection time in milliseconds) of each
    /// completed connection.
    pub fn points(&self) -> Vec<(f64, f64)> {
        self.paired
            .conns
            .iter()
            .filter_map(|c| c.duration_ns.map(|d| (c.syn_ns.saturating_sub(self.epoch_ns) as f64 / 1e9, d as f64 / 1e6)))
            .collect()
    }

    /// Completed connections' times, sorted.
    pub fn sorted_times(&self) -> Vec<Duration> {
        let mut v: Vec<Duration> = self.paired.conns.iter().filter_map(|c| c.duration_ns.map(Duration::from_nanos)).collect();
        v.sort();
        v
    }

    /// The `q` quantile (0..=1) of the connection times.
    pub fn quantile(&self, q: f64) -> Duration {
        quantile(&self.sorted_times(), q)
    }

    /// The p99 of each `window` of SYN times that has at least 10 connections: (window
    /// start in seconds, p99 in milliseconds).
    pub fn p99_windows(&self, window: Duration) -> Vec<(f64, f64)> {
        let mut buckets: std::collections::BTreeMap<u64, Vec<Duration>> = std::collections::BTreeMap::new();
        let w = window.as_nanos().max(1) as u64;
        for c in &self.paired.conns {
            if let Some(d) = c.duration_ns {
                buckets.entry(c.syn_ns.saturating_sub(self.epoch_ns) / w).or_default().push(Duration::from_nanos(d));
            }
        }
        buckets
            .into_iter()
            .filter(|(_, v)| v.len() >= 10)
            .map(|(k, mut v)| {
                v.sort();
                ((k * w) as f64 / 1e9, quantile(&v, 0.99).as_secs_f64() * 1e3)
            })
            .collect()
    }

    /// One line for the progress output.
    pub fn summary(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        format!(
            "{:<7} {:>6}/s: {} ok, {} failed, {} SYN retransmitted, {} reset, {} not captured, {} late starts; p50 {:.3} ms p99 {:.3} ms p99.9 {:.3} ms max {:.3} ms{}",
            self.stack,
            self.rate,
            self.load.ok,
            self.load.failed,
            self.paired.syn_retransmits,
            self.paired.resets,
            self.missed() + self.capture_drops,
            self.load.late,
            ms(self.quantile(0.5)),
            ms(self.quantile(0.99)),
            ms(self.quantile(0.999)),
            ms(self.quantile(1.0)),
            if self.drop_free() { "  [drop-free]" } else { "" }
        )
    }
}

/// The `q` quantile of sorted `v` (zero if empty).
pub fn quantile(v: &[Duration], q: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v[((v.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize]
}

/// TIME-WAIT over time during a storm: (seconds since the phase began, records, bytes).
pub type TimeWaitSeries = Vec<(f64, u64, u64)>;
