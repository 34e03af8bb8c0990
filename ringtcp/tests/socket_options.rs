//! tokio's socket options on ringtcp, each shown by its effect: keepalive probes on the
//! wire, a small receive buffer bounding what the receiver holds (and large buffers given
//! back once idle), SO_LINGER making the
//! drop wait for the peer's acknowledgement, quick ACKs, readiness and `try_*` calls on
//! the split halves, and the calls that cannot mean anything here failing clearly.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ringtcp::transport::{Keepalive, State};
use ringtcp::{Stack, TcpListener, TcpSocket, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};

const A: Ipv4Addr = Ipv4Addr::new(10, 57, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 57, 0, 2);

fn pair() -> (Stack, Stack) {
    Stack::builder().shards(1).memory_pair(A, B).expect("in-memory stacks")
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f).await.expect("did not hang")
}

async fn connect_with(socket: TcpSocket, listener: &TcpListener) -> (TcpStream, TcpStream) {
    let addr = listener.local_addr().unwrap();
    let (c, s) = within(async { tokio::join!(socket.connect(addr), listener.accept()) }).await;
    (c.unwrap(), s.unwrap().0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_sends_probes_after_the_idle_time_and_the_peer_keeps_the_connection_up() {
    let (client, server) = pair();
    let listener = server.bind((B, 7000)).await.unwrap();
    let socket = TcpSocket::new_v4_on(&client);
    assert!(!socket.keepalive().unwrap(), "off by default, as on Linux");
    socket.set_keepalive(true).unwrap();
    assert!(socket.keepalive().unwrap());
    socket.set_keepalive_params(Keepalive { idle: Duration::from_millis(300), interval: Duration::from_millis(200), probes: 3 }).unwrap();
    let (mut c, mut s) = connect_with(socket, &listener).await;
    let probes = || client.stats().unwrap().transport().keepalive_probes;
    assert_eq!(probes(), 0);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let sent = probes();
    assert!(sent >= 2, "probes every interval after the idle time: {sent}");
    // The peer answered every probe: the connection is alive and carries data.
    s.write_all(b"still here").await.unwrap();
    let mut buf = [0u8; 10];
    within(c.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"still here");
    // Turned off on the stream, no more probes.
    c.set_keepalive(None).unwrap();
    let before = probes();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(probes(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_receive_buffer_bounds_what_the_receiver_holds_and_every_byte_arrives() {
    let (client, server) = pair();
    let listener = server.bind((B, 7001)).await.unwrap();
    let socket = TcpSocket::new_v4_on(&client);
    socket.set_recv_buffer_size(4096).unwrap();
    socket.set_send_buffer_size(8192).unwrap();
    assert_eq!((socket.recv_buffer_size().unwrap(), socket.send_buffer_size().unwrap()), (4096, 8192));
    let (mut c, mut s) = connect_with(socket, &listener).await;
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        s.write_all(&sent).await.unwrap();
        s
    });
    // Nobody reads for a while: the client holds only what its buffers allow (its window
    // and its socket buffer, 4 KiB each), the rest waits on the sender's side.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held: usize = client.stats().unwrap().shards.iter().map(|s| s.buffer_memory).sum();
    assert!(held <= 3 * 4096, "the receiver holds {held} bytes with a 4 KiB receive buffer");
    let mut got = vec![0u8; data.len()];
    within(c.read_exact(&mut got)).await.unwrap();
    assert!(got == data, "every byte, in order");
    drop(writer.await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_read_everything_gives_its_large_buffers_back_once_the_data_stops() {
    let (client, server) = pair();
    let listener = server.bind((B, 7003)).await.unwrap();
    let (mut c, mut s) = connect_with(TcpSocket::new_v4_on(&client), &listener).await;
    let data: Vec<u8> = (0..4_000_000u32).map(|i| (i * 13 + i / 509) as u8).collect();
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        s.write_all(&sent).await.unwrap();
        s
    });
    let mut got = vec![0u8; data.len()];
    within(c.read_exact(&mut got)).await.unwrap();
    assert!(got == data, "every byte, in order");
    let s = writer.await.unwrap();
    // Both of the receiver's buffers grew to the default 256 KiB on the way; quiet, the
    // socket's and the connection's are given back (the connection's after 100 ms).
    tokio::time::sleep(Duration::from_millis(400)).await;
    let held: usize = client.stats().unwrap().shards.iter().map(|s| s.buffer_memory).sum();
    assert!(held < 128 * 1024, "an idle receiver still holds {held} buffer bytes");
    // And the connection still works: a later transfer arrives whole.
    let mut s = s;
    within(s.write_all(&data[..300_000])).await.unwrap();
    within(c.read_exact(&mut got[..300_000])).await.unwrap();
    assert!(got[..300_000] == data[..300_000], "every byte of the second transfer, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(deprecated)]
async fn with_linger_the_drop_returns_once_the_peer_acknowledged_everything() {
    let (client, server) = pair();
    let listener = server.bind((B, 7002)).await.unwrap();
    let socket = TcpSocket::new_v4_on(&client);
    socket.set_linger(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(socket.linger().unwrap(), Some(Duration::from_secs(5)));
    let (c, mut s) = connect_with(socket, &listener).await;
    assert_eq!(c.linger().unwrap(), Some(Duration::from_secs(5)));
    let data = vec![0x5a_u8; 512 * 1024];
    let mut c = c;
    c.write_all(&data).await.unwrap();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        got
    });
    let started = Instant::now();
    tokio::task::spawn_blocking(move || drop(c)).await.unwrap();
    let waited = started.elapsed();
    // The drop came back only when the FIN (and so every byte) was acknowledged: the
    // client's connection has left FIN-WAIT-1.
    let stats = client.stats().unwrap();
    let unacked = stats.connections(State::Established) + stats.connections(State::FinWait1) + stats.connections(State::Closing);
    assert_eq!(unacked, 0, "waited {waited:?}; states: {:?}", stats.shards[0].states);
    assert!(waited < Duration::from_secs(5), "acknowledged long before the linger time: {waited:?}");
    let got = within(reader).await.unwrap();
    assert!(got == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_linger_set_on_the_socket_resets_on_drop() {
    let (client, server) = pair();
    let listener = server.bind((B, 7003)).await.unwrap();
    let socket = TcpSocket::new_v4_on(&client);
    socket.set_zero_linger().unwrap();
    let (c, mut s) = connect_with(socket, &listener).await;
    assert_eq!(c.linger().unwrap(), Some(Duration::ZERO));
    drop(c);
    let err = within(s.read(&mut [0u8; 8])).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickack_acknowledges_small_messages_without_delayed_acks() {
    for quick in [false, true] {
        let (client, server) = pair();
        let listener = server.bind((B, 7004)).await.unwrap();
        let (c, mut s) = connect_with(TcpSocket::new_v4_on(&client), &listener).await;
        c.set_quickack(quick).unwrap();
        assert_eq!(c.quickack().unwrap(), quick);
        let mut c = c;
        for i in 0..5u8 {
            s.write_all(&[i]).await.unwrap();
            let mut one = [0u8; 1];
            within(c.read_exact(&mut one)).await.unwrap();
            assert_eq!(one[0], i);
            // Longer than the 40 ms delayed-ACK timer, so a delayed ACK would fire.
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        let delayed = client.stats().unwrap().transport().delayed_acks;
        if quick {
            assert_eq!(delayed, 0, "every segment acknowledged at once");
        } else {
            assert!(delayed >= 4, "ACKs wait for the timer by default: {delayed}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_have_tokio_s_readiness_and_try_calls() {
    let (client, server) = pair();
    let listener = server.bind((B, 7005)).await.unwrap();
    let (mut c, s) = connect_with(TcpSocket::new_v4_on(&client), &listener).await;
    let (r, w) = s.into_split();
    assert_eq!(r.local_addr().unwrap(), w.local_addr().unwrap());
    assert_eq!(r.peer_addr().unwrap(), c.local_addr().unwrap());
    assert_eq!(w.peer_addr().unwrap(), c.local_addr().unwrap());
    assert_eq!(r.try_read(&mut [0u8; 4]).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    w.writable().await.unwrap();
    assert_eq!(w.try_write(b"half").unwrap(), 4);
    let bufs = [std::io::IoSlice::new(b"-"), std::io::IoSlice::new(b"vec")];
    assert_eq!(w.try_write_vectored(&bufs).unwrap(), 4);
    let mut got = [0u8; 8];
    within(c.read_exact(&mut got)).await.unwrap();
    assert_eq!(&got, b"half-vec");
    c.write_all(b"back at you").await.unwrap();
    let ready = within(r.ready(Interest::READABLE)).await.unwrap();
    assert!(ready.is_readable());
    r.readable().await.unwrap();
    let mut buf = bytes::BytesMut::with_capacity(64);
    let n = r.try_read_buf(&mut buf).unwrap();
    assert_eq!(&buf[..n], &b"back at you"[..n]);
    // Borrowed halves have the same calls.
    let mut c2 = c;
    let (rh, wh) = c2.split();
    assert_eq!(wh.try_write(b"x").unwrap(), 1);
    assert_eq!(rh.try_read(&mut [0u8; 1]).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    // The write half reunites with its read half, either way round.
    let stream = w.reunite(r).expect("halves of one stream");
    assert!(stream.peer_addr().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(deprecated)]
async fn calls_that_need_a_kernel_socket_fail_with_unsupported() {
    let (client, server) = pair();
    let listener = server.bind((B, 7006)).await.unwrap();
    let kernel = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = kernel.local_addr().unwrap();
    let std_stream = std::net::TcpStream::connect(addr).unwrap();
    let unsupported = std::io::ErrorKind::Unsupported;
    assert_eq!(TcpStream::from_std(std_stream.try_clone().unwrap()).unwrap_err().kind(), unsupported);
    assert_eq!(TcpListener::from_std(kernel).unwrap_err().kind(), unsupported);
    let socket = TcpSocket::new_v4_on(&client);
    assert_eq!(socket.device().unwrap(), None, "bound to no device by SO_BINDTODEVICE");
    socket.bind_device(None).unwrap();
    assert_eq!(socket.bind_device(Some(b"eth0")).unwrap_err().kind(), unsupported);
    assert_eq!(socket.tclass_v6().unwrap_err().kind(), std::io::ErrorKind::InvalidInput, "no traffic class on an IPv4 socket");
    assert!(socket.take_error().unwrap().is_none());
    socket.set_tos_v4(0x2e << 2).unwrap();
    assert_eq!((socket.tos_v4().unwrap(), socket.tos().unwrap()), (0xb8, 0xb8));
    assert_eq!(socket.set_tos(256).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    socket.set_reuseaddr(true).unwrap();
    socket.set_reuseport(true).unwrap();
    assert!(socket.reuseaddr().unwrap() && socket.reuseport().unwrap());
    let (c, _s) = connect_with(socket, &listener).await;
    assert_eq!(c.into_std().unwrap_err().kind(), unsupported);
    assert_eq!(listener.into_std().unwrap_err().kind(), unsupported);
    let from_std = TcpSocket::from_std_stream(std_stream);
    assert_eq!(from_std.set_nodelay(true).unwrap_err().kind(), unsupported);
    assert_eq!(within(from_std.connect((A, 1).into())).await.unwrap_err().kind(), unsupported);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_methods_and_io_closures_behave_as_tokio_s() {
    use std::future::poll_fn;
    use tokio::io::ReadBuf;
    let (client, server) = pair();
    let listener = server.bind((B, 7007)).await.unwrap();
    // poll_accept: ready with the connection once it is there.
    let accepted = tokio::spawn({
        let client = client.clone();
        async move { client.connect((B, 7007)).await.unwrap() }
    });
    let (s, peer) = within(poll_fn(|cx| listener.poll_accept(cx))).await.unwrap();
    let c = accepted.await.unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    // poll_write_ready is ready at once; poll_read_ready only once data arrived.
    within(poll_fn(|cx| s.poll_write_ready(cx))).await.unwrap();
    let mut c = c;
    c.write_all(b"peekaboo").await.unwrap();
    within(poll_fn(|cx| s.poll_read_ready(cx))).await.unwrap();
    // poll_peek leaves the bytes where they are.
    let mut store = [0u8; 4];
    let n = within(poll_fn(|cx| {
        let mut rb = ReadBuf::new(&mut store);
        s.poll_peek(cx, &mut rb)
    }))
    .await
    .unwrap();
    assert_eq!(&store[..n], &b"peek"[..n]);
    // async_io runs the closure once the socket is ready, try_io only when it is.
    let mut buf = [0u8; 8];
    let got = within(s.async_io(Interest::READABLE, || s.try_read(&mut buf))).await.unwrap();
    assert_eq!(&buf[..got], &b"peekaboo"[..got]);
    assert_eq!(s.try_io(Interest::READABLE, || s.try_read(&mut [0u8; 1])).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    assert_eq!(s.try_io(Interest::WRITABLE, || s.try_write(b"!")).unwrap(), 1);
    // The halves peek by polling too; forget leaves the connection open for writing.
    let (mut r, w) = s.into_split();
    c.write_all(b"half").await.unwrap();
    let mut store = [0u8; 4];
    let n = within(poll_fn(|cx| {
        let mut rb = ReadBuf::new(&mut store);
        r.poll_peek(cx, &mut rb)
    }))
    .await
    .unwrap();
    assert_eq!(&store[..n], &b"half"[..n]);
    w.forget();
    let mut one = [0u8; 1];
    within(c.read_exact(&mut one)).await.unwrap();
    assert_eq!(&one, b"!");
    assert_eq!(c.try_read(&mut one).unwrap_err().kind(), std::io::ErrorKind::WouldBlock, "no FIN after forget");
    let mut c2 = c;
    let (mut rh, _wh) = c2.split();
    let err = poll_fn(|cx| {
        let mut rb = ReadBuf::new(&mut one);
        std::task::Poll::Ready(match rh.poll_peek(cx, &mut rb) {
            std::task::Poll::Pending => Ok(0),
            std::task::Poll::Ready(r) => r,
        })
    })
    .await
    .unwrap();
    assert_eq!(err, 0, "nothing to peek on the borrowed read half yet");
    let socket = TcpSocket::new_v4_on(&client);
    assert_eq!(socket.set_tclass_v6(0x10).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_bind_chose_that_is_taken_by_connect_time_is_replaced_by_a_free_one() {
    // Two ephemeral ports, so bind's choices come round again after two sockets.
    let mut cfg = ringtcp::transport::Config::default();
    cfg.ephemeral_ports = 50_000..=50_001;
    let (client, server) = Stack::builder().shards(1).config(cfg).memory_pair(A, B).expect("in-memory stacks");
    let listener = server.bind((B, 7010)).await.unwrap();
    let first = TcpSocket::new_v4_on(&client);
    first.bind(SocketAddr::from((A, 0))).unwrap();
    let taken = first.local_addr().unwrap();
    let (_c1, _s1) = connect_with(first, &listener).await;
    let idle = TcpSocket::new_v4_on(&client);
    idle.bind(SocketAddr::from((A, 0))).unwrap();
    let free = idle.local_addr().unwrap();
    assert_ne!(free, taken, "bind takes the ports in turn");
    drop(idle);
    // Bind's turn comes back to the port the first connection holds to this listener:
    // connect goes from the other one, and the stream says so.
    let third = TcpSocket::new_v4_on(&client);
    third.bind(SocketAddr::from((A, 0))).unwrap();
    assert_eq!(third.local_addr().unwrap(), taken);
    let (c3, s3) = connect_with(third, &listener).await;
    assert_eq!(c3.local_addr().unwrap(), free);
    assert_eq!(s3.peer_addr().unwrap(), free);
    // With both ports in use to this peer, connect says so.
    let fourth = TcpSocket::new_v4_on(&client);
    fourth.bind(SocketAddr::from((A, 0))).unwrap();
    let err = within(fourth.connect(listener.local_addr().unwrap())).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
}
