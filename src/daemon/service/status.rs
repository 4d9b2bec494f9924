//! `runtime status` and `--watch`: the feed's document, for this request's
//! matrix knobs (`ARW_NODE_ID`, `LLAMA_GPU_SIMULATE`, TTL).

use crate::daemon::feed::MatrixKnobs;
use crate::daemon::Ctx;
use crate::knobs::Knobs;
use crate::protocol::{ErrorBody, StatusReport};
use std::sync::Arc;
use tokio::sync::watch;

pub async fn status(ctx: &Ctx, knobs: &Knobs) -> Result<Arc<StatusReport>, ErrorBody> {
    let knobs = MatrixKnobs::parse(knobs)?;
    ctx.feed.report_for(ctx, &knobs).await
}

/// A `--watch` subscription: the current document first, then every one
/// the feed publishes. A slow reader skips to the newest (a watch channel
/// keeps only the latest), so it never falls behind.
pub struct Watch<'a> {
    ctx: &'a Ctx,
    knobs: MatrixKnobs,
    updates: watch::Receiver<Option<Arc<StatusReport>>>,
    first: Option<Arc<StatusReport>>,
}

pub async fn watch<'a>(ctx: &'a Ctx, knobs: &Knobs) -> Result<Watch<'a>, ErrorBody> {
    let knobs = MatrixKnobs::parse(knobs)?;
    // Subscribe before reading the current document: nothing published in
    // between is missed.
    let mut updates = ctx.feed.subscribe();
    updates.mark_unchanged();
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
            self.updates.changed().await.ok()?;
            let Some(report) = self.updates.borrow_and_update().clone() else { continue };
            return Some(self.ctx.feed.adapt(self.ctx, report, &self.knobs));
        }
    }
}
