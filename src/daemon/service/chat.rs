//! `arw chat`: an OpenAI chat request forwarded to a runtime; streamed
//! pieces go to `deltas` as they arrive.

use crate::daemon::Ctx;
use crate::protocol::{ChatReply, ChatRequest, ErrorBody};
use tokio::sync::mpsc::UnboundedSender;

pub async fn chat(ctx: &Ctx, req: ChatRequest, deltas: UnboundedSender<String>) -> Result<ChatReply, ErrorBody> {
    ctx.forward
        .chat(&req.runtime, req.body, move |d| {
            let _ = deltas.send(d);
        })
        .await
}
