//! What a script's shell commands ask of the kernel's TCP, brought to the adapter's shard.
//!
//! A script's backquoted commands run in a shell that packetdrill starts; in shared-object
//! mode the TCP they would act on is the adapter's shard, not the kernel's. The runner
//! (`conformance/packetdrill.sh`) puts a directory of its own first in that shell's `PATH`
//! with stand-ins for the commands the corpus uses this way; a stand-in leaves a marker
//! file in the directory named by `--so_flags=ctl_dir=...` (one directory per script run),
//! and the adapter acts on the marker at the script's next socket call:
//!
//! - `ip tcp_metrics flush`: Linux's TCP metrics cache holds the Fast Open cookies a client
//!   learned; the shard forgets its own ([`Shard::forget_fast_open_cookies`]).
//! - `tc qdisc add|replace dev tun0 root pfifo limit 0`: Linux's own queueing discipline
//!   then drops every packet its TCP sends. The adapter is the device here, so it drops
//!   every packet the shard sends, for as long as the marker stays (removed by `tc qdisc
//!   del` or by another qdisc). Unlike the other markers this one is a state, read as
//!   packets go out, not consumed.
//! - `tc qdisc add|replace dev tun0 root fq`: Linux's fq qdisc paces every flow at the
//!   rate its TCP computes; the shard the script's first socket builds paces its
//!   connections at that rate itself (`Config::pacing`). Read once, with the sysctls.
//!
//! The other way, `nstat` (no arguments: the counters that moved since its last run)
//! reads the shard's counters under Linux's names from a file the adapter rewrites
//! whenever one of them changes ([`publish_counters`]), and keeps its own history beside
//! it, as the real one keeps a history file of its own.
//!
//! Every other command goes to the real tool.
//!
//! [`Shard::forget_fast_open_cookies`]: ringtcp_transport::Shard::forget_fast_open_cookies

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The marker `ip tcp_metrics flush` leaves (the runner's stand-in writes this name).
pub(crate) const TCP_METRICS_FLUSH: &str = "tcp_metrics_flush";

/// Where this process's markers appear, once `packetdrill_interface_init` has read it
/// from the flags.
static DIR: OnceLock<PathBuf> = OnceLock::new();

/// Takes the marker directory from `--so_flags` (`ctl_dir=PATH`); without one, scripts'
/// commands reach nothing here.
pub(crate) fn init(ctl_dir: Option<String>) {
    if let Some(dir) = ctl_dir {
        let _ = DIR.set(PathBuf::from(dir));
    }
}

/// True once for each `ip tcp_metrics flush` the script ran since the last call.
pub(crate) fn take_tcp_metrics_flush() -> bool {
    take(DIR.get(), TCP_METRICS_FLUSH)
}

/// The marker a `pfifo limit 0` qdisc on tun0 leaves, while it is installed.
pub(crate) const QDISC_DROPS_ALL: &str = "qdisc_drops_all";

/// True while the script's qdisc drops every packet the stack sends.
pub(crate) fn qdisc_drops_all() -> bool {
    DIR.get().is_some_and(|d| d.join(QDISC_DROPS_ALL).exists())
}

/// The marker an `fq` qdisc on tun0 leaves, while it is installed.
pub(crate) const QDISC_FQ: &str = "qdisc_fq";

/// True while the script's qdisc on tun0 is fq, which paces what the stack sends.
pub(crate) fn qdisc_paces() -> bool {
    DIR.get().is_some_and(|d| d.join(QDISC_FQ).exists())
}

/// The file `nstat`'s stand-in reads: one `Name value` line per counter.
pub(crate) const COUNTERS: &str = "counters";

/// The values last written to [`COUNTERS`].
static PUBLISHED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// Writes `counters` (Linux's names, the shard's values) where `nstat`'s stand-in reads
/// them, when they differ from what was written last (a script's packets change them
/// seldom, and each packet calls this).
pub(crate) fn publish_counters(counters: &[(&str, u64)]) {
    if let Some(dir) = DIR.get() {
        let mut last = PUBLISHED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        write_counters(dir, counters, &mut last);
    }
}

fn write_counters(dir: &Path, counters: &[(&str, u64)], last: &mut Vec<u64>) {
    // The first call always writes (nothing was written yet), so the file exists from the
    // first packet on. Compared in place: this runs for every packet.
    if !last.is_empty() && last.iter().eq(counters.iter().map(|c| &c.1)) {
        return;
    }
    let values: Vec<u64> = counters.iter().map(|c| c.1).collect();
    let text: String = counters.iter().map(|(name, v)| format!("{name} {v}\n")).collect();
    // Written whole beside the file, then renamed over it: a reader sees the old
    // counters or the new ones.
    let tmp = dir.join(".counters.tmp");
    if std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, dir.join(COUNTERS))).is_ok() {
        *last = values;
    }
}

/// Consumes marker `name` in `dir`: true if it was there.
fn take(dir: Option<&PathBuf>, name: &str) -> bool {
    dir.is_some_and(|d| std::fs::remove_file(d.join(name)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_is_taken_once() {
        let dir = std::env::temp_dir().join(format!("ringtcp-shell-controls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(!take(Some(&dir), TCP_METRICS_FLUSH), "no flush asked for yet");
        std::fs::write(dir.join(TCP_METRICS_FLUSH), b"").unwrap();
        assert!(take(Some(&dir), TCP_METRICS_FLUSH));
        assert!(!take(Some(&dir), TCP_METRICS_FLUSH), "one flush acts once");
        assert!(!take(None, TCP_METRICS_FLUSH), "no directory, no controls");
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn counters_are_rewritten_when_they_change() {
        let dir = std::env::temp_dir().join(format!("ringtcp-shell-counters-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut last = Vec::new();
        write_counters(&dir, &[("TcpExtOutOfWindowIcmps", 0), ("TcpExtX", 7)], &mut last);
        assert_eq!(std::fs::read_to_string(dir.join(COUNTERS)).unwrap(), "TcpExtOutOfWindowIcmps 0\nTcpExtX 7\n");
        write_counters(&dir, &[("TcpExtOutOfWindowIcmps", 1), ("TcpExtX", 7)], &mut last);
        assert_eq!(std::fs::read_to_string(dir.join(COUNTERS)).unwrap(), "TcpExtOutOfWindowIcmps 1\nTcpExtX 7\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
