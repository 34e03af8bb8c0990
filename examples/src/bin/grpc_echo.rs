//! A tonic (gRPC) service on ringtcp, and a tonic client on ringtcp: the `Echo` service of
//! `proto/echo.proto` (a unary `Say`, a bidirectional streaming `Chat`).
//!
//! Serve on the userspace stack's default TUN device (as root, or with CAP_NET_ADMIN),
//! port `PORT` (default 50051), until Ctrl-C:
//!
//! ```sh
//! cargo run --release -p ringtcp-examples --bin grpc_echo
//! ```
//!
//! Call a server (any gRPC server of this service, on either side of the TUN device) with
//! the connections opened on ringtcp:
//!
//! ```sh
//! cargo run --release -p ringtcp-examples --bin grpc_echo -- call http://10.77.0.1:50051 [chunks]
//! ```
//!
//! With `RINGTCP_STACK=kernel` the call goes over the kernel's stack instead (to reach
//! the server above from the kernel side). The call prints the greeting and the address the server saw, then streams `chunks`
//! chunks (default 200) through `Chat` and checks each one comes back intact and in order.

use std::net::SocketAddr;

use ringtcp_examples::grpc::{EchoClient, EchoServer, EchoService, SayRequest, chat_round_trip};

type Error = Box<dyn std::error::Error + Send + Sync>;

async fn serve() -> Result<(), Error> {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(50051);
    let stack = ringtcp::Stack::default_stack()?;
    // `[::]`: both families of the stack's addresses.
    let listener = stack.bind(("::", port)).await?;
    println!("serving gRPC on {} over ringtcp", listener.local_addr()?);
    for ip in stack.addresses() {
        let addr = SocketAddr::new(*ip, port);
        println!("call it from the kernel side: RINGTCP_STACK=kernel cargo run -p ringtcp-examples --bin grpc_echo -- call http://{addr}");
    }
    tonic::transport::Server::builder()
        .add_service(EchoServer::new(EchoService))
        .serve_with_incoming_shutdown(ringtcp::tonic::TcpIncoming::new(listener), async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn call(url: String, chunks: u64) -> Result<(), Error> {
    let endpoint = tonic::transport::Endpoint::from_shared(url)?;
    let (channel, stack) = match ringtcp::net::backend() {
        ringtcp::net::Backend::Ringtcp => (endpoint.connect_with_connector(ringtcp::hyper::Connector::default_stack()).await?, "ringtcp"),
        ringtcp::net::Backend::Kernel => (endpoint.connect().await?, "the kernel"),
    };
    println!("connected over {stack}");
    let mut client = EchoClient::new(channel);
    let reply = client.say(SayRequest { name: "ringtcp".into() }).await?.into_inner();
    println!("say: {} (the server saw {})", reply.message, reply.peer);
    let bytes = chat_round_trip(&mut client, chunks).await?;
    println!("chat: {chunks} chunks, {bytes} bytes, each back intact and in order");
    Ok(())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let done = match args.first().map(String::as_str) {
        None | Some("serve") => serve().await,
        Some("call") if args.len() >= 2 => match args.get(2).map(|c| c.parse::<u64>()).transpose() {
            Ok(chunks) => call(args[1].clone(), chunks.unwrap_or(200)).await,
            Err(e) => Err(format!("chunks: {e}").into()),
        },
        _ => Err("usage: grpc_echo [serve] | grpc_echo call <http://host:port> [chunks]".into()),
    };
    if let Err(e) = done {
        eprintln!("grpc_echo: {e}");
        std::process::exit(1);
    }
}
