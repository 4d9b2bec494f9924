//! `runtime weights`: list, path, verify and fetch (SPEC §6).
//!
//! A fetch first looks for a verified local copy of each candidate model
//! (roster order) and stops at the first: no network. Otherwise, with the
//! user's opt-in, it starts (or joins) a daemon-owned download per model in
//! turn until one succeeds, forwarding the task's progress as
//! `weights.progress` events. If this client goes away the download goes
//! on; the next fetch of the same file joins it.

use crate::daemon::Ctx;
use crate::knobs::Knobs;
use crate::protocol::{
    self, ErrorBody, ErrorKind, Event, ModelReport, Response, ServerFrame, WeightsAction, WeightsProgress,
    WeightsReport, WeightsRequest,
};
use crate::weights::checklist::{self, Reason};
use crate::weights::fetch::Fetch;
use crate::weights::jobs::Reporter;
use crate::weights::local::{self, Local};
use crate::weights::sources::{self, ModelSource};
use crate::weights::{inventory, WeightsEnv};
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

/// Progress events are sent at most this often (phase changes at once).
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// The client hung up while we were streaming progress.
struct Gone;

pub async fn handle<W>(ctx: &Ctx, id: u64, req: WeightsRequest, knobs: Knobs, tx: &mut W) -> Result<Response, ErrorBody>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    let cwd = req.cwd.as_deref().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"));
    let env = WeightsEnv::resolve(&knobs, &cwd, req.dir.as_deref(), req.allow_downloads, &ctx.paths.cache_dir())
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
    };
    let gone = || ErrorBody::new(ErrorKind::Internal, "the client went away");
    match req.action {
        WeightsAction::List => {
            report.models = inventory::list(&env, &roster);
            report.ok = true;
        }
        WeightsAction::Path => {
            report.models = selected.iter().map(|m| inventory::path(&env, m)).collect();
            report.ok = report.models.iter().all(|m| m.status != "missing");
        }
        WeightsAction::Verify => {
            let models = req.model.is_some().then_some(selected.as_slice());
            verify(id, tx, &env, &roster, models, &mut report).await.map_err(|Gone| gone())?
        }
        WeightsAction::Fetch => {
            fetch(ctx, id, tx, &env, &knobs, &req, &selected, &mut report).await.map_err(|Gone| gone())?
        }
    }
    Ok(Response::Weights(report))
}

