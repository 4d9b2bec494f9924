//! The HTTP surface (SPEC §7, issue 12): off by default, loopback unless a
//! token guards it, the state documents with their cache headers, and a
//! listener that survives garbage.

use crate::common::http::{self, get, request};
use crate::common::{stub_runtime, Arw};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const TOKEN: &str = "s3cret-token-0123456789abcdef";

/// Sockets of `pid` listening on TCP (from /proc: fd inodes × tcp tables).
fn tcp_listeners(pid: u32) -> usize {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']').map(String::from))
        .collect();
    ["tcp", "tcp6"]
        .iter()
        .flat_map(|t| {
            std::fs::read_to_string(format!("/proc/{pid}/net/{t}"))
                .unwrap_or_default()
                .lines()
                .skip(1)
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9])
        })
        .count()
}

/// §7: no TCP port is opened unless asked for; `daemon status` says so.
#[test]
fn the_listener_is_off_by_default() {
    let arw = Arw::new();
    arw.status();
    let info = arw.json(&["daemon", "status", "--json"]);
    assert!(info["http"].is_null(), "{info:#}");
    assert_eq!(tcp_listeners(arw.daemon_pid().unwrap()), 0);
    assert!(arw.ok(&["daemon", "status"]).contains("http     off"));
}

/// §7: `/healthz`, and `/state/runtime_matrix` is the very document
/// `status --json` prints, with ETag, max-age = ttl and 304 on a match.
#[test]
fn state_documents_carry_cache_headers_and_answer_304() {
    let arw = Arw::with_config(&format!("[daemon]\nmatrix_ttl_secs = 7\n{}", stub_runtime("s1", &[], "")));
    let base = arw.http_url();
    assert_eq!(tcp_listeners(arw.daemon_pid().unwrap()), 1);
    let h = get(&base, "/healthz");
    assert_eq!(h.status, 200);
    let hj = h.json();
    assert_eq!(hj["status"], "ok");
    assert!(hj["build"].as_str().is_some_and(|b| !b.is_empty()) && hj["protocol"].is_u64(), "{hj}");

    let m = get(&base, "/state/runtime_matrix");
    assert_eq!(m.status, 200);
    assert_eq!(m.header("content-type"), Some("application/json"));
    assert_eq!(m.header("cache-control"), Some("max-age=7"));
    let etag = m.header("etag").expect("etag").to_string();
    // Weak: documents that differ only in when they were computed match.
    assert!(etag.starts_with("W/\"") && etag.ends_with('"'), "{etag}");
    let bare = etag.trim_start_matches("W/");
    let doc = m.json();
    let status = arw.status();
    assert_eq!(doc["ttl_seconds"], 7);
    assert_eq!(
        doc["items"].as_object().unwrap().keys().collect::<Vec<_>>(),
        status["matrix"]["items"].as_object().unwrap().keys().collect::<Vec<_>>()
    );
    let node = doc["items"].as_object().unwrap().values().next().unwrap();
    for key in ["label", "severity_label", "aria_hint", "code", "severity"] {
        assert!(node["status"][key].as_str().is_some_and(|s| !s.is_empty()), "{key}: {node:#}");
    }
    assert_eq!(node["runtime"]["total"], 1);

    // The same document again: a 304 with no body while nothing changed.
    let again = request(&base, "GET", "/state/runtime_matrix", &[("If-None-Match", &etag)]);
    if again.header("etag") == Some(etag.as_str()) {
        assert_eq!(again.status, 304);
        assert!(again.body.is_empty());
        assert_eq!(again.header("cache-control"), Some("max-age=7"));
    } else {
        // The feed republished in between: a new document, sent in full.
        assert_eq!(again.status, 200);
    }
    let listed = request(&base, "GET", "/state/runtime_matrix", &[("If-None-Match", &format!("\"x\", {bare}"))]);
    assert!(listed.status == 304 || listed.header("etag") != Some(etag.as_str()));
    let other = request(&base, "GET", "/state/runtime_matrix", &[("If-None-Match", "\"nope\"")]);
    assert_eq!(other.status, 200);
    assert!(!other.body.is_empty());

    let sup = get(&base, "/state/supervisor").json();
    assert_eq!(sup["runtimes"][0]["id"], "s1");
    assert!(sup["runtimes"][0]["restart_budget"]["remaining"].is_u64());
}

