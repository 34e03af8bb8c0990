//! [`StackStats`]: what [`Stack::stats`](crate::Stack::stats) returns, and its renderings
//! (a plain table and the Prometheus text format).

use std::fmt::{self, Write as _};

use ringtcp_runtime::allocator_trim::TrimStats;
use ringtcp_runtime::lock::LockSnapshot;
use ringtcp_runtime::stats::ShardStats;
use ringtcp_runtime::transport::buffer_pool::PoolStats;
use ringtcp_runtime::transport::{Drops, State, Stats};

/// One per-shard metric: name, Prometheus type, help text, how to read it.
type Metric = (&'static str, &'static str, &'static str, fn(&ShardStats) -> u64);

/// A snapshot of a whole stack: every shard's counters and every traced lock's waits.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// # let (stack, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
/// # let listener = stack.bind("10.9.0.1:7").await?;
/// # let _c = client.connect("10.9.0.1:7").await?;
/// # let _s = listener.accept().await?;
/// let stats = stack.stats()?;
/// println!("{} segments in, {} connections established", stats.transport().tcp_in_segs, stats.connections(ringtcp::transport::State::Established));
/// print!("{stats}");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct StackStats {
    /// One entry per shard, in shard order.
    pub shards: Vec<ShardStats>,
    /// Wait statistics of every traced lock (process-wide: locks are named by role).
    pub locks: Vec<LockSnapshot>,
    /// What the stack's thread giving freed memory back to the system has done (see
    /// [`StackBuilder::freed_memory`](crate::StackBuilder::freed_memory)).
    pub allocator_trims: TrimStats,
    /// The memory of the process's buffer pool, where every connection buffer's chunks
    /// come from (process-wide: all stacks share it).
    pub buffer_pool: PoolStats,
}

impl StackStats {
    /// The transport counters summed over all shards.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (stack, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = stack.bind("10.9.0.1:7").await?;
    /// # let _c = client.connect("10.9.0.1:7").await?;
    /// # let _s = listener.accept().await?;
    /// let t = stack.stats()?.transport();
    /// assert_eq!((t.passive_opens, t.tcp_retrans_segs), (1, 0));
    /// # Ok(()) }
    /// ```
    pub fn transport(&self) -> Stats {
        let mut sum = Stats::default();
        self.shards.iter().for_each(|s| sum.add(&s.transport));
        sum
    }

    /// The drop counters summed over all shards.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (stack, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = stack.bind("10.9.0.1:7").await?;
    /// # let _c = client.connect("10.9.0.1:7").await?;
    /// # let _s = listener.accept().await?;
    /// assert_eq!(stack.stats()?.drops().bad_checksum, 0);
    /// # Ok(()) }
    /// ```
    pub fn drops(&self) -> Drops {
        let mut sum = Drops::default();
        self.shards.iter().for_each(|s| sum.add(&s.drops));
        sum
    }

    /// Connections in `state` over all shards (TIME-WAIT counts FIN-cache records).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (stack, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = stack.bind("10.9.0.1:7").await?;
    /// # let _c = client.connect("10.9.0.1:7").await?;
    /// # let _s = listener.accept().await?;
    /// use ringtcp::transport::State;
    /// let stats = stack.stats()?;
    /// assert_eq!((stats.connections(State::Established), stats.connections(State::TimeWait)), (1, 0));
    /// # Ok(()) }
    /// ```
    pub fn connections(&self, state: State) -> usize {
        self.shards.iter().map(|s| s.in_state(state)).sum()
    }

