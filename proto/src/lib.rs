//! The protocol's messages, generated from `proto/mmo/*.proto`, each with its wire id.
//!
//! Every message type implements [`mmo_wire::MsgType`], so `HelloReq::ID` and `HelloReq::NAME`
//! are constants. Message ids come from the `MessageId` enum in `proto/mmo/ids.proto`, the one
//! place ids are assigned. See `proto/README.md` for the protocol itself.

#[allow(clippy::all, missing_docs)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/mmo.rs"));
    include!(concat!(env!("OUT_DIR"), "/ids.rs"));
}

pub use generated::*;

/// Internal messages between nodes (over Redis Streams); not part of the client protocol.
#[allow(clippy::all, missing_docs)]
pub mod bus {
    include!(concat!(env!("OUT_DIR"), "/mmo.bus.rs"));

    /// Bus-only envelope flag: this envelope completes the forwarded request with its seq.
    pub const COMPLETE: u32 = 1 << 8;
    /// Bus-only envelope flag, to a stream a session was bound to: the session ended.
    pub const ENDED: u32 = 1 << 9;
}
pub use mmo_wire::{MsgId, MsgType};

/// The protocol version this crate describes; sent in `HelloReq.protocol_version`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The name of a message id, for logs and metrics (`None` for unknown ids).
pub fn message_name(id: MsgId) -> Option<&'static str> {
    MESSAGES.binary_search_by_key(&id.0, |(i, _)| *i).ok().map(|i| MESSAGES[i].1)
}

impl ErrorCode {
    /// The code as sent in `ErrorResp.code` / `DisconnectNtf.reason`.
    pub fn code(self) -> i32 {
        self as i32
    }
}
