//! Segment-level tests of how the receive window opens: a new connection offers 64 KB
//! however large its buffer, each arriving segment of real size opens it by two of our
//! segments, and it never opens past the buffer (Linux's rcv_ssthresh; found by
//! packetdrill's fastopen/server scripts, where ringtcp offered its whole 15 MB buffer
//! in the first ACK).

mod common;

use common::peer::{Peer, Seg, flags, plain_config};
use ringtcp_transport::wire::TcpOptions;
use ringtcp_transport::{Config, SocketHandle};

const PEER_ISS: u32 = 5000;

struct Conn {
    p: Peer,
    h: SocketHandle,
    /// Our first data sequence number.
    first: u32,
    /// Our window shift and MSS, from the SYN-ACK.
    shift: u8,
    mss: usize,
}

/// An accepted connection whose peer offered window scaling (shift 7) and an MSS of 1,000.
fn accepted(rx_buffer: usize) -> Conn {
    // A fixed buffer (no autotuning): the growth within it is what is tested here.
    let cfg = Config { rx_buffer, rx_buffer_max: 0, window_scaling: true, ..plain_config() };
    let mut p = Peer::new(cfg);
    let l = p.shard.listen(p.us, 8).unwrap();
    let syn = TcpOptions { mss: Some(1000), window_scale: Some(7), ..TcpOptions::default() };
    p.inject(Seg::new(flags("SYN"), PEER_ISS, 0).opts(syn));
    let sa = p.one();
    p.inject(Seg::new(flags("ACK"), PEER_ISS + 1, sa.seq + 1).win(1000));
    let h = p.shard.accept(l).unwrap().expect("the handshake completes");
    let shift = sa.opts.window_scale.expect("window scaling negotiated");
    Conn { p, h, first: sa.seq + 1, shift, mss: usize::from(sa.opts.mss.unwrap()) }
}

impl Conn {
    /// The peer sends `len` bytes at `offset`; returns the window (bytes) of every
    /// segment we answer with.
    fn send(&mut self, offset: u32, len: usize) -> Vec<usize> {
        let data = vec![7u8; len];
        self.p.inject(Seg::new(flags("ACK"), PEER_ISS + 1 + offset, self.first).win(1000).data(&data));
        self.p.sent().iter().map(|s| usize::from(s.win) << self.shift).collect()
    }

    fn read(&mut self) -> usize {
        let mut buf = vec![0u8; 1 << 20];
        self.p.shard.recv(self.h, &mut buf).unwrap()
    }
}

fn unit_up(bytes: usize, shift: u8) -> usize {
    bytes.div_ceil(1 << shift) << shift
}

#[test]
fn a_new_connection_offers_64k_and_each_segment_opens_two_more() {
    let mut c = accepted(1 << 20);
    assert_eq!(c.shift, 5, "a 1 MB buffer needs a shift of 5");
    let mut offset = 0;
    let mut last = 0;
    for k in 1..=8 {
        let wins = c.send(offset, 1000);
        offset += 1000;
        if let Some(&w) = wins.last() {
            // Each 1,000-byte segment opened the limit by two of our MSS (not two of the
            // peer's); the window counts from RCV.NXT, which moved on by what arrived.
            let limit = unit_up(65_535 + k * 2 * c.mss, c.shift);
            assert_eq!(w, limit, "window after {k} segments");
            assert!(w > last, "the window keeps opening");
            last = w;
        }
    }
    assert!(last > 0, "the peer's data was acknowledged");
    assert!(last < 1 << 19, "far below the 1 MB buffer");
    assert_eq!(c.read(), 8000);
}

#[test]
fn reading_the_first_data_sends_no_window_update() {
    // The 64 KB offered is still there after the application reads: nothing to announce
    // (with the whole buffer offered, a read made the window look doubled and cost an
    // ACK, before the FIN of a close that followed).
    let mut c = accepted(15 << 20);
    let wins = c.send(0, 1000);
    assert_eq!(wins, vec![unit_up(65_535 + 2 * c.mss, c.shift)], "the first data segment is acknowledged at once");
    assert_eq!(c.read(), 1000);
    c.p.none();
    c.p.shard.close(c.p.now, c.h).unwrap();
    let fin = c.p.one();
    assert!(fin.flags.fin(), "the close sends its FIN, with no window update before it");
}

#[test]
fn tiny_segments_do_not_open_the_window() {
    let mut c = accepted(1 << 20);
    let mut offset = 0;
    let mut wins = Vec::new();
    for _ in 0..200 {
        wins.extend(c.send(offset, 100));
        offset += 100;
        assert_eq!(c.read(), 100);
    }
    assert!(!wins.is_empty());
    assert!(wins.iter().all(|&w| w <= 65_536), "100-byte segments opened the window: {:?}", wins.iter().max());
}

#[test]
fn the_window_opens_up_to_the_buffer_and_no_further() {
    let buffer = 128 * 1024;
    let mut c = accepted(buffer);
    let mut offset = 0;
    let mut last = 0;
    for _ in 0..100 {
        if let Some(&w) = c.send(offset, 1000).last() {
            last = w;
        }
        offset += 1000;
        assert_eq!(c.read(), 1000);
    }
    // Each segment is acknowledged before it is read, so the last window is the buffer
    // less that segment, in window units.
    assert_eq!(last, ((buffer - 1000) >> c.shift) << c.shift, "the window opened to the whole buffer");
}
