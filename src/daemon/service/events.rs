//! `arw events`: a bus subscription for one request (SPEC §8).

use crate::bus::Subscription;
use crate::daemon::Ctx;
use crate::protocol::events::TopicFilter;
use crate::protocol::{ErrorBody, ErrorKind, EventsRequest};

/// A subscription for `req`: without `follow`, the front end sends its
/// replay and ends; with it, it goes on live.
pub fn subscribe(ctx: &Ctx, req: &EventsRequest) -> Result<Subscription, ErrorBody> {
    let filter = TopicFilter::parse(&req.topics)
        .map_err(|e| ErrorBody::new(ErrorKind::BadRequest, e).with_hint("see `arw events --help` for topics"))?;
    let after = match (req.after, req.follow) {
        (Some(a), _) => Some(a),
        (None, true) => None,
        // Everything the bus still holds.
        (None, false) => Some(ctx.bus.oldest_id().saturating_sub(1)),
    };
    Ok(ctx.bus.subscribe(after, filter))
}
