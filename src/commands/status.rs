//! `arw runtime status [--json] [--watch] [--check]`.

use super::Ctx;
use crate::cli::StatusArgs;
use crate::error::Exit;
use crate::protocol::{Event, Request, Response, StatusReport};
use crate::render::{self, out};
use anyhow::{bail, Result};

pub fn run(ctx: &Ctx, args: StatusArgs) -> Result<Exit> {
    // A one-shot status rides behind the hello (one round trip fewer).
    let mut client = if args.watch { ctx.connect()? } else { ctx.connect_with_status()? };
    let pid = client.welcome.pid;
    if args.watch {
        // The daemon ends a watch by closing it (it stopped or died): exit 3.
        return watch(&mut client, &args).map(|()| Exit::Ok).map_err(|e| ctx.went_away(e, pid));
    }
    let Response::Status(report) = client.request(Request::Status).map_err(|e| ctx.went_away(e, pid))? else {
        bail!("the daemon answered `status` with something else; run `arw daemon restart`")
    };
    if args.json {
        render::print_json(&report)?;
    } else {
        out::print(&render::status_text(&report, render::use_color()))?;
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
fn watch(client: &mut crate::client::Client, args: &StatusArgs) -> Result<()> {
    let color = render::use_color();
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    client.stream(Request::Watch, |event| {
        let Event::RuntimeUpdated(report) = event else { return Ok(true) };
        if args.json {
            out::println(&serde_json::to_string(&report)?)?;
        } else {
            // Clear the screen and home the cursor, like `watch`.
            let clear = if tty { "\x1b[2J\x1b[H" } else { "" };
            out::println(&format!("{clear}{}", render::status_text(&report, color)))?;
        }
        Ok(true)
    })
}
