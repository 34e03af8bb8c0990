//! `benches/axum_compare.sh` in a smoke run (one second per measurement, four
//! connections), on this test build of `axum_hello`: ringtcp over TUN (default mode and
//! thread-per-core) and the kernel over veth all answer wrk, over IPv4 and IPv6, and the
//! script prints its summary with a rate for each.

use std::process::Command;

use ringtcp_runtime::testing::privileged;

#[test]
fn axum_compare_smoke_run_serves_every_setup() {
    if !privileged("axum_compare_smoke_run_serves_every_setup") {
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../benches/axum_compare.sh");
    let out = Command::new("bash")
        .args([script, "1", "4"])
        .env("AXUM_HELLO_BIN", env!("CARGO_BIN_EXE_axum_hello"))
        .output()
        .expect("run axum_compare.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "axum_compare.sh failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let summary: Vec<&str> = text.lines().filter(|l| l.contains("ringtcp/TUN ")).collect();
    assert_eq!(summary.len(), 4, "keep-alive and Connection: close, IPv4 and IPv6:\n{text}");
    for line in &summary {
        // "... ringtcp/TUN <rate>   thread-per-core <rate>   kernel/veth <rate> req/s ..."
        let rates: Vec<f64> = ["ringtcp/TUN ", "thread-per-core ", "kernel/veth "]
            .iter()
            .filter_map(|k| line.split_once(k)?.1.split_whitespace().next()?.parse().ok())
            .collect();
        assert_eq!(rates.len(), 3, "three rates in {line:?}");
        assert!(rates.iter().all(|&r| r > 0.0), "every setup served requests: {line:?}");
    }
}
