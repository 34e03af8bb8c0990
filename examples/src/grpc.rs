//! The `Echo` gRPC service of `proto/echo.proto`: the code tonic generates for it and a
//! handler, shared by the `grpc_echo` example and the tonic tests.

use tonic::{Request, Response, Status, Streaming};

/// What tonic-prost-build generates from `proto/echo.proto`.
#[allow(missing_debug_implementations, unreachable_pub, clippy::all)]
pub mod proto {
    tonic::include_proto!("ringtcp.echo");
}

pub use proto::echo_client::EchoClient;
pub use proto::echo_server::{Echo, EchoServer};
pub use proto::{Chunk, SayReply, SayRequest};

/// The handler: `Say` greets and reports the caller's address, `Chat` streams every chunk
/// back as it arrives.
#[derive(Clone, Copy, Debug, Default)]
pub struct EchoService;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn say(&self, request: Request<SayRequest>) -> Result<Response<SayReply>, Status> {
        // `remote_addr` comes from the stream's `Connected` impl: tonic's for kernel
        // sockets, ringtcp's (feature `tonic`) for userspace ones.
        let peer = request.remote_addr().map_or_else(|| "unknown".to_owned(), |a| a.to_string());
        let name = request.into_inner().name;
        Ok(Response::new(SayReply { message: format!("hello, {name}"), peer }))
    }

    type ChatStream = Streaming<Chunk>;

    /// The request stream is itself the reply stream: each chunk goes back, in order, as
    /// soon as it is decoded, while the client is still sending.
    async fn chat(&self, request: Request<Streaming<Chunk>>) -> Result<Response<Streaming<Chunk>>, Status> {
        Ok(Response::new(request.into_inner()))
    }
}

/// The bytes of chunk `seq` of a chat: 1 to 48,000 bytes (so that chunks span many TCP
/// segments and HTTP/2 frames), each a function of `seq` and its position.
pub fn chunk_data(seq: u64) -> Vec<u8> {
    let len = 1 + (seq.wrapping_mul(7919) % 48_000) as usize;
    (0..len).map(|i| (i as u64).wrapping_mul(31).wrapping_add(seq) as u8).collect()
}

/// Sends `chunks` chunks through `Chat` and checks that each comes back intact and in
/// order; the number of bytes that made the round trip.
///
/// # Errors
///
/// The call's status, or a description of the first chunk that came back wrong.
pub async fn chat_round_trip<T>(client: &mut EchoClient<T>, chunks: u64) -> Result<u64, Box<dyn std::error::Error + Send + Sync>>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let outbound = tokio_stream::iter((0..chunks).map(|seq| Chunk { seq, data: chunk_data(seq) }));
    let mut inbound = client.chat(outbound).await?.into_inner();
    let mut bytes = 0;
    for seq in 0..chunks {
        let chunk = inbound.message().await?.ok_or_else(|| format!("the reply stream ended after {seq} of {chunks} chunks"))?;
        if chunk.seq != seq || chunk.data != chunk_data(seq) {
            return Err(format!("chunk {seq} came back as chunk {} with {} bytes, not as sent", chunk.seq, chunk.data.len()).into());
        }
        bytes += chunk.data.len() as u64;
    }
    if let Some(extra) = inbound.message().await? {
        return Err(format!("an extra chunk {} came back", extra.seq).into());
    }
    Ok(bytes)
}
