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
//!
//! Every other command goes to the real tool.
//!
//! [`Shard::forget_fast_open_cookies`]: ringtcp_transport::Shard::forget_fast_open_cookies

use std::path::PathBuf;
use std::sync::OnceLock;

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
}
