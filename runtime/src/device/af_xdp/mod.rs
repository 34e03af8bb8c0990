//! A real network interface through AF_XDP: one XDP socket per shard, bound to one queue
//! of the interface (`xsk.rs`), fed by ringtcp's XDP program (`program.rs`), which takes
//! only the TCP packets for ringtcp's addresses and ports and leaves the rest of the
//! interface to the kernel; copies of ARP and neighbour discovery from a packet socket
//! (`control.rs`) for the link layer (`ringtcp_transport::link`).
//!
//! Flow placement: the NIC spreads flows over its queues with a hash of its own (RSS,
//! or on veth the sender's choice), which ringtcp cannot steer from an XDP program (a
//! socket takes frames only from its own queue). So each shard owns the flows whose
//! port hash (`ringtcp_transport::flow_shard`) is its index, as on TUN, and opens its
//! connections from ports that map to it; a frame that arrives on another shard's queue
//! is handed over through an in-memory mesh (`in_process::MeshPort`). With one queue per
//! shard and a NIC whose hash already agrees, nothing crosses; otherwise a hand-off costs
//! a copy and, at most, one wake-up per batch.

mod control;
mod program;
mod xsk;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

use ringtcp_transport::link::LinkConfig;
use ringtcp_transport::wire::{MacAddr, solicited_node};

pub(crate) use control::ControlSocket;
pub use program::XdpMode;
pub(crate) use program::XdpProgram;
pub(crate) use xsk::{FRAME_SIZE, Xsk};
pub use xsk::XskMode;

use super::in_process::{self, MeshPort};
use super::steering;
use crate::sys::cvt;

const ETHTOOL_GCHANNELS: u32 = 0x3c;

/// The largest MTU an AF_XDP stack uses: a frame, its Ethernet header included, fits one
/// 4 KB UMEM frame.
pub const MAX_MTU: u16 = FRAME_SIZE as u16 - ringtcp_transport::wire::ETHERNET_HEADER_LEN as u16;

/// One shard's share of the interface.
#[derive(Debug)]
pub struct AfXdpPort {
    pub(crate) xsk: Xsk,
    pub(crate) control: ControlSocket,
    pub(crate) program: Arc<XdpProgram>,
    pub(crate) mesh: MeshPort,
    pub(crate) shard: usize,
    pub(crate) shards: usize,
    /// The link layer's settings for this shard.
    pub link: LinkConfig,
}

impl AfXdpPort {
    /// How the socket is bound.
    pub fn xsk_mode(&self) -> XskMode {
        self.xsk.mode()
    }

    /// Where the XDP program runs.
    pub fn xdp_mode(&self) -> XdpMode {
        self.program.mode()
    }
}

/// What the kernel says about an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Its index.
    pub index: u32,
    /// Its hardware address.
    pub mac: MacAddr,
    /// Its MTU.
    pub mtu: u16,
    /// Its receive queues.
    pub rx_queues: u32,
}

