//! What becomes of the memory the process frees: the stack's policy for glibc's allocator.
//!
//! A stack's buffers follow the bytes in flight. A bulk transfer grows a connection's
//! buffers to megabytes, a closed connection frees them, the next transfer allocates them
//! again. Whether the process's resident memory then stays level or rises and falls with
//! every transfer is the allocator's choice, not the stack's, and glibc's default choice
//! drifts: it starts by handing blocks over 128 KB to `mmap` (each a fresh run of page
//! faults, each free a `munmap`) and giving back the top of a heap once 128 KB of it is
//! free, and raises both thresholds every time a large block is freed (the mmap threshold
//! to the block's size, the trim threshold to twice that, up to 32 and 64 MB on 64-bit).
//! The soak saw the result: resident memory rising by steps as larger blocks were freed
//! and falling by whole megabytes whenever a heap's top was given back, up to 38 % above
//! its first sample after warm-up while the heap in use only followed the bytes in
//! flight.
//!
//! Connection buffers no longer take blocks of every size from glibc: they are chunks of
//! two sizes from the process's buffer pool ([`ringtcp_transport::buffer_pool`]), which
//! keeps freed chunks for reuse, so they neither fragment glibc's heaps nor fault pages in
//! again. What this policy decides for them is whether idle chunks are ever given back.
//!
//! The default, [`FreedMemory::GiveBackEvery`] (10 s), has a thread give back the pool's
//! chunks that stayed unused for a minute and ask glibc to hand free pages back (see
//! [`crate::allocator_trim`]): memory the load keeps using stays, what a burst took goes
//! back a minute after it. `Keep` and `AllocatorDefault` run no such thread: the pool
//! keeps every chunk it ever held.
//!
//! [`FreedMemory::Keep`] fixes the thresholds where glibc's drift ends, at once: blocks
//! up to 32 MB come from the heap, and up to `bytes` of free space stays at the top of
//! each heap for the next allocation, so a buffer that grows again costs no page faults
//! and resident memory rises to the load's high-water mark and stays there, as a
//! userspace stack that owns its memory behaves (DPDK's and Seastar's pools are allocated
//! once and kept). Flat needs one heap too: glibc gives each thread that allocates an
//! arena of its own (up to eight per core), each keeps its own high-water mark, and
//! their sum creeps up as rarer peaks coincide. Ten-minute soaks (2026-12-05, 2-minute
//! warm-up, before buffers were pooled chunks): `Keep` with `MALLOC_ARENA_MAX=1` in the
//! environment, resident 11.3–13.7 MB
//! after warm-up, peak +0.4 %, +3.4 %, +6.1 % and +21.1 % over the first sample in four
//! runs: level for minutes, then a step of 0.5–1.7 MB when a growing buffer finds no
//! free block large enough; `Keep` with glibc's arenas, 17.7–19.9 MB, +15 %. One arena costs every
//! thread's allocations a shared lock (`churn_compare`'s ringtcp rate, side by side:
//! 0.81–0.88× with one arena, 1.00× with `Keep`'s thresholds alone), which is why the
//! stack does not set it itself. The price of `Keep`: memory a burst took stays with
//! the process until it exits (within the bound on each heap's free top).
//!
//! The allocator's settings belong to the process, not to one stack. `Keep`'s thresholds,
//! once set, stay for the life of the process (glibc has no way back to its adaptive
//! ones), whatever a stack built later asks for; `GiveBackEvery` runs one trimming
//! thread per stack that asks for it. Where the allocator is not glibc's (another global
//! allocator, another libc), `Keep` changes nothing and `GiveBackEvery` only walks
//! glibc's idle heap.

use std::io;
use std::time::Duration;

/// What happens to memory the process frees (see the [module docs](self)).
///
/// ```
/// use ringtcp_runtime::freed_memory::FreedMemory;
///
/// assert_eq!(FreedMemory::default(), FreedMemory::GiveBackEvery(std::time::Duration::from_secs(10)));
/// let flat = FreedMemory::Keep { bytes: 64 << 20 };
/// # let _ = flat;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreedMemory {
    /// Keep freed memory for reuse: glibc's thresholds fixed where its own drift ends
    /// (blocks up to 32 MB from the heap; up to `bytes` of free space kept at the top of
    /// each heap). Resident memory rises to the load's high-water mark and stays there,
    /// but for steps when fragmentation leaves no free block large enough (with
    /// `MALLOC_ARENA_MAX=1`, see the module docs). For the rest of the process's
    /// life: glibc has no way back to its adaptive thresholds.
    Keep {
        /// Free bytes each heap keeps at its top before glibc gives the rest back (at
        /// most `i32::MAX`, what glibc's `mallopt` takes).
        bytes: usize,
    },
    /// A thread of the stack, every interval, gives back the buffer pool's chunks that
    /// no connection needed for a minute and asks glibc to hand free pages back
    /// (`malloc_trim`); counted in the stack's `allocator_trims`. The default, every
    /// [`DEFAULT_GIVE_BACK`].
    GiveBackEvery(Duration),
    /// Leave glibc as the environment configured it (`MALLOC_*` variables included).
    AllocatorDefault,
}

/// How often the default policy gives freed memory back: as jemalloc's default decay
/// (10 s), long enough that a transfer's pause and restart do not fault its buffers in
/// again and again.
pub const DEFAULT_GIVE_BACK: Duration = Duration::from_secs(10);