    /// The snapshot in the Prometheus text exposition format (version 0.0.4), ready to be
    /// served from any route, e.g. an axum handler returning this string.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let (stack, client) = ringtcp::Stack::builder().shards(1).memory_pair("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap())?;
    /// # let listener = stack.bind("10.9.0.1:7").await?;
    /// # let _c = client.connect("10.9.0.1:7").await?;
    /// # let _s = listener.accept().await?;
    /// let body = stack.stats()?.to_prometheus();
    /// assert!(body.contains("ringtcp_tcp_in_segs{shard=\"0\"}"));
    /// # Ok(()) }
    /// ```
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let per_shard = |out: &mut String, name: &str, kind: &str, help: &str, value: &dyn Fn(&ShardStats) -> u64| {
            let _ = writeln!(out, "# HELP ringtcp_{name} {help}\n# TYPE ringtcp_{name} {kind}");
            for s in &self.shards {
                let _ = writeln!(out, "ringtcp_{name}{{shard=\"{}\"}} {}", s.shard, value(s));
            }
        };
        for (i, (name, _)) in Stats::default().iter().enumerate() {
            per_shard(&mut out, name, "counter", "Transport counter (netstat -s style).", &|s| {
                s.transport.iter().nth(i).map_or(0, |(_, v)| v)
            });
        }
        let _ = writeln!(out, "# HELP ringtcp_drops Packets dropped, by reason.\n# TYPE ringtcp_drops counter");
        for s in &self.shards {
            for (reason, v) in s.drops.iter() {
                let _ = writeln!(out, "ringtcp_drops{{shard=\"{}\",reason=\"{reason}\"}} {v}", s.shard);
            }
        }
        let _ = writeln!(out, "# HELP ringtcp_connections Connections by state.\n# TYPE ringtcp_connections gauge");
        for s in &self.shards {
            for (state, n) in &s.states {
                let _ = writeln!(out, "ringtcp_connections{{shard=\"{}\",state=\"{state:?}\"}} {n}", s.shard);
            }
        }
        per_shard(&mut out, "accept_queued", "gauge", "Established connections waiting to be accepted.", &|s| s.accept_queued as u64);
        per_shard(&mut out, "syn_queued", "gauge", "Embryonic connections in SYN queues.", &|s| s.syn_queued as u64);
        per_shard(&mut out, "live_connections", "gauge", "Live connections (control blocks).", &|s| s.live_connections as u64);
        per_shard(&mut out, "buffer_memory_bytes", "gauge", "Buffer bytes counted against the memory bound.", &|s| s.buffer_memory as u64);
        let fin: [Metric; 11] = [
            ("fin_cache_records", "gauge", "TIME-WAIT records held.", |s| s.fin_cache.live.iter().sum()),
            ("fin_cache_bytes", "gauge", "Bytes the FIN cache holds.", |s| s.fin_cache.bytes),
            ("fin_cache_inserted", "counter", "TIME-WAIT records inserted.", |s| s.fin_cache.inserted),
            ("fin_cache_expired", "counter", "Records that lived their full TIME-WAIT.", |s| s.fin_cache.expired),
            ("fin_cache_evicted", "counter", "Records evicted early (cache full).", |s| s.fin_cache.evicted),
            ("fin_cache_reopened", "counter", "Records replaced by a new SYN.", |s| s.fin_cache.reopened),
            ("fin_cache_reused_by_connect", "counter", "Records reused by connect.", |s| s.fin_cache.reused_by_connect),
            ("fin_cache_fins_reacked", "counter", "Retransmitted FINs answered.", |s| s.fin_cache.fins_reacked),
            ("fin_cache_rsts_ignored", "counter", "RSTs ignored (RFC 1337).", |s| s.fin_cache.rsts_ignored),
            ("fin_cache_acks_sent", "counter", "ACKs sent from records.", |s| s.fin_cache.acks_sent),
            ("fin_cache_dropped", "counter", "Segments to a record dropped.", |s| s.fin_cache.dropped),
        ];
        let io: [Metric; 9] = [
            ("io_submissions", "counter", "io_uring submission queue entries submitted.", |s| s.io.submissions),
            ("io_completions", "counter", "io_uring completions reaped.", |s| s.io.completions),
            ("io_packets_in", "counter", "Packets read from the device.", |s| s.io.packets_in),
            ("io_packets_out", "counter", "Packets written to the device.", |s| s.io.packets_out),
            ("io_tx_overflow", "counter", "Packets dropped because every write slot was busy.", |s| s.io.tx_overflow),
            ("io_tx_deferred", "counter", "Times packets waited in the transport for a free write slot.", |s| s.io.tx_deferred),
            ("io_errors", "counter", "Device reads or writes that failed.", |s| s.io.io_errors),
            ("io_blocks_kept_in", "counter", "Packets read whose payload a receive buffer kept in place instead of copying it.", |s| s.io.blocks_kept_in),
            ("io_gathered_out", "counter", "Packets written with their payload taken from the send buffer without a copy.", |s| s.io.gathered_out),
        ];
        for (name, kind, help, f) in fin.into_iter().chain(io) {
            per_shard(&mut out, name, kind, help, &f);
        }
        if self.shards.iter().any(|s| s.af_xdp.is_some()) {
            let xdp = |f: fn(&crate::AfXdpStats) -> u64| move |s: &ShardStats| s.af_xdp.as_ref().map_or(0, f);
            per_shard(&mut out, "af_xdp_zero_copy", "gauge", "1 if the AF_XDP socket is bound in zero-copy mode, 0 in copy mode.", &xdp(|x| u64::from(x.zero_copy)));
            per_shard(&mut out, "af_xdp_native", "gauge", "1 if the XDP program runs in the driver, 0 in generic mode.", &xdp(|x| u64::from(x.native_xdp)));
            per_shard(&mut out, "af_xdp_forwarded_out", "counter", "Frames received for another shard's flow, handed over.", &xdp(|x| x.forwarded_out));
            per_shard(&mut out, "af_xdp_forwarded_in", "counter", "Frames other shards handed over.", &xdp(|x| x.forwarded_in));
            per_shard(&mut out, "af_xdp_forward_overflow", "counter", "Frames that could not be handed over.", &xdp(|x| x.forward_overflow));
            per_shard(&mut out, "af_xdp_kernel_rx_dropped", "counter", "Frames the kernel dropped before the socket.", &xdp(|x| x.kernel_rx_dropped));
            per_shard(&mut out, "af_xdp_busy_kicks", "counter", "Flushes the kernel could not finish at once.", &xdp(|x| x.busy_kicks));
            let _ = writeln!(out, "# HELP ringtcp_link Ethernet layer counters (ARP, neighbour discovery, frames).\n# TYPE ringtcp_link counter");
            for s in &self.shards {
                for (counter, v) in s.af_xdp.iter().flat_map(|x| x.link.iter()) {
                    let _ = writeln!(out, "ringtcp_link{{shard=\"{}\",counter=\"{counter}\"}} {v}", s.shard);
                }
            }
        }
        let t = &self.allocator_trims;
        let _ = writeln!(out, "# HELP ringtcp_allocator_trims Times freed memory was handed back to the system, and times some was.\n# TYPE ringtcp_allocator_trims counter");
        let _ = writeln!(out, "ringtcp_allocator_trims{{allocator=\"glibc\",outcome=\"asked\"}} {}\nringtcp_allocator_trims{{allocator=\"glibc\",outcome=\"released\"}} {}", t.trims, t.released);
        let _ = writeln!(out, "# HELP ringtcp_allocator_trim_seconds Time spent handing freed memory back.\n# TYPE ringtcp_allocator_trim_seconds counter");
        let _ = writeln!(out, "ringtcp_allocator_trim_seconds{{allocator=\"glibc\"}} {}", t.time.as_secs_f64());
        let p = &self.buffer_pool;
        let _ = writeln!(out, "# HELP ringtcp_buffer_pool_bytes Memory of the buffer pool: allocated (in buffers or free), and free in the queue all threads share.\n# TYPE ringtcp_buffer_pool_bytes gauge");
        let _ = writeln!(out, "ringtcp_buffer_pool_bytes{{state=\"allocated\"}} {}\nringtcp_buffer_pool_bytes{{state=\"shared_free\"}} {}", p.allocated_bytes, p.shared_free_bytes);
        let _ = writeln!(out, "# HELP ringtcp_buffer_pool_given_back_bytes Idle buffer-pool memory given back to the allocator.\n# TYPE ringtcp_buffer_pool_given_back_bytes counter");
        let _ = writeln!(out, "ringtcp_buffer_pool_given_back_bytes{{reason=\"idle\"}} {}", t.pool_bytes);
        let _ = writeln!(out, "# HELP ringtcp_lock_wait_seconds Contended lock waits.\n# TYPE ringtcp_lock_wait_seconds summary");
        for l in &self.locks {
            let secs = |ns: u64| ns as f64 / 1e9;
            let _ = writeln!(out, "ringtcp_lock_wait_seconds{{lock=\"{}\",quantile=\"0.5\"}} {}", l.name, secs(l.p50_ns));
            let _ = writeln!(out, "ringtcp_lock_wait_seconds{{lock=\"{}\",quantile=\"0.99\"}} {}", l.name, secs(l.p99_ns));
            let _ = writeln!(out, "ringtcp_lock_wait_seconds_sum{{lock=\"{}\"}} {}", l.name, secs(l.total_wait_ns));
            let _ = writeln!(out, "ringtcp_lock_wait_seconds_count{{lock=\"{}\"}} {}", l.name, l.waits);
        }
        out
    }
}

