//! Making one model available over the network: ask the hub, check the
//! fit, download, install in the cache layout and link it where the seed
//! expected it. (A verified local copy is found first by [`super::local`].)

use super::cache::RepoCache;
use super::download::{self, DownloadError, Plan, Source};
use super::hub::{self, Http, HubError};
use super::jobs::Reporter;
use super::local::{base, check_file, link, Check};
use super::sources::{is_sha256, ModelSource};
use super::verify::update_stamps;
use super::WeightsEnv;
use crate::knobs::Knobs;
use crate::protocol::{ModelReport, ModelStatus};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything the network path needs, owned (it runs as a daemon task).
pub struct Fetch {
    pub env: WeightsEnv,
    pub model: ModelSource,
    pub knobs: Knobs,
    pub dry_run: bool,
    pub http: std::sync::Arc<Http>,
    /// A plain file at the link spot whose hash only the hub can tell.
    pub unverified: Option<(PathBuf, u64)>,
}

impl Fetch {
    /// Asks the hub, checks the fit and (unless a dry run) downloads.
    pub async fn run(self, report: Reporter) -> ModelReport {
        let mut r = base(&self.model);
        match self.run_inner(&report, &mut r).await {
            Ok(()) => {}
            Err((status, message)) => {
                r.status = status;
                r.message = message;
            }
        }
        report.phase("done", Some(r.message.clone()));
        if !self.dry_run {
            crate::dlog!("weights: {}: {}: {}", self.model.id(), r.status, r.message);
        }
        r
    }

    async fn run_inner(&self, report: &Reporter, r: &mut ModelReport) -> Result<(), (ModelStatus, String)> {
        let (env, model) = (&self.env, &self.model);
        report.phase("resolving", Some(format!("asking {} about {}", env.endpoint, model.id())));
        let remote = hub::resolve(&self.http, &env.endpoint, model, env.token.as_ref(), &env.net, |n, why| {
            report.retrying(n + 1, format!("{why}; retrying"))
        })
        .await;
        let remote = match remote {
            Ok(remote) => remote,
            Err(e) => {
                let failure = hub_failure(&e, env);
                // A pinned checksum makes the mirrors usable without the hub.
                return match &model.sha256 {
                    Some(pin) if !model.mirrors.is_empty() => self.fetch_from_mirrors(pin, &failure.1, report, r).await,
                    _ => Err(failure),
                };
            }
        };
        r.commit = Some(remote.commit.clone());
        r.size = Some(remote.size);
        let lfs = is_sha256(&remote.etag).then(|| remote.etag.to_ascii_lowercase());
        let expected = match (&model.sha256, &lfs) {
            (Some(pin), Some(hub)) if pin != hub => {
                return Err((ModelStatus::Mismatch, format!(
                    "the hub serves `{}` with sha256 {hub}, but model_sources.json pins {pin}; nothing was downloaded. If the new upload is intended, update `sha256`",
                    model.id()
                )))
            }
            (Some(pin), _) => pin.clone(),
            (None, Some(hub)) => hub.clone(),
            (None, None) => {
                return Err((ModelStatus::Failed, format!(
                    "`{}` is not an LFS file (etag {}), so the hub gives no sha256 to check it against; add `sha256` to model_sources.json",
                    model.id(), remote.etag
                )))
            }
        };
        r.sha256 = Some(expected.clone());
        if let Some(size) = model.size.filter(|s| *s != remote.size) {
            return Err((
                ModelStatus::Failed,
                format!(
                    "the hub says `{}` is {} bytes but model_sources.json says {size}; fix `size`",
                    model.id(),
                    remote.size
                ),
            ));
        }

        // A plain file at the link spot that we could not check offline.
        if let Some((path, size)) = &self.unverified {
            if *size == remote.size {
                if let Ok(Check::Match(at)) = check_file(path, &expected, &env.stamps, report).await {
                    // The hub vouched for these bytes as this repo's: remember it for offline reuse.
                    let _ = update_stamps(&env.stamps, |s| s.claim(path, &model.repo));
                    r.status = ModelStatus::Cached;
                    r.path = Some(path.display().to_string());
                    r.link = r.path.clone();
                    r.verified = true;
                    r.verified_at = Some(at);
                    r.message = format!("reused the verified file {}", path.display());
                    return Ok(());
                }
            }
        }

        let rc = RepoCache::new(&env.cache_dir, &model.repo, &model.revision);
        let etag_name = lfs.clone().unwrap_or_else(|| remote.etag.clone());
        if !self.dry_run {
            if let Some(()) = self.adopt_blob(&rc, &etag_name, &remote.commit, &expected, report, r).await {
                return Ok(());
            }
        }

        // Fit, before spending bandwidth.
        let incomplete = rc.incomplete(&etag_name);
        let have = std::fs::metadata(&incomplete).map(|m| m.len()).unwrap_or(0);
        report.phase("fit", Some("reading the GGUF header".into()));
        let url = hub::resolve_url(&env.endpoint, &model.repo, &remote.commit, &model.file);
        let header = match local_header(&incomplete, remote.size) {
            Some(h) => Some(h),
            None => hub::fetch_header(&self.http, url.clone(), env.token.as_ref(), remote.size, env.net.stall).await,
        };
        let no_room = self.check_fit(report, r, remote.size, have, header.as_ref());
        if self.dry_run {
            r.status = ModelStatus::WouldDownload;
            r.message = format!(
                "would download {} from {}{}",
                crate::units::bytes(remote.size.saturating_sub(have)),
                env.endpoint,
                if have > 0 { format!(" (resuming after {})", crate::units::bytes(have)) } else { String::new() }
            );
            return Ok(());
        }
        if let Some(why) = no_room {
            return Err((ModelStatus::Failed, format!("not downloading `{}`: {why}", model.id())));
        }

        // One downloader per blob, across processes (huggingface_hub's lock file).
        let _lock = self.lock(&rc.lock_file(&etag_name), report).await?;
        if let Some(()) = self.adopt_blob(&rc, &etag_name, &remote.commit, &expected, report, r).await {
            return Ok(());
        }
        let mut sources = vec![Source { url, token: env.token.clone(), label: "hub".into() }];
        sources.extend(
            model
                .mirrors
                .iter()
                .filter_map(|m| Some(Source { url: reqwest::Url::parse(m).ok()?, token: None, label: m.clone() })),
        );
        let plan = Plan {
            what: model.id(),
            sha256: expected.clone(),
            size: remote.size,
            incomplete,
            blob: rc.blob(&etag_name),
            sources,
        };
        let outcome = download::download(&self.http, &plan, &env.net, report).await.map_err(|e| match e {
            DownloadError::Mismatch { .. } => (ModelStatus::Mismatch, e.to_string()),
            DownloadError::Exhausted { auth: Some(_), .. } if env.token.is_none() => {
                (ModelStatus::NeedsToken, format!("{e}; the hub wants a token: set HF_TOKEN"))
            }
            _ => (ModelStatus::Failed, e.to_string()),
        })?;
        r.source = Some(outcome.source);
        r.resumed_from = outcome.resumed_from;
        update_stamps(&env.stamps, |s| {
            let _ = s.record(&plan.blob, &expected);
        })
        .ok();
        r.status = ModelStatus::Downloaded;
        r.message = format!(
            "downloaded and verified (sha256 {}…){}",
            &expected[..12],
            r.resumed_from.map(|n| format!(", resumed after {}", crate::units::bytes(n))).unwrap_or_default()
        );
        self.install(&rc, &etag_name, &remote.commit, r)?;
        Ok(())
    }

