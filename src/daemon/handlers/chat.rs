//! `arw chat`: forwards an OpenAI chat request to a runtime; streamed
//! pieces go to the client as `chat.delta` events.

use crate::daemon::Ctx;
use crate::protocol::{self, ChatRequest, ErrorBody, Event, Response, ServerFrame};

pub async fn handle<W>(ctx: &Ctx, id: u64, req: ChatRequest, tx: &mut W) -> Result<Response, ErrorBody>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    let (delta_tx, mut deltas) = tokio::sync::mpsc::unbounded_channel();
    let chat = crate::proxy::chat(ctx, &req.runtime, req.body, move |d| {
        let _ = delta_tx.send(d);
    });
    tokio::pin!(chat);
    loop {
        tokio::select! {
            reply = &mut chat => {
                while let Ok(d) = deltas.try_recv() {
                    let _ = protocol::write_frame_async(tx, &ServerFrame::Event { id, event: Event::ChatDelta(d) }).await;
                }
                return reply.map(Response::Chat);
            }
            Some(d) = deltas.recv() => {
                let _ = protocol::write_frame_async(tx, &ServerFrame::Event { id, event: Event::ChatDelta(d) }).await;
            }
        }
    }
}
