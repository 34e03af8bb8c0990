//! A small network lab for the side-by-side harnesses that need root: namespaces joined by
//! a veth pair or holding a TUN device, a server process started inside one (and stopped
//! by its process id), its resident memory, and a closed-loop HTTP client that records
//! each request's latency.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use ringtcp_runtime::testing::Netns;

/// Runs `ip args...`, failing loudly.
pub fn ip(args: &[&str]) {
    let ok = Command::new("ip").args(args).status().map(|s| s.success()).unwrap_or(false);
    assert!(ok, "ip {} failed", args.join(" "));
}

/// Runs `sysctl -qw key=value` inside `ns`.
pub fn sysctl(ns: &Netns, kv: &str) {
    let ok = ns.command("sysctl").args(["-qw", kv]).status().map(|s| s.success()).unwrap_or(false);
    assert!(ok, "sysctl {kv} in {} failed", ns.name);
}

/// A veth pair: `va<tag>` in namespace `na` with `addr_a/24`, `vb<tag>` in `nb` with
/// `addr_b/24`. Returns the MAC addresses of both ends.
pub fn veth(tag: &str, na: &Netns, addr_a: Ipv4Addr, nb: &Netns, addr_b: Ipv4Addr) -> ([u8; 6], [u8; 6]) {
    let (a, b) = (format!("va{tag}"), format!("vb{tag}"));
    ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
    ip(&["link", "set", &a, "netns", &na.name]);
    ip(&["link", "set", &b, "netns", &nb.name]);
    for (ns, dev, addr) in [(na, &a, addr_a), (nb, &b, addr_b)] {
        let ok = ns.command("ip").args(["addr", "add", &format!("{addr}/24"), "dev", dev]).status().unwrap().success();
        assert!(ok, "address on {dev}");
        let ok = ns.command("ip").args(["link", "set", dev, "up"]).status().unwrap().success();
        assert!(ok, "{dev} up");
    }
    let mac = |ns: &Netns, dev: &str| {
        let out = ns.command("cat").arg(format!("/sys/class/net/{dev}/address")).output().expect("read MAC");
        parse_mac(String::from_utf8_lossy(&out.stdout).trim()).unwrap_or_else(|| panic!("MAC of {dev}"))
    };
    (mac(na, &a), mac(nb, &b))
}

/// `aa:bb:cc:dd:ee:ff` as bytes.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut m = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut m {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(m)
}

/// `aa:bb:cc:dd:ee:ff` from bytes.
pub fn format_mac(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// A server process started inside a namespace; it prints `ready` when it serves, and
/// exits (printing its statistics) when its stdin closes. Dropping it kills it by pid.
#[derive(Debug)]
pub struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    out: BufReader<std::process::ChildStdout>,
}

impl Server {
    /// Starts `exe args...` in `ns` with `env`, and waits for its `ready` line.
    pub fn start(ns: &Netns, exe: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = ns.command(exe);
        cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {exe}: {e}"));
        let stdin = child.stdin.take();
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        while out.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            if line.trim() == "ready" {
                return Server { child, stdin, out };
            }
            line.clear();
        }
        let status = child.wait();
        panic!("{exe} exited before it was ready: {status:?}");
    }

    /// The process id: `ip netns exec` execs the program, so it is the server's own.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// Closes its stdin and returns everything it printed after `ready`.
    pub fn finish(mut self) -> String {
        drop(self.stdin.take());
        let mut text = String::new();
        let _ = self.out.read_to_string(&mut text);
        let _ = self.child.wait();
        text
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One request's outcome.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// When it started, since the run began.
    pub at: Duration,
    /// How long it took (connect to the end of the response).
    pub latency: Duration,
    /// Whether a complete `200 OK` came back.
    pub ok: bool,
}

/// `GET /` on a fresh connection with `Connection: close`, the response read to the end.
pub fn http_get(addr: SocketAddr, timeout: Duration) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, timeout) else { return false };
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_nodelay(true);
    if s.write_all(b"GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut body = Vec::new();
    s.read_to_end(&mut body).is_ok() && body.starts_with(b"HTTP/1.1 200")
}

/// Closed-loop clients: `workers` threads in `ns`, each sending requests one after the
/// other until `stop`; every request is a sample.
pub fn clients(ns: &Netns, addr: SocketAddr, workers: usize, epoch: Instant, stop: Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<Vec<Sample>>> {
    (0..workers)
        .map(|_| {
            let stop = stop.clone();
            ns.spawn(move || {
                let mut out = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let ok = http_get(addr, Duration::from_secs(5));
                    out.push(Sample { at: t - epoch, latency: t.elapsed(), ok });
                }
                out
            })
        })
        .collect()
}

/// The `q` quantile (0..=1) of the latencies of `samples` that succeeded.
pub fn quantile(samples: &[Sample], q: f64) -> Duration {
    let mut l: Vec<Duration> = samples.iter().filter(|s| s.ok).map(|s| s.latency).collect();
    if l.is_empty() {
        return Duration::ZERO;
    }
    l.sort();
    l[((l.len() - 1) as f64 * q).round() as usize]
}

/// A counter of the kernel's `/proc/net/netstat` (e.g. `TcpExt` `SyncookiesSent`) inside `ns`.
pub fn netstat(ns: &Netns, group: &str, name: &str) -> u64 {
    let out = ns.command("cat").arg("/proc/net/netstat").output().expect("read netstat");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines().filter(|l| l.starts_with(&format!("{group}:")));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else { return 0 };
    names.split_whitespace().zip(values.split_whitespace()).find(|(n, _)| *n == name).and_then(|(_, v)| v.parse().ok()).unwrap_or(0)
}
