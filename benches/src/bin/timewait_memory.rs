//! Bytes per TIME-WAIT record, IPv4 and IPv6, measured from the allocator.
//!
//! Fills a FIN cache of capacity 1,000,000 with 1,000,000 records and reports what the
//! global allocator says the cache holds (record pool and hash index together), next to
//! what the cache itself reports; then the same with 1,000,000 IPv6 peers.
//!
//! Run: `cargo run --release -p ringtcp-benches --bin timewait_memory`

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ringtcp_benches::counting::{Counting, live_bytes};
use ringtcp_transport::fincache::{FinCache, FinCacheConfig, MslClass, RECORD_BYTES, RECORD_BYTES_V6, TwKey, TwState};
use ringtcp_transport::{Instant, SeqNum};

#[global_allocator]
static ALLOC: Counting = Counting;

const RECORDS: u32 = 1_000_000;

/// A FIN cache of capacity `RECORDS` filled with `RECORDS` records whose peers come
/// from `peer`, and the bytes the allocator says it holds.
fn fill(peer: impl Fn(u32) -> IpAddr) -> (FinCache, isize) {
    let cfg = FinCacheConfig { capacity: RECORDS as usize, ..FinCacheConfig::default() };
    let before = live_bytes();
    let mut fc = FinCache::new(cfg);
    for i in 0..RECORDS {
        // 1,000,000 distinct peers' 4-tuples, spread over the classes like a mixed server.
        let key = TwKey { local_idx: 0, local_port: 443, remote_ip: peer(i >> 14), remote_port: 1024 + (i & 0x3fff) as u16 };
        let class = MslClass::ALL[(i % 3) as usize];
        let state = TwState { snd_nxt: SeqNum(i), rcv_nxt: SeqNum(!i), ts_recent: Some(i), class };
        fc.insert(Instant::from_micros(u64::from(i)), key, state);
    }
    ringtcp_benches::fincache_keys::settle(&mut fc, Instant::from_micros(u64::from(RECORDS)));
    let bytes = live_bytes() - before;
    assert_eq!(fc.len(), RECORDS as usize);
    assert_eq!(bytes as usize, fc.memory(), "the cache reports what it holds");
    (fc, bytes)
}

fn main() {
    // The hasher's process-wide seed is allocated once on first use; keep it out.
    drop(FinCache::new(FinCacheConfig::default()));
    let (fc, bytes) = fill(|n| Ipv4Addr::from(0x0a00_0000 | n).into());
    // The record pool alone (records in their per-class FIFOs and the time runs): what a
    // slab would replace. `memory()` equals the allocator's count (checked above).
    let pool_bytes = fc.memory() - fc.index_bytes();
    println!("records={}", fc.len());
    println!("record_size={RECORD_BYTES}");
    println!("bytes_allocated={bytes}");
    println!("bytes_reported={}", fc.memory());
    println!("linux_tw_sock_TCP={}", 256u64 * u64::from(RECORDS));
    drop(fc);

    // The alternative the issue names: the same 22-byte records in a `slab::Slab` (free
    // list, u32-sized keys), plus the same index. Measured the same way.
    let before = live_bytes();
    let mut slab = slab::Slab::<SlabRecord>::with_capacity(RECORDS as usize);
    for i in 0..RECORDS {
        slab.insert(SlabRecord { words: [i; 4], ports: [i as u16, 0], idx: 0, flags: 1 });
    }
    let slab_bytes = live_bytes() - before;
    // The slab gives no FIFO order; it would also need per-class links (4+ bytes a record).
    println!("slab_pool_bytes_per_record={:.1} (no FIFO order)", slab_bytes as f64 / f64::from(RECORDS));
    println!("fifo_pool_bytes_per_record={:.1}", pool_bytes as f64 / f64::from(RECORDS));
    drop(slab);

    println!("bytes_per_record={}", (bytes as f64 / f64::from(RECORDS)).round() as u64);

    // IPv6 peers: a different /64 interface id per peer, as SLAAC clients have.
    let (fc6, bytes6) = fill(|n| Ipv6Addr::from((0x2001_0db8_0000_0001u128 << 64) | (u128::from(n) * 0x0201_5aff_fe00_0001)).into());
    assert_eq!(fc6.len_v6(), RECORDS as usize);
    println!("record_size_v6={RECORD_BYTES_V6}");
    println!("bytes_allocated_v6={bytes6}");
    println!("bytes_per_record_v6={}", (bytes6 as f64 / f64::from(RECORDS)).round() as u64);
}

/// A record with the FIN cache's fields, for the slab comparison.
#[allow(dead_code)]
#[repr(C, packed(2))]
struct SlabRecord {
    words: [u32; 4],
    ports: [u16; 2],
    idx: u8,
    flags: u8,
}
