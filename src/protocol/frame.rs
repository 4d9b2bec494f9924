//! Framing: a 4-byte big-endian length, then that many bytes of JSON.
//!
//! The two directions have their own limits. What a client sends is small
//! (a request and its knobs), and the daemon reads it from anyone who can
//! reach the socket, so it is capped at [`MAX_REQUEST_BYTES`] and buffered
//! within a daemon-wide budget. What the daemon answers can be large (the
//! status of 10 000 runtimes, a long chat reply) and comes from a peer the
//! client has checked, so replies may be up to [`MAX_REPLY_BYTES`]; the
//! daemon refuses to build a larger one with a message saying why.

use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// A hello or request frame above this is refused and the connection closed.
pub const MAX_REQUEST_BYTES: u32 = 4 * 1024 * 1024;
/// The largest reply or event frame the daemon sends and a client reads.
pub const MAX_REPLY_BYTES: u32 = 256 * 1024 * 1024;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("frame of {0} bytes exceeds the {1}-byte limit")]
    TooLarge(u32, u32),
    #[error("malformed frame: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error(transparent)]
    Io(io::Error),
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            FrameError::Closed
        } else {
            FrameError::Io(e)
        }
    }
}

/// Encodes one frame: length prefix + JSON.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let body = serde_json::to_vec(msg).expect("protocol types always serialize");
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Blocking write of one frame (client side).
pub fn write_frame<T: Serialize>(w: &mut impl Write, msg: &T) -> io::Result<()> {
    w.write_all(&encode(msg))?;
    w.flush()
}

/// Blocking read of one frame of at most `max` bytes (client side).
pub fn read_frame<T: for<'de> Deserialize<'de>>(r: &mut impl Read, max: u32) -> Result<T, FrameError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len);
    if len > max {
        return Err(FrameError::TooLarge(len, max));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body)?;
    Ok(serde_json::from_slice(&body)?)
}

/// Async write of one frame (daemon side).
pub async fn write_frame_async<T, W>(w: &mut W, msg: &T) -> io::Result<()>
where
    T: Serialize,
    W: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncWriteExt;
    w.write_all(&encode(msg)).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Request, RequestFrame};
    use std::collections::BTreeMap;

    /// A frame survives an encode/decode round trip.
    #[test]
    fn frame_round_trip() {
        let frame = RequestFrame { id: 7, env: BTreeMap::new(), request: Request::Status };
        let bytes = encode(&frame);
        let back: RequestFrame = read_frame(&mut &bytes[..], MAX_REQUEST_BYTES).unwrap();
        assert_eq!(back.id, 7);
        assert!(matches!(back.request, Request::Status));
    }

    /// A length prefix over the limit is refused before any allocation.
    #[test]
    fn oversized_length_is_refused() {
        let bytes = (MAX_REQUEST_BYTES + 1).to_be_bytes();
        let err = read_frame::<RequestFrame>(&mut &bytes[..], MAX_REQUEST_BYTES).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge(..)), "{err}");
    }

    /// Debug output of a request never shows environment values (tokens).
    #[test]
    fn debug_hides_env_values() {
        let mut env = BTreeMap::new();
        env.insert("HF_TOKEN".to_string(), "hf_secret".to_string());
        let frame = RequestFrame { id: 1, env, request: Request::Status };
        let shown = format!("{frame:?}");
        assert!(shown.contains("HF_TOKEN") && !shown.contains("hf_secret"), "{shown}");
    }
}
