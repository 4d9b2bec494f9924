//! The huggingface_hub cache layout, so arw reuses other tools' downloads and
//! they reuse arw's:
//!
//! ```text
//! <cache>/models--owner--name/blobs/<etag>              the bytes (LFS etag = sha256)
//! <cache>/models--owner--name/blobs/<etag>.incomplete   a download in progress
//! <cache>/models--owner--name/snapshots/<commit>/<file> -> ../../blobs/<etag>
//! <cache>/models--owner--name/refs/<revision>           the commit, as text
//! <cache>/.locks/models--owner--name/<etag>.lock        held while downloading
//! ```
//!
//! A blob appears only by renaming a verified `.incomplete` file, so the
//! snapshot link (the "final path") never points at unverified bytes. Paths
//! come from `hf_hub::{Cache, Repo}` so they match what hf-hub computes.

use hf_hub::{Cache, Repo, RepoType};
use std::io;
use std::path::{Path, PathBuf};

/// One repo's corner of the cache.
pub struct RepoCache {
    cache_dir: PathBuf,
    repo: Repo,
    inner: hf_hub::CacheRepo,
}

/// A file found in a snapshot.
#[derive(Debug, Clone)]
pub struct CachedFile {
    pub commit: String,
    /// `snapshots/<commit>/<file>`.
    pub snapshot: PathBuf,
    /// What the snapshot entry resolves to.
    pub blob: PathBuf,
    /// The blob's name: for LFS files, its sha256.
    pub etag: String,
    pub size: u64,
}

impl RepoCache {
    pub fn new(cache_dir: &Path, repo_id: &str, revision: &str) -> RepoCache {
        let repo = Repo::with_revision(repo_id.to_string(), RepoType::Model, revision.to_string());
        RepoCache {
            cache_dir: cache_dir.to_path_buf(),
            inner: Cache::new(cache_dir.to_path_buf()).repo(repo.clone()),
            repo,
        }
    }

    pub fn root(&self) -> PathBuf {
        self.cache_dir.join(self.repo.folder_name())
    }

    pub fn blob(&self, etag: &str) -> PathBuf {
        self.inner.blob_path(etag)
    }

    /// Where an interrupted download of `etag` waits to be resumed (the name
    /// huggingface_hub uses too, so either tool can resume the other's).
    pub fn incomplete(&self, etag: &str) -> PathBuf {
        self.root().join("blobs").join(format!("{etag}.incomplete"))
    }

    pub fn lock_file(&self, etag: &str) -> PathBuf {
        self.cache_dir.join(".locks").join(self.repo.folder_name()).join(format!("{etag}.lock"))
    }

    pub fn snapshot(&self, commit: &str, file: &str) -> PathBuf {
        self.inner.pointer_path(commit).join(file)
    }

    /// The commit `refs/<revision>` points at. Anything but a commit there
    /// (another tool's bug, a hostile write) would name a path outside the
    /// snapshots, so it counts as no ref.
    pub fn read_ref(&self, revision: &str) -> Option<String> {
        if !is_relative_inside(revision) {
            return None;
        }
        let text = std::fs::read_to_string(self.root().join("refs").join(revision)).ok()?;
        Some(text.trim().to_ascii_lowercase()).filter(|c| is_commit(c))
    }

    /// The cached copy of `file`: the snapshot `refs/<revision>` names first,
    /// else (offline reuse) the newest snapshot that has it.
    pub fn find(&self, revision: &str, file: &str) -> Option<CachedFile> {
        let preferred = self.read_ref(revision).or_else(|| {
            // A revision that is itself a commit has no ref file.
            is_commit(revision).then(|| revision.to_string())
        });
        if let Some(found) = preferred.and_then(|c| self.cached_at(&c, file)) {
            return Some(found);
        }
        let mut snapshots: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(self.root().join("snapshots"))
            .ok()?
            .flatten()
            .filter_map(|e| {
                let when = e.metadata().and_then(|m| m.modified()).ok()?;
                Some((when, e.file_name().to_string_lossy().into_owned()))
            })
            .collect();
        snapshots.sort();
        snapshots.into_iter().rev().find_map(|(_, commit)| self.cached_at(&commit, file))
    }

