//! Starting an example as a process inside a test-made namespace.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Output, Stdio};

use ringtcp_runtime::testing::Netns;

/// A running example, killed on drop, and the lines it prints after its first.
pub struct Server(Child, std::sync::mpsc::Receiver<String>);

impl Server {
    /// The example's process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Waits up to `limit` for the example to print a line containing `needle`.
    pub fn wait_for_line(&self, needle: &str, limit: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.1.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    }

    /// Waits up to `limit` for the example to exit by itself; its exit status if it did.
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `exe` in `ns` with `env`, waits for its first line (which must contain
/// `ready`), and returns it with that line.
pub fn start(ns: &Netns, exe: &str, env: &[(&str, &str)], ready: &str) -> (Server, String) {
    let mut cmd = ns.command(exe);
    cmd.env("RINGTCP_SHARDS", "2").stdout(Stdio::piped()).stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start the example");
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("first line");
    assert!(line.contains(ready), "the example said: {line}");
    // Keep reading what it prints (a closed pipe would kill it at its next line), and
    // hand the lines to whoever waits for one.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in out.lines() {
            let Ok(l) = l else { break };
            let _ = tx.send(l);
        }
    });
    (Server(child, rx), line)
}

/// A server on the kernel's stack inside a namespace, run by [`kernel_server`] until
/// [`KernelServer::stop`].
pub struct KernelServer {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl KernelServer {
    /// Asks the server to shut down gracefully and waits for its thread.
    pub fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().expect("the kernel's server stopped cleanly");
        }
    }
}

/// Starts `serve` on a current-thread tokio runtime inside `ns`, with a listener on
/// `0.0.0.0:<port>` (every address of the namespace, so also the TUN device's kernel side
/// once an example has made it) and a future that completes when the server is to shut
/// down; returns once the listener is bound.
pub fn kernel_server<F, Fut>(ns: &Netns, port: u16, serve: F) -> KernelServer
where
    F: FnOnce(tokio::net::TcpListener, std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = ns.spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await.unwrap();
            ready_tx.send(()).unwrap();
            serve(listener, Box::pin(async move {
                let _ = stop_rx.await;
            }))
            .await;
        });
    });
    ready_rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the kernel's server started");
    KernelServer { stop: Some(stop_tx), thread: Some(thread) }
}

/// Runs `program` in `ns` and requires success.
pub fn run(ns: &Netns, program: &str, args: &[&str]) -> Output {
    let out = ns.command(program).args(args).output().unwrap_or_else(|e| panic!("{program} is needed (apt-get install it): {e}"));
    assert!(out.status.success(), "{program} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// A command's standard output as text.
pub fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// GET, a 1 MB POST, a chunked response, 100 keep-alive requests, and who the app says
/// the client is (`you`, as a Linux `[::]` listener reports it).
pub fn curl_suite(ns: &Netns, base: &str, you: &str) {
    let whoami = text(&run(ns, "curl", &["-s", "--max-time", "10", &format!("{base}/whoami")]));
    assert!(whoami.starts_with(you), "{base}: {whoami}");

    let get = run(ns, "curl", &["-s", "--max-time", "10", &format!("{base}/")]);
    assert_eq!(text(&get), "Hello from axum on ringtcp!\n");

    // POST with a 1 MB body, echoed back whole.
    let body: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    // One file per call: tests of one binary run at once and share the process id.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("ringtcp-post-{}-{n}", std::process::id()));
    std::fs::write(&path, &body).unwrap();
    let post = run(ns, "curl", &["-s", "--max-time", "20", "--data-binary", &format!("@{}", path.display()), &format!("{base}/echo")]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(post.stdout.len(), body.len());
    assert!(post.stdout == body, "the 1 MB body came back intact");

    // A chunked response.
    let chunked = text(&run(ns, "curl", &["-s", "--max-time", "10", "-D", "-", &format!("{base}/stream")]));
    assert!(chunked.to_lowercase().contains("transfer-encoding: chunked"), "{chunked}");
    assert_eq!(chunked.matches("line ").count(), 10, "{chunked}");

    // Keep-alive: 100 requests reuse one connection.
    let url = format!("{base}/");
    // Each URL gets its own `-o` (curl pairs them), so only the -w line reaches stdout.
    let mut args = vec!["-s", "--max-time", "30", "-w", "%{num_connects}\\n"];
    for _ in 0..100 {
        args.extend(["-o", "/dev/null", url.as_str()]);
    }
    let connects = text(&run(ns, "curl", &args));
    let counts: Vec<u32> = connects.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(counts.len(), 100);
    assert_eq!(counts.iter().sum::<u32>(), 1, "one connection for 100 requests: {counts:?}");
}

/// Four seconds of wrk with `Connection: close` against `url` from `ns`: no socket
/// errors, no failed responses, more than 1,000 requests. Returns wrk's report.
pub fn wrk_close(ns: &Netns, url: &str) -> String {
    let out = text(&run(ns, "wrk", &["-t2", "-c20", "-d4s", "-H", "Connection: close", url]));
    assert!(!out.contains("Socket errors"), "wrk {url} reported socket errors:\n{out}");
    assert!(!out.contains("Non-2xx"), "wrk {url} saw failed responses:\n{out}");
    let requests: u64 = out
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(requests > 1000, "wrk {url} completed only {requests} requests:\n{out}");
    out
}
