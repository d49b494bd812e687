//! Frame, header and the identifiers carried in the header.

use bytes::{BufMut, Bytes, BytesMut};

/// Size of the big-endian length prefix that starts every frame.
pub const LEN_PREFIX: usize = 4;
/// Size of the fixed header that follows the length prefix: id (2), flags (1), seq (4).
pub const HEADER_LEN: usize = 7;

/// A message id: which protobuf message the body holds. Ids have one source of truth, the
/// `MessageId` enum in `proto/mmo/ids.proto`; each server owns a range and an id is never reused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct MsgId(pub u16);

impl std::fmt::Display for MsgId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A sequence number. Requests carry one chosen by the client, the response echoes it; pushes
/// from the server carry the session's push sequence (reliable) or 0 (droppable).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Seq(pub u32);

/// Header flag bits. Clients send 0; a client frame with any flag set is rejected, so the bits
/// stay free for the protocol to grow into.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// No flag: a request from a client, or the response to one.
    pub const NONE: Flags = Flags(0);
    /// Set on frames the server sends on its own initiative (not an answer to a request).
    pub const PUSH: Flags = Flags(0b0000_0001);
    /// Set on pushes that may be coalesced or dropped under pressure (e.g. positions): the newest
    /// of a kind replaces older ones. Such frames are not counted for session resume.
    pub const DROPPABLE: Flags = Flags(0b0000_0010);
    /// Every bit the protocol currently defines.
    pub const KNOWN: Flags = Flags(0b0000_0011);

    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

/// The fixed header of a frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Header {
    pub id: MsgId,
    pub flags: Flags,
    pub seq: Seq,
}

impl Header {
    pub const fn new(id: MsgId, seq: Seq) -> Self {
        Header { id, flags: Flags::NONE, seq }
    }

    /// Parses a header from exactly [`HEADER_LEN`] bytes.
    pub fn parse(b: &[u8; HEADER_LEN]) -> Header {
        Header {
            id: MsgId(u16::from_be_bytes([b[0], b[1]])),
            flags: Flags(b[2]),
            seq: Seq(u32::from_be_bytes([b[3], b[4], b[5], b[6]])),
        }
    }

    pub(crate) fn put(&self, dst: &mut impl BufMut) {
        dst.put_u16(self.id.0);
        dst.put_u8(self.flags.0);
        dst.put_u32(self.seq.0);
    }

    /// Writes a whole frame with this header: prefix, header, `body`. The one place outgoing
    /// frames are laid out.
    ///
    /// The encoder does not check the body against a limit: limits protect us from peers, and
    /// what we send is ours. Bodies are built by us from bounded inputs; one over 4 GiB cannot be
    /// produced by any message in the protocol, so saturating only guards the arithmetic.
    pub fn write_frame(&self, body: &[u8], dst: &mut BytesMut) {
        self.write_prefix(body.len(), dst);
        dst.extend_from_slice(body);
    }

    /// Writes the length prefix and this header for a body of `body_len` bytes that the caller
    /// writes next (reserving room for it too).
    pub fn write_prefix(&self, body_len: usize, dst: &mut BytesMut) {
        dst.reserve(LEN_PREFIX + HEADER_LEN + body_len);
        dst.put_u32(u32::try_from(HEADER_LEN + body_len).unwrap_or(u32::MAX));
        self.put(dst);
    }
}

/// One decoded frame: its header and the untouched protobuf body.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Frame {
    pub header: Header,
    pub body: Bytes,
}

impl Frame {
    pub fn new(header: Header, body: Bytes) -> Self {
        Frame { header, body }
    }

    /// Encodes a protobuf message into a frame with the given sequence number and flags.
    pub fn from_msg<M: MsgType>(msg: &M, seq: Seq, flags: Flags) -> Frame {
        let body = Bytes::from(msg.encode_to_vec());
        Frame { header: Header { id: M::ID, flags, seq }, body }
    }

    /// Decodes the body as `M`. The caller should check `header.id == M::ID` first.
    pub fn decode_body<M: MsgType>(&self) -> Result<M, prost::DecodeError> {
        M::decode(self.body.clone())
    }

    /// Length on the wire, prefix included.
    pub fn wire_len(&self) -> usize {
        LEN_PREFIX + HEADER_LEN + self.body.len()
    }

    /// Writes prefix, header and body into `dst` (see [`Header::write_frame`]).
    pub fn write_to(&self, dst: &mut BytesMut) {
        self.header.write_frame(&self.body, dst);
    }

    /// The whole frame, prefix included, as one buffer ready to be queued for a socket.
    pub fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(self.wire_len());
        self.write_to(&mut b);
        b.freeze()
    }
}

/// Implemented by every protocol message (by generated code in `mmo-proto`): its id and name.
///
/// A test in `mmo-proto` proves ids and types are one-to-one.
pub trait MsgType: prost::Message + Default + Send + Sync + 'static {
    /// The message's id on the wire.
    const ID: MsgId;
    /// The message's protobuf name, e.g. `"PingReq"`: used in logs and metric labels.
    const NAME: &'static str;

    /// Encodes `self` as a whole frame, prefix included, ready for a socket.
    fn to_frame_bytes(&self, seq: Seq, flags: Flags) -> Bytes {
        let body_len = self.encoded_len();
        let mut b = BytesMut::new();
        Header { id: Self::ID, flags, seq }.write_prefix(body_len, &mut b);
        // encode into a BytesMut with enough capacity cannot fail.
        let _ = self.encode(&mut b);
        b.freeze()
    }
}
