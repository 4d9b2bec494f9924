//! Issue 11, weights: what a hostile hub, a hostile roster or an unlucky
//! cache must not be able to do, and the messages that must say what
//! happened. Every test runs the real `arw` against the local mock hub.

use crate::common::mock_hub::*;
use crate::common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const OTHER: &str = "other/tiny";
const OTHER_COMMIT: &str = "fedcba9876543210fedcba9876543210fedcba98";

fn model(doc: &Value) -> &Value {
    doc["models"].as_array().and_then(|m| m.last()).expect("one model at least")
}

/// Every path under `dir`, symlinks included, not followed.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        out.push(p.clone());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(tree(&p));
        }
    }
    out
}

/// #11.1: a hub's `X-Repo-Commit` must be 40 hex: `../../../../victim`
/// does not turn a file outside the cache into a symlink, a deeper one
/// does not create directories elsewhere, and nothing at all is written
/// (no repo folder, no snapshot, no `refs/main`, no link); the error names
/// the hub and the value.
#[test]
fn hostile_commit_header_writes_nothing() {
    let Some(mut hub) = MockHub::start() else { return };
    let arw = arw_for(&hub);
    // `snapshots/../../../../victim/tiny.gguf` is `$HOME/.cache/victim/tiny.gguf`.
    let victim = arw.dir.path().join(".cache/victim").join(FILE);
    std::fs::create_dir_all(victim.parent().unwrap()).unwrap();
    std::fs::write(&victim, b"the user's own file").unwrap();
    for commit in ["../../../../victim", "../../../../outside/made"] {
        hub.faults(json!({"commit": commit}));
        let (out, doc) = arw.run_json(&["runtime", "weights", "--allow-downloads"]);
        assert_eq!(out.status.code(), Some(1), "{doc:#}");
        let m = model(&doc);
        assert_eq!(m["status"], "failed", "{doc:#}");
        let msg = m["message"].as_str().unwrap();
        assert!(msg.contains(&format!("`{commit}`")) && msg.contains("40-hex"), "{msg}");
        assert!(msg.contains(&hub.endpoint()), "names the hub: {msg}");
        assert!(text(&out.stderr).contains("not a 40-hex commit"), "{}", text(&out.stderr));
    }
    let meta = std::fs::symlink_metadata(&victim).unwrap();
    assert!(meta.file_type().is_file(), "the victim is still a plain file");
    assert_eq!(std::fs::read(&victim).unwrap(), b"the user's own file");
    assert!(!arw.dir.path().join(".cache/outside").exists(), "no directory outside the cache");
    assert_eq!(tree(&hub_cache(&arw)), Vec::<PathBuf>::new(), "nothing in the cache");
    assert!(std::fs::symlink_metadata(link(&arw)).is_err(), "no link");
}

/// #11.1: a commit in capitals is the same commit; the cache spells it in
/// lower case, as huggingface_hub does.
#[test]
fn upper_case_commit_is_lower_cased() {
    let Some(mut hub) = MockHub::start() else { return };
    hub.faults(json!({"commit": COMMIT.to_ascii_uppercase()}));
    let arw = arw_for(&hub);
    let (out, doc) = arw.run_json(&["runtime", "weights", "--allow-downloads"]);
    assert!(out.status.success(), "{doc:#}\n{}", text(&out.stderr));
    assert_eq!(model(&doc)["commit"], COMMIT);
    let repo = hub_cache(&arw).join("models--org--tiny");
    assert!(repo.join("snapshots").join(COMMIT).join(FILE).is_file());
    assert_eq!(std::fs::read_to_string(repo.join("refs/main")).unwrap(), COMMIT);
}

