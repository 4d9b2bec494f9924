//! `GET /events` (SPEC §8): the bus as Server-Sent Events.
//!
//! A feeder task moves the reader's subscription into a bounded queue that
//! the response body drains. Events are the bus's own pre-rendered frames,
//! shared by every reader. A queue that stays full for [`STALL`] means the
//! reader has stopped reading (a long replay just waits its turn); so does
//! falling more than the bus's live backlog behind. Either way the feeder
//! gives up, the body ends with a comment saying why (the reader resumes by
//! `Last-Event-ID`), and a reader that does not even take that within
//! [`CUT_AFTER`] has its connection closed. Memory per reader is the queue,
//! nothing more.

use super::{error, Cutoff, Http};
use crate::protocol::events::TopicFilter;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use axum::Extension;
use bytes::Bytes;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// A comment line at least this often, so proxies and clients see life.
const KEEP_ALIVE: Duration = Duration::from_secs(10);
/// Frames queued for one reader.
const QUEUE: usize = 256;
/// A full queue that nothing is taken from for this long: a stalled reader.
const STALL: Duration = Duration::from_secs(5);
/// A stalled reader's connection is closed this long after it stalled.
const CUT_AFTER: Duration = Duration::from_secs(10);
/// Browsers reconnect after this long (the `retry:` field).
const RETRY_MS: u64 = 1000;

#[derive(serde::Deserialize)]
pub struct Params {
    after: Option<String>,
    topics: Option<String>,
}

pub async fn events(
    State(http): State<Arc<Http>>,
    Extension(cutoff): Extension<Cutoff>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response<Body> {
    let from_header = headers.get("last-event-id").map(|v| v.to_str().unwrap_or("?").to_string());
    // The header is the browser's own resume point, newer than the URL's.
    let after = match from_header.or(params.after) {
        None => None,
        Some(v) if v.trim().is_empty() => None,
        Some(v) => match v.trim().parse::<u64>() {
            Ok(id) => Some(id),
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_resume_point",
                    format!("`{}` is not an event id (want the number from an `id:` line)", crate::text::quote(&v, 40)),
                )
            }
        },
    };
    let filter = match TopicFilter::parse(params.topics.as_deref().unwrap_or("")) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_topics", e),
    };
    let sub = http.ctx.bus.subscribe(after, filter);
    let (tx, rx) = mpsc::channel::<Bytes>(QUEUE);
    let farewell = Arc::new(Mutex::new(None::<String>));
    tokio::spawn(feed(sub, tx, farewell.clone(), cutoff, http.ctx.shutdown.subscribe()));

    let first = Bytes::from(format!("retry: {RETRY_MS}\n: arw events; resume with Last-Event-ID\n\n"));
    let body = futures_util::stream::unfold((Some(first), rx, farewell), |(first, mut rx, farewell)| async move {
        if let Some(first) = first {
            return Some((Ok::<_, std::convert::Infallible>(first), (None, rx, farewell)));
        }
        match rx.recv().await {
            Some(frame) => Some((Ok(frame), (None, rx, farewell))),
            None => {
                let why = farewell.lock().unwrap_or_else(|p| p.into_inner()).take()?;
                Some((Ok(Bytes::from(format!(": {why}\n\n"))), (None, rx, farewell)))
            }
        }
    });
    let mut resp = Response::new(Body::from_stream(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

async fn feed(
    mut sub: crate::bus::Subscription,
    tx: mpsc::Sender<Bytes>,
    farewell: Arc<Mutex<Option<String>>>,
    cutoff: Cutoff,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut keep_alive = tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    let why = loop {
        let frame = tokio::select! {
            next = sub.next() => match next {
                Ok(Some(entry)) => entry.sse.clone(),
                Ok(None) => break "the daemon stopped publishing".to_string(),
                Err(missed) => break format!(
                    "disconnected: this reader fell {missed} events behind; reconnect with Last-Event-ID to resume"
                ),
            },
            _ = keep_alive.tick() => Bytes::from_static(b": keep-alive\n\n"),
            () = tx.closed() => return,
            () = async { let _ = shutdown.wait_for(|s| *s).await; } => break "the daemon is shutting down".to_string(),
        };
        match tokio::time::timeout(STALL, tx.send(frame)).await {
            Ok(Ok(())) => keep_alive.reset(),
            Ok(Err(_)) => return,
            Err(_) => {
                break format!(
                    "disconnected: this reader stopped reading ({QUEUE} events waiting for {} s); reconnect \
                     with Last-Event-ID to resume",
                    STALL.as_secs()
                )
            }
        }
    };
    *farewell.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
    drop(tx);
    tokio::time::sleep(CUT_AFTER).await;
    cutoff.cut();
}
