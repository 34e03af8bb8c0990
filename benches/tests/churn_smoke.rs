//! `churn_compare` in a smoke run (one second per setup, four connections at a time):
//! every setup completes connections and every ratio is printed.

use std::process::Command;

#[test]
fn churn_compare_smoke_run_completes_connections_in_every_setup() {
    let out = Command::new(env!("CARGO_BIN_EXE_churn_compare")).args(["1", "4"]).output().expect("run churn_compare");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "churn_compare failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let rates: Vec<f64> = text
        .lines()
        .filter_map(|l| l.split_once(": ")?.1.split_once(" conn/s")?.0.parse().ok())
        .collect();
    assert_eq!(rates.len(), 6, "one rate per setup:\n{text}");
    assert!(rates.iter().all(|&r| r > 0.0), "every setup completed connections:\n{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("ratio_")).count(), 5, "{text}");
}
