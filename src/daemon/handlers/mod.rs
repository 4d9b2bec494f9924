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
