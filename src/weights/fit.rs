//! Would the model fit? Free disk where the blob goes (statvfs), and
//! `MemAvailable` against the GGUF-based estimate of llama-server's memory
//! (header read with a Range request) or, without a header, the size-based
//! formula the smoke guard uses.
//!
//! Disk is a hard limit (a download that cannot finish wastes bandwidth);
//! memory is advice (the file may be meant for another machine or a GPU).

use crate::gguf::{self, GgufInfo};
use crate::knobs::Knobs;
use crate::protocol::{DiskFit, Fit, MemoryFit};
use std::path::{Path, PathBuf};

/// Size-based fallback: `size × factor + overhead` (smoke defaults).
const DEFAULT_MEM_FACTOR: f64 = 1.2;
const DEFAULT_MEM_OVERHEAD_GB: f64 = 0.5;

/// Free bytes on the filesystem holding `dir` (or its nearest existing
/// ancestor, since the cache may not exist yet).
pub fn disk_free(dir: &Path) -> std::io::Result<(PathBuf, u64)> {
    let mut probe = dir.to_path_buf();
    while !probe.exists() {
        if !probe.pop() {
            probe = PathBuf::from("/");
            break;
        }
    }
    let c = std::ffi::CString::new(probe.as_os_str().as_encoded_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: statvfs writes into the zeroed struct we pass; the path is a
    // valid NUL-terminated string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((probe, st.f_bavail as u64 * st.f_frsize as u64))
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
pub fn mem_available() -> Option<u64> {
    parse_meminfo(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The verdict for a file of `size` bytes of which `have` are already on
/// disk, to be written under `dir`.
pub fn check(size: u64, have: u64, dir: &Path, header: Option<&GgufInfo>, n_ctx: u32, knobs: &Knobs) -> Fit {
    let needed_bytes = size.saturating_sub(have);
    let (probe, free_bytes) = disk_free(dir).unwrap_or((dir.to_path_buf(), 0));
    let disk = DiskFit { dir: probe.display().to_string(), free_bytes, needed_bytes, fits: free_bytes >= needed_bytes };
    let (estimate_bytes, method, n_ctx) = match header {
        Some(info) => {
            let e = gguf::estimate_memory(info, n_ctx);
            (e.total_bytes, "gguf", Some(e.n_ctx))
        }
        None => {
            let factor =
                knobs.parsed::<f64>(&["RUNTIME_SMOKE_MEM_FACTOR"]).ok().flatten().unwrap_or(DEFAULT_MEM_FACTOR);
            let overhead = knobs
                .parsed::<f64>(&["RUNTIME_SMOKE_MEM_OVERHEAD_GB"])
                .ok()
                .flatten()
                .unwrap_or(DEFAULT_MEM_OVERHEAD_GB);
            (gguf::seed_estimate_bytes(size, factor, overhead), "size", None)
        }
    };
    let available_bytes = mem_available();
    Fit {
        disk,
        memory: MemoryFit {
            available_bytes,
            estimate_bytes,
            method: method.into(),
            n_ctx,
            fits: available_bytes.map(|a| a >= estimate_bytes),
        },
    }
}

/// One line per resource, for progress messages and text output.
pub fn describe(fit: &Fit) -> Vec<String> {
    let b = crate::units::bytes;
    let d = &fit.disk;
    let disk = if d.fits {
        format!("disk: {} to write, {} free at {} — fits", b(d.needed_bytes), b(d.free_bytes), d.dir)
    } else {
        format!(
            "disk: {} to write but only {} free at {} — does not fit; free {} or set HF_HUB_CACHE to a bigger disk",
            b(d.needed_bytes),
            b(d.free_bytes),
            d.dir,
            b(d.needed_bytes - d.free_bytes)
        )
    };
    let m = &fit.memory;
    let how = match (m.method.as_str(), m.n_ctx) {
        ("gguf", Some(n)) => format!("GGUF header, n_ctx {n}"),
        _ => "from the file size".to_string(),
    };
    let memory = match (m.available_bytes, m.fits) {
        (Some(a), Some(true)) => format!("memory: ~{} needed ({how}), {} available — fits", b(m.estimate_bytes), b(a)),
        (Some(a), _) => format!(
            "memory: ~{} needed ({how}) but only {} available — llama-server may not load it here",
            b(m.estimate_bytes),
            b(a)
        ),
        (None, _) => format!("memory: ~{} needed ({how}); MemAvailable unknown", b(m.estimate_bytes)),
    };
    vec![disk, memory]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MemAvailable is read in kB and reported in bytes.
    #[test]
    fn meminfo_parse() {
        let text = "MemTotal: 100 kB\nMemFree: 5 kB\nMemAvailable:   2048 kB\n";
        assert_eq!(parse_meminfo(text), Some(2048 * 1024));
        assert_eq!(parse_meminfo("MemTotal: 1 kB\n"), None);
    }

    /// A missing directory is measured at its nearest existing ancestor, and
    /// an absurd size does not fit.
    #[test]
    fn disk_fit_for_missing_dir() {
        let dir = tempfile::tempdir().unwrap();
        let fit = check(u64::MAX / 2, 0, &dir.path().join("a/b/c"), None, 0, &Knobs::default());
        assert_eq!(fit.disk.dir, dir.path().display().to_string());
        assert!(!fit.disk.fits);
        assert_eq!(fit.memory.method, "size");
        assert!(describe(&fit)[0].contains("does not fit"));
    }
}
