//! One file per message the greeter handles.

pub mod greet;
