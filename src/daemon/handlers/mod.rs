//! One function per request; `dispatch` only routes.

mod chat;
mod daemon;
mod restore;
mod smoke;
mod status;
pub mod watch;
mod weights;

use super::Ctx;
use crate::knobs::Knobs;
use crate::protocol::{ErrorBody, Request, RequestFrame, Response};

pub async fn dispatch<W>(ctx: &Ctx, frame: RequestFrame, tx: &mut W) -> Result<Response, ErrorBody>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    let id = frame.id;
    let knobs = Knobs::new(frame.env);
    match frame.request {
        Request::Status => status::handle(ctx, &knobs).await,
        Request::Restore(req) => restore::handle(ctx, req, knobs).await,
        Request::DaemonInfo => daemon::info(ctx).await,
        Request::Reload => daemon::reload(ctx).await,
        Request::Shutdown => daemon::shutdown(ctx),
        Request::Chat(req) => chat::handle(ctx, id, req, tx).await,
        Request::Smoke(req) => smoke::handle(ctx, id, req, knobs, tx).await,
        Request::Weights(req) => weights::handle(ctx, id, req, knobs, tx).await,
        Request::Watch => unreachable!("streams are handled by the connection"),
    }
}

/// Drives `work` while writing each item it sends on `events` to the client
/// as an event of request `id`, then flushes what is left. A client that
/// hangs up stops the writes, never the work (a smoke's result still lands
/// in its workspace).
async fn stream_while<W, T, F>(
    id: u64,
    tx: &mut W,
    mut events: tokio::sync::mpsc::UnboundedReceiver<T>,
    to_event: fn(T) -> crate::protocol::Event,
    work: F,
) -> F::Output
where
    W: tokio::io::AsyncWrite + Unpin,
    F: std::future::Future,
{
    use crate::protocol::{write_frame_async, ServerFrame};
    tokio::pin!(work);
    let mut client_gone = false;
    loop {
        tokio::select! {
            out = &mut work => {
                while let Ok(item) = events.try_recv() {
                    if !client_gone {
                        let frame = ServerFrame::Event { id, event: to_event(item) };
                        client_gone = write_frame_async(tx, &frame).await.is_err();
                    }
                }
                return out;
            }
            Some(item) = events.recv() => {
                if !client_gone {
                    let frame = ServerFrame::Event { id, event: to_event(item) };
                    client_gone = write_frame_async(tx, &frame).await.is_err();
                }
            }
        }
    }
}
