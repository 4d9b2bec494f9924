//! `arw runtime logs ID [--follow] [-n N]` (and `arw daemon logs --runtime ID`).

use super::Ctx;
use crate::cli::LogsArgs;
use crate::error::ArwError;
use crate::error::Exit;
use crate::protocol::lifecycle::{LogsReport, LogsRequest};
use crate::protocol::{ErrorKind, Event, Request, Response};
use crate::render::{self, out};
use crate::text as sanitize;
use anyhow::{bail, Context, Result};

pub fn run(ctx: &Ctx, args: LogsArgs) -> Result<Exit> {
    // An id no manifest could hold (`../../x`) is this command's mistake.
    if let Err(message) = crate::supervisor::checked_log_path(std::path::Path::new("."), &args.id) {
        return Err(crate::error::ArwError::Remote {
            kind: crate::protocol::ErrorKind::BadRequest,
            message,
            hint: None,
        }
        .into());
    }
    if !args.follow && crate::client::probe_daemon(&ctx.paths)?.is_none() {
        return show(&args, without_daemon(ctx, &args)?);
    }
    let mut client = ctx.connect()?;
    let pid = client.welcome.pid;
    let req = LogsRequest { id: args.id.clone(), lines: args.lines, follow: args.follow };
    if !args.follow {
        return match client.request(Request::Logs(req)).map_err(|e| ctx.went_away(e, pid))? {
            Response::Logs(report) => show(&args, report),
            _ => bail!("the daemon answered `logs` with something else; run `arw daemon restart`"),
        };
    }
    let result = client.stream(Request::Logs(req), |event| {
        if let Event::LogLines(lines) = event {
            if args.json {
                for line in &lines {
                    out::println(&serde_json::json!({"id": args.id, "line": line}).to_string())?;
                }
            } else {
                print_lines(&lines)?;
            }
        }
        Ok(true)
    });
    result.map(|()| Exit::Ok).map_err(|e| ctx.went_away(e, pid))
}

fn show(args: &LogsArgs, report: LogsReport) -> Result<Exit> {
    if args.json {
        render::print_json(&report)?;
    } else {
        print_lines(&report.lines)?;
    }
    if !report.exists {
        eprintln!(
            "arw: note: `{}` has no log yet (`{}`): it has not run with this ARW_HOME; `arw runtime start {}` starts it",
            sanitize::line(&args.id),
            sanitize::line(&report.path),
            sanitize::line(&args.id)
        );
    }
    Ok(Exit::Ok)
}

/// With no daemon running, the file is read here: looking at a log must
/// not start a daemon, and with it the `auto_start` runtimes (whose new
/// runs would land in the very log being read). The ids come from the
/// manifest a daemon would load.
fn without_daemon(ctx: &Ctx, args: &LogsArgs) -> Result<LogsReport> {
    let registry = crate::registry::load(None, |k| std::env::var(k).ok())?;
    if registry.get(&args.id).is_none() {
        let known: Vec<&str> = registry.runtimes.iter().map(|r| r.id.as_str()).collect();
        return Err(ArwError::Remote {
            kind: ErrorKind::UnknownRuntime,
            message: format!("no runtime with id `{}`", args.id),
            hint: Some(if known.is_empty() {
                "no runtimes are registered; add one to runtimes.toml".to_string()
            } else {
                format!("known ids: {}", known.join(", "))
            }),
        }
        .into());
    }
    let path = crate::supervisor::log_path(&ctx.paths.runtime_logs_dir(), &args.id);
    let (lines, exists) = match crate::supervisor::logfile::tail(&path, args.lines) {
        Ok(lines) => (lines, true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), false),
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    };
    Ok(LogsReport { id: args.id.clone(), path: path.display().to_string(), exists, lines })
}

/// A runtime's bytes are untrusted: escape sequences and other controls
/// are shown escaped, never obeyed (tabs stay). `--json` has them exact.
fn print_lines(lines: &[String]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut text = String::new();
    for line in lines {
        text.push_str(&sanitize::text(line));
        text.push('\n');
    }
    out::print(&text)?;
    Ok(())
}
