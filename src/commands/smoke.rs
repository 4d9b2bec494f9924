//! `arw runtime smoke`: resolves the mode and workspace root on the client
//! side (they depend on this shell's cwd and knobs), runs the smoke in the
//! daemon, shows stages as they finish, then the outcome.

use super::Ctx;
use crate::cli::SmokeArgs;
use crate::error::Exit;
use crate::protocol::smoke::Mode;
use crate::protocol::smoke::{Outcome, SmokeReport};
use crate::protocol::{Event, Request, Response, SmokeRequest};
use crate::render::{self, out};
use crate::text as sanitize;
use anyhow::{anyhow, bail, Result};
use std::io::Write;
use std::path::PathBuf;

/// `--mode`, else `ARW_SMOKE_MODE`, else `MODE`, else stub.
fn resolve_mode(flag: Option<Mode>) -> Result<Mode> {
    if let Some(m) = flag {
        return Ok(m);
    }
    for var in ["ARW_SMOKE_MODE", "MODE"] {
        if let Ok(v) = std::env::var(var) {
            if v.trim().is_empty() {
                continue;
            }
            return Mode::parse(&v).ok_or_else(|| {
                anyhow!(crate::error::ArwError::Remote {
                    kind: crate::protocol::ErrorKind::BadRequest,
                    message: format!("`{var}={v}` is not a smoke mode"),
                    hint: Some("use one of: stub, real, gpu, vision".into()),
                })
            });
        }
    }
    Ok(Mode::Stub)
}

/// `VISION_SMOKE_ROOT` / `RUNTIME_SMOKE_ROOT`, else `.smoke/...` under the cwd.
fn resolve_root(mode: Mode) -> Result<PathBuf> {
    let (var, default) = match mode {
        Mode::Vision => ("VISION_SMOKE_ROOT", ".smoke/vision"),
        _ => ("RUNTIME_SMOKE_ROOT", ".smoke/runtime"),
    };
    let root = std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or(PathBuf::from(default));
    Ok(if root.is_absolute() { root } else { std::env::current_dir()?.join(root) })
}

pub fn run(ctx: &Ctx, args: SmokeArgs) -> Result<Exit> {
    let mode = resolve_mode(args.mode)?;
    let root = resolve_root(mode)?;
    let mut client = ctx.connect()?;
    let pid = client.welcome.pid;
    let progress = !args.json;
    let req = SmokeRequest { mode, root, timeout_secs: args.timeout };
    let response = client.request_with_events(Request::Smoke(req), |event| {
        if let (Event::SmokeStage(stage), true) = (event, progress) {
            let mark = match stage.outcome.as_str() {
                "passed" => "ok  ",
                "skipped" => "skip",
                _ => "FAIL",
            };
            // A closed stderr must not stop the run (eprintln! would panic).
            let _ = writeln!(
                std::io::stderr(),
                "  {mark} {:<12} {:>6} ms  {}",
                sanitize::line(&stage.name),
                stage.ms,
                sanitize::message(&stage.detail)
            );
        }
    });
    let response = response.map_err(|e| ctx.went_away(e, pid))?;
    let Response::Smoke(report) = response else { bail!("the daemon answered `smoke` with something else") };
    if args.json {
        render::print_json(&report)?;
    } else {
        out::print(&summary(&report))?;
    }
    Ok(exit_for(&report, args.fail_on_skip))
}

fn exit_for(report: &SmokeReport, fail_on_skip: bool) -> Exit {
    match report.outcome {
        Outcome::Passed => Exit::Ok,
        Outcome::Failed => Exit::Failure,
        Outcome::Skipped | Outcome::Downgraded if fail_on_skip => Exit::SmokeSkipped,
        Outcome::Skipped | Outcome::Downgraded => Exit::Ok,
    }
}

fn summary(report: &SmokeReport) -> String {
    let mut table = render::new_table(render::use_color());
    table.set_header(["stage", "outcome", "ms", "detail"]);
    for s in &report.stages {
        table.add_row(vec![
            sanitize::cell(&s.name),
            sanitize::cell(s.outcome.as_str()),
            s.ms.to_string(),
            sanitize::cell(&s.detail),
        ]);
    }
    let mut out = format!("{table}\n");
    if let Some(lines) = &report.checklist {
        out.push_str("\nweights checklist:\n");
        for line in lines {
            out.push_str(&format!("  {}\n", sanitize::line(line)));
        }
    }
    out.push_str(&format!(
        "smoke {} ({}) {} in {} ms{}\n",
        report.mode.as_str(),
        report.ran,
        report.outcome.as_str().to_uppercase(),
        report.duration_ms,
        report.reason.as_ref().map(|r| format!(": {}", sanitize::message(r))).unwrap_or_default()
    ));
    if let Some(ws) = &report.workspace {
        out.push_str(&format!("workspace {}\n", sanitize::line(ws)));
    }
    out
}
