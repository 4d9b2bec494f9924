//! The matrix feed: one computation per change, shared by every reader.
//!
//! The supervisor publishes its view on every change and the forwarder
//! counts every proxied request. The feed recomputes the status report
//! (supervisor view + matrix) when either moved or the last one is older
//! than [`FRESH_FOR`], keeps it as the latest, and broadcasts it as
//! `runtime.updated` on the bus; a tick republishes at least every 5 s
//! (SPEC §3). `runtime status`, `--watch`, `/events` and `/state/*` all
//! read this one document.
//! A reader that set other matrix knobs than the daemon's own (node id,
//! simulated GPU, TTL) gets a document computed for it from the same
//! snapshot: knobs belong to the command they are set on (SPEC §1).

use super::Ctx;
use crate::accel::GpuInventory;
use crate::knobs::Knobs;
use crate::protocol::status::SupervisorView;
use crate::protocol::{ErrorBody, ErrorKind, StatusReport};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A document younger than this is served as is when nothing changed
/// (uptimes in it are at most this stale).
const FRESH_FOR: Duration = Duration::from_secs(1);
/// The matrix is republished at least this often, changes or not
/// (`ARW_MATRIX_REPUBLISH_SECS` in the daemon's environment overrides it;
/// tests use that to prove updates are pushed on change).
const REPUBLISH_EVERY: Duration = Duration::from_secs(5);

/// A bad value is refused when the daemon starts (`serve`), like the
/// connection cap.
pub fn republish_every() -> Result<Duration, String> {
    let Ok(v) = std::env::var("ARW_MATRIX_REPUBLISH_SECS") else { return Ok(REPUBLISH_EVERY) };
    match v.trim().parse::<u64>() {
        Ok(s) if s > 0 => Ok(Duration::from_secs(s)),
        _ => Err(format!(
            "`ARW_MATRIX_REPUBLISH_SECS={}` is not a whole number of seconds above 0",
            crate::text::quote(&v, 40)
        )),
    }
}

/// The knobs that change what the matrix says, parsed once for every reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixKnobs {
    pub node_id: String,
    pub simulate_gpu: bool,
    /// `ARW_RUNTIME_MATRIX_TTL_SECS`; `None`: the manifest's `matrix_ttl_secs`.
    pub ttl_secs: Option<u64>,
}

impl MatrixKnobs {
    /// A bad value is the caller's mistake to hear about, not to have ignored.
    pub fn parse(knobs: &Knobs) -> Result<MatrixKnobs, ErrorBody> {
        let ttl_secs = match knobs.parsed::<u64>(&["ARW_RUNTIME_MATRIX_TTL_SECS"]) {
            Ok(Some(0)) | Err(_) => {
                let raw = knobs.get("ARW_RUNTIME_MATRIX_TTL_SECS").unwrap_or_default();
                return Err(ErrorBody::new(
                    ErrorKind::BadRequest,
                    format!("`ARW_RUNTIME_MATRIX_TTL_SECS={}` is not valid", crate::text::quote(&raw, 40)),
                )
                .with_hint("use a whole number of seconds greater than 0"));
            }
            Ok(ttl) => ttl,
        };
        let node_id = crate::matrix::node_id(knobs).map_err(|e| {
            ErrorBody::new(ErrorKind::BadRequest, e).with_hint("unset `ARW_NODE_ID` to use the hostname")
        })?;
        Ok(MatrixKnobs { node_id, simulate_gpu: knobs.flag("LLAMA_GPU_SIMULATE"), ttl_secs })
    }

    /// The daemon's own environment; a bad value there falls back to the
    /// defaults (it was reported when the daemon started).
    pub fn daemon() -> MatrixKnobs {
        let knobs = Knobs::daemon();
        MatrixKnobs::parse(&knobs).unwrap_or_else(|_| MatrixKnobs {
            node_id: crate::matrix::hostname(),
            simulate_gpu: knobs.flag("LLAMA_GPU_SIMULATE"),
            ttl_secs: None,
        })
    }
}

/// What the latest document was computed from.
struct Latest {
    report: Arc<StatusReport>,
    view: Arc<SupervisorView>,
    http_version: u64,
    at: Instant,
}

pub struct Feed {
    own: MatrixKnobs,
    latest: Mutex<Option<Latest>>,
    /// One computation at a time: readers that find the document stale
    /// together wait for one recompute instead of each publishing their own
    /// `runtime.updated` (bench/RESULTS.md, "HTTP surface").
    computing: tokio::sync::Mutex<()>,
    /// The newest document, for readers that only ever want the latest
    /// (`/metrics`); the bus carries every one.
    published: watch::Sender<Option<Arc<StatusReport>>>,
}

impl Feed {
    pub fn new() -> Feed {
        Feed {
            own: MatrixKnobs::daemon(),
            latest: Mutex::new(None),
            computing: tokio::sync::Mutex::new(()),
            published: watch::channel(None).0,
        }
    }