    /// The hub cannot be used (unreachable, refused): fetch the pinned
    /// sha256 from the mirrors. The blob lands in the cache, but with no
    /// commit to name a snapshot after, the link points at the blob itself.
    async fn fetch_from_mirrors(
        &self,
        sha256: &str,
        why: &str,
        report: &Reporter,
        r: &mut ModelReport,
    ) -> Result<(), (ModelStatus, String)> {
        let (env, model) = (&self.env, &self.model);
        report.phase("resolving", Some(format!("{why}; trying the mirrors")));
        let mut size = model.size;
        for m in &model.mirrors {
            if size.is_some() {
                break;
            }
            if let Ok(url) = reqwest::Url::parse(m) {
                size = hub::remote_size(&self.http, url, env.net.stall).await;
            }
        }
        let size = size
            .ok_or_else(|| (ModelStatus::Failed, format!("{why}; no mirror answered with the file's size either")))?;
        r.size = Some(size);
        r.sha256 = Some(sha256.to_string());
        let rc = RepoCache::new(&env.cache_dir, &model.repo, &model.revision);
        let incomplete = rc.incomplete(sha256);
        let have = std::fs::metadata(&incomplete).map(|m| m.len()).unwrap_or(0);
        let no_room = self.check_fit(report, r, size, have, None);
        if self.dry_run {
            r.status = ModelStatus::WouldDownload;
            r.message =
                format!("would download {} from the mirrors ({why})", crate::units::bytes(size.saturating_sub(have)));
            return Ok(());
        }
        if let Some(why) = no_room {
            return Err((ModelStatus::Failed, format!("not downloading `{}`: {why}", model.id())));
        }
        let _lock = self.lock(&rc.lock_file(sha256), report).await?;
        let blob = rc.blob(sha256);
        let reused =
            blob.is_file() && matches!(check_file(&blob, sha256, &env.stamps, report).await, Ok(Check::Match(_)));
        if !reused {
            let plan = Plan {
                what: model.id(),
                sha256: sha256.to_string(),
                size,
                incomplete,
                blob: blob.clone(),
                sources: model
                    .mirrors
                    .iter()
                    .filter_map(|m| Some(Source { url: reqwest::Url::parse(m).ok()?, token: None, label: m.clone() }))
                    .collect(),
            };
            let outcome = download::download(&self.http, &plan, &env.net, report).await.map_err(|e| match e {
                DownloadError::Mismatch { .. } => (ModelStatus::Mismatch, e.to_string()),
                _ => (ModelStatus::Failed, format!("{why}; and from the mirrors: {e}")),
            })?;
            r.source = Some(outcome.source);
            r.resumed_from = outcome.resumed_from;
            update_stamps(&env.stamps, |s| {
                let _ = s.record(&blob, sha256);
            })
            .ok();
        }
        r.path = Some(blob.display().to_string());
        r.verified = true;
        r.status = if reused { ModelStatus::Cached } else { ModelStatus::Downloaded };
        r.message = format!(
            "{} from a mirror and verified (sha256 {}…); the hub was not usable: {why}",
            if reused { "already in the cache" } else { "downloaded" },
            &sha256[..12]
        );
        link(env, model, &blob, r);
        Ok(())
    }

