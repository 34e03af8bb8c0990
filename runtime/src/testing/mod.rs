//! Helpers for tests that need privileges (feature `testing`): network namespaces of
//! their own and the root check with `RINGTCP_REQUIRE_PRIVILEGED`.

pub mod flood;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Whether privileged tests can run. Without root they skip with a message, unless
/// `RINGTCP_REQUIRE_PRIVILEGED=1` (set by CI), which makes the missing privilege a failure.
///
/// # Panics
/// Without root when `RINGTCP_REQUIRE_PRIVILEGED=1`.
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

/// A network namespace made for one test (`ip netns add`), deleted on drop.
#[derive(Debug)]
pub struct Netns {
    /// Its name under /var/run/netns.
    pub name: String,
    file: File,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Netns {
    /// Creates a namespace with loopback up.
    ///
    /// # Panics
    /// If `ip netns add` fails (a test set-up failure).
    pub fn new(tag: &str) -> Netns {
        let name = format!("rt-{tag}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let ok = Command::new("ip").args(["netns", "add", &name]).status().expect("run ip").success();
        assert!(ok, "ip netns add {name} failed");
        let _ = Command::new("ip").args(["netns", "exec", &name, "ip", "link", "set", "lo", "up"]).status();
        let file = File::open(format!("/var/run/netns/{name}")).expect("open the namespace");
        Netns { name, file }
    }

    /// Runs `f` on a new thread inside the namespace (threads it spawns follow).
    ///
    /// # Panics
    /// If the thread cannot enter the namespace.
    pub fn spawn<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> std::thread::JoinHandle<T> {
        let fd = self.file.try_clone().expect("dup namespace fd");
        std::thread::spawn(move || {
            // SAFETY: setns on a namespace fd we hold open.
            let r = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}
