//! The matrix feed under readers: polling the node is not news.

use crate::common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

/// The feed serves a document this long before a reader recomputes it
/// (`FRESH_FOR` in src/daemon/feed.rs).
const FRESH_FOR: Duration = Duration::from_secs(1);

fn host_of(url: &str) -> String {
    url.trim_start_matches("http://").trim_end_matches('/').to_string()
}

/// `runtime.updated` envelopes from `/events`, as they arrive.
fn updates(host: &str) -> mpsc::Receiver<Value> {
    let mut sock = TcpStream::connect(host).expect("connect to /events");
    write!(sock, "GET /events HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Every SSE event is one chunk, so each `data:` line arrives whole.
        let mut event = String::new();
        for line in BufReader::new(sock).lines() {
            let Ok(line) = line else { return };
            if let Some(topic) = line.strip_prefix("event: ") {
                event = topic.to_string();
            } else if let Some(data) = line.strip_prefix("data: ") {
                if event == "runtime.updated" && tx.send(serde_json::from_str(data).expect("envelope")).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

fn next_update(rx: &mpsc::Receiver<Value>) -> Value {
    rx.recv_timeout(Duration::from_secs(10)).expect("a runtime.updated event within 10 s")
}

/// Polling is not news: reads of an unchanged node, over HTTP or the
/// socket, publish no `runtime.updated` (a poller must not flood the bus or
/// push real events out of its ring) and keep the ETag, so a poller gets
/// 304s; a change publishes at once and changes the tag.
#[test]
fn polls_publish_nothing_and_keep_their_etag() {
    let arw = Arw::with_config(&stub_runtime("idle", &[], "")).env("ARW_MATRIX_REPUBLISH_SECS", "3600");
    let base = arw.http_url();
    let host = host_of(&base);
    // Settled first: the auto-started runtime's own changes are news.
    arw.wait_for(Duration::from_secs(20), "the runtime ready", |s| state(s, "idle") == "ready");
    let rx = updates(&host);
    // A new reader first gets the newest document.
    next_update(&rx);
    let first = http::get(&base, "/state/runtime_matrix");
    let etag = first.header("etag").expect("etag").to_string();
    assert!(etag.starts_with("W/\""), "{etag}");
    let sup_etag = http::get(&base, "/state/supervisor").header("etag").expect("etag").to_string();
    for round in 0..3 {
        // Past the freshness window, so socket readers recompute.
        std::thread::sleep(FRESH_FOR + Duration::from_millis(100));
        arw.status();
        for _ in 0..10 {
            let r = http::request(&base, "GET", "/state/runtime_matrix", &[("If-None-Match", &etag)]);
            assert_eq!(r.status, 304, "round {round}: an unchanged node changed its tag to {:?}", r.header("etag"));
        }
    }
    if let Ok(update) = rx.recv_timeout(Duration::from_millis(300)) {
        panic!("reads of an unchanged node published an update: {update:#}");
    }
    arw.ok(&["runtime", "restore", "--id", "idle"]);
    let update = next_update(&rx);
    assert!(update["data"]["supervisor"]["runtimes"][0]["state"].is_string());
    // A new pid and generation: the supervisor document changed (the
    // matrix's counts did not, and may keep its tag).
    let after = http::request(&base, "GET", "/state/supervisor", &[("If-None-Match", &sup_etag)]);
    assert_eq!(after.status, 200, "a change keeps the old tag");
    assert_ne!(after.header("etag"), Some(sup_etag.as_str()));
}
