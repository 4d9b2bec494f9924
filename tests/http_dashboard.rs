//! The dashboard at `GET /` (SPEC §7) in a real headless Chromium, driven
//! by Playwright for Python (`tests/browser/dashboard_check.py`) against a
//! real daemon. The driver takes one JSON command per line and answers one
//! JSON line; the daemon side (kills, stops, restarts) happens here, between
//! commands. Components come from `scripts/install-browser`.

use crate::common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DRIVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/dashboard_check.py");
/// Chromium's first start on 2 busy cores can take a long time.
const LAUNCH: Duration = Duration::from_secs(180);
const STEP: Duration = Duration::from_secs(90);

/// A driven browser with one page.
struct Browser {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

/// `$VAR` if set, else the first existing cache path `scripts/install-browser` uses.
fn component(var: &str, cached: impl Fn(&PathBuf) -> Option<PathBuf>) -> Option<PathBuf> {
    if let Some(v) = std::env::var_os(var) {
        return Some(PathBuf::from(v)).filter(|p| p.is_file());
    }
    let cache = std::env::var_os("ARW_TOOLS_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/arw"));
    cached(&cache).filter(|p| p.is_file())
}

impl Browser {
    /// The browser, or a skip (a failure in CI) when a component is missing.
    #[track_caller]
    fn start() -> Option<Browser> {
        let how = "run scripts/install-browser";
        let chromium = component("ARW_TEST_CHROMIUM", |_| Some(PathBuf::from("/usr/bin/chromium")));
        let python = component("ARW_TEST_PLAYWRIGHT_PYTHON", |c| Some(c.join("venv-browser/bin/python")));
        let axe = component("ARW_TEST_AXE_JS", |c| {
            // Whatever 4.x the script pinned: the newest folder there.
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(c)
                .ok()?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("axe-core-4")))
                .collect();
            dirs.sort();
            Some(dirs.pop()?.join("node_modules/axe-core/axe.min.js"))
        });
        if !require("chromium", chromium.is_some(), how)
            || !require("playwright for Python", python.is_some(), how)
            || !require("axe-core", axe.is_some(), how)
        {
            return None;
        }
        let mut child = Command::new(python.unwrap())
            .arg(DRIVER)
            .env("ARW_TEST_CHROMIUM", chromium.unwrap())
            .env("ARW_TEST_AXE_JS", axe.unwrap())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the Playwright driver");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut browser = Browser { child, stdin, lines };
        let launched = browser.answer("launch", LAUNCH);
        assert_eq!(launched["ok"], true, "chromium did not start: {launched}");
        eprintln!("chromium started in {} ms", launched["ms"]);
        Some(browser)
    }

    #[track_caller]
    fn answer(&mut self, what: &str, within: Duration) -> Value {
        let line = self.lines.recv_timeout(within).unwrap_or_else(|e| {
            let _ = self.child.kill();
            panic!("the Playwright driver gave no answer to `{what}` within {within:?} ({e}); see its stderr above")
        });
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("driver said something that is not JSON ({e}): {line}"))
    }

    /// Sends one command, returns its answer (whatever `ok` says).
    #[track_caller]
    fn send(&mut self, cmd: Value) -> Value {
        writeln!(self.stdin, "{cmd}").expect("write to the driver");
        self.stdin.flush().unwrap();
        self.answer(cmd["op"].as_str().unwrap_or("?"), STEP)
    }

    /// Sends one command that must succeed.
    #[track_caller]
    fn ok(&mut self, cmd: Value) -> Value {
        let ans = self.send(cmd.clone());
        assert_eq!(ans["ok"], true, "driver command {cmd} failed: {ans}");
        ans
    }

    #[track_caller]
    fn dom(&mut self) -> Value {
        self.ok(json!({"op": "dom"}))
    }

    /// The value of `js` (a function) in the page.
    #[track_caller]
    fn eval(&mut self, js: &str) -> Value {
        self.ok(json!({"op": "eval", "js": js}))["value"].clone()
    }

    /// Polls `js` (a predicate) in the page; the answer says whether it held in time.
    fn wait(&mut self, js: &str, within: Duration) -> Value {
        self.send(json!({"op": "wait", "js": js, "timeout_ms": within.as_millis() as u64}))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{}", json!({"op": "quit"}));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three runtimes: a stub that gets ready, a crash loop, one never started.
fn three_runtimes(daemon: &str) -> Arw {
    let manifest = format!(
        "[daemon]\n{daemon}\n{}{}{}",
        stub_runtime("alpha", &[], ""),
        crashing_runtime(
            "flaky",
            "[runtime.restart]\nmax_restarts = 2\nwindow_secs = 600\nbackoff_initial_ms = 100\nbackoff_max_ms = 200\n"
        ),
        stub_runtime("vision", &[], "auto_start = false\n"),
    );
    Arw::with_config(&manifest)
}

/// The page's row for `id`, as the driver read it.
fn row<'a>(dom: &'a Value, id: &str) -> &'a Value {
    dom["dom"]["runtimes"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["id"] == id))
        .unwrap_or_else(|| panic!("the page has no row for `{id}`: {dom:#}"))
}

