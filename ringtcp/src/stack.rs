//! The `Stack`: a set of shard threads over one packet device, and how to build one.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::net::ToSocketAddrs;
use std::sync::{Arc, OnceLock};

use ringtcp_runtime::impair::ImpairConfig;
use ringtcp_runtime::device::af_xdp::AfXdpConfig;
use ringtcp_runtime::stack::{PairLink, Shards, StackConfig, TunAddrs, TunAddrs6};
use ringtcp_runtime::transport::{Config, SynCookies};

use crate::{TcpListener, TcpStream};

/// A userspace TCP/IP stack: shard threads, each with its own io_uring and device queue.
/// Cloning is cheap; the threads stop when the last clone (and every socket) is gone.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let stack = ringtcp::Stack::builder().tun("ringtcp0", "10.77.0.1".parse().unwrap(), "10.77.0.2".parse().unwrap(), 24).build()?;
/// let listener = stack.bind("10.77.0.2:8080").await?;
/// let (stream, peer) = listener.accept().await?;
/// # let _ = (stream, peer); Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Stack {
    pub(crate) inner: Arc<StackInner>,
}

#[derive(Debug)]
pub(crate) struct StackInner {
    pub(crate) shards: Shards,
}

/// Settings for a [`Stack`]: what [`ringtcp_runtime::stack::StackConfig`] assembles, and
/// the device.
#[derive(Clone, Debug, Default)]
pub struct StackBuilder {
    cfg: StackConfig,
    tun: Option<TunAddrs>,
    /// IPv6 on the TUN device, joined with `tun` when the stack is built.
    tun_v6: Option<TunAddrs6>,
    /// A real interface through AF_XDP, instead of TUN.
    af_xdp: Option<AfXdpConfig>,
    socket_pair_link: bool,
}

impl StackBuilder {
    /// Serve a real network interface through AF_XDP instead of a TUN device: the stack
    /// answers for `addresses` (each with the prefix length of its on-link network) on
    /// interface `interface`, one shard per queue, and sends traffic for other networks
    /// to `gateways` (at most one per family). The addresses may be the host's own: the
    /// kernel keeps every port ringtcp does not listen on or connect from (connections
    /// open from 61000-65535 unless [`config`](StackBuilder::config) says otherwise).
    /// Needs CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF, and an interface with at least as
    /// many queues as shards; see the deployment guide (`docs/deployment.md`).
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let stack = ringtcp::Stack::builder()
    ///     .af_xdp("eth0", &[("192.0.2.10".parse().unwrap(), 24)], &["192.0.2.1".parse().unwrap()])
    ///     .shards(2)
    ///     .build()?;
    /// let listener = stack.bind("192.0.2.10:80").await?;
    /// # let _ = listener; Ok(()) }
    /// ```
    pub fn af_xdp(mut self, interface: &str, addresses: &[(IpAddr, u8)], gateways: &[IpAddr]) -> Self {
        let v4 = gateways.iter().find_map(|g| match g { IpAddr::V4(g) => Some(*g), IpAddr::V6(_) => None });
        let v6 = gateways.iter().find_map(|g| match g { IpAddr::V6(g) => Some(*g), IpAddr::V4(_) => None });
        self.af_xdp = Some(AfXdpConfig { interface: interface.to_owned(), addresses: addresses.to_vec(), gateway_v4: v4, gateway_v6: v6, force_copy: false, generic: false });
        self
    }

    /// With [`af_xdp`](StackBuilder::af_xdp): bind the sockets in copy mode even where
    /// the driver offers zero-copy (`copy`), and run the XDP program in the kernel's
    /// generic path even where the driver runs it natively (`generic`). Both are probed
    /// otherwise; `Stack::stats` says what is in use.
    pub fn af_xdp_modes(mut self, copy: bool, generic: bool) -> Self {
        if let Some(c) = &mut self.af_xdp {
            c.force_copy = copy;
            c.generic = generic;
        }
        self
    }

    /// Use a TUN device `name`: the kernel side gets `kernel_addr`/`prefix`, the stack
    /// answers for `stack_addr`.
    pub fn tun(mut self, name: &str, kernel_addr: Ipv4Addr, stack_addr: Ipv4Addr, prefix: u8) -> Self {
        self.tun = Some(TunAddrs { name: name.to_owned(), kernel_addr, stack_addr, prefix, v6: None });
        self
    }

