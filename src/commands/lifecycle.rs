//! `arw runtime start ID`, `stop ID`, `reload [ID]`.

use super::Ctx;
use crate::cli::{ReloadArgs, StartArgs, StopArgs};
use crate::error::Exit;
use crate::protocol::lifecycle::{RuntimeReloadRequest, StartRequest, StopOutcome, StopRequest};
use crate::protocol::{Request, Response, RestoreOutcome};
use crate::render::{self, out};
use crate::text as sanitize;
use anyhow::{bail, Result};

pub fn start(ctx: &Ctx, args: StartArgs) -> Result<Exit> {
    let mut client = ctx.connect()?;
    let pid = client.welcome.pid;
    let req = StartRequest { id: args.id, wait_ms: args.timeout.saturating_mul(1000) };
    let report = match client.request(Request::Start(req)).map_err(|e| ctx.went_away(e, pid))? {
        Response::Started(r) => r,
        _ => bail!("the daemon answered `start` with something else; run `arw daemon restart`"),
    };
    if args.json {
        render::print_json(&report)?;
    } else {
        out::print(&format!(
            "{}\nrestart budget: {}\n",
            sanitize::message(&report.message),
            render::budget_line(&report.restart_budget)
        ))?;
    }
    Ok(if report.outcome == RestoreOutcome::Ready { Exit::Ok } else { Exit::Failure })
}

pub fn stop(ctx: &Ctx, args: StopArgs) -> Result<Exit> {
    let mut client = ctx.connect()?;
    let pid = client.welcome.pid;
    let id = args.id.clone();
    let report = match client.request(Request::Stop(StopRequest { id: args.id })).map_err(|e| ctx.went_away(e, pid))? {
        Response::Stopped(r) => r,
        _ => bail!("the daemon answered `stop` with something else; run `arw daemon restart`"),
    };
    if args.json {
        render::print_json(&report)?;
    } else {
        let mut text = format!(
            "{}\nrestart budget untouched: {}\n",
            sanitize::message(&report.message),
            render::budget_line(&report.restart_budget)
        );
        if report.auto_start && report.outcome == StopOutcome::Stopped {
            text.push_str(&format!(
                "auto_start = true, but it stays stopped until `arw runtime start {}`\n",
                sanitize::line(&id)
            ));
        }
        out::print(&text)?;
    }
    // A group that outlived the stop is a failure to report, not to hide.
    Ok(if report.group_gone { Exit::Ok } else { Exit::Failure })
}

pub fn reload(ctx: &Ctx, args: ReloadArgs) -> Result<Exit> {
    // Not `ctx.connect()`: its note about another manifest is this error.
    let mut client = crate::client::connect_or_spawn(&ctx.paths, ctx.policy)?;
    let pid = client.welcome.pid;
    super::same_config_or_refuse(&client)?;
    let req = RuntimeReloadRequest { id: args.id.clone(), wait_ms: args.timeout.saturating_mul(1000) };
    let report = match client.request(Request::RuntimeReload(req)).map_err(|e| ctx.went_away(e, pid))? {
        Response::Reloaded(r) => r,
        _ => bail!("the daemon answered `reload` with something else; run `arw daemon restart`"),
    };
    let exit =
        if report.restarts.iter().all(|r| r.outcome == RestoreOutcome::Ready) { Exit::Ok } else { Exit::Failure };
    if args.json {
        render::print_json(&report)?;
        return Ok(exit);
    }
    let list = |v: &Vec<String>| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.iter().map(|id| sanitize::cell(id)).collect::<Vec<_>>().join(", ")
        }
    };
    let mut text = format!(
        "reloaded {}{}\n  added     {}\n  removed   {}\n  changed   {}\n  restarted {}\n",
        sanitize::line(&report.origin),
        args.id.as_deref().map(|id| format!(" (only `{}`)", sanitize::line(id))).unwrap_or_default(),
        list(&report.added),
        list(&report.removed),
        list(&report.changed),
        list(&report.restarted),
    );
    if !report.pending.is_empty() {
        text.push_str(&format!(
            "  pending   {} (changed in the manifest, not applied; `arw runtime reload` applies all)\n",
            list(&report.pending)
        ));
    }
    for restart in &report.restarts {
        text.push_str(&format!("{}\n", sanitize::message(&restart.message)));
    }
    out::print(&text)?;
    Ok(exit)
}
