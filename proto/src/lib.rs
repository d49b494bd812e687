//! The protocol's messages, generated from `proto/mmo/*.proto`, each with its wire id.
//!
//! Every message type implements [`mmo_wire::MsgType`], so `HelloReq::ID` and `HelloReq::NAME`
//! are constants. Message ids come from the `MessageId` enum in `proto/mmo/ids.proto`, the one
//! place ids are assigned. See `proto/README.md` for the protocol itself.
//!
//! It is also the one dependency a crate with messages of its own needs for them: the code
//! `mmo-protogen` generates names prost and the wire types through the re-exports below
//! ([`prost`], [`wire`]), so a game server's crate does not list them itself.

// The generated code names `::mmo_proto::...`, this crate's own code included.
extern crate self as mmo_proto;

/// The frame types and the `MsgType` trait every message implements.
pub use mmo_wire as wire;
/// The prost runtime the generated messages are built on (and `prost::bytes`).
pub use prost;

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

    pub use envelope::Kind;

    macro_rules! kinds {
        ($($t:ident => $k:ident),* $(,)?) => {$(
            impl From<$t> for Envelope {
                fn from(m: $t) -> Envelope {
                    Envelope { kind: Some(Kind::$k(m)) }
                }
            }
        )*};
    }
    kinds!(
        Request => Request,
        Answer => Answer,
        Push => Push,
        FanOut => FanOut,
        Kick => Kick,
        SessionEnded => Ended,
        Command => Command,
    );
}
pub use mmo_wire::{MsgId, MsgType};

/// Reading the protocol document (`proto/README.md`), for the tests that keep it true.
pub mod doc {
    /// The bytes shown in each fenced code block of `doc`, as lowercase hex pairs joined by
    /// single spaces. On each line, only the leading run of two-digit hex tokens counts: an
    /// annotation after them (`length = 18`) or a block of prose ends the line's bytes.
    pub fn hex_blocks(doc: &str) -> Vec<String> {
        let mut blocks = Vec::new();
        for (i, block) in doc.split("```").enumerate() {
            if i % 2 == 0 {
                continue;
            }
            let bytes: Vec<&str> = block
                .lines()
                .flat_map(|line| {
                    line.split_whitespace()
                        .take_while(|t| t.len() == 2 && t.bytes().all(|b| b.is_ascii_hexdigit()))
                })
                .collect();
            if !bytes.is_empty() {
                blocks.push(bytes.join(" ").to_ascii_lowercase());
            }
        }
        blocks
    }
}

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
