//! Human output: comfy-table tables and one-line badges. JSON output is the
//! protocol types serialized as they are.

pub mod weights;

use crate::protocol::matrix::{Matrix, NodeEntry};
use crate::protocol::status::{RuntimeView, State};
use crate::protocol::{RestoreReport, StatusReport};
use comfy_table::{presets, Cell, Color, ContentArrangement, Table};
use std::io::IsTerminal;
use std::time::SystemTime;

/// Colour only on a terminal, and never with `NO_COLOR` set (any value).
pub fn use_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Prints one JSON document on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    println!("{text}");
    Ok(())
}

pub fn new_table(color: bool) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    if !color {
        table.force_no_tty();
    }
    table
}

fn state_color(state: State) -> Color {
    match state {
        State::Ready => Color::Green,
        State::Starting | State::Degraded => Color::Yellow,
        State::Error => Color::Red,
        State::Offline | State::Unknown => Color::Grey,
    }
}

/// The node's entry in the matrix (there is one per report).
pub fn node(matrix: &Matrix) -> Option<(&String, &NodeEntry)> {
    matrix.items.iter().next()
}

/// `node <id> · OK · label · ready 1/1 · restart headroom 3/3 · next reset — · ttl 60s`
pub fn badge(report: &StatusReport) -> String {
    let Some((node_id, entry)) = node(&report.matrix) else {
        return "no node in the matrix".into();
    };
    let now = SystemTime::now();
    let rts = &report.supervisor.runtimes;
    let ready = rts.iter().filter(|r| r.state == State::Ready).count();
    let max: u32 = rts.iter().map(|r| r.restart_budget.max_restarts).sum();
    let remaining: u32 = rts.iter().map(|r| r.restart_budget.remaining).sum();
    let next_reset = rts
        .iter()
        .filter_map(|r| r.restart_budget.reset_at.as_deref().and_then(crate::time::parse))
        .min()
        .map(|at| crate::time::relative(at, now))
        .unwrap_or_else(|| "—".into());
    format!(
        "node {node_id} · {} · {} · ready {ready}/{} · restart headroom {remaining}/{max} · next reset {next_reset} · ttl {}s",
        entry.status.code.as_str().to_uppercase(),
        entry.status.label,
        rts.len(),
        report.matrix.ttl_seconds
    )
}

fn restarts_cell(rt: &RuntimeView) -> String {
    let b = &rt.restart_budget;
    format!("{}/{} used", b.used, b.max_restarts)
}

fn reset_cell(rt: &RuntimeView, now: SystemTime) -> String {
    rt.restart_budget
        .reset_at
        .as_deref()
        .and_then(crate::time::parse)
        .map(|at| crate::time::relative(at, now))
        .unwrap_or_else(|| "—".into())
}

fn last_exit_cell(rt: &RuntimeView) -> String {
    match &rt.last_exit {
        None => "—".into(),
        Some(exit) => match &exit.error_line {
            Some(line) => format!("{}\n» {}", exit.detail, line),
            None => exit.detail.clone(),
        },
    }
}

pub fn status_text(report: &StatusReport, color: bool) -> String {
    let now = SystemTime::now();
    let mut out = badge(report);
    out.push('\n');
    if let Some((_, entry)) = node(&report.matrix) {
        for line in &entry.status.detail {
            out.push_str(&format!("  {line}\n"));
        }
    }
    if report.supervisor.runtimes.is_empty() {
        out.push_str(&format!("no runtimes registered ({})\n", report.supervisor.registry_origin));
        return out;
    }
    let mut table = new_table(color);
    table.set_header(["id", "state", "accel", "endpoint", "pid", "restarts", "next reset", "last exit"]);
    for rt in &report.supervisor.runtimes {
        let mut state = rt.state.as_str().to_string();
        if let Some(reason) = &rt.reason {
            state.push_str(&format!("\n{reason}"));
        }
        let state_cell = if color { Cell::new(state).fg(state_color(rt.state)) } else { Cell::new(state) };
        table.add_row(vec![
            Cell::new(&rt.id),
            state_cell,
            Cell::new(format!("{:?}", rt.accelerator).to_lowercase()),
            Cell::new(rt.endpoint.clone().unwrap_or_else(|| "—".into())),
            Cell::new(rt.pid.map(|p| p.to_string()).unwrap_or_else(|| "—".into())),
            Cell::new(restarts_cell(rt)),
            Cell::new(reset_cell(rt, now)),
            Cell::new(last_exit_cell(rt)),
        ]);
    }
    out.push_str(&table.to_string());
    out.push('\n');
    out
}

pub fn restore_text(report: &RestoreReport) -> String {
    let b = &report.restart_budget;
    let reset = b
        .reset_at
        .as_deref()
        .and_then(crate::time::parse)
        .map(|at| format!("; window resets {}", crate::time::relative(at, SystemTime::now())))
        .unwrap_or_default();
    format!(
        "{}\nrestart budget: {} of {} left ({} automatic, {} manual in the last {}s){reset}\n",
        report.message, b.remaining, b.max_restarts, b.automatic, b.manual, b.window_secs
    )
}