    /// IPv6 on the TUN device of [`tun`](StackBuilder::tun) as well: the kernel side gets
    /// `kernel_addr`/`prefix`, the stack answers for `stack_addr`.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let stack = ringtcp::Stack::builder()
    ///     .tun("ringtcp0", "10.77.0.1".parse().unwrap(), "10.77.0.2".parse().unwrap(), 24)
    ///     .tun_v6("fd77::1".parse().unwrap(), "fd77::2".parse().unwrap(), 64)
    ///     .build()?;
    /// let listener = stack.bind("[::]:8080").await?; // both families
    /// # let _ = listener; Ok(()) }
    /// ```
    pub fn tun_v6(mut self, kernel_addr: Ipv6Addr, stack_addr: Ipv6Addr, prefix: u8) -> Self {
        self.tun_v6 = Some(TunAddrs6 { kernel_addr, stack_addr, prefix });
        self
    }

    /// Number of shard threads (default: one per core).
    pub fn shards(mut self, n: usize) -> Self {
        self.cfg.shards = n.max(1);
        self
    }

    /// Transport settings (MTU, buffers, FIN cache, MSL classes...).
    pub fn config(mut self, config: Config) -> Self {
        self.cfg.config = config;
        self
    }

    /// Bytes buffered per direction per socket on the application side.
    pub fn socket_buffer(mut self, bytes: usize) -> Self {
        self.cfg.socket_buffer = bytes.max(1024);
        self
    }

    /// Seeded loss / duplication / reordering / delay in the device path (tests and
    /// experiments; each shard gets its own seed derived from this one).
    pub fn impair(mut self, cfg: ImpairConfig) -> Self {
        self.cfg.impair = Some(cfg);
        self
    }

    /// Read the device with plain reads even where multishot reads into a provided-buffer
    /// ring are available (they are chosen by probing otherwise).
    pub fn plain_reads(mut self, on: bool) -> Self {
        self.cfg.plain_reads = on;
        self
    }

    /// Ask the TUN device for the kernel's offloads (default on): a virtio-net header on
    /// every packet, TCP checksums the kernel vouches for taken without checking again,
    /// and the kernel's TCP super-packets (up to 64 KB, many segments in one) taken whole.
    /// Where the kernel refuses them the device runs without; each shard's
    /// `io.offloads` in [`Stack::stats`] says which mode is in use.
    ///
    /// ```no_run
    /// # fn demo() -> std::io::Result<()> {
    /// let stack = ringtcp::Stack::builder()
    ///     .offloads(false)
    ///     .tun("ringtcp0", "10.77.0.1".parse().unwrap(), "10.77.0.2".parse().unwrap(), 24)
    ///     .build()?;
    /// assert!(stack.stats()?.shards.iter().all(|s| !s.io.offloads));
    /// # Ok(()) }
    /// ```
    pub fn offloads(mut self, on: bool) -> Self {
        self.cfg.offloads = on;
        self
    }

    /// Join a [`memory_pair`](StackBuilder::memory_pair) through kernel socket pairs read
    /// and written with io_uring (the code path of a TUN device) instead of the default
    /// in-process queues, which move packets between the two stacks with no system call.
    ///
    /// ```
    /// # fn demo() -> std::io::Result<()> {
    /// let (a, b) = ringtcp::Stack::builder().shards(1).socket_pair_link(true).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// assert_ne!(a.read_modes()[0], ringtcp::ReadMode::InProcess);
    /// # drop(b); Ok(()) }
    /// # demo().unwrap();
    /// ```
    pub fn socket_pair_link(mut self, on: bool) -> Self {
        self.socket_pair_link = on;
        self
    }

    /// Before a shard sleeps, it keeps looking for work this long (default zero: an idle
    /// shard sleeps in the kernel at once). Like Linux's `SO_BUSY_POLL`, this spends a core
    /// to save the latency of waking a sleeping thread; it pays when shards exchange many
    /// small batches (two stacks over an in-memory link, request/response traffic).
    ///
    /// ```no_run
    /// # fn demo() -> std::io::Result<()> {
    /// let stack = ringtcp::Stack::builder()
    ///     .busy_poll(std::time::Duration::from_micros(50))
    ///     .tun("ringtcp0", "10.77.0.1".parse().unwrap(), "10.77.0.2".parse().unwrap(), 24)
    ///     .build()?;
    /// # let _ = stack; Ok(()) }
    /// ```
    pub fn busy_poll(mut self, d: std::time::Duration) -> Self {
        self.cfg.busy_poll = d;
        self
    }