/// Free bytes each heap keeps under `keep` from the environment: glibc's own ceiling for
/// its trim threshold on 64-bit, which a long-running process reaches anyway.
pub const DEFAULT_KEEP: usize = 64 << 20;

/// Blocks up to this size come from the heap under [`FreedMemory::Keep`]: glibc's
/// ceiling for its mmap threshold on 64-bit (`DEFAULT_MMAP_THRESHOLD_MAX`).
pub const KEEP_MMAP_THRESHOLD: usize = 32 << 20;

impl Default for FreedMemory {
    fn default() -> Self {
        FreedMemory::GiveBackEvery(DEFAULT_GIVE_BACK)
    }
}

impl FreedMemory {
    /// Checks the policy before anything is started.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an interval of zero (it would trim without pause) or a `Keep`
    /// above what glibc takes.
    pub(crate) fn validate(&self) -> io::Result<()> {
        match *self {
            FreedMemory::GiveBackEvery(every) if every.is_zero() => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "freed_memory: GiveBackEvery(0) would trim without pause; use FreedMemory::AllocatorDefault to leave the allocator alone",
            )),
            FreedMemory::Keep { bytes } if bytes > i32::MAX as usize => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("freed_memory: Keep {{ bytes: {bytes} }} is more than glibc's mallopt takes (at most {})", i32::MAX),
            )),
            _ => Ok(()),
        }
    }

    /// Applies the policy to the process; under `GiveBackEvery`, starts the thread that
    /// trims.
    pub(crate) fn apply(&self) -> io::Result<Option<crate::allocator_trim::Trimmer>> {
        self.validate()?;
        match *self {
            FreedMemory::Keep { bytes } => {
                keep(bytes);
                Ok(None)
            }
            FreedMemory::GiveBackEvery(every) => crate::allocator_trim::Trimmer::start(every).map(Some),
            FreedMemory::AllocatorDefault => Ok(None),
        }
    }
}

/// The forms `RINGTCP_FREED_MEMORY` takes: `keep` (64 MB), `keep:<MB>`,
/// `give-back:<milliseconds>` and `allocator`.
///
/// ```
/// use ringtcp_runtime::freed_memory::FreedMemory;
/// use std::time::Duration;
///
/// assert_eq!("keep:16".parse::<FreedMemory>()?, FreedMemory::Keep { bytes: 16 << 20 });
/// assert_eq!("give-back:10000".parse::<FreedMemory>()?, FreedMemory::GiveBackEvery(Duration::from_secs(10)));
/// assert!("trim".parse::<FreedMemory>().is_err());
/// # Ok::<(), String>(())
/// ```
impl std::str::FromStr for FreedMemory {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let usage = "use keep, keep:<MB>, give-back:<milliseconds> or allocator";
        let number = |v: &str| v.parse::<u64>().map_err(|_| format!("{v:?} is not a whole number: {usage}"));
        let policy = match s.split_once(':') {
            None if s == "keep" => FreedMemory::Keep { bytes: DEFAULT_KEEP },
            None if s == "allocator" => FreedMemory::AllocatorDefault,
            Some(("keep", mb)) => FreedMemory::Keep { bytes: usize::try_from(number(mb)?.saturating_mul(1 << 20)).unwrap_or(usize::MAX) },
            Some(("give-back", ms)) => FreedMemory::GiveBackEvery(Duration::from_millis(number(ms)?)),
            _ => return Err(usage.to_string()),
        };
        policy.validate().map_err(|e| e.to_string())?;
        Ok(policy)
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep(bytes: usize) {
    // SAFETY: mallopt only changes the allocator's thresholds; glibc takes the values
    // under its own lock and from any thread. Setting the trim threshold also ends
    // glibc's own adjustment of both thresholds, which is the point.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, KEEP_MMAP_THRESHOLD as libc::c_int);
        libc::mallopt(libc::M_TRIM_THRESHOLD, bytes as libc::c_int);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep(_bytes: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_policies_are_refused_with_what_to_do() {
        let e = FreedMemory::GiveBackEvery(Duration::ZERO).validate().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("AllocatorDefault"), "{e}");
        let e = FreedMemory::Keep { bytes: 1 << 31 }.validate().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(FreedMemory::Keep { bytes: i32::MAX as usize }.validate().is_ok());
        assert!(FreedMemory::AllocatorDefault.validate().is_ok());
    }

    #[test]
    fn the_environment_forms_parse_and_bad_ones_say_what_to_use() {
        assert_eq!("keep".parse(), Ok(FreedMemory::Keep { bytes: DEFAULT_KEEP }));
        assert_eq!("allocator".parse(), Ok(FreedMemory::AllocatorDefault));
        assert_eq!("give-back:250".parse(), Ok(FreedMemory::GiveBackEvery(Duration::from_millis(250))));
        for bad in ["", "keep:", "keep:-1", "give-back", "trim:10", "keep:4096"] {
            let e = bad.parse::<FreedMemory>().unwrap_err();
            assert!(e.contains("use keep") || e.contains("at most"), "{bad:?}: {e}");
        }
        assert!("give-back:0".parse::<FreedMemory>().unwrap_err().contains("AllocatorDefault"));
    }
}
