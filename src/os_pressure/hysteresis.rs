//! What to signal, from the levels the sources read over time.

use crate::MemoryPressureLevel;

/// Turns a stream of read levels into signals:
/// - a higher level is signalled at once;
/// - while the level in force is read again, it is signalled again every
///   `resignal_ns` (0 = never), so every store sheds again;
/// - a lower level (NONE included) is signalled only once the level in
///   force has not been read for `min_level_ns`; then the monitor steps
///   straight down to the level read.
///
/// Pure: time is a parameter (a virtual clock in tests).
#[derive(Clone, Debug)]
pub struct Hysteresis {
    min_level_ns: u64,
    resignal_ns: u64,
    current: MemoryPressureLevel,
    last_seen_ns: u64,
    last_signal_ns: u64,
}

impl Hysteresis {
    /// Starts at NONE.
    pub fn new(min_level_ms: u64, resignal_ms: u64) -> Self {
        Hysteresis {
            min_level_ns: min_level_ms.saturating_mul(1_000_000),
            resignal_ns: resignal_ms.saturating_mul(1_000_000),
            current: MemoryPressureLevel::None,
            last_seen_ns: 0,
            last_signal_ns: 0,
        }
    }

    /// Starts at `level`, as if read at `now_ns` (the level in force when a
    /// monitor starts: a previous run's, kept by its stop, or the app's own
    /// signal): held, resignalled and stepped down like any level read.
    pub fn starting_at(mut self, level: MemoryPressureLevel, now_ns: u64) -> Self {
        self.current = level;
        self.last_seen_ns = now_ns;
        self.last_signal_ns = now_ns;
        self
    }

    /// The level in force.
    pub fn level(&self) -> MemoryPressureLevel {
        self.current
    }

    /// Takes the level read at `now_ns`; returns the level to signal now,
    /// if any.
    pub fn step(&mut self, read: MemoryPressureLevel, now_ns: u64) -> Option<MemoryPressureLevel> {
        use std::cmp::Ordering::*;
        match read.cmp(&self.current) {
            Greater => {
                self.current = read;
                self.last_seen_ns = now_ns;
                self.last_signal_ns = now_ns;
                Some(read)
            }
            Equal => {
                self.last_seen_ns = now_ns;
                let due = self.current != MemoryPressureLevel::None
                    && self.resignal_ns > 0
                    && now_ns.saturating_sub(self.last_signal_ns) >= self.resignal_ns;
                if due {
                    self.last_signal_ns = now_ns;
                    Some(self.current)
                } else {
                    None
                }
            }
            Less => {
                if now_ns.saturating_sub(self.last_seen_ns) >= self.min_level_ns {
                    self.current = read;
                    self.last_seen_ns = now_ns;
                    self.last_signal_ns = now_ns;
                    Some(read)
                } else {
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Clock, ManualClock};
    use MemoryPressureLevel::*;

    #[test]
    fn a_starting_level_steps_down_like_a_read_one() {
        let clock = ManualClock::new(1_000);
        let mut h = Hysteresis::new(5_000, 0).starting_at(Emergency, clock.now_ns());
        assert_eq!(h.level(), Emergency);
        assert_eq!(h.step(None, clock.now_ns()), Option::None);
        clock.advance_ms(5_000);
        assert_eq!(h.step(None, clock.now_ns()), Some(None));
        assert_eq!(h.level(), None);
    }

    #[test]
    fn rises_at_once_and_steps_down_after_the_minimum_time() {
        let clock = ManualClock::new(1_000);
        let mut h = Hysteresis::new(5_000, 0);
        assert_eq!(h.step(None, clock.now_ns()), Option::None);
        assert_eq!(h.step(Critical, clock.now_ns()), Some(Critical));
        clock.advance_ms(4_999);
        assert_eq!(h.step(Moderate, clock.now_ns()), Option::None);
        assert_eq!(h.level(), Critical);
        clock.advance_ms(1);
        assert_eq!(h.step(Moderate, clock.now_ns()), Some(Moderate));
        clock.advance_ms(4_000);
        assert_eq!(h.step(None, clock.now_ns()), Option::None);
        clock.advance_ms(1_000);
        assert_eq!(h.step(None, clock.now_ns()), Some(None));
        assert_eq!(h.level(), None);
        clock.advance_ms(60_000);
        assert_eq!(h.step(None, clock.now_ns()), Option::None);
    }

    #[test]
    fn pressure_seen_again_restarts_the_minimum_time() {
        let clock = ManualClock::new(0);
        let mut h = Hysteresis::new(1_000, 0);
        assert_eq!(h.step(Moderate, clock.now_ns()), Some(Moderate));
        clock.advance_ms(900);
        assert_eq!(h.step(Moderate, clock.now_ns()), Option::None);
        clock.advance_ms(900);
        assert_eq!(h.step(None, clock.now_ns()), Option::None);
        clock.advance_ms(100);
        assert_eq!(h.step(None, clock.now_ns()), Some(None));
    }

    #[test]
    fn resignals_while_the_level_lasts_and_not_after() {
        let clock = ManualClock::new(0);
        let mut h = Hysteresis::new(2_000, 500);
        assert_eq!(h.step(Critical, clock.now_ns()), Some(Critical));
        let mut signals = 0;
        for _ in 0..10 {
            clock.advance_ms(100);
            if h.step(Critical, clock.now_ns()).is_some() {
                signals += 1;
            }
        }
        assert_eq!(signals, 2, "one re-signal per 500 ms over 1 s");
        // A lower reading does not re-signal the level in force.
        for _ in 0..19 {
            clock.advance_ms(100);
            assert_eq!(h.step(None, clock.now_ns()), Option::None);
        }
        clock.advance_ms(100);
        assert_eq!(h.step(None, clock.now_ns()), Some(None));
        clock.advance_ms(10_000);
        assert_eq!(
            h.step(None, clock.now_ns()),
            Option::None,
            "NONE is never re-signalled"
        );
    }

    #[test]
    fn a_higher_level_during_the_hold_is_signalled_at_once() {
        let mut h = Hysteresis::new(10_000, 0);
        assert_eq!(h.step(Moderate, 0), Some(Moderate));
        assert_eq!(h.step(Emergency, 1), Some(Emergency));
        assert_eq!(h.step(Critical, 2), Option::None);
    }
}
