//! What is on disk, without the network: `list`, `path`, and the files
//! `verify` re-hashes. Sources are the HF cache (any repo: other tools'
//! downloads count), the roster, and plain files in the link directory.

use super::cache::{self, RepoCache};
use super::local::Spot;
use super::sources::{is_sha256, ModelSource, Roster};
use super::verify::Stamps;
use super::WeightsEnv;
use crate::protocol::{ModelReport, ModelStatus};
use std::path::{Path, PathBuf};

/// A file `verify` can hash, and what it should hash to.
pub struct Target {
    pub report: ModelReport,
    pub file: PathBuf,
    pub expected: Option<String>,
}

/// The revision label of a cached commit: the ref pointing at it, else
/// the commit itself.
fn revision_of(env: &WeightsEnv, repo: &str, commit: &str) -> String {
    let rc = RepoCache::new(&env.cache_dir, repo, "main");
    let refs = rc.root().join("refs");
    std::fs::read_dir(&refs)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .find(|e| std::fs::read_to_string(e.path()).map(|c| c.trim() == commit).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .unwrap_or_else(|| commit.to_string())
}

/// The configured checksum of `repo::file`, if the roster pins one.
fn pinned(roster: &Roster, repo: &str, file: &str) -> Option<String> {
    roster.models.iter().find(|m| m.repo == repo && m.file == file).and_then(|m| m.sha256.clone())
}

/// Everything present, as verify targets (reports filled for `list`), and
/// what could not be read.
pub fn present(env: &WeightsEnv, roster: &Roster) -> (Vec<Target>, Vec<String>) {
    let stamps = Stamps::load(&env.stamps);
    let mut out = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    let (cached, mut problems) = cache::scan(&env.cache_dir);
    for (repo, file, c) in cached {
        let expected = pinned(roster, &repo, &file).or_else(|| is_sha256(&c.etag).then(|| c.etag.clone()));
        let stamp = stamps.valid(&c.blob).filter(|s| Some(&s.sha256) == expected.as_ref());
        let name = file.rsplit('/').next().unwrap_or(&file).to_string();
        let spot = env.link_dir.join(&name);
        let linked = std::fs::canonicalize(&spot).ok() == Some(c.blob.clone());
        if linked {
            seen.push(spot.clone());
        }
        let report = ModelReport {
            revision: revision_of(env, &repo, &c.commit),
            status: ModelStatus::Cached,
            commit: Some(c.commit.clone()),
            sha256: expected.clone(),
            size: Some(c.size),
            path: Some(c.snapshot.display().to_string()),
            link: linked.then(|| spot.display().to_string()),
            verified: stamp.is_some(),
            verified_at: stamp.map(|s| s.verified_at.clone()),
            repo: repo.clone(),
            file: file.clone(),
            ..Default::default()
        };
        out.push(Target { report, file: c.blob, expected });
    }
    // Plain files (the seed's downloads, copies) in the link directory.
    let entries = match std::fs::read_dir(&env.link_dir) {
        Ok(entries) => Some(entries),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            problems.push(format!("cannot read `{}`: {e}", env.link_dir.display()));
            None
        }
    };
    let mut plain: Vec<PathBuf> = entries
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| !seen.contains(p) && is_gguf(p))
        .filter(|p| {
            let target = std::fs::canonicalize(p).ok();
            !out.iter().any(|t| Some(&t.file) == target.as_ref())
        })
        .collect();
    plain.sort();
    for path in plain {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let model = roster.models.iter().find(|m| m.file_name() == name);
        let stamp = stamps.valid(&path);
        let expected = model.and_then(|m| m.sha256.clone()).or_else(|| stamp.map(|s| s.sha256.clone()));
        let report = ModelReport {
            repo: model.map(|m| m.repo.clone()).unwrap_or_default(),
            file: name.clone(),
            revision: model.map(|m| m.revision.clone()).unwrap_or_default(),
            status: ModelStatus::Local,
            sha256: expected.clone(),
            size: Some(meta.len()),
            path: Some(path.display().to_string()),
            link: Some(path.display().to_string()),
            verified: stamp.is_some_and(|s| Some(&s.sha256) == expected.as_ref()),
            verified_at: stamp.map(|s| s.verified_at.clone()),
            ..Default::default()
        };
        out.push(Target { report, file: path, expected });
    }
    (out, problems)
}

