//! One client connection: handshake, then requests until the client hangs up.
//!
//! Only a peer of our own uid gets a conversation (`SO_PEERCRED`). A hello
//! is due within 5 s; after the handshake a connection that sends nothing
//! for 30 s between requests is closed, and a frame's body must arrive
//! within 30 s of its length. A frame that is too large or is not a request
//! gets one `bad_frame` error reply and the connection is closed; other
//! connections never notice. Request bodies are buffered within one
//! daemon-wide budget, so many clients sending large frames at once cannot
//! grow the daemon without bound.

use super::dispatch;
use crate::daemon::Ctx;
use crate::knobs::Knobs;
use crate::protocol::{
    self, ErrorBody, ErrorKind, FrameError, Hello, Request, RequestFrame, ServerFrame, Welcome, MAX_REQUEST_BYTES,
};
use interprocess::local_socket::traits::StreamCommon as _;
use serde::Deserialize;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;

/// A client must say hello within this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// A handshaken connection with no request for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The rest of a frame must follow its length prefix within this time.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// A hello is tiny; nothing bigger is read before the handshake.
const MAX_HELLO_BYTES: u32 = 64 * 1024;
/// Request bodies being read, all connections together, in KiB.
const BUFFER_BUDGET_KIB: u32 = 64 * 1024;
/// How long a frame waits for room in the budget before it is refused.
const BUDGET_WAIT: Duration = Duration::from_secs(5);
/// Frames up to this size skip the budget, so `status` and `daemon stop`
/// get through while large frames wait (the connection cap bounds them).
const SMALL_FRAME_BYTES: u32 = 64 * 1024;

static BUFFER_BUDGET: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(BUFFER_BUDGET_KIB as usize));

/// Counts the connection as a client for as long as it lives.
struct ClientGuard<'a>(&'a Ctx);

impl<'a> ClientGuard<'a> {
    fn new(ctx: &'a Ctx) -> Self {
        ctx.clients.send_modify(|n| *n += 1);
        ClientGuard(ctx)
    }
}

impl Drop for ClientGuard<'_> {
    fn drop(&mut self) {
        self.0.clients.send_modify(|n| *n -= 1);
    }
}

/// Why no request came.
enum ReadError {
    Frame(FrameError),
    Idle,
    Slow,
    Busy,
}

/// Reads one frame: the length within `idle`, the body within
/// [`BODY_TIMEOUT`], its bytes counted against the daemon-wide budget.
async fn read_frame<T, R>(rx: &mut R, max: u32, idle: Duration) -> Result<T, ReadError>
where
    T: for<'de> Deserialize<'de>,
    R: tokio::io::AsyncRead + Unpin,
{
    let len = match tokio::time::timeout(idle, rx.read_u32()).await {
        Ok(Ok(len)) => len,
        Ok(Err(e)) => return Err(ReadError::Frame(e.into())),
        Err(_) => return Err(ReadError::Idle),
    };
    if len > max {
        return Err(ReadError::Frame(FrameError::TooLarge(len, max)));
    }
    let _permit = if len > SMALL_FRAME_BYTES {
        match tokio::time::timeout(BUDGET_WAIT, BUFFER_BUDGET.acquire_many(len.div_ceil(1024))).await {
            Ok(Ok(p)) => Some(p),
            _ => return Err(ReadError::Busy),
        }
    } else {
        None
    };
    let mut body = vec![0u8; len as usize];
    match tokio::time::timeout(BODY_TIMEOUT, rx.read_exact(&mut body)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(ReadError::Frame(e.into())),
        Err(_) => return Err(ReadError::Slow),
    }
    serde_json::from_slice(&body).map_err(|e| ReadError::Frame(e.into()))
}

/// Which kind of slot a connection holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Normal,
    /// Over the cap: one quick request, then the connection is closed.
    Reserved,
}

/// What may use a reserved slot: answered at once, nothing streamed.
fn quick(request: &Request) -> bool {
    matches!(request, Request::Status | Request::DaemonInfo | Request::Reload | Request::Shutdown)
}

