//! `GET /metrics` (SPEC §7, issue 12): a Prometheus exposition that
//! `promtool` accepts and a real Prometheus server scrapes, read from memory
//! only (a scrape starts nothing and keeps no daemon alive), with counters
//! that follow what really happened, behind the admin token when one is set.

use crate::common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "metrics-test-token-0123456789";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One answer: status, `Content-Type`, body.
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

fn get(url: &str, headers: &[(&str, &str)]) -> Answer {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut req = client.get(url).timeout(Duration::from_secs(10));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status().as_u16();
        let content_type =
            resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        Answer { status, content_type, body: resp.text().await.unwrap() }
    })
}

#[track_caller]
fn scrape(base: &str) -> String {
    let a = get(&format!("{base}metrics"), &[]);
    assert_eq!(a.status, 200, "{}", a.body);
    a.body
}

/// The value of the sample `name{…}` whose labels include all of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (n, rest) = series.split_once('{').unwrap_or((series, ""));
        (n == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))).then(|| value.parse().ok())?
    })
}

/// A tool from the Debian `prometheus` package: `ARW_TEST_<VAR>`, else the
/// copy scripts/install-prometheus unpacks, else PATH.
fn prometheus_tool(name: &str, var: &str) -> Option<PathBuf> {
    let cached =
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/arw/prometheus/bin").join(name);
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect::<Vec<_>>())
        .unwrap_or_default();
    let found =
        std::env::var_os(var).map(PathBuf::from).into_iter().chain([cached]).chain(on_path).find(|p| p.is_file());
    require(name, found.is_some(), "run scripts/install-prometheus (Debian package `prometheus`)")
        .then(|| found.unwrap())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A ready stub runtime and one never started.
fn two_runtimes() -> String {
    stub_runtime("llm", &[], "auto_start = true") + &stub_runtime("idle", &[], "auto_start = false")
}

