//! One client connection: handshake, then requests until the client hangs up.
//!
//! A frame that is too large or is not a request gets one `bad_frame` error
//! reply and the connection is closed; other connections never notice.

use super::{handlers, Ctx};
use crate::protocol::{self, ErrorBody, ErrorKind, FrameError, Hello, RequestFrame, ServerFrame, Welcome};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// A client must say hello within this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

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

pub async fn handle(conn: interprocess::local_socket::tokio::Stream, ctx: Arc<Ctx>) {
    let _client = ClientGuard::new(&ctx);
    let (mut rx, mut tx) = (&conn, &conn);

    let hello = match tokio::time::timeout(HANDSHAKE_TIMEOUT, protocol::read_frame_async::<Hello, _>(&mut rx)).await {
        Ok(Ok(h)) => h,
        Ok(Err(FrameError::Closed)) => return,
        Ok(Err(e)) => return reject(&mut tx, format!("expected a handshake: {e}")).await,
        Err(_) => return reject(&mut tx, "no handshake within 5 s".to_string()).await,
    };
    let welcome = Welcome {
        protocol: protocol::PROTOCOL_VERSION,
        build_id: ctx.build_id.clone(),
        pid: std::process::id(),
        registry_origin: Some(ctx.origin.lock().unwrap_or_else(|p| p.into_inner()).clone()),
    };
    let matched = hello.protocol == welcome.protocol && hello.build_id == welcome.build_id;
    if protocol::write_frame_async(&mut tx, &welcome).await.is_err() || !matched {
        // A different build never gets a conversation; it decides what to do
        // with the Welcome (replace us, or tell its user).
        return;
    }

    loop {
        let frame = match protocol::read_frame_async::<RequestFrame, _>(&mut rx).await {
            Ok(f) => f,
            Err(FrameError::Closed) => return,
            Err(e) => return reject(&mut tx, e.to_string()).await,
        };
        let id = frame.id;
        if let crate::protocol::Request::Watch = frame.request {
            handlers::watch::stream(&ctx, id, frame.env, &mut rx, &mut tx).await;
            return;
        }
        ctx.in_flight.fetch_add(1, Ordering::SeqCst);
        let result = handlers::dispatch(&ctx, frame, &mut tx).await;
        ctx.in_flight.fetch_sub(1, Ordering::SeqCst);
        // Wake the drain loop in shutdown, which waits on client changes.
        ctx.clients.send_modify(|_| {});
        let reply = ServerFrame::Response { id, result };
        if protocol::write_frame_async(&mut tx, &reply).await.is_err() {
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
