//! One function per request; `dispatch` only routes.

mod daemon;
mod restore;
mod status;
pub mod watch;

use super::Ctx;
use crate::knobs::Knobs;
use crate::protocol::{ErrorBody, Request, RequestFrame, Response};

pub async fn dispatch<W>(ctx: &Ctx, frame: RequestFrame, _tx: &mut W) -> Result<Response, ErrorBody>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    let knobs = Knobs::new(frame.env);
    match frame.request {
        Request::Status => status::handle(ctx, &knobs).await,
        Request::Restore(req) => restore::handle(ctx, req, knobs).await,
        Request::DaemonInfo => daemon::info(ctx).await,
        Request::Reload => daemon::reload(ctx).await,
        Request::Shutdown => daemon::shutdown(ctx),
        Request::Watch => unreachable!("streams are handled by the connection"),
    }
}
