//! TUN offloads with the kernel as peer, inside a network namespace the test creates: the
//! kernel's TCP super-packets and partial checksums taken whole and ringtcp's own
//! super-segments cut by the kernel (bytes intact both ways, both families, the mode
//! reported in `stats()`), the same transfers with offloads forced off, and a packet the
//! kernel does not vouch for still checksummed: a wrong checksum is dropped and counted.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use common::{Netns, echo_server, kernel_echo_client, pattern, privileged};
use ringtcp::{Stack, StackStats};
use ringtcp_runtime::transport::SeqNum;
use ringtcp_runtime::transport::wire::{TcpFlags, TcpHeader, fill_tcp_checksum_v4};

const KERNEL4: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 1);
const RING4: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 2);
const KERNEL6: Ipv6Addr = Ipv6Addr::new(0xfd79, 0, 0, 0, 0, 0, 0, 1);
const RING6: Ipv6Addr = Ipv6Addr::new(0xfd79, 0, 0, 0, 0, 0, 0, 2);

fn stack_in(ns: &Netns, offloads: bool) -> Stack {
    ns.spawn(move || Stack::builder().shards(2).offloads(offloads).tun("ringtcp9", KERNEL4, RING4, 24).tun_v6(KERNEL6, RING6, 64).build())
        .join()
        .expect("set-up thread")
        .expect("TUN stack")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn sum(stats: &StackStats, f: impl Fn(&ringtcp_runtime::stats::IoStats) -> u64) -> u64 {
    stats.shards.iter().map(|s| f(&s.io)).sum()
}

/// Kernel clients push 1 B to 50 MB through a ringtcp echo server over both families;
/// every byte must come back. Returns the stack's statistics afterwards.
fn echo_both_families(offloads: bool) -> StackStats {
    let ns = Netns::new("offload");
    let stack = stack_in(&ns, offloads);
    let rt = runtime();
    for ring in [IpAddr::V4(RING4), IpAddr::V6(RING6)] {
        let listener = rt.block_on(stack.bind((ring, 7))).unwrap();
        rt.spawn(echo_server(listener));
        let addr = SocketAddr::from((ring, 7));
        for size in [1usize, 100_000, 50 << 20] {
            let data = pattern(size, size as u8 ^ 0x5a);
            let back = ns
                .spawn({
                    let data = data.clone();
                    move || kernel_echo_client(addr, data)
                })
                .join()
                .unwrap();
            assert_eq!(back.len(), size, "echo of {size} bytes to {ring}, offloads {offloads}");
            assert!(back == data, "echo of {size} bytes to {ring} intact, offloads {offloads}");
        }
    }
    stack.stats().unwrap()
}

#[test]
fn kernel_super_packets_and_partial_checksums_are_taken_whole() {
    if !privileged("kernel_super_packets_and_partial_checksums_are_taken_whole") {
        return;
    }
    let stats = echo_both_families(true);
    assert!(stats.shards.iter().all(|s| s.io.offloads), "this kernel grants TUN offloads: the stack uses them");
    // The kernel's TCP sends 50 MB with segmentation offload: it hands over super-packets,
    // with checksums left partial.
    assert!(sum(&stats, |io| io.super_packets_in) > 0, "no super-packet arrived: {:?}", stats.shards[0].io);
    assert!(sum(&stats, |io| io.checksum_vouched_in) > 0);
    // Large in-order super-packets stayed in the blocks they were read into (the 50 MB
    // arrived intact all the same).
    assert!(sum(&stats, |io| io.blocks_kept_in) > 0, "no packet block kept: {:?}", stats.shards[0].io);
    // And the echo's data left straight from the send buffers.
    assert!(sum(&stats, |io| io.gathered_out) > 0, "no gathered write: {:?}", stats.shards[0].io);
    // And the echo server's 50 MB went out as super-segments the kernel cut.
    assert!(sum(&stats, |io| io.super_packets_out) > 0, "no super-segment written: {:?}", stats.shards[0].io);
    assert!(stats.transport().tcp_out_segs > sum(&stats, |io| io.packets_out), "segments outnumber packets written");
    assert_eq!(stats.drops().bad_checksum, 0);
}

#[test]
fn the_same_transfers_with_offloads_forced_off() {
    if !privileged("the_same_transfers_with_offloads_forced_off") {
        return;
    }
    let stats = echo_both_families(false);
    assert!(stats.shards.iter().all(|s| !s.io.offloads));
    assert_eq!((sum(&stats, |io| io.super_packets_in), sum(&stats, |io| io.checksum_vouched_in)), (0, 0));
    assert_eq!(sum(&stats, |io| io.blocks_kept_in), 0, "no super-packet, nothing large to keep");
    assert_eq!(sum(&stats, |io| io.gathered_out), 0, "without checksum offload every packet is built whole");
    assert_eq!(sum(&stats, |io| io.super_packets_out), 0);
}

/// A SYN to the stack's listener sent from the kernel side through a raw socket: the
/// kernel neither computes nor vouches for a raw socket's TCP checksum.
fn raw_syn(ns: &Netns, checksum_ok: bool, src_port: u16) {
    ns.spawn(move || {
        // SAFETY: plain socket(2) call; the descriptor is owned right away.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_TCP) };
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        // SAFETY: just opened, owned here.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let h = TcpHeader { src_port, dst_port: 7, seq: SeqNum(1000), flags: TcpFlags::SYN, window: 65_535, ..TcpHeader::default() };
        let mut seg = [0u8; 20];
        h.emit(&mut seg);
        fill_tcp_checksum_v4(&mut seg, KERNEL4, RING4);
        if !checksum_ok {
            seg[16] ^= 0x55;
        }
        let to = SocketAddrV4::new(RING4, 0);
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr { s_addr: u32::from(*to.ip()).to_be() },
            sin_zero: [0; 8],
        };
        // SAFETY: sendto with a valid buffer and address of the stated lengths.
        let n = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                seg.as_ptr().cast(),
                seg.len(),
                0,
                (&sin as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as u32,
            )
        };
        assert_eq!(n, 20, "sendto: {}", std::io::Error::last_os_error());
    })
    .join()
    .unwrap();
}

