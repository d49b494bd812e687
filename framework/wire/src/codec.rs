//! The frame codec: a tokio-util `Decoder`/`Encoder` over `BytesMut`, with limits checked at the
//! length prefix, before anything is buffered for the frame.

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::frame::{Flags, Frame, HEADER_LEN, Header, LEN_PREFIX};

/// Default cap on `length` (header + body) for frames from clients: 64 KiB.
pub const DEFAULT_MAX_FRAME_LEN: u32 = 64 * 1024;

/// Why a byte stream is not a valid sequence of frames. Each is fatal for the connection: after
/// a framing error the stream cannot be resynchronised.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The length prefix is smaller than the fixed header (includes a prefix of 0).
    #[error("frame length {len} is shorter than the {HEADER_LEN}-byte header")]
    TooShort { len: u32 },
    /// The length prefix is over the configured limit.
    #[error("frame length {len} is over the limit of {max} bytes")]
    TooLarge { len: u32, max: u32 },
    /// The header sets flag bits the receiver does not accept.
    #[error("frame sets flags {flags:#04x}, only {allowed:#04x} are allowed")]
    BadFlags { flags: u8, allowed: u8 },
    /// An I/O error from the transport (only produced by tokio-util's `Framed` wrappers).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// The codec. Holds only its limits, so it is free to create one per connection.
#[derive(Clone, Copy, Debug)]
pub struct FrameCodec {
    max_frame_len: u32,
    allowed_flags: Flags,
}

impl FrameCodec {
    /// A codec for the server side: frames from clients, flags must be zero.
    pub fn server(max_frame_len: u32) -> Self {
        FrameCodec { max_frame_len, allowed_flags: Flags::NONE }
    }

    /// A codec for the client side: frames from the server, any known flag allowed.
    pub fn client(max_frame_len: u32) -> Self {
        FrameCodec { max_frame_len, allowed_flags: Flags::KNOWN }
    }

    pub fn max_frame_len(&self) -> u32 {
        self.max_frame_len
    }

    /// Checks what is buffered of the next frame and says how many more bytes complete it.
    ///
    /// Returns `Ok(0)` when a whole frame is buffered, `Ok(n)` when `n` more bytes are needed
    /// (for an incomplete prefix, the bytes missing from the prefix), and the framing error as
    /// soon as the prefix or header shows one, even while the body is still on its way.
    pub fn missing(&self, src: &[u8]) -> Result<usize, WireError> {
        let Some(prefix) = src.first_chunk::<LEN_PREFIX>() else {
            return Ok(LEN_PREFIX - src.len());
        };
        let len = u32::from_be_bytes(*prefix);
        if (len as usize) < HEADER_LEN {
            return Err(WireError::TooShort { len });
        }
        if len > self.max_frame_len {
            return Err(WireError::TooLarge { len, max: self.max_frame_len });
        }
        if let Some(header) = src[LEN_PREFIX..].first_chunk::<HEADER_LEN>() {
            let flags = header[2];
            if flags & !self.allowed_flags.0 != 0 {
                return Err(WireError::BadFlags { flags, allowed: self.allowed_flags.0 });
            }
        }
        Ok((LEN_PREFIX + len as usize).saturating_sub(src.len()))
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = WireError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, WireError> {
        // Deliberately no `src.reserve(len)`: a peer announcing a large frame must not make us
        // allocate it up front. The reader grows its buffer as bytes actually arrive.
        if self.missing(src)? > 0 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        src.advance(LEN_PREFIX);
        let mut head = [0u8; HEADER_LEN];
        head.copy_from_slice(&src[..HEADER_LEN]);
        src.advance(HEADER_LEN);
        let header = Header::parse(&head);
        let body = src.split_to(len - HEADER_LEN).freeze();
        Ok(Some(Frame { header, body }))
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = WireError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), WireError> {
        frame.write_to(dst);
        Ok(())
    }
}

impl Encoder<&Frame> for FrameCodec {
    type Error = WireError;

    fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), WireError> {
        frame.write_to(dst);
        Ok(())
    }
}
