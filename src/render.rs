//! Human output: comfy-table tables and one-line badges. JSON output is the
//! protocol types serialized as they are.

pub mod out;
pub mod weights;

pub use out::print_json;

use crate::protocol::matrix::{Matrix, NodeEntry};
use crate::protocol::status::{RuntimeView, State};
use crate::protocol::{RestoreReport, StatusReport};
use crate::text::cell;
use comfy_table::{presets, Cell, Color, ColumnConstraint, ContentArrangement, Table};
use std::io::IsTerminal;
use std::time::SystemTime;

/// Colour only on a terminal, and never with `NO_COLOR` set (any value).
pub fn use_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// The width to fit tables into: the terminal's, when stdout is one that
/// reports a width; 80 for a terminal that reports 0 (unknown); none when
/// stdout is not a terminal (pipes get unwrapped lines).
pub fn table_width() -> Option<u16> {
    use std::os::fd::AsRawFd;
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    // SAFETY: TIOCGWINSZ fills a winsize struct we own; fd 1 stays open.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::ioctl(stdout.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    Some(if rc == 0 && size.ws_col > 0 { size.ws_col } else { 80 })
}

/// A table fitted to [`table_width`]; `color` only decides styling, so
/// `NO_COLOR` keeps the wrapping.
pub fn new_table(color: bool) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    // comfy-table would look at the terminal itself and take a 0 width at
    // its word; arw decides width and styling.
    table.force_no_tty();
    if color {
        table.enforce_styling();
    }
    if let Some(width) = table_width() {
        table.set_width(width);
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
        "node {} · {} · {} · ready {ready}/{} · restart headroom {remaining}/{max} · next reset {next_reset} · ttl {}s",
        cell(node_id),
        cell(&entry.status.code.as_str().to_uppercase()),
        cell(&entry.status.label),
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
            Some(line) => format!("{}\n» {}", cell(&exit.detail), cell(line)),
            None => cell(&exit.detail),
        },
    }
}

pub fn status_text(report: &StatusReport, color: bool) -> String {
    let now = SystemTime::now();
    let mut out = badge(report);
    out.push('\n');
    if let Some((_, entry)) = node(&report.matrix) {
        for line in &entry.status.detail {
            out.push_str(&format!("  {}\n", cell(line)));
        }
    }
    if report.supervisor.runtimes.is_empty() {
        out.push_str(&format!("no runtimes registered ({})\n", cell(&report.supervisor.registry_origin)));
        return out;
    }
    let mut table = new_table(color);
    // Below 100 columns the accelerator and the reset time (the badge has
    // the earliest one) give way to the columns that matter.
    let wide = table.width().is_none_or(|w| w >= 100);
    let mut header = vec!["id", "state", "accel", "endpoint", "pid", "restarts", "next reset", "last exit"];
    if !wide {
        header.retain(|h| !matches!(*h, "accel" | "next reset"));
    }
    table.set_header(header.clone());
    for rt in &report.supervisor.runtimes {
        let mut state = rt.state.as_str().to_string();
        // A reason that only repeats the last exit is said once, there.
        let repeats_exit = rt.last_exit.as_ref().is_some_and(|e| Some(&e.detail) == rt.reason.as_ref());
        if let Some(reason) = rt.reason.as_ref().filter(|_| !repeats_exit) {
            state.push_str(&format!("\n{}", cell(reason)));
        }
        let state_cell = if color { Cell::new(state).fg(state_color(rt.state)) } else { Cell::new(state) };
        let mut row = vec![Cell::new(cell(&rt.id)), state_cell];
        if wide {
            row.push(Cell::new(format!("{:?}", rt.accelerator).to_lowercase()));
        }
        row.push(Cell::new(rt.endpoint.as_deref().map(cell).unwrap_or_else(|| "—".into())));
        row.push(Cell::new(rt.pid.map(|p| p.to_string()).unwrap_or_else(|| "—".into())));
        row.push(Cell::new(restarts_cell(rt)));
        if wide {
            row.push(Cell::new(reset_cell(rt, now)));
        }
        row.push(Cell::new(last_exit_cell(rt)));
        table.add_row(row);
    }
    // A URL broken over two lines cannot be copied: the endpoint (and the
    // pid) keep their full width and the other columns wrap around them,
    // unless that would leave the others a character or two.
    let roomy = table.width().is_none_or(|w| w >= 72);
    for name in ["endpoint", "pid"].into_iter().filter(|_| roomy) {
        if let Some(i) = header.iter().position(|h| *h == name) {
            if let Some(column) = table.column_mut(i) {
                column.set_constraint(ColumnConstraint::ContentWidth);
            }
        }
    }
    out.push_str(&table.to_string());
    out.push('\n');
    out
}

pub fn restore_text(report: &RestoreReport) -> String {
    format!("{}\nrestart budget: {}\n", crate::text::message(&report.message), budget_line(&report.restart_budget))
}

/// `3 of 3 left (0 automatic, 1 manual in the last 600s); window resets in 9m`.
pub fn budget_line(b: &crate::protocol::status::BudgetView) -> String {
    let reset = b
        .reset_at
        .as_deref()
        .and_then(crate::time::parse)
        .map(|at| format!("; window resets {}", crate::time::relative(at, SystemTime::now())))
        .unwrap_or_default();
    format!(
        "{} of {} left ({} automatic, {} manual in the last {}s){reset}",
        b.remaining, b.max_restarts, b.automatic, b.manual, b.window_secs
    )
}
