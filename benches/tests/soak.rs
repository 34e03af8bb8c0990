//! The soak harness in its short mode: 20 seconds of short connections, bulk transfers
//! and HTTP through loss, duplication, reordering and delay, with no failed operation, and
//! no connection or TIME-WAIT record left once everything has closed and expired.

use ringtcp_benches::soak::{self, SoakConfig};

#[test]
fn a_short_soak_has_no_errors_and_leaves_nothing_behind() {
    let cfg = SoakConfig::short();
    let report = soak::run(&cfg, |_| {});
    assert!(report.errors.is_empty(), "{} errors, first: {:?}", report.errors.len(), report.errors.first());
    assert!(report.churned > 100, "short connections ran: {}", report.churned);
    assert!(report.bulk_bytes >= 4 << 20, "bulk bytes echoed: {}", report.bulk_bytes);
    assert!(report.http_responses > 100, "HTTP responses: {}", report.http_responses);
    assert!(report.retransmissions > 0, "the impairment layer was in the path");
    assert_eq!((report.leaked_connections, report.leaked_records), (0, 0), "connections and records left behind");
    let peak = report.samples.iter().map(|s| s.rss).max().unwrap_or(0);
    assert!(peak < 512 << 20, "resident memory peaked at {peak} bytes");
    // glibc reports what the program holds allocated beside the resident memory.
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        assert!(report.samples.iter().all(|s| s.heap_in_use > 1 << 20), "heap in use sampled");
    }
}
