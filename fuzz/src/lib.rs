//! Fuzz targets for ringtcp. Each target is a function of the input bytes that panics
//! when something a user would notice goes wrong: a panic in the stack, a broken
//! invariant, a malformed packet sent, data corrupted on the way.
//!
//! - [`wire`]: the wire parsers on raw bytes, and parse → emit → parse round trips;
//! - [`packet`]: one packet into a shard that holds listeners, half-open and established
//!   connections and TIME-WAIT records;
//! - [`script`]: sequences of packets, time steps and application calls, with the shard's
//!   invariants checked after every step;
//! - [`middlebox`]: two shards joined by a link that drops, duplicates, delays and mutates
//!   bytes; what arrives must be intact, or the connection must fail cleanly;
//! - [`link`]: frames (ARP, neighbour discovery, raw), time and connects through a shard's
//!   Ethernet layer; what it sends must be well formed, its cache within bounds.
//!
//! `libfuzzer/` runs them coverage-guided (`cargo +nightly fuzz run --fuzz-dir
//! fuzz/libfuzzer <target> fuzz/corpus/<target>`); `tests/corpus.rs` replays the corpus
//! in `cargo test` on stable, so every input that ever found a bug stays a regression test.

mod emit;
pub mod link;
pub mod middlebox;
pub mod packet;
pub mod script;
pub mod wire;
mod world;

/// A fuzz target: a function of the input bytes that panics on a finding.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus folder.
pub const TARGETS: [(&str, Target); 5] =
    [("wire", wire::run), ("packet", packet::run), ("script", script::run), ("middlebox", middlebox::run), ("link", link::run)];

/// With `RINGTCP_FUZZ_DEBUG` set, prints a decoded input (to see what a crash is made of).
fn debug(input: &dyn std::fmt::Debug) {
    if std::env::var_os("RINGTCP_FUZZ_DEBUG").is_some() {
        eprintln!("{input:#?}");
    }
}
