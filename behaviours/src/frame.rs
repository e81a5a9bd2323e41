//! The frames of the v2 lanes (`/por/relay/2.0.0`, `/por/sync/2.0.0`).
//!
//! A lane stream carries frames in both directions: the node that opened
//! it sends *messages*, the node that accepted it sends back their
//! *receipts*. A frame is
//!
//! ```text
//! frame   = length:u32be body            (length ≤ the lane's frame limit)
//! body    = entry*
//! entry   = 0x00 length:u32be cbor       a message (CBOR of the node's message type)
//!         | 0x01 seq:u64be length:u32be cbor   the receipt of message `seq`
//! ```
//!
//! Messages on a stream are numbered from 0 in the order they are written,
//! so a message entry carries no number; a receipt names the number of the
//! message it answers. Each message is at most the lane's message limit
//! and each receipt at most [`MAX_RECEIPT`] bytes; the frame's length is
//! checked against the frame limit before its buffer is allocated. Every
//! violation is an error that names the sizes.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::AsyncRead;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::behaviour::Receipt;
use crate::codec::{FrameError, decode, encode};

/// Largest receipt: a refusal reason and its detail.
pub const MAX_RECEIPT: usize = 4 * 1024;

/// Bytes of a frame's length prefix.
pub const FRAME_HEADER: usize = 4;
/// Bytes of a message entry's header (kind, length).
pub const MESSAGE_HEADER: usize = 1 + 4;
/// Bytes of a receipt entry's header (kind, sequence number, length).
pub const RECEIPT_HEADER: usize = 1 + 8 + 4;

const KIND_MESSAGE: u8 = 0;
const KIND_RECEIPT: u8 = 1;

/// One entry of a frame, borrowed from the frame's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A message's CBOR.
    Message(&'a [u8]),
    /// The receipt of message `seq`, as CBOR.
    Receipt(u64, &'a [u8]),
}

/// Splits a frame's body into its entries; a message over `max_message`
/// bytes, a receipt over [`MAX_RECEIPT`], an unknown kind or an entry that
/// runs past the body is an error naming it.
pub fn parse(body: &[u8], max_message: usize) -> Result<Vec<Entry<'_>>, FrameError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let kind = body[at];
        let (header, max) = match kind {
            KIND_MESSAGE => (MESSAGE_HEADER, max_message),
            KIND_RECEIPT => (RECEIPT_HEADER, MAX_RECEIPT),
            k => {
                return Err(FrameError::Decode(format!("entry {} at byte {at} has unknown kind {k}", out.len())));
            }
        };
        if body.len() - at < header {
            return Err(FrameError::Decode(format!(
                "entry {} at byte {at}: {} bytes left, its header needs {header}",
                out.len(),
                body.len() - at
            )));
        }
        let len_at = at + header - 4;
        let len = u32::from_be_bytes(body[len_at..len_at + 4].try_into().expect("4 bytes")) as usize;
        if len > max {
            return Err(match kind {
                KIND_MESSAGE => FrameError::MessageTooLarge { len, max },
                _ => FrameError::TooLarge { len, max },
            });
        }
        let start = at + header;
        if body.len() - start < len {
            return Err(FrameError::Decode(format!(
                "entry {} at byte {at} declares {len} bytes, the frame has {} left",
                out.len(),
                body.len() - start
            )));
        }
        let bytes = &body[start..start + len];
        out.push(match kind {
            KIND_MESSAGE => Entry::Message(bytes),
            _ => Entry::Receipt(u64::from_be_bytes(body[at + 1..at + 9].try_into().expect("8 bytes")), bytes),
        });
        at = start + len;
    }
    Ok(out)
}

/// Reads length-prefixed frames from a stream without blocking; the
/// length is checked against the limit before the body is allocated.
#[derive(Debug, Default)]
pub struct FrameReader {
    head: [u8; 4],
    got: usize,
    body: Option<Vec<u8>>,
}

impl FrameReader {
    /// The next frame's body; `None` when the stream ended between frames.
    pub fn poll_frame<R: AsyncRead + Unpin>(
        &mut self,
        io: &mut R,
        cx: &mut Context<'_>,
        max: usize,
    ) -> Poll<io::Result<Option<Vec<u8>>>> {
        loop {
            match &mut self.body {
                None => {
                    let n = ready!(Pin::new(&mut *io).poll_read(cx, &mut self.head[self.got..]))?;
                    if n == 0 {
                        return Poll::Ready(if self.got == 0 {
                            Ok(None)
                        } else {
                            Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "the stream ended inside a frame's length",
                            ))
                        });
                    }
                    self.got += n;
                    if self.got == 4 {
                        let len = u32::from_be_bytes(self.head) as usize;
                        if len > max {
                            return Poll::Ready(Err(FrameError::TooLarge { len, max }.into()));
                        }
                        self.body = Some(vec![0; len]);
                        self.got = 0;
                    }
                }
                Some(body) if self.got == body.len() => {
                    self.got = 0;
                    return Poll::Ready(Ok(self.body.take()));
                }
                Some(body) => {
                    let n = ready!(Pin::new(&mut *io).poll_read(cx, &mut body[self.got..]))?;
                    if n == 0 {
                        let e = format!("the stream ended after {} of a frame's {} bytes", self.got, body.len());
                        return Poll::Ready(Err(io::Error::new(io::ErrorKind::UnexpectedEof, e)));
                    }
                    self.got += n;
                }
            }
        }
    }
}

