//! Hostile-input regressions for the socket, the client and the daemon's
//! limits (issue #11 items 2, 6, 7, 8, 12, 13, 15, 16).

use crate::common::*;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FAKE_DAEMON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fake_daemon.py");

/// Starts the fake daemon on `socket`, waits until it listens.
fn fake_daemon(socket: &Path, log: &Path, prefix: &[&str], extra: &[&str]) -> Child {
    let mut cmd = Command::new(prefix.first().copied().unwrap_or("/usr/bin/python3"));
    cmd.args(&prefix[1.min(prefix.len())..]);
    if !prefix.is_empty() {
        cmd.arg("/usr/bin/python3");
    }
    // A copy beside the socket: a process running as another user may not
    // be able to read the checkout (it can live under a private home).
    let script = socket.with_file_name("fake_daemon.py");
    std::fs::copy(FAKE_DAEMON, &script).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut child = cmd
        .arg(&script)
        .arg(socket)
        .arg(log)
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the fake daemon");
    let mut line = [0u8; 9];
    child.stdout.as_mut().unwrap().read_exact(&mut line).expect("fake daemon did not start");
    assert_eq!(&line, b"listening");
    child
}

fn frames(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn private_dir(path: &Path) {
    std::fs::create_dir_all(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// #11.2: an `ARW_HOME` others may write to is refused before anything is
/// sent, naming the path and the fix.
#[test]
fn writable_home_is_refused() {
    let arw = Arw::new();
    arw.status();
    std::fs::set_permissions(&arw.home, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = arw.run(&["runtime", "status"]);
    std::fs::set_permissions(&arw.home, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to use") && err.contains("writable by everyone"), "{err}");
    assert!(err.contains(&format!("chmod go-w {}", arw.home.display())), "{err}");
}

/// #11.2: a `run/` that is a symlink (somewhere another user controls) is refused.
#[test]
fn symlinked_run_dir_is_refused() {
    let arw = Arw::new();
    private_dir(&arw.home);
    let elsewhere = arw.dir.path().join("elsewhere");
    private_dir(&elsewhere);
    std::os::unix::fs::symlink(&elsewhere, arw.home.join("run")).unwrap();
    let out = arw.cmd(&["runtime", "status"]).env("ARW_NO_AUTOSTART", "1").output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is a symlink"), "{err}");
    assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none(), "nothing may be created through the link");
}

/// #11.2: a socket served by another uid gets no hello and no environment,
/// and the user hears why.
#[test]
fn foreign_socket_gets_nothing() {
    if !require("setpriv", Path::new("/usr/bin/setpriv").exists(), "apt-get install util-linux") {
        return;
    }
    let arw = Arw::new();
    private_dir(&arw.home.join("run"));
    // nobody binds in a directory it may write; we then move the socket in.
    let drop_zone = tempfile::Builder::new().prefix("arwx").tempdir_in("/tmp").unwrap();
    std::fs::set_permissions(drop_zone.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let (socket, log) = (drop_zone.path().join("s"), drop_zone.path().join("log"));
    let mut fake = fake_daemon(&socket, &log, &["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"], &[]);
    std::fs::rename(&socket, arw.home.join("run/arw.sock")).unwrap();
    let out = arw.cmd(&["runtime", "status"]).env("HF_TOKEN", "hf_must_not_leak").output().unwrap();
    fake.kill().unwrap();
    let _ = fake.wait();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is served by uid 65534") && err.contains("nothing was sent"), "{err}");
    assert!(frames(&log).is_empty(), "the impostor received {:?}", frames(&log));
}

/// #11.2: a request carries knob prefixes and the manifest's `${VAR}`
/// names (once the welcome named them), never the rest of the
/// environment; tokens only for weights.
#[test]
fn requests_carry_only_the_knobs_they_need() {
    let arw = Arw::new();
    private_dir(&arw.home.join("run"));
    let log = arw.dir.path().join("frames.log");
    let mut fake = fake_daemon(&arw.home.join("run/arw.sock"), &log, &[], &["--env-refs", "MY_MODEL_DIR"]);
    let run = |args: &[&str]| {
        arw.cmd(args)
            .env("ARW_NO_AUTOSTART", "1")
            .env("AWS_SECRET_ACCESS_KEY", "aws_leak")
            .env("HF_TOKEN", "hf_leak")
            .env("MY_MODEL_DIR", "/models")
            .env("LLAMA_SERVER_BIN", "/bin/llama-server")
            .output()
            .unwrap()
    };
    run(&["runtime", "status", "--json"]);
    run(&["runtime", "weights", "list"]);
    fake.kill().unwrap();
    let _ = fake.wait();
    let requests: Vec<_> = frames(&log).into_iter().filter(|f| f.get("request").is_some()).collect();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let keys = |f: &serde_json::Value| f["env"].as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let (status, weights) = (keys(&requests[0]), keys(&requests[1]));
    assert!(status.contains(&"LLAMA_SERVER_BIN".to_string()), "{status:?}");
    // A one-shot status goes out behind the hello, before the welcome names
    // the manifest's variables: it needs none of them.
    assert!(weights.contains(&"MY_MODEL_DIR".to_string()), "{weights:?}");
    assert!(!status.contains(&"AWS_SECRET_ACCESS_KEY".to_string()), "{status:?}");
    assert!(!status.contains(&"HF_TOKEN".to_string()), "status needs no token: {status:?}");
    assert!(weights.contains(&"HF_TOKEN".to_string()), "weights uses the token: {weights:?}");
    assert!(!weights.contains(&"AWS_SECRET_ACCESS_KEY".to_string()));
}

/// #11.7: a stopped daemon makes the client give up in time, exit 3,
/// naming the pid and what to do.
#[test]
fn stopped_daemon_times_out() {
    let arw = Arw::new();
    arw.status();
    let pid = arw.daemon_pid().unwrap();
    // SAFETY: plain kill(2) on our own daemon.
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    let started = Instant::now();
    let out = arw.cmd(&["runtime", "status"]).env("ARW_CLIENT_TIMEOUT_SECS", "1").output().unwrap();
    let took = started.elapsed();
    // SAFETY: as above.
    unsafe { libc::kill(pid as i32, libc::SIGCONT) };
    assert_eq!(out.status.code(), Some(3));
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("(pid {pid}) did not answer within 1s")) && err.contains("kill -CONT"), "{err}");
}

/// Daemon CPU time (user + system) in seconds, from /proc.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf is a plain query.
    ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

fn vm_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// #11.6: out of descriptors, the daemon backs off instead of spinning,
/// logs a bounded amount, and `status` still gets through.
#[test]
fn fd_exhaustion_backs_off() {
    if !require("prlimit", Path::new("/usr/bin/prlimit").exists(), "apt-get install util-linux") {
        return;
    }
    let arw = Arw::new();
    let mut first = arw.cmd(&["runtime", "status"]);
    let out = Command::new("prlimit")
        .arg("--nofile=64:64")
        .arg(first.get_program())
        .args(first.get_args())
        .envs(first.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env_remove("ARW_NO_AUTOSTART")
        .output()
        .unwrap();
    let _ = &mut first;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let pid = arw.daemon_pid().unwrap();
    let socket = arw.home.join("run/arw.sock");
    let held: Vec<UnixStream> = (0..80).filter_map(|_| UnixStream::connect(&socket).ok()).collect();
    assert!(held.len() >= 60, "could hold only {}", held.len());
    let log = arw.home.join("logs/daemon.log");
    let (cpu0, log0) = (cpu_secs(pid), std::fs::metadata(&log).unwrap().len());
    std::thread::sleep(Duration::from_secs(3)); // measuring a rate over a fixed span, not waiting for an event
    let (cpu1, log1) = (cpu_secs(pid), std::fs::metadata(&log).unwrap().len());
    assert!(cpu1 - cpu0 < 0.5, "the daemon burnt {:.2} s of CPU in 3 s", cpu1 - cpu0);
    assert!(log1 - log0 < 16 * 1024, "the daemon wrote {} bytes of log in 3 s", log1 - log0);
    let started = Instant::now();
    let out = arw.run(&["runtime", "status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(20));
    drop(held);
}

/// #11.8: many connections sending large frames cannot grow the daemon
/// without bound, and small requests still get through meanwhile.
#[test]
fn large_frames_stay_within_the_buffer_budget() {
    let arw = Arw::new();
    arw.status();
    let pid = arw.daemon_pid().unwrap();
    let socket = arw.home.join("run/arw.sock");
    let info = arw.json(&["daemon", "status", "--json"]);
    let hello = serde_json::json!({"protocol": info["protocol"], "build_id": info["build_id"], "client_pid": 1});
    let hello = serde_json::to_vec(&hello).unwrap();
    let writers: Vec<_> = (0..100)
        .map(|_| {
            let (socket, hello) = (socket.clone(), hello.clone());
            std::thread::spawn(move || {
                let Ok(mut s) = UnixStream::connect(&socket) else { return };
                let _ = s.set_write_timeout(Some(Duration::from_secs(8)));
                let _ = s.write_all(&(hello.len() as u32).to_be_bytes());
                let _ = s.write_all(&hello);
                let len: u32 = 4 * 1024 * 1024;
                let _ = s.write_all(&len.to_be_bytes());
                let chunk = vec![b' '; 256 * 1024];
                for _ in 0..15 {
                    if s.write_all(&chunk).is_err() {
                        return;
                    }
                }
                // Never finish the frame; hold it until the daemon gives up.
                let mut sink = [0u8; 64];
                let _ = s.set_read_timeout(Some(Duration::from_secs(40)));
                let _ = s.read(&mut sink);
            })
        })
        .collect();
    let out = arw.run(&["runtime", "status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for w in writers {
        let _ = w.join();
    }
    let peak_mib = vm_kib(pid, "VmHWM") / 1024;
    assert!(peak_mib < 200, "daemon peak RSS {peak_mib} MiB");
}

/// #11.12: what the daemon serves, the client reads: 12 000 runtimes.
#[test]
fn a_large_status_is_readable() {
    let mut manifest = String::new();
    for i in 0..12_000 {
        manifest.push_str(&format!(
            "[[runtime]]\nid = \"rt-{i:05}\"\nadapter = \"process\"\ncommand = \"/bin/true\"\nauto_start = false\n"
        ));
    }
    let arw = Arw::with_config(&manifest);
    let out = arw.run(&["runtime", "status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.len() > 4 * 1024 * 1024, "the test needs a document over the old 4 MiB limit");
    let v = json_of(&out);
    assert_eq!(node(&v)["runtime"]["total"], 12_000);
}

/// A home whose one runtime `id` is the Python HTTP server `source`
/// (it takes its port as the argument), started and ready.
fn python_runtime(id: &str, source: &str) -> (tempfile::TempDir, Arw) {
    let scripts = tempfile::Builder::new().prefix("arwpy").tempdir_in("/tmp").unwrap();
    let script = scripts.path().join(format!("{id}.py"));
    std::fs::write(&script, source).unwrap();
    let manifest = format!(
        "[[runtime]]\nid = {id:?}\nadapter = \"process\"\ncommand = \"/usr/bin/python3\"\nargs = [{:?}, \"{{port}}\"]\nauto_start = true\n[runtime.health]\npath = \"/health\"\n",
        script.display().to_string()
    );
    let arw = Arw::with_config(&manifest);
    arw.wait_for(Duration::from_secs(20), "the runtime ready", |s| state(s, id) == "ready");
    (scripts, arw)
}

/// A runtime that answers garbage: /health 200, chat not JSON.
const GARBAGE_SERVER: &str = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def reply(self, body):
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_GET(self): self.reply(b'{"status":"ok"}')
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.reply(b"<html>\x1b[2J not json at all")
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

/// #11.13: invalid JSON from a runtime is a failure naming the runtime and
/// quoting the start of the body (escape sequences neutralised), not exit 0.
#[test]
fn garbage_from_a_runtime_is_an_error() {
    let (_scripts, arw) = python_runtime("junk", GARBAGE_SERVER);
    for json in [false, true] {
        let mut args = vec!["chat", "--runtime", "junk", "hi"];
        if json {
            args.push("--json");
        }
        let out = arw.run(&args);
        assert_eq!(out.status.code(), Some(1), "json={json}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("runtime `junk`") && err.contains("not JSON") && err.contains("not json at all"), "{err}");
        assert!(!err.contains('\u{1b}'), "an escape sequence reached the terminal: {err:?}");
    }
}

/// #11.15: `daemon restart` under load: idempotent requests retry once
/// against the new daemon, so none fails.
#[test]
fn restart_keeps_status_clients() {
    let arw = std::sync::Arc::new(Arw::new());
    arw.status();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (arw, stop) = (arw.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                let mut runs = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) || runs < 10 {
                    let out = arw.run(&["runtime", "status", "--json"]);
                    runs += 1;
                    if out.status.code() != Some(0) {
                        failures.push(String::from_utf8_lossy(&out.stderr).to_string());
                    }
                }
                (runs, failures)
            })
        })
        .collect();
    for _ in 0..3 {
        arw.ok(&["daemon", "restart"]);
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for r in readers {
        let (runs, failures) = r.join().unwrap();
        assert!(failures.is_empty(), "{} of {runs} status calls failed: {:?}", failures.len(), failures.first());
    }
}

/// #11.16: a broken manifest on disk shows in the status detail until fixed.
#[test]
fn broken_manifest_is_visible() {
    let arw = Arw::with_config(&stub_runtime("stub", &[], "auto_start = false"));
    arw.status();
    let good = std::fs::read_to_string(arw.config_path()).unwrap();
    std::fs::write(arw.config_path(), format!("{good}\nbogus_key = 1\n")).unwrap();
    let out = arw.run(&["daemon", "reload"]);
    assert_ne!(out.status.code(), Some(0));
    let status = arw.status();
    let detail = node(&status)["status"]["detail"].to_string();
    assert!(detail.contains("is broken") && detail.contains("running the last good one"), "{detail}");
    assert_eq!(node(&status)["status"]["code"], "warn");
    std::fs::write(arw.config_path(), good).unwrap();
    arw.ok(&["daemon", "reload"]);
    let detail = node(&arw.status())["status"]["detail"].to_string();
    assert!(!detail.contains("is broken"), "{detail}");
}

fn hello_frame(arw: &Arw) -> Vec<u8> {
    let info = arw.json(&["daemon", "status", "--json"]);
    let body =
        serde_json::to_vec(&serde_json::json!({"protocol": info["protocol"], "build_id": info["build_id"]})).unwrap();
    [(body.len() as u32).to_be_bytes().to_vec(), body].concat()
}

fn read_frame(s: &mut UnixStream) -> Option<serde_json::Value> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// Kept (#11): a connection that never says hello is cut after 5 s, while
/// others are served.
#[test]
fn silent_connections_are_cut() {
    let arw = Arw::new();
    arw.status();
    let mut silent = UnixStream::connect(arw.home.join("run/arw.sock")).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let started = Instant::now();
    let reply = read_frame(&mut silent);
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(4) && took < Duration::from_secs(10), "cut after {took:?}");
    assert!(reply.as_ref().is_none_or(|r| r["result"]["Err"]["kind"] == "bad_frame"), "{reply:?}");
    arw.status();
}

/// Kept (#11): 100 000-deep JSON is refused cleanly; 1 000 pipelined
/// requests are answered in order on one connection.
#[test]
fn deep_json_and_pipelining() {
    let arw = Arw::new();
    arw.status();
    let socket = arw.home.join("run/arw.sock");
    let mut s = UnixStream::connect(&socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&hello_frame(&arw)).unwrap();
    read_frame(&mut s).expect("welcome");
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    s.write_all(&(deep.len() as u32).to_be_bytes()).unwrap();
    s.write_all(deep.as_bytes()).unwrap();
    let reply = read_frame(&mut s).expect("an error reply");
    assert_eq!(reply["result"]["Err"]["kind"], "bad_frame", "{reply}");

    let mut s = UnixStream::connect(&socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(&hello_frame(&arw)).unwrap();
    read_frame(&mut s).expect("welcome");
    let mut batch = Vec::new();
    for id in 1..=1000u64 {
        let body = serde_json::to_vec(&serde_json::json!({"id": id, "request": {"type": "daemon_info"}})).unwrap();
        batch.extend_from_slice(&(body.len() as u32).to_be_bytes());
        batch.extend_from_slice(&body);
    }
    let mut writer = s.try_clone().unwrap();
    let send = std::thread::spawn(move || writer.write_all(&batch));
    for id in 1..=1000u64 {
        let reply = read_frame(&mut s).unwrap_or_else(|| panic!("no reply {id}"));
        assert_eq!(reply["id"], id);
        assert!(reply["result"]["Ok"].is_object(), "{reply}");
    }
    send.join().unwrap().unwrap();
}

/// Kept (#11): a `${VAR}` value is an argument, never shell text.
#[test]
fn var_values_never_reach_a_shell() {
    let work = tempfile::Builder::new().prefix("arwv").tempdir_in("/tmp").unwrap();
    let marker = work.path().join("pwned");
    let record = work.path().join("args");
    let manifest = format!(
        "[[runtime]]\nid = \"echo\"\nadapter = \"process\"\ncommand = \"/bin/sh\"\nargs = [\"-c\", \"printf %s \\\"$1\\\" > {} && exec sleep 300\", \"sh\", \"${{EVIL}}\"]\nauto_start = false\n",
        record.display()
    );
    let arw = Arw::with_config(&manifest);
    let evil = format!("$(touch {}); `touch {}`", marker.display(), marker.display());
    let out = arw.cmd(&["runtime", "restore", "--id", "echo"]).env("EVIL", &evil).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !record.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(std::fs::read_to_string(&record).unwrap(), evil, "the runtime got the value as one argument");
    assert!(!marker.exists(), "the value was run by a shell");
}

/// A runtime with very long answers: 50 MB plain, 6 MB streamed.
const BIG_SERVER: &str = r#"
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        body = b'{"status":"ok"}'
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if req.get("stream"):
            self.send_response(200); self.send_header("Content-Type", "text/event-stream"); self.send_header("Connection", "close"); self.end_headers()
            piece = "y" * 1000
            for _ in range(6000):
                self.wfile.write(("data: " + json.dumps({"choices": [{"delta": {"content": piece}}]}) + "\n\n").encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.close_connection = True
            return
        body = json.dumps({"choices": [{"message": {"role": "assistant", "content": "x" * 50_000_000}}]}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

/// #11.12: what the daemon serves, the client reads: a 50 MB chat reply
/// and a 6 MB streamed one arrive whole, exit 0.
#[test]
fn large_chat_replies_arrive_whole() {
    let (_scripts, arw) = python_runtime("big", BIG_SERVER);
    let (out, doc) = arw.run_json(&["chat", "--runtime", "big", "hi"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(doc["choices"][0]["message"]["content"].as_str().unwrap().len(), 50_000_000);
    let out = arw.run(&["chat", "--runtime", "big", "--stream", "hi"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end().len(), 6_000_000);
}

/// #11.5 (outside pass): what a runtime echoes of its secrets — a
/// `${VAR}` with a secret-looking name, a `--api-key=` flag — is hidden in
/// restore messages and in `status`.
#[test]
fn echoed_secrets_are_hidden_in_status_and_restore() {
    let manifest = "[[runtime]]\nid = \"sec\"\nadapter = \"process\"\ncommand = \"/bin/sh\"\nargs = [\"-c\", \"echo error: bad key $1 / $2 >&2; exit 1\", \"sh\", \"${MY_KEY}\", \"--api-key=literalsecret99\"]\nauto_start = false\n[runtime.restart]\nmax_restarts = 0\n";
    let arw = Arw::with_config(manifest);
    let out = arw.cmd(&["runtime", "restore", "--id", "sec"]).env("MY_KEY", "verysecretvalue").output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("bad key"), "the runtime's own words are quoted: {said}");
    let status = String::from_utf8_lossy(&arw.run(&["runtime", "status", "--json"]).stdout).to_string();
    for text in [&said, &status] {
        assert!(!text.contains("verysecretvalue") && !text.contains("literalsecret99"), "{text}");
    }
}

/// #11.2 (outside pass): a command's device, thread and locale settings
/// reach the runtime it starts, and a manifest that asks for `${HF_TOKEN}`
/// gets it; unrelated variables do not travel.
#[test]
fn a_commands_runtime_settings_reach_the_runtime() {
    let work = tempfile::Builder::new().prefix("arwe").tempdir_in("/tmp").unwrap();
    let dump = work.path().join("env");
    let manifest = format!(
        "[[runtime]]\nid = \"envdump\"\nadapter = \"process\"\ncommand = \"/bin/sh\"\nargs = [\"-c\", \"env > {} && exec sleep 300\"]\nauto_start = false\n[runtime.env]\nHF_TOKEN = \"${{HF_TOKEN}}\"\n",
        dump.display()
    );
    let arw = Arw::with_config(&manifest);
    let out = arw
        .cmd(&["runtime", "restore", "--id", "envdump"])
        .env("HF_TOKEN", "client_tok")
        .env("OMP_NUM_THREADS", "3")
        .env("NVIDIA_VISIBLE_DEVICES", "1")
        .env("LC_ALL", "C.UTF-8")
        .env("TZ", "UTC")
        .env("UNRELATED_SETTING", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dump.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let env = std::fs::read_to_string(&dump).unwrap();
    for line in ["HF_TOKEN=client_tok", "OMP_NUM_THREADS=3", "NVIDIA_VISIBLE_DEVICES=1", "LC_ALL=C.UTF-8", "TZ=UTC"] {
        assert!(env.lines().any(|l| l == line), "{line} missing from:\n{env}");
    }
    assert!(!env.contains("UNRELATED_SETTING"), "{env}");
}

/// #11.3 (outside pass): a `logs` link planted in `ARW_HOME` is refused
/// before anything is created through it.
#[test]
fn nothing_is_created_through_a_planted_logs_link() {
    let arw = Arw::new();
    private_dir(&arw.home);
    let elsewhere = arw.dir.path().join("elsewhere");
    private_dir(&elsewhere);
    std::os::unix::fs::symlink(&elsewhere, arw.home.join("logs")).unwrap();
    let out = arw.run(&["runtime", "status"]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("symbolic link") || err.contains("symlink"), "{err}");
    assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none(), "something was created through the link");
}

/// #11.6 (outside pass): with every connection slot held, `status` and
/// `daemon stop` still get through on a reserved slot; other requests hear
/// `busy` (exit 3) in bounded time.
#[test]
fn a_full_daemon_still_answers_status_and_stop() {
    let arw = Arw::with_config(&stub_runtime("stub", &[], "auto_start = false")).env("ARW_MAX_CONNECTIONS", "8");
    arw.status();
    let socket = arw.home.join("run/arw.sock");
    let hello = hello_frame(&arw);
    let held: Vec<UnixStream> = (0..8)
        .map(|_| {
            let mut s = UnixStream::connect(&socket).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(&hello).unwrap();
            read_frame(&mut s).expect("welcome");
            s
        })
        .collect();
    let started = Instant::now();
    let out = arw.run(&["runtime", "status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(3), "status waited {:?}", started.elapsed());
    let out = arw.run(&["runtime", "restore", "--id", "stub"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("connection or buffer limit"));
    let log = std::fs::read_to_string(arw.home.join("logs/daemon.log")).unwrap();
    assert!(log.contains("at the connection cap (8"), "{log}");
    arw.ok(&["daemon", "stop"]);
    drop(held);
}

/// Outside pass: the daemon runs in `/`, not in whichever directory the
/// first command ran; a relative `cwd` means next to the manifest file and
/// `./command` runs from that `cwd`, as in a shell.
#[test]
fn relative_manifest_paths_mean_the_manifests_directory() {
    let arw = Arw::new();
    let dir = arw.dir.path().join("models");
    std::fs::create_dir_all(dir.join("work")).unwrap();
    let script = dir.join("work/run.sh");
    std::fs::write(&script, "#!/bin/sh\npwd > pwd.txt\nexec sleep 300\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let manifest = dir.join("runtimes.toml");
    std::fs::write(
        &manifest,
        "[[runtime]]\nid = \"rel\"\nadapter = \"process\"\ncommand = \"./run.sh\"\ncwd = \"work\"\nauto_start = false\n",
    )
    .unwrap();
    let elsewhere = tempfile::Builder::new().prefix("arwc").tempdir_in("/tmp").unwrap();
    let out = arw
        .cmd(&["--config", manifest.to_str().unwrap(), "runtime", "restore", "--id", "rel"])
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let written = dir.join("work/pwd.txt");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !written.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(std::fs::read_to_string(&written).unwrap().trim(), dir.join("work").display().to_string());
    let pid = arw.daemon_pid().unwrap();
    assert_eq!(std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(), Path::new("/"));
}

/// Outside pass: `daemon reload --config OTHER` against a daemon that
/// loaded another manifest refuses (exit 2) instead of claiming a reload.
#[test]
fn reload_of_another_manifest_is_refused() {
    let arw = Arw::with_config(&stub_runtime("stub", &[], "auto_start = false"));
    arw.status();
    let other = arw.dir.path().join("other.toml");
    std::fs::write(&other, stub_runtime("other", &[], "auto_start = false")).unwrap();
    let out = arw.run(&["--config", other.to_str().unwrap(), "daemon", "reload"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("reloads") && err.contains("arw daemon restart"), "{err}");
    assert_eq!(err.matches("other.toml").count(), 1, "said once: {err}");
}

/// Second outside pass: a bad `ARW_MAX_CONNECTIONS` is refused when the
/// daemon starts, not silently replaced by the default; `--watch --check`
/// is a usage error rather than a watch that never checks.
#[test]
fn bad_cap_and_watch_check_are_refused() {
    let arw = Arw::new();
    for (knob, bad) in
        [("ARW_MAX_CONNECTIONS", "abc"), ("ARW_MAX_CONNECTIONS", "0"), ("ARW_MATRIX_REPUBLISH_SECS", "soon")]
    {
        let out = arw.cmd(&["runtime", "status"]).env(knob, bad).output().unwrap();
        assert_ne!(out.status.code(), Some(0), "{knob}={bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("`{knob}={bad}`")), "{err}");
    }
    let out = arw.run(&["runtime", "status", "--watch", "--check"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Review pass: the files a weights request names (`ARW_MODEL_SOURCES`,
/// `HF_TOKEN_PATH`) are read like config files: `/dev/zero` and a FIFO are
/// refused at once instead of filling memory or blocking the daemon.
#[test]
fn files_a_weights_request_names_are_bounded() {
    let arw = Arw::new();
    arw.status();
    let fifo = arw.dir.path().join("token.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let started = Instant::now();
    let out = arw.cmd(&["runtime", "weights", "list"]).env("ARW_MODEL_SOURCES", "/dev/zero").output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a regular file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = arw.cmd(&["runtime", "weights", "list"]).env("HF_TOKEN_PATH", &fifo).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    arw.status();
}
