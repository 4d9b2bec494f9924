//! `GET /events` (SPEC §8): the bus as Server-Sent Events.
//!
//! A feeder task moves the reader's subscription into a queue that the
//! response body drains; frames are the bus's own pre-rendered ones, shared
//! by every reader, and whatever is queued goes out in one write. The queue
//! is bounded per reader (frames and bytes) and across all readers
//! (bytes): a reader whose queue stays full for [`STALL`] has stopped
//! reading (a long replay just waits its turn), as has one that falls more
//! than the bus's live backlog behind. Then its queue is dropped, the body
//! ends with a comment saying why (the reader resumes by `Last-Event-ID`),
//! and a body still unfinished [`CUT_AFTER`] later has its connection
//! closed. The memory stalled readers can hold is bounded by
//! [`ALL_READERS_BYTES`], whatever the size of a matrix.

use super::{error, Cutoff, Http};
use crate::protocol::events::TopicFilter;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use axum::Extension;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// A comment line at least this often, so proxies and clients see life.
const KEEP_ALIVE: Duration = Duration::from_secs(10);
/// Frames queued for one reader…
const QUEUE_FRAMES: usize = 256;
/// …and bytes (one frame always fits, however large).
const QUEUE_BYTES: usize = 8 * 1024 * 1024;
/// Bytes queued for all readers together.
const ALL_READERS_BYTES: usize = 64 * 1024 * 1024;
/// A full queue that nothing is taken from for this long: a stalled reader.
const STALL: Duration = Duration::from_secs(5);
/// A stalled reader's connection is closed this long after it stalled.
const CUT_AFTER: Duration = Duration::from_secs(10);
/// Browsers reconnect after this long (the `retry:` field).
const RETRY_MS: u64 = 1000;
/// A coalesced write stops growing past this size.
const COALESCE_BYTES: usize = 256 * 1024;

/// Bytes queued for every reader of this process.
static QUEUED: AtomicUsize = AtomicUsize::new(0);

#[derive(serde::Deserialize)]
pub struct Params {
    after: Option<String>,
    topics: Option<String>,
}