/// Looks `name` up in the calling thread's network namespace (by ioctl: `/sys` shows
/// the namespace it was mounted in, not necessarily the thread's).
///
/// # Errors
///
/// `NotFound` if there is no such interface.
pub fn interface(name: &str) -> io::Result<Interface> {
    let not_found = || io::Error::new(io::ErrorKind::NotFound, format!("no network interface {name:?} here (see `ip link`)"));
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(not_found());
    }
    // SAFETY: plain socket creation; closed by OwnedFd.
    let fd = cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: just created, owned here.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let request = || {
        // SAFETY: all-zero is a valid ifreq.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in req.ifr_name.iter_mut().zip(name.bytes()) {
            *d = s as libc::c_char;
        }
        req
    };
    let ioctl = |op: libc::c_ulong, req: &mut libc::ifreq| {
        // SAFETY: the interface ioctls read and write the ifreq we pass.
        cvt(unsafe { libc::ioctl(sock.as_raw_fd(), op, req as *mut libc::ifreq) })
    };
    let mut req = request();
    ioctl(libc::SIOCGIFINDEX, &mut req).map_err(|_| not_found())?;
    // SAFETY: SIOCGIFINDEX filled the index member of the union.
    let index = unsafe { req.ifr_ifru.ifru_ifindex } as u32;
    let mut req = request();
    ioctl(libc::SIOCGIFHWADDR, &mut req)?;
    // SAFETY: SIOCGIFHWADDR filled the hardware-address member.
    let hw = unsafe { req.ifr_ifru.ifru_hwaddr };
    if hw.sa_family != libc::ARPHRD_ETHER {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{name:?} is not an Ethernet interface: AF_XDP serves Ethernet interfaces")));
    }
    let mac = MacAddr(std::array::from_fn(|i| hw.sa_data[i] as u8));
    let mut req = request();
    ioctl(libc::SIOCGIFMTU, &mut req)?;
    // SAFETY: SIOCGIFMTU filled the MTU member.
    let mtu = u16::try_from(unsafe { req.ifr_ifru.ifru_mtu }).unwrap_or(u16::MAX);
    // struct ethtool_channels: cmd, max rx/tx/other/combined, rx/tx/other/combined counts.
    let mut channels = [0u32; 9];
    channels[0] = ETHTOOL_GCHANNELS;
    let mut req = request();
    req.ifr_ifru.ifru_data = channels.as_mut_ptr().cast();
    let rx_queues = match ioctl(libc::SIOCETHTOOL, &mut req) {
        Ok(_) => (channels[5] + channels[8]).max(1),
        // A driver without channel reporting has one queue as far as anyone can tell.
        Err(_) => 1,
    };
    Ok(Interface { index, mac, mtu, rx_queues })
}

/// How to put a stack on an interface.
#[derive(Clone, Debug)]
pub struct AfXdpConfig {
    /// The interface's name.
    pub interface: String,
    /// The stack's addresses on it, each with its on-link prefix length. They may be
    /// the kernel's own addresses on the interface (then the kernel keeps the ports
    /// ringtcp does not use) or addresses only ringtcp answers for.
    pub addresses: Vec<(IpAddr, u8)>,
    /// The IPv4 gateway, if any.
    pub gateway_v4: Option<Ipv4Addr>,
    /// The IPv6 gateway, if any.
    pub gateway_v6: Option<Ipv6Addr>,
    /// Copy mode even where the driver can do zero-copy.
    pub force_copy: bool,
    /// Generic XDP even where the driver runs XDP natively.
    pub generic: bool,
}

/// The opened interface: one port per shard and the program they share.
#[derive(Debug)]
pub struct Opened {
    /// One per shard, in order.
    pub ports: Vec<AfXdpPort>,
    /// The interface.
    pub interface: Interface,
    pub(crate) program: Arc<XdpProgram>,
}

