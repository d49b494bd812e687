//! One file per message the version server handles.

pub mod hello;
