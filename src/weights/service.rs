//! `runtime weights` as a service: list, path, verify and fetch (SPEC §6),
//! whatever transport asked. The socket handler calls [`run`] today; an
//! HTTP route can call it the same way.
//!
//! A fetch first looks for a verified local copy of each candidate model
//! (roster order) and stops at the first: no network. Otherwise, with the
//! user's opt-in, it starts (or joins) a download owned by [`Jobs`] per
//! model in turn until one succeeds, passing the task's progress on as
//! [`WeightsProgress`] events. The download belongs to the registry, not to
//! the caller: if nobody listens any more it goes on, and the next fetch of
//! the same file joins it.

use super::checklist::{self, Reason};
use super::fetch::Fetch;
use super::jobs::{Jobs, Reporter};
use super::local::{self, Damage, Local};
use super::sources::{self, ModelSource};
use super::{inventory, WeightsEnv};
use crate::knobs::Knobs;
use crate::protocol::{
    ErrorBody, ErrorKind, ModelReport, ModelStatus, WeightsAction, WeightsProgress, WeightsReport, WeightsRequest,
};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Progress events are sent at most this often (phase changes at once).
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

type Events = mpsc::UnboundedSender<WeightsProgress>;

/// Answers one weights request. `arw_cache` is `$ARW_HOME/cache` (the
/// default link directory and the verification record); progress goes to
/// `events`, which may be closed at any time.
pub async fn run(
    jobs: &Jobs,
    arw_cache: &Path,
    req: WeightsRequest,
    knobs: Knobs,
    events: Events,
) -> Result<WeightsReport, ErrorBody> {
    let cwd = req.cwd.as_deref().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"));
    let env = WeightsEnv::resolve(&knobs, &cwd, req.dir.as_deref(), req.allow_downloads, arw_cache)
        .map_err(|e| ErrorBody::new(ErrorKind::BadRequest, e))?;
    let roster = sources::load(&knobs, &cwd).map_err(|e| ErrorBody::new(ErrorKind::Config, e.to_string()))?;
    let selected = match &req.model {
        Some(sel) => roster.select(sel).map_err(|e| ErrorBody::new(ErrorKind::BadRequest, e))?,
        None => roster.models.clone(),
    };
    let mut report = WeightsReport {
        action: req.action,
        dry_run: req.dry_run,
        ok: false,
        cache_dir: env.cache_dir.display().to_string(),
        link_dir: env.link_dir.display().to_string(),
        sources: roster.origin.clone(),
        models: vec![],
        checklist: None,
        problems: vec![],
    };
    match req.action {
        WeightsAction::List => {
            let (models, problems) = inventory::list(&env, &roster);
            report.models = models;
            report.ok = problems.is_empty();
            report.problems = problems;
        }
        WeightsAction::Path => {
            report.models = selected.iter().map(|m| inventory::path(&env, m)).collect();
            report.ok = report.models.iter().all(|m| m.status != ModelStatus::Missing);
        }
        WeightsAction::Verify => {
            let models = req.model.is_some().then_some(selected.as_slice());
            verify(&events, &env, &roster, models, &mut report).await
        }
        WeightsAction::Fetch => fetch(jobs, &events, &env, &knobs, &req, &selected, &mut report).await,
    }
    Ok(report)
}

