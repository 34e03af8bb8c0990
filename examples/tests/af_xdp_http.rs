//! The deployments of docs/deployment.md, each tested the way its commands are written:
//! axum_hello on a real (veth) interface through AF_XDP, and axum_hello on TUN reached
//! from that interface through nftables DNAT and forwarding; in both, curl and wrk run
//! in a namespace of their own on the other end of the wire.

mod common;

use common::{curl_suite, start, wrk_close};
use ringtcp_runtime::testing::{VethPair, privileged, run_in};

#[test]
fn af_xdp_axum_hello_answers_curl_and_wrk() {
    if !privileged("af_xdp_axum_hello_answers_curl_and_wrk") {
        return;
    }
    // The kernel of the server's namespace holds 10.78.0.2; ringtcp answers for
    // 10.78.0.3 alone (ARP included) and for fd78::3.
    let pair = VethPair::new("axdp", &["10.78.0.2/24"], &["10.78.0.1/24", "fd78::1/64 nodad"]);
    let env = [("PORT", "3000"), ("RINGTCP_AF_XDP", "xr"), ("RINGTCP_ADDR", "10.78.0.3"), ("RINGTCP_PREFIX", "24"), ("RINGTCP_ADDR6", "fd78::3")];
    let (_server, first) = start(&pair.near, env!("CARGO_BIN_EXE_axum_hello"), &env, "serving");
    assert!(first.contains("over ringtcp (2 shards)"), "{first}");
    curl_suite(&pair.far, "http://10.78.0.3:3000", "you are [::ffff:10.78.0.1]:");
    curl_suite(&pair.far, "http://[fd78::3]:3000", "you are [fd78::1]:");
    for url in ["http://10.78.0.3:3000/", "http://[fd78::3]:3000/"] {
        let out = wrk_close(&pair.far, url);
        eprintln!("AF_XDP {url}\n{out}");
    }
}

#[test]
fn af_xdp_dnat_deployment_serves_curl_and_wrk_through_tun() {
    if !privileged("af_xdp_dnat_deployment_serves_curl_and_wrk_through_tun") {
        return;
    }
    // 10.78.0.2 is the host's "public" address on xr; the app runs on the default TUN
    // stack (10.77.0.2), reached through DNAT exactly as docs/deployment.md writes it.
    let pair = VethPair::new("dnat", &["10.78.0.2/24"], &["10.78.0.1/24"]);
    let (_server, first) = start(&pair.near, env!("CARGO_BIN_EXE_axum_hello"), &[("PORT", "3000"), ("RINGTCP_IPV6", "0")], "serving");
    assert!(first.contains("over ringtcp"), "{first}");
    run_in(&pair.near, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    let rules = "table ip ringtcp_dnat {
        chain prerouting { type nat hook prerouting priority dstnat; iifname \"xr\" tcp dport 3000 dnat to 10.77.0.2:3000; }
    }";
    let out = pair.near.command("nft").args(["-f", "-"]).stdin(std::process::Stdio::piped()).spawn().and_then(|mut c| {
        use std::io::Write;
        c.stdin.take().expect("piped").write_all(rules.as_bytes())?;
        c.wait_with_output()
    });
    assert!(out.expect("nft is needed (apt-get install nftables)").status.success(), "nft refused the rules");
    curl_suite(&pair.far, "http://10.78.0.2:3000", "you are [::ffff:10.78.0.1]:");
    let out = wrk_close(&pair.far, "http://10.78.0.2:3000/");
    eprintln!("DNAT\n{out}");
    // Getting back out: the table goes, and the port is the host's again (nothing there).
    run_in(&pair.near, &["nft", "delete", "table", "ip", "ringtcp_dnat"]);
    let refused = pair.far.command("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "http://10.78.0.2:3000/"]).output().expect("curl");
    assert_eq!(refused.status.code(), Some(7), "curl: connection refused once the rule is gone");
    assert_eq!(String::from_utf8_lossy(&refused.stdout), "000");
}
