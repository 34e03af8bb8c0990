//! Real HTTP clients from Debian packages (curl, wrk, h2load) against the axum and hyper
//! examples on the userspace stack over TUN, inside a network namespace of the test's own,
//! over IPv4 and IPv6 (the examples listen on `[::]`).

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{Server, curl_suite, run, start, text, wrk_close};
use ringtcp_runtime::testing::{Netns, privileged};

fn start_example(ns: &Netns, exe: &str, port: u16) -> Server {
    start(ns, exe, &[("PORT", &port.to_string())], "serving").0
}

#[test]
fn curl_against_the_axum_app() {
    if !privileged("curl_against_the_axum_app") {
        return;
    }
    let ns = Netns::new("curl");
    let _server = start_example(&ns, env!("CARGO_BIN_EXE_axum_hello"), 3000);
    for (base, you) in [("http://10.77.0.2:3000", "you are [::ffff:10.77.0.1]:"), ("http://[fd77::2]:3000", "you are [fd77::1]:")] {
        curl_suite(&ns, base, you);
    }
}

#[test]
fn http_upgrade_round_trip_through_axum() {
    if !privileged("http_upgrade_round_trip_through_axum") {
        return;
    }
    let ns = Netns::new("upgrade");
    let _server = start_example(&ns, env!("CARGO_BIN_EXE_axum_hello"), 3000);
    ns.spawn(|| {
        let mut s = std::net::TcpStream::connect("10.77.0.2:3000").expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n").unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_lowercase();
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(head.contains("upgrade: echo"), "{head}");
        s.write_all(b"ping over the upgraded connection").unwrap();
        let mut back = [0u8; 33];
        s.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"ping over the upgraded connection");
    })
    .join()
    .expect("upgrade round trip");
}

#[test]
fn wrk_with_connection_close_sees_no_socket_errors() {
    if !privileged("wrk_with_connection_close_sees_no_socket_errors") {
        return;
    }
    let ns = Netns::new("wrk");
    let _server = start_example(&ns, env!("CARGO_BIN_EXE_axum_hello"), 3000);
    for url in ["http://10.77.0.2:3000/", "http://[fd77::2]:3000/"] {
        let out = wrk_close(&ns, url);
        eprintln!("{url}\n{out}");
    }
}

#[test]
fn h2load_against_the_hyper_example() {
    if !privileged("h2load_against_the_hyper_example") {
        return;
    }
    let ns = Netns::new("h2load");
    let _server = start_example(&ns, env!("CARGO_BIN_EXE_hyper_echo"), 3001);
    // h2load before nghttp2 1.59 (Debian has 1.52) sends an IPv6 literal's :authority
    // without its brackets (nghttp2 issue 1999), which hyper rightly refuses: give it the
    // RFC 3986 §3.2.2 form by hand.
    for (base, authority) in [("http://10.77.0.2:3001/", "10.77.0.2:3001"), ("http://[fd77::2]:3001/", "[fd77::2]:3001")] {
        let header = format!(":authority: {authority}");
        let out = text(&run(&ns, "h2load", &["-n", "2000", "-c", "10", "-m", "10", "-H", &header, base]));
        assert!(out.contains("requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed"), "{base}: {out}");
        assert!(out.contains("h2c"), "HTTP/2 was used:\n{out}");
        // HTTP/1 on the same port, with a body.
        let echo = run(&ns, "curl", &["-s", "--max-time", "10", "--data", "hello hyper", base]);
        assert_eq!(text(&echo), "hello hyper");
    }
}

