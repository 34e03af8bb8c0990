//! # ringtcp-conformance
//!
//! packetdrill's shared-object interface over one ringtcp transport shard, so that the
//! public TCP test corpus (`gtests/net/tcp/` of google/packetdrill) runs against the
//! sans-IO core: packetdrill loads the `cdylib` with `--so_filename`, and every packet,
//! socket call and clock reading of a script goes through [`ffi`] into an
//! [`adapter::Adapter`]. Time is virtual: it moves only when packetdrill sleeps or waits
//! for a packet, so a run is deterministic and takes milliseconds whatever the script's
//! timeouts.
//!
//! `bash conformance/packetdrill.sh [script...]` builds packetdrill and this library and
//! runs scripts; `conformance/packetdrill-status.md` says how each script of the corpus
//! stands.

pub mod adapter;
pub mod cmsg;
pub mod ffi;
pub mod getsockopt;
pub mod psh_mask;
mod shell_controls;
mod sockaddr;
mod waiting;