pub async fn events(
    State(http): State<Arc<Http>>,
    Extension(cutoff): Extension<Cutoff>,
    params: Result<Query<Params>, QueryRejection>,
    headers: HeaderMap,
) -> Response<Body> {
    let params = match params {
        Ok(Query(p)) => p,
        Err(e) => {
            let why = crate::text::quote(&e.body_text(), 200);
            return error(
                StatusCode::BAD_REQUEST,
                "bad_query",
                format!("{why}; use `?after=ID&topics=PATTERNS` once each"),
            );
        }
    };
    // The header is the browser's own resume point, newer than the URL's;
    // an empty one is no resume point at all.
    let from_header =
        headers.get("last-event-id").map(|v| v.to_str().unwrap_or("?").trim().to_string()).filter(|v| !v.is_empty());
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
    let queue = Arc::new(Queue::default());
    tokio::spawn(feed(sub, queue.clone(), cutoff, http.ctx.shutdown.subscribe()));

    let first = Bytes::from(format!("retry: {RETRY_MS}\n: arw events; resume with Last-Event-ID\n\n"));
    let body = futures_util::stream::unfold((Some(first), queue), |(first, queue)| async move {
        if let Some(first) = first {
            return Some((Ok::<_, std::convert::Infallible>(first), (None, queue)));
        }
        let chunk = queue.next().await?;
        Some((Ok(chunk), (None, queue)))
    });
    let mut resp = Response::new(Body::from_stream(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// One reader's frames, between the feeder and the response body.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    /// The body took something, or there is something to take.
    changed: Notify,
    /// The body has sent its last chunk (or was dropped).
    done: AtomicBool,
}

#[derive(Default)]
struct QueueState {
    frames: VecDeque<Bytes>,
    bytes: usize,
    /// Set when the feeder gives up: the body's last words.
    farewell: Option<String>,
    closed: bool,
}

impl Queue {
    fn state(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `frame` if it fits; `false` when the reader has no room.
    fn try_push(&self, frame: &Bytes) -> bool {
        let mut s = self.state();
        let fits_reader =
            s.frames.is_empty() || (s.frames.len() < QUEUE_FRAMES && s.bytes + frame.len() <= QUEUE_BYTES);
        let fits_all = s.frames.is_empty() || QUEUED.load(Ordering::Relaxed) + frame.len() <= ALL_READERS_BYTES;
        if !(fits_reader && fits_all) {
            return false;
        }
        s.bytes += frame.len();
        QUEUED.fetch_add(frame.len(), Ordering::Relaxed);
        s.frames.push_back(frame.clone());
        drop(s);
        self.changed.notify_waiters();
        true
    }

    /// Drops what is queued and ends the body with `why`.
    fn close(&self, why: Option<String>) {
        let mut s = self.state();
        QUEUED.fetch_sub(s.bytes, Ordering::Relaxed);
        s.frames.clear();
        s.bytes = 0;
        s.farewell = why;
        s.closed = true;
        drop(s);
        self.changed.notify_waiters();
    }

    /// What the body sends next: everything queued, in one chunk.
    async fn next(&self) -> Option<Bytes> {
        loop {
            let notified = self.changed.notified();
            {
                let mut s = self.state();
                if let Some(first) = s.frames.pop_front() {
                    let mut taken = first.len();
                    let chunk = if s.frames.is_empty() {
                        first
                    } else {
                        let mut out = bytes::BytesMut::with_capacity(COALESCE_BYTES.min(s.bytes));
                        out.extend_from_slice(&first);
                        while out.len() < COALESCE_BYTES {
                            let Some(next) = s.frames.pop_front() else { break };
                            taken += next.len();
                            out.extend_from_slice(&next);
                        }
                        out.freeze()
                    };
                    s.bytes -= taken;
                    QUEUED.fetch_sub(taken, Ordering::Relaxed);
                    drop(s);
                    self.changed.notify_waiters();
                    return Some(chunk);
                }
                if s.closed {
                    let last = s.farewell.take().map(|why| Bytes::from(format!(": {why}\n\n")));
                    if last.is_none() {
                        self.done.store(true, Ordering::Relaxed);
                    }
                    return last;
                }
            }
            notified.await;
        }
    }

    /// Waits until `frame` fits; `false` after [`STALL`] without room.
    async fn push(&self, frame: Bytes) -> bool {
        let deadline = tokio::time::Instant::now() + STALL;
        loop {
            let notified = self.changed.notified();
            if self.try_push(&frame) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        QUEUED.fetch_sub(self.state().bytes, Ordering::Relaxed);
    }
}

async fn feed(
    mut sub: crate::bus::Subscription,
    queue: Arc<Queue>,
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
            () = async { let _ = shutdown.wait_for(|s| *s).await; } => break "the daemon is shutting down".to_string(),
        };
        // The body is gone (the reader hung up): nothing more to do.
        if Arc::strong_count(&queue) == 1 || queue.done.load(Ordering::Relaxed) {
            return;
        }
        if !queue.push(frame).await {
            dlog!("an /events reader stopped reading for {} s; disconnecting it", STALL.as_secs());
            break format!(
                "disconnected: this reader stopped reading (its queue was full for {} s); reconnect with \
                 Last-Event-ID to resume",
                STALL.as_secs()
            );
        }
        keep_alive.reset();
    };
    queue.close(Some(why));
    tokio::time::sleep(CUT_AFTER).await;
    // A reader that took its last words has a finished response on a
    // connection it may reuse; only a stuck one is cut.
    if Arc::strong_count(&queue) > 1 && !queue.done.load(Ordering::Relaxed) {
        cutoff.cut();
    }
}
