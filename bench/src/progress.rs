//! The progress display on stderr: one rewritten line on a terminal, a line
//! every couple of seconds otherwise (CI logs, `make` output).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    tag: &'static str,
    total: usize,
    done: usize,
    tty: bool,
    started: Instant,
    last_line: Option<Instant>,
}

impl Progress {
    pub fn new(tag: &'static str, total: usize) -> Self {
        Progress {
            tag,
            total,
            done: 0,
            tty: std::io::stderr().is_terminal(),
            started: Instant::now(),
            last_line: None,
        }
    }

    /// Announces the step about to run.
    pub fn step(&mut self, label: &str) {
        self.done += 1;
        let line = format!("[{} {}/{}] {label} ...", self.tag, self.done, self.total);
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
            let _ = err.flush();
        } else if self
            .last_line
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(2))
        {
            let _ = writeln!(err, "{line}");
            self.last_line = Some(Instant::now());
        }
    }

    pub fn finish(self, summary: &str) {
        let secs = self.started.elapsed().as_secs_f64();
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = writeln!(err, "[{}] done in {secs:.1} s: {summary}", self.tag);
    }
}