#[test]
fn a_packet_the_kernel_does_not_vouch_for_is_still_checksummed() {
    if !privileged("a_packet_the_kernel_does_not_vouch_for_is_still_checksummed") {
        return;
    }
    let ns = Netns::new("csum");
    let stack = stack_in(&ns, true);
    let rt = runtime();
    let _listener = rt.block_on(stack.bind((RING4, 7))).unwrap();
    let settle = |want: &dyn Fn(&StackStats) -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let s = stack.stats().unwrap();
            if want(&s) || std::time::Instant::now() > deadline {
                return s;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let before = stack.stats().unwrap();
    raw_syn(&ns, false, 40_001);
    let after_bad = settle(&|s| s.drops().bad_checksum > before.drops().bad_checksum);
    assert!(after_bad.shards.iter().all(|s| s.io.offloads));
    assert_eq!(after_bad.drops().bad_checksum, before.drops().bad_checksum + 1, "the wrong checksum is dropped and counted");
    assert_eq!(sum(&after_bad, |io| io.checksum_vouched_in), sum(&before, |io| io.checksum_vouched_in), "the kernel vouched for nothing");
    // The same SYN with its checksum right is taken: the listener answers it.
    raw_syn(&ns, true, 40_002);
    let after_good = settle(&|s| s.transport().tcp_out_segs > after_bad.transport().tcp_out_segs);
    assert!(after_good.transport().tcp_out_segs > after_bad.transport().tcp_out_segs, "a SYN-ACK answered the good SYN");
    assert_eq!(after_good.drops().bad_checksum, after_bad.drops().bad_checksum);
}
