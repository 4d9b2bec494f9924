//! `arw events`: a bus subscription for one request (SPEC §8).

use crate::bus::{Entry, Subscription};
use crate::daemon::feed::MatrixKnobs;
use crate::daemon::Ctx;
use crate::knobs::Knobs;
use crate::protocol::events::Envelope;
use crate::protocol::events::TopicFilter;
use crate::protocol::{ErrorBody, ErrorKind, EventsRequest};

/// A subscription for `req`: without `follow`, the front end sends its
/// replay and ends; with it, it goes on live. The request's matrix knobs
/// (`ARW_NODE_ID`, TTL, simulated GPU) shape the matrices it is shown, as
/// for `--watch`.
pub fn subscribe(ctx: &Ctx, req: &EventsRequest, knobs: &Knobs) -> Result<(Subscription, MatrixKnobs), ErrorBody> {
    let knobs = MatrixKnobs::parse(knobs)?;
    let filter = TopicFilter::parse(&req.topics)
        .map_err(|e| ErrorBody::new(ErrorKind::BadRequest, e).with_hint("see `arw events --help` for topics"))?;
    let after = match (req.after, req.follow) {
        (Some(a), _) => Some(a),
        (None, true) => None,
        // Everything the bus still holds.
        (None, false) => Some(ctx.bus.oldest_id().saturating_sub(1)),
    };
    Ok((ctx.bus.subscribe(after, filter), knobs))
}

/// `entry` as this reader is shown it: a matrix is recomputed for its
/// knobs when they differ from the daemon's.
pub fn envelope(ctx: &Ctx, entry: &Entry, knobs: &MatrixKnobs) -> Envelope {
    let mut envelope = entry.envelope();
    if let Some(report) = &entry.report {
        let adapted = ctx.feed.adapt(ctx, report.clone(), knobs);
        if !std::sync::Arc::ptr_eq(&adapted, report) {
            let data = if entry.topic == crate::protocol::events::topic::EVENTS_RESET {
                let reason = serde_json::from_str::<serde_json::Value>(envelope.data.get())
                    .ok()
                    .and_then(|d| d["reason"].as_str().map(String::from))
                    .unwrap_or_default();
                serde_json::to_string(&crate::protocol::events::Reset { reason, snapshot: Some(adapted) })
            } else {
                serde_json::to_string(&*adapted)
            };
            if let Ok(raw) =
                data.map_err(|_| ()).and_then(|d| serde_json::value::RawValue::from_string(d).map_err(|_| ()))
            {
                envelope.data = raw;
            }
        }
    }
    envelope
}
