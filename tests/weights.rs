//! `arw runtime weights` against a real local mock hub: opt-in, the Hugging
//! Face cache layout, integrity, resume, retries, mirrors, tokens, and the
//! `list` / `verify` / `path` / `--dry-run` / `--json` outputs.

use crate::common::mock_hub::*;
use crate::common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn repo_dir(arw: &Arw) -> PathBuf {
    hub_cache(arw).join("models--org--tiny")
}
fn snapshot(arw: &Arw) -> PathBuf {
    repo_dir(arw).join("snapshots").join(COMMIT).join(FILE)
}
fn blob(arw: &Arw, hub: &MockHub) -> PathBuf {
    repo_dir(arw).join("blobs").join(&hub.sha256)
}
fn incomplete(arw: &Arw, hub: &MockHub) -> PathBuf {
    repo_dir(arw).join("blobs").join(format!("{}.incomplete", hub.sha256))
}
#[track_caller]
fn fetch_ok(arw: &Arw) -> Value {
    let (out, doc) = arw.run_json(&["runtime", "weights", "fetch", "--allow-downloads"]);
    assert!(out.status.success(), "fetch failed: {doc:#}\nstderr:\n{}", text(&out.stderr));
    doc
}

/// Nothing at any final path: no blob, no snapshot entry, no link.
#[track_caller]
fn assert_nothing_final(arw: &Arw, hub: &MockHub) {
    for p in [blob(arw, hub), snapshot(arw), link(arw)] {
        assert!(std::fs::symlink_metadata(&p).is_err(), "{} exists but must not", p.display());
    }
}

/// The model landed verified in the cache layout with its link.
#[track_caller]
fn assert_landed(arw: &Arw, hub: &MockHub) {
    assert_eq!(sha256_of(&blob(arw, hub)), hub.sha256);
    assert_eq!(std::fs::read_link(snapshot(arw)).unwrap(), Path::new("../../blobs").join(&hub.sha256));
    assert_eq!(std::fs::read_to_string(repo_dir(arw).join("refs/main")).unwrap(), COMMIT);
    assert_eq!(std::fs::canonicalize(link(arw)).unwrap(), std::fs::canonicalize(blob(arw, hub)).unwrap());
    assert!(!incomplete(arw, hub).exists(), "no .incomplete left");
}

fn model(doc: &Value) -> &Value {
    let models = doc["models"].as_array().expect("models");
    models.last().expect("one model at least")
}

/// Happy path: an opted-in fetch lands in the HF cache layout (blob named
/// by sha256, relative snapshot link, refs/main) with a link in
/// `$ARW_HOME/cache/models/`, and reports it as downloaded and verified.
#[test]
fn happy_path_lands_in_hf_cache_layout() {
    let Some(hub) = MockHub::start() else { return };
    let arw = arw_for(&hub);
    let doc = fetch_ok(&arw);
    let m = model(&doc);
    assert_eq!(m["status"], "downloaded", "{doc:#}");
    assert_eq!(m["verified"], true);
    assert_eq!(m["sha256"], hub.sha256.as_str());
    assert_eq!(m["size"], hub.size);
    assert_eq!(m["commit"], COMMIT);
    assert_eq!(m["source"], "hub");
    assert_eq!(m["link"], link(&arw).display().to_string());
    assert_eq!(doc["cache_dir"], hub_cache(&arw).display().to_string());
    assert_landed(&arw, &hub);
    // Text mode names the path to export.
    let out = arw.ok(&["runtime", "weights"]);
    assert!(out.contains(&format!("export LLAMA_MODEL_PATH={}", link(&arw).display())), "{out}");
}

