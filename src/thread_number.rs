//! A number for the calling thread, for "is this the same thread" checks
//! (a loader re-entering its own load, the monitor thread stopping
//! itself).
//!
//! Not `std::thread::current().id()`: on a thread the Rust runtime did not
//! start (a C or Swift host's main thread) that allocates a thread handle
//! which is never freed, and valgrind reports it as possibly lost in every
//! host program that loads a value or stops the monitor.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

std::thread_local! {
    /// 0 until the thread first asks.
    static NUMBER: Cell<u64> = const { Cell::new(0) };
}

/// The next number handed out; numbers are never 0 and never reused.
static NEXT: AtomicU64 = AtomicU64::new(1);

/// The calling thread's number: never 0, the same for the thread's whole
/// life, different from every other thread's. Allocates nothing.
pub(crate) fn thread_number() -> u64 {
    NUMBER.with(|n| {
        if n.get() == 0 {
            n.set(NEXT.fetch_add(1, Ordering::Relaxed));
        }
        n.get()
    })
}

#[cfg(test)]
mod tests {
    use super::thread_number;

    #[test]
    fn a_thread_keeps_its_number_and_others_get_their_own() {
        let mine = thread_number();
        assert_ne!(mine, 0);
        assert_eq!(thread_number(), mine);
        let theirs: Vec<u64> = (0..4)
            .map(|_| std::thread::spawn(thread_number).join().unwrap())
            .collect();
        for (i, t) in theirs.iter().enumerate() {
            assert_ne!(*t, mine);
            assert!(!theirs[..i].contains(t));
        }
    }
}