    /// Thread-per-core mode: each shard thread also runs a current-thread tokio runtime,
    /// and [`Stack::spawn_on_shards`] puts application tasks there. A task on a shard
    /// thread reaches its sockets without crossing threads (no doorbell system call, no
    /// cross-thread wake-up), connects from its own shard, and accepts only the
    /// connections that shard received. Off by default.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// let stack = ringtcp::Stack::builder().thread_per_core(true).tun("ringtcp0", "10.77.0.1".parse().unwrap(), "10.77.0.2".parse().unwrap(), 24).build()?;
    /// # let _ = stack; Ok(()) }
    /// ```
    pub fn thread_per_core(mut self, on: bool) -> Self {
        self.cfg.thread_per_core = on;
        self
    }

    /// Live connections the whole stack holds at most (default 1,048,576), shared evenly by
    /// the shards. Past it a shard drops SYNs and `connect` fails with
    /// `ErrorKind::OutOfMemory`, each counted in [`Stack::stats`]. TIME-WAIT records do not
    /// count: they live in the FIN cache, which has its own bound. This overrides
    /// `Config::max_connections`.
    ///
    /// ```
    /// let b = ringtcp::Stack::builder().shards(2).max_connections(100_000);
    /// # let _ = b;
    /// ```
    pub fn max_connections(mut self, n: usize) -> Self {
        self.cfg.max_connections = n.max(1);
        self
    }

    /// Bytes the whole stack's connection buffers may hold (default: an eighth of physical
    /// memory, see [`ringtcp_runtime::stack::default_buffer_memory`]), shared evenly by the
    /// shards and counting both the transport's buffers and the sockets' own. From three
    /// quarters of it receive windows shrink; at the limit buffers stop growing, received
    /// data that needs more is dropped (the peer retransmits) and writes take only what
    /// fits, each counted in [`Stack::stats`]. Every connection always keeps a few
    /// kilobytes, so none stalls for good. This overrides `Config::buffer_memory`.
    ///
    /// ```
    /// let b = ringtcp::Stack::builder().buffer_memory(512 << 20);
    /// # let _ = b;
    /// ```
    pub fn buffer_memory(mut self, bytes: usize) -> Self {
        self.cfg.buffer_memory = bytes;
        self
    }

    /// What becomes of the memory the process frees. A stack's buffers grow with its
    /// transfers and are freed when connections close. By default
    /// ([`FreedMemory::GiveBackEvery`](crate::FreedMemory::GiveBackEvery), 10 s) a thread
    /// hands free pages back to the system now and then (counted in
    /// [`StackStats::allocator_trims`](crate::StackStats::allocator_trims)), so the
    /// process stays small. [`FreedMemory::Keep`](crate::FreedMemory::Keep) keeps freed
    /// memory for the next buffers instead: no page faults when buffers grow again, and
    /// with `MALLOC_ARENA_MAX=1` in the environment a resident size that rises to the
    /// load's high-water mark and stays there, stepping up only when fragmentation
    /// leaves no free block large enough.
    /// [`FreedMemory::AllocatorDefault`](crate::FreedMemory::AllocatorDefault) leaves the
    /// allocator as the environment set it. The allocator is the process's: `Keep`, once
    /// set by any stack, stays. See [`ringtcp_runtime::freed_memory`] for the measurements.
    /// Building fails with `InvalidInput` for `GiveBackEvery(0)`.
    ///
    /// ```
    /// use ringtcp::FreedMemory;
    ///
    /// let b = ringtcp::Stack::builder().freed_memory(FreedMemory::Keep { bytes: 64 << 20 });
    /// # let _ = b;
    /// ```
    pub fn freed_memory(mut self, policy: crate::FreedMemory) -> Self {
        self.cfg.freed_memory = policy;
        self
    }

    /// When listeners answer SYNs with SYN cookies (default: when a SYN queue is full, as
    /// Linux's `tcp_syncookies=1`). Shorthand for setting `Config::syn_cookies`.
    ///
    /// ```
    /// use ringtcp::transport::SynCookies;
    /// let b = ringtcp::Stack::builder().syn_cookies(SynCookies::Always);
    /// # let _ = b;
    /// ```
    pub fn syn_cookies(mut self, mode: SynCookies) -> Self {
        self.cfg.config.syn_cookies = mode;
        self
    }

