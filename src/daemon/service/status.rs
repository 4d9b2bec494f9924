//! `runtime status` and `--watch`: the feed's document, for this request's
//! matrix knobs (`ARW_NODE_ID`, `LLAMA_GPU_SIMULATE`, TTL).

use crate::bus::Subscription;
use crate::daemon::feed::MatrixKnobs;
use crate::daemon::Ctx;
use crate::knobs::Knobs;
use crate::protocol::events::{topic, TopicFilter};
use crate::protocol::{ErrorBody, StatusReport};
use std::sync::Arc;

pub async fn status(ctx: &Ctx, knobs: &Knobs) -> Result<Arc<StatusReport>, ErrorBody> {
    let knobs = MatrixKnobs::parse(knobs)?;
    ctx.feed.report_for(ctx, &knobs).await
}

/// A `--watch` subscription: the current document first, then every
/// `runtime.updated` on the bus (SPEC §8). A slow reader skips what it
/// missed rather than falling behind: only the newest state matters.
pub struct Watch<'a> {
    ctx: &'a Ctx,
    knobs: MatrixKnobs,
    updates: Subscription,
    first: Option<Arc<StatusReport>>,
}

pub async fn watch<'a>(ctx: &'a Ctx, knobs: &Knobs) -> Result<Watch<'a>, ErrorBody> {
    let knobs = MatrixKnobs::parse(knobs)?;
    // Subscribe before reading the current document: nothing published in
    // between is missed. The replay (the newest matrix) is older than it.
    let mut updates = ctx.bus.subscribe(None, TopicFilter::parse(topic::RUNTIME_UPDATED).expect("a valid topic"));
    updates.replay.clear();
    let first = ctx.feed.report_for(ctx, &knobs).await?;
    Ok(Watch { ctx, knobs, updates, first: Some(first) })
}

impl Watch<'_> {
    /// The next document; `None` once the daemon stops publishing.
    pub async fn next(&mut self) -> Option<Arc<StatusReport>> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        loop {
            let Some(report) = self.updates.next_skipping_lag().await?.report.clone() else { continue };
            return Some(self.ctx.feed.adapt(self.ctx, report, &self.knobs));
        }
    }
}
