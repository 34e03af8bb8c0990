//! Test-made network namespaces: TUN tests create their device inside a namespace of
//! their own and talk only to addresses in it.

#![allow(dead_code, unreachable_pub)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Deterministic test data.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| ((i * 13 + i / 509) as u8).wrapping_add(seed)).collect()
}

/// Echoes every connection back, then shuts down writing.
pub async fn echo_server(listener: ringtcp::TcpListener) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else { return };
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = s.shutdown().await;
        });
    }
}

/// A kernel-side client: sends `data`, half-closes, reads the answer to the end.
pub fn kernel_echo_client(addr: SocketAddr, data: Vec<u8>) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(30)).expect("kernel connect");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut r = s.try_clone().unwrap();
    let reader = std::thread::spawn(move || {
        let mut back = Vec::new();
        r.read_to_end(&mut back).expect("kernel read");
        back
    });
    s.write_all(&data).expect("kernel write");
    s.shutdown(Shutdown::Write).unwrap();
    reader.join().unwrap()
}

/// Whether privileged tests can run. Without root they skip with a message, unless
/// `RINGTCP_REQUIRE_PRIVILEGED=1` (set by CI), which makes the missing privilege a failure.
pub fn privileged(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("RINGTCP_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("{test} needs root (network namespaces and TUN), and RINGTCP_REQUIRE_PRIVILEGED=1 forbids skipping it");
    }
    eprintln!("skipping {test}: it needs root to create a network namespace and a TUN device");
    false
}

/// A network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
    file: File,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!("rt-{tag}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let ok = Command::new("ip").args(["netns", "add", &name]).status().expect("run ip").success();
        assert!(ok, "ip netns add {name} failed");
        let _ = Command::new("ip").args(["netns", "exec", &name, "ip", "link", "set", "lo", "up"]).status();
        let file = File::open(format!("/var/run/netns/{name}")).expect("open the namespace");
        Netns { name, file }
    }

    /// Moves the calling thread into the namespace (threads it spawns follow).
    pub fn enter(&self) {
        // SAFETY: setns on a namespace fd we hold open.
        let r = unsafe { libc::setns(self.file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
    }

    /// Runs `f` on a new thread inside the namespace.
    pub fn spawn<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> std::thread::JoinHandle<T> {
        let fd = self.file.try_clone().expect("dup namespace fd");
        std::thread::spawn(move || {
            // SAFETY: setns on a namespace fd we hold open.
            let r = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}