    /// Opens the device (the AF_XDP interface if [`af_xdp`](StackBuilder::af_xdp) was
    /// called, else the TUN device) and starts the shards.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if no device was configured (call [`tun`](StackBuilder::tun) or
    /// [`af_xdp`](StackBuilder::af_xdp)), or for more shards than the interface has
    /// queues; `NotFound` for an unknown interface; `AddrInUse` if it already has an XDP
    /// program;
    /// `PermissionDenied` without CAP_NET_ADMIN; `NotFound` without `/dev/net/tun`; or why
    /// io_uring could not be set up. Each message names the fix.
    pub fn build(self) -> io::Result<Stack> {
        if let Some(x) = &self.af_xdp {
            return Ok(Stack::from_shards(self.cfg.start_af_xdp(x)?));
        }
        let Some(tun) = &self.tun else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no device configured: call StackBuilder::tun(...) first"));
        };
        let tun = TunAddrs { v6: self.tun_v6, ..tun.clone() };
        Ok(Stack::from_shards(self.cfg.start_tun(&tun)?))
    }

    /// Two stacks in this process joined by an in-memory link (one queue per shard), with
    /// addresses `a` and `b` on a /24: for tests and benchmarks. The link is a pair of
    /// in-process packet queues per shard, or kernel socket pairs with
    /// [`socket_pair_link`](StackBuilder::socket_pair_link).
    ///
    /// ```
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// let listener = server.bind("10.9.0.1:7").await?;
    /// let mut c = client.connect("10.9.0.1:7").await?;
    /// let (mut s, _) = listener.accept().await?;
    /// c.write_all(b"ping").await?;
    /// let mut got = [0u8; 4];
    /// s.read_exact(&mut got).await?;
    /// assert_eq!(&got, b"ping");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// Why a socket pair or io_uring could not be set up.
    pub fn memory_pair(self, a: Ipv4Addr, b: Ipv4Addr) -> io::Result<(Stack, Stack)> {
        self.memory_pair_with(&[IpAddr::V4(a)], &[IpAddr::V4(b)])
    }

    /// [`memory_pair`](StackBuilder::memory_pair) with any addresses of either family on
    /// each side (a dual-stack pair: one of each).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let (a, b) = ringtcp::Stack::builder().shards(1).memory_pair_with(&["fd09::1".parse().unwrap()], &["fd09::2".parse().unwrap()])?;
    /// let listener = a.bind("[fd09::1]:7").await?;
    /// let stream = b.connect("[fd09::1]:7").await?;
    /// assert_eq!(listener.accept().await?.1, stream.local_addr()?);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`memory_pair`](StackBuilder::memory_pair); `InvalidInput` for a side with no
    /// address.
    pub fn memory_pair_with(self, a: &[IpAddr], b: &[IpAddr]) -> io::Result<(Stack, Stack)> {
        let link = if self.socket_pair_link { PairLink::SocketPair } else { PairLink::InProcess };
        let (sa, sb) = self.cfg.start_pair_with(a, b, link)?;
        Ok((Stack::from_shards(sa), Stack::from_shards(sb)))
    }
}

/// The embedded default: TUN `ringtcp0`, the kernel side 10.77.0.1/24 and fd77::1/64,
/// the stack 10.77.0.2 and fd77::2 (a unique local pair, RFC 4193).
pub const DEFAULT_TUN: &str = "ringtcp0";
/// The kernel side's address in the embedded default.
pub const DEFAULT_KERNEL_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The stack's address in the embedded default.
pub const DEFAULT_STACK_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
/// The kernel side's IPv6 address in the embedded default.
pub const DEFAULT_KERNEL_ADDR6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1);
/// The stack's IPv6 address in the embedded default.
pub const DEFAULT_STACK_ADDR6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 2);

static DEFAULT: OnceLock<Result<Stack, (io::ErrorKind, String)>> = OnceLock::new();