/// Re-hashes what is present (all of it, or what belongs to `models`).
async fn verify(
    events: &Events,
    env: &WeightsEnv,
    roster: &sources::Roster,
    models: Option<&[ModelSource]>,
    report: &mut WeightsReport,
) {
    let (targets, absent) = match models {
        Some(m) => inventory::targets_for(env, roster, m),
        None => {
            let (present, problems) = inventory::present(env, roster);
            report.problems = problems;
            (present, vec![])
        }
    };
    for t in targets {
        let mut r = t.report;
        let (reporter, rx) = Reporter::new(&r.repo, &r.file);
        let hashed = forward(events, rx, local::hash_with_progress(&t.file, &reporter)).await;
        match (hashed, &t.expected) {
            (Err(e), _) => {
                r.status = ModelStatus::Failed;
                r.verified = false;
                r.message = format!("cannot read `{}`: {e}", t.file.display());
            }
            (Ok(actual), Some(expected)) if &actual == expected => {
                let _ = super::verify::update_stamps(&env.stamps, |s| {
                    let _ = s.record(&t.file, &actual);
                });
                r.status = ModelStatus::Verified;
                r.verified = true;
                r.verified_at = Some(crate::time::now_rfc3339());
                r.message = format!("sha256 {actual} matches");
            }
            (Ok(actual), Some(expected)) => {
                let _ = super::verify::update_stamps(&env.stamps, |s| s.forget(&t.file));
                r.status = ModelStatus::Mismatch;
                r.verified = false;
                r.message = format!(
                    "sha256 is {actual}, expected {expected}: the file is damaged; delete it or run `arw runtime weights fetch --allow-downloads` to replace it"
                );
                r.sha256 = Some(actual);
            }
            (Ok(actual), None) => {
                r.status = ModelStatus::Unverified;
                r.verified = false;
                r.message = format!(
                    "sha256 is {actual}, but there is nothing to compare it with; add `sha256` to model_sources.json"
                );
                r.sha256 = Some(actual);
            }
        }
        report.models.push(r);
    }
    report.models.extend(absent);
    // Nothing on disk and nothing asked for by name: nothing failed either.
    report.ok = report.problems.is_empty() && report.models.iter().all(|m| m.status == ModelStatus::Verified);
}