/// A plain table: nonzero transport counters and drops summed over shards, connections by
/// state, the FIN cache, the I/O counters per shard and the lock waits.
impl fmt::Display for StackStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<28} {:>14}", "transport (all shards)", "count")?;
        for (name, v) in self.transport().iter().chain(self.drops().iter()).filter(|(_, v)| *v != 0) {
            writeln!(f, "  {name:<26} {v:>14}")?;
        }
        writeln!(f, "{:<8} {:>10} {:>10} {:>10} {:>10} {:>12} {:>10} {:>12} {:>12} {:>12}", "shard", "estab", "time_wait", "syn_q", "accept_q", "buf_bytes", "fin_bytes", "sqes", "cqes", "pkts_in")?;
        for s in &self.shards {
            writeln!(
                f,
                "{:<8} {:>10} {:>10} {:>10} {:>10} {:>12} {:>10} {:>12} {:>12} {:>12}",
                s.shard,
                s.in_state(State::Established),
                s.in_state(State::TimeWait),
                s.syn_queued,
                s.accept_queued,
                s.buffer_memory,
                s.fin_cache.bytes,
                s.io.submissions,
                s.io.completions,
                s.io.packets_in
            )?;
        }
        let p = &self.buffer_pool;
        writeln!(f, "buffer pool: {} bytes allocated, {} free in the shared queue, {} given back", p.allocated_bytes, p.shared_free_bytes, self.allocator_trims.pool_bytes)?;
        writeln!(f, "{:<16} {:<8} {:>10} {:>12} {:>12} {:>12}", "lock", "scope", "waits", "p50_ns", "p99_ns", "max_ns")?;
        for l in &self.locks {
            let scope = format!("{:?}", l.scope);
            writeln!(f, "{:<16} {:<8} {:>10} {:>12} {:>12} {:>12}", l.name, scope, l.waits, l.p50_ns, l.p99_ns, l.max_ns)?;
        }
        Ok(())
    }
}
