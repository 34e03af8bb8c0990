//! The expected-pass lists of packetdrill scripts (conformance/expected-pass.txt, and
//! conformance/expected-pass-psh-masked.txt run with PSH masked), run by
//! `conformance/packetdrill.sh` against the adapter library built from this checkout, in
//! each of upstream's three modes: IPv4, IPv6, and IPv4-mapped IPv6 (IPv6 sockets over an
//! IPv4 wire). A script on the list that fails in any mode fails this test (scripts that
//! name IPv4 addresses of their own, or inject an ICMPv4 code, run in the two IPv4-wire
//! modes only).

use std::path::PathBuf;
use std::process::Command;

use ringtcp_runtime::testing::privileged;

#[test]
fn the_expected_pass_list_of_packetdrill_scripts_passes() {
    if !privileged("the_expected_pass_list_of_packetdrill_scripts_passes") {
        return;
    }
    // The runner builds packetdrill and the adapter library (release, in a target
    // directory of its own under target/packetdrill/) from this checkout.
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("packetdrill.sh");
    // Both lists: as they are, and with PSH masked (the runner says which, per script).
    let mut n = 0;
    for list in ["expected-pass.txt", "expected-pass-psh-masked.txt"] {
        let listed = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(list)).unwrap();
        n += listed.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')).count();
    }
    for mode in ["ipv4", "ipv6", "ipv4-mapped-ipv6"] {
        let out = Command::new("bash")
            .arg(&script)
            .env_remove("RINGTCP_CONFORMANCE_SO")
            .env("PACKETDRILL_IP_VERSION", mode)
            .output()
            .expect("run packetdrill.sh");
        let text = String::from_utf8_lossy(&out.stdout);
        let summary = text.lines().last().unwrap_or_default().to_owned();
        assert!(out.status.success(), "{summary}\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
        // In IPv6 mode the runner skips the scripts that can run over IPv4 wires only (they
        // name IPv4 addresses of their own, or inject an ICMPv4 code); every other listed
        // script must pass.
        let ipv4_only = text.lines().filter(|l| l.starts_with("skip") && l.contains("(IPv4 wire only: ")).count();
        let skipped = if mode == "ipv6" { ipv4_only } else { 0 };
        assert_eq!(summary, format!("packetdrill passed={} failed=0 skipped={skipped}", n - skipped), "{text}");
        assert!(text.lines().any(|l| l == format!("packetdrill mode={mode}")), "{text}");
    }
}
