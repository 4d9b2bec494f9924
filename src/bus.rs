//! The daemon's one event bus (SPEC §8).
//!
//! Every event gets its id under the bus lock, is serialised once (the
//! envelope and its SSE frame are shared by every reader), kept in a ring
//! for resumes and broadcast live. A reader that resumes takes its live
//! subscription and its replay under that same lock, so the replay ends
//! exactly where the live stream starts: no gap, no duplicate, in order.
//!
//! Ids are monotonic across daemon lives, not only within one: the first
//! id is the daemon's start time in milliseconds × 1000, so an id kept by a
//! dashboard from an earlier daemon is older than anything this one holds
//! and gets an `events.reset` rather than a silent gap. (They stay below
//! 2^53, so JavaScript reads them exactly.)

use crate::protocol::events::{topic, Envelope, Reset, TopicFilter};
use crate::protocol::StatusReport;
use bytes::Bytes;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// The ring keeps at most this many events for resumes…
pub const RING_EVENTS: usize = 1024;
/// …and at most this many bytes of them (matrix snapshots of a big
/// registry are large); the older ones are pruned first.
pub const RING_BYTES: usize = 32 * 1024 * 1024;
/// A live reader this many events behind is cut off (it resumes by id).
const LIVE_BACKLOG: usize = 1024;

/// One published event.
#[derive(Debug)]
pub struct Entry {
    pub id: u64,
    pub topic: String,
    /// The envelope `{"id","topic","time","data"}` as JSON.
    pub json: Arc<str>,
    /// The same as one SSE event: `id:`, `event:`, `data:` lines.
    pub sse: Bytes,
    /// For `runtime.updated`: the document itself, for in-process readers.
    pub report: Option<Arc<StatusReport>>,
}

impl Entry {
    fn new(id: u64, topic: &str, data: &str, report: Option<Arc<StatusReport>>) -> Entry {
        let time = crate::time::now_rfc3339();
        // `data` is already JSON; the topic and time need no escaping
        // beyond what serde gives them.
        let json: Arc<str> = format!(
            "{{\"id\":{id},\"topic\":{},\"time\":{},\"data\":{data}}}",
            serde_json::to_string(topic).unwrap_or_default(),
            serde_json::to_string(&time).unwrap_or_default()
        )
        .into();
        // JSON from serde_json never holds a raw newline, so one `data:` line.
        let sse = Bytes::from(format!("id: {id}\nevent: {topic}\ndata: {json}\n\n"));
        Entry { id, topic: topic.to_string(), json, sse, report }
    }

    pub fn envelope(&self) -> Envelope {
        serde_json::from_str(&self.json).expect("the bus writes valid envelopes")
    }
}

struct Ring {
    next_id: u64,
    entries: VecDeque<Arc<Entry>>,
    bytes: usize,
    /// The newest `runtime.updated`: where a new reader starts, and what
    /// an `events.reset` carries.
    latest: Option<Arc<Entry>>,
}

pub struct Bus {
    ring: Mutex<Ring>,
    live: broadcast::Sender<Arc<Entry>>,
    first_id: u64,
}

/// What a reader gets: the replay (or a reset), then the live stream.
pub struct Subscription {
    pub replay: VecDeque<Arc<Entry>>,
    pub live: broadcast::Receiver<Arc<Entry>>,
    pub filter: TopicFilter,
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new()
    }
}

impl Bus {
    pub fn new() -> Bus {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Bus::starting_at(now_ms.saturating_mul(1000).max(1))
    }