    /// Uses a blob that is already in the cache (another tool, another
    /// revision) once it verifies.
    async fn adopt_blob(
        &self,
        rc: &RepoCache,
        etag: &str,
        commit: &str,
        expected: &str,
        report: &Reporter,
        r: &mut ModelReport,
    ) -> Option<()> {
        let blob = rc.blob(etag);
        if !blob.is_file() {
            return None;
        }
        match check_file(&blob, expected, &self.env.stamps, report).await {
            Ok(Check::Match(at)) => {
                r.status = ModelStatus::Cached;
                r.verified_at = Some(at);
                r.message = "already in the cache; verified".into();
                self.install(rc, etag, commit, r).ok()?;
                Some(())
            }
            _ => {
                let _ = std::fs::remove_file(&blob);
                None
            }
        }
    }

    fn install(
        &self,
        rc: &RepoCache,
        etag: &str,
        commit: &str,
        r: &mut ModelReport,
    ) -> Result<(), (ModelStatus, String)> {
        let snapshot = rc.install(commit, &self.model.revision, &self.model.file, etag).map_err(|e| {
            (ModelStatus::Failed, format!("cannot link the snapshot in `{}`: {e}", rc.root().display()))
        })?;
        r.path = Some(snapshot.display().to_string());
        r.verified = true;
        link(&self.env, &self.model, &snapshot, r);
        Ok(())
    }

    /// Takes the download lock, waiting (and saying so) while another
    /// process holds it.
    /// Checks disk and memory fit, reports and records it; says why when
    /// the file cannot fit on disk.
    fn check_fit(
        &self,
        report: &Reporter,
        r: &mut ModelReport,
        size: u64,
        have: u64,
        header: Option<&crate::gguf::GgufInfo>,
    ) -> Option<String> {
        let env = &self.env;
        let fit = super::fit::check(size, have, &env.cache_dir, header, env.n_ctx, &self.knobs);
        let lines = super::fit::describe(&fit);
        report.phase("fit", Some(lines.join("\n")));
        let no_room = (!fit.disk.fits).then(|| lines[0].clone());
        r.fit = Some(fit);
        no_room
    }

    async fn lock(&self, path: &Path, report: &Reporter) -> Result<std::fs::File, (ModelStatus, String)> {
        let fail = |e: std::io::Error| (ModelStatus::Failed, format!("cannot take the lock `{}`: {e}", path.display()));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(fail)?;
        let mut said = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(std::fs::TryLockError::WouldBlock) => {
                    if !said {
                        said = true;
                        report.phase(
                            "waiting",
                            Some(format!(
                                "another process is downloading this file (lock `{}`); waiting",
                                path.display()
                            )),
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(fail(e)),
            }
        }
    }
}

/// The GGUF header from the bytes an interrupted run left, if enough.
fn local_header(incomplete: &Path, size: u64) -> Option<crate::gguf::GgufInfo> {
    let file = std::fs::File::open(incomplete).ok()?;
    let len = file.metadata().ok()?.len();
    if len == 0 {
        return None;
    }
    crate::gguf::read_from(std::io::Read::take(file, len), Some(size)).ok()
}

fn hub_failure(e: &HubError, env: &WeightsEnv) -> (ModelStatus, String) {
    match e {
        HubError::Auth { .. } if env.token.is_none() => (
            ModelStatus::NeedsToken,
            format!("{e}: this repo needs a Hugging Face token; set HF_TOKEN (see the checklist)"),
        ),
        HubError::Auth { .. } => (
            ModelStatus::NeedsToken,
            format!(
                "{e}: the token from {} was refused; check that it is a valid read token with access to this repo",
                env.token_source.as_deref().unwrap_or("the environment")
            ),
        ),
        HubError::NotFound { .. } => {
            (ModelStatus::Failed, format!("{e}; check `repo`, `file` and `revision` in the roster"))
        }
        HubError::Protocol { .. } => {
            (ModelStatus::Failed, format!("{e}; check that HF_ENDPOINT (`{}`) is a Hugging Face hub", env.endpoint))
        }
        _ => (ModelStatus::Failed, format!("{e}; check the network or HF_ENDPOINT (`{}`)", env.endpoint)),
    }
}
