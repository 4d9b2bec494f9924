//! The memory guard in front of real and GPU runs (SPEC §5): the seed's
//! formula decides, the GGUF-based estimate is shown beside it.

use crate::knobs::Knobs;
use crate::protocol::smoke::{GuardDecision, GuardReport};

const GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// `MemAvailable` in bytes from a meminfo-format file.
pub fn mem_available(path: &str) -> Result<u64, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| format!("no `MemAvailable:` line in `{path}`"))
}

/// Evaluates the guard for a model of `model_bytes`.
pub fn evaluate(
    knobs: &Knobs,
    model_path: &str,
    model_bytes: u64,
    estimate: Option<crate::gguf::MemoryEstimate>,
) -> Result<GuardReport, String> {
    // Negative or non-finite values would switch the guard off unnoticed.
    let num = |name: &str, default: f64| -> Result<f64, String> {
        let v = knobs.parsed::<f64>(&[name])?.unwrap_or(default);
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(format!("`{name}={v}` must be a number of 0 or more"))
        }
    };
    let factor = num("RUNTIME_SMOKE_MEM_FACTOR", 2.2)?;
    let overhead_gb = num("RUNTIME_SMOKE_MEM_OVERHEAD_GB", 1.0)?;
    let reserve_gb = num("RUNTIME_SMOKE_MEM_RESERVE_GB", 1.0)?;
    // A meminfo-format file standing in for /proc/meminfo (tests, what-if runs).
    let mem_source = knobs.non_empty("RUNTIME_SMOKE_MEMINFO").unwrap_or_else(|| "/proc/meminfo".to_string());
    let available = mem_available(&mem_source)?;
    let required = crate::gguf::seed_estimate_bytes(model_bytes, factor, overhead_gb);
    let usable = available.saturating_sub((reserve_gb * GB) as u64);
    let shortfall = required.saturating_sub(usable);
    let decision = if shortfall == 0 {
        GuardDecision::Ok
    } else if knobs.flag("RUNTIME_SMOKE_ALLOW_HIGH_MEM") {
        GuardDecision::Bypassed
    } else if knobs.flag("LLAMA_GPU_REQUIRE_REAL") {
        GuardDecision::Abort
    } else {
        GuardDecision::Downgrade
    };
    Ok(GuardReport {
        model_path: model_path.to_string(),
        model_bytes,
        mem_available_bytes: available,
        mem_source,
        factor,
        overhead_gb,
        reserve_gb,
        seed_required_bytes: required,
        usable_bytes: usable,
        shortfall_bytes: shortfall,
        estimate,
        decision,
    })
}

/// "needs 17.6 GB, 3.2 GB usable: short by 14.4 GB"
pub fn describe(g: &GuardReport) -> String {
    let gb = |b: u64| b as f64 / GB;
    let mut s = format!(
        "seed formula needs {:.1} GB ({:.2} GB × {} + {} GB); usable {:.1} GB (MemAvailable {:.1} GB − {} GB reserve)",
        gb(g.seed_required_bytes),
        gb(g.model_bytes),
        g.factor,
        g.overhead_gb,
        gb(g.usable_bytes),
        gb(g.mem_available_bytes),
        g.reserve_gb
    );
    if g.shortfall_bytes > 0 {
        s.push_str(&format!("; short by {:.1} GB", gb(g.shortfall_bytes)));
    }
    if let Some(e) = &g.estimate {
        s.push_str(&format!(
            "; GGUF estimate {:.2} GB (weights {:.2} + KV {:.2} at n_ctx {} + compute {:.2} + overhead {:.2})",
            gb(e.total_bytes),
            gb(e.weights_bytes),
            gb(e.kv_cache_bytes),
            e.n_ctx,
            gb(e.compute_bytes),
            gb(e.overhead_bytes)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn knobs(pairs: &[(&str, String)]) -> Knobs {
        Knobs::new(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>())
    }

    fn meminfo(dir: &tempfile::TempDir, kb: u64) -> String {
        let path = dir.path().join("meminfo");
        std::fs::write(&path, format!("MemTotal: 99999999 kB\nMemAvailable: {kb} kB\n")).unwrap();
        path.display().to_string()
    }

    /// 4 GB model, 8 GB available: 4×2.2+1 = 9.8 GB needed, 7 usable → downgrade.
    #[test]
    fn shortfall_downgrades_and_knobs_change_the_decision() {
        let dir = tempfile::tempdir().unwrap();
        let info = meminfo(&dir, 8 * 1024 * 1024);
        let size = 4 * GB as u64;
        let g = evaluate(&knobs(&[("RUNTIME_SMOKE_MEMINFO", info.clone())]), "m", size, None).unwrap();
        assert_eq!(g.decision, GuardDecision::Downgrade);
        assert!((g.shortfall_bytes as f64 / GB - 2.8).abs() < 0.01, "{}", describe(&g));
        assert!(describe(&g).contains("short by 2.8 GB"));
        let bypass = knobs(&[("RUNTIME_SMOKE_MEMINFO", info.clone()), ("RUNTIME_SMOKE_ALLOW_HIGH_MEM", "1".into())]);
        assert_eq!(evaluate(&bypass, "m", size, None).unwrap().decision, GuardDecision::Bypassed);
        let strict = knobs(&[("RUNTIME_SMOKE_MEMINFO", info.clone()), ("LLAMA_GPU_REQUIRE_REAL", "1".into())]);
        assert_eq!(evaluate(&strict, "m", size, None).unwrap().decision, GuardDecision::Abort);
        let roomy = knobs(&[("RUNTIME_SMOKE_MEMINFO", info), ("RUNTIME_SMOKE_MEM_FACTOR", "1.0".into())]);
        assert_eq!(evaluate(&roomy, "m", size, None).unwrap().decision, GuardDecision::Ok);
    }

    /// A garbage factor is an error naming the variable.
    #[test]
    fn bad_knob_is_named() {
        let err = evaluate(&knobs(&[("RUNTIME_SMOKE_MEM_FACTOR", "-5".into())]), "m", 1, None).unwrap_err();
        assert!(err.contains("RUNTIME_SMOKE_MEM_FACTOR=-5"), "{err}");
        let err = evaluate(&knobs(&[("RUNTIME_SMOKE_MEM_FACTOR", "lots".into())]), "m", 1, None).unwrap_err();
        assert!(err.contains("RUNTIME_SMOKE_MEM_FACTOR"), "{err}");
    }
}
