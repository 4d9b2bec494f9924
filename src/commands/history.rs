//! `arw runtime history ID [-n N] [--json]`.

use super::Ctx;
use crate::cli::HistoryArgs;
use crate::error::Exit;
use crate::protocol::history::{HistoryEvent, HistoryReport, HistoryRequest};
use crate::protocol::{Request, Response};
use crate::render::{self, out};
use crate::text::cell;
use anyhow::{bail, Result};
use comfy_table::Cell;

pub fn run(ctx: &Ctx, args: HistoryArgs) -> Result<Exit> {
    let mut client = ctx.connect()?;
    let pid = client.welcome.pid;
    let req = HistoryRequest { id: args.id.clone(), limit: args.lines };
    let report = match client.request(Request::History(req)).map_err(|e| ctx.went_away(e, pid))? {
        Response::History(r) => r,
        _ => bail!("the daemon answered `history` with something else; run `arw daemon restart`"),
    };
    if args.json {
        render::print_json(&report)?;
    } else {
        out::print(&text(&report, render::use_color()))?;
    }
    Ok(Exit::Ok)
}

/// The detail, and the runtime's own error line under it.
fn detail(e: &HistoryEvent) -> String {
    let mut lines: Vec<String> = e.detail.iter().map(|d| cell(d)).collect();
    if let Some(line) = &e.error_line {
        lines.push(format!("» {}", cell(line)));
    }
    lines.join("\n")
}

pub fn text(report: &HistoryReport, color: bool) -> String {
    let mut out = String::new();
    for note in &report.notes {
        out.push_str(&format!("note: {}\n", cell(note)));
    }
    if report.events.is_empty() {
        out.push_str(&format!("no journaled events for `{}` yet ({})\n", cell(&report.id), cell(&report.journal)));
        return out;
    }
    let mut table = render::new_table(color);
    table.set_header(vec!["time", "event", "gen", "pid", "cause", "detail"]);
    for e in &report.events {
        let dash = || "—".to_string();
        table.add_row(vec![
            Cell::new(&e.at),
            Cell::new(&e.kind),
            Cell::new(e.generation.map(|g| g.to_string()).unwrap_or_else(dash)),
            Cell::new(e.pid.map(|p| p.to_string()).unwrap_or_else(dash)),
            Cell::new(e.cause.as_deref().map(cell).unwrap_or_else(dash)),
            Cell::new(detail(e)),
        ]);
    }
    out.push_str(&table.to_string());
    out.push('\n');
    let shown = report.events.len() as u64;
    if shown < report.total {
        out.push_str(&format!("the newest {shown} of {} events; `-n 0` shows all\n", report.total));
    }
    out
}
