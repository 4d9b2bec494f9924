//! `runtime weights` over the socket: the work is [`crate::weights::service`];
//! this forwards its progress as `weights.progress` events of the request.

use crate::daemon::Ctx;
use crate::knobs::Knobs;
use crate::protocol::{ErrorBody, Event, Response, WeightsRequest};

pub async fn handle<W>(ctx: &Ctx, id: u64, req: WeightsRequest, knobs: Knobs, tx: &mut W) -> Result<Response, ErrorBody>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    let (events, rx) = tokio::sync::mpsc::unbounded_channel();
    let cache = ctx.paths.cache_dir();
    let work = crate::weights::service::run(&ctx.weights, &cache, req, knobs, events);
    super::stream_while(id, tx, rx, Event::WeightsProgress, work).await.map(Response::Weights)
}
