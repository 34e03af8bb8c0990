//! Assembling a stack: opening its device (a multi-queue TUN device, or an in-memory link
//! between two stacks of one process), deriving each shard's settings, and starting the
//! shards. `ringtcp::StackBuilder` only exposes these settings.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ringtcp_transport::{BufferMemory, Config, Secret};

use super::Shards;
use crate::device::{Device, af_xdp, in_process, socket_pair, tun};
use crate::freed_memory::FreedMemory;
use crate::impair::ImpairConfig;
use crate::shard::ShardSpec;

/// The settings of a stack, whatever its device.
///
/// ```
/// use ringtcp_runtime::stack::{PairLink, StackConfig};
///
/// let cfg = StackConfig { shards: 1, ..StackConfig::default() };
/// let (a, b) = cfg.start_pair("10.9.3.1".parse().unwrap(), "10.9.3.2".parse().unwrap(), PairLink::InProcess)?;
/// assert_eq!((a.len(), b.addresses()[0].to_string().as_str()), (1, "10.9.3.2"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// Transport settings shared by every shard (per-shard limits are derived from the
    /// stack-wide ones below).
    pub config: Config,
    /// Shard threads (one device queue each).
    pub shards: usize,
    /// Application-side buffer bytes per direction per socket.
    pub socket_buffer: usize,
    /// Seeded loss / duplication / reordering / delay in the device path; each shard gets
    /// its own seed derived from this one.
    pub impair: Option<ImpairConfig>,
    /// Plain reads even where multishot reads are available.
    pub plain_reads: bool,
    /// Application tasks may run on the shard threads (see [`crate::thread_per_core`]).
    pub thread_per_core: bool,
    /// How long a shard looks for work before it sleeps.
    pub busy_poll: Duration,
    /// Ask a TUN device for the kernel's checksum and segmentation offloads (a
    /// virtio-net header on every packet; where the kernel refuses them the device runs
    /// without), and have the two stacks of an in-process link pass super-segments and
    /// partial checksums; each shard's `io.offloads` says what is in use.
    pub offloads: bool,
    /// Live connections of the whole stack at most, shared evenly by the shards.
    pub max_connections: usize,
    /// Buffer bytes of the whole stack at most, shared evenly by the shards.
    pub buffer_memory: usize,
    /// What becomes of the memory the process frees (see [`crate::freed_memory`]): by
    /// default a thread hands it back to the system every 10 s.
    pub freed_memory: FreedMemory,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            config: Config::default(),
            shards: std::thread::available_parallelism().map_or(1, |n| n.get()),
            socket_buffer: 256 * 1024,
            impair: None,
            plain_reads: false,
            thread_per_core: false,
            busy_poll: Duration::ZERO,
            offloads: true,
            max_connections: 1 << 20,
            buffer_memory: default_buffer_memory(),
            freed_memory: FreedMemory::default(),
        }
    }
}

/// The TUN device a stack serves: its name, the kernel side's address and prefix, and
/// the address the stack answers for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunAddrs {
    /// Interface name (at most 15 bytes).
    pub name: String,
    /// The kernel side's address on the interface.
    pub kernel_addr: Ipv4Addr,
    /// The stack's address.
    pub stack_addr: Ipv4Addr,
    /// Prefix length of the on-link network.
    pub prefix: u8,
    /// IPv6 on the same device, if wanted.
    pub v6: Option<TunAddrs6>,
}

/// The IPv6 side of a TUN device: the kernel side's address and prefix, and the stack's
/// address in that prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunAddrs6 {
    /// The kernel side's IPv6 address on the interface.
    pub kernel_addr: Ipv6Addr,
    /// The stack's IPv6 address.
    pub stack_addr: Ipv6Addr,
    /// Prefix length of the on-link IPv6 network.
    pub prefix: u8,
}