/// Run by `exit` (also when `main` returns): the default stack is a static that is never
/// dropped, so without this its connections would vanish with the process, silently, and
/// each peer would wait out its own timeout (an HTTP/2 server's graceful shutdown, for
/// one, would wait for ever). Each shard resets its connections instead, as the kernel
/// closes a process's sockets when it exits. A process killed by a signal gets no say.
extern "C" fn reset_default_stack_at_exit() {
    let _ = std::panic::catch_unwind(|| {
        if let Some(Ok(stack)) = DEFAULT.get() {
            stack.inner.shards.stop_all(std::time::Duration::from_millis(500));
        }
    });
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> io::Result<T> {
    match std::env::var(name) {
        Ok(v) => v.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{name}={v:?} is not valid"))),
        Err(_) => Ok(default),
    }
}

/// A switch from the environment: `1`/`true` or `0`/`false` (empty: `default`).
fn env_switch(name: &str, default: bool) -> io::Result<bool> {
    match std::env::var(name).as_deref() {
        Ok("1" | "true") => Ok(true),
        Ok("0" | "false") => Ok(false),
        Ok("") | Err(_) => Ok(default),
        Ok(v) => Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{name}={v:?} is not valid: use 1 or 0"))),
    }
}

impl StackBuilder {
    /// The settings of the default stack: the embedded default, overridden by
    /// `RINGTCP_TUN` (device name), `RINGTCP_KERNEL_ADDR` (the kernel side's address),
    /// `RINGTCP_ADDR` (the stack's address), `RINGTCP_PREFIX` (prefix length),
    /// `RINGTCP_KERNEL_ADDR6`, `RINGTCP_ADDR6`, `RINGTCP_PREFIX6` (the same for IPv6;
    /// `RINGTCP_IPV6=0` leaves IPv6 off the device),
    /// `RINGTCP_SHARDS` (shard threads, default one per core), `RINGTCP_MTU`,
    /// `RINGTCP_THREAD_PER_CORE` (`1` or `true`: see [`StackBuilder::thread_per_core`]),
    /// `RINGTCP_BUSY_POLL_US` (see [`StackBuilder::busy_poll`]), `RINGTCP_OFFLOADS` (`0`
    /// or `false`: see [`StackBuilder::offloads`]), `RINGTCP_MAX_CONNECTIONS`
    /// (see [`StackBuilder::max_connections`]), `RINGTCP_BUFFER_MEMORY_MB` (see
    /// [`StackBuilder::buffer_memory`]), `RINGTCP_SYN_COOKIES` (`off`, `when-full` or
    /// `always`: see [`StackBuilder::syn_cookies`]) and `RINGTCP_FREED_MEMORY`
    /// (`give-back:<ms>`, default `give-back:10000`; `keep` or `keep:<MB>`; `allocator`:
    /// see [`StackBuilder::freed_memory`]); `RINGTCP_PACING=1` paces data segments
    /// (`Config::pacing`).
    ///
    /// `RINGTCP_AF_XDP=<interface>` serves that interface through AF_XDP instead of a
    /// TUN device (see [`StackBuilder::af_xdp`]): `RINGTCP_ADDR` and `RINGTCP_PREFIX` are
    /// then the stack's IPv4 address on it (required), `RINGTCP_ADDR6` and
    /// `RINGTCP_PREFIX6` its IPv6 address (only if set), `RINGTCP_GATEWAY` and
    /// `RINGTCP_GATEWAY6` the routers, `RINGTCP_XDP_COPY=1` and `RINGTCP_XDP_GENERIC=1`
    /// force copy mode and generic XDP.
    ///
    /// # Errors
    ///
    /// `InvalidInput` naming the variable whose value does not parse.
    pub fn from_env() -> io::Result<StackBuilder> {
        let b = StackBuilder::default();
        let shards = env_or("RINGTCP_SHARDS", b.cfg.shards)?;
        let tpc = env_switch("RINGTCP_THREAD_PER_CORE", false)?;
        let busy_us: u64 = env_or("RINGTCP_BUSY_POLL_US", 0)?;
        let offloads = env_switch("RINGTCP_OFFLOADS", true)?;
        let b = b.thread_per_core(tpc).busy_poll(std::time::Duration::from_micros(busy_us)).offloads(offloads);
        let max_conns = env_or("RINGTCP_MAX_CONNECTIONS", b.cfg.max_connections)?;
        let memory_mb = env_or("RINGTCP_BUFFER_MEMORY_MB", b.cfg.buffer_memory >> 20)?;
        let cookies = match std::env::var("RINGTCP_SYN_COOKIES").as_deref() {
            Ok("off") => SynCookies::Off,
            Ok("when-full") | Err(_) => SynCookies::WhenFull,
            Ok("always") => SynCookies::Always,
            Ok(v) => {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("RINGTCP_SYN_COOKIES={v:?} is not valid: use off, when-full or always")));
            }
        };
        let freed = match std::env::var("RINGTCP_FREED_MEMORY") {
            Ok(v) => v.parse().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("RINGTCP_FREED_MEMORY={v:?}: {e}")))?,
            Err(_) => crate::FreedMemory::default(),
        };
        let b = b.max_connections(max_conns).buffer_memory(memory_mb << 20).syn_cookies(cookies).freed_memory(freed);
        let mut config = b.cfg.config.clone();
        config.mtu = env_or("RINGTCP_MTU", config.mtu)?;
        config.pacing = env_switch("RINGTCP_PACING", config.pacing)?;
        if let Ok(interface) = std::env::var("RINGTCP_AF_XDP") {
            return af_xdp_from_env(b.shards(shards).config(config), &interface);
        }
        let b = b.shards(shards).config(config).tun(
            &env_or("RINGTCP_TUN", DEFAULT_TUN.to_owned())?,
            env_or("RINGTCP_KERNEL_ADDR", DEFAULT_KERNEL_ADDR)?,
            env_or("RINGTCP_ADDR", DEFAULT_STACK_ADDR)?,
            env_or("RINGTCP_PREFIX", 24u8)?,
        );
        if !env_switch("RINGTCP_IPV6", true)? {
            return Ok(b);
        }
        Ok(b.tun_v6(
            env_or("RINGTCP_KERNEL_ADDR6", DEFAULT_KERNEL_ADDR6)?,
            env_or("RINGTCP_ADDR6", DEFAULT_STACK_ADDR6)?,
            env_or("RINGTCP_PREFIX6", 64u8)?,
        ))
    }
}

