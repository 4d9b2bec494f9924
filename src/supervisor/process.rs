//! Runtime child processes: spawn into their own process group with logs
//! kept and a minimal environment, classify how they ended.

use super::logfile;
use crate::protocol::status::{ExitCause, ExitRecord};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::SystemTime;

/// How many of the runtime's last log lines an exit record quotes.
const TAIL_LINES: usize = 5;

/// A started child and where its log for this run begins.
pub struct Started {
    pub child: tokio::process::Child,
    pub pid: u32,
    pub log_offset: u64,
}

/// Everything one start needs, already expanded.
pub struct Launch<'a> {
    pub command: &'a str,
    pub args: &'a [String],
    /// The whole environment: nothing else is inherited.
    pub env: &'a BTreeMap<String, String>,
    pub cwd: Option<&'a Path>,
    pub log_path: &'a Path,
    /// The command line and manifest env as the log header shows them,
    /// secrets already hidden.
    pub shown: String,
}

/// Spawns the command in a new process group with exactly `env`, stdout and
/// stderr appended to the log, stdin closed. The error says what is wrong
/// and what to change.
pub fn spawn(l: Launch) -> Result<Started, String> {
    check_cwd(l.cwd)?;
    check_command(l.command, l.cwd)?;
    let header = format!("\n=== arw: starting `{}` at {} ===\n", l.shown, crate::time::now_rfc3339());
    let (log, log_offset) =
        logfile::open_for_run(l.log_path, &header).map_err(|e| format!("cannot open the runtime log: {e}"))?;
    let out = log.try_clone().map_err(|e| format!("cannot open the runtime log: {e}"))?;
    let mut cmd = tokio::process::Command::new(l.command);
    cmd.args(l.args)
        .env_clear()
        .envs(l.env)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(log))
        .process_group(0)
        .kill_on_drop(false);
    if let Some(dir) = l.cwd {
        cmd.current_dir(dir);
    }
    // SAFETY: the closure only calls prctl, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(crate::sys::die_with_parent);
    }
    let child = cmd.spawn().map_err(|e| spawn_error(l.command, l.env, &e))?;
    let pid = child.id().unwrap_or(0);
    Ok(Started { child, pid, log_offset })
}

/// A missing `cwd` would otherwise surface as the command being missing.
fn check_cwd(cwd: Option<&Path>) -> Result<(), String> {
    let Some(dir) = cwd else { return Ok(()) };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!("the working directory `{}` (`cwd`) is not a directory; fix `cwd`", dir.display())),
        Err(_) => {
            Err(format!("the working directory `{}` (`cwd`) does not exist; create it or fix `cwd`", dir.display()))
        }
    }
}

/// Names the usual mistakes in a command given as a path; `exec` would
/// only say "Permission denied" for a directory.
fn check_command(command: &str, cwd: Option<&Path>) -> Result<(), String> {
    if !command.contains('/') {
        return Ok(());
    }
    let path = match cwd {
        Some(dir) if Path::new(command).is_relative() => dir.join(command),
        _ => Path::new(command).to_path_buf(),
    };
    match std::fs::metadata(&path) {
        Err(_) => Err(format!("cannot start `{command}`: it does not exist; install it or fix `command`")),
        Ok(m) if m.is_dir() => {
            Err(format!("cannot start `{command}`: it is a directory; point `command` at the program to run"))
        }
        Ok(m) if m.permissions().mode() & 0o111 == 0 => {
            Err(format!("cannot start `{command}`: it is not executable; `chmod +x` it or fix `command`"))
        }
        Ok(_) => Ok(()),
    }
}

fn spawn_error(command: &str, env: &BTreeMap<String, String>, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound && !command.contains('/') {
        let path = env.get("PATH").map(String::as_str).unwrap_or("");
        return format!(
            "cannot start `{command}`: not found on PATH (`{path}`); install it or give its full path in `command`"
        );
    }
    format!("cannot start `{command}`: {e}")
}

/// What the runtime wrote during one run, for its exit record.
#[derive(Debug, Default, PartialEq)]
pub struct LogExcerpt {
    pub tail: Vec<String>,
    pub error_line: Option<String>,
}

/// llama.cpp's level marker: `0.00.002.829 E srv ...` or `E ...`.
fn level(line: &str) -> Option<char> {
    let rest = line.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.').trim_start();
    let mut chars = rest.chars();
    match (chars.next(), chars.next()) {
        (Some(c @ ('E' | 'W' | 'I' | 'D')), Some(' ')) => Some(c),
        _ => None,
    }
}

/// The line that best names the cause: the first one llama.cpp marks as an
/// error (`E`), else the first unmarked line with an error word. Warnings
/// and info lines that merely mention "failed" are skipped.
fn first_error_line(lines: &[String]) -> Option<String> {
    if let Some(l) = lines.iter().find(|l| level(l) == Some('E')) {
        return Some(l.clone());
    }
    lines
        .iter()
        .find(|l| {
            let lower = l.to_ascii_lowercase();
            level(l).is_none()
                && ["error", "failed", "fatal", "panicked", "couldn't", "cannot", "could not"]
                    .iter()
                    .any(|w| lower.contains(w))
        })
        .cloned()
}