/// How the two stacks of [`StackConfig::start_pair`] are joined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairLink {
    /// Packet queues in memory: no system call per packet.
    InProcess,
    /// Kernel socket pairs read and written with io_uring (the code path of a TUN device).
    SocketPair,
}

impl StackConfig {
    /// Creates the TUN device (one queue per shard) and starts the shards on it.
    ///
    /// # Errors
    ///
    /// `PermissionDenied` without CAP_NET_ADMIN, `NotFound` without `/dev/net/tun`, or why
    /// io_uring could not be set up; each message names the fix.
    pub fn start_tun(&self, tun: &TunAddrs) -> io::Result<Shards> {
        let queues = tun::open(&tun::TunConfig {
            name: tun.name.clone(),
            kernel_addr: tun.kernel_addr,
            prefix: tun.prefix,
            kernel_addr6: tun.v6.map(|v6| (v6.kernel_addr, v6.prefix)),
            mtu: self.config.mtu,
            queues: self.shards,
            queue_len: tun::TunConfig::DEFAULT_QUEUE_LEN,
            offloads: self.offloads,
        })?;
        let mut config = self.config.clone();
        config.on_link.push((IpAddr::V4(tun.kernel_addr), tun.prefix));
        let mut addrs = vec![IpAddr::V4(tun.stack_addr)];
        if let Some(v6) = tun.v6 {
            config.on_link.push((IpAddr::V6(v6.kernel_addr), v6.prefix));
            addrs.push(IpAddr::V6(v6.stack_addr));
        }
        let n = queues.fds.len() as u16;
        let device = if queues.offloads { Device::Vnet } else { Device::Fd };
        // The device steers by port: each shard opens connections on ports steered to it.
        self.start(config, addrs, queues.fds.into_iter().map(device).collect(), |cfg, id| {
            if n > 1 {
                cfg.port_steering = Some((n, id as u16));
            }
        })
    }

