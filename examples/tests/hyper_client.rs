//! The `hyper_client` example (hyper's client over ringtcp's default stack) fetching from
//! an axum server on the kernel's stack, across TUN, inside a namespace of the test's own:
//! over HTTP/1.1 and over HTTP/2.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use ringtcp_runtime::testing::{Netns, privileged};

#[test]
fn hyper_client_on_ringtcp_fetches_from_axum_on_the_kernel() {
    if !privileged("hyper_client_on_ringtcp_fetches_from_axum_on_the_kernel") {
        return;
    }
    let ns = Netns::new("hyperc");
    // The kernel's server listens on every address of the namespace, so it also answers on
    // the TUN device's kernel side (10.77.0.1) once the example has made it.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = ns.spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("0.0.0.0:8090").await.unwrap();
            ready_tx.send(()).unwrap();
            let app = Router::new().route("/greeting", get(|| async { "hello from axum on the kernel" }));
            axum::serve(listener, app).with_graceful_shutdown(async move { let _ = stop_rx.await; }).await.unwrap();
        });
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).expect("the kernel's server started");
    for args in [&["http://10.77.0.1:8090/greeting"][..], &["--http2", "http://10.77.0.1:8090/greeting"][..]] {
        let out = ns
            .command(env!("CARGO_BIN_EXE_hyper_client"))
            .env("RINGTCP_SHARDS", "1")
            .args(args)
            .output()
            .expect("run the example");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {text}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("200 OK"), "{text}");
        let version = if args.len() == 2 { "HTTP/2.0" } else { "HTTP/1.1" };
        assert!(text.contains(version), "{text}");
        assert!(text.contains("connection 10.77.0.2:") && text.contains("-> 10.77.0.1:8090 over ringtcp"), "{text}");
        assert!(text.contains("hello from axum on the kernel"), "{text}");
    }
    let _ = stop_tx.send(());
    server.join().expect("the kernel's server stopped cleanly");
}
