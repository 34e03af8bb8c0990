//! The feature_flag app passes the same suite on both stacks: run as a process inside a
//! network namespace of the test's own, once with `RINGTCP_STACK=kernel` and once with
//! `RINGTCP_STACK=ringtcp` (its default stack then makes its TUN device in that namespace).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Server, start};
use ringtcp_runtime::testing::{Netns, privileged};

fn start_app(ns: &Netns, backend: &str) -> Server {
    let (server, line) = start(ns, env!("CARGO_BIN_EXE_feature_flag"), &[("RINGTCP_STACK", backend), ("LISTEN", "0.0.0.0:4000")], "serving on");
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

/// The suite: what a client of the app sees, whatever the stack.
fn suite(addr: SocketAddr) {
    let mut s = connect(addr);
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert_eq!(ask(&mut s, &mut r, "GET colour"), "NOT_FOUND");
    assert_eq!(ask(&mut s, &mut r, "SET colour blue"), "OK");
    assert_eq!(ask(&mut s, &mut r, "GET colour"), "blue");
    let big = "v".repeat(200_000);
    assert_eq!(ask(&mut s, &mut r, &format!("SET big {big}")), "OK");
    assert_eq!(ask(&mut s, &mut r, "GET big").len(), 200_000);
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
                assert_eq!(ask(&mut s, &mut r, &format!("SET k{i} {i}")), "OK");
                assert_eq!(ask(&mut s, &mut r, &format!("GET k{i}")), i.to_string());
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
    for (backend, addr) in [("kernel", "127.0.0.1:4000"), ("ringtcp", "10.77.0.2:4000")] {
        let ns = Netns::new("ff");
        let _server = start_app(&ns, backend);
        let addr: SocketAddr = addr.parse().unwrap();
        ns.spawn(move || suite(addr)).join().unwrap_or_else(|_| panic!("the suite failed on the {backend} stack"));
    }
}
