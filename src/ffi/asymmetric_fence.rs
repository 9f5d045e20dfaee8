//! Asymmetric fences for the handle table's count of calls in flight
//! (`ffi/handles.rs`): a call counts itself with plain stores on a stripe
//! its thread owns and a compiler fence (the light side), and the rare
//! frees pay for the ordering with a process-wide barrier (the heavy side),
//! as userspace RCU (liburcu's `memb` flavour) and folly's
//! `asymmetric_thread_fence_heavy` do.
//!
//! The heavy side is Linux's `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`:
//! when it returns, every thread of the process has run a full memory
//! barrier (or was not running, and a context switch is one). So for a
//! thread that stores its count, then (after the light fence) loads the
//! generation, and a free that swaps the generation, then barriers, then
//! loads the counts: either the thread's load came after its barrier and
//! sees the swap, or its store came before its barrier and the free sees
//! it. That is the same guarantee the `SeqCst` read-modify-writes give, for
//! two locked instructions less per call.
//!
//! Only on Linux (not Android: its app sandbox's seccomp filter kills a
//! process that calls a system call it does not allow, and some of its
//! versions do not allow this one), not in a process a seccomp filter
//! already confines (the same risk), and only once the process registered
//! for it and one barrier succeeded; `NEXUS_STORE_NO_MEMBARRIER` set to
//! anything in the environment turns it off (for a filter installed after
//! the first call). Elsewhere [`available`] is false: no thread owns a
//! stripe and every count is an atomic add, as before.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering, compiler_fence};

/// Whether the heavy barrier works here (decided once per process, on the
/// first call that asks). Threads own stripes only when it is true.
pub(crate) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| std::env::var_os("NEXUS_STORE_NO_MEMBARRIER").is_none() && setup())
}

/// The heavy side: every thread of the process has run a full barrier when
/// this returns. Called only when [`available`] said true (before any
/// thread owned a stripe); the fence covers the caller itself.
pub(crate) fn heavy() {
    std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    if available() {
        barrier_all_threads();
    }
}

/// The light side of a call's count: a plain increment of a counter only
/// this thread writes, kept before the loads that follow it by a compiler
/// fence (the heavy side orders them for the processor).
#[inline(always)]
pub(crate) fn light_increment(counter: &AtomicUsize) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
    compiler_fence(Ordering::SeqCst);
}

/// The light side of a call's end: a plain decrement (a release: the
/// call's use of the object happens before a free that reads it), kept
/// before the loads that follow it by a compiler fence.
#[inline(always)]
pub(crate) fn light_decrement(counter: &AtomicUsize) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_sub(1),
        Ordering::Release,
    );
    compiler_fence(Ordering::SeqCst);
}

/// Nothing: the processor drains a thread's stores on its own.
/// tests/schedules.rs's model of a store buffer, which holds this thread's
/// light stores back from the other threads until a heavy barrier, drains
/// them here (the end of a call, after its check of a pending deferred free).
#[inline(always)]
pub(crate) fn light_settle() {}

#[cfg(target_os = "linux")]
mod linux {
    // <linux/membarrier.h>
    const MEMBARRIER_CMD_QUERY: libc::c_long = 0;
    const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    fn membarrier(cmd: libc::c_long) -> libc::c_long {
        // SAFETY: membarrier takes two integers (cmd, flags; a third,
        // cpu_id, only with a flag not given here) and touches no memory of
        // ours; an unknown command or a kernel without the call fails with
        // an errno, which the caller treats as "not available".
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                cmd,
                0 as libc::c_long,
                0 as libc::c_long,
            )
        }
    }

    /// Whether a seccomp filter (mode 2) or strict mode (1) confines this
    /// process, by `/proc/self/status` (readable under any filter; unknown
    /// counts as none). A filter may kill the process for a system call it
    /// does not list (`SECCOMP_RET_KILL`: systemd's `SystemCallFilter=`,
    /// some sandboxes), before any error could be seen, so under one the
    /// library does not try `membarrier` at all. Docker's default profile
    /// is such a filter too: there calls count with atomic adds.
    fn confined_by_seccomp() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("Seccomp:"))
                    .map(|mode| mode.trim() != "0")
            })
            .unwrap_or(false)
    }

    pub(super) fn setup() -> bool {
        if confined_by_seccomp() {
            return false;
        }
        let supported = membarrier(MEMBARRIER_CMD_QUERY);
        supported > 0
            && supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED != 0
            && membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0
            && membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0
    }

    pub(super) fn barrier_all_threads() {
        if membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 {
            // It worked when `setup` probed it, after the registration that
            // is its only precondition; a failure now leaves no sound way on
            // (calls in flight may be unseen), so stop before a free could
            // drop what they use.
            eprintln!("nexus_store: membarrier failed after it had worked; aborting");
            std::process::abort();
        }
    }
}

#[cfg(target_os = "linux")]
use linux::{barrier_all_threads, setup};

#[cfg(not(target_os = "linux"))]
fn setup() -> bool {
    false
}

#[cfg(not(target_os = "linux"))]
fn barrier_all_threads() {}

#[cfg(test)]
mod tests {
    use super::*;

    /// `NEXUS_STORE_NO_MEMBARRIER` turns the heavy barrier off for the
    /// process (checked in a child process, since the choice is made once),
    /// and the heavy side then still runs, as a plain fence.
    #[test]
    fn the_environment_variable_turns_it_off() {
        const NAME: &str = "ffi::asymmetric_fence::tests::the_environment_variable_turns_it_off";
        if std::env::var_os("NEXUS_STORE_NO_MEMBARRIER").is_some() {
            assert!(!available());
            heavy();
            return;
        }
        heavy();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--test-threads=1"])
            .env("NEXUS_STORE_NO_MEMBARRIER", "1")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Where the barrier is available, it keeps working (a failure after
    /// the probe would abort the process).
    #[test]
    fn the_heavy_barrier_repeats() {
        for _ in 0..1000 {
            heavy();
        }
    }
}