    fn cached_at(&self, commit: &str, file: &str) -> Option<CachedFile> {
        let snapshot = self.snapshot(commit, file);
        let blob = std::fs::canonicalize(&snapshot).ok()?;
        let meta = std::fs::metadata(&blob).ok()?;
        if !meta.is_file() {
            return None;
        }
        let etag = blob.file_name()?.to_string_lossy().into_owned();
        Some(CachedFile { commit: commit.to_string(), snapshot, blob, etag, size: meta.len() })
    }

    /// Links `snapshots/<commit>/<file>` to the (verified) blob and records
    /// `refs/<revision>`; each step is atomic, so a kill leaves either the old
    /// state or the new one.
    pub fn install(&self, commit: &str, revision: &str, file: &str, etag: &str) -> io::Result<PathBuf> {
        // Every part becomes a path component; the callers checked them, and
        // this is the last line before the filesystem.
        let parts_ok = is_commit(commit)
            && (is_commit(etag) || super::sources::is_sha256(etag))
            && is_relative_inside(file)
            && is_relative_inside(revision);
        if !parts_ok {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "refusing a commit, etag, file or revision that is not a plain name inside the cache",
            ));
        }
        let snapshot = self.snapshot(commit, file);
        let parent = snapshot.parent().expect("snapshot path has a parent");
        std::fs::create_dir_all(parent)?;
        let depth = file.split('/').count() + 1;
        let target = PathBuf::from("../".repeat(depth)).join("blobs").join(etag);
        replace_symlink(&target, &snapshot)?;
        if revision != commit {
            let ref_path = self.root().join("refs").join(revision);
            std::fs::create_dir_all(ref_path.parent().expect("ref has a parent"))?;
            write_atomic(&ref_path, commit.as_bytes())?;
        }
        Ok(snapshot)
    }
}

pub fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A relative path that stays where it is joined: no root, no `.`/`..` or
/// empty components, no backslash, no control characters (NUL included).
pub fn is_relative_inside(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
        && path.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Creates or replaces the symlink `link` → `target` without a moment where
/// `link` is missing.
pub fn replace_symlink(target: &Path, link: &Path) -> io::Result<()> {
    let tmp = sibling(link, "tmp-link");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = sibling(path, "tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn sibling(path: &Path, tag: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{tag}.{}", std::process::id()))
}

/// How `<link_dir>/<file>` was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Symlink,
    Copy,
}

impl LinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Symlink => "symlink",
            LinkKind::Copy => "copy",
        }
    }
}

/// What sits at `<link_dir>/<file>` before we touch it.
pub enum LinkSpot {
    Empty,
    /// A symlink (ours from an earlier run, or someone's).
    Symlink,
    /// A plain file: the seed's download, or a copy.
    File(u64),
}

pub fn inspect_link(link: &Path) -> LinkSpot {
    match std::fs::symlink_metadata(link) {
        Ok(m) if m.file_type().is_symlink() => LinkSpot::Symlink,
        Ok(m) if m.is_file() => LinkSpot::File(m.len()),
        _ => LinkSpot::Empty,
    }
}

/// Points `<link_dir>/<name>` at `target` (absolute): a symlink, or a copy
/// where symlinks are not possible. A plain file already there is left alone
/// unless `replace_file` (it was checked and is not the same bytes... or is).
pub fn link_into(link_dir: &Path, name: &str, target: &Path) -> io::Result<(PathBuf, LinkKind)> {
    std::fs::create_dir_all(link_dir)?;
    let link = link_dir.join(name);
    match replace_symlink(target, &link) {
        Ok(()) => Ok((link, LinkKind::Symlink)),
        Err(_) => {
            let tmp = sibling(&link, "tmp-copy");
            std::fs::copy(target, &tmp)?;
            std::fs::rename(&tmp, &link)?;
            Ok((link, LinkKind::Copy))
        }
    }
}

