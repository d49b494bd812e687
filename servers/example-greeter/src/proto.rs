//! The greeter's messages, generated from `proto/greeter.proto` by `build.rs` (mmo-protogen),
//! each implementing `MsgType` with its id from the `MessageId` enum.

#![allow(clippy::all, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/greeter.rs"));
include!(concat!(env!("OUT_DIR"), "/ids.rs"));
