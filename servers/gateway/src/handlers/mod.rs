//! One file per message the gateway handles itself.

pub mod hello;
pub mod ping;
pub mod resume;
