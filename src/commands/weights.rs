//! `arw runtime weights [fetch [MODEL] | list | verify [MODEL] | path MODEL]`.
//!
//! The daemon does the work; this side sends the request, shows the pushed
//! progress on stderr (an indicatif bar with bytes, rate and ETA when stdout
//! and stderr are terminals, plain lines otherwise), then prints the report: text or one JSON document on stdout,
//! failures and the checklist on stderr. Exit 1 unless the report is ok.

use super::Ctx;
use crate::cli::{WeightsArgs, WeightsCommand};
use crate::error::Exit;
use crate::protocol::{Event, Request, Response, WeightsAction, WeightsProgress, WeightsRequest};
use crate::render;
use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

pub fn run(ctx: &Ctx, args: WeightsArgs) -> Result<Exit> {
    let (action, model) = match args.command {
        None => (WeightsAction::Fetch, None),
        Some(WeightsCommand::Fetch { model }) => (WeightsAction::Fetch, model),
        Some(WeightsCommand::List) => (WeightsAction::List, None),
        Some(WeightsCommand::Verify { model }) => (WeightsAction::Verify, model),
        Some(WeightsCommand::Path { model }) => (WeightsAction::Path, Some(model)),
    };
    if args.dry_run && action != WeightsAction::Fetch {
        eprintln!("arw: error: `--dry-run` only applies to `fetch`");
        return Ok(Exit::Usage);
    }
    let cwd = std::env::current_dir().ok();
    let dir = args.dir.map(|d| match &cwd {
        Some(cwd) => cwd.join(d),
        None => d,
    });
    let request = WeightsRequest {
        action,
        model,
        dry_run: args.dry_run,
        allow_downloads: args.allow_downloads,
        dir: dir.map(|d| d.display().to_string()),
        cwd: cwd.map(|d| d.display().to_string()),
    };
    let mut client = ctx.connect()?;
    let mut progress = ProgressView::new();
    let response = client.request_with_events(Request::Weights(request), |event| {
        if let Event::WeightsProgress(p) = event {
            progress.show(&p);
        }
    });
    progress.finish();
    let Response::Weights(report) = response? else {
        bail!("the daemon answered `weights` with something else; run `arw daemon restart`")
    };
    if args.json {
        render::print_json(&report)?;
    } else {
        render::out::print(&render::weights::text(&report, render::use_color()))?;
    }
    for line in render::weights::failures(&report) {
        eprintln!("arw: error: {line}");
    }
    if let Some(c) = &report.checklist {
        eprint!("{}", render::weights::checklist(c));
    }
    Ok(if report.ok { Exit::Ok } else { Exit::Failure })
}

/// Progress on stderr: a bar on a terminal, otherwise one line per phase
/// change and per 10 % of a transfer.
struct ProgressView {
    bar: Option<ProgressBar>,
    tty: bool,
    last: Option<(String, Option<String>)>,
    last_decile: u64,
}

impl ProgressView {
    fn new() -> ProgressView {
        ProgressView {
            bar: None,
            // Drawn on stderr, but only when stdout is a terminal too: a
            // piped or captured run gets plain lines.
            tty: std::io::stderr().is_terminal() && std::io::stdout().is_terminal(),
            last: None,
            last_decile: 0,
        }
    }

    fn show(&mut self, p: &WeightsProgress) {
        if p.phase == "done" {
            // The report that follows says it.
            return;
        }
        let key = (p.phase.clone(), p.message.clone());
        let news = self.last.as_ref() != Some(&key);
        if news {
            self.last_decile = 0;
        }
        self.last = Some(key);
        let name = p.file.rsplit('/').next().unwrap_or(&p.file);
        let counting = matches!(p.phase.as_str(), "downloading" | "verifying");
        if self.tty {
            if counting {
                let bar = self.bar.get_or_insert_with(new_bar);
                bar.set_length(p.total_bytes.unwrap_or(0));
                bar.set_position(p.done_bytes);
                bar.set_message(format!("{} {name}", p.phase));
            }
            if let (true, Some(msg)) = (news, &p.message) {
                match &self.bar {
                    Some(bar) => bar.println(format!("{name}: {msg}")),
                    None => eprintln!("{name}: {msg}"),
                }
            }
            return;
        }
        if news {
            match &p.message {
                Some(msg) => {
                    for line in msg.lines() {
                        eprintln!("{name}: {line}");
                    }
                }
                None if counting => eprintln!(
                    "{name}: {}{}",
                    p.phase,
                    p.source.as_ref().map(|s| format!(" from {s}")).unwrap_or_default()
                ),
                None => {}
            }
        }
        if let (true, Some(total)) = (counting, p.total_bytes.filter(|t| *t > 0)) {
            let decile = p.done_bytes * 10 / total;
            if decile > self.last_decile {
                self.last_decile = decile;
                eprintln!(
                    "{name}: {} {}% ({} of {})",
                    p.phase,
                    decile * 10,
                    crate::units::bytes(p.done_bytes),
                    crate::units::bytes(total)
                );
            }
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

fn new_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}