/// A real scrape passes `promtool check metrics`: every family the SPEC
/// lists is there, prefixed `arw_`, every sample labelled with the node, in
/// the Prometheus text format (OpenMetrics when asked for it).
#[test]
fn a_scrape_passes_promtool() {
    let Some(promtool) = prometheus_tool("promtool", "ARW_TEST_PROMTOOL") else { return };
    let arw = Arw::with_config(&two_runtimes()).env("ARW_NODE_ID", "metrics-node");
    let base = arw.http_url();
    arw.wait_for(Duration::from_secs(10), "llm ready", |s| state(s, "llm") == "ready");
    arw.ok(&["chat", "--runtime", "llm", "--max-tokens", "4", "Name a colour."]);

    let a = get(&format!("{base}metrics"), &[]);
    assert_eq!((a.status, a.content_type.as_str()), (200, PROMETHEUS_TEXT), "{}", a.body);
    let text = a.body;
    let (passed, said) = promtool_check(&promtool, &text);
    assert!(passed && said.trim().is_empty(), "promtool check metrics: {said}\n--- scrape:\n{text}");
    // The check can fail: a counter without `_total` is a lint problem.
    let (passed, _) = promtool_check(&promtool, "# HELP x_bytes a counter.\n# TYPE x_bytes counter\nx_bytes 1\n");
    assert!(!passed, "promtool accepted a counter without _total");

    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.starts_with("arw_"), "{line}");
        assert!(line.contains("node=\"metrics-node\""), "no node label: {line}");
    }
    let llm = [("runtime", "llm"), ("adapter", "stub"), ("accelerator", "cpu")];
    for (state, want) in
        [("ready", 1.0), ("starting", 0.0), ("degraded", 0.0), ("error", 0.0), ("offline", 0.0), ("unknown", 0.0)]
    {
        let labels = [llm.as_slice(), &[("state", state)]].concat();
        assert_eq!(sample(&text, "arw_runtime_state", &labels), Some(want), "{state}:\n{text}");
    }
    assert_eq!(sample(&text, "arw_runtime_state", &[("runtime", "idle"), ("state", "offline")]), Some(1.0));
    assert_eq!(sample(&text, "arw_runtime_restart_budget_remaining", &llm), Some(3.0));
    assert_eq!(sample(&text, "arw_runtime_restart_budget_exhausted", &llm), Some(0.0));
    for kind in ["automatic", "manual"] {
        assert_eq!(sample(&text, "arw_runtime_restarts_total", &[("runtime", "llm"), ("kind", kind)]), Some(0.0));
    }
    let probes = sample(
        &text,
        "arw_runtime_health_probe_duration_seconds_count",
        &[llm.as_slice(), &[("outcome", "ready")]].concat(),
    );
    assert!(probes.is_some_and(|n| n >= 1.0), "{text}");
    let route = [("runtime", "llm"), ("route", "/v1/chat/completions")];
    assert_eq!(sample(&text, "arw_http_requests_total", &[route.as_slice(), &[("code", "200")]].concat()), Some(1.0));
    assert_eq!(sample(&text, "arw_http_request_duration_seconds_count", &route), Some(1.0));
    // The stub's own timings: 4 tokens at its fixed per-token cost.
    let tps = sample(
        &text,
        "arw_runtime_tokens_per_second",
        &[("runtime", "llm"), ("model", "stub-llama"), ("accelerator", "cpu")],
    );
    assert!(tps.is_some_and(|v| v > 0.0), "{text}");
    assert_eq!(sample(&text, "arw_matrix_ttl_seconds", &[]), Some(60.0));
    let updated = sample(&text, "arw_matrix_updated_timestamp_seconds", &[]).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!((now - updated).abs() < 30.0, "updated {updated}, now {now}");
    assert_eq!(sample(&text, "arw_smoke_runs_total", &[("mode", "stub"), ("outcome", "passed")]), Some(0.0));
    assert_eq!(sample(&text, "arw_weights_downloaded_bytes_total", &[]), Some(0.0));
    assert_eq!(sample(&text, "arw_weights_verify_total", &[("result", "mismatch")]), Some(0.0));
    assert_eq!(sample(&text, "arw_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), Some(1.0));
    for family in ["arw_runtime_exits_total", "arw_weights_cached_bytes"] {
        assert!(text.contains(&format!("# TYPE {family} ")), "{family} missing:\n{text}");
    }

    let om =
        get(&format!("{base}metrics"), &[("accept", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")]);
    assert_eq!((om.status, om.content_type.as_str()), (200, OPENMETRICS));
    assert!(om.body.ends_with("# EOF\n"), "{}", om.body);
    assert!(om.body.contains("# TYPE arw_runtime_restarts counter"), "{}", om.body);
}

/// `promtool check metrics < text`: whether it passed, and all it said.
fn promtool_check(promtool: &Path, text: &str) -> (bool, String) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

/// A Prometheus server this test started; killed when dropped.
struct Prometheus {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Prometheus {
    fn start(bin: &Path, dir: &Path, target: &str) -> Prometheus {
        let token_file = dir.join("arw.token");
        std::fs::write(&token_file, TOKEN).unwrap();
        let config = dir.join("prometheus.yml");
        // The README's scrape config, with a 1 s interval.
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: arw\n    \
                 authorization:\n      credentials_file: {}\n    static_configs:\n      - targets: [\"{target}\"]\n",
                token_file.display()
            ),
        )
        .unwrap();
        let port = free_port();
        let log = dir.join("prometheus.log");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start prometheus");
        Prometheus { child, url: format!("http://127.0.0.1:{port}"), log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET /api/v1/query?query=…`, or `None` while the server is not up yet.
    fn query(&self, q: &str) -> Option<serde_json::Value> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            let resp = client
                .get(format!("{}/api/v1/query", self.url))
                .query(&[("query", q)])
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .ok()?;
            resp.json().await.ok()
        })
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real Prometheus server, configured as the README says (bearer token
/// from a credentials file), scrapes the daemon and answers a query for a
/// restart-budget metric with the runtime's value.
#[test]
fn a_real_prometheus_scrapes_the_budget() {
    let Some(bin) = prometheus_tool("prometheus", "ARW_TEST_PROMETHEUS") else { return };
    let arw = Arw::with_config(&stub_runtime("idle", &[], "auto_start = false")).env("ARW_ADMIN_TOKEN", TOKEN);
    let base = arw.http_url();
    let target = base.trim_start_matches("http://").trim_end_matches('/').to_string();
    let prom = Prometheus::start(&bin, arw.dir.path(), &target);

    let deadline = Instant::now() + Duration::from_secs(60);
    let result = loop {
        let answer = prom.query("arw_runtime_restart_budget_remaining");
        let found = answer
            .as_ref()
            .and_then(|a| a["data"]["result"].as_array()?.iter().find(|r| r["metric"]["runtime"] == "idle").cloned());
        if let Some(r) = found {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "no budget metric from Prometheus within 60 s; last answer {answer:?}\n{}",
            prom.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(result["value"][1], "3", "{result:#}");
    assert_eq!(result["metric"]["job"], "arw");
    assert!(result["metric"]["node"].as_str().is_some_and(|n| !n.is_empty()), "{result:#}");
    assert_eq!(result["metric"]["accelerator"], "cpu");
    // Prometheus asked for OpenMetrics and parsed every sample of it.
    let up = prom.query("up{job=\"arw\"}").unwrap();
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up:#}");
    let scraped = prom.query("scrape_samples_scraped{job=\"arw\"}").unwrap();
    let n: f64 = scraped["data"]["result"][0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(n > 20.0, "{scraped:#}");
}

/// Scraping a registry with an offline runtime leaves it offline (same
/// state, no pid, no start, no log), and a daemon whose only traffic is
/// scrapes still exits when idle: the HTTP listener is not a client.
#[test]
fn a_scrape_starts_nothing_and_keeps_no_daemon_alive() {
    let arw = Arw::with_config(&stub_runtime("idle", &[], "auto_start = false"));
    let base = arw.http_url();
    let before = runtime(&arw.status(), "idle").clone();
    assert_eq!((before["state"].as_str(), before["pid"].as_u64()), (Some("offline"), None));
    for _ in 0..20 {
        let text = scrape(&base);
        assert_eq!(
            sample(&text, "arw_runtime_state", &[("runtime", "idle"), ("state", "offline")]),
            Some(1.0),
            "{text}"
        );
    }
    let after = runtime(&arw.status(), "idle").clone();
    for key in ["state", "pid", "generation", "started_at", "restarts_total", "last_exit"] {
        assert_eq!(before[key], after[key], "{key} changed: {before:#} -> {after:#}");
    }
    assert!(!arw.home.join("logs/runtimes/idle.log").exists(), "the runtime was started");

    // Now nothing but scrapes: the daemon must still exit after its idle timeout.
    drop(arw);
    let arw = Arw::with_config(&stub_runtime("idle", &[], "auto_start = false")).env("ARW_IDLE_TIMEOUT_SECS", "2");
    let base = arw.http_url();
    let pid = arw.daemon_pid().expect("daemon pid");
    let started = Instant::now();
    let mut scrapes = 0;
    while is_daemon_of(pid, &arw.home) && started.elapsed() < Duration::from_secs(30) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let ok = rt.block_on(async {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            client.get(format!("{base}metrics")).timeout(Duration::from_secs(2)).send().await.is_ok()
        });
        scrapes += u32::from(ok);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!is_daemon_of(pid, &arw.home), "the daemon is still up after 30 s of scrapes with a 2 s idle timeout");
    assert!(scrapes >= 10, "only {scrapes} scrapes got through before the daemon exited");
}

/// A crash loop moves the counters: `arw_runtime_exits_total{cause="exited"}`
/// and `arw_runtime_restarts_total{kind="automatic"}` go up, the budget runs
/// out, and the figures agree with `runtime status --json`.
#[test]
fn counters_follow_a_crash_loop() {
    let restart = "auto_start = false\n[runtime.restart]\nmax_restarts = 2\nwindow_secs = 600\nbackoff_initial_ms = 100\nbackoff_max_ms = 200\n";
    let arw = Arw::with_config(&crashing_runtime("flaky", restart));
    let base = arw.http_url();
    let flaky = [("runtime", "flaky"), ("adapter", "process"), ("accelerator", "cpu")];
    let text = scrape(&base);
    assert_eq!(sample(&text, "arw_runtime_exits_total", &[("runtime", "flaky")]), None, "{text}");
    assert_eq!(sample(&text, "arw_runtime_restarts_total", &[("runtime", "flaky"), ("kind", "automatic")]), Some(0.0));

    let _ = arw.run(&["runtime", "restore", "--id", "flaky"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = scrape(&base);
        let exhausted = sample(&text, "arw_runtime_restart_budget_exhausted", &flaky) == Some(1.0);
        let exits = sample(&text, "arw_runtime_exits_total", &[flaky.as_slice(), &[("cause", "exited")]].concat());
        let automatic = sample(&text, "arw_runtime_restarts_total", &[("runtime", "flaky"), ("kind", "automatic")]);
        if exhausted && exits.is_some() && exits == automatic.map(|a| a + 1.0) {
            break text;
        }
        assert!(Instant::now() < deadline, "the counters did not settle within 20 s:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let status = arw.status();
    let rt = runtime(&status, "flaky");
    let automatic = rt["restarts_total"]["automatic"].as_f64().unwrap();
    assert_eq!(automatic, 2.0, "{rt:#}");
    assert_eq!(
        sample(&text, "arw_runtime_restarts_total", &[("runtime", "flaky"), ("kind", "automatic")]),
        Some(automatic)
    );
    assert_eq!(
        sample(&text, "arw_runtime_restarts_total", &[("runtime", "flaky"), ("kind", "manual")]),
        rt["restarts_total"]["manual"].as_f64()
    );
    assert_eq!(sample(&text, "arw_runtime_exits_total", &[("runtime", "flaky"), ("cause", "exited")]), Some(3.0));
    assert_eq!(sample(&text, "arw_runtime_state", &[("runtime", "flaky"), ("state", "error")]), Some(1.0));
    assert_eq!(sample(&text, "arw_runtime_restart_budget_remaining", &flaky), Some(0.0));
    assert_eq!(sample(&text, "arw_node_status", &[("code", "error")]), Some(1.0));
}

/// A stub smoke run is counted by mode and outcome.
#[test]
fn smoke_runs_are_counted() {
    let arw = Arw::new();
    let base = arw.http_url();
    let out = arw.cmd(&["runtime", "smoke", "--json"]).current_dir(arw.dir.path()).output().unwrap();
    assert_eq!(json_of(&out)["outcome"], "passed");
    let text = scrape(&base);
    assert_eq!(sample(&text, "arw_smoke_runs_total", &[("mode", "stub"), ("outcome", "passed")]), Some(1.0), "{text}");
    assert_eq!(sample(&text, "arw_smoke_runs_total", &[("mode", "stub"), ("outcome", "failed")]), Some(0.0));
    // The smoke's runtime is gone from the registry, and so are its series.
    assert!(!text.contains("runtime=\"smoke-"), "{text}");
}

/// With an admin token, `/metrics` needs the bearer header; the answer to a
/// wrong one never echoes the token.
#[test]
fn the_token_guards_metrics() {
    let arw = Arw::new().env("ARW_ADMIN_TOKEN", TOKEN);
    let base = arw.http_url();
    let url = format!("{base}metrics");
    for headers in [vec![], vec![("authorization", "Bearer wrong-token-wrong-token")], vec![("authorization", TOKEN)]] {
        let a = get(&url, &headers);
        assert_eq!(a.status, 401, "{headers:?}: {}", a.body);
        assert!(!a.body.contains(TOKEN) && !a.body.contains("arw_"), "{}", a.body);
    }
    let bearer = format!("Bearer {TOKEN}");
    let a = get(&url, &[("authorization", &bearer)]);
    assert_eq!((a.status, a.content_type.as_str()), (200, PROMETHEUS_TEXT));
    assert!(a.body.contains("arw_build_info{"), "{}", a.body);
}

/// `runtime weights verify` is counted by result, and the file's size shows
/// as cached bytes; a damaged file counts as a mismatch.
#[test]
fn weights_verifications_are_counted() {
    let arw = Arw::new();
    let base = arw.http_url();
    let dir = arw.home.join("cache/models");
    std::fs::create_dir_all(&dir).unwrap();
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(dir.join("t.gguf"), &bytes).unwrap();
    let sha = {
        let out = Command::new("sha256sum").arg(dir.join("t.gguf")).output().unwrap();
        String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
    };
    let roster = arw.dir.path().join("sources.json");
    std::fs::write(
        &roster,
        format!(r#"{{"models":[{{"repo":"org/tiny","file":"t.gguf","sha256":"{sha}","size":100000}}]}}"#),
    )
    .unwrap();
    let arw = arw.env("ARW_MODEL_SOURCES", roster.to_str().unwrap());
    let (out, doc) = arw.run_json(&["runtime", "weights", "verify"]);
    assert!(out.status.success(), "{doc:#}");
    let text = scrape(&base);
    assert_eq!(sample(&text, "arw_weights_verify_total", &[("result", "verified")]), Some(1.0), "{text}");
    assert_eq!(sample(&text, "arw_weights_cached_bytes", &[("repo", "org/tiny"), ("file", "t.gguf")]), Some(100_000.0));

    let mut damaged = bytes;
    damaged[1000] ^= 0xFF;
    std::fs::write(dir.join("t.gguf"), damaged).unwrap();
    let (out, doc) = arw.run_json(&["runtime", "weights", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    let text = scrape(&base);
    assert_eq!(sample(&text, "arw_weights_verify_total", &[("result", "mismatch")]), Some(1.0), "{text}");
    assert_eq!(sample(&text, "arw_weights_verify_total", &[("result", "verified")]), Some(1.0));
    assert_eq!(sample(&text, "arw_weights_downloaded_bytes_total", &[]), Some(0.0));
}
