//! Issue #11, the CLI side: `--json` failures, stdout that cannot be
//! written, untrusted text on a terminal, and commands whose daemon goes
//! away under them.

use crate::common::*;
use serde_json::Value;
use std::io::{BufRead, Read};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// Asserts `out` failed with `code` and printed exactly one JSON error
/// document on stdout whose `exit_code` is that code and whose `kind` is
/// `kind`, and a human message on stderr; returns the document.
#[track_caller]
fn error_doc(out: &Output, code: i32, kind: &str) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stdout: {stdout}\nstderr: {stderr}");
    let doc: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not one JSON document ({e}): {stdout:?}\n{stderr}"));
    let err = &doc["error"];
    assert_eq!(err["kind"], kind, "{doc:#}");
    assert_eq!(err["exit_code"], code, "{doc:#}");
    assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()), "{doc:#}");
    assert!(stderr.contains("error"), "the human message still goes to stderr: {stderr}");
    doc
}

/// Whether any byte a terminal would interpret (C0 controls other than a
/// newline, DEL, or a C1 control) is in `text`.
fn has_raw_controls(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && c != '\n')
}

/// #11.14: `restore --id nope --json` prints an `unknown_runtime` error document.
#[test]
fn restore_unknown_id_prints_error_document() {
    let arw = Arw::new();
    let doc = error_doc(&arw.run(&["runtime", "restore", "--id", "nope", "--json"]), 2, "unknown_runtime");
    assert!(doc["error"]["message"].as_str().unwrap().contains("`nope`"), "{doc:#}");
    assert!(
        doc["error"]["hint"].as_str().is_some_and(|h| h.contains("llama")),
        "the hint names the known ids: {doc:#}"
    );
}

/// #11.14: `chat --runtime nope --json` prints an `unknown_runtime` error document.
#[test]
fn chat_unknown_runtime_prints_error_document() {
    let arw = Arw::new();
    error_doc(&arw.run(&["chat", "--runtime", "nope", "--json", "hi"]), 2, "unknown_runtime");
}

/// #11.14: `status --json` with no daemon and auto-start off prints a
/// `daemon_unreachable` document, exit 3.
#[test]
fn status_without_daemon_prints_error_document() {
    let arw = Arw::new().env("ARW_NO_AUTOSTART", "1");
    let doc = error_doc(&arw.run(&["runtime", "status", "--json"]), 3, "daemon_unreachable");
    assert!(doc["error"]["message"].as_str().unwrap().contains("ARW_NO_AUTOSTART"), "{doc:#}");
}

/// #11.14: a bad `ARW_RUNTIME_MATRIX_TTL_SECS` is a `bad_request` document with the hint.
#[test]
fn bad_matrix_ttl_prints_error_document() {
    let arw = Arw::new().env("ARW_RUNTIME_MATRIX_TTL_SECS", "soon");
    let doc = error_doc(&arw.run(&["runtime", "status", "--json"]), 2, "bad_request");
    assert!(doc["error"]["message"].as_str().unwrap().contains("ARW_RUNTIME_MATRIX_TTL_SECS=soon"), "{doc:#}");
    assert!(doc["error"]["hint"].is_string(), "{doc:#}");
}

/// #11.14: `ARW_HOME=/dev/null` is an error document, exit 3.
#[test]
fn home_not_a_directory_prints_error_document() {
    let arw = Arw::new();
    let out = arw.cmd(&["runtime", "status", "--json"]).env("ARW_HOME", "/dev/null").output().unwrap();
    let doc = error_doc(&out, 3, "daemon_unreachable");
    assert!(doc["error"]["message"].as_str().unwrap().contains("/dev/null"), "{doc:#}");
}

/// #11.14: a manifest the daemon cannot load is an error document naming the file.
#[test]
fn bad_config_prints_error_document() {
    let arw = Arw::with_config("[[runtime]\nid = ");
    let out = arw.run(&["runtime", "status", "--json"]);
    // A daemon that cannot start is exit 1 today (#11.19 asks for 3, and
    // the kind may follow): pin the document's shape, not those.
    let code = out.status.code().unwrap_or(-1);
    assert!(code == 1 || code == 3, "{out:?}");
    let kind =
        serde_json::from_slice::<Value>(&out.stdout).ok().and_then(|d| d["error"]["kind"].as_str().map(str::to_string));
    let doc = error_doc(&out, code, kind.as_deref().unwrap_or("missing"));
    assert!(doc["error"]["message"].as_str().unwrap().contains("runtimes.toml"), "{doc:#}");
}

