//! Pressure: the four levels, and the handlers that carry a signal to the
//! stores subscribed to them (the process-wide one behind
//! `signal_pressure_all`, and any the app makes).

pub(crate) mod memory_pressure_handler;
pub(crate) mod memory_pressure_level;
