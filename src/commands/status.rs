//! `arw runtime status [--json] [--watch] [--check]`.

use super::Ctx;
use crate::cli::StatusArgs;
use crate::error::Exit;
use crate::protocol::{Event, Request, Response, StatusReport};
use crate::render;
use anyhow::{bail, Result};
use std::io::Write;

pub fn run(ctx: &Ctx, args: StatusArgs) -> Result<Exit> {
    let mut client = ctx.connect()?;
    if args.watch {
        return watch(&mut client, &args);
    }
    let Response::Status(report) = client.request(Request::Status)? else {
        bail!("the daemon answered `status` with something else; run `arw daemon restart`")
    };
    if args.json {
        render::print_json(&report)?;
    } else {
        print!("{}", render::status_text(&report, render::use_color()));
    }
    Ok(exit_for(&report, args.check))
}

fn exit_for(report: &StatusReport, check: bool) -> Exit {
    let error =
        render::node(&report.matrix).is_some_and(|(_, n)| n.status.code == crate::protocol::matrix::StatusCode::Error);
    if check && error {
        Exit::Failure
    } else {
        Exit::Ok
    }
}

/// Re-renders on every pushed update; JSON mode prints one document per line.
fn watch(client: &mut crate::client::Client, args: &StatusArgs) -> Result<Exit> {
    let color = render::use_color();
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    client.stream(Request::Watch, |event| {
        let Event::RuntimeUpdated(report) = event else { return Ok(true) };
        let mut out = std::io::stdout().lock();
        if args.json {
            writeln!(out, "{}", serde_json::to_string(&report)?)?;
        } else {
            if tty {
                // Clear the screen and home the cursor, like `watch`.
                write!(out, "\x1b[2J\x1b[H")?;
            }
            writeln!(out, "{}", render::status_text(&report, color))?;
        }
        out.flush()?;
        Ok(true)
    })?;
    Ok(Exit::Ok)
}
