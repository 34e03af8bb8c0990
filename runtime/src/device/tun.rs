//! A multi-queue TUN device (`IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE`): one queue per
//! shard, so the kernel's flow steering sends a flow's packets back to the queue (and so
//! the shard) that transmitted it. The kernel side gets an address on the interface (an
//! IPv4 one, and an IPv6 one when asked); the stack answers for other addresses in its
//! prefixes. A TUN device has no link layer (`IFF_NOARP`), so the kernel neither runs
//! duplicate address detection nor neighbour discovery on it and packets to the prefix go
//! straight to the device; but a new IPv6 address stays tentative (unusable for `bind`)
//! until the kernel's address worker has run, so opening waits for that.

use std::ffi::CStr;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::setup::tun_error;
use crate::sys::cvt;

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

/// How to create and configure the device.
#[derive(Clone, Debug)]
pub struct TunConfig {
    /// Interface name (at most 15 bytes).
    pub name: String,
    /// The kernel side's address on the interface.
    pub kernel_addr: Ipv4Addr,
    /// Prefix length of the on-link network.
    pub prefix: u8,
    /// The kernel side's IPv6 address and prefix length, if the device carries IPv6.
    pub kernel_addr6: Option<(Ipv6Addr, u8)>,
    /// MTU.
    pub mtu: u16,
    /// Number of queues (one per shard).
    pub queues: usize,
    /// Packets each queue holds for the stack before the kernel drops (the device's
    /// `txqueuelen`): a burst, or a flood, waits here while a shard catches up.
    pub queue_len: u32,
    /// Ask for a virtio-net header on every packet and the kernel's checksum and
    /// segmentation offloads (see [`super::vnet`]); granted or not, [`open`] says.
    pub offloads: bool,
}

/// The opened device's queues, one per shard.
#[derive(Debug)]
pub struct Queues {
    /// The queues' descriptors.
    pub fds: Vec<OwnedFd>,
    /// True if every packet on them carries a virtio-net header and the kernel's
    /// offloads are on.
    pub offloads: bool,
}

impl TunConfig {
    /// Linux gives a TUN device 500; a stack that may be flooded wants more slack.
    pub const DEFAULT_QUEUE_LEN: u32 = 4096;
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("TUN name {name:?} must be 1 to 15 bytes")));
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    Ok(req)
}

fn open_queue(name: &str, vnet: bool) -> io::Result<OwnedFd> {
    let path = c"/dev/net/tun";
    // SAFETY: a valid NUL-terminated path.
    let fd = cvt(unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) })
        .map_err(|e| tun_error(e, "opening /dev/net/tun"))?;
    // SAFETY: just opened, owned here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut req = ifreq(name)?;
    let vnet_flag = if vnet { libc::IFF_VNET_HDR } else { 0 };
    req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI | libc::IFF_MULTI_QUEUE | vnet_flag) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes the ifreq we pass.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, &mut req) })
        .map_err(|e| tun_error(e, &format!("creating TUN device {name}")))?;
    Ok(fd)
}

fn sockaddr_in(addr: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr { s_addr: u32::from(addr).to_be() },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size on Linux; this is how the
    // SIOCSIF* ioctls take an IPv4 address.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

fn configure(cfg: &TunConfig) -> io::Result<()> {
    // SAFETY: plain socket(2) call.
    let sock = cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: just created, owned here.
    let sock = unsafe { OwnedFd::from_raw_fd(sock) };
    let what = format!("configuring TUN device {}", cfg.name);
    let ioctl = |request: libc::c_ulong, req: &mut libc::ifreq| -> io::Result<()> {
        // SAFETY: each SIOC*IF* request reads or writes the ifreq it is given.
        cvt(unsafe { libc::ioctl(sock.as_raw_fd(), request, req as *mut libc::ifreq) }).map(|_| ()).map_err(|e| tun_error(e, &what))
    };
    let mut req = ifreq(&cfg.name)?;
    req.ifr_ifru.ifru_addr = sockaddr_in(cfg.kernel_addr);
    ioctl(libc::SIOCSIFADDR, &mut req)?;
    let mask = if cfg.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(cfg.prefix.min(32))) };
    let mut req = ifreq(&cfg.name)?;
    req.ifr_ifru.ifru_netmask = sockaddr_in(Ipv4Addr::from(mask));
    ioctl(libc::SIOCSIFNETMASK, &mut req)?;
    let mut req = ifreq(&cfg.name)?;
    req.ifr_ifru.ifru_mtu = i32::from(cfg.mtu);
    ioctl(libc::SIOCSIFMTU, &mut req)?;
    let mut req = ifreq(&cfg.name)?;
    // `ifr_qlen` is the union's int member, which libc names `ifru_metric` (as `ifr_mtu`).
    req.ifr_ifru.ifru_metric = cfg.queue_len.min(i32::MAX as u32) as libc::c_int;
    ioctl(libc::SIOCSIFTXQLEN, &mut req)?;
    let mut req = ifreq(&cfg.name)?;
    ioctl(libc::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: SIOCGIFFLAGS filled in the flags member.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    ioctl(libc::SIOCSIFFLAGS, &mut req)?;
    if let Some((addr, prefix)) = cfg.kernel_addr6 {
        add_ipv6_address(&cfg.name, addr, prefix).map_err(|e| tun_error(e, &format!("{what}: adding {addr}/{prefix}")))?;
        wait_until_usable(&cfg.name, addr).map_err(|e| tun_error(e, &format!("{what}: {addr}")))?;
    }
    Ok(())
}

