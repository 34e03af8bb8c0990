//! tonic (gRPC) over ringtcp: the `Echo` service's unary `Say` and bidirectional `Chat`
//! with ringtcp at one end or both — over the in-memory link, through the `ringtcp::net`
//! switch on both its variants, and across TUN with the kernel's stack at the other end
//! (the `grpc_echo` example as server and as client).

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures_util::StreamExt;
use ringtcp::Stack;
use ringtcp::tonic::TcpIncoming;
use ringtcp_examples::grpc::{EchoClient, EchoServer, EchoService, SayRequest, chunk_data, proto::Chunk};
use ringtcp_runtime::testing::{Netns, privileged};
use tonic::transport::{Channel, Endpoint, Server};

const A: Ipv4Addr = Ipv4Addr::new(10, 62, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 62, 0, 2);

/// `Say` answers with the greeting and the caller's address as the server saw it.
async fn check_say(client: &mut EchoClient<Channel>, caller: impl Into<IpAddr>) {
    let caller = caller.into();
    let reply = client.say(SayRequest { name: "tester".into() }).await.expect("Say").into_inner();
    assert_eq!(reply.message, "hello, tester");
    let peer: SocketAddr = reply.peer.parse().unwrap_or_else(|_| panic!("the server saw no address: {:?}", reply.peer));
    assert_eq!(peer.ip(), caller, "the server saw the call come from {peer}");
}