/// A predicate true once the page's row for `id` is in `state`.
fn row_state_is(id: &str, state: &str) -> String {
    format!("() => {{ const r = document.querySelector('#runtimes tr[data-runtime=\"{id}\"]'); return !!r && r.dataset.state === '{state}'; }}")
}

/// A free loopback port (the daemon is restarted on it later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// axe-core finds no WCAG 2 A/AA or best-practice violation in light and
/// in dark; the dark scheme really applies; Tab reaches the skip link and
/// every scrollable region with a visible focus ring; the page loads
/// nothing but itself and `/events` and logs no CSP or script error.
#[test]
fn dashboard_passes_axe_in_light_and_dark_and_is_keyboard_operable() {
    let arw = three_runtimes("");
    let url = arw.http_url();
    arw.wait_for(Duration::from_secs(30), "alpha ready, flaky out of budget", |s| {
        state(s, "alpha") == "ready" && state(s, "flaky") == "error"
    });
    let Some(mut b) = Browser::start() else { return };
    b.ok(json!({"op": "open", "url": url}));
    let mut backgrounds = Vec::new();
    for scheme in ["light", "dark"] {
        let axe = b.ok(json!({"op": "axe", "scheme": scheme}));
        eprintln!("axe {} ({scheme}): {} rules passed", axe["version"], axe["passes"]);
        assert_eq!(axe["violations"], json!([]), "axe-core violations in the {scheme} scheme: {:#}", axe["violations"]);
        assert!(axe["passes"].as_u64().unwrap() > 20, "axe ran almost nothing: {axe}");
        assert_eq!(axe["dark"], scheme == "dark", "the {scheme} scheme was not applied: {axe}");
        backgrounds.push(axe["bg"].clone());
    }
    assert_ne!(backgrounds[0], backgrounds[1], "light and dark look the same");

    let keys = b.ok(json!({"op": "keyboard", "presses": 6}));
    let focused = keys["focused"].as_array().unwrap();
    assert_eq!(focused[0]["label"], "Skip to runtimes", "the first Tab stop is not the skip link: {keys:#}");
    for region in ["Runtimes table (scrolls sideways)", "Accelerators table (scrolls sideways)", "log-h"] {
        let stop = focused.iter().find(|f| f["label"] == region);
        let stop = stop.unwrap_or_else(|| panic!("Tab never reaches `{region}`: {keys:#}"));
        assert!(stop["outline"].as_str().unwrap().starts_with("solid"), "no visible focus on `{region}`: {stop}");
    }

    let dom = b.dom();
    assert_eq!(dom["problems"], json!([]), "the page logged errors (a CSP refusal?): {:#}", dom["problems"]);
    let requests: Vec<&str> = dom["requests"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert_eq!(requests, [url.clone(), format!("{url}events")], "the page loaded something else");
}

/// Every runtime of a 3-runtime registry has its row, with the id, name,
/// state, accelerator, endpoint, pid, budget and last exit the daemon
/// reports; the node badge shows the status label and its severity label
/// as text, the readiness count and the TTL; the accelerators and HTTP
/// telemetry are there; the live region carries the status's `aria_hint`.
#[test]
fn dashboard_shows_every_runtime_and_the_node_badge() {
    let arw = three_runtimes("matrix_ttl_secs = 30");
    let url = arw.http_url();
    let status = arw.wait_for(Duration::from_secs(30), "alpha ready, flaky out of budget", |s| {
        state(s, "alpha") == "ready" && state(s, "flaky") == "error"
    });
    let Some(mut b) = Browser::start() else { return };
    b.ok(json!({"op": "open", "url": url}));
    let alpha_pid = runtime(&status, "alpha")["pid"].as_u64().unwrap();
    // The page may have opened on an older snapshot; it catches up live.
    let caught_up = b.wait(
        &format!(
            "() => {{ const r = document.querySelector('#runtimes tr[data-runtime=\"alpha\"] [data-col=\"pid\"]'); \
             return !!r && r.textContent === '{alpha_pid}' && ({})(); }}",
            row_state_is("flaky", "error")
        ),
        Duration::from_secs(20),
    );
    assert_eq!(caught_up["ok"], true, "the page never showed alpha ready and flaky failed: {caught_up} {:#}", b.dom());
    let dom = b.dom();
    let page = &dom["dom"];

    let ids: Vec<&str> = page["runtimes"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["alpha", "flaky", "vision"], "rows: {page:#}");
    for id in ids {
        let (r, want) = (row(&dom, id), runtime(&status, id));
        assert_eq!(r["id_text"], id);
        assert!(r["name"].as_str().unwrap().starts_with(want["name"].as_str().unwrap()), "{r}");
        assert!(r["state_text"].as_str().unwrap().contains(want["state"].as_str().unwrap()), "{r}");
        assert_eq!(r["accelerator"], want["accelerator"], "{r}");
        assert_eq!(r["endpoint"].as_str().unwrap(), want["endpoint"].as_str().unwrap_or("—"), "{r}");
        let pid = want["pid"].as_u64().map(|p| p.to_string()).unwrap_or("—".into());
        assert_eq!(r["pid"].as_str().unwrap(), pid, "{r}");
        let budget = &want["restart_budget"];
        assert!(r["restarts"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/{} used", budget["used"], budget["max_restarts"])));
    }
    assert!(row(&dom, "flaky")["restarts"].as_str().unwrap().contains("budget exhausted"));
    assert!(row(&dom, "flaky")["last_exit"].as_str().unwrap().contains("boom: cannot load model"));
    assert!(row(&dom, "vision")["state_text"].as_str().unwrap().contains("auto_start = false"));

    let st = &node(&status)["status"];
    assert_eq!(page["code"], "error");
    assert!(page["severity"].as_str().unwrap().ends_with(st["severity_label"].as_str().unwrap()), "{page:#}");
    assert_eq!(page["label"], st["label"]);
    let facts = page["facts"].as_str().unwrap();
    assert!(facts.contains("ready 1/3") && facts.contains("ttl 30 s"), "{facts}");
    assert_eq!(page["announce"], st["aria_hint"], "the live region does not carry the aria_hint");
    let accel = page["accelerators"].as_array().unwrap();
    assert_eq!(accel.len(), 3, "{accel:?}");
    assert!(accel[0].as_str().unwrap().starts_with("CPUyes3"), "{accel:?}");
    assert!(page["http"].as_str().unwrap().contains("error rate"), "{page:#}");
    assert_eq!(page["stale"], "false");
    assert!(page["freshness"].as_str().unwrap().starts_with("Fresh"), "{page:#}");
}

/// SIGKILL of a ready runtime changes its row within 2 s, without a reload:
/// it leaves `ready` (or comes back with a new pid); the exit and restart
/// show in the row and the event list, and the live region announces the
/// node's new `aria_hint`. With `ARW_DASHBOARD_SCREENSHOT=PATH` the page
/// is then saved there (that is how docs/dashboard.png is made).
#[test]
fn a_runtime_kill_changes_the_page_within_two_seconds() {
    // No failed runtime: the node is `ok` until the kill, so its status (and aria_hint) must change.
    let arw = Arw::with_config(&format!(
        "{}{}{}",
        stub_runtime("alpha", &[], ""),
        stub_runtime("beta", &[], ""),
        stub_runtime("vision", &[], "auto_start = false\n")
    ))
    .env("ARW_NODE_ID", "workstation-1");
    let url = arw.http_url();
    let status = arw.wait_for(Duration::from_secs(30), "alpha and beta ready", |s| {
        state(s, "alpha") == "ready" && state(s, "beta") == "ready" && node(s)["status"]["code"] == "ok"
    });
    let pid = runtime(&status, "alpha")["pid"].as_u64().unwrap();
    let Some(mut b) = Browser::start() else { return };
    b.ok(json!({"op": "open", "url": url}));
    let shown = b.wait(
        &format!(
            "() => {{ const c = document.querySelector('#runtimes tr[data-runtime=\"alpha\"] [data-col=\"pid\"]'); \
             return !!c && c.textContent === '{pid}' && ({})() && document.querySelector('.node').dataset.code === 'ok'; }}",
            row_state_is("alpha", "ready")
        ),
        Duration::from_secs(20),
    );
    assert_eq!(shown["ok"], true, "the page never showed alpha ready with pid {pid}: {shown}");
    let before = b.dom();
    // A reload would lose this.
    b.eval("() => { window.__sameDocument = true; }");

    // SAFETY: plain kill(2) of the stub runtime arw started.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    let killed = Instant::now();
    let changed = b.wait(
        &format!(
            "() => {{ const r = document.querySelector('#runtimes tr[data-runtime=\"alpha\"]'); \
             if (!window.__sameDocument || !r) return false; \
             return r.dataset.state !== 'ready' || r.querySelector('[data-col=\"pid\"]').textContent !== '{pid}'; }}"
        ),
        Duration::from_secs(2),
    );
    let took = killed.elapsed();
    assert_eq!(changed["ok"], true, "the page did not change within 2 s of the kill: {changed} {:#}", b.dom());
    assert!(took < Duration::from_secs(2), "took {took:?}");
    eprintln!("kill → page changed in {} ms", took.as_millis());

    // The rest of the story arrives too, still without a reload.
    let told = b.wait(
        "() => window.__sameDocument && \
         document.querySelector('#runtimes tr[data-runtime=\"alpha\"] [data-col=\"last_exit\"]').textContent.includes('SIGKILL') && \
         document.querySelector('#log [data-topic=\"runtime.exit\"]') !== null && \
         document.querySelector('#log [data-topic=\"runtime.restart\"]') !== null",
        Duration::from_secs(20),
    );
    assert_eq!(told["ok"], true, "exit and restart never reached the page: {told} {:#}", b.dom());
    let after = arw.wait_for(Duration::from_secs(20), "alpha ready again", |s| state(s, "alpha") == "ready");
    let hint = node(&after)["status"]["aria_hint"].as_str().unwrap().to_string();
    assert_ne!(before["dom"]["announce"], hint, "the kill did not change the aria_hint; the test proves nothing");
    let announced = b.wait(
        &format!("() => document.getElementById('announce').textContent === {}", json!(hint)),
        Duration::from_secs(20),
    );
    assert_eq!(announced["ok"], true, "the live region never announced {hint:?}: {:#}", b.dom());
    let dom = b.dom();
    assert_eq!(dom["requests"].as_array().unwrap().iter().filter(|r| **r == json!(url)).count(), 1, "reloaded");
    assert_eq!(dom["problems"], json!([]));

    if let Some(path) = std::env::var_os("ARW_DASHBOARD_SCREENSHOT") {
        let path = std::path::absolute(PathBuf::from(path)).unwrap();
        b.ok(json!({"op": "screenshot", "path": path, "scheme": "light"}));
        eprintln!("screenshot saved to {}", path.display());
    }
}

/// With a 2 s TTL and the daemon republishing every second the page stays
/// fresh; once the daemon stops, the page says in words that its data is
/// stale (and keeps showing it); when the daemon comes back on the same
/// port the browser reconnects by itself, with `Last-Event-ID` — it gets
/// an `events.reset`, which only a resuming reader gets — and is fresh again.
#[test]
fn the_page_says_stale_after_the_ttl_once_the_daemon_stops() {
    let port = free_port();
    let arw = three_runtimes("matrix_ttl_secs = 2")
        .env("ARW_MATRIX_REPUBLISH_SECS", "1")
        .env("ARW_HTTP_LISTEN", &format!("127.0.0.1:{port}"));
    let url = arw.http_url();
    arw.wait_for(Duration::from_secs(30), "alpha ready", |s| state(s, "alpha") == "ready");
    let Some(mut b) = Browser::start() else { return };
    b.ok(json!({"op": "open", "url": url}));
    let fresh = "document.getElementById('freshness').dataset.stale === 'false'";
    assert_eq!(b.wait(&format!("() => {fresh}"), Duration::from_secs(10))["ok"], true, "never fresh: {:#}", b.dom());

    // Watch for 2.5 TTLs: the republish alone must keep the page fresh.
    let watch = "() => { if (!window.__watch) { window.__watch = Date.now(); window.__wentStale = false; \
                 new MutationObserver(() => { if (document.getElementById('freshness').dataset.stale === 'true') \
                 window.__wentStale = true; }).observe(document.getElementById('freshness'), {attributes: true}); } \
                 return window.__wentStale || Date.now() - window.__watch > 5000; }";
    b.ok(json!({"op": "wait", "js": watch, "timeout_ms": 20_000}));
    let watched = b.dom();
    assert_eq!(watched["dom"]["stale"], "false", "stale while the daemon runs: {watched:#}");
    assert_eq!(b.eval("() => window.__wentStale"), false, "went stale while the daemon ran");

    arw.ok(&["daemon", "stop"]);
    let stopped = Instant::now();
    let stale = b.wait(
        "() => document.getElementById('freshness').dataset.stale === 'true' && \
         /Stale/.test(document.getElementById('freshness').textContent)",
        Duration::from_secs(30),
    );
    assert_eq!(stale["ok"], true, "the page never said stale: {stale} {:#}", b.dom());
    let took = stopped.elapsed();
    eprintln!("daemon stopped → page stale in {} ms", took.as_millis());
    let dom = b.dom();
    let page = &dom["dom"];
    assert!(page["freshness"].as_str().unwrap().contains("past the 2 s TTL"), "{page:#}");
    assert_eq!(page["runtimes"].as_array().unwrap().len(), 3, "the last data should stay on screen: {page:#}");
    assert_eq!(page["conn_state"], "connecting", "{page:#}");
    let told = b.wait("() => document.getElementById('announce').textContent.startsWith('Data is stale')", STEP);
    assert_eq!(told["ok"], true, "staleness was not announced: {:#}", b.dom());

    // Back on the same port: the browser's own retry finds it.
    assert_eq!(arw.http_url(), url);
    let back = b.wait(
        &format!("() => {fresh} && document.querySelector('#log [data-topic=\"events.reset\"]') !== null"),
        Duration::from_secs(30),
    );
    assert_eq!(back["ok"], true, "the page did not resume after the daemon came back: {back} {:#}", b.dom());
    let dom = b.dom();
    assert_eq!(dom["dom"]["conn_state"], "live");
    assert_eq!(dom["requests"].as_array().unwrap().iter().filter(|r| **r == json!(url)).count(), 1, "reloaded");
}

/// Text from the registry and from a runtime's stderr is shown as text:
/// markup in a runtime's name and error line appears literally, creates no
/// element and runs no handler (the CSP allows inline script, so only the
/// page's escaping stops it).
#[test]
fn server_text_is_shown_as_text_never_as_markup() {
    let evil = "<img src=x onerror=\"window.__pwned=1\"><b id=bold>bold</b>";
    let manifest = format!(
        "[[runtime]]\nid = \"evil\"\nname = {evil:?}\nadapter = \"process\"\ncommand = \"/bin/sh\"\n\
         args = [\"-c\", {script:?}]\n[runtime.restart]\nmax_restarts = 0\nwindow_secs = 600\n",
        script = format!("echo '{evil}' >&2; exit 3"),
    );
    let arw = Arw::with_config(&manifest);
    let url = arw.http_url();
    let status = arw.wait_for(Duration::from_secs(30), "evil failed", |s| state(s, "evil") == "error");
    assert!(runtime(&status, "evil")["last_exit"]["error_line"].as_str().unwrap_or("").contains("onerror"));
    let Some(mut b) = Browser::start() else { return };
    b.ok(json!({"op": "open", "url": url}));
    let shown = b.wait(&row_state_is("evil", "error"), Duration::from_secs(20));
    assert_eq!(shown["ok"], true, "{:#}", b.dom());
    let dom = b.dom();
    let r = row(&dom, "evil");
    assert!(r["name"].as_str().unwrap().starts_with(evil), "the name is not shown literally: {r}");
    assert!(r["last_exit"].as_str().unwrap().contains(evil), "the error line is not shown literally: {r}");
    let injected = b.eval(
        "() => ({img: document.querySelectorAll('main img').length, bold: !!document.getElementById('bold'), \
         pwned: window.__pwned === 1})",
    );
    assert_eq!(injected, json!({"img": 0, "bold": false, "pwned": false}), "server text became markup");
    assert_eq!(dom["problems"], json!([]));
}