/// Adds `addr/prefix` to interface `name` (the `SIOCSIFADDR` of an `AF_INET6` socket,
/// which also installs the on-link route of the prefix).
fn add_ipv6_address(name: &str, addr: Ipv6Addr, prefix: u8) -> io::Result<()> {
    let cname = std::ffi::CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a valid NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: plain socket(2) call.
    let sock = cvt(unsafe { libc::socket(libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: just created, owned here.
    let sock = unsafe { OwnedFd::from_raw_fd(sock) };
    let mut req = libc::in6_ifreq {
        ifr6_addr: libc::in6_addr { s6_addr: addr.octets() },
        ifr6_prefixlen: u32::from(prefix.min(128)),
        ifr6_ifindex: index as libc::c_int,
    };
    // SAFETY: SIOCSIFADDR on an AF_INET6 socket reads an in6_ifreq.
    match cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFADDR, &mut req as *mut libc::in6_ifreq) }) {
        // Attaching to a device that already has the address (one a previous stack made and
        // the kernel has not removed yet): what was asked for holds, as the IPv4 path's
        // SIOCSIFADDR, which replaces, leaves it.
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        r => r.map(|_| ()),
    }
}

/// `IFA_F_TENTATIVE` and `IFA_F_DADFAILED` (linux/if_addr.h).
const IFA_F_TENTATIVE: u32 = 0x40;
const IFA_F_DADFAILED: u32 = 0x08;

/// How long the kernel may take to finish an address: its worker runs in microseconds on
/// an idle host, but a loaded one (a CI machine running tests beside us) may delay it.
const ADDRESS_SETTLE: std::time::Duration = std::time::Duration::from_secs(5);

/// Waits until the kernel no longer holds `addr` on `name` tentative. The kernel adds an
/// IPv6 address tentative and clears the flag from a work queue, even on a device that
/// skips duplicate address detection (RFC 4862 §5.4); until then `bind` to it fails with
/// `EADDRNOTAVAIL`, so a program that starts the stack and then binds a kernel socket to
/// the kernel side's address would race it.
fn wait_until_usable(name: &str, addr: Ipv6Addr) -> io::Result<()> {
    let deadline = std::time::Instant::now() + ADDRESS_SETTLE;
    loop {
        // `thread-self`: the namespace of this thread, which may differ from the process's.
        let table = std::fs::read_to_string("/proc/thread-self/net/if_inet6")?;
        match address_flags(&table, name, addr) {
            Some(flags) if flags & IFA_F_DADFAILED != 0 => {
                return Err(io::Error::new(io::ErrorKind::AddrInUse, "the kernel found the address in use on the link (duplicate address detection failed)"));
            }
            Some(flags) if flags & IFA_F_TENTATIVE == 0 => return Ok(()),
            _ if std::time::Instant::now() >= deadline => {
                return Err(io::Error::new(io::ErrorKind::TimedOut, format!("the address stayed tentative (or absent) for {ADDRESS_SETTLE:?}")));
            }
            _ => std::thread::sleep(std::time::Duration::from_millis(1)),
        }
    }
}

/// The flags of `addr` on interface `name` in the text of `/proc/net/if_inet6` (one line
/// per address: 32 hex digits, interface index, prefix length, scope, flags, name).
fn address_flags(table: &str, name: &str, addr: Ipv6Addr) -> Option<u32> {
    let hex: String = addr.octets().iter().map(|b| format!("{b:02x}")).collect();
    table.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields[..] {
            [a, _, _, _, flags, dev] if a == hex && dev == name => u32::from_str_radix(flags, 16).ok(),
            _ => None,
        }
    })
}

/// Creates (or attaches to) the device, configures it and returns one fd per queue.
/// Offloads, when asked for, are probed: a kernel (or an existing device of the same name
/// opened without them) that refuses the header or the offloads gets a plain device.
pub fn open(cfg: &TunConfig) -> io::Result<Queues> {
    let queues = |vnet: bool| (0..cfg.queues.max(1)).map(|_| open_queue(&cfg.name, vnet)).collect::<io::Result<Vec<_>>>();
    let with_offloads = if cfg.offloads { queues(true).and_then(|q| super::vnet::enable(&q[0]).map(|()| q)).ok() } else { None };
    let offloads = with_offloads.is_some();
    let fds = match with_offloads {
        Some(q) => q,
        None => queues(false)?,
    };
    if fds.len() > 1 {
        super::steering::attach(&fds[0])?;
    }
    configure(cfg)?;
    Ok(Queues { fds, offloads })
}

/// The name of `/dev/net/tun` (for messages).
pub const DEVICE: &CStr = c"/dev/net/tun";

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
00000000000000000000000000000001 01 80 10 80       lo
fd770000000000000000000000000001 05 40 00 c0 ringtcp0
fd880000000000000000000000000001 06 40 00 80 ringtcp1
";

    #[test]
    fn address_flags_finds_the_address_on_its_device() {
        let a: Ipv6Addr = "fd77::1".parse().unwrap();
        assert_eq!(address_flags(TABLE, "ringtcp0", a), Some(0xc0));
        assert_eq!(address_flags(TABLE, "ringtcp1", a), None, "another device");
        let b: Ipv6Addr = "fd88::1".parse().unwrap();
        assert_eq!(address_flags(TABLE, "ringtcp1", b).map(|f| f & IFA_F_TENTATIVE), Some(0));
    }
}
