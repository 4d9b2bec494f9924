//! What is on disk for a model, found without the network: the HF cache
//! first, then `<link_dir>/<file>` (the seed's path). A copy counts once
//! its sha256 checks out (or its stamp says it did and the file has not
//! changed since), and only when it provably is this model's file:
//!
//! * in this repo's cache entry (the blob's folder names the repo);
//! * or at `<link_dir>/<file>`, with the roster's pinned sha256, or a stamp
//!   that recorded this repo when the hub's sha256 matched it.
//!
//! `<link_dir>/<file>` is keyed by file name only, so two repos with a file
//! of the same name share it: it points at whichever was fetched (or
//! reused) last. A link into another repo's cache entry is never taken as
//! this repo's file; `weights path repo::file` always names the right one.

use super::cache::{self, LinkSpot, RepoCache};
use super::jobs::Reporter;
use super::sources::{is_sha256, ModelSource};
use super::verify::{self, update_stamps, Stamps};
use super::WeightsEnv;
use crate::protocol::{ModelReport, ModelStatus};
use std::path::{Path, PathBuf};

/// A model report with the model's identity filled in.
pub fn base(model: &ModelSource) -> ModelReport {
    ModelReport {
        repo: model.repo.clone(),
        file: model.file.clone(),
        revision: model.revision.clone(),
        size: model.size,
        sha256: model.sha256.clone(),
        ..Default::default()
    }
}

/// What was found on disk without asking anyone.
pub enum Local {
    /// A copy whose sha256 checked out (now or per its stamp).
    Verified(Box<ModelReport>),
    /// A plain file where the link goes, but no checksum to compare with
    /// until the hub is asked.
    Unverifiable { path: PathBuf, size: u64 },
    /// A copy that should be this model's file but hashes to something else.
    Damaged(Damage),
    /// Nothing usable; the note says what was found and not used, if anything.
    Missing(Option<String>),
}

/// A file whose sha256 is not the one it must have.
#[derive(Debug, Clone)]
pub struct Damage {
    pub path: PathBuf,
    pub expected: String,
    pub actual: String,
    /// A cache blob named by its sha256 that does not hash to it is garbage
    /// and was deleted; a user's file is left alone.
    pub removed: bool,
}

impl Damage {
    /// The finding alone, for a report that goes on to download a good copy.
    pub fn note(&self) -> String {
        format!(
            "`{}` is damaged (sha256 {}, expected {}); {}",
            self.path.display(),
            self.actual,
            self.expected,
            if self.removed { "the bad blob was removed" } else { "it was left alone" }
        )
    }

    /// One sentence: what is wrong, and what to do about it.
    pub fn describe(&self, model: &ModelSource) -> String {
        format!(
            "`{}` is damaged: its sha256 is {}, expected {}{}; run `arw runtime weights fetch {} --allow-downloads` to download a good copy{}",
            self.path.display(),
            self.actual,
            self.expected,
            if self.removed { " (the bad blob was removed)" } else { "" },
            model.id(),
            if self.removed { "" } else { ", or replace the file" }
        )
    }
}

/// The outcome of hashing a file against what it must be.
pub enum Check {
    /// It matches; when it was verified (now, or per a still-valid stamp).
    Match(String),
    /// Its actual sha256.
    Mismatch(String),
}

/// Hashes `path` (unless its stamp is still valid) and compares.
pub async fn check_file(path: &Path, expected: &str, stamps: &Path, report: &Reporter) -> std::io::Result<Check> {
    if let Some(stamp) = Stamps::load(stamps).valid(path) {
        if stamp.sha256 == expected {
            return Ok(Check::Match(stamp.verified_at.clone()));
        }
    }
    let actual = hash_with_progress(path, report).await?;
    if actual != expected {
        update_stamps(stamps, |s| s.forget(path))?;
        return Ok(Check::Mismatch(actual));
    }
    update_stamps(stamps, |s| {
        let _ = s.record(path, &actual);
    })?;
    Ok(Check::Match(crate::time::now_rfc3339()))
}

/// sha256 of a whole file on a blocking thread, publishing progress.
pub async fn hash_with_progress(path: &Path, report: &Reporter) -> std::io::Result<String> {
    let total = std::fs::metadata(path)?.len();
    report.phase("verifying", None);
    report.bytes(0, total);
    let path = path.to_path_buf();
    let r = report.clone();
    tokio::task::spawn_blocking(move || verify::sha256_file(&path, |n| r.bytes(n, total)))
        .await
        .map_err(std::io::Error::other)?
        .map(|(sha, _)| sha)
}

/// What `<link_dir>/<file>` is, as far as `model` is concerned.
pub enum Spot {
    Empty,
    /// A plain file, or a symlink to a file outside the HF cache: whose it
    /// is only a checksum can tell.
    Plain(u64),
    /// A symlink into this repo's cache entry.
    Ours(PathBuf, u64),
    /// A symlink into another repo's cache entry (named when it can be).
    Foreign(String),
    /// A symlink to nothing usable.
    Broken,
}

pub fn spot_of(env: &WeightsEnv, model: &ModelSource) -> (PathBuf, Spot) {
    let spot = env.link_dir.join(model.file_name());
    let kind = match cache::inspect_link(&spot) {
        LinkSpot::Empty => Spot::Empty,
        LinkSpot::File(size) => Spot::Plain(size),
        LinkSpot::Symlink => match std::fs::canonicalize(&spot) {
            Ok(target) => match std::fs::metadata(&target) {
                Ok(m) if m.is_file() => classify(env, model, target, m.len()),
                _ => Spot::Broken,
            },
            Err(_) => Spot::Broken,
        },
    };
    (spot, kind)
}