/// The messages of a frame read on a stream the peer opened, each with its
/// size; a receipt there, or a message that does not decode, is an error
/// naming its entry.
pub fn messages<M: DeserializeOwned>(body: &[u8], max_message: usize) -> Result<Vec<(M, usize)>, FrameError> {
    let mut out = Vec::new();
    for (i, e) in parse(body, max_message)?.into_iter().enumerate() {
        let Entry::Message(cbor) = e else {
            return Err(FrameError::Decode(format!("entry {i} is a receipt, on a stream that carries messages")));
        };
        match decode(cbor) {
            Ok(m) => out.push((m, cbor.len())),
            Err(FrameError::Decode(why)) => return Err(FrameError::Decode(format!("entry {i}: {why}"))),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The receipts of a frame read on a stream this node opened; a message
/// there, or a receipt that does not decode, is an error naming its entry.
pub fn receipts(body: &[u8]) -> Result<Vec<(u64, Receipt)>, FrameError> {
    let mut out = Vec::new();
    for (i, e) in parse(body, 0)?.into_iter().enumerate() {
        let Entry::Receipt(seq, cbor) = e else {
            return Err(FrameError::Decode(format!("entry {i} is a message, on a stream that carries receipts")));
        };
        match decode(cbor) {
            Ok(r) => out.push((seq, r)),
            Err(FrameError::Decode(why)) => return Err(FrameError::Decode(format!("entry {i}: {why}"))),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// A frame being built: entries are appended in place (one copy of each
/// message, straight into the buffer that is written to the stream).
#[derive(Debug)]
pub struct FrameBuf {
    buf: Vec<u8>,
    entries: usize,
}

impl Default for FrameBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameBuf {
    /// An empty frame.
    pub fn new() -> Self {
        FrameBuf { buf: vec![0; FRAME_HEADER], entries: 0 }
    }

    /// Bytes the frame takes on the wire so far (length prefix included).
    pub fn wire_len(&self) -> usize {
        self.buf.len()
    }

    /// Entries in the frame.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Appends a message already encoded as CBOR.
    pub fn push_message(&mut self, cbor: &[u8]) {
        self.buf.push(KIND_MESSAGE);
        self.buf.extend_from_slice(&(cbor.len() as u32).to_be_bytes());
        self.buf.extend_from_slice(cbor);
        self.entries += 1;
    }

    /// Appends the receipt `r` of message `seq`; fails when its encoding
    /// exceeds [`MAX_RECEIPT`] (the entry is then not added).
    pub fn push_receipt<R: Serialize>(&mut self, seq: u64, r: &R) -> Result<(), FrameError> {
        let cbor = encode(r)?;
        if cbor.len() > MAX_RECEIPT {
            return Err(FrameError::TooLarge { len: cbor.len(), max: MAX_RECEIPT });
        }
        self.buf.push(KIND_RECEIPT);
        self.buf.extend_from_slice(&seq.to_be_bytes());
        self.buf.extend_from_slice(&(cbor.len() as u32).to_be_bytes());
        self.buf.extend_from_slice(&cbor);
        self.entries += 1;
        Ok(())
    }

    /// The finished frame, length prefix filled in.
    pub fn finish(mut self) -> Vec<u8> {
        let body = (self.buf.len() - FRAME_HEADER) as u32;
        self.buf[..FRAME_HEADER].copy_from_slice(&body.to_be_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(frame: &[u8]) -> &[u8] {
        let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(len, frame.len() - 4);
        &frame[4..]
    }

    #[test]
    fn entries_round_trip() {
        let mut f = FrameBuf::new();
        f.push_message(b"one");
        f.push_receipt(7, &"accepted").unwrap();
        f.push_message(b"");
        assert_eq!(f.entries(), 3);
        let frame = f.finish();
        let got = parse(body(&frame), 16).unwrap();
        assert_eq!(got[0], Entry::Message(b"one"));
        assert!(matches!(got[1], Entry::Receipt(7, _)));
        assert_eq!(got[2], Entry::Message(b""));
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn hostile_bodies_are_refused_with_their_sizes() {
        let mut f = FrameBuf::new();
        f.push_message(&[1; 20]);
        let frame = f.finish();
        let e = parse(body(&frame), 16).unwrap_err().to_string();
        assert!(e.contains("message of 20 bytes exceeds the limit of 16"), "{e}");
        let e = parse(&frame[4..frame.len() - 1], 64).unwrap_err().to_string();
        assert!(e.contains("declares 20 bytes, the frame has 19 left"), "{e}");
        let e = parse(&[0, 0, 0], 64).unwrap_err().to_string();
        assert!(e.contains("3 bytes left, its header needs 5"), "{e}");
        let e = parse(&[9], 64).unwrap_err().to_string();
        assert!(e.contains("unknown kind 9"), "{e}");
        let big = "x".repeat(MAX_RECEIPT);
        let mut f = FrameBuf::new();
        let e = f.push_receipt(1, &big).unwrap_err().to_string();
        assert!(e.contains(&format!("exceeds the limit of {MAX_RECEIPT}")), "{e}");
        assert_eq!((f.entries(), f.wire_len()), (0, FRAME_HEADER), "a refused entry leaves nothing behind");
    }
}