/// §7: unknown paths and methods get JSON errors, not HTML or silence.
#[test]
fn unknown_routes_and_methods_are_json_errors() {
    let arw = Arw::new();
    let base = arw.http_url();
    let nf = get(&base, "/nope");
    assert_eq!(nf.status, 404);
    assert_eq!(nf.json()["error"]["code"], "not_found");
    let post = request(&base, "POST", "/state/runtime_matrix", &[("Content-Length", "0")]);
    assert_eq!(post.status, 405);
    assert!(post.json()["error"]["message"].as_str().unwrap().contains("GET"));
}

/// §7 hardening: without a token only loopback Host names are served
/// (a rebinding web page names its own domain).
#[test]
fn a_foreign_host_name_is_refused_without_a_token() {
    let arw = Arw::new();
    let base = arw.http_url();
    let r = request(&base, "GET", "/state/runtime_matrix", &[("Host", "attacker.example:80")]);
    assert_eq!(r.status, 421);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("loopback"));
    assert_eq!(request(&base, "GET", "/healthz", &[("Host", "localhost")]).status, 200);
}

/// §7: with a token, everything but /healthz needs the bearer header;
/// wrong or missing → 401 JSON; the token never reaches a log or output.
#[test]
fn the_token_guards_every_endpoint_but_healthz() {
    let arw = Arw::with_config(&stub_runtime("s1", &[], "")).env("ARW_ADMIN_TOKEN", TOKEN);
    let base = arw.http_url();
    for path in ["/state/runtime_matrix", "/state/supervisor", "/metrics", "/events", "/", "/nope"] {
        for auth in [None, Some("Bearer wrong-token-0123456789abcdef"), Some("Basic czNjcmV0"), Some("Bearer ")] {
            let headers: Vec<(&str, &str)> = auth.map(|a| vec![("Authorization", a)]).unwrap_or_default();
            let r = request(&base, "GET", path, &headers);
            assert_eq!(r.status, 401, "{path} with {auth:?}");
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
            assert_eq!(r.json()["error"]["code"], "unauthorized");
            assert!(!r.text().contains(TOKEN));
        }
    }
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(request(&base, "GET", "/healthz", &[]).status, 200);
    let ok = request(&base, "GET", "/state/runtime_matrix", &[("Authorization", &bearer)]);
    assert_eq!(ok.status, 200, "{}", ok.text());
    // A token-guarded listener serves any Host name (the token is the guard).
    let named = request(&base, "GET", "/state/supervisor", &[("Authorization", &bearer), ("Host", "node.example")]);
    assert_eq!(named.status, 200);

    arw.ok(&["runtime", "restore", "--id", "s1"]);
    let mut seen = vec![arw.ok(&["daemon", "status", "--json"]), arw.ok(&["runtime", "status", "--json"])];
    seen.push(arw.ok(&["daemon", "logs", "-n", "500"]));
    seen.push(arw.ok(&["events", "--json"]));
    for entry in walk(&arw.home) {
        seen.push(String::from_utf8_lossy(&std::fs::read(&entry).unwrap_or_default()).into_owned());
    }
    for text in &seen {
        assert!(!text.contains(TOKEN), "the token leaked: {}", &text[..text.len().min(400)]);
    }
    // Nor does the runtime's environment carry it.
    let pid = crate::common::runtime(&arw.status(), "s1")["pid"].as_u64().unwrap();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(!String::from_utf8_lossy(&environ).contains(TOKEN));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            out.extend(walk(&p));
        } else if ft.is_file() {
            out.push(p);
        }
    }
    out
}