#[test]
fn the_axum_app_served_from_the_shard_threads_answers_curl_and_wrk() {
    if !privileged("the_axum_app_served_from_the_shard_threads_answers_curl_and_wrk") {
        return;
    }
    let ns = Netns::new("tpc");
    let (_server, banner) = start(
        &ns,
        env!("CARGO_BIN_EXE_axum_hello"),
        &[("PORT", "3000"), ("RINGTCP_SHARDS", "2"), ("RINGTCP_THREAD_PER_CORE", "1")],
        "serving",
    );
    assert!(banner.contains("thread-per-core"), "{banner}");
    let base = "http://10.77.0.2:3000";
    assert_eq!(text(&run(&ns, "curl", &["-s", "--max-time", "10", &format!("{base}/")])), "Hello from axum on ringtcp!\n");
    let whoami = text(&run(&ns, "curl", &["-s", "--max-time", "10", &format!("{base}/whoami")]));
    assert!(whoami.starts_with("you are [::ffff:10.77.0.1]:"), "a [::] listener reports IPv4 peers mapped: {whoami}");
    let body: Vec<u8> = (0..1_048_576u32).map(|i| (i % 253) as u8).collect();
    let path = std::env::temp_dir().join(format!("ringtcp-tpc-post-{}", std::process::id()));
    std::fs::write(&path, &body).unwrap();
    let post = run(&ns, "curl", &["-s", "--max-time", "20", "--data-binary", &format!("@{}", path.display()), &format!("{base}/echo")]);
    let _ = std::fs::remove_file(&path);
    assert!(post.stdout == body, "the 1 MB body came back intact ({} bytes)", post.stdout.len());
    for extra in [&[][..], &["-H", "Connection: close"][..]] {
        let mut args = vec!["-t2", "-c20", "-d3s"];
        args.extend_from_slice(extra);
        args.push("http://10.77.0.2:3000/");
        let out = text(&run(&ns, "wrk", &args));
        assert!(!out.contains("Socket errors") && !out.contains("Non-2xx"), "wrk {extra:?}:\n{out}");
        let requests: u64 =
            out.lines().find(|l| l.contains("requests in")).and_then(|l| l.split_whitespace().next()).and_then(|n| n.parse().ok()).unwrap_or(0);
        assert!(requests > 1000, "wrk {extra:?} completed only {requests} requests:\n{out}");
    }
}

#[test]
fn graceful_shutdown_lets_a_request_in_flight_finish_then_closes_the_listener() {
    if !privileged("graceful_shutdown_lets_a_request_in_flight_finish_then_closes_the_listener") {
        return;
    }
    let ns = Netns::new("grace");
    let mut server = start_example(&ns, env!("CARGO_BIN_EXE_axum_hello"), 3000);
    assert_eq!(text(&run(&ns, "curl", &["-s", "--max-time", "10", "http://10.77.0.2:3000/"])), "Hello from axum on ringtcp!\n");
    // A request that takes 2 s, in flight when the server is told to stop.
    let slow = ns
        .command("curl")
        .args(["-s", "--max-time", "20", "http://10.77.0.2:3000/sleep/2000"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl is needed (apt-get install curl)");
    // Only once the server is handling it is the request in flight.
    assert!(server.wait_for_line("/sleep/2000 started", Duration::from_secs(15)), "the slow request reached the app");
    // The shell's own `kill`, so no procps package is needed.
    let interrupted = std::process::Command::new("sh").args(["-c", &format!("kill -INT {}", server.pid())]).status().unwrap();
    assert!(interrupted.success(), "Ctrl-C (SIGINT) delivered");
    // The listener closes: soon a new connection is refused (curl exit code 7) while the
    // request in flight goes on.
    let mut refused = None;
    for _ in 0..25 {
        let late = ns.command("curl").args(["-s", "--max-time", "2", "http://10.77.0.2:3000/"]).output().unwrap();
        if late.status.code() == Some(7) {
            refused = Some(late);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(refused.is_some(), "new connections are refused once shutdown began");
    let slow = slow.wait_with_output().unwrap();
    assert!(slow.status.success(), "the request in flight failed: {slow:?}");
    assert_eq!(String::from_utf8_lossy(&slow.stdout), "slept 2000 ms\n");
    let status = server.wait_exit(Duration::from_secs(10)).expect("the server exits once its last request is done");
    assert!(status.success(), "{status:?}");
}