fn is_gguf(p: &Path) -> bool {
    p.extension().is_some_and(|x| x.eq_ignore_ascii_case("gguf"))
        && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// `list`: what is present, plus roster entries that are not; and what
/// could not be read.
pub fn list(env: &WeightsEnv, roster: &Roster) -> (Vec<ModelReport>, Vec<String>) {
    let (present, problems) = present(env, roster);
    let mut out: Vec<ModelReport> = present.into_iter().map(|t| t.report).collect();
    for m in &roster.models {
        let here = out.iter().any(|r| {
            (r.repo == m.repo && r.file == m.file) || (r.status == ModelStatus::Local && r.file == m.file_name())
        });
        if !here {
            out.push(missing(m));
        }
    }
    (out, problems)
}

/// A roster entry with nothing on disk.
pub fn missing(m: &ModelSource) -> ModelReport {
    ModelReport {
        status: ModelStatus::Missing,
        message: format!("not downloaded; run `arw runtime weights fetch {} --allow-downloads`", m.id()),
        ..super::local::base(m)
    }
}

/// The present files that belong to `models`.
pub fn targets_for(env: &WeightsEnv, roster: &Roster, models: &[ModelSource]) -> (Vec<Target>, Vec<ModelReport>) {
    let (all, _) = present(env, roster);
    let mut found = Vec::new();
    let mut absent = Vec::new();
    for m in models {
        let matching: Vec<usize> = all
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                (t.report.repo == m.repo && t.report.file == m.file)
                    || (t.report.status == ModelStatus::Local && t.report.file == m.file_name())
            })
            .map(|(i, _)| i)
            .collect();
        if matching.is_empty() {
            absent.push(missing(m));
        }
        found.extend(matching);
    }
    found.sort();
    found.dedup();
    let mut all: Vec<Option<Target>> = all.into_iter().map(Some).collect();
    let targets = found.into_iter().filter_map(|i| all[i].take()).collect();
    (targets, absent)
}

/// `path MODEL`: the link when it points at the cached file, else the
/// cached file itself.
pub fn path(env: &WeightsEnv, model: &ModelSource) -> ModelReport {
    let mut r = super::local::base(model);
    let rc = RepoCache::new(&env.cache_dir, &model.repo, &model.revision);
    let spot = env.link_dir.join(model.file_name());
    let stamps = Stamps::load(&env.stamps);
    if let Some(c) = rc.find(&model.revision, &model.file) {
        let linked = std::fs::canonicalize(&spot).ok() == Some(c.blob.clone());
        r.status = ModelStatus::Cached;
        r.commit = Some(c.commit.clone());
        r.size = Some(c.size);
        r.path = Some(c.snapshot.display().to_string());
        r.link = linked.then(|| spot.display().to_string());
        r.verified = stamps.valid(&c.blob).is_some();
        r.message = r.link.clone().or(r.path.clone()).unwrap_or_default();
        return r;
    }
    // Another repo's file of the same name is not this model's path.
    if let (_, Spot::Plain(_) | Spot::Ours(..)) = super::local::spot_of(env, model) {
        if let Ok(m) = std::fs::metadata(&spot) {
            r.status = ModelStatus::Local;
            r.size = Some(m.len());
            r.path = Some(spot.display().to_string());
            r.link = r.path.clone();
            r.verified = stamps.valid(&spot).is_some();
            r.message = spot.display().to_string();
            return r;
        }
    }
    missing(model)
}
