//! The command line, declared once: `--help`, completions and man pages all
//! come from here.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Supervises local LLM runtimes (llama.cpp's llama-server first) and tells
/// the truth about them.
///
/// Commands talk to a background daemon that starts on first use
/// (`ARW_HOME`, default `~/.local/state/arw`, holds its socket and logs).
///
/// With `--json`, a failure prints `{"error": {"kind", "message",
/// "exit_code", "hint"}}` on stdout; exit codes: 0 ok, 1 failure, 2 usage,
/// 3 daemon unreachable, 4 restart budget exhausted, 5 smoke skipped.
#[derive(Debug, Parser)]
#[command(name = "arw", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Never replace a running daemon of another build; fail instead.
    #[arg(long, global = true)]
    pub no_restart_daemon: bool,

    /// Runtime manifest for a daemon this command starts (same as `ARW_CONFIG`).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Whether this command prints JSON, so its failures print a JSON
    /// error document too.
    pub fn json(&self) -> bool {
        match &self.command {
            Command::Runtime(RuntimeCommand::Status(a)) => a.json,
            Command::Runtime(RuntimeCommand::Restore(a)) => a.json,
            Command::Runtime(RuntimeCommand::Smoke(a)) => a.json,
            Command::Runtime(RuntimeCommand::Weights(a)) => a.json,
            Command::Runtime(RuntimeCommand::History(a)) => a.json,
            Command::Chat(a) => a.json,
            Command::Events(a) => a.json,
            Command::Daemon(DaemonCommand::Status { json } | DaemonCommand::Reload { json }) => *json,
            Command::Runtime(RuntimeCommand::Start(a)) => a.json,
            Command::Runtime(RuntimeCommand::Stop(a)) => a.json,
            Command::Runtime(RuntimeCommand::Logs(a)) => a.json,
            Command::Runtime(RuntimeCommand::Reload(a)) => a.json,
            _ => false,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect and control supervised runtimes.
    #[command(subcommand)]
    Runtime(RuntimeCommand),
    /// Manage the background daemon.
    #[command(subcommand)]
    Daemon(DaemonCommand),
    /// Send a chat message to a runtime through the daemon (OpenAI shape).
    Chat(ChatArgs),
    /// Print the daemon's events (the same bus `GET /events` serves).
    ///
    /// Without `--follow`: the events the daemon still keeps (the last
    /// 1024) after `--after`, then exit. With it: the newest matrix, then
    /// every event as it happens until Ctrl-C. Topics: runtime.updated,
    /// runtime.health, runtime.exit, runtime.restart, smoke.stage,
    /// weights.progress, models.changed, events.reset.
    Events(EventsArgs),
    /// Print a shell completion script (or write it into --dir).
    Completions {
        /// The shell to generate for.
        shell: clap_complete::Shell,
        /// Write the script into this directory instead of stdout.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Print the man page (or write every page into --dir).
    Man {
        /// Write `arw.1` and one page per subcommand into this directory.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RuntimeCommand {
    /// Show every runtime and the node's runtime matrix.
    Status(StatusArgs),
    /// Restart a runtime under supervision and report the remaining budget.
    Restore(RestoreArgs),
    /// Prove daemon → supervisor → runtime → chat → matrix on this machine.
    ///
    /// Outcomes: passed, failed, skipped (could not run here), downgraded
    /// (ran on the simulated GPU). Knobs: MODE, ARW_SMOKE_MODE,
    /// LLAMA_SERVER_BIN, LLAMA_MODEL_PATH, LLAMA_SERVER_ARGS, LLAMA_SERVER_PORT,
    /// LLAMA_GPU_SIMULATE, LLAMA_GPU_REQUIRE_REAL, RUNTIME_SMOKE_* (see README).
    Smoke(SmokeArgs),
    /// Fetch, list, verify or locate GGUF weights in the Hugging Face cache.
    ///
    /// Nothing is downloaded without `--allow-downloads` or
    /// `LLAMA_ALLOW_DOWNLOADS=1`; without it arw reuses verified local copies
    /// or prints a checklist and exits 1. Downloads run in the daemon, land in
    /// the Hugging Face cache (`HF_HUB_CACHE`, else `$HF_HOME/hub`, else
    /// `~/.cache/huggingface/hub`), are checked against their sha256, resume
    /// after interruptions, and get a link in `$ARW_HOME/cache/models/`.
    ///
    /// Environment: `HF_TOKEN` / `HUGGINGFACEHUB_API_TOKEN` (never printed),
    /// `HF_ENDPOINT`, `LLAMA_MODEL_SOURCES="repo::file,..."`,
    /// `ARW_MODEL_SOURCES` (roster file), `ARW_WEIGHTS_STALL_SECS` (30),
    /// `ARW_WEIGHTS_RETRIES` (5), `ARW_WEIGHTS_BACKOFF_MS` (500),
    /// `LLAMA_ARG_CTX_SIZE` (context for the memory estimate).
    Weights(WeightsArgs),
    /// Serve a stub llama-server endpoint (used by smoke runs and tests).
    #[command(hide = true)]
    StubLlama(crate::stub::StubArgs),
    /// Start a runtime and wait until it is ready (or fails).
    ///
    /// Starting a runtime that is offline (never started, or stopped) is no
    /// restart: the budget is not spent. One in `error` with its budget
    /// spent is refused (exit 4); `arw runtime restore --id ID --force`
    /// overrides.
    Start(StartArgs),
    /// Stop a runtime: its whole process group, and it stays offline.
    ///
    /// SIGTERM to the group, SIGKILL after 5 s. The restart budget is not
    /// touched, and nothing restarts it — `auto_start` included — until
    /// `arw runtime start ID` (or `restore`).
    Stop(StopArgs),
    /// Print the end of a runtime's log; `--follow` keeps printing.
    ///
    /// Following goes on across restarts (each run starts with an
    /// `=== arw: starting … ===` header) and log rotations, until Ctrl-C.
    Logs(LogsArgs),
    /// Re-read the runtime manifest; restart only runtimes whose entry changed.
    ///
    /// Waits until the restarted runtimes are ready again (exit 1 if one is
    /// not). With ID, only that runtime's entry is applied (added, changed
    /// or removed); other changes stay pending. A broken manifest keeps the
    /// running registry and exits 1 naming file, line and key.
    Reload(ReloadArgs),
    /// Show a runtime's journaled lifecycle: starts, exits with their
    /// causes, automatic restarts, restores and stops, oldest first.
    ///
    /// The journal (`$ARW_HOME/state/arw.db`) outlives the daemon, so this
    /// covers daemon restarts and crashes (`daemon_lost`), and a runtime
    /// removed from the manifest while the journal still keeps it.
    History(HistoryArgs),
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// The runtime to start (see `arw runtime status`).
    pub id: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for the runtime to become ready.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// The runtime to stop (see `arw runtime status`).
    pub id: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The runtime whose log to show (see `arw runtime status`).
    pub id: String,
    /// Keep printing new lines, across restarts and rotations, until Ctrl-C.
    #[arg(short, long)]
    pub follow: bool,
    /// How many of the last lines to print first.
    #[arg(short = 'n', long, default_value_t = 50)]
    pub lines: usize,
    /// `{"id","path","exists","lines"}`; with `--follow`, one `{"id","line"}` per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReloadArgs {
    /// Apply only this runtime's entry; default: the whole manifest.
    pub id: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for the restarted runtimes to be ready again.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The runtime (see `arw runtime status`).
    pub id: String,
    /// Show the newest N events (0: all the journal keeps, up to 10000).
    #[arg(short = 'n', long = "lines", default_value_t = 50)]
    pub lines: u32,
    /// Print the history as one JSON document.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print `{"supervisor": ..., "matrix": ...}` as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// Keep running and re-render on every pushed `runtime.updated` event.
    #[arg(long)]
    pub watch: bool,
    /// Exit 1 when the node status is `error` (for scripts and CI gates).
    #[arg(long, conflicts_with = "watch")]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The runtime to restore (see `arw runtime status`).
    #[arg(long)]
    pub id: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Only say whether a restore is allowed now and when the window resets.
    #[arg(long)]
    pub dry_run: bool,
    /// Restore even when the restart budget is exhausted.
    #[arg(long)]
    pub force: bool,
    /// Seconds to wait for the runtime to become ready.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct SmokeArgs {
    /// stub (default), real, gpu or vision; else `ARW_SMOKE_MODE`, then `MODE`.
    #[arg(long, value_enum)]
    pub mode: Option<crate::protocol::smoke::Mode>,
    /// Print the result as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// Exit 5 when the outcome is `skipped` or `downgraded`.
    #[arg(long)]
    pub fail_on_skip: bool,
    /// Seconds before the run is stopped (0: never); overrides
    /// `RUNTIME_SMOKE_TIMEOUT_SECS` and `SMOKE_TIMEOUT_SECS`.
    #[arg(long)]
    pub timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The runtime to talk to (see `arw runtime status`).
    #[arg(long)]
    pub runtime: String,
    /// The user message.
    pub prompt: String,
    /// An optional system message.
    #[arg(long)]
    pub system: Option<String>,
    /// Stream the reply as it is generated.
    #[arg(long)]
    pub stream: bool,
    /// Stop after this many tokens (at least 1).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: Option<u32>,
    /// Print the runtime's whole answer (OpenAI shape) as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WeightsArgs {
    #[command(subcommand)]
    pub command: Option<WeightsCommand>,
    /// Print one JSON document on stdout (progress still goes to stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// Allow downloading (same as `LLAMA_ALLOW_DOWNLOADS=1`).
    #[arg(long, global = true)]
    pub allow_downloads: bool,
    /// Only report what a fetch would download and whether it fits on disk
    /// and in memory.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Put the `<file>` link here instead of `$ARW_HOME/cache/models`.
    #[arg(long, global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum WeightsCommand {
    /// Make a model available: reuse a verified copy, else download it (default).
    Fetch {
        /// `repo::file`, a file name or a repo from the roster; default: the
        /// roster's models in order, stopping at the first that is available.
        model: Option<String>,
    },
    /// Show cached GGUF files: size, whether verified, path.
    List,
    /// Re-hash cached files and compare them with their expected sha256.
    Verify {
        /// Only this model (`repo::file`, file name or repo); default: all.
        model: Option<String>,
    },
    /// Print the local path to use as `LLAMA_MODEL_PATH`.
    Path {
        /// `repo::file`, a file name or a repo from the roster.
        model: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Run the daemon in the foreground.
    Serve {
        /// Runtime manifest to load (else `ARW_CONFIG`, then
        /// `~/.config/arw/runtimes.toml`, then the built-in default).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Serve the HTTP surface (matrix, metrics, events, dashboard) on
        /// ADDRESS:PORT; beats `ARW_HTTP_LISTEN` and `[daemon] http_listen`.
        /// Beyond loopback it needs `ARW_ADMIN_TOKEN` or `admin_token_file`.
        #[arg(long, value_name = "ADDRESS:PORT")]
        http: Option<String>,
        /// Report this build id (tests of the replacement path).
        #[arg(long, hide = true)]
        fake_build_id: Option<String>,
    },
    /// Is the daemon running, and which build is it?
    Status {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop the daemon and every runtime it supervises.
    Stop,
    /// Stop the daemon and start a fresh one.
    Restart,
    /// Re-read the runtime manifest; a bad file keeps the running registry.
    Reload {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the end of the daemon log (or of one runtime's log: the same
    /// as `arw runtime logs ID`).
    Logs {
        /// How many lines.
        #[arg(short = 'n', long, default_value_t = 50)]
        lines: usize,
        /// Show this runtime's log instead of the daemon's.
        #[arg(long)]
        runtime: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Keep printing events as they happen.
    #[arg(short, long)]
    pub follow: bool,
    /// Only these topics: `runtime.*,models.changed` (`*` for all).
    #[arg(long, value_name = "PATTERNS", default_value = "")]
    pub topics: String,
    /// Start after this event id (an `id` printed earlier).
    #[arg(long, value_name = "ID")]
    pub after: Option<u64>,
    /// One JSON object per line: `{"id","topic","time","data"}`.
    #[arg(long)]
    pub json: bool,
}
