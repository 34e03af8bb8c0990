//! The `hyper_client` example (hyper's client over ringtcp's default stack) fetching from
//! an axum server on the kernel's stack, across TUN, inside a namespace of the test's own:
//! over HTTP/1.1 and over HTTP/2.

mod common;

use axum::Router;
use axum::routing::get;
use ringtcp_runtime::testing::{Netns, privileged};

#[test]
fn hyper_client_on_ringtcp_fetches_from_axum_on_the_kernel() {
    if !privileged("hyper_client_on_ringtcp_fetches_from_axum_on_the_kernel") {
        return;
    }
    let ns = Netns::new("hyperc");
    let server = common::kernel_server(&ns, 8090, |listener, shutdown| async move {
        let app = Router::new().route("/greeting", get(|| async { "hello from axum on the kernel" }));
        axum::serve(listener, app).with_graceful_shutdown(shutdown).await.unwrap();
    });
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
    server.stop();
}
