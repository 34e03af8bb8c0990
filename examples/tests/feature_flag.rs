//! The feature_flag app passes the same suite on both stacks: run as a process inside a
//! network namespace of the test's own, once with `RINGTCP_STACK=kernel` and once with
//! `RINGTCP_STACK=ringtcp` (its default stack then makes its TUN device in that namespace),
//! listening on `[::]` and run over IPv6 and over IPv4 against each.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Server, start};
use ringtcp_runtime::testing::{Netns, privileged};

fn start_app(ns: &Netns, backend: &str) -> Server {
    let (server, line) = start(ns, env!("CARGO_BIN_EXE_feature_flag"), &[("RINGTCP_STACK", backend), ("LISTEN", "[::]:4000")], "serving on");
    let expected = if backend == "kernel" { "Kernel" } else { "Ringtcp" };
    assert!(line.contains(expected), "runs on the {backend} stack: {line}");
    server
}

fn connect(addr: SocketAddr) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                return s;
            }
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("connect {addr}: {e}"),
        }
    }
}

fn ask(s: &mut TcpStream, r: &mut BufReader<TcpStream>, cmd: &str) -> String {
    s.write_all(format!("{cmd}\n").as_bytes()).unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    line.trim_end().to_owned()
}

/// The suite: what a client of the app sees, whatever the stack. Keys carry the address
/// family, so the runs over IPv6 and IPv4 against one server start from an empty store.
fn suite(addr: SocketAddr) {
    let tag = if addr.is_ipv6() { "6" } else { "4" };
    let mut s = connect(addr);
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert_eq!(ask(&mut s, &mut r, &format!("GET colour{tag}")), "NOT_FOUND");
    assert_eq!(ask(&mut s, &mut r, &format!("SET colour{tag} blue")), "OK");
    assert_eq!(ask(&mut s, &mut r, &format!("GET colour{tag}")), "blue");
    let big = "v".repeat(200_000);
    assert_eq!(ask(&mut s, &mut r, &format!("SET big{tag} {big}")), "OK");
    assert_eq!(ask(&mut s, &mut r, &format!("GET big{tag}")).len(), 200_000);
    assert_eq!(ask(&mut s, &mut r, "FROB"), "ERR unknown command");
    assert_eq!(ask(&mut s, &mut r, "QUIT"), "BYE");
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "the server closes after BYE");
    // Many clients at once share the store.
    let threads: Vec<_> = (0..50)
        .map(|i| {
            std::thread::spawn(move || {
                let mut s = connect(addr);
                let mut r = BufReader::new(s.try_clone().unwrap());
                assert_eq!(ask(&mut s, &mut r, &format!("SET k{tag}{i} {i}")), "OK");
                assert_eq!(ask(&mut s, &mut r, &format!("GET k{tag}{i}")), i.to_string());
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn the_same_suite_passes_on_both_stacks() {
    if !privileged("the_same_suite_passes_on_both_stacks") {
        return;
    }
    for (backend, addrs) in [("kernel", ["[::1]:4000", "127.0.0.1:4000"]), ("ringtcp", ["[fd77::2]:4000", "10.77.0.2:4000"])] {
        let ns = Netns::new("ff");
        let _server = start_app(&ns, backend);
        for addr in addrs {
            let addr: SocketAddr = addr.parse().unwrap();
            ns.spawn(move || suite(addr)).join().unwrap_or_else(|_| panic!("the suite failed on the {backend} stack over {addr}"));
        }
    }
}