    /// The current document for a reader with `knobs`.
    pub async fn report_for(&self, ctx: &Ctx, knobs: &MatrixKnobs) -> Result<Arc<StatusReport>, ErrorBody> {
        let latest = self.current(ctx).await?;
        if *knobs == self.own {
            return Ok(latest);
        }
        Ok(Arc::new(compute(ctx, latest.supervisor.clone(), knobs)))
    }

    /// The newest document published (`None` before the first): fresh at
    /// every change and at least every republish interval.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<StatusReport>>> {
        self.published.subscribe()
    }

    /// A report computed with the daemon's knobs from `report`'s snapshot
    /// for a reader with other knobs (`--watch` with `ARW_NODE_ID` set).
    pub fn adapt(&self, ctx: &Ctx, report: Arc<StatusReport>, knobs: &MatrixKnobs) -> Arc<StatusReport> {
        if *knobs == self.own {
            report
        } else {
            Arc::new(compute(ctx, report.supervisor.clone(), knobs))
        }
    }

    /// The latest document, recomputed (and broadcast) if the supervisor or
    /// the HTTP counters moved since, or it is older than [`FRESH_FOR`].
    pub async fn current(&self, ctx: &Ctx) -> Result<Arc<StatusReport>, ErrorBody> {
        if let Some(report) = self.fresh(ctx) {
            return Ok(report);
        }
        let _one = self.computing.lock().await;
        // Whoever held the lock may have just computed it.
        if let Some(report) = self.fresh(ctx) {
            return Ok(report);
        }
        match self.compute_and_publish(ctx, false).await {
            Ok(report) => Ok(report),
            // The supervisor stops first when the daemon drains (`daemon
            // restart`): a reader still gets the last document rather than
            // an error for a node that was fine a moment ago.
            Err(e) => self.latest.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|l| l.report.clone()).ok_or(e),
        }
    }

    fn fresh(&self, ctx: &Ctx) -> Option<Arc<StatusReport>> {
        let view = ctx.supervisor.subscribe().borrow().clone();
        let http_version = ctx.forward.version();
        let latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        let l = latest.as_ref()?;
        (Arc::ptr_eq(&l.view, &view) && l.http_version == http_version && l.at.elapsed() < FRESH_FOR)
            .then(|| l.report.clone())
    }

    /// Computes from a fresh snapshot, stores and broadcasts the result.
    pub async fn recompute(&self, ctx: &Ctx) -> Result<Arc<StatusReport>, ErrorBody> {
        let _one = self.computing.lock().await;
        self.compute_and_publish(ctx, true).await
    }

    /// A reader's recompute (`always` false) refreshes uptimes and the
    /// timestamp but is news only when something changed: a poller must not
    /// flood the bus with `runtime.updated`, nor push real events out of
    /// its ring. Changes and the periodic republish always publish.
    async fn compute_and_publish(&self, ctx: &Ctx, always: bool) -> Result<Arc<StatusReport>, ErrorBody> {
        // Read the versions before the snapshot: a change racing with us then
        // makes the next reader recompute rather than trust a stale document.
        let view = ctx.supervisor.subscribe().borrow().clone();
        let http_version = ctx.forward.version();
        let snapshot = ctx.supervisor.snapshot().await?;
        let report = Arc::new(compute(ctx, snapshot, &self.own));
        let news = {
            let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
            let news = always
                || latest.as_ref().is_none_or(|l| !Arc::ptr_eq(&l.view, &view) || l.http_version != http_version);
            *latest = Some(Latest { report: report.clone(), view, http_version, at: Instant::now() });
            news
        };
        if news {
            self.published.send_replace(Some(report.clone()));
            ctx.bus.publish_report(report.clone());
        }
        Ok(report)
    }
}

impl Default for Feed {
    fn default() -> Self {
        Feed::new()
    }
}

/// The one place a status report is computed.
fn compute(ctx: &Ctx, supervisor: SupervisorView, knobs: &MatrixKnobs) -> StatusReport {
    let settings = ctx.settings();
    let ttl = knobs.ttl_secs.unwrap_or(settings.matrix_ttl_secs);
    let gpus = GpuInventory::effective(&ctx.gpus.latest(), knobs.simulate_gpu);
    let mut notes = Vec::new();
    notes.extend(ctx.config_problems());
    notes.extend(ctx.journal.problem());
    let matrix = crate::matrix::compute(crate::matrix::Inputs {
        node_id: &knobs.node_id,
        supervisor: &supervisor,
        gpus: &gpus,
        http: ctx.forward.summary(),
        ttl_seconds: ttl,
        updated: crate::time::now_rfc3339(),
        notes,
    });
    StatusReport { supervisor, matrix }
}

/// Republishes on every supervisor change and at least every 5 s.
pub async fn publish(ctx: Arc<Ctx>) {
    let mut views = ctx.supervisor.subscribe();
    let mut http = ctx.forward.subscribe();
    let mut tick = tokio::time::interval(republish_every().unwrap_or(REPUBLISH_EVERY));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            changed = views.changed() => if changed.is_err() { return },
            changed = http.changed() => if changed.is_err() { return },
            _ = tick.tick() => {},
        }
        if ctx.feed.recompute(&ctx).await.is_err() {
            return;
        }
    }
}
