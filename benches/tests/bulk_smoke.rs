//! `bulk_compare` in its smoke mode (4 MB a stream): every setup moves its bytes, each one
//! checked by the harness (AF_XDP included), and the TUN setups run in the modes they name.

use std::process::Command;

use ringtcp_runtime::testing::privileged;

#[test]
fn bulk_compare_smoke_run_moves_every_byte_in_every_setup() {
    if !privileged("bulk_compare_smoke_run_moves_every_byte_in_every_setup") {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_bulk_compare")).env("BULK_SMOKE", "1").output().expect("run bulk_compare");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "bulk_compare failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("ringtcp_tun: offloads in use: true"), "{text}");
    assert!(text.contains("ringtcp_tun_no_offloads: offloads in use: false"), "{text}");
    // Six rows (three directions, one and four streams) for each of the seven setups, and
    // a ratio for each row of the five comparisons.
    assert_eq!(text.lines().filter(|l| l.contains(" Gbit/s ")).count(), 42, "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("ratio_")).count(), 30, "{text}");
}