/// Attaches ringtcp's XDP program to the interface and opens `shards` sockets on its
/// queues 0 to `shards - 1`.
///
/// # Errors
///
/// `NotFound` for an unknown interface, `InvalidInput` for more shards than the
/// interface has queues, `PermissionDenied` without CAP_NET_ADMIN, CAP_NET_RAW and
/// CAP_BPF, `AddrInUse` if another XDP program is attached; each message names the fix.
pub fn open(cfg: &AfXdpConfig, shards: usize) -> io::Result<Opened> {
    let interface = interface(&cfg.interface)?;
    let shards = shards.max(1);
    if shards as u32 > interface.rx_queues {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} has {} receive queue(s) and {shards} shards were asked for: ask for at most {} shards, or give the interface more queues (`ethtool -L {} combined {shards}`)",
                cfg.interface, interface.rx_queues, interface.rx_queues, cfg.interface
            ),
        ));
    }
    if interface.rx_queues as usize > shards {
        tracing::warn!(
            interface = %cfg.interface, queues = interface.rx_queues, shards,
            "the interface has more queues than ringtcp has shards: packets for ringtcp on the other queues go to the kernel, which resets them; give it as many queues as shards (`ethtool -L <interface> combined <shards>`)"
        );
    }
    let v4: Vec<Ipv4Addr> = cfg.addresses.iter().filter_map(|(a, _)| match a { IpAddr::V4(a) => Some(*a), IpAddr::V6(_) => None }).collect();
    let v6: Vec<Ipv6Addr> = cfg.addresses.iter().filter_map(|(a, _)| match a { IpAddr::V6(a) => Some(*a), IpAddr::V4(_) => None }).collect();
    let program = Arc::new(XdpProgram::attach(interface.index, shards as u32, &v4, &v6, cfg.generic).map_err(|e| privilege_hint(e, "attaching the XDP program"))?);
    let groups: Vec<MacAddr> = v6.iter().map(|&a| MacAddr::ipv6_multicast(solicited_node(a))).collect();
    let mut ports = Vec::with_capacity(shards);
    for (shard, mesh) in in_process::mesh(shards).into_iter().enumerate() {
        let xsk = Xsk::open(interface.index, shard as u32, cfg.force_copy).map_err(|e| privilege_hint(e, "opening an AF_XDP socket"))?;
        program.register(shard as u32, xsk.fd())?;
        let control = ControlSocket::open(interface.index, &groups).map_err(|e| privilege_hint(e, "opening the packet socket for ARP"))?;
        let mut link = LinkConfig::new(interface.mac, cfg.addresses.clone());
        link.gateway_v4 = cfg.gateway_v4;
        link.gateway_v6 = cfg.gateway_v6;
        // Every shard learns from every ARP frame; one answers.
        link.answers_requests = shard == 0;
        ports.push(AfXdpPort { xsk, control, program: program.clone(), mesh, shard, shards, link });
    }
    Ok(Opened { ports, interface, program })
}

fn privilege_hint(e: io::Error, what: &str) -> io::Error {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{what} needs CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF: run as root, or `setcap cap_net_admin,cap_net_raw,cap_bpf+ep <your binary>`"),
        ),
        // Already one of ours, saying what and how to fix it.
        None => e,
        Some(_) => io::Error::new(e.kind(), format!("{what} failed: {e}")),
    }
}

/// The shard a received TCP frame belongs to (`None`: not TCP over IPv4 or IPv6, which
/// the receiving shard handles itself).
pub(crate) fn owner(frame: &[u8], shards: usize) -> Option<usize> {
    let ports_at = match u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]) {
        0x0800 if *frame.get(23)? == 6 => 14 + usize::from(frame.get(14)? & 0x0f) * 4,
        0x86dd if *frame.get(20)? == 6 => 54,
        _ => return None,
    };
    let p = frame.get(ports_at..ports_at + 4)?;
    let (src, dst) = (u16::from_be_bytes([p[0], p[1]]), u16::from_be_bytes([p[2], p[3]]));
    Some(usize::from(steering::queue_of(dst, src, shards as u16)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_belong_to_the_shard_their_ports_steer_to() {
        let mut v4 = vec![0u8; 60];
        v4[12..14].copy_from_slice(&[0x08, 0x00]);
        v4[14] = 0x45;
        v4[23] = 6;
        v4[34..38].copy_from_slice(&[0x1f, 0x90, 0xf0, 0x01]); // 8080 -> 61441
        // The receiver's view: local port 61441, remote 8080.
        assert_eq!(owner(&v4, 2), Some(usize::from(ringtcp_transport::flow_shard(61441, 8080, 2))));
        assert_eq!(owner(&v4, 3), Some(usize::from(ringtcp_transport::flow_shard(61441, 8080, 3))));
        v4[23] = 17;
        assert_eq!(owner(&v4, 2), None, "not TCP");
        let mut v6 = vec![0u8; 74];
        v6[12..14].copy_from_slice(&[0x86, 0xdd]);
        v6[20] = 6;
        v6[54..58].copy_from_slice(&[0, 80, 0xee, 0x48]);
        assert_eq!(owner(&v6, 2), Some(usize::from(ringtcp_transport::flow_shard(0xee48, 80, 2))));
        assert_eq!(owner(&v6[..56], 2), None, "truncated");
    }
}