/// §7: beyond loopback without a token the daemon refuses to start and
/// the command that spawned it exits 1 saying why; with one it starts.
#[test]
fn a_public_address_needs_a_token() {
    let arw = Arw::new().env("ARW_HTTP_LISTEN", "0.0.0.0:0");
    let out = arw.run(&["runtime", "status"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("without an admin token") && err.contains("ARW_ADMIN_TOKEN"), "{err}");
    assert!(arw.daemon_pid().is_none_or(|p| !crate::common::is_daemon_of(p, &arw.home)));

    let short = Arw::new().env("ARW_HTTP_LISTEN", "0.0.0.0:0").env("ARW_ADMIN_TOKEN", "short");
    let out = short.run(&["runtime", "status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shorter than"));

    let guarded = Arw::new().env("ARW_HTTP_LISTEN", "0.0.0.0:0").env("ARW_ADMIN_TOKEN", TOKEN);
    let base = guarded.http_url();
    assert!(base.starts_with("http://0.0.0.0:"), "{base}");
    let port = base.trim_end_matches('/').rsplit(':').next().unwrap();
    let local = format!("http://127.0.0.1:{port}/");
    assert_eq!(get(&local, "/state/supervisor").status, 401);
}

/// §7: `[daemon] admin_token_file` must be private; a readable one is
/// refused with the fix, a private one guards the listener.
#[test]
fn a_token_file_must_be_private() {
    use std::os::unix::fs::PermissionsExt;
    let arw = Arw::with_config("[daemon]\nhttp_listen = \"127.0.0.1:0\"\nadmin_token_file = \"token\"\n");
    let token = arw.dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = arw.run(&["runtime", "status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"), "{out:?}");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    arw.ok(&["runtime", "status"]);
    let base = arw.json(&["daemon", "status", "--json"])["http"].as_str().unwrap().to_string();
    assert_eq!(get(&base, "/state/supervisor").status, 401);
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(request(&base, "GET", "/state/supervisor", &[("Authorization", &bearer)]).status, 200);
}

/// §7: `arw daemon serve --http ADDR` turns the listener on, and a later
/// command asking for another address gets a note, never silence.
#[test]
fn serve_flag_and_a_note_for_another_address() {
    let arw = Arw::new();
    let mut child = arw.cmd(&["daemon", "serve", "--http", "127.0.0.1:0"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let url = loop {
        let info = arw.cmd(&["daemon", "status", "--json"]).output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap_or_default();
        if let Some(u) = v["http"].as_str() {
            break u.to_string();
        }
        assert!(Instant::now() < deadline, "no HTTP URL from a daemon started with --http");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(get(&url, "/healthz").status, 200);
    let out = arw.cmd(&["runtime", "status"]).env("ARW_HTTP_LISTEN", "127.0.0.1:1").output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("note:") && err.contains(&url) && err.contains("arw daemon restart"), "{err}");
    // Port 0 asks for any port: the running listener satisfies it.
    let out = arw.cmd(&["runtime", "status"]).env("ARW_HTTP_LISTEN", "127.0.0.1:0").output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("note:"));
    arw.ok(&["daemon", "stop"]);
    let _ = child.wait();
}

/// Hostile input: garbage, oversized headers and a client that never
/// finishes its headers get answers or a closed connection; the daemon
/// keeps serving everyone else.
#[test]
fn garbage_over_http_loses_nothing() {
    let arw = Arw::new();
    let base = arw.http_url();
    let host = http::authority(&base);
    let mut answers = Vec::new();
    for junk in [
        b"\x00\x01\x02garbage\r\n\r\n".to_vec(),
        b"GET / HTTP/9.9\r\n\r\n".to_vec(),
        format!("GET /state/supervisor HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\n\r\n", "a".repeat(200_000))
            .into_bytes(),
    ] {
        let mut s = std::net::TcpStream::connect(&host).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(&junk);
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        answers.push(String::from_utf8_lossy(&buf).into_owned());
    }
    assert!(answers[0].is_empty() || answers[0].starts_with("HTTP/1.1 400"), "{:?}", answers[0]);
    assert!(
        answers[2].is_empty() || answers[2].starts_with("HTTP/1.1 431"),
        "{:?}",
        &answers[2][..60.min(answers[2].len())]
    );

    // Half a request line, then nothing: cut off after the header timeout.
    let mut slow = std::net::TcpStream::connect(&host).unwrap();
    slow.write_all(b"GET /healthz HTT").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let t = Instant::now();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    assert!(t.elapsed() < Duration::from_secs(15), "a stalled client held its connection {:?}", t.elapsed());
    assert_eq!(get(&base, "/healthz").status, 200);
    arw.status();
}

/// Outside-in findings (issue 12): a manifest cannot hand the daemon's
/// token to a runtime; the scheme is case-insensitive; malformed, doubled
/// or absolute-form hosts are refused on a token-less listener.
#[test]
fn the_token_stays_the_daemons_and_hosts_are_exact() {
    let leak = "[[runtime]]\nid = \"leaky\"\nadapter = \"process\"\ncommand = \"/bin/sleep\"\nargs = [\"100\"]\nenv = { STOLEN = \"${ARW_ADMIN_TOKEN}\" }\n";
    let arw = Arw::with_config(leak).env("ARW_ADMIN_TOKEN", TOKEN);
    let out = arw.run(&["runtime", "status"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("never given to a runtime") && !err.contains(TOKEN), "{err}");

    let guarded = Arw::new().env("ARW_ADMIN_TOKEN", TOKEN);
    let base = guarded.http_url();
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let auth = format!("{scheme} {TOKEN}");
        assert_eq!(request(&base, "GET", "/state/supervisor", &[("Authorization", &auth)]).status, 200, "{scheme}");
    }

    let open = Arw::new();
    let base = open.http_url();
    let port = base.trim_end_matches('/').rsplit(':').next().unwrap().to_string();
    for host in [format!("127.0.0.1:{port}@evil.com"), "127.0.0.1:evil".into(), format!("localhost:{port}, evil.com")] {
        assert_eq!(request(&base, "GET", "/state/supervisor", &[("Host", &host)]).status, 421, "{host}");
    }
    let two = request(&base, "GET", "/state/supervisor", &[("Host", "127.0.0.1"), ("Host", "evil.com")]);
    assert_eq!(two.status, 421);
    let absolute = request(&base, "GET", "http://evil.com/state/supervisor", &[]);
    assert_eq!(absolute.status, 421);
}

/// Outside-in findings (issue 12): `daemon restart` with listener settings
/// the new daemon would refuse keeps the running one; a port in use is the
/// user's to fix (exit 1); a reload that changes the listener says in the
/// matrix that it needs a restart.
#[test]
fn listener_changes_never_cost_the_running_daemon() {
    let arw = Arw::with_config("[daemon]\nhttp_listen = \"127.0.0.1:0\"\n");
    arw.ok(&["runtime", "status"]);
    let pid = arw.daemon_pid().unwrap();
    let out = arw.cmd(&["daemon", "restart"]).env("ARW_HTTP_LISTEN", "0.0.0.0:0").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not restarting"), "{out:?}");
    assert_eq!(arw.daemon_pid(), Some(pid), "the running daemon was stopped");
    assert!(crate::common::is_daemon_of(pid, &arw.home));

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let other = Arw::new().env("ARW_HTTP_LISTEN", &addr);
    let out = other.run(&["runtime", "status"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen for HTTP"), "{out:?}");

    std::fs::write(arw.config_path(), "[daemon]\nhttp_listen = \"127.0.0.1:1\"\n").unwrap();
    arw.ok(&["daemon", "reload"]);
    let detail = crate::common::node(&arw.status())["status"]["detail"].to_string();
    assert!(detail.contains("until `arw daemon restart`"), "{detail}");
}
