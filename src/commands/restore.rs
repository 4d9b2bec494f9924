//! `arw runtime restore --id ID`.

use super::Ctx;
use crate::cli::RestoreArgs;
use crate::error::{ArwError, Exit};
use crate::protocol::{ErrorKind, Request, Response, RestoreRequest};
use crate::render::{self, out};
use anyhow::{bail, Result};

pub fn run(ctx: &Ctx, args: RestoreArgs) -> Result<Exit> {
    let mut client = ctx.connect()?;
    let pid = client.welcome.pid;
    let req = RestoreRequest {
        id: args.id.clone(),
        dry_run: args.dry_run,
        force: args.force,
        wait_ms: args.timeout.saturating_mul(1000),
    };
    let report = match client.request(Request::Restore(req)) {
        Ok(Response::Restore(r)) => r,
        Ok(_) => {
            bail!("the daemon answered `restore` with something else; run `arw daemon restart`")
        }
        Err(e) => {
            let e = ctx.went_away(e, pid);
            // With --json, the exhausted case keeps the shape of a restore
            // report (`outcome`) besides the usual error member.
            if args.json {
                if let Some(ArwError::Remote { kind: ErrorKind::BudgetExhausted, message, hint }) =
                    e.downcast_ref::<ArwError>()
                {
                    let mut doc = crate::error::document(&e);
                    doc["id"] = args.id.into();
                    doc["outcome"] = "exhausted".into();
                    doc["message"] = message.as_str().into();
                    doc["hint"] = hint.clone().into();
                    render::print_json(&doc)?;
                }
            }
            return Err(e);
        }
    };
    if args.json {
        render::print_json(&report)?;
    } else {
        out::print(&render::restore_text(&report))?;
    }
    Ok(match report.outcome.as_str() {
        "ready" | "allowed" => Exit::Ok,
        _ => Exit::Failure,
    })
}
