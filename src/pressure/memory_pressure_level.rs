//! The four pressure levels, ordered.

use crate::c_enum::c_enum;

c_enum! {
    /// How hard the store must work to give memory back.
    /// `NONE < MODERATE < CRITICAL < EMERGENCY`.
    #[derive(Default, PartialOrd, Ord)]
    pub enum MemoryPressureLevel ("pressure level") {
        /// No pressure.
        #[default]
        None = 0 => "NONE",
        /// Usage at or above the working size (rounded up), or the OS warned.
        Moderate = 1 => "MODERATE",
        /// Usage at or above the critical threshold (rounded up), or the OS
        /// is critical.
        Critical = 2 => "CRITICAL",
        /// The OS is about to kill the process: shed everything that can go.
        Emergency = 3 => "EMERGENCY",
    }
}
