//! Starting an example as a process inside a test-made namespace.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

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
