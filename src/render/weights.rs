//! Text output of `arw runtime weights`: summaries and tables on stdout;
//! failures and the checklist are for stderr.

use crate::protocol::{Checklist, ModelReport, ModelStatus, WeightsAction, WeightsReport};
use crate::units::bytes;
use comfy_table::{Cell, Color};

fn name(m: &ModelReport) -> String {
    if m.repo.is_empty() {
        m.file.clone()
    } else {
        format!("{}::{}", m.repo, m.file)
    }
}

fn size(m: &ModelReport) -> String {
    m.size.map(bytes).unwrap_or_else(|| "—".into())
}

fn is_failure(m: &ModelReport) -> bool {
    m.status.is_failure()
}

/// What goes to stdout.
pub fn text(report: &WeightsReport, color: bool) -> String {
    match report.action {
        WeightsAction::List => list_table(report, color),
        WeightsAction::Verify => verify_table(report, color),
        WeightsAction::Path => report
            .models
            .iter()
            .filter(|m| !is_failure(m))
            .filter_map(|m| m.link.clone().or_else(|| m.path.clone()))
            .map(|p| format!("{p}\n"))
            .collect(),
        WeightsAction::Fetch if report.dry_run => dry_run_table(report, color),
        WeightsAction::Fetch => fetch_summary(report),
    }
}

/// Lines for stderr: what could not be read, and one per failed model (the
/// checklist is separate). In `list`, a model not downloaded is a row of
/// the inventory, not an error.
pub fn failures(report: &WeightsReport) -> Vec<String> {
    let shown_in_table = matches!(report.action, WeightsAction::Verify);
    let listing = matches!(report.action, WeightsAction::List);
    let models = report
        .models
        .iter()
        .filter(|m| is_failure(m) && !(shown_in_table && m.status != ModelStatus::Missing))
        .filter(|m| !(listing && m.status == ModelStatus::Missing))
        .filter(|m| !(report.checklist.is_some() && m.status == ModelStatus::NeedsOptIn))
        .map(|m| format!("{}: {}", name(m), m.message));
    report.problems.iter().cloned().chain(models).collect()
}

fn fetch_summary(report: &WeightsReport) -> String {
    let mut out = String::new();
    for m in report.models.iter().filter(|m| !is_failure(m)) {
        out.push_str(&format!("{} ({}): {}\n", name(m), size(m), m.message));
        if let Some(src) = &m.source {
            out.push_str(&format!("  from  {src}\n"));
        }
        if let Some(p) = &m.path {
            out.push_str(&format!("  path  {p}\n"));
        }
        if let Some(l) = m.link.as_ref().filter(|l| Some(*l) != m.path.as_ref()) {
            out.push_str(&format!("  link  {l}\n"));
        }
        if let Some(p) = m.link.as_ref().or(m.path.as_ref()) {
            out.push_str(&format!("export LLAMA_MODEL_PATH={p}\n"));
        }
    }
    out
}

fn yes_no(cell: bool, color: bool) -> Cell {
    let c = Cell::new(if cell { "yes" } else { "no" });
    match (color, cell) {
        (false, _) => c,
        (true, true) => c.fg(Color::Green),
        (true, false) => c.fg(Color::Yellow),
    }
}

fn list_table(report: &WeightsReport, color: bool) -> String {
    let mut out = format!("cache {}\n", report.cache_dir);
    if report.models.is_empty() {
        out.push_str("nothing cached and no models in the roster\n");
        return out;
    }
    let mut t = super::new_table(color);
    t.set_header(["model", "revision", "size", "verified", "path"]);
    for m in &report.models {
        let verified = if m.status == ModelStatus::Missing { Cell::new("—") } else { yes_no(m.verified, color) };
        let path = match m.status {
            ModelStatus::Missing => "not downloaded".to_string(),
            _ => m.link.clone().or(m.path.clone()).unwrap_or_default(),
        };
        let rev = match m.revision.len() {
            40 => m.revision[..12].to_string(),
            _ => m.revision.clone(),
        };
        t.add_row(vec![Cell::new(name(m)), Cell::new(rev), Cell::new(size(m)), verified, Cell::new(path)]);
    }
    out.push_str(&t.to_string());
    out.push('\n');
    out
}

fn verify_table(report: &WeightsReport, color: bool) -> String {
    if report.models.is_empty() && report.problems.is_empty() {
        return format!("nothing to verify: no weights in `{}` or `{}`\n", report.cache_dir, report.link_dir);
    }
    let present: Vec<&ModelReport> = report.models.iter().filter(|m| m.status != ModelStatus::Missing).collect();
    if present.is_empty() {
        return String::new();
    }
    let mut t = super::new_table(color);
    t.set_header(["model", "result", "size", "sha256", "path"]);
    for m in present {
        let result = Cell::new(m.status);
        let result = match (color, m.status) {
            (false, _) => result,
            (true, ModelStatus::Verified) => result.fg(Color::Green),
            (true, _) => result.fg(Color::Red),
        };
        let sha = m.sha256.as_deref().map(|s| format!("{}…", &s[..s.len().min(16)]));
        let mut detail = m.path.clone().unwrap_or_default();
        if m.status != ModelStatus::Verified {
            detail.push('\n');
            detail.push_str(&m.message);
        }
        t.add_row(vec![
            Cell::new(name(m)),
            result,
            Cell::new(size(m)),
            Cell::new(sha.unwrap_or_else(|| "—".into())),
            Cell::new(detail),
        ]);
    }
    format!("{t}\n")
}

fn dry_run_table(report: &WeightsReport, color: bool) -> String {
    let mut t = super::new_table(color);
    t.set_header(["model", "action", "size", "disk", "memory"]);
    let mut notes = String::new();
    for m in &report.models {
        let (disk, memory) = match &m.fit {
            Some(f) => {
                let lines = crate::weights::fit::describe(f);
                let verdict = |ok: Option<bool>| match ok {
                    Some(true) => "fits",
                    Some(false) => "does not fit",
                    None => "unknown",
                };
                notes.push_str(&format!("{}:\n  {}\n  {}\n", name(m), lines[0], lines[1]));
                (
                    format!("{} ({} free)", verdict(Some(f.disk.fits)), bytes(f.disk.free_bytes)),
                    format!("{} (~{}, {})", verdict(f.memory.fits), bytes(f.memory.estimate_bytes), f.memory.method),
                )
            }
            None => ("—".into(), "—".into()),
        };
        let action = match m.status {
            ModelStatus::WouldDownload => "download".to_string(),
            ModelStatus::Cached => "reuse (cached)".to_string(),
            other => other.as_str().replace('_', " "),
        };
        t.add_row(vec![name(m), action, size(m), disk, memory]);
        if !m.message.is_empty() {
            notes.push_str(&format!("{}: {}\n", name(m), m.message));
        }
    }
    format!("{t}\n{notes}")
}

/// The checklist, for stderr.
pub fn checklist(c: &Checklist) -> String {
    let mut out = format!("arw: {}\n", c.reason);
    out.push_str("to get the weights:\n");
    for (i, step) in c.steps.iter().enumerate() {
        out.push_str(&format!("  {}. {step}\n", i + 1));
    }
    if !c.mirrors.is_empty() {
        out.push_str("mirrors configured (tried after the hub):\n");
        for m in &c.mirrors {
            out.push_str(&format!("  - {m}\n"));
        }
    }
    out
}