async fn fetch(
    jobs: &Jobs,
    events: &Events,
    env: &WeightsEnv,
    knobs: &Knobs,
    req: &WeightsRequest,
    selected: &[ModelSource],
    report: &mut WeightsReport,
) {
    // 1. A verified local copy of any candidate wins, without the network.
    let mut unverified = Vec::new();
    let mut notes = Vec::new();
    let mut damaged: Vec<(String, Damage)> = Vec::new();
    for m in selected {
        let (reporter, rx) = Reporter::new(&m.repo, &m.file);
        match forward(events, rx, local::lookup(env, m, &reporter)).await {
            Local::Verified(r) => {
                report.models.push(*r);
                report.ok = true;
                return;
            }
            Local::Unverifiable { path, size } => unverified.push((m.id(), (path, size))),
            Local::Damaged(d) => {
                notes.push((m.id(), d.note()));
                damaged.push((m.id(), d));
            }
            Local::Missing(Some(note)) => notes.push((m.id(), note)),
            Local::Missing(None) => {}
        }
    }
    let note_for = |m: &ModelSource| {
        notes.iter().find(|(id, _)| *id == m.id()).map(|(_, n)| format!(" ({n})")).unwrap_or_default()
    };

    // 2. No network without the user's word; `HF_HUB_OFFLINE` overrules it.
    if !env.network_allowed() {
        let reason = if env.offline && env.allow_downloads { Reason::Offline } else { Reason::NoOptIn };
        let why_not = match reason {
            Reason::Offline => "`HF_HUB_OFFLINE` is set (unset it to let arw use the network)",
            _ => "downloads are off",
        };
        for m in selected {
            let mut r = local::base(m);
            let damage = damaged.iter().find(|(id, _)| *id == m.id()).map(|(_, d)| d);
            if req.dry_run {
                r.status = ModelStatus::WouldDownload;
                let ask = match reason {
                    Reason::Offline => "`HF_HUB_OFFLINE` is set; unset it to learn the size and check the fit",
                    _ => "add --allow-downloads to learn the size and check the fit",
                };
                r.message = format!(
                    "would download {} from {}; the hub was not asked ({ask}){}",
                    m.size.map(crate::units::bytes).unwrap_or_else(|| "a file of unknown size".into()),
                    env.endpoint,
                    note_for(m)
                );
                if let Some(size) = m.size {
                    r.fit = Some(super::fit::check(size, 0, &env.cache_dir, None, env.n_ctx, knobs));
                }
            } else if let Some(d) = damage {
                // The finding is the damage; the opt-in is only how to repair it.
                r.status = ModelStatus::Mismatch;
                r.sha256 = Some(d.actual.clone());
                r.message = format!("{}; nothing was downloaded: {why_not}", d.describe(m));
            } else {
                r.status = ModelStatus::NeedsOptIn;
                r.message = format!("not downloaded: {why_not}{}", note_for(m));
            }
            report.models.push(r);
        }
        report.checklist = Some(checklist::build(env, selected, req.model.as_deref(), reason));
        report.ok = req.dry_run;
        return;
    }

    // 3. Download (or, dry run, ask the hub and check the fit), in roster order.
    let http = jobs.http();
    for m in selected {
        let unverified = unverified.iter().find(|(id, _)| *id == m.id()).map(|(_, u)| u.clone());
        let job = Fetch {
            env: env.clone(),
            model: m.clone(),
            knobs: knobs.clone(),
            dry_run: req.dry_run,
            http: http.clone(),
            unverified,
        };
        let (reporter, rx) = Reporter::new(&m.repo, &m.file);
        let mut r = if req.dry_run {
            forward(events, rx, job.run(reporter)).await
        } else {
            let key = format!("{}\n{}\n{}\n{}", env.cache_dir.display(), m.repo, m.revision, m.file);
            let (job, joined) = jobs.start_or_attach(key, reporter, |rep| job.run(rep));
            if joined {
                let _ = events.send(WeightsProgress {
                    repo: m.repo.clone(),
                    file: m.file.clone(),
                    phase: "joined".into(),
                    message: Some("this file is already downloading; following that download".into()),
                    ..Default::default()
                });
            }
            let mut result = job.result.clone();
            let wait = async move {
                match result.wait_for(Option::is_some).await {
                    Ok(r) => r.clone().expect("waited for Some"),
                    Err(_) => ModelReport {
                        status: ModelStatus::Failed,
                        message: "the download stopped before it finished (daemon shutting down? see `arw daemon logs`); run the command again to resume it".into(),
                        ..Default::default()
                    },
                }
            };
            let mut r = forward(events, job.progress.clone(), wait).await;
            if joined && r.path.is_some() && r.link.is_none() {
                // The task linked into its starter's directory; link into ours too.
                if let Some(p) = r.path.clone() {
                    local::link(env, m, Path::new(&p), &mut r);
                }
            }
            r
        };
        if r.repo.is_empty() {
            let base = local::base(m);
            r.repo = base.repo;
            r.file = base.file;
            r.revision = base.revision;
        }
        r.message.push_str(&note_for(m));
        let status = r.status;
        report.models.push(r);
        match status {
            ModelStatus::Downloaded | ModelStatus::Cached | ModelStatus::WouldDownload => {
                report.ok = true;
                if !req.dry_run {
                    break;
                }
            }
            // Wrong bytes are a finding, not a reason to try the next model.
            ModelStatus::Mismatch => break,
            _ => {}
        }
    }
    if report.models.iter().any(|m| m.status == ModelStatus::NeedsToken) && !report.ok {
        report.checklist = Some(checklist::build(env, selected, req.model.as_deref(), Reason::Token));
    }
}

/// Drives `work` to completion while passing its progress on (phase
/// changes at once, byte counts at most every 100 ms). Nobody listening is
/// not an error: the work goes on.
async fn forward<F: Future>(events: &Events, mut progress: watch::Receiver<WeightsProgress>, work: F) -> F::Output {
    tokio::pin!(work);
    let mut last_phase = String::new();
    let mut last_message = None;
    let mut last_sent = tokio::time::Instant::now() - PROGRESS_EVERY;
    let mut pending = false;
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            out = &mut work => return out,
            changed = progress.changed(), if open => {
                if changed.is_err() {
                    open = false;
                    continue;
                }
                let p = progress.borrow_and_update().clone();
                let news = p.phase != last_phase || p.message != last_message;
                if news || last_sent.elapsed() >= PROGRESS_EVERY {
                    last_phase = p.phase.clone();
                    last_message = p.message.clone();
                    last_sent = tokio::time::Instant::now();
                    pending = false;
                    let _ = events.send(p);
                } else {
                    pending = true;
                }
            }
            _ = tokio::time::sleep_until(last_sent + PROGRESS_EVERY), if pending => {
                pending = false;
                last_sent = tokio::time::Instant::now();
                let _ = events.send(progress.borrow().clone());
            }
        }
    }
}