/// #11.1: the ETag names the blob, so it must be a sha256 or a git sha1:
/// with a pinned checksum (the case where the hub's etag was used as the
/// blob's name unchecked), `../../../../victim` neither overwrites a file
/// outside the cache nor leaves a download there.
#[test]
fn hostile_etag_writes_nothing() {
    let Some(mut hub) = MockHub::start() else { return };
    hub.faults(json!({"etag": "../../../../victim"}));
    let sources = hub.dir.path().join("pinned.json");
    let entry = json!({"repo": REPO, "file": FILE, "sha256": hub.sha256});
    std::fs::write(&sources, serde_json::to_vec(&json!({"models": [entry]})).unwrap()).unwrap();
    let arw = Arw::new().env("HF_ENDPOINT", &hub.endpoint()).env("ARW_MODEL_SOURCES", sources.to_str().unwrap());
    // `blobs/../../../../victim` is `$HOME/.cache/victim`.
    let victim = arw.dir.path().join(".cache/victim");
    std::fs::create_dir_all(victim.parent().unwrap()).unwrap();
    std::fs::write(&victim, b"keep me").unwrap();
    let (out, doc) = arw.run_json(&["runtime", "weights", "--allow-downloads"]);
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    let msg = model(&doc)["message"].as_str().unwrap();
    assert!(msg.contains("`../../../../victim`") && msg.contains("ETag"), "{msg}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
    assert!(!arw.dir.path().join(".cache/victim.incomplete").exists());
    assert_eq!(tree(&hub_cache(&arw)), Vec::<PathBuf>::new(), "nothing in the cache");
    let cdn = hub.log().iter().filter(|r| r["route"] == "cdn").count();
    assert_eq!(cdn, 0, "no byte was fetched");
}

/// #11.1: roster strings that reach the filesystem are checked: an
/// absolute revision (it names `refs/<revision>`), a file with a NUL or a
/// `..`, a repo id with `..`; each is refused naming the key, and nothing
/// is written. The same on the command line is a usage error (exit 2).
#[test]
fn roster_names_that_leave_the_cache_are_refused() {
    let Some(hub) = MockHub::start() else { return };
    let outside = hub.dir.path().join("outside-ref");
    let cases = [
        (json!({"repo": REPO, "file": FILE, "revision": outside.to_str().unwrap()}), "models[0].revision"),
        (json!({"repo": REPO, "file": "tiny\u{0}.gguf"}), "models[0].file"),
        (json!({"repo": REPO, "file": "a/../../tiny.gguf"}), "models[0].file"),
        (json!({"repo": "org/..", "file": FILE}), "models[0].repo"),
    ];
    for (entry, key) in cases {
        let sources = hub.dir.path().join("roster.json");
        std::fs::write(&sources, serde_json::to_vec(&json!({"models": [entry]})).unwrap()).unwrap();
        let arw = Arw::new().env("HF_ENDPOINT", &hub.endpoint()).env("ARW_MODEL_SOURCES", sources.to_str().unwrap());
        let out = arw.run(&["runtime", "weights", "--allow-downloads"]);
        assert_eq!(out.status.code(), Some(1), "{entry}");
        let err = text(&out.stderr);
        assert!(err.contains(&format!("`{key}`")), "{entry}: {err}");
        assert!(!err.contains('\0'), "no raw NUL in the message");
        assert!(!hub_cache(&arw).exists() && !outside.exists(), "{entry}: something was written");
    }
    for bad in [format!("{REPO}::../{FILE}"), format!("{REPO}::/etc/{FILE}"), format!("../x::{FILE}")] {
        let arw = arw_for(&hub);
        let out = arw.run(&["runtime", "weights", "fetch", &bad, "--allow-downloads"]);
        assert_eq!(out.status.code(), Some(2), "a bad argument is a usage error: {bad}");
        assert!(text(&out.stderr).contains("is not"), "{bad}: {}", text(&out.stderr));
        assert!(!hub_cache(&arw).exists(), "{bad}: something was written");
    }
    assert!(hub.file_requests().is_empty(), "the hub was never asked: {:#?}", hub.log());
}

/// #11.20: after `org/tiny::tiny.gguf` is fetched, `other/tiny::tiny.gguf`
/// (same file name, other bytes) is not "reused" through
/// `cache/models/tiny.gguf`; with opt-in it is downloaded into its own
/// cache entry, and the link follows the last fetch while `path` names
/// each repo's own file.
#[test]
fn another_repos_file_of_the_same_name_is_not_reused() {
    let Some(mut hub) = MockHub::start() else { return };
    let (_, other_sha) = hub.add_repo(OTHER, OTHER_COMMIT, FILE, 2 << 20);
    assert_ne!(other_sha, hub.sha256);
    let arw = arw_for(&hub);
    let (out, _) = arw.run_json(&["runtime", "weights", "--allow-downloads"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let other_id = format!("{OTHER}::{FILE}");

    let before = hub.file_requests().len();
    let (out, doc) = arw.run_json(&["runtime", "weights", "fetch", &other_id]);
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    let m = model(&doc);
    assert_eq!(m["status"], "needs_opt_in", "{doc:#}");
    assert!(m["message"].as_str().unwrap().contains(&format!("`{REPO}`'s file")), "{doc:#}");
    assert_eq!(hub.file_requests().len(), before, "no network without opt-in");

    let (out, doc) = arw.run_json(&["runtime", "weights", "fetch", &other_id, "--allow-downloads"]);
    assert!(out.status.success(), "{doc:#}\n{}", text(&out.stderr));
    let m = model(&doc);
    assert_eq!(m["status"], "downloaded", "{doc:#}");
    assert_eq!(m["sha256"], other_sha.as_str());
    let other_snapshot = hub_cache(&arw).join("models--other--tiny/snapshots").join(OTHER_COMMIT).join(FILE);
    assert_eq!(sha256_of(&other_snapshot), other_sha);
    assert_eq!(sha256_of(&link(&arw)), other_sha, "the link follows the last fetch");

    let org_snapshot = hub_cache(&arw).join("models--org--tiny/snapshots").join(COMMIT).join(FILE);
    let path = arw.ok(&["runtime", "weights", "path", &format!("{REPO}::{FILE}")]);
    assert_eq!(path.trim(), org_snapshot.display().to_string(), "path names org/tiny's own file");
    assert_eq!(sha256_of(Path::new(path.trim())), hub.sha256);

    // Back to org/tiny: found in its own cache entry, offline, and relinked.
    let before = hub.file_requests().len();
    let (out, doc) = arw.run_json(&["runtime", "weights", "fetch", &format!("{REPO}::{FILE}")]);
    assert!(out.status.success(), "{doc:#}");
    assert_eq!(model(&doc)["status"], "cached");
    assert_eq!(hub.file_requests().len(), before);
    assert_eq!(sha256_of(&link(&arw)), hub.sha256);
}

/// #11.20: a plain file at `cache/models/tiny.gguf` that the hub confirmed
/// as `org/tiny`'s is reused offline for `org/tiny`, but not for
/// `other/tiny`, which has no pinned checksum to prove it.
#[test]
fn a_plain_file_confirmed_for_one_repo_is_not_another_repos() {
    let Some(mut hub) = MockHub::start() else { return };
    hub.add_repo(OTHER, OTHER_COMMIT, FILE, 2 << 20);
    let arw = arw_for(&hub);
    std::fs::create_dir_all(link(&arw).parent().unwrap()).unwrap();
    std::fs::copy(&hub.model, link(&arw)).unwrap();
    let org_id = format!("{REPO}::{FILE}");
    let (out, doc) = arw.run_json(&["runtime", "weights", "fetch", &org_id, "--allow-downloads"]);
    assert!(out.status.success(), "{doc:#}");
    assert_eq!(model(&doc)["status"], "cached", "the hub's sha256 matched the plain file: {doc:#}");

    let before = hub.file_requests().len();
    let (out, doc) = arw.run_json(&["runtime", "weights", "fetch", &org_id]);
    assert!(out.status.success(), "reused offline for the repo it was confirmed for: {doc:#}");
    assert_eq!(model(&doc)["path"], link(&arw).display().to_string());
    let (out, doc) = arw.run_json(&["runtime", "weights", "fetch", &format!("{OTHER}::{FILE}")]);
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    assert_eq!(model(&doc)["status"], "needs_opt_in", "{doc:#}");
    assert_eq!(hub.file_requests().len(), before);
}

/// #11.19: with `HF_HUB_OFFLINE=1`, `--dry-run --allow-downloads` blames
/// `HF_HUB_OFFLINE`, not a missing `--allow-downloads`; so does a fetch.
#[test]
fn offline_blames_hf_hub_offline() {
    let Some(hub) = MockHub::start() else { return };
    let arw = arw_for(&hub).env("HF_HUB_OFFLINE", "1");
    let (out, doc) = arw.run_json(&["runtime", "weights", "--dry-run", "--allow-downloads"]);
    assert!(out.status.success(), "{doc:#}");
    let msg = model(&doc)["message"].as_str().unwrap();
    assert!(msg.contains("HF_HUB_OFFLINE") && !msg.contains("add --allow-downloads"), "{msg}");
    let (out, doc) = arw.run_json(&["runtime", "weights", "--allow-downloads"]);
    assert_eq!(out.status.code(), Some(1));
    let msg = model(&doc)["message"].as_str().unwrap();
    assert!(msg.contains("HF_HUB_OFFLINE") && !msg.contains("downloads are off"), "{msg}");
    assert!(doc["checklist"]["reason"].as_str().unwrap().contains("HF_HUB_OFFLINE"));
    assert!(hub.file_requests().is_empty());
}

/// #11.19: a damaged pinned file (at the seed's path, or a cache blob)
/// without opt-in is reported as damaged — sha256 mismatch, the two
/// hashes, the command that repairs it — not only as "downloads are off".
#[test]
fn damaged_local_file_without_opt_in_says_damaged() {
    let Some(hub) = MockHub::start() else { return };
    let sources = hub.sources_file(json!({"sha256": hub.sha256}));
    let arw = Arw::new().env("HF_ENDPOINT", &hub.endpoint()).env("ARW_MODEL_SOURCES", sources.to_str().unwrap());
    let mut bytes = std::fs::read(&hub.model).unwrap();
    bytes[1000] ^= 0xFF;
    std::fs::create_dir_all(link(&arw).parent().unwrap()).unwrap();
    std::fs::write(link(&arw), &bytes).unwrap();
    let (out, doc) = arw.run_json(&["runtime", "weights"]);
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    let m = model(&doc);
    assert_eq!(m["status"], "mismatch", "{doc:#}");
    let msg = m["message"].as_str().unwrap();
    assert!(msg.contains("is damaged") && msg.contains(&hub.sha256), "{msg}");
    assert!(msg.contains("--allow-downloads"), "says what to do: {msg}");
    assert!(text(&out.stderr).contains("is damaged"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(link(&arw)).unwrap(), bytes, "the user's file is left alone");

    // A damaged cache blob: same verdict; the garbage blob is removed.
    let arw = Arw::new().env("HF_ENDPOINT", &hub.endpoint()).env("ARW_MODEL_SOURCES", sources.to_str().unwrap());
    let (out, _) = arw.run_json(&["runtime", "weights", "--allow-downloads"]);
    assert!(out.status.success());
    let blob = hub_cache(&arw).join("models--org--tiny/blobs").join(&hub.sha256);
    std::fs::write(&blob, &bytes).unwrap();
    let (out, doc) = arw.run_json(&["runtime", "weights"]);
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    assert_eq!(model(&doc)["status"], "mismatch", "{doc:#}");
    assert!(model(&doc)["message"].as_str().unwrap().contains("bad blob was removed"), "{doc:#}");
    assert!(!blob.exists());
}

/// #11.19: `list` is honest: a roster model not downloaded is a row, not
/// an `error:` line next to exit 0; a cache that cannot be read is an
/// error, exit 1, and `--json` carries it in `problems`.
#[test]
fn list_is_honest_about_errors() {
    let Some(hub) = MockHub::start() else { return };
    let arw = arw_for(&hub);
    let out = arw.run(&["runtime", "weights", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("error"), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("not downloaded"), "{}", text(&out.stdout));

    // A cache path that is a file: read_dir fails even for root.
    let not_a_dir = arw.dir.path().join("cache-is-a-file");
    std::fs::write(&not_a_dir, b"").unwrap();
    let arw = arw.env("HF_HUB_CACHE", not_a_dir.to_str().unwrap());
    let (out, doc) = arw.run_json(&["runtime", "weights", "list"]);
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    let problems = doc["problems"].as_array().expect("problems");
    assert!(problems[0].as_str().unwrap().contains("cannot read"), "{doc:#}");
    assert!(text(&out.stderr).contains("cannot read"), "{}", text(&out.stderr));
}

/// #11.19: `verify` with nothing cached says there is nothing to verify and
/// exits 0; asked for a model that is absent, it still exits 1.
#[test]
fn verify_with_nothing_cached_is_not_a_failure() {
    let Some(hub) = MockHub::start() else { return };
    let arw = arw_for(&hub);
    let out = arw.run(&["runtime", "weights", "verify"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("nothing to verify"), "{}", text(&out.stdout));
    let (out, doc) = arw.run_json(&["runtime", "weights", "verify"]);
    assert!(out.status.success());
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["models"], json!([]));
    let out = arw.run(&["runtime", "weights", "verify", FILE]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not downloaded"), "{}", text(&out.stderr));
}

/// #11.19: a value of the wrong type in `model_sources.json` names its key
/// path (`models[0].mirrors[1]`), not only the line and column.
#[test]
fn roster_type_error_names_the_key_path() {
    let arw = Arw::new();
    let path = arw.dir.path().join("sources.json");
    std::fs::write(
        &path,
        "{\"models\": [\n  {\"repo\": \"a/b\", \"file\": \"x.gguf\", \"mirrors\": [\"https://m/x\", 7]}\n]}",
    )
    .unwrap();
    let arw = arw.env("ARW_MODEL_SOURCES", path.to_str().unwrap());
    let out = arw.run(&["runtime", "weights", "list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("line 2 column") && err.contains("`models[0].mirrors[1]`"), "{err}");
}