    /// Puts the stack on a real interface through AF_XDP (one shard per queue, queues 0
    /// to `shards - 1`): ringtcp's XDP program takes the TCP packets for the stack's
    /// addresses on its listening ports and on the ports it connects from, and leaves
    /// everything else to the kernel. Unless the transport's ephemeral range was changed,
    /// connections are opened from 61000-65535, above Linux's own range (32768-60999), so
    /// the host's connections keep their replies.
    ///
    /// # Errors
    ///
    /// As [`af_xdp::open`]: an unknown interface, too few queues, missing privileges, an
    /// XDP program already attached.
    pub fn start_af_xdp(&self, cfg: &af_xdp::AfXdpConfig) -> io::Result<Shards> {
        if cfg.addresses.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "an AF_XDP stack needs at least one address"));
        }
        let opened = af_xdp::open(cfg, self.shards)?;
        let mut config = self.config.clone();
        if config.ephemeral_ports == Config::default().ephemeral_ports {
            config.ephemeral_ports = AF_XDP_EPHEMERAL_PORTS;
        }
        // A frame (Ethernet header and packet) fits one UMEM frame.
        config.mtu = config.mtu.min(opened.interface.mtu).min(af_xdp::MAX_MTU);
        for port in config.ephemeral_ports.clone() {
            opened.program.claim_port(port);
        }
        config.on_link.extend(cfg.addresses.iter().copied());
        let addrs: Vec<IpAddr> = cfg.addresses.iter().map(|(a, _)| *a).collect();
        let n = opened.ports.len() as u16;
        let devices = opened.ports.into_iter().map(|p| Device::AfXdp(Box::new(p))).collect();
        // Each shard opens connections from ports whose flows it owns (see `af_xdp`).
        self.start(config, addrs, devices, |cfg, id| {
            if n > 1 {
                cfg.port_steering = Some((n, id as u16));
            }
        })
    }

    /// Two stacks in this process joined by an in-memory link (one pair of queues per
    /// shard), answering for `a` and `b` on a /24: for tests and benchmarks.
    ///
    /// # Errors
    ///
    /// Why a socket pair or io_uring could not be set up.
    pub fn start_pair(&self, a: Ipv4Addr, b: Ipv4Addr, link: PairLink) -> io::Result<(Shards, Shards)> {
        self.start_pair_with(&[IpAddr::V4(a)], &[IpAddr::V4(b)], link)
    }

    /// [`start_pair`](StackConfig::start_pair) with any addresses, of either family, for
    /// each side; the link is on-link for both (a /24 around IPv4 addresses, a /64 around
    /// IPv6 ones).
    ///
    /// # Errors
    ///
    /// Why a socket pair or io_uring could not be set up; `InvalidInput` for a side with
    /// no address.
    pub fn start_pair_with(&self, a: &[IpAddr], b: &[IpAddr], link: PairLink) -> io::Result<(Shards, Shards)> {
        if a.is_empty() || b.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "each side of a pair needs an address"));
        }
        let (da, db): (Vec<Device>, Vec<Device>) = match link {
            PairLink::SocketPair => {
                let (x, y) = socket_pair::pair(self.shards)?;
                (x.into_iter().map(Device::from).collect(), y.into_iter().map(Device::from).collect())
            }
            PairLink::InProcess => {
                let (x, y) = in_process::pair(self.shards);
                (x.into_iter().map(Device::from).collect(), y.into_iter().map(Device::from).collect())
            }
        };
        let mut config = self.config.clone();
        config.on_link.extend(a.iter().map(|&ip| (ip, if ip.is_ipv4() { 24 } else { 64 })));
        let sa = self.start(config.clone(), a.to_vec(), da, |_, _| {})?;
        let sb = self.start(config, b.to_vec(), db, |_, _| {})?;
        Ok((sa, sb))
    }

    /// Starts one shard per device; `per_shard` adjusts each shard's transport settings.
    fn start(&self, mut config: Config, addrs: Vec<IpAddr>, devices: Vec<Device>, per_shard: impl Fn(&mut Config, usize)) -> io::Result<Shards> {
        let secret = Secret(rand::random());
        let shards = devices.len().max(1);
        config.max_connections = self.max_connections.div_ceil(shards);
        config.buffer_memory = BufferMemory::with_limit(self.buffer_memory / shards);
        let specs = devices
            .into_iter()
            .enumerate()
            .map(|(id, device)| {
                let mut config = config.clone();
                per_shard(&mut config, id);
                let impair = self.impair.clone().map(|mut i| {
                    i.seed = i.seed.wrapping_add(id as u64 * 0x9e37_79b9);
                    i
                });
                ShardSpec {
                    id,
                    config,
                    addrs: addrs.clone(),
                    secret,
                    device,
                    socket_buffer: self.socket_buffer,
                    impair,
                    plain_reads: self.plain_reads,
                    offloads: self.offloads,
                    thread_per_core: self.thread_per_core,
                    busy_poll: self.busy_poll,
                }
            })
            .collect();
        self.freed_memory.validate()?;
        let mut shards = Shards::start(specs, addrs)?;
        shards.trimmer = self.freed_memory.apply()?;
        Ok(shards)
    }
}

/// The ports an AF_XDP stack opens connections from by default: above Linux's default
/// `ip_local_port_range` (32768-60999), so that the kernel's own connections on the
/// same address never get a port whose replies ringtcp takes.
pub const AF_XDP_EPHEMERAL_PORTS: std::ops::RangeInclusive<u16> = 61000..=65535;

/// The default bound on a stack's buffer memory: an eighth of physical memory (Linux
/// sizes `tcp_mem` from free memory in the same spirit), at least 64 MiB, at most 16 GiB.
///
/// ```
/// let b = ringtcp_runtime::stack::default_buffer_memory();
/// assert!(b >= 64 << 20);
/// ```
pub fn default_buffer_memory() -> usize {
    crate::sys::physical_memory().map_or(1 << 30, |m| m / 8).clamp(64 << 20, 16 << 30)
}
