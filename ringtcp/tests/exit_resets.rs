//! A process that exits with connections open on the default stack resets them on its way
//! out, as the kernel does with a process's sockets: its peer hears a RST at once instead
//! of waiting on an address that no longer answers. The test runs this binary a second
//! time, inside a namespace of its own, as the process that exits.

mod common;

use std::io::{ErrorKind, Read};
use std::net::Ipv4Addr;
use std::time::Duration;

use common::{Netns, privileged};
use tokio::io::AsyncWriteExt;

const KERNEL: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 1);
const RING: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 2);
const PORT: u16 = 7200;
const CHILD: &str = "RINGTCP_TEST_EXITING_CHILD";

/// The exiting process: opens a connection to the kernel's listener on the default stack,
/// says hello and exits with the connection open.
fn exiting_child() -> ! {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stream = rt.block_on(async {
        let mut s = ringtcp::TcpStream::connect((KERNEL, PORT)).await.expect("connect over the default stack");
        s.write_all(b"hello").await.unwrap();
        s.flush().await.unwrap();
        s
    });
    // Give the bytes time to be acknowledged, so what the peer hears next is only about
    // the exit.
    std::thread::sleep(Duration::from_millis(200));
    std::mem::forget(stream);
    std::process::exit(0)
}

#[test]
fn connections_of_the_default_stack_are_reset_when_the_process_exits() {
    if std::env::var_os(CHILD).is_some() {
        exiting_child();
    }
    if !privileged("connections_of_the_default_stack_are_reset_when_the_process_exits") {
        return;
    }
    let ns = Netns::new("exitrst");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let peer = ns.spawn(move || {
        let listener = std::net::TcpListener::bind(("0.0.0.0", PORT)).unwrap();
        ready_tx.send(()).unwrap();
        let (mut s, from) = listener.accept().unwrap();
        let mut hello = [0u8; 5];
        s.read_exact(&mut hello).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut more = [0u8; 1];
        (from, hello, s.read(&mut more).map_err(|e| e.kind()))
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let status = ns
        .command(std::env::current_exe().unwrap().to_str().unwrap())
        .args(["--exact", "connections_of_the_default_stack_are_reset_when_the_process_exits", "--nocapture"])
        .env(CHILD, "1")
        .env("RINGTCP_TUN", "ringexit0")
        .env("RINGTCP_KERNEL_ADDR", KERNEL.to_string())
        .env("RINGTCP_ADDR", RING.to_string())
        .env("RINGTCP_SHARDS", "2")
        .status()
        .expect("run the exiting process");
    assert!(status.success(), "the exiting process failed: {status}");
    let (from, hello, after) = peer.join().expect("the kernel's side");
    assert_eq!(from.ip(), RING, "the connection came over ringtcp");
    assert_eq!(&hello, b"hello");
    assert_eq!(after, Err(ErrorKind::ConnectionReset), "the peer hears a RST when the process exits (a timeout here means it heard nothing)");
}