    fn starting_at(first_id: u64) -> Bus {
        Bus {
            ring: Mutex::new(Ring { next_id: first_id, entries: VecDeque::new(), bytes: 0, latest: None }),
            live: broadcast::channel(LIVE_BACKLOG).0,
            first_id,
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes `data` on `topic`; returns its id.
    pub fn publish<T: Serialize>(&self, topic: &str, data: &T) -> u64 {
        let json = serde_json::to_string(data).unwrap_or_else(|_| "null".into());
        self.publish_json(topic, &json, None)
    }

    /// `runtime.updated`: the document travels typed beside its JSON.
    pub fn publish_report(&self, report: Arc<StatusReport>) -> u64 {
        let json = serde_json::to_string(&*report).unwrap_or_else(|_| "null".into());
        self.publish_json(topic::RUNTIME_UPDATED, &json, Some(report))
    }

    fn publish_json(&self, topic: &str, json: &str, report: Option<Arc<StatusReport>>) -> u64 {
        let mut ring = self.ring();
        let id = ring.next_id;
        ring.next_id += 1;
        let is_report = report.is_some();
        let entry = Arc::new(Entry::new(id, topic, json, report));
        if is_report {
            ring.latest = Some(entry.clone());
        }
        ring.bytes += entry.sse.len();
        ring.entries.push_back(entry.clone());
        while ring.entries.len() > RING_EVENTS || (ring.bytes > RING_BYTES && ring.entries.len() > 1) {
            if let Some(old) = ring.entries.pop_front() {
                ring.bytes -= old.sse.len();
            }
        }
        // Sent under the lock: a subscriber either copied this entry in
        // its replay or receives it live, never both, never neither.
        let _ = self.live.send(entry);
        id
    }

    /// The last id published (or one before the first, when none was).
    pub fn last_id(&self) -> u64 {
        self.ring().next_id - 1
    }

    /// The oldest id the ring still holds (the next id when it is empty).
    pub fn oldest_id(&self) -> u64 {
        let ring = self.ring();
        ring.entries.front().map(|e| e.id).unwrap_or(ring.next_id)
    }

    /// A subscription that resumes after `after`. `None`: a new reader,
    /// which starts from the newest `runtime.updated` (so it has the state
    /// before the first change) and goes live. A
    /// resume point the ring no longer covers — pruned, from an earlier
    /// daemon, or not issued yet — starts with an `events.reset` carrying
    /// the newest matrix.
    pub fn subscribe(&self, after: Option<u64>, filter: TopicFilter) -> Subscription {
        let ring = self.ring();
        let live = self.live.subscribe();
        let last = ring.next_id - 1;
        let oldest = ring.entries.front().map(|e| e.id).unwrap_or(ring.next_id);
        let latest_report = || ring.latest.as_ref().and_then(|e| e.report.clone());
        let replay = match after {
            None => ring.latest.iter().filter(|e| filter.matches(&e.topic)).cloned().collect(),
            Some(a) if a == last => VecDeque::new(),
            // (`a` comes from a reader: no arithmetic on it may overflow.)
            Some(a) if a.saturating_add(1) >= oldest && a < last => {
                ring.entries.iter().filter(|e| e.id > a && filter.matches(&e.topic)).cloned().collect()
            }
            Some(a) => {
                let reason = if a > last {
                    format!("event {a} was never published by this daemon (its last is {last}); starting afresh")
                } else if a.saturating_add(1) < self.first_id {
                    format!("event {a} is from an earlier daemon; starting afresh")
                } else {
                    format!(
                        "events after {a} are no longer kept (the oldest kept is {oldest}; the bus keeps {RING_EVENTS}); starting afresh"
                    )
                };
                let reset = Reset { reason, snapshot: latest_report() };
                let json = serde_json::to_string(&reset).unwrap_or_else(|_| "null".into());
                // It carries the last id: a reader that resumes from it
                // next time continues from here.
                VecDeque::from([Arc::new(Entry::new(last, topic::EVENTS_RESET, &json, latest_report()))])
            }
        };
        drop(ring);
        Subscription { replay, live, filter }
    }

    /// The newest matrix document published, if any.
    pub fn latest_report(&self) -> Option<Arc<StatusReport>> {
        self.ring().latest.as_ref().and_then(|e| e.report.clone())
    }
}

impl Subscription {
    /// The next event for this reader: the replay first, then live ones
    /// that pass the filter. `Err(n)`: the reader fell `n` events behind
    /// and must resume by id; `Ok(None)`: the bus is gone.
    pub async fn next(&mut self) -> Result<Option<Arc<Entry>>, u64> {
        if let Some(entry) = self.replay.pop_front() {
            return Ok(Some(entry));
        }
        loop {
            match self.live.recv().await {
                Ok(e) if self.filter.matches(&e.topic) || e.topic == topic::EVENTS_RESET => return Ok(Some(e)),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(n)) => return Err(n),
                Err(broadcast::error::RecvError::Closed) => return Ok(None),
            }
        }
    }

    /// Like [`Subscription::next`], but a reader that only wants the
    /// newest state (a `--watch`) skips what it missed instead of failing.
    pub async fn next_skipping_lag(&mut self) -> Option<Arc<Entry>> {
        loop {
            match self.next().await {
                Ok(e) => return e,
                Err(_) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(s: &Subscription) -> Vec<u64> {
        s.replay.iter().map(|e| e.id).collect()
    }

    #[tokio::test]
    async fn a_resume_replays_exactly_what_came_after_then_goes_live() {
        let bus = Bus::starting_at(100);
        for i in 0..5 {
            bus.publish("runtime.health", &i);
        }
        let mut sub = bus.subscribe(Some(102), TopicFilter::all());
        assert_eq!(ids(&sub), vec![103, 104]);
        bus.publish("runtime.exit", &5);
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(sub.next().await.unwrap().unwrap().id);
        }
        assert_eq!(got, vec![103, 104, 105]);
        // Resuming at the newest id replays nothing.
        assert!(bus.subscribe(Some(105), TopicFilter::all()).replay.is_empty());
    }

    #[tokio::test]
    async fn a_pruned_or_foreign_resume_point_gets_a_reset() {
        let bus = Bus::starting_at(1_000);
        for i in 0..(RING_EVENTS + 10) {
            bus.publish("runtime.health", &i);
        }
        for (after, why) in [
            (1_003, "no longer kept"),
            (5, "earlier daemon"),
            (u64::MAX / 2, "never published"),
            (u64::MAX, "never published"),
        ] {
            let sub = bus.subscribe(Some(after), TopicFilter::all());
            assert_eq!(sub.replay.len(), 1, "{after}");
            assert_eq!(sub.replay[0].topic, topic::EVENTS_RESET);
            assert_eq!(sub.replay[0].id, bus.last_id());
            assert!(sub.replay[0].json.contains(why), "{}", sub.replay[0].json);
        }
        // The oldest kept id minus one is still a clean resume.
        let oldest = 1_000 + 10;
        let sub = bus.subscribe(Some(oldest - 1), TopicFilter::all());
        assert_eq!(sub.replay.len(), RING_EVENTS);
        assert_eq!(sub.replay[0].id, oldest);
    }

    #[tokio::test]
    async fn filters_apply_to_replay_and_live() {
        let bus = Bus::starting_at(1);
        bus.publish("runtime.health", &1);
        bus.publish("smoke.stage", &2);
        let mut sub = bus.subscribe(Some(0), TopicFilter::parse("smoke.*").unwrap());
        assert_eq!(ids(&sub), vec![2]);
        bus.publish("runtime.exit", &3);
        bus.publish("smoke.stage", &4);
        assert_eq!(sub.next().await.unwrap().unwrap().id, 2);
        assert_eq!(sub.next().await.unwrap().unwrap().id, 4);
    }

    #[test]
    fn envelopes_and_sse_frames_carry_the_same_event() {
        let bus = Bus::starting_at(7);
        bus.publish("models.changed", &serde_json::json!({"why": "line\nbreak"}));
        let sub = bus.subscribe(Some(6), TopicFilter::all());
        let e = &sub.replay[0];
        let env = e.envelope();
        assert_eq!((env.id, env.topic.as_str()), (7, "models.changed"));
        assert_eq!(env.data.get(), r#"{"why":"line\nbreak"}"#);
        let sse = std::str::from_utf8(&e.sse).unwrap();
        assert_eq!(sse.lines().count(), 4, "{sse}");
        assert!(sse.starts_with("id: 7\nevent: models.changed\ndata: {"));
    }

    #[test]
    fn the_ring_is_bounded_by_bytes_too() {
        let bus = Bus::starting_at(1);
        let big = "x".repeat(RING_BYTES / 4);
        for _ in 0..10 {
            bus.publish("runtime.updated", &big);
        }
        let ring = bus.ring();
        assert!(ring.bytes <= RING_BYTES, "{}", ring.bytes);
        assert!(ring.entries.len() < 10);
    }
}
