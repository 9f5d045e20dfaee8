//! Finishing a call's work when a user callback panics.
//!
//! A panic in a Rust callback (eviction listener, event callback, a value's
//! drop, a governor's callback) propagates to the caller of the store
//! method (README, "Threads and callbacks"), but only after the call has
//! done what keeps the stores consistent: every shard and every store
//! signalled, a shed or a budget restored to its end, the governor told of
//! the growth, its `enforcing` flag cleared. Such a call runs each callback
//! delivery through [`HeldPanic::run`], which holds the first panic, goes on
//! with its work, and ends with [`HeldPanic::resume`].

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

/// The first panic of a call's callbacks, held until the call's work is
/// done. Later panics of the same call are dropped (their payloads), as a
/// second exception is in C++.
#[must_use = "a held panic is lost unless resumed"]
#[derive(Default)]
pub(crate) struct HeldPanic(Option<Box<dyn Any + Send + 'static>>);

impl HeldPanic {
    pub(crate) fn new() -> Self {
        HeldPanic(None)
    }

    /// Runs `f`; if it panics, holds the panic (the first) and returns
    /// `None`. `f` runs user code that may leave its own state broken, not
    /// the store's: the store's state is consistent between deliveries.
    pub(crate) fn run<R>(&mut self, f: impl FnOnce() -> R) -> Option<R> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => Some(r),
            Err(payload) => {
                self.0.get_or_insert(payload);
                None
            }
        }
    }

    /// Goes on with the held panic, if any.
    pub(crate) fn resume(self) {
        if let Some(payload) = self.0 {
            resume_unwind(payload);
        }
    }
}

/// Runs `f`, which runs user callbacks, from a drop. A drop must not unwind
/// (a second panic while its thread unwinds, or while a `Vec` of such values
/// is dropped, aborts the process), so a panic of those callbacks is caught
/// and dropped here: the one exception to passing panics on (README,
/// "Threads and callbacks").
pub(crate) fn caught_in_drop(f: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(f));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_first_panic_and_resumes_it_after_the_work() {
        let mut held = HeldPanic::new();
        let mut done = Vec::new();
        for i in 0..3 {
            held.run(|| {
                if i > 0 {
                    panic!("callback {i}");
                }
            });
            done.push(i);
        }
        assert_eq!(done, [0, 1, 2], "the work went on after each panic");
        let payload = catch_unwind(AssertUnwindSafe(|| held.resume())).unwrap_err();
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("callback 1")
        );
        HeldPanic::new().resume();
    }
}
