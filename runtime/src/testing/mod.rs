//! Helpers for tests that need privileges (feature `testing`): network namespaces of
//! their own and the root check with `RINGTCP_REQUIRE_PRIVILEGED`.

pub mod flood;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::Once;
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
        static ORPHANS: Once = Once::new();
        ORPHANS.call_once(remove_orphans);
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

/// Deletes the namespaces [`Netns::new`] named for processes that are gone. A run stopped
/// by a signal (a benchmark interrupted with Ctrl-C, a test killed at its timeout) never
/// reaches `Drop`, and its namespaces, with their TUN and veth devices, would stay until
/// reboot. Only names of the form `rt-<tag>-<pid>-<n>` whose pid no longer runs are
/// touched: another run beside this one keeps its own.
fn remove_orphans() {
    let Ok(dir) = std::fs::read_dir("/var/run/netns") else { return };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if owner(&name).is_some_and(|pid| !running(pid)) {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
}

/// The pid in a namespace name `rt-<tag>-<pid>-<n>`.
fn owner(name: &str) -> Option<libc::pid_t> {
    let mut parts = name.strip_prefix("rt-")?.rsplitn(3, '-');
    parts.next()?.parse::<usize>().ok()?;
    let pid = parts.next()?.parse().ok()?;
    parts.next().filter(|tag| !tag.is_empty())?;
    Some(pid)
}

/// True if a process with this pid exists (signal 0 checks without sending anything;
/// `EPERM` means it exists under another user).
fn running(pid: libc::pid_t) -> bool {
    // SAFETY: kill with signal 0 sends nothing.
    pid > 0 && (unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_of_the_scheme_have_an_owner() {
        assert_eq!(owner("rt-bulkr-13162-0"), Some(13162));
        assert_eq!(owner("rt-af-xdp-near-77-12"), Some(77), "a tag may hold dashes");
        for other in ["bulkr-13162-0", "rt--13162-0", "rt-x-13162", "rt-x-abc-0", "rt-x-1-y", "ringtcp-ns"] {
            assert_eq!(owner(other), None, "{other}");
        }
        assert!(running(std::process::id() as libc::pid_t));
    }

    #[test]
    fn a_namespace_left_by_a_process_that_is_gone_is_deleted_and_a_live_one_kept() {
        if !privileged("a_namespace_left_by_a_process_that_is_gone_is_deleted_and_a_live_one_kept") {
            return;
        }
        let mut child = Command::new("true").spawn().expect("spawn true");
        let gone = child.id();
        child.wait().expect("wait");
        let orphan = format!("rt-orphan-{gone}-0");
        assert!(Command::new("ip").args(["netns", "add", &orphan]).status().expect("ip").success());
        let live = Netns::new("kept");
        remove_orphans();
        let left: Vec<String> = std::fs::read_dir("/var/run/netns").unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        let _ = Command::new("ip").args(["netns", "del", &orphan]).status();
        assert!(!left.contains(&orphan), "the orphan of pid {gone} was deleted: {left:?}");
        assert!(left.contains(&live.name), "this process's own namespace stays: {left:?}");
    }
}

/// Two namespaces joined by a two-queue veth pair, for the AF_XDP tests: `near`
/// (interface `xr`) and `far` (interface `xk`), each given `ip addr add` arguments
/// (`10.78.0.1/24`, `fd78::1/64 nodad`, ...). The far side's transmit offloads are off, so
/// its frames reach an XDP program as they would come off a wire: checksums complete,
/// no super-packets (veth otherwise leaves both to "hardware" that is not there).
#[derive(Debug)]
pub struct VethPair {
    /// Holds `xr`.
    pub near: Netns,
    /// Holds `xk`.
    pub far: Netns,
}

impl VethPair {
    /// Makes the namespaces, the pair and the addresses.
    ///
    /// # Panics
    /// If a set-up command fails (`ip` and `ethtool` are needed).
    pub fn new(tag: &str, near: &[&str], far: &[&str]) -> VethPair {
        let pair = VethPair { near: Netns::new(&format!("{tag}n")), far: Netns::new(&format!("{tag}f")) };
        let q = ["numtxqueues", "2", "numrxqueues", "2"];
        let mut add = vec!["ip", "link", "add", "xr"];
        add.extend(q);
        add.extend(["type", "veth", "peer", "name", "xk"]);
        add.extend(q);
        add.extend(["netns", pair.far.name.as_str()]);
        run_in(&pair.near, &add);
        for (ns, dev, addrs) in [(&pair.near, "xr", near), (&pair.far, "xk", far)] {
            for a in addrs {
                let mut args = vec!["ip", "addr", "add"];
                args.extend(a.split_whitespace());
                args.extend(["dev", dev]);
                run_in(ns, &args);
            }
            run_in(ns, &["ip", "link", "set", dev, "up"]);
        }
        run_in(&pair.far, &["ethtool", "-K", "xk", "tx", "off", "tso", "off", "gso", "off"]);
        pair
    }

    /// The hardware address of `xr`.
    pub fn near_mac(&self) -> String {
        let out = run_in(&self.near, &["ip", "-o", "link", "show", "xr"]);
        out.split_whitespace().skip_while(|w| *w != "link/ether").nth(1).expect("xr has an Ethernet address").to_owned()
    }
}

/// Runs `args` inside `ns`; its standard output.
///
/// # Panics
/// If the command cannot run or fails.
pub fn run_in(ns: &Netns, args: &[&str]) -> String {
    let out = ns.command(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{} is needed (apt-get install it): {e}", args[0]));
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