/// The AF_XDP part of [`StackBuilder::from_env`]: the stack's addresses on `interface`
/// from `RINGTCP_ADDR`/`RINGTCP_PREFIX` (required) and `RINGTCP_ADDR6`/`RINGTCP_PREFIX6`,
/// gateways from `RINGTCP_GATEWAY` and `RINGTCP_GATEWAY6`, modes from `RINGTCP_XDP_COPY`
/// and `RINGTCP_XDP_GENERIC`.
fn af_xdp_from_env(b: StackBuilder, interface: &str) -> io::Result<StackBuilder> {
    let Ok(addr) = std::env::var("RINGTCP_ADDR") else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("RINGTCP_AF_XDP={interface} needs the stack's address on it: set RINGTCP_ADDR (and RINGTCP_PREFIX, default 24)"),
        ));
    };
    let addr: Ipv4Addr = addr.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("RINGTCP_ADDR={addr:?} is not valid")))?;
    let mut addrs = vec![(IpAddr::V4(addr), env_or("RINGTCP_PREFIX", 24u8)?)];
    if std::env::var("RINGTCP_ADDR6").is_ok() {
        addrs.push((IpAddr::V6(env_or("RINGTCP_ADDR6", DEFAULT_STACK_ADDR6)?), env_or("RINGTCP_PREFIX6", 64u8)?));
    }
    let mut gateways = Vec::new();
    if std::env::var("RINGTCP_GATEWAY").is_ok() {
        gateways.push(IpAddr::V4(env_or("RINGTCP_GATEWAY", Ipv4Addr::UNSPECIFIED)?));
    }
    if std::env::var("RINGTCP_GATEWAY6").is_ok() {
        gateways.push(IpAddr::V6(env_or("RINGTCP_GATEWAY6", Ipv6Addr::UNSPECIFIED)?));
    }
    let copy = env_switch("RINGTCP_XDP_COPY", false)?;
    let generic = env_switch("RINGTCP_XDP_GENERIC", false)?;
    Ok(b.af_xdp(interface, &addrs, &gateways).af_xdp_modes(copy, generic))
}

