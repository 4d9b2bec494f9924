//! `arw runtime restore --id ID`.

use super::Ctx;
use crate::cli::RestoreArgs;
use crate::error::{ArwError, Exit};
use crate::protocol::{ErrorKind, Request, Response, RestoreRequest};
use crate::render;
use anyhow::{bail, Result};

pub fn run(ctx: &Ctx, args: RestoreArgs) -> Result<Exit> {
    let mut client = ctx.connect()?;
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
            // With --json, scripts still get a document for the exhausted case.
            if args.json {
                if let Some(ArwError::Remote { kind: ErrorKind::BudgetExhausted, message, hint }) =
                    e.downcast_ref::<ArwError>()
                {
                    render::print_json(&serde_json::json!({
                        "id": args.id, "outcome": "exhausted", "message": message, "hint": hint,
                    }))?;
                }
            }
            return Err(e);
        }
    };
    if args.json {
        render::print_json(&report)?;
    } else {
        print!("{}", render::restore_text(&report));
    }
    Ok(match report.outcome.as_str() {
        "ready" | "allowed" => Exit::Ok,
        _ => Exit::Failure,
    })
}
