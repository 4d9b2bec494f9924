//! `arw chat`: forwards an OpenAI chat request to a runtime; streamed
//! pieces go to the client as `chat.delta` events.

use crate::daemon::Ctx;
use crate::protocol::{ChatRequest, ErrorBody, Event, Response};

pub async fn handle<W>(ctx: &Ctx, id: u64, req: ChatRequest, tx: &mut W) -> Result<Response, ErrorBody>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    let (delta_tx, deltas) = tokio::sync::mpsc::unbounded_channel();
    let chat = crate::proxy::chat(ctx, &req.runtime, req.body, move |d| {
        let _ = delta_tx.send(d);
    });
    super::stream_while(id, tx, deltas, Event::ChatDelta, chat).await.map(Response::Chat)
}