/// Re-hashes what is present (all of it, or what belongs to `models`).
async fn verify<W>(
    id: u64,
    tx: &mut W,
    env: &WeightsEnv,
    roster: &sources::Roster,
    models: Option<&[ModelSource]>,
    report: &mut WeightsReport,
) -> Result<(), Gone>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    let (targets, absent) = match models {
        Some(m) => inventory::targets_for(env, roster, m),
        None => (inventory::present(env, roster), vec![]),
    };
    for t in targets {
        let mut r = t.report;
        let (reporter, rx) = Reporter::new(&r.repo, &r.file);
        let hashed = forward(id, tx, rx, local::hash_with_progress(&t.file, &reporter)).await?;
        match (hashed, &t.expected) {
            (Err(e), _) => {
                r.status = "failed".into();
                r.verified = false;
                r.message = format!("cannot read `{}`: {e}", t.file.display());
            }
            (Ok(actual), Some(expected)) if &actual == expected => {
                let _ = crate::weights::verify::update_stamps(&env.stamps, |s| {
                    let _ = s.record(&t.file, &actual);
                });
                r.status = "verified".into();
                r.verified = true;
                r.verified_at = Some(crate::time::now_rfc3339());
                r.message = format!("sha256 {actual} matches");
            }
            (Ok(actual), Some(expected)) => {
                let _ = crate::weights::verify::update_stamps(&env.stamps, |s| s.forget(&t.file));
                r.status = "mismatch".into();
                r.verified = false;
                r.message = format!(
                    "sha256 is {actual}, expected {expected}: the file is damaged; delete it or run `arw runtime weights fetch --allow-downloads` to replace it"
                );
                r.sha256 = Some(actual);
            }
            (Ok(actual), None) => {
                r.status = "unverified".into();
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
    report.ok = !report.models.is_empty() && report.models.iter().all(|m| m.status == "verified");
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn fetch<W>(
    ctx: &Ctx,
    id: u64,
    tx: &mut W,
    env: &WeightsEnv,
    knobs: &Knobs,
    req: &WeightsRequest,
    selected: &[ModelSource],
    report: &mut WeightsReport,
) -> Result<(), Gone>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    // 1. A verified local copy of any candidate wins, without the network.
    let mut unverified = Vec::new();
    let mut notes = Vec::new();
    for m in selected {
        let (reporter, rx) = Reporter::new(&m.repo, &m.file);
        match forward(id, tx, rx, local::lookup(env, m, &reporter)).await? {
            Local::Verified(r) => {
                report.models.push(*r);
                report.ok = true;
                return Ok(());
            }
            Local::Unverifiable { path, size } => unverified.push((m.id(), (path, size))),
            Local::Missing(Some(note)) => notes.push((m.id(), note)),
            Local::Missing(None) => {}
        }
    }
    let note_for = |m: &ModelSource| {
        notes.iter().find(|(id, _)| *id == m.id()).map(|(_, n)| format!(" ({n})")).unwrap_or_default()
    };

    // 2. No network without the user's word.
    if !env.network_allowed() {
        let reason = if env.offline && env.allow_downloads { Reason::Offline } else { Reason::NoOptIn };
        for m in selected {
            let mut r = local::base(m);
            if req.dry_run {
                r.status = "would_download".into();
                r.message = format!(
                    "would download {} from {}; the hub was not asked (add --allow-downloads to learn the size and check the fit){}",
                    m.size.map(crate::render::weights::bytes).unwrap_or_else(|| "a file of unknown size".into()),
                    env.endpoint,
                    note_for(m)
                );
                if let Some(size) = m.size {
                    r.fit = Some(crate::weights::fit::check(size, 0, &env.cache_dir, None, env.n_ctx, knobs));
                }
            } else {
                r.status = "needs_opt_in".into();
                r.message = format!("not downloaded: downloads are off{}", note_for(m));
            }
            report.models.push(r);
        }
        report.checklist = Some(checklist::build(env, selected, req.model.as_deref(), reason));
        report.ok = req.dry_run;
        return Ok(());
    }

    // 3. Download (or, dry run, ask the hub and check the fit), in roster order.
    let http = ctx.weights.http();
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
            forward(id, tx, rx, job.run(reporter)).await?
        } else {
            let key = format!("{}\n{}\n{}\n{}", env.cache_dir.display(), m.repo, m.revision, m.file);
            let (job, joined) = ctx.weights.start_or_attach(key, reporter, |rep| job.run(rep));
            if joined {
                let note = WeightsProgress {
                    repo: m.repo.clone(),
                    file: m.file.clone(),
                    phase: "joined".into(),
                    message: Some("this file is already downloading; following that download".into()),
                    ..Default::default()
                };
                send(id, tx, note).await?;
            }
            let mut result = job.result.clone();
            let wait = async move {
                match result.wait_for(Option::is_some).await {
                    Ok(r) => r.clone().expect("waited for Some"),
                    Err(_) => ModelReport {
                        status: "failed".into(),
                        message: "the download stopped before it finished (daemon shutting down? see `arw daemon logs`); run the command again to resume it".into(),
                        ..Default::default()
                    },
                }
            };
            let mut r = forward(id, tx, job.progress.clone(), wait).await?;
            if joined && r.path.is_some() && r.link.is_none() {
                // The task linked into its starter's directory; link into ours too.
                if let Some(p) = r.path.clone() {
                    local::link(env, m, std::path::Path::new(&p), &mut r);
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
        let status = r.status.clone();
        report.models.push(r);
        match status.as_str() {
            "downloaded" | "cached" | "would_download" => {
                report.ok = true;
                if !req.dry_run {
                    break;
                }
            }
            // Wrong bytes are a finding, not a reason to try the next model.
            "mismatch" => break,
            _ => {}
        }
    }
    if report.models.iter().any(|m| m.status == "needs_token") && !report.ok {
        report.checklist = Some(checklist::build(env, selected, req.model.as_deref(), Reason::Token));
    }
    Ok(())
}

async fn send<W>(id: u64, tx: &mut W, p: WeightsProgress) -> Result<(), Gone>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    let frame = ServerFrame::Event { id, event: Event::WeightsProgress(p) };
    protocol::write_frame_async(tx, &frame).await.map_err(|_| Gone)
}

/// Drives `work` to completion while streaming its progress to the client
/// (phase changes at once, byte counts at most every 100 ms). A client that
/// hangs up ends the wait, not `work`'s task.
async fn forward<W, F>(
    id: u64,
    tx: &mut W,
    mut progress: watch::Receiver<WeightsProgress>,
    work: F,
) -> Result<F::Output, Gone>
where
    W: tokio::io::AsyncWrite + Unpin,
    F: Future,
{
    tokio::pin!(work);
    let mut last_phase = String::new();
    let mut last_message = None;
    let mut last_sent = tokio::time::Instant::now() - PROGRESS_EVERY;
    let mut pending = false;
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            out = &mut work => return Ok(out),
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
                    send(id, tx, p).await?;
                } else {
                    pending = true;
                }
            }
            _ = tokio::time::sleep_until(last_sent + PROGRESS_EVERY), if pending => {
                pending = false;
                last_sent = tokio::time::Instant::now();
                let p = progress.borrow().clone();
                send(id, tx, p).await?;
            }
        }
    }
}
