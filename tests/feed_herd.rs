//! The matrix feed under concurrent readers: a stale document is computed
//! once for everyone waiting, not once per reader.

use crate::common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

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

/// Sends the request on every connection before reading any answer, so the
/// daemon has them all at once.
fn burst(host: &str, n: usize) {
    let mut socks: Vec<TcpStream> = (0..n).map(|_| TcpStream::connect(host).expect("connect")).collect();
    for s in &mut socks {
        write!(s, "GET /state/runtime_matrix HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    }
    for s in &mut socks {
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}

/// Sixteen readers arriving together on a stale matrix get one recompute:
/// one `runtime.updated` on the bus, not sixteen copies of the same document
/// (each copy was a supervisor snapshot, two serialisations, a ring slot and
/// a frame to every `/events` reader).
#[test]
fn readers_of_a_stale_matrix_share_one_recompute() {
    let arw =
        Arw::with_config(&stub_runtime("idle", &[], "auto_start = false")).env("ARW_MATRIX_REPUBLISH_SECS", "3600");
    let host = host_of(&arw.http_url());
    let rx = updates(&host);
    // A new reader first gets the newest document.
    next_update(&rx);
    std::thread::sleep(FRESH_FOR + Duration::from_millis(200)); // let the document go stale
    let burst_at = Instant::now();
    burst(&host, 16);
    let burst_took = burst_at.elapsed();
    assert!(burst_took < FRESH_FOR, "the burst took {burst_took:?}, longer than the freshness window");
    // A lone request once the burst's document is stale marks the end:
    // what the burst published arrives before the lone request's update,
    // which is stamped more than FRESH_FOR after the burst.
    std::thread::sleep(FRESH_FOR + Duration::from_millis(200)); // let the document go stale
    let marker_sent = SystemTime::now();
    burst(&host, 1);
    let mut from_burst = 0;
    loop {
        let update = next_update(&rx);
        let time = humantime::parse_rfc3339(update["time"].as_str().expect("time")).expect("RFC 3339 time");
        if time + Duration::from_millis(500) > marker_sent {
            break;
        }
        from_burst += 1;
    }
    assert_eq!(from_burst, 1, "16 concurrent readers of a stale matrix published {from_burst} runtime.updated events");
}