/// Every `.gguf` in every model snapshot of the cache: `(repo, file, cached)`,
/// and the directories that exist but could not be read.
pub fn scan(cache_dir: &Path) -> (Vec<(String, String, CachedFile)>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut unreadable = |dir: &Path, e: io::Error| {
        if e.kind() != io::ErrorKind::NotFound {
            problems.push(format!("cannot read `{}`: {e}", dir.display()));
        }
    };
    let repos = match std::fs::read_dir(cache_dir) {
        Ok(r) => r,
        Err(e) => {
            unreadable(cache_dir, e);
            return (out, problems);
        }
    };
    let mut repos: Vec<_> = repos.flatten().collect();
    repos.sort_by_key(|e| e.file_name());
    for entry in repos {
        let folder = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = folder.strip_prefix("models--") else {
            continue;
        };
        // As huggingface_hub: the first `--` separates owner and name.
        let repo_id = rest.replacen("--", "/", 1);
        let rc = RepoCache::new(cache_dir, &repo_id, "main");
        let snaps = match std::fs::read_dir(rc.root().join("snapshots")) {
            Ok(s) => s,
            Err(e) => {
                unreadable(&rc.root().join("snapshots"), e);
                continue;
            }
        };
        let mut snaps: Vec<_> = snaps.flatten().collect();
        snaps.sort_by_key(|e| e.file_name());
        for snap in snaps {
            let commit = snap.file_name().to_string_lossy().into_owned();
            let mut files = Vec::new();
            walk(&snap.path(), &snap.path(), &mut files);
            files.sort();
            for file in files {
                if let Some(c) = rc.cached_at(&commit, &file) {
                    out.push((repo_id.clone(), file, c));
                }
            }
        }
    }
    (out, problems)
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            walk(base, &path, out);
        } else if path.extension().is_some_and(|x| x.eq_ignore_ascii_case("gguf")) {
            if let Ok(rel) = path.strip_prefix(base) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache refuses to install under names that leave it, and ignores
    /// a `refs/main` that does not hold a commit.
    #[test]
    fn hostile_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let rc = RepoCache::new(dir.path(), "org/model", "main");
        let etag = "a".repeat(64);
        for (commit, file, rev) in [
            ("../../../../victim", "m.gguf", "main"),
            (&*"c".repeat(40), "../m.gguf", "main"),
            (&*"c".repeat(40), "m.gguf", "/tmp/x"),
            (&*"c".repeat(40), "m\0.gguf", "main"),
        ] {
            assert!(rc.install(commit, rev, file, &etag).is_err(), "{commit} {file} {rev}");
        }
        assert!(rc.install(&"c".repeat(40), "main", "m.gguf", "../../x").is_err());
        assert!(!rc.root().exists(), "nothing was created");
        std::fs::create_dir_all(rc.root().join("refs")).unwrap();
        std::fs::write(rc.root().join("refs/main"), "../../../../victim").unwrap();
        assert_eq!(rc.read_ref("main"), None);
        assert!(!is_relative_inside("a/./b") && is_relative_inside("refs/pr/1"));
    }

    /// An installed file resolves through `refs/main` to its blob, with a
    /// relative snapshot link like huggingface_hub writes.
    #[test]
    fn install_then_find() {
        let dir = tempfile::tempdir().unwrap();
        let rc = RepoCache::new(dir.path(), "org/model", "main");
        let etag = "a".repeat(64);
        let commit = "c".repeat(40);
        std::fs::create_dir_all(rc.blob(&etag).parent().unwrap()).unwrap();
        std::fs::write(rc.blob(&etag), b"gguf").unwrap();
        let snap = rc.install(&commit, "main", "sub/m.gguf", &etag).unwrap();
        assert_eq!(std::fs::read_link(&snap).unwrap(), PathBuf::from(format!("../../../blobs/{etag}")));
        let found = rc.find("main", "sub/m.gguf").unwrap();
        assert_eq!(found.commit, commit);
        assert_eq!(found.etag, etag);
        assert_eq!(found.size, 4);
        assert!(dir.path().join("models--org--model/refs/main").is_file());
        let (all, problems) = scan(dir.path());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].0, "org/model");
        assert_eq!(all[0].1, "sub/m.gguf");
    }
}
