//! A real HTTP mock of the Hugging Face hub for the weights tests:
//! `tests/fixtures/mock_hub.py` on 127.0.0.1, driven through its
//! `control.json` and read through its `requests.log`.
//!
//! Python is required. With `CI=true` a missing interpreter (or venv) is a
//! test failure; elsewhere the test is skipped with the reason printed.
#![allow(dead_code)]

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const REPO: &str = "org/tiny";
pub const FILE: &str = "tiny.gguf";
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mock_hub.py");

/// A private home whose weights commands talk to `hub` about `org/tiny`.
pub fn arw_for(hub: &MockHub) -> super::Arw {
    super::Arw::new()
        .env("HF_ENDPOINT", &hub.endpoint())
        .env("LLAMA_MODEL_SOURCES", &format!("{REPO}::{FILE}"))
        .env("ARW_WEIGHTS_BACKOFF_MS", "20")
}

/// The Hugging Face cache of that home (`$HOME/.cache/huggingface/hub`).
pub fn hub_cache(arw: &super::Arw) -> PathBuf {
    arw.dir.path().join(".cache/huggingface/hub")
}

/// `$ARW_HOME/cache/models/<file>`, the seed's path.
pub fn link(arw: &super::Arw) -> PathBuf {
    arw.home.join("cache/models").join(FILE)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn python3() -> Option<PathBuf> {
    let ok = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| PathBuf::from("python3"))
}

/// The venv with huggingface_hub that `scripts/install-test-python` makes.
pub fn hf_python() -> Option<PathBuf> {
    let path = std::env::var_os("ARW_TEST_HF_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        let root = std::env::var_os("ARW_TOOLS_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/arw"));
        root.join("venv-hf/bin/python")
    });
    let ok = Command::new(&path)
        .args(["-c", "import huggingface_hub"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    super::require("Python with huggingface_hub", ok, "run scripts/install-test-python (or set ARW_TEST_HF_PYTHON)")
        .then_some(path)
}

pub fn sha256_of(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

pub struct MockHub {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub model: PathBuf,
    pub sha256: String,
    pub size: u64,
    control: Value,
}

impl MockHub {
    /// A hub serving `org/tiny::tiny.gguf`, a generated ~3 MiB GGUF.
    pub fn start() -> Option<MockHub> {
        MockHub::with_size(3 << 20)
    }

    pub fn with_size(size: u64) -> Option<MockHub> {
        let found = python3();
        super::require("python3", found.is_some(), "install python3 (Debian: apt-get install -y python3)")
            .then_some(())?;
        let python = found?;
        let dir = tempfile::Builder::new().prefix("hub").tempdir_in("/tmp").unwrap();
        let model = dir.path().join("model.gguf");
        let made = Command::new(&python)
            .args([SCRIPT, "make-gguf"])
            .arg(&model)
            .args(["--size", &size.to_string()])
            .status()
            .unwrap();
        assert!(made.success(), "mock_hub.py make-gguf failed");
        let control = json!({
            "token": null,
            "repos": {(REPO): {"commit": COMMIT, "files": {(FILE): model}}},
            "mirrors": {(FILE): model},
            "faults": {},
        });
        let mut child = Command::new(&python)
            .args([SCRIPT, "serve", "--state"])
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("mock hub did not report its port: {line:?}"));
        let hub = MockHub {
            child,
            port,
            sha256: sha256_of(&model),
            size: std::fs::metadata(&model).unwrap().len(),
            model,
            dir,
            control,
        };
        hub.write_control();
        Some(hub)
    }

    /// Serves another repo with one file of its own: a generated GGUF of
    /// `size` bytes (a different size gives different bytes). Returns the
    /// file's path and sha256.
    pub fn add_repo(&mut self, repo: &str, commit: &str, file: &str, size: u64) -> (PathBuf, String) {
        let path = self.dir.path().join(format!("{}.gguf", repo.replace('/', "--")));
        let made = Command::new("python3")
            .args([SCRIPT, "make-gguf"])
            .arg(&path)
            .args(["--size", &size.to_string()])
            .status()
            .unwrap();
        assert!(made.success(), "mock_hub.py make-gguf failed");
        self.control["repos"][repo] = json!({"commit": commit, "files": {(file): path}});
        self.write_control();
        let sha = sha256_of(&path);
        (path, sha)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn mirror_url(&self) -> String {
        format!("{}/mirror/{FILE}", self.endpoint())
    }

    fn write_control(&self) {
        let path = self.dir.path().join("control.json");
        let tmp = self.dir.path().join("control.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&self.control).unwrap()).unwrap();
        std::fs::rename(tmp, path).unwrap();
    }

    /// Replaces the fault knobs (counters restart).
    pub fn faults(&mut self, faults: Value) {
        self.control["faults"] = faults;
        self.write_control();
    }

    /// Requires `Authorization: Bearer <token>` on hub routes from now on.
    pub fn token(&mut self, token: Option<&str>) {
        self.control["token"] = json!(token);
        self.write_control();
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("requests.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Requests for the file's bytes or metadata (anything but `ping`).
    pub fn file_requests(&self) -> Vec<Value> {
        self.log().into_iter().filter(|r| r["route"] != "ping").collect()
    }

    /// GETs of the blob that continue a download (`Range: bytes=N-`, N > 0).
    pub fn resumes(&self) -> Vec<Value> {
        self.log()
            .into_iter()
            .filter(|r| r["route"] == "cdn" && r["method"] == "GET")
            .filter(|r| {
                r["range"].as_str().is_some_and(|s| {
                    s.ends_with('-')
                        && s.trim_start_matches("bytes=").trim_end_matches('-').parse::<u64>().is_ok_and(|n| n > 0)
                })
            })
            .collect()
    }

    /// A roster file with this hub's model, its mirror, and `extra` keys.
    pub fn sources_file(&self, extra: Value) -> PathBuf {
        let mut entry = json!({"repo": REPO, "file": FILE, "mirrors": [self.mirror_url()]});
        for (k, v) in extra.as_object().unwrap() {
            entry[k] = v.clone();
        }
        let path = self.dir.path().join("model_sources.json");
        std::fs::write(&path, serde_json::to_vec(&json!({"models": [entry]})).unwrap()).unwrap();
        path
    }
}

impl Drop for MockHub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
