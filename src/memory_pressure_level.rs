//! The four pressure levels, ordered.

use crate::error::Error;

/// How hard the store must work to give memory back.
/// `NONE < MODERATE < CRITICAL < EMERGENCY`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum MemoryPressureLevel {
    /// No pressure.
    #[default]
    None = 0,
    /// Usage above the working size, or the OS warned.
    Moderate = 1,
    /// Usage above the critical threshold, or the OS is critical.
    Critical = 2,
    /// The OS is about to kill the process: shed everything that can go.
    Emergency = 3,
}

impl MemoryPressureLevel {
    /// Every level, lowest first.
    pub const ALL: [MemoryPressureLevel; 4] = [
        MemoryPressureLevel::None,
        MemoryPressureLevel::Moderate,
        MemoryPressureLevel::Critical,
        MemoryPressureLevel::Emergency,
    ];

    /// The level's upper-case name, as in the C header.
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryPressureLevel::None => "NONE",
            MemoryPressureLevel::Moderate => "MODERATE",
            MemoryPressureLevel::Critical => "CRITICAL",
            MemoryPressureLevel::Emergency => "EMERGENCY",
        }
    }
}

impl TryFrom<u32> for MemoryPressureLevel {
    type Error = Error;

    fn try_from(value: u32) -> Result<Self, Error> {
        Self::ALL
            .get(value as usize)
            .copied()
            .ok_or_else(|| Error::invalid(format!("pressure level {value} is out of range 0..=3")))
    }
}
