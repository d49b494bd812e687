//! One file per message the diagnostics server handles.

pub mod echo;
pub mod time;