/// The last non-empty lines the runtime wrote since `offset`, and the first
/// error-looking one among the last 64 KiB of them.
pub fn log_excerpt(path: &Path, offset: u64) -> LogExcerpt {
    let buf = logfile::read_since(path, offset, 64 * 1024);
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<String> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty() && !l.starts_with("=== arw:"))
        .map(|l| l.chars().take(300).collect())
        .collect();
    let error_line = first_error_line(&lines);
    let keep = lines.len().saturating_sub(TAIL_LINES);
    lines.drain(..keep);
    LogExcerpt { tail: lines, error_line }
}

/// OOM kills counted by this process's cgroup (v2), if readable.
pub fn oom_kill_count() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let events = std::fs::read_to_string(format!("/sys/fs/cgroup{}/memory.events", rel.trim())).ok()?;
    events.lines().find_map(|l| l.strip_prefix("oom_kill ")).and_then(|v| v.trim().parse().ok())
}

/// Turns a wait status into an exit record. `planned` is the cause arw set
/// before it sent the signal itself; `oom_before` the cgroup's OOM count at
/// spawn.
pub fn classify(
    status: std::process::ExitStatus,
    planned: Option<ExitCause>,
    oom_before: Option<u64>,
    log: LogExcerpt,
) -> ExitRecord {
    use std::os::unix::process::ExitStatusExt;
    let code = status.code();
    let signal = status.signal();
    let signal_name = signal.map(crate::sys::signal_name);
    let how = match (code, &signal_name) {
        (Some(c), _) => format!("exited with code {c}"),
        (None, Some(s)) => format!("killed by {s}"),
        _ => "ended".to_string(),
    };
    let oom = signal == Some(libc::SIGKILL) && matches!((oom_before, oom_kill_count()), (Some(a), Some(b)) if b > a);
    let (cause, detail) = match planned {
        Some(ExitCause::HealthTimeout) => (ExitCause::HealthTimeout, format!("health probes kept failing; {how}")),
        Some(ExitCause::StartupTimeout) => {
            (ExitCause::StartupTimeout, format!("not ready before the start-up deadline; {how}"))
        }
        Some(cause) => (cause, format!("stopped by arw; {how}")),
        None if oom => (ExitCause::OomKilled, "killed by the kernel OOM killer (SIGKILL)".to_string()),
        None if signal.is_some() => (ExitCause::Signaled, how),
        None => (ExitCause::Exited, how),
    };
    ExitRecord {
        at: crate::time::rfc3339(SystemTime::now()),
        cause,
        code,
        signal: signal_name,
        detail,
        stderr_tail: log.tail,
        error_line: log.error_line,
    }
}

/// Record for a command that could not be started at all.
pub fn spawn_failure(detail: String) -> ExitRecord {
    ExitRecord {
        at: crate::time::now_rfc3339(),
        cause: ExitCause::SpawnFailed,
        code: None,
        signal: None,
        detail,
        stderr_tail: Vec::new(),
        error_line: None,
    }
}

/// A free loopback port for runtimes that ask for `{port}`.
pub fn free_port(host: &str) -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind((host, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Expands `{port}` and `${VAR}` in one argument (or manifest `env`
/// value); an unset variable is an error that names it.
pub fn expand(arg: &str, port: Option<u16>, knobs: &crate::knobs::Knobs) -> Result<String, String> {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(pos) = rest.find("${") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let end = after.find('}').ok_or_else(|| format!("unterminated `${{` in argument `{arg}`"))?;
        let name = &after[..end];
        let value = knobs
            .non_empty(name)
            .ok_or_else(|| format!("`${{{name}}}` is not set; set `{name}` on the command (e.g. `{name}=... arw runtime restore --id ID`) or in the manifest's `env`"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if let Some(p) = port {
        out = out.replace("{port}", &p.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::io::Write;

    /// `{port}` and `${VAR}` expand; an unset variable is named in the error.
    #[test]
    fn expansion() {
        let mut env = BTreeMap::new();
        env.insert("LLAMA_MODEL_PATH".to_string(), "/m/x.gguf".to_string());
        let knobs = crate::knobs::Knobs::new(env);
        assert_eq!(expand("--port={port}", Some(8080), &knobs).unwrap(), "--port=8080");
        assert_eq!(expand("${LLAMA_MODEL_PATH}", None, &knobs).unwrap(), "/m/x.gguf");
        let err = expand("${ARW_TEST_SURELY_UNSET_VAR}", None, &knobs).unwrap_err();
        assert!(err.contains("ARW_TEST_SURELY_UNSET_VAR"), "{err}");
    }

    /// The tail quotes only this run's lines, last ones first cut; the
    /// first error line is picked out.
    #[test]
    fn tail_starts_at_this_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rt.log");
        std::fs::write(&path, "old run line\n=== arw: starting x ===\n").unwrap();
        let offset = std::fs::metadata(&path).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        writeln!(f, "0.00.01 W warning: failed to pin memory").unwrap();
        writeln!(f, "error: something plain").unwrap();
        writeln!(f, "0.00.02 E gguf_init_from_file: failed to open GGUF file 'x'").unwrap();
        for i in 0..8 {
            writeln!(f, "line {i}").unwrap();
        }
        let log = log_excerpt(&path, offset);
        assert_eq!(log.tail, vec!["line 3", "line 4", "line 5", "line 6", "line 7"]);
        assert_eq!(log.error_line.as_deref(), Some("0.00.02 E gguf_init_from_file: failed to open GGUF file 'x'"));
    }
}
