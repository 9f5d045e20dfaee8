//! Helpers shared by the threaded integration tests.

use std::panic;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// Runs `f` on its own thread and fails the test if it has not finished
/// within `secs` seconds (a deadlock). A panic inside `f` is propagated.
pub fn watchdog<T: Send + 'static>(
    secs: u64,
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel::<()>();
    let handle = thread::Builder::new()
        .name(format!("{name}-body"))
        .spawn(move || {
            let r = f();
            drop(tx);
            r
        })
        .expect("spawn the test body");
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Err(RecvTimeoutError::Timeout) => {
            panic!("watchdog: `{name}` did not finish within {secs} s (deadlock?)")
        }
        Ok(()) | Err(RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(r) => r,
            Err(payload) => panic::resume_unwind(payload),
        },
    }
}

/// Waits until `cond` holds; panics after `secs` seconds.
#[allow(dead_code)] // not every test binary that includes this module waits
pub fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}
