//! `arw runtime logs ID [--follow] [-n N]` (and `arw daemon logs --runtime ID`).

use super::Ctx;
use crate::cli::LogsArgs;
use crate::error::Exit;
use crate::protocol::lifecycle::LogsRequest;
use crate::protocol::{Event, Request, Response};
use crate::render::{self, out};
use crate::text as sanitize;
use anyhow::{bail, Result};

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
    let mut client = ctx.connect()?;
    let pid = client.welcome.pid;
    let req = LogsRequest { id: args.id.clone(), lines: args.lines, follow: args.follow };
    if !args.follow {
        let report = match client.request(Request::Logs(req)).map_err(|e| ctx.went_away(e, pid))? {
            Response::Logs(r) => r,
            _ => bail!("the daemon answered `logs` with something else; run `arw daemon restart`"),
        };
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
        return Ok(Exit::Ok);
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