fn classify(env: &WeightsEnv, model: &ModelSource, target: PathBuf, size: u64) -> Spot {
    let Ok(cache_dir) = std::fs::canonicalize(&env.cache_dir) else {
        return Spot::Plain(size);
    };
    let Ok(inside) = target.strip_prefix(&cache_dir) else {
        return Spot::Plain(size);
    };
    let own = RepoCache::new(&env.cache_dir, &model.repo, &model.revision).root();
    if std::fs::canonicalize(&own).is_ok_and(|own| target.starts_with(own)) {
        return Spot::Ours(target, size);
    }
    let folder = inside.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned());
    let repo = folder.as_deref().and_then(|f| f.strip_prefix("models--")).map(|r| r.replacen("--", "/", 1));
    Spot::Foreign(repo.unwrap_or_else(|| target.display().to_string()))
}

/// Looks for `model` in the HF cache, then at `<link_dir>/<file>`.
pub async fn lookup(env: &WeightsEnv, model: &ModelSource, report: &Reporter) -> Local {
    let rc = RepoCache::new(&env.cache_dir, &model.repo, &model.revision);
    let mut note = None;
    let mut damage = None;
    if let Some(found) = rc.find(&model.revision, &model.file) {
        let named = is_sha256(&found.etag).then(|| found.etag.clone());
        match (&model.sha256, &named) {
            // Another version of the file (the roster pins other bytes).
            (Some(pin), Some(name)) if pin != name => {
                note = Some(format!(
                    "the cached copy `{}` is sha256 {name}, but the roster pins {pin}; not used",
                    found.snapshot.display()
                ));
            }
            (pin, name) => {
                if let Some(expected) = pin.clone().or(name.clone()) {
                    match check_file(&found.blob, &expected, &env.stamps, report).await {
                        Ok(Check::Match(at)) => {
                            let mut r = base(model);
                            r.status = ModelStatus::Cached;
                            r.commit = Some(found.commit.clone());
                            r.sha256 = Some(expected);
                            r.size = Some(found.size);
                            r.path = Some(found.snapshot.display().to_string());
                            r.verified = true;
                            r.verified_at = Some(at);
                            r.message = format!("cached and verified: {}", found.snapshot.display());
                            link(env, model, &found.snapshot, &mut r);
                            return Local::Verified(Box::new(r));
                        }
                        Ok(Check::Mismatch(actual)) => {
                            // A blob is named by its hash; one that does not match it is garbage.
                            let removed =
                                named.as_ref() == Some(&expected) && std::fs::remove_file(&found.blob).is_ok();
                            damage = Some(Damage { path: found.snapshot.clone(), expected, actual, removed });
                        }
                        Err(e) => note = Some(format!("cannot read the cached copy `{}`: {e}", found.blob.display())),
                    }
                }
            }
        }
    }
    let missing = |note: Option<String>, damage: Option<Damage>| match damage {
        Some(d) => Local::Damaged(d),
        None => Local::Missing(note),
    };
    let (spot, kind) = spot_of(env, model);
    let stamps = Stamps::load(&env.stamps);
    let (size, expected) = match kind {
        Spot::Empty | Spot::Broken => return missing(note, damage),
        Spot::Foreign(repo) => {
            let seen = format!("`{}` is `{repo}`'s file, not `{}`'s; not used", spot.display(), model.repo);
            return missing(Some(note.map(|n| format!("{n}; {seen}")).unwrap_or(seen)), damage);
        }
        // The blob-only link a mirror download leaves: named by its sha256.
        Spot::Ours(target, size) => {
            let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).filter(|n| is_sha256(n));
            (size, model.sha256.clone().or(name))
        }
        Spot::Plain(size) => {
            let claimed = stamps.valid(&spot).filter(|s| s.repo.as_deref() == Some(model.repo.as_str()));
            (size, model.sha256.clone().or(claimed.map(|s| s.sha256.clone())))
        }
    };
    let Some(expected) = expected else {
        return match damage {
            Some(d) => Local::Damaged(d),
            None => Local::Unverifiable { path: spot, size },
        };
    };
    match check_file(&spot, &expected, &env.stamps, report).await {
        Ok(Check::Match(at)) => {
            let _ = update_stamps(&env.stamps, |s| s.claim(&spot, &model.repo));
            let mut r = base(model);
            r.status = ModelStatus::Cached;
            r.sha256 = Some(expected);
            r.size = Some(size);
            r.path = Some(spot.display().to_string());
            r.link = r.path.clone();
            r.verified = true;
            r.verified_at = Some(at);
            r.message = format!("reused the verified file {}", spot.display());
            Local::Verified(Box::new(r))
        }
        Ok(Check::Mismatch(actual)) => {
            Local::Damaged(damage.unwrap_or(Damage { path: spot, expected, actual, removed: false }))
        }
        Err(e) => missing(Some(format!("cannot read `{}`: {e}", spot.display())), damage),
    }
}

/// Points `<link_dir>/<file>` at `target` unless a plain file is there.
pub fn link(env: &WeightsEnv, model: &ModelSource, target: &Path, r: &mut ModelReport) {
    let spot = env.link_dir.join(model.file_name());
    if let LinkSpot::File(_) = cache::inspect_link(&spot) {
        if std::fs::canonicalize(&spot).ok() != std::fs::canonicalize(target).ok() {
            r.message.push_str(&format!(" (left the existing file `{}` alone)", spot.display()));
            return;
        }
    }
    match cache::link_into(&env.link_dir, model.file_name(), target) {
        Ok((path, kind)) => {
            r.link = Some(path.display().to_string());
            r.link_kind = Some(kind.as_str().into());
        }
        Err(e) => r.message.push_str(&format!(" (could not link it into `{}`: {e})", env.link_dir.display())),
    }
}