pub async fn handle(conn: interprocess::local_socket::tokio::Stream, ctx: Arc<Ctx>, slot: Slot) {
    let _client = ClientGuard::new(&ctx);
    let (mut rx, mut tx) = (&conn, &conn);

    let own = crate::sys::euid();
    match conn.peer_creds().map(|c| c.euid()) {
        Ok(Some(uid)) if uid == own => {}
        other => {
            let who = match other {
                Ok(Some(uid)) => format!("uid {uid}"),
                _ => "an unknown peer".to_string(),
            };
            crate::dlog!("refused a connection from {who}: this daemon serves uid {own} only");
            return;
        }
    }

    let hello = match read_frame::<Hello, _>(&mut rx, MAX_HELLO_BYTES, HANDSHAKE_TIMEOUT).await {
        Ok(h) => h,
        Err(ReadError::Frame(FrameError::Closed)) => return,
        Err(ReadError::Idle | ReadError::Slow) => return reject(&mut tx, "no handshake within 5 s".to_string()).await,
        Err(ReadError::Busy) => return refuse(&mut tx).await,
        Err(ReadError::Frame(e)) => return reject(&mut tx, format!("expected a handshake: {e}")).await,
    };
    let welcome = Welcome {
        protocol: protocol::PROTOCOL_VERSION,
        build_id: ctx.build_id.clone(),
        pid: std::process::id(),
        registry_origin: Some(ctx.origin()),
        env_refs: ctx.env_refs(),
        http: ctx.http_url.clone(),
    };
    let matched = hello.protocol == welcome.protocol && hello.build_id == welcome.build_id;
    if protocol::write_frame_async(&mut tx, &welcome).await.is_err() || !matched {
        // A different build never gets a conversation; it decides what to do
        // with the Welcome (replace us, or tell its user).
        return;
    }

    loop {
        let frame: RequestFrame = match read_frame(&mut rx, MAX_REQUEST_BYTES, IDLE_TIMEOUT).await {
            Ok(f) => f,
            Err(ReadError::Frame(FrameError::Closed) | ReadError::Idle) => return,
            Err(ReadError::Slow) => return reject(&mut tx, "the request did not arrive within 30 s".into()).await,
            Err(ReadError::Busy) => return refuse(&mut tx).await,
            Err(ReadError::Frame(e)) => return reject(&mut tx, e.to_string()).await,
        };
        let id = frame.id;
        if slot == Slot::Reserved && !quick(&frame.request) {
            let _ = dispatch::reply(&mut tx, id, Err(busy())).await;
            return;
        }
        if let Request::Watch = frame.request {
            dispatch::watch(&ctx, id, frame.env, &mut rx, &mut tx).await;
            return;
        }
        if let Request::Events(req) = &frame.request {
            dispatch::events(&ctx, id, req, Knobs::new(frame.env.clone()), &mut rx, &mut tx).await;
            return;
        }
        if let Request::Logs(req) = &frame.request {
            if req.follow {
                dispatch::logs(&ctx, id, req, &mut rx, &mut tx).await;
                return;
            }
        }
        ctx.in_flight.fetch_add(1, Ordering::SeqCst);
        let result = dispatch::dispatch(&ctx, frame, &mut rx, &mut tx).await;
        ctx.in_flight.fetch_sub(1, Ordering::SeqCst);
        // Wake the drain loop in shutdown, which waits on client changes.
        ctx.clients.send_modify(|_| {});
        if dispatch::reply(&mut tx, id, result).await.is_err() || slot == Slot::Reserved {
            return;
        }
    }
}

async fn reject<W: tokio::io::AsyncWrite + Unpin>(tx: &mut W, message: String) {
    let reply = ServerFrame::Response {
        id: 0,
        result: Err(ErrorBody::new(ErrorKind::BadFrame, message)
            .with_hint("the connection is closed; clients speak length-prefixed JSON frames starting with a hello")),
    };
    let _ = protocol::write_frame_async(tx, &reply).await;
}

async fn refuse<W: tokio::io::AsyncWrite + Unpin>(tx: &mut W) {
    let reply = ServerFrame::Response { id: 0, result: Err(busy()) };
    let _ = protocol::write_frame_async(tx, &reply).await;
}

fn busy() -> ErrorBody {
    ErrorBody::new(ErrorKind::Busy, "the daemon is at its connection or buffer limit").with_hint(
        "try again in a moment; close clients you do not need (`--watch` streams hold a connection), \
             or start the daemon with a larger `ARW_MAX_CONNECTIONS`",
    )
}

/// Tells a client there is no room for it now, and closes.
pub async fn refuse_busy(conn: interprocess::local_socket::tokio::Stream) {
    let mut tx = &conn;
    let reply = ServerFrame::Response { id: 0, result: Err(busy()) };
    let _ = tokio::time::timeout(Duration::from_secs(1), protocol::write_frame_async(&mut tx, &reply)).await;
}