/// Python's `huggingface_hub.scan_cache_dir()` lists what arw downloaded,
/// with the `main` ref and no warnings.
#[test]
fn huggingface_hub_scan_cache_dir_lists_download() {
    let Some(python) = hf_python() else { return };
    let Some(hub) = MockHub::start() else { return };
    let arw = arw_for(&hub);
    fetch_ok(&arw);
    let script = r#"
import json, sys
from huggingface_hub import scan_cache_dir
info = scan_cache_dir(sys.argv[1])
print(json.dumps({
    "warnings": [str(w) for w in info.warnings],
    "repos": [{
        "repo_id": r.repo_id, "repo_type": r.repo_type, "size": r.size_on_disk,
        "refs": sorted(ref for rev in r.revisions for ref in rev.refs),
        "commits": [rev.commit_hash for rev in r.revisions],
        "files": sorted(f.file_name for rev in r.revisions for f in rev.files),
    } for r in info.repos],
}))
"#;
    let out = std::process::Command::new(python).args(["-c", script]).arg(hub_cache(&arw)).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let scan = json_of(&out);
    assert_eq!(scan["warnings"], json!([]), "{scan:#}");
    assert_eq!(
        scan["repos"],
        json!([{
            "repo_id": REPO, "repo_type": "model", "size": hub.size,
            "refs": ["main"], "commits": [COMMIT], "files": [FILE],
        }])
    );
}

/// A file huggingface_hub downloaded is reused by arw after verification,
/// without opt-in and without a single request to the hub.
#[test]
fn reuses_a_huggingface_hub_download_offline() {
    let Some(python) = hf_python() else { return };
    let Some(hub) = MockHub::start() else { return };
    let arw = arw_for(&hub);
    let script = r#"
import os, sys
os.environ["HF_ENDPOINT"] = sys.argv[1]
from huggingface_hub import hf_hub_download
print(hf_hub_download(repo_id=sys.argv[2], filename=sys.argv[3], cache_dir=sys.argv[4]))
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script, &hub.endpoint(), REPO, FILE])
        .arg(hub_cache(&arw))
        .env_remove("HF_HUB_OFFLINE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let before = hub.file_requests().len();
    let (out, doc) = arw.run_json(&["runtime", "weights"]);
    assert!(out.status.success(), "{doc:#}\n{}", text(&out.stderr));
    assert_eq!(model(&doc)["status"], "cached");
    assert_eq!(model(&doc)["verified"], true);
    assert_eq!(hub.file_requests().len(), before, "no request to the hub");
    assert_landed(&arw, &hub);
}

