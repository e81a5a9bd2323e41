//! CBOR encoding and length-prefixed CBOR framing.
//!
//! [`encode`] and [`decode`] are the CBOR (cbor4ii, serde) of every PoR
//! message; the lanes' frames ([`crate::frame`]) carry them. Here too: a
//! frame of one message for request-response protocols (a 4-byte big-endian
//! length, then that many bytes of CBOR), as [`CborLpCodec`]. The length is
//! checked against the protocol's limit *before* the buffer is allocated, so a
//! peer cannot make us allocate more than the limit, and an oversized message
//! fails with an error that names both sizes, on both sides.
//!
//! libp2p's built-in CBOR codec reads to the end of the stream and truncates
//! silently at its limit; that is why PoR has its own.

use std::io;
use std::marker::PhantomData;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The frame's declared length exceeds the protocol's limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Declared or actual length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A message's length exceeds the lane's limit for one message.
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    MessageTooLarge {
        /// Declared or actual length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not the CBOR of the expected message.
    #[error("malformed message: {0}")]
    Decode(String),
    /// The message could not be encoded.
    #[error("cannot encode message: {0}")]
    Encode(String),
}

impl From<FrameError> for io::Error {
    fn from(e: FrameError) -> io::Error {
        let kind = match e {
            FrameError::Encode(_) => io::ErrorKind::InvalidInput,
            FrameError::TooLarge { .. } | FrameError::MessageTooLarge { .. } | FrameError::Decode(_) => {
                io::ErrorKind::InvalidData
            }
        };
        io::Error::new(kind, e)
    }
}

/// Encodes a message to CBOR.
pub fn encode<M: Serialize>(m: &M) -> Result<Vec<u8>, FrameError> {
    cbor4ii::serde::to_vec(Vec::new(), m).map_err(|e| FrameError::Encode(e.to_string()))
}

/// Decodes a message from CBOR; trailing bytes are an error.
pub fn decode<M: DeserializeOwned>(b: &[u8]) -> Result<M, FrameError> {
    let mut cursor = io::Cursor::new(b);
    let m = cbor4ii::serde::from_reader(&mut cursor).map_err(|e| FrameError::Decode(e.to_string()))?;
    let rest = b.len() - cursor.position() as usize;
    if rest != 0 {
        return Err(FrameError::Decode(format!("{rest} trailing bytes after the message")));
    }
    Ok(m)
}

/// Reads one frame of at most `max` bytes.
pub async fn read_frame<T: AsyncRead + Unpin>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max }.into());
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Writes one frame; refuses a body larger than `max`.
pub async fn write_frame<T: AsyncWrite + Unpin>(io: &mut T, body: &[u8], max: usize) -> io::Result<()> {
    if body.len() > max {
        return Err(FrameError::TooLarge { len: body.len(), max }.into());
    }
    io.write_all(&(body.len() as u32).to_be_bytes()).await?;
    io.write_all(body).await?;
    io.flush().await
}

/// A `request_response::Codec` of length-prefixed CBOR with a limit per
/// direction.
pub struct CborLpCodec<Req, Resp> {
    max_request: usize,
    max_response: usize,
    _messages: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> CborLpCodec<Req, Resp> {
    /// A codec refusing requests over `max_request` and responses over
    /// `max_response` bytes (both below 4 GiB).
    pub fn new(max_request: usize, max_response: usize) -> Self {
        CborLpCodec { max_request, max_response, _messages: PhantomData }
    }
}

impl<Req, Resp> Clone for CborLpCodec<Req, Resp> {
    fn clone(&self) -> Self {
        Self::new(self.max_request, self.max_response)
    }
}

impl<Req, Resp> request_response::Codec for CborLpCodec<Req, Resp>
where
    Req: Serialize + DeserializeOwned + Send,
    Resp: Serialize + DeserializeOwned + Send,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T: AsyncRead + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req> {
        Ok(decode(&read_frame(io, self.max_request).await?)?)
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp> {
        Ok(decode(&read_frame(io, self.max_response).await?)?)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        r: Req,
    ) -> io::Result<()> {
        write_frame(io, &encode(&r)?, self.max_request).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        r: Resp,
    ) -> io::Result<()> {
        write_frame(io, &encode(&r)?, self.max_response).await
    }
}
