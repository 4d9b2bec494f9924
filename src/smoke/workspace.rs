//! Smoke workspaces: `<root>/run.<time>-<pid>` directories holding the
//! manifest, runtime log and `result.json`, pruned to the newest few.
//!
//! Pruning removes only what arw made: a directory carrying the
//! [`MARKER`] file arw writes at creation. A run holds an exclusive lock on
//! that file for its whole life, and pruning skips a locked workspace, so
//! concurrent smokes in one root never delete each other's live runs.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Marks a run that `RUNTIME_SMOKE_KEEP_TMP=1` pinned; pruning skips it.
const KEEP_MARKER: &str = ".keep";
/// Marks a directory as an arw smoke run; locked while the run is live.
pub const MARKER: &str = ".arw-smoke-run";

pub struct Workspace {
    pub dir: PathBuf,
    pub run_id: String,
    /// The locked marker; dropping it unlocks the run for pruning.
    pub lock: Option<std::fs::File>,
}

/// Creates a fresh run directory under `root`.
pub fn create(root: &Path, pin: bool) -> std::io::Result<Workspace> {
    std::fs::create_dir_all(root)?;
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let stamp = crate::time::rfc3339(SystemTime::now()).replace([':', '-'], "").replace('.', "");
    let run_id = format!("{}-{}{:03}", stamp.trim_end_matches('Z'), std::process::id(), now.subsec_micros() % 1000);
    let dir = root.join(format!("run.{run_id}"));
    std::fs::create_dir(&dir)?;
    let mut marker = std::fs::OpenOptions::new().write(true).create_new(true).open(dir.join(MARKER))?;
    marker.lock()?;
    std::io::Write::write_all(&mut marker, format!("arw smoke run {run_id}\n").as_bytes())?;
    if pin {
        std::fs::write(dir.join(KEEP_MARKER), "pinned by RUNTIME_SMOKE_KEEP_TMP=1\n")?;
    }
    Ok(Workspace { dir, run_id, lock: Some(marker) })
}

/// An arw run that no live smoke holds.
fn prunable(dir: &Path) -> bool {
    let Ok(marker) = std::fs::File::open(dir.join(MARKER)) else { return false };
    matches!(marker.try_lock_shared(), Ok(()))
}

/// Keeps the newest `keep` runs (the current one included; pinned and live
/// ones aside) and removes runs older than `max_age`; `keep = 0` sets no
/// count limit. Returns what was removed.
pub fn prune(root: &Path, current: &Path, keep: usize, max_age: Option<Duration>) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    let mut runs: Vec<(SystemTime, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("run.")))
        .filter(|p| p != current && !p.join(KEEP_MARKER).exists() && prunable(p))
        .map(|p| (std::fs::metadata(&p).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH), p))
        .collect();
    runs.sort_by_key(|run| std::cmp::Reverse(run.0));
    let now = SystemTime::now();
    let mut removed = Vec::new();
    // The current run counts toward the newest `keep`.
    for (i, (modified, path)) in runs.into_iter().enumerate() {
        let too_many = keep > 0 && i + 1 >= keep;
        let too_old = max_age.is_some_and(|age| now.duration_since(modified).unwrap_or_default() > age);
        if (too_many || too_old) && std::fs::remove_dir_all(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With keep = 6, exactly the 6 newest runs remain (the current one
    /// included); a pinned run survives too.
    #[test]
    fn prune_keeps_exactly_the_newest() {
        let root = tempfile::tempdir().unwrap();
        let mut made = Vec::new();
        for i in 0..9 {
            let dir = root.path().join(format!("run.{i:02}"));
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join(MARKER), "").unwrap();
            let t = SystemTime::now() - Duration::from_secs(1000 - i * 10);
            std::fs::File::open(&dir).unwrap().set_modified(t).unwrap();
            made.push(dir);
        }
        std::fs::write(made[0].join(KEEP_MARKER), "").unwrap();
        let current = create(root.path(), false).unwrap().dir;
        let removed = prune(root.path(), &current, 6, None);
        assert_eq!(removed.len(), 3, "{removed:?}");
        let mut left: Vec<_> = std::fs::read_dir(root.path()).unwrap().map(|e| e.unwrap().path()).collect();
        left.sort();
        assert!(left.contains(&made[0]), "pinned run kept");
        assert!(left.contains(&current));
        for kept in &made[4..] {
            assert!(left.contains(kept), "{kept:?} should be kept");
        }
        assert_eq!(left.len(), 1 + 1 + 5);
    }

    /// Runs older than the retention age go even when few.
    #[test]
    fn prune_by_age() {
        let root = tempfile::tempdir().unwrap();
        let old = root.path().join("run.old");
        std::fs::create_dir(&old).unwrap();
        std::fs::write(old.join(MARKER), "").unwrap();
        std::fs::File::open(&old).unwrap().set_modified(SystemTime::now() - Duration::from_secs(7200)).unwrap();
        let current = create(root.path(), false).unwrap().dir;
        let removed = prune(root.path(), &current, 6, Some(Duration::from_secs(3600)));
        assert_eq!(removed, vec![old]);
    }

    /// #11.4: a `run.*` directory arw did not make, and a run another smoke
    /// holds, survive pruning; keep = 0 removes nothing by count.
    #[test]
    fn prune_spares_foreign_and_live_runs() {
        let root = tempfile::tempdir().unwrap();
        let thesis = root.path().join("run.important");
        std::fs::create_dir(&thesis).unwrap();
        std::fs::write(thesis.join("thesis.tex"), "\\documentclass{article}").unwrap();
        let live = create(root.path(), false).unwrap();
        let done = create(root.path(), false).unwrap();
        let done_dir = done.dir.clone();
        drop(done);
        let current = create(root.path(), false).unwrap().dir;
        assert!(prune(root.path(), &current, 0, None).is_empty(), "keep = 0 sets no count limit");
        let removed = prune(root.path(), &current, 1, None);
        assert_eq!(removed, vec![done_dir], "only the finished arw run goes");
        assert!(thesis.join("thesis.tex").exists() && live.dir.exists());
    }
}