/// `Chat` with `n` chunks: every chunk back, intact, in order, and the stream then ends.
/// Written here rather than with the example's helper, so the test checks on its own.
async fn check_chat(client: &mut EchoClient<Channel>, n: u64) {
    let outbound = tokio_stream::iter((0..n).map(|seq| Chunk { seq, data: chunk_data(seq) }));
    let mut inbound = client.chat(outbound).await.expect("Chat").into_inner();
    for seq in 0..n {
        let chunk = inbound.message().await.expect("a chunk").unwrap_or_else(|| panic!("the stream ended at chunk {seq} of {n}"));
        assert_eq!(chunk.seq, seq, "chunks back in order");
        assert!(chunk.data == chunk_data(seq), "chunk {seq} intact ({} bytes back)", chunk.data.len());
    }
    assert!(inbound.message().await.expect("the end of the stream").is_none(), "nothing after the last chunk");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_server_and_client_both_on_ringtcp_over_the_memory_link() {
    let (client_stack, server_stack) = Stack::builder().shards(2).memory_pair(A, B).expect("in-memory stacks");
    let listener = server_stack.bind((B, 50051)).await.unwrap();
    let server = tokio::spawn(Server::builder().add_service(EchoServer::new(EchoService)).serve_with_incoming(TcpIncoming::new(listener)));
    let channel = Endpoint::from_static("http://10.62.0.2:50051")
        .connect_with_connector(ringtcp::hyper::Connector::new(&client_stack))
        .await
        .expect("a channel over ringtcp");
    let mut client = EchoClient::new(channel);
    check_say(&mut client, A).await;
    check_chat(&mut client, 300).await;
    // Calls at once on the one HTTP/2 connection.
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let mut c = client.clone();
            tokio::spawn(async move { check_chat(&mut c, 40).await })
        })
        .collect();
    for call in calls {
        call.await.expect("a concurrent chat");
    }
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_incoming_sets_nodelay_and_keepalive_on_each_connection() {
    let (client_stack, server_stack) = Stack::builder().shards(1).memory_pair(A, B).expect("in-memory stacks");
    let listener = server_stack.bind((B, 50052)).await.unwrap();
    let mut incoming = TcpIncoming::new(listener).with_keepalive(Some(Duration::from_secs(45)));
    let _c1 = client_stack.connect((B, 50052)).await.unwrap();
    let s1 = incoming.next().await.expect("never ends").expect("a connection");
    assert!(s1.nodelay().unwrap(), "TCP_NODELAY on by default, as tonic's server has it");
    let ka = s1.keepalive().unwrap().expect("keepalive on");
    assert_eq!(ka.idle, Duration::from_secs(45));
    assert_eq!((ka.interval, ka.probes), (Duration::from_secs(75), 9), "Linux's interval and count");

    let mut incoming = TcpIncoming::new(incoming.get_ref().try_clone()).with_nodelay(false).with_keepalive(None);
    let _c2 = client_stack.connect((B, 50052)).await.unwrap();
    let s2 = incoming.next().await.expect("never ends").expect("a connection");
    assert!(!s2.nodelay().unwrap());
    assert_eq!(s2.keepalive().unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_serves_through_the_switch_on_both_variants() {
    let (client_stack, server_stack) = Stack::builder().shards(1).memory_pair(A, B).expect("in-memory stacks");
    for kernel in [true, false] {
        let (listener, url, caller) = if kernel {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", l.local_addr().unwrap());
            (ringtcp::net::TcpListener::Kernel(l), url, Ipv4Addr::LOCALHOST)
        } else {
            let l = server_stack.bind((B, 50053)).await.unwrap();
            (ringtcp::net::TcpListener::Ringtcp(l), "http://10.62.0.2:50053".to_owned(), A)
        };
        let server = tokio::spawn(Server::builder().add_service(EchoServer::new(EchoService)).serve_with_incoming(TcpIncoming::new(listener)));
        let endpoint = Endpoint::from_shared(url).unwrap();
        let channel = if kernel {
            endpoint.connect().await
        } else {
            endpoint.connect_with_connector(ringtcp::hyper::Connector::new(&client_stack)).await
        };
        let mut client = EchoClient::new(channel.expect("a channel"));
        check_say(&mut client, caller).await;
        check_chat(&mut client, 100).await;
        server.abort();
    }
}

/// `grpc_echo serve` on ringtcp's default stack in a namespace; a tonic client on the
/// kernel's side of the TUN device calls it.
#[test]
fn grpc_echo_on_ringtcp_serves_a_kernel_client_across_tun() {
    if !privileged("grpc_echo_on_ringtcp_serves_a_kernel_client_across_tun") {
        return;
    }
    let ns = Netns::new("grpcs");
    let (_server, line) = common::start(&ns, env!("CARGO_BIN_EXE_grpc_echo"), &[("PORT", "50051")], "serving gRPC on [::]:50051");
    assert!(line.contains("over ringtcp"), "{line}");
    let client = ns.spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            // The server listens on [::]: an IPv6 caller as itself, an IPv4 one mapped.
            for (url, caller) in [
                ("http://[fd77::2]:50051", IpAddr::V6("fd77::1".parse().unwrap())),
                ("http://10.77.0.2:50051", IpAddr::V6(Ipv4Addr::new(10, 77, 0, 1).to_ipv6_mapped())),
            ] {
                let channel = Endpoint::from_static(url)
                    .connect_timeout(Duration::from_secs(10))
                    .connect()
                    .await
                    .expect("the kernel reaches the server over TUN");
                let mut client = EchoClient::new(channel);
                check_say(&mut client, caller).await;
                check_chat(&mut client, 200).await;
            }
        });
    });
    client.join().expect("unary and streaming calls passed");
}

/// A tonic server on the kernel's stack in a namespace; `grpc_echo call` reaches it with
/// its connections on ringtcp, across the TUN device.
#[test]
fn grpc_echo_on_ringtcp_calls_a_kernel_server_across_tun() {
    if !privileged("grpc_echo_on_ringtcp_calls_a_kernel_server_across_tun") {
        return;
    }
    let ns = Netns::new("grpcc");
    let server = common::kernel_server(&ns, 50054, |listener, shutdown| async move {
        Server::builder()
            .add_service(EchoServer::new(EchoService))
            .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), shutdown)
            .await
            .unwrap();
    });
    let out = ns
        .command(env!("CARGO_BIN_EXE_grpc_echo"))
        .env("RINGTCP_SHARDS", "2")
        .args(["call", "http://10.77.0.1:50054", "250"])
        .output()
        .expect("run the example");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("connected over ringtcp"), "{text}");
    assert!(text.contains("say: hello, ringtcp (the server saw 10.77.0.2:"), "the kernel saw the call come from ringtcp's address: {text}");
    let expected: usize = (0..250).map(|seq| chunk_data(seq).len()).sum();
    assert!(text.contains(&format!("chat: 250 chunks, {expected} bytes, each back intact and in order")), "{text}");
    server.stop();
}