impl Stack {
    /// The process-wide default stack, built on first use from
    /// [`StackBuilder::from_env`]. A failure (no CAP_NET_ADMIN, no /dev/net/tun, io_uring
    /// refused) is kept and returned again, with the same message, to every later call.
    ///
    /// # Errors
    ///
    /// Why the stack could not be built, the same error for every call: `PermissionDenied`
    /// without CAP_NET_ADMIN or with io_uring disabled, `NotFound` without `/dev/net/tun`,
    /// `InvalidInput` for an invalid `RINGTCP_*` variable. Each message names the fix.
    pub fn default_stack() -> io::Result<Stack> {
        let r = DEFAULT.get_or_init(|| {
            let built = StackBuilder::from_env().and_then(StackBuilder::build).map_err(|e| (e.kind(), e.to_string()));
            if built.is_ok() {
                // SAFETY: `atexit` only records the function pointer; the function is
                // `extern "C"`, takes nothing and does not unwind (it catches panics).
                unsafe { libc::atexit(reset_default_stack_at_exit) };
            }
            built
        });
        match r {
            Ok(s) => Ok(s.clone()),
            Err((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
        }
    }

    /// Settings for a new stack.
    pub fn builder() -> StackBuilder {
        StackBuilder::default()
    }

    fn from_shards(shards: Shards) -> Stack {
        Stack { inner: Arc::new(StackInner { shards }) }
    }

    /// A stack with no shards, for sockets that can never be used.
    pub(crate) fn detached() -> Stack {
        Stack::from_shards(Shards::start(Vec::new(), Vec::new()).unwrap_or_else(|_| unreachable!("no shard to start")))
    }

    /// The addresses this stack answers for.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// assert_eq!(server.addresses(), ["10.9.0.1".parse::<std::net::IpAddr>().unwrap()]);
    /// # Ok(()) }
    /// ```
    pub fn addresses(&self) -> &[IpAddr] {
        self.inner.shards.addresses()
    }

    /// Number of shard threads.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// assert_eq!(server.shard_count(), 1);
    /// # Ok(()) }
    /// ```
    pub fn shard_count(&self) -> usize {
        self.inner.shards.len()
    }

    /// How each shard reads its device (multishot where the kernel allows).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// assert_eq!(server.read_modes(), [ringtcp::ReadMode::InProcess], "an in-process link needs no reads");
    /// # Ok(()) }
    /// ```
    pub fn read_modes(&self) -> Vec<ringtcp_runtime::device::ReadMode> {
        self.inner.shards.handles().map(|h| h.read_mode()).collect()
    }

    /// A snapshot of every shard's counters and of the lock-wait histograms. Each shard
    /// thread is asked in turn and answers between two batches of packets, so the call
    /// blocks for about one event-loop turn per shard (microseconds when busy).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// let _c = client.connect("10.9.0.1:7").await?;
    /// let _s = listener.accept().await?;
    /// let stats = server.stats()?;
    /// assert_eq!(stats.transport().passive_opens, 1);
    /// println!("{stats}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `BrokenPipe` once a shard thread has stopped; `WouldBlock` on one of the stack's own
    /// shard threads (the call waits for every shard).
    pub fn stats(&self) -> io::Result<crate::StackStats> {
        let allocator_trims = self.inner.shards.allocator_trims();
        let buffer_pool = ringtcp_runtime::transport::buffer_pool::stats();
        Ok(crate::StackStats { shards: self.inner.shards.stats()?, locks: ringtcp_runtime::lock::all_stats(), allocator_trims, buffer_pool })
    }

    /// True if the stack was built with [`StackBuilder::thread_per_core`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// assert!(!server.is_thread_per_core());
    /// # Ok(()) }
    /// ```
    pub fn is_thread_per_core(&self) -> bool {
        self.inner.shards.handles().next().is_some_and(|h| h.is_thread_per_core())
    }

    /// Runs one task per shard, on the shard's own thread (thread-per-core mode): `make`
    /// is called with each shard's index and the future it returns is spawned there. The
    /// tasks keep whatever they hold (the stack included) until they finish.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// use tokio::io::AsyncWriteExt;
    /// let stack = ringtcp::Stack::builder()
    ///     .thread_per_core(true)
    ///     .tun("ringtcp0", "10.77.0.1".parse().unwrap(), "10.77.0.2".parse().unwrap(), 24)
    ///     .build()?;
    /// // Bind first (binding waits for every shard), then serve on every shard.
    /// let listener = stack.bind("10.77.0.2:7").await?;
    /// let tasks = stack.spawn_on_shards(|_shard| {
    ///     let listener = listener.try_clone();
    ///     async move {
    ///         while let Ok((mut s, _)) = listener.accept().await {
    ///             tokio::spawn(async move { let _ = s.write_all(b"hello").await; });
    ///         }
    ///     }
    /// })?;
    /// tasks.join().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `Unsupported` unless the stack was built with
    /// [`thread_per_core`](StackBuilder::thread_per_core); `BrokenPipe` once a shard has
    /// stopped.
    pub fn spawn_on_shards<F, Fut>(&self, mut make: F) -> io::Result<ShardTasks>
    where
        F: FnMut(usize) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let mut done = Vec::with_capacity(self.shard_count());
        for shard in 0..self.shard_count() {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let task = make(shard);
            self.inner.shards.spawn_on(shard, async move {
                task.await;
                let _ = tx.send(());
            })?;
            done.push(rx);
        }
        Ok(ShardTasks { done })
    }

    /// Listens on `addr` on every shard.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// let http = server.bind("10.9.0.1:80").await?;
    /// assert_eq!(http.local_addr()?.port(), 80);
    /// assert_eq!(server.bind("10.9.0.1:80").await.unwrap_err().kind(), std::io::ErrorKind::AddrInUse);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `AddrInUse` if the port is taken on this stack, `AddrNotAvailable` for an address the stack does not answer for, `WouldBlock` on one of the stack's own shard threads (binding waits for every shard).
    pub async fn bind<A: ToSocketAddrs>(&self, addr: A) -> io::Result<TcpListener> {
        each_address(resolve(addr).await?, |a| async move { TcpListener::bind_on(self.clone(), a, 1024, &Default::default()) }).await
    }

    /// Opens a connection to `addr`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (server, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = server.bind("10.9.0.1:7").await?;
    /// let stream = client.connect("10.9.0.1:7").await?;
    /// assert_eq!(stream.peer_addr()?.port(), 7);
    /// let refused = client.connect("10.9.0.1:8").await.unwrap_err();
    /// assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` when nothing listens there, `TimedOut` when the peer never answers, `OutOfMemory` at the connection limit.
    pub async fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<TcpStream> {
        each_address(resolve(addr).await?, |a| async move { TcpStream::connect_on(self, a, None, &Default::default()).await }).await
    }
}

/// The tasks [`Stack::spawn_on_shards`] started, one per shard.
#[derive(Debug)]
pub struct ShardTasks {
    done: Vec<tokio::sync::oneshot::Receiver<()>>,
}

impl ShardTasks {
    /// Waits until every task has finished. A task that panicked, or whose shard stopped
    /// before it finished, makes this return an error.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let (stack, _peer) = ringtcp::Stack::builder().shards(2).thread_per_core(true).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// let seen = Arc::new(AtomicUsize::new(0));
    /// let counter = seen.clone();
    /// stack
    ///     .spawn_on_shards(move |shard| {
    ///         let counter = counter.clone();
    ///         async move {
    ///             counter.fetch_add(shard + 1, Ordering::Relaxed);
    ///         }
    ///     })?
    ///     .join()
    ///     .await?;
    /// assert_eq!(seen.load(Ordering::Relaxed), 1 + 2, "one task ran on each shard");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// An error naming the shard whose task panicked or whose shard stopped first.
    pub async fn join(self) -> io::Result<()> {
        for (shard, rx) in self.done.into_iter().enumerate() {
            rx.await.map_err(|_| io::Error::other(format!("the task on shard {shard} panicked or its shard stopped before it finished")))?;
        }
        Ok(())
    }
}

/// The first address `addr` resolves to.
/// Every address `addr` resolves to, as tokio resolves them (host names through the
/// system's resolver on tokio's blocking pool; literals at once).
pub(crate) async fn resolve<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    let all: Vec<SocketAddr> = tokio::net::lookup_host(addr).await?.collect();
    if all.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any address"));
    }
    Ok(all)
}

/// Tries `attempt` on each address in turn, as tokio does: the first success, or the
/// last error.
pub(crate) async fn each_address<T, F: std::future::Future<Output = io::Result<T>>>(
    addrs: Vec<SocketAddr>,
    mut attempt: impl FnMut(SocketAddr) -> F,
) -> io::Result<T> {
    let mut last = None;
    for a in addrs {
        match attempt(a).await {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any address")))
}
