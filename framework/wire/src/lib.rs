//! The wire format of the MMO protocol, with no I/O: frames, headers, the codec and its limits.
//!
//! A frame on the wire is:
//!
//! ```text
//! +----------------+-----------------+-----------+----------------+------------------+
//! | length: u32 BE | msg_id: u16 BE  | flags: u8 | seq: u32 BE    | body: protobuf   |
//! +----------------+-----------------+-----------+----------------+------------------+
//!   4 bytes          \______________ header: 7 bytes ___________/   length - 7 bytes
//! ```
//!
//! `length` counts everything after itself (header + body), so it is at least [`HEADER_LEN`].
//! The header alone is enough to route a frame: nobody needs to decode a body they only forward.
//!
//! This crate never touches a socket or a clock and never panics on any input: every byte that
//! comes from a peer is treated as hostile. The decoder checks the length prefix against the
//! configured limit *before* it buffers or allocates anything for the frame.

mod codec;
mod frame;

pub use codec::{DEFAULT_MAX_FRAME_LEN, FrameCodec, WireError};
pub use frame::{Flags, Frame, HEADER_LEN, Header, LEN_PREFIX, MsgId, MsgType, Seq};
