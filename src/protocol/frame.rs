//! Framing: a 4-byte big-endian length, then that many bytes of JSON.

use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// Frames above this are refused: the connection is closed after an error reply.
pub const MAX_FRAME_BYTES: u32 = 4 * 1024 * 1024;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge(u32),
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

/// Blocking read of one frame (client side).
pub fn read_frame<T: for<'de> Deserialize<'de>>(r: &mut impl Read) -> Result<T, FrameError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len);
    if len > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(len));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body)?;
    Ok(serde_json::from_slice(&body)?)
}

/// Async read of one frame (daemon side).
pub async fn read_frame_async<T, R>(r: &mut R) -> Result<T, FrameError>
where
    T: for<'de> Deserialize<'de>,
    R: tokio::io::AsyncRead + Unpin,
{
    use tokio::io::AsyncReadExt;
    let len = r.read_u32().await?;
    if len > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(len));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body).await?;
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
        let back: RequestFrame = read_frame(&mut &bytes[..]).unwrap();
        assert_eq!(back.id, 7);
        assert!(matches!(back.request, Request::Status));
    }

    /// A length prefix over the limit is refused before any allocation.
    #[test]
    fn oversized_length_is_refused() {
        let bytes = (MAX_FRAME_BYTES + 1).to_be_bytes();
        let err = read_frame::<RequestFrame>(&mut &bytes[..]).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge(_)), "{err}");
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