/// Without opt-in: the checklist (token, command, mirrors, model path) on
/// stderr, exit 1, no file written and not one request to the hub.
#[test]
fn no_opt_in_prints_checklist_and_touches_nothing() {
    let Some(hub) = MockHub::start() else { return };
    let sources = hub.sources_file(json!({}));
    let arw = Arw::new().env("HF_ENDPOINT", &hub.endpoint()).env("ARW_MODEL_SOURCES", sources.to_str().unwrap());
    let out = arw.run(&["runtime", "weights"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    for needle in [
        "downloads are off",
        "export HF_TOKEN=",
        "arw runtime weights fetch --allow-downloads",
        "LLAMA_ALLOW_DOWNLOADS=1",
        &hub.mirror_url(),
        &format!("export LLAMA_MODEL_PATH={}", link(&arw).display()),
    ] {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }
    assert!(out.stdout.is_empty(), "nothing on stdout: {}", text(&out.stdout));

    let (out, doc) = arw.run_json(&["runtime", "weights", "fetch", FILE]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(model(&doc)["status"], "needs_opt_in");
    assert_eq!(doc["checklist"]["token_found"], false);
    assert_eq!(doc["checklist"]["command"], format!("arw runtime weights fetch {FILE} --allow-downloads"));

    assert_eq!(hub.file_requests(), Vec::<Value>::new(), "the hub saw requests");
    assert!(!hub_cache(&arw).exists(), "nothing written to the cache");
    assert!(!link(&arw).exists());
}

/// A verified cached file is reused without opt-in and with no network;
/// a plain file at the seed's path is reused when it matches the pinned
/// checksum.
#[test]
fn cached_files_are_reused_without_network() {
    let Some(hub) = MockHub::start() else { return };
    let arw = arw_for(&hub);
    fetch_ok(&arw);
    let before = hub.file_requests().len();
    let (out, doc) = arw.run_json(&["runtime", "weights"]);
    assert!(out.status.success(), "{doc:#}");
    assert_eq!(model(&doc)["status"], "cached");
    assert_eq!(hub.file_requests().len(), before);

    // The seed's layout: a plain file in cache/models, checksum pinned.
    let seed = Arw::new().env("HF_ENDPOINT", &hub.endpoint());
    let sources = hub.sources_file(json!({"sha256": hub.sha256}));
    let seed = seed.env("ARW_MODEL_SOURCES", sources.to_str().unwrap());
    std::fs::create_dir_all(link(&seed).parent().unwrap()).unwrap();
    std::fs::copy(&hub.model, link(&seed)).unwrap();
    let (out, doc) = seed.run_json(&["runtime", "weights"]);
    assert!(out.status.success(), "{doc:#}\n{}", text(&out.stderr));
    assert_eq!(model(&doc)["status"], "cached");
    assert_eq!(model(&doc)["path"], link(&seed).display().to_string());
    assert_eq!(hub.file_requests().len(), before, "no request to the hub");
}

/// Bytes that do not hash to the hub's LFS sha256 are rejected: exit 1,
/// a clear message, and nothing at the final path (nor a leftover
/// `.incomplete`). A pinned checksum the hub does not match is refused
/// before any byte is downloaded.
#[test]
fn checksum_mismatch_is_rejected() {
    let Some(mut hub) = MockHub::start() else {
        return;
    };
    hub.faults(json!({"corrupt": true}));
    let arw = arw_for(&hub);
    let (out, doc) = arw.run_json(&["runtime", "weights", "--allow-downloads"]);
    assert_eq!(out.status.code(), Some(1));
    let m = model(&doc);
    assert_eq!(m["status"], "mismatch", "{doc:#}");
    let msg = m["message"].as_str().unwrap();
    assert!(msg.contains("sha256 mismatch") && msg.contains(&hub.sha256), "{msg}");
    assert!(text(&out.stderr).contains("sha256 mismatch"));
    assert_nothing_final(&arw, &hub);
    assert!(!incomplete(&arw, &hub).exists());

    hub.faults(json!({}));
    let wrong = "0".repeat(64);
    let sources = hub.sources_file(json!({"sha256": wrong}));
    let arw = Arw::new().env("HF_ENDPOINT", &hub.endpoint()).env("ARW_MODEL_SOURCES", sources.to_str().unwrap());
    let before = hub.log().len();
    let (out, doc) = arw.run_json(&["runtime", "weights", "--allow-downloads"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(model(&doc)["status"], "mismatch", "{doc:#}");
    assert!(model(&doc)["message"].as_str().unwrap().contains("pins"));
    let cdn = hub.log()[before..].iter().filter(|r| r["route"] == "cdn").count();
    assert_eq!(cdn, 0, "no bytes fetched for a file that cannot match");
    assert_nothing_final(&arw, &hub);
}

/// Kill the download 20 times at random points (SIGKILL the daemon, some
/// times after killing the client): never a file at the final path; every
/// next run resumes with a Range request; the end result verifies.
#[test]
fn killed_twenty_times_then_resumes_and_verifies() {
    let Some(mut hub) = MockHub::with_size(8 << 20) else {
        return;
    };
    hub.faults(json!({"rate": 6_000_000}));
    let arw = arw_for(&hub);
    let partial = incomplete(&arw, &hub);
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("random seed {seed}");
    let mut next = move |lo: u64, hi: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        lo + seed % (hi - lo)
    };
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    for round in 0..20 {
        let target = len(&partial) + next(64 << 10, 320 << 10);
        let errors = arw.dir.path().join(format!("stderr.{round}"));
        let mut client = arw
            .cmd(&["runtime", "weights", "--allow-downloads"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&errors).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while len(&partial) < target {
            assert!(Instant::now() < deadline, "round {round}: no progress");
            assert!(
                client.try_wait().unwrap().is_none(),
                "round {round}: the client ended before the kill:\n{}",
                std::fs::read_to_string(&errors).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        let daemon = arw.daemon_pid().expect("daemon pid");
        if round % 3 == 1 {
            let _ = client.kill();
        }
        unsafe { libc::kill(daemon as i32, libc::SIGKILL) };
        assert!(wait_gone(daemon, Duration::from_secs(10)));
        let status = client.wait().unwrap();
        assert!(!status.success(), "round {round}: a killed fetch must not succeed");
        assert_nothing_final(&arw, &hub);
        assert!(len(&partial) > 0, "the partial download survives");
    }
    assert!(len(&partial) < hub.size, "the kills came before the end");
    hub.faults(json!({}));
    let doc = fetch_ok(&arw);
    let m = model(&doc);
    assert_eq!(m["status"], "downloaded", "{doc:#}");
    assert!(m["resumed_from"].as_u64().unwrap() > 0, "{doc:#}");
    assert_landed(&arw, &hub);
    assert!(hub.resumes().len() >= 20, "every restart resumed with a Range request: {:#?}", hub.resumes());
}

/// A client that goes away does not stop the download; a second fetch of
/// the same file joins it instead of starting another transfer.
#[test]
fn detached_download_continues_and_second_fetch_joins() {
    let Some(mut hub) = MockHub::with_size(6 << 20) else {
        return;
    };
    hub.faults(json!({"rate": 3_000_000}));
    let arw = arw_for(&hub);
    let partial = incomplete(&arw, &hub);
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut first = arw
        .cmd(&["runtime", "weights", "--allow-downloads"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while len(&partial) < (1 << 20) {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let after_kill = len(&partial);
    while len(&partial) < after_kill + (512 << 10) {
        assert!(Instant::now() < deadline, "the download stopped with its client");
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = arw.run(&["runtime", "weights", "--allow-downloads"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("already downloading"), "joined: {}", text(&out.stderr));
    assert_landed(&arw, &hub);
    let transfers = hub
        .log()
        .into_iter()
        .filter(|r| r["route"] == "cdn" && r["method"] == "GET")
        .filter(|r| r["range"].is_null() || r["range"].as_str().is_some_and(|s| s.ends_with('-')))
        .count();
    assert_eq!(transfers, 1, "one transfer: {:#?}", hub.log());
}

/// A running download keeps the daemon from exiting for idleness even
/// with no client attached; once it is done, the daemon idles out.
#[test]
fn download_keeps_the_daemon_from_idling_out() {
    let Some(mut hub) = MockHub::with_size(4 << 20) else {
        return;
    };
    hub.faults(json!({"rate": 2_000_000}));
    let arw = arw_for(&hub).env("ARW_IDLE_TIMEOUT_SECS", "1");
    let partial = incomplete(&arw, &hub);
    let mut client = arw
        .cmd(&["runtime", "weights", "--allow-downloads"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) < (256 << 10) {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    let daemon = arw.daemon_pid().unwrap();
    client.kill().unwrap();
    client.wait().unwrap();
    while std::fs::symlink_metadata(link(&arw)).is_err() {
        assert!(alive(daemon), "the daemon idled out during the download");
        assert!(Instant::now() < deadline, "download did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_landed(&arw, &hub);
    assert!(wait_gone(daemon, Duration::from_secs(15)), "idles out afterwards");
}

/// A connection dropped mid-body is retried with a Range request from
/// where it stopped.
#[test]
fn dropped_connection_is_resumed_with_range() {
    let Some(mut hub) = MockHub::start() else {
        return;
    };
    hub.faults(json!({"drop_after": 1 << 20, "drop_times": 2}));
    let arw = arw_for(&hub);
    let out = arw.run(&["runtime", "weights", "--allow-downloads"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("retrying from byte"), "{}", text(&out.stderr));
    assert_landed(&arw, &hub);
    let resumes = hub.resumes();
    assert_eq!(resumes.len(), 2, "{:#?}", hub.log());
    assert_eq!(resumes[0]["range"], format!("bytes={}-", 1 << 20));
    assert_eq!(resumes[1]["range"], format!("bytes={}-", 2 << 20));
}

/// A transfer that stalls (no byte for `ARW_WEIGHTS_STALL_SECS`) is
/// abandoned and resumed, long before the server would have given up.
#[test]
fn stalled_transfer_is_retried() {
    let Some(mut hub) = MockHub::start() else {
        return;
    };
    hub.faults(json!({"stall_after": 512 << 10, "stall_times": 1, "stall_secs": 60}));
    let arw = arw_for(&hub).env("ARW_WEIGHTS_STALL_SECS", "1");
    let started = Instant::now();
    let out = arw.run(&["runtime", "weights", "--allow-downloads"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(text(&out.stderr).contains("stalled: no data for 1s"), "{}", text(&out.stderr));
    assert_landed(&arw, &hub);
    assert_eq!(hub.resumes()[0]["range"], format!("bytes={}-", 512 << 10));
}

/// 500s are retried with backoff: on the resolve step until it works, and
/// on the file until the retries run out, then the mirror serves it.
#[test]
fn server_errors_retry_then_fall_back_to_mirror() {
    let Some(mut hub) = MockHub::start() else {
        return;
    };
    hub.faults(json!({"resolve_500": 2, "blob_500": -1}));
    let sources = hub.sources_file(json!({}));
    let arw = Arw::new()
        .env("HF_ENDPOINT", &hub.endpoint())
        .env("ARW_MODEL_SOURCES", sources.to_str().unwrap())
        .env("ARW_WEIGHTS_RETRIES", "2")
        .env("ARW_WEIGHTS_BACKOFF_MS", "10");
    let (out, doc) = arw.run_json(&["runtime", "weights", "--allow-downloads"]);
    assert!(out.status.success(), "{doc:#}\n{}", text(&out.stderr));
    let m = model(&doc);
    assert_eq!(m["status"], "downloaded");
    assert_eq!(m["source"], hub.mirror_url());
    assert_landed(&arw, &hub);
    let log = hub.log();
    let count = |route: &str, status: u64| {
        log.iter().filter(|r| r["route"] == route && r["status"] == status && r["method"] == "GET").count()
    };
    assert_eq!(count("resolve", 500), 2, "{log:#?}");
    assert_eq!(count("cdn", 500), 3, "first try + 2 retries: {log:#?}");
    assert_eq!(count("mirror", 200), 1, "{log:#?}");
    let err = text(&out.stderr);
    assert!(err.contains("500"), "{err}");
}

/// With the hub unusable and the checksum pinned, the mirrors serve the
/// file; the link then works offline like any cached copy.
#[test]
fn unusable_hub_with_pinned_checksum_uses_mirrors() {
    let Some(mut hub) = MockHub::start() else {
        return;
    };
    hub.faults(json!({"resolve_500": -1}));
    let sources = hub.sources_file(json!({"sha256": hub.sha256}));
    let arw = Arw::new()
        .env("HF_ENDPOINT", &hub.endpoint())
        .env("ARW_MODEL_SOURCES", sources.to_str().unwrap())
        .env("ARW_WEIGHTS_RETRIES", "1")
        .env("ARW_WEIGHTS_BACKOFF_MS", "10");
    let doc = fetch_ok(&arw);
    let m = model(&doc);
    assert_eq!(m["status"], "downloaded", "{doc:#}");
    assert_eq!(m["source"], hub.mirror_url());
    assert!(m["message"].as_str().unwrap().contains("500"), "{doc:#}");
    assert_eq!(sha256_of(&blob(&arw, &hub)), hub.sha256);
    assert_eq!(std::fs::canonicalize(link(&arw)).unwrap(), std::fs::canonicalize(blob(&arw, &hub)).unwrap());
    let before = hub.log().len();
    let (out, doc) = arw.run_json(&["runtime", "weights"]);
    assert!(out.status.success(), "{doc:#}");
    assert_eq!(model(&doc)["status"], "cached");
    assert_eq!(hub.log().len(), before, "offline reuse");
}

/// A hub that wants a token: without one, exit 1 with a clear message and
/// the checklist; with `HF_TOKEN` (or the token file) it works, the token
/// never reaches the CDN, and it appears in no output and no log.
#[test]
fn token_required_and_never_leaked() {
    let Some(mut hub) = MockHub::start() else {
        return;
    };
    let token = "hf_MockSecretToken_31337";
    hub.token(Some(token));
    let arw = arw_for(&hub);
    let (out, doc) = arw.run_json(&["runtime", "weights", "--allow-downloads"]);
    assert_eq!(out.status.code(), Some(1));
    let m = model(&doc);
    assert_eq!(m["status"], "needs_token", "{doc:#}");
    let msg = m["message"].as_str().unwrap();
    assert!(msg.contains("401") && msg.contains("HF_TOKEN"), "{msg}");
    assert!(doc["checklist"]["steps"][1].as_str().unwrap().contains("export HF_TOKEN="));
    assert_nothing_final(&arw, &hub);

    let arw = arw.env("HF_TOKEN", token);
    let mut outputs = Vec::new();
    let out = arw.run(&["runtime", "weights", "--allow-downloads"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    outputs.push(out);
    assert_landed(&arw, &hub);
    outputs.push(arw.run(&["runtime", "weights", "list", "--json"]));
    outputs.push(arw.run(&["runtime", "weights", "verify"]));
    outputs.push(arw.run(&["daemon", "logs", "-n", "1000"]));
    for out in &outputs {
        assert!(!text(&out.stdout).contains(token) && !text(&out.stderr).contains(token));
    }
    let mut files = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.is_file() && std::fs::metadata(&p).unwrap().len() < (1 << 20) {
                out.push(p);
            }
        }
    }
    walk(&arw.home, &mut files);
    assert!(files.iter().any(|f| f.ends_with("logs/daemon.log")));
    for f in files {
        let body = std::fs::read(&f).unwrap();
        assert!(!text(&body).contains(token), "token in {}", f.display());
    }
    for r in hub.log() {
        if r["route"] == "cdn" {
            assert_eq!(r["auth"], "none", "token sent to the CDN: {r}");
        }
    }
    assert!(hub.log().iter().any(|r| r["route"] == "resolve" && r["auth"] == "ok"));

    // The token file under HF_HOME works as well.
    let hf_home = hub.dir.path().join("hf-home");
    std::fs::create_dir_all(&hf_home).unwrap();
    std::fs::write(hf_home.join("token"), format!("{token}\n")).unwrap();
    let arw = arw_for(&hub).env("HF_HOME", hf_home.to_str().unwrap());
    let out = arw.run(&["runtime", "weights", "--allow-downloads"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(hf_home.join("hub/models--org--tiny/refs/main").is_file());
}

/// `--dry-run` reports size and disk/memory fit (GGUF-based after a Range
/// read of the header) without downloading; without opt-in it asks nobody.
#[test]
fn dry_run_reports_fit_without_downloading() {
    let Some(hub) = MockHub::start() else { return };
    let arw = arw_for(&hub);
    let (out, doc) = arw.run_json(&["runtime", "weights", "--dry-run"]);
    assert!(out.status.success(), "{doc:#}");
    assert_eq!(model(&doc)["status"], "would_download");
    assert_eq!(hub.file_requests(), Vec::<Value>::new());

    let (out, doc) = arw.run_json(&["runtime", "weights", "--dry-run", "--allow-downloads"]);
    assert!(out.status.success(), "{doc:#}");
    let m = model(&doc);
    assert_eq!(m["status"], "would_download");
    assert_eq!(m["size"], hub.size);
    let fit = &m["fit"];
    assert_eq!(fit["disk"]["fits"], true, "{fit:#}");
    assert_eq!(fit["disk"]["needed_bytes"], hub.size);
    assert_eq!(fit["memory"]["method"], "gguf", "{fit:#}");
    assert_eq!(fit["memory"]["n_ctx"], 512);
    assert!(fit["memory"]["estimate_bytes"].as_u64().unwrap() > hub.size);
    assert!(hub.resumes().is_empty());
    assert!(!blob(&arw, &hub).exists() && !incomplete(&arw, &hub).exists());
    let table = arw.ok(&["runtime", "weights", "--dry-run", "--allow-downloads"]);
    assert!(table.contains("download") && table.contains("fits"), "{table}");
}

/// Disk space is checked before downloading: a file bigger than the free
/// space is refused with the shortfall, and no bytes are transferred.
#[test]
fn too_big_for_the_disk_is_refused_before_downloading() {
    let Some(mut hub) = MockHub::start() else {
        return;
    };
    hub.faults(json!({"fake_size": 1u64 << 50}));
    let arw = arw_for(&hub);
    let (out, doc) = arw.run_json(&["runtime", "weights", "--allow-downloads"]);
    assert_eq!(out.status.code(), Some(1));
    let m = model(&doc);
    assert_eq!(m["status"], "failed", "{doc:#}");
    assert!(m["message"].as_str().unwrap().contains("does not fit"), "{doc:#}");
    assert_eq!(m["fit"]["disk"]["fits"], false);
    assert!(hub.resumes().is_empty());
    assert!(!incomplete(&arw, &hub).exists());
}

/// `list`, `verify` and `path` in text and JSON: what is cached, whether
/// verified, where; `verify` notices a damaged file and exits 1.
#[test]
fn list_verify_path_outputs() {
    let Some(hub) = MockHub::start() else { return };
    let arw = arw_for(&hub);
    let (out, doc) = arw.run_json(&["runtime", "weights", "list"]);
    assert!(out.status.success());
    assert_eq!(model(&doc)["status"], "missing");
    let out = arw.run(&["runtime", "weights", "path", FILE]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not downloaded"), "{}", text(&out.stderr));

    fetch_ok(&arw);
    let (_, doc) = arw.run_json(&["runtime", "weights", "list"]);
    let models = doc["models"].as_array().unwrap();
    assert_eq!(models.len(), 1, "{doc:#}");
    assert_eq!(models[0]["status"], "cached");
    assert_eq!(models[0]["verified"], true);
    assert_eq!(models[0]["revision"], "main");
    assert_eq!(models[0]["size"], hub.size);
    let table = arw.ok(&["runtime", "weights", "list"]);
    assert!(table.contains(&format!("{REPO}::{FILE}")) && table.contains("yes"), "{table}");

    let (out, doc) = arw.run_json(&["runtime", "weights", "verify"]);
    assert!(out.status.success(), "{doc:#}");
    assert_eq!(model(&doc)["status"], "verified");
    assert_eq!(model(&doc)["sha256"], hub.sha256.as_str());

    let path = arw.ok(&["runtime", "weights", "path", FILE]);
    assert_eq!(path, format!("{}\n", link(&arw).display()));
    let (_, doc) = arw.run_json(&["runtime", "weights", "path", &format!("{REPO}::{FILE}")]);
    assert_eq!(model(&doc)["link"], link(&arw).display().to_string());

    // Damage one byte: verify says so and exits 1; list stops calling it verified.
    let blob = blob(&arw, &hub);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[1000] ^= 0xFF;
    std::fs::write(&blob, bytes).unwrap();
    let (out, doc) = arw.run_json(&["runtime", "weights", "verify", FILE]);
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    assert_eq!(model(&doc)["status"], "mismatch");
    let (_, doc) = arw.run_json(&["runtime", "weights", "list"]);
    assert_eq!(model(&doc)["verified"], false);
    let out = arw.run(&["runtime", "weights", "list", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2), "--dry-run is for fetch only");
}

/// A roster file with a bad key is refused with the file and the key named.
#[test]
fn bad_roster_names_the_key() {
    let arw = Arw::new();
    let path = arw.dir.path().join("sources.json");
    std::fs::write(&path, r#"{"models": [{"repo": "a/b", "file": "x.gguf", "sha256": "nothex"}]}"#).unwrap();
    let arw = arw.env("ARW_MODEL_SOURCES", path.to_str().unwrap());
    let out = arw.run(&["runtime", "weights", "list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(&path.display().to_string()) && err.contains("`models[0].sha256`"), "{err}");
    let arw = Arw::new().env("LLAMA_MODEL_SOURCES", "no-separator.gguf");
    let err = text(&arw.run(&["runtime", "weights", "list"]).stderr);
    assert!(err.contains("LLAMA_MODEL_SOURCES") && err.contains("repo::file"), "{err}");
}

/// The mock hub speaks what hf-hub 0.5 needs: hf-hub itself reads the
/// revision API and downloads the file from it into the cache layout.
#[test]
fn mock_hub_is_faithful_to_hf_hub() {
    let Some(hub) = MockHub::start() else { return };
    let cache = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (info, path) = rt.block_on(async {
        let api = hf_hub::api::tokio::ApiBuilder::new()
            .with_endpoint(hub.endpoint())
            .with_cache_dir(cache.path().to_path_buf())
            .with_token(None)
            .with_progress(false)
            .build()
            .unwrap();
        let repo = api.model(REPO.to_string());
        (repo.info().await.unwrap(), repo.download(FILE).await.unwrap())
    });
    assert_eq!(info.sha, COMMIT);
    assert_eq!(info.siblings[0].rfilename, FILE);
    assert_eq!(sha256_of(&path), hub.sha256);
    assert!(path.ends_with(format!("models--org--tiny/snapshots/{COMMIT}/{FILE}")));
}