/// #11.14: `daemon reload --json` on a broken file is an error document; the daemon keeps serving.
#[test]
fn reload_of_broken_file_prints_error_document() {
    let arw = Arw::with_config(&stub_runtime("stub", &[], "auto_start = false"));
    arw.status();
    std::fs::write(arw.config_path(), "[[runtime]]\nid = \"x\"\nadapter = \"nonsense\"\n").unwrap();
    let doc = error_doc(&arw.run(&["daemon", "reload", "--json"]), 1, "config");
    assert!(doc["error"]["message"].as_str().unwrap().contains("runtimes.toml"), "{doc:#}");
    assert_eq!(state(&arw.status(), "stub"), "offline", "the last good registry still serves");
}

/// #11.14: `weights path nope --json` is an error document.
#[test]
fn weights_path_unknown_prints_error_document() {
    let arw = Arw::new();
    let doc = error_doc(&arw.run(&["runtime", "weights", "path", "nope", "--json"]), 2, "bad_request");
    assert!(doc["error"]["message"].as_str().unwrap().contains("`nope`"), "{doc:#}");
}

/// #11.14: usage errors with `--json` print a `usage` document and exit 2;
/// `--help` is not an error.
#[test]
fn usage_error_prints_error_document() {
    let arw = Arw::new();
    let doc = error_doc(&arw.run(&["runtime", "status", "--json", "--bogus"]), 2, "usage");
    assert!(doc["error"]["message"].as_str().unwrap().contains("--bogus"), "{doc:#}");
    let plain = arw.run(&["runtime", "status", "--bogus"]);
    assert_eq!(plain.status.code(), Some(2));
    assert!(plain.stdout.is_empty(), "no document without --json");
    let help = arw.run(&["runtime", "status", "--json", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage"));
}

/// #11.19: `chat --max-tokens 0` is a usage error (exit 2), not passed to the runtime.
#[test]
fn chat_max_tokens_zero_is_a_usage_error() {
    let arw = Arw::new();
    let out = arw.run(&["chat", "--runtime", "llama", "--max-tokens", "0", "hi"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-tokens"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!arw.home.join("run").exists(), "nothing reached a daemon");
}

/// Polls `pred` every 20 ms until it holds or `within` passes.
#[track_caller]
fn wait_until(within: Duration, what: &str, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !pred() {
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for `child` to exit within `within`, killing it if it does not.
#[track_caller]
fn wait_exit(child: &mut std::process::Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the command did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// #11.14 + #11.19: a smoke whose daemon is SIGKILLed mid-run prints an
/// error document and exits 3 saying the daemon went away.
#[test]
fn smoke_when_daemon_dies_prints_error_document() {
    let root = tempfile::tempdir().unwrap();
    // A stub that never gets ready keeps the smoke waiting in its `ready` stage.
    let arw = Arw::new()
        .env("RUNTIME_SMOKE_ROOT", root.path().to_str().unwrap())
        .env("RUNTIME_SMOKE_STUB_ARGS", "--never-ready")
        .env("RUNTIME_SMOKE_TIMEOUT_SECS", "120");
    arw.status();
    let pid = arw.daemon_pid().expect("daemon pid");
    let child = arw.cmd(&["runtime", "smoke", "--json"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    wait_until(Duration::from_secs(20), "the smoke workspace", || {
        std::fs::read_dir(root.path()).is_ok_and(|mut d| d.next().is_some())
    });
    // SAFETY: plain kill(2) of the daemon this test started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let out = child.wait_with_output().unwrap();
    let doc = error_doc(&out, 3, "daemon_unreachable");
    assert!(doc["error"]["message"].as_str().unwrap().contains("went away"), "{doc:#}");
}

/// #11.19: `status --watch` exits 3 when its daemon dies, saying the daemon
/// went away and what to do; with `--json` the last line is an error document.
#[test]
fn watch_exits_3_when_daemon_dies() {
    let arw = Arw::with_config(&stub_runtime("stub", &[], "auto_start = false"));
    arw.status();
    let pid = arw.daemon_pid().expect("daemon pid");
    let mut child = arw
        .cmd(&["runtime", "status", "--watch", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(state(&first, "stub"), "offline");
    // SAFETY: plain kill(2) of the daemon this test started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(3));
    let last: Value = serde_json::from_str(&lines.last().expect("an error line").unwrap()).unwrap();
    assert_eq!(last["error"]["kind"], "daemon_unreachable", "{last:#}");
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(stderr.contains("went away") && stderr.contains("arw daemon logs"), "{stderr}");
}

/// #11.19: concurrent `daemon restart`s (three shells restarting in a loop)
/// all succeed, none says the daemon was not running or went away, and a
/// daemon of this build runs at the end.
#[test]
fn concurrent_restarts_all_succeed() {
    let arw = Arw::new();
    arw.status();
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                for _ in 0..4 {
                    let out = arw.run(&["daemon", "restart"]);
                    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
                    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
                    assert!(stderr.is_empty(), "{stderr}");
                    assert!(!stdout.contains("not running") && !stdout.contains("went away"), "{stdout}");
                }
            });
        }
    });
    let info = arw.json(&["daemon", "status", "--json"]);
    assert!(info["pid"].as_u64().is_some(), "{info:#}");
}

/// #11.11: a full stdout is a clean error with exit 1, not a panic (101).
#[test]
fn full_stdout_is_a_clean_error() {
    let arw = Arw::new();
    arw.status();
    let args: [&[&str]; 7] = [
        &["--help"],
        &["runtime", "status"],
        &["runtime", "status", "--json"],
        &["completions", "bash"],
        &["man"],
        &["daemon", "logs"],
        &["runtime", "weights", "list"],
    ];
    for args in args {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let out = arw.cmd(args).stdout(full).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.starts_with("arw: error: cannot write to stdout"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// #11.11: a closed stdout (`| head -c1` after the reader left) exits 0 quietly, not 141.
#[test]
fn closed_stdout_exits_0_quietly() {
    let arw = Arw::with_config(&stub_runtime("stub", &[], "auto_start = false"));
    arw.status();
    let args: [&[&str]; 5] = [
        &["runtime", "status"],
        &["runtime", "status", "--json"],
        &["daemon", "status"],
        &["daemon", "logs"],
        &["runtime", "weights", "list"],
    ];
    for args in args {
        let mut child = arw.cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        // The only read end goes away before arw writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {:?}", out.status);
        assert!(out.stderr.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// A runtime that crashes at once with `stderr_line` on stderr.
fn crashing_with(id: &str, stderr_line: &str) -> String {
    format!(
        "[[runtime]]\nid = {id:?}\nadapter = \"process\"\ncommand = \"/bin/sh\"\n\
         args = [\"-c\", {script:?}]\n\
         [runtime.restart]\nmax_restarts = 1\nwindow_secs = 600\nbackoff_initial_ms = 50\nbackoff_max_ms = 50\n",
        script = format!("printf '{stderr_line}' >&2; exit 3"),
    )
}

/// #11.18: a runtime's error line with escape sequences, BEL and CR is shown
/// escaped by `status` and `restore`, never raw; JSON keeps it exact.
#[test]
fn runtime_error_lines_are_escaped_in_text() {
    let arw = Arw::with_config(&crashing_with("evil", r"error: \033]0;pwned\007\033[2J\rgone\n"));
    let status = arw.wait_for(Duration::from_secs(20), "an error line", |s| {
        runtime(s, "evil")["last_exit"]["error_line"].as_str().is_some_and(|l| l.contains("pwned"))
    });
    let exact = runtime(&status, "evil")["last_exit"]["error_line"].as_str().unwrap().to_string();
    assert!(exact.contains("\x1b]0;pwned\x07\x1b[2J"), "JSON stays exact: {exact:?}");
    let text = arw.ok(&["runtime", "status"]);
    assert!(!has_raw_controls(&text), "raw control characters in: {text:?}");
    assert!(text.contains(r"\u{1b}]0;pwned\u{7}\u{1b}[2J"), "{text}");
    let out = arw.run(&["runtime", "restore", "--id", "evil", "--timeout", "5"]);
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!has_raw_controls(&all), "raw control characters in: {all:?}");
}

/// #11.18: a 10 000-character id with control characters, echoed in an
/// error, reaches stderr escaped and cut with an ellipsis.
#[test]
fn echoed_hostile_id_is_escaped_and_clipped() {
    let arw = Arw::new();
    let id = format!("\x1b[2J{}\nend\r", "x".repeat(10_000));
    let out = arw.run(&["runtime", "restore", "--id", &id]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(!has_raw_controls(&stderr), "{:?}", &stderr[..stderr.len().min(300)]);
    assert!(stderr.lines().count() <= 3, "a newline in the id does not split the message: {stderr}");
    assert!(stderr.len() < 1_000, "{} bytes on stderr", stderr.len());
    assert!(stderr.contains('…'), "{stderr}");
}

/// #11.18: chat content with escape sequences is printed escaped in text
/// (streamed or not); `--json` keeps it exact.
#[test]
fn chat_content_is_escaped_in_text() {
    let arw = Arw::with_config(&stub_runtime("stub", &[], ""));
    arw.wait_for(Duration::from_secs(20), "ready", |s| state(s, "stub") == "ready");
    let prompt = "say \x1b]0;pwned\x07\x1b[2J now";
    let doc = arw.json(&["chat", "--runtime", "stub", "--json", prompt]);
    let content = doc["choices"][0]["message"]["content"].as_str().unwrap();
    if !content.contains('\x1b') {
        eprintln!("skipping: the stub does not echo the prompt ({content:?})");
        return;
    }
    for extra in [&[][..], &["--stream"]] {
        let mut args = vec!["chat", "--runtime", "stub"];
        args.extend_from_slice(extra);
        args.push(prompt);
        let text = arw.ok(&args);
        assert!(!has_raw_controls(&text), "{extra:?}: {text:?}");
        assert!(text.contains(r"\u{1b}"), "{extra:?}: {text}");
    }
}

/// A tiny HTTP server answering `/health` with 200 and every chat with
/// `body` (HTTP 200), run as a llama.cpp runtime.
fn garbage_runtime(id: &str, body: &str) -> String {
    let script = format!(
        r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def answer(self, text):
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        self.answer('{{"status": "ok", "data": [{{"id": "m"}}]}}')
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.answer({body:?})
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#
    );
    format!(
        "[[runtime]]\nid = {id:?}\nadapter = \"llama.cpp\"\ncommand = \"python3\"\nargs = [\"-c\", {script:?}, \"{{port}}\"]\n"
    )
}

/// #11.13 (client side): a runtime answering HTTP 200 with something that is
/// not JSON makes `arw chat` exit 1 naming the runtime and quoting the body;
/// `--json` prints an `upstream` error document.
#[test]
fn chat_with_garbage_reply_fails() {
    let python = std::process::Command::new("python3").arg("-c").arg("").status().is_ok_and(|s| s.success());
    if !require("python3", python, "install python3") {
        return;
    }
    let arw = Arw::with_config(&garbage_runtime("junk", "<html>not json at all"));
    arw.wait_for(Duration::from_secs(30), "ready", |s| state(s, "junk") == "ready");
    let out = arw.run(&["chat", "--runtime", "junk", "hi"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("`junk`") && stderr.contains("<html>not json"), "{stderr}");
    let doc = error_doc(&arw.run(&["chat", "--runtime", "junk", "--json", "hi"]), 1, "upstream");
    assert!(doc["error"]["message"].as_str().unwrap().contains("<html>not json"), "{doc:#}");
}

/// Runs `cmd` with stdout on a pseudo-terminal `cols` wide; returns what it
/// printed (the terminal's CR-LF turned back into LF).
fn on_pty(mut cmd: std::process::Command, cols: u16) -> String {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize { ws_row: 50, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: openpty fills two descriptors we then own.
    let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: both descriptors were just returned by openpty.
    let (mut master, slave) = unsafe { (std::fs::File::from_raw_fd(master), std::fs::File::from_raw_fd(slave)) };
    cmd.stdout(slave);
    let mut child = cmd.spawn().unwrap();
    drop(cmd);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    // Reading ends with EIO once the child (the last slave holder) exits.
    while let Ok(n @ 1..) = master.read(&mut buf) {
        out.extend_from_slice(&buf[..n]);
    }
    assert!(wait_exit(&mut child, Duration::from_secs(20)).success());
    String::from_utf8_lossy(&out).replace("\r\n", "\n")
}

/// #11.18: on a terminal reporting 0 columns the table uses 80, not
/// 1-character columns; at 80 columns the endpoint URL is never broken; and
/// `NO_COLOR` turns off colour but not the wrapping.
#[test]
fn table_fits_the_terminal_and_keeps_urls_whole() {
    let long = "a runtime with a long name whose reason and last exit wrap";
    let arw = Arw::with_config(&format!(
        "{}{}",
        stub_runtime("stub-with-a-rather-long-id", &[], &format!("name = {long:?}")),
        crashing_with("crashy", "error: this runtime failed to load its model because the file is missing\\n")
    ));
    let status = arw.wait_for(Duration::from_secs(20), "ready", |s| {
        state(s, "stub-with-a-rather-long-id") == "ready" && state(s, "crashy") == "error"
    });
    let endpoint = runtime(&status, "stub-with-a-rather-long-id")["endpoint"].as_str().unwrap().to_string();
    for (cols, no_color) in [(0, false), (80, false), (80, true), (100, false)] {
        let mut cmd = arw.cmd(&["runtime", "status"]);
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        let text = on_pty(cmd, cols);
        let width = if cols == 0 { 80 } else { cols as usize };
        let table: Vec<&str> = text.lines().skip_while(|l| !l.starts_with('┌')).collect();
        assert!(!table.is_empty(), "{text}");
        for line in &table {
            let plain = strip_sgr(line);
            assert!(
                plain.chars().count() <= width,
                "{cols} columns, line of {}: {plain}\n{text}",
                plain.chars().count()
            );
        }
        assert!(table.iter().any(|l| l.contains(&endpoint)), "{cols} columns: `{endpoint}` broken:\n{text}");
        assert!(table.iter().any(|l| strip_sgr(l).matches('┆').count() >= 4), "columns wider than 1 char:\n{text}");
        if no_color {
            assert!(!text.contains('\x1b'), "NO_COLOR: {text:?}");
        }
    }
}

/// `line` without SGR colour sequences (`ESC [ ... m`).
fn strip_sgr(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// #11.18: `daemon status` says the daemon never exits when idle for 0, not "after 0s".
#[test]
fn idle_timeout_zero_reads_never() {
    let arw = Arw::new().env("ARW_IDLE_TIMEOUT_SECS", "0");
    arw.status();
    let text = arw.ok(&["daemon", "status"]);
    assert!(text.contains("never exits when idle"), "{text}");
    assert!(!text.contains("after 0s"), "{text}");
}

/// #11.19 (text side): a newline or escape sequence in `ARW_NODE_ID` stays
/// inside the badge line, escaped; `--json` keeps the id exact.
#[test]
fn hostile_node_id_keeps_the_badge_on_one_line() {
    let arw = Arw::new().env("ARW_NODE_ID", "evil\nnode\x1b[2J");
    let out = arw.run(&["runtime", "status"]);
    if !out.status.success() {
        // Refusing such an id outright is as good, if it says so.
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("ARW_NODE_ID") && !has_raw_controls(&stderr), "{stderr:?}");
        return;
    }
    let text = String::from_utf8(out.stdout).unwrap();
    let badge = text.lines().next().unwrap();
    assert!(badge.starts_with(r"node evil\nnode\u{1b}[2J · "), "{text}");
    assert!(!has_raw_controls(&text), "{text:?}");
    let doc = arw.status();
    let items = doc["matrix"]["items"].as_object().unwrap();
    assert!(items.keys().any(|k| k == "evil\nnode\x1b[2J"), "{doc:#}");
}

/// #11.18: a runtime that cannot start shows the cause once in the table,
/// not as its state's reason and again as its last exit.
#[test]
fn start_failure_is_said_once_in_the_table() {
    let arw = Arw::with_config("[[runtime]]\nid = \"dir\"\nadapter = \"process\"\ncommand = \"/tmp\"\n");
    arw.wait_for(Duration::from_secs(20), "error", |s| state(s, "dir") == "error");
    let text = arw.ok(&["runtime", "status"]);
    let table: String = text.lines().skip_while(|l| !l.starts_with('┌')).collect::<Vec<_>>().join("\n");
    assert_eq!(table.matches("cannot start").count(), 1, "{text}");
}

/// #11.18: a cause the message already quotes is not repeated on a
/// `caused by:` line (a full stdout used to say "No space left" twice).
#[test]
fn causes_are_not_repeated() {
    let arw = Arw::new();
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = arw.cmd(&["completions", "bash"]).stdout(full).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("No space left on device").count(), 1, "{stderr}");
}

/// #11.3 (the restart lock this CLI adds): a symlink planted at
/// `run/restart.lock` is refused, and its target is left alone.
#[test]
fn restart_lock_does_not_follow_symlinks() {
    let arw = Arw::new();
    arw.status();
    let victim = arw.dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, arw.home.join("run/restart.lock")).unwrap();
    let out = arw.run(&["daemon", "restart"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("restart.lock"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}
