//! What is on disk for a model, found without the network: the HF cache
//! first, then `<link_dir>/<file>` (the seed's path). A copy counts once
//! its sha256 checks out (or its stamp says it did and the file has not
//! changed since).

use super::cache::{self, LinkSpot, RepoCache};
use super::jobs::Reporter;
use super::sources::{is_sha256, ModelSource};
use super::verify::{self, update_stamps, Stamps};
use super::WeightsEnv;
use crate::protocol::ModelReport;
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
    /// Nothing usable; the note says what was found and dropped, if anything.
    Missing(Option<String>),
}

/// Hashes `path` (unless its stamp is still valid) and compares.
/// `Ok(Some(verified_at))` on a match.
pub async fn check_file(
    path: &Path,
    expected: &str,
    stamps: &Path,
    report: &Reporter,
) -> std::io::Result<Option<String>> {
    if let Some(stamp) = Stamps::load(stamps).valid(path) {
        if stamp.sha256 == expected {
            return Ok(Some(stamp.verified_at.clone()));
        }
    }
    let actual = hash_with_progress(path, report).await?;
    if actual != expected {
        update_stamps(stamps, |s| s.forget(path))?;
        return Ok(None);
    }
    update_stamps(stamps, |s| {
        let _ = s.record(path, &actual);
    })?;
    Ok(Some(crate::time::now_rfc3339()))
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

/// Looks for `model` in the HF cache, then at `<link_dir>/<file>`.
pub async fn lookup(env: &WeightsEnv, model: &ModelSource, report: &Reporter) -> Local {
    let rc = RepoCache::new(&env.cache_dir, &model.repo, &model.revision);
    let mut note = None;
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
                let expected = pin.clone().or(name.clone());
                if let Some(expected) = expected {
                    match check_file(&found.blob, &expected, &env.stamps, report).await {
                        Ok(Some(at)) => {
                            let mut r = base(model);
                            r.status = "cached".into();
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
                        Ok(None) if named.as_ref() == Some(&expected) => {
                            // A blob is named by its hash; one that does not match it is garbage.
                            let _ = std::fs::remove_file(&found.blob);
                            note = Some(format!(
                                "the cached copy `{}` did not match its sha256 and was removed",
                                found.blob.display()
                            ));
                        }
                        Ok(None) => {
                            note = Some(format!(
                                "the cached copy `{}` does not match the pinned sha256; not used",
                                found.snapshot.display()
                            ));
                        }
                        Err(e) => note = Some(format!("cannot read the cached copy `{}`: {e}", found.blob.display())),
                    }
                }
            }
        }
    }
    let spot = env.link_dir.join(model.file_name());
    let size = match cache::inspect_link(&spot) {
        LinkSpot::File(size) => size,
        LinkSpot::Symlink => match std::fs::metadata(&spot) {
            Ok(m) if m.is_file() => m.len(),
            _ => return Local::Missing(note),
        },
        LinkSpot::Empty => return Local::Missing(note),
    };
    let stamped = Stamps::load(&env.stamps).valid(&spot).map(|s| s.sha256.clone());
    let expected = model.sha256.clone().or(stamped);
    let Some(expected) = expected else {
        return Local::Unverifiable { path: spot, size };
    };
    match check_file(&spot, &expected, &env.stamps, report).await {
        Ok(Some(at)) => {
            let mut r = base(model);
            r.status = "cached".into();
            r.sha256 = Some(expected);
            r.size = Some(size);
            r.path = Some(spot.display().to_string());
            r.link = r.path.clone();
            r.verified = true;
            r.verified_at = Some(at);
            r.message = format!("reused the verified file {}", spot.display());
            Local::Verified(Box::new(r))
        }
        _ => Local::Missing(Some(format!(
            "`{}` does not match the expected sha256; it was left alone and not used",
            spot.display()
        ))),
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
