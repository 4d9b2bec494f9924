//! The event bus over `/events` and `arw events` (SPEC §8, issue 12):
//! events reach readers as they happen, a resume gets exactly what was
//! missed, a lost resume point gets a reset, a reader that stops reading is
//! cut off with memory bounded.

use crate::common::http::{request, EventStream, Sse};
use crate::common::{runtime, stub_runtime, Arw};
use serde_json::Value;
use std::time::{Duration, Instant};

/// A stub runtime, started and ready.
fn with_ready_stub() -> (Arw, String, u32) {
    let arw = Arw::with_config(&stub_runtime("s1", &[], ""));
    let base = arw.http_url();
    arw.ok(&["runtime", "restore", "--id", "s1"]);
    let pid = runtime(&arw.status(), "s1")["pid"].as_u64().unwrap() as u32;
    (arw, base, pid)
}

/// A runtime that crashes at once and is restarted without delay: a
/// steady source of many events.
fn crash_loop(id: &str) -> String {
    format!(
        "[[runtime]]\nid = {id:?}\nadapter = \"process\"\ncommand = \"/bin/sh\"\nargs = [\"-c\", \"exit 3\"]\nauto_start = true\n\
         [runtime.restart]\nmax_restarts = 1000000\nwindow_secs = 3600\nbackoff_initial_ms = 0\nbackoff_max_ms = 0\n"
    )
}

/// Reads until the stream has shown its first event (the newest matrix):
/// from then on the subscription is certainly live.
fn opened(base: &str, path: &str, headers: &[(&str, &str)]) -> EventStream {
    let mut s = EventStream::open(base, path, headers);
    assert_eq!(s.status, 200);
    s.wait_for(Duration::from_secs(10), "the first event", |_, _| true);
    s
}

/// §8 headers; a SIGKILLed runtime's exit reaches a connected reader within 100 ms.
#[test]
fn a_killed_runtime_reaches_a_reader_within_100ms() {
    let (_arw, base, pid) = with_ready_stub();
    let mut s = opened(&base, "/events", &[]);
    assert_eq!(s.header("content-type"), Some("text/event-stream"));
    assert_eq!(s.header("x-accel-buffering"), Some("no"));
    assert_eq!(s.header("cache-control"), Some("no-cache"));
    let t = Instant::now();
    // SAFETY: plain kill(2) of the stub runtime we started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let (_, data) = s.wait_for(Duration::from_secs(5), "runtime.exit", |topic, d| {
        topic == "runtime.exit" && d["data"]["runtime"] == "s1"
    });
    let took = t.elapsed();
    assert_eq!(data["data"]["cause"], "signaled", "{data:#}");
    assert!(data["data"]["signal"].as_str().unwrap_or_default().contains("KILL"), "{data:#}");
    assert!(took < Duration::from_millis(100), "the exit took {took:?} to reach the reader");
    // And the state change follows on `runtime.health`.
    s.wait_for(Duration::from_secs(5), "runtime.health", |topic, d| {
        topic == "runtime.health" && d["data"]["runtime"] == "s1" && d["data"]["previous"] == "ready"
    });
}

/// The ids of every event until (and including) `last`.
fn ids_until(s: &mut EventStream, last: u64) -> Vec<(u64, String)> {
    let mut got = Vec::new();
    s.reader.get_ref().set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    while got.last().is_none_or(|(id, _)| *id < last) {
        match s.next() {
            Some(Sse::Event { id: Some(id), topic, data }) => {
                assert_eq!(data["id"], id, "the data's id is the event's id");
                assert_eq!(data["topic"], topic.as_str());
                got.push((id, topic));
            }
            Some(_) => {}
            None => panic!("the stream ended before event {last}; got {got:?}"),
        }
    }
    got
}

/// §8: disconnect, cause events, reconnect with Last-Event-ID (or
/// ?after=) → exactly the missed events, in order, no duplicates.
#[test]
fn a_resume_gets_exactly_the_missed_events() {
    let (arw, base, _) = with_ready_stub();
    // A witness stays connected throughout and sees every event live.
    let mut witness = EventStream::open(&base, "/events", &[]);
    let mut reader = opened(&base, "/events", &[]);
    // The reader's last event before it goes away.
    let (last_seen, _) = reader.wait_for(Duration::from_secs(10), "an event", |_, _| true);
    drop(reader);
    // Cause events while it is gone: a restore (restart, health changes, matrices).
    arw.ok(&["runtime", "restore", "--id", "s1", "--force"]);
    let mut seen = Vec::new();
    witness.reader.get_ref().set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let marker = loop {
        match witness.next() {
            Some(Sse::Event { id: Some(id), topic, data }) => {
                let ready = topic == "runtime.health" && data["data"]["state"] == "ready";
                seen.push((id, topic));
                if ready && id > last_seen {
                    break id;
                }
            }
            Some(_) => {}
            None => panic!("the witness stream ended: {seen:?}"),
        }
    };
    assert!(seen.first().unwrap().0 <= last_seen, "the witness started before the reader left: {seen:?}");
    let expected: Vec<(u64, String)> = seen.into_iter().filter(|(id, _)| *id > last_seen).collect();
    assert!(expected.iter().any(|(_, t)| t == "runtime.restart"), "{expected:?}");
    let mut resumed = EventStream::open(&base, "/events", &[("Last-Event-ID", &last_seen.to_string())]);
    let got = ids_until(&mut resumed, marker);
    assert_eq!(got, expected, "resume after {last_seen}");
    assert!(got.first().unwrap().0 > last_seen);
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "in order, no duplicates: {got:?}");
    // The header wins over ?after= (the browser's own resume point).
    let mut both = EventStream::open(&base, "/events?after=1", &[("Last-Event-ID", &last_seen.to_string())]);
    assert_eq!(ids_until(&mut both, marker), expected);
}

/// §8: a resume point the bus no longer keeps (pruned, or from an earlier
/// daemon) starts with `events.reset` carrying a full snapshot.
#[test]
fn a_lost_resume_point_gets_a_reset_with_a_snapshot() {
    let arw = Arw::with_config(&crash_loop("boom"));
    let base = arw.http_url();
    // An id from before this daemon.
    let mut s = EventStream::open(&base, "/events", &[("Last-Event-ID", "5")]);
    let (id, data) = s.wait_for(Duration::from_secs(10), "events.reset", |_, _| true);
    assert_eq!(data["topic"], "events.reset", "the first event is the reset: {data:#}");
    assert!(data["data"]["reason"].as_str().unwrap().contains("earlier daemon"));
    assert!(data["data"]["snapshot"]["matrix"]["items"].is_object(), "{data:#}");
    assert!(data["data"]["snapshot"]["supervisor"]["runtimes"].is_array());
    assert!(id > 5);
    // Let the crash loop publish past the ring (1024 events), then resume
    // from the first id seen: pruned.
    let first = id;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (latest, _) = s.wait_for(Duration::from_secs(10), "an event", |_, _| true);
        if latest > first + 1100 {
            break;
        }
        assert!(Instant::now() < deadline, "the crash loop published too little");
    }
    // A long resume (more than a reader's queue) arrives whole, in order.
    let (latest, _) = s.wait_for(Duration::from_secs(10), "an event", |_, _| true);
    let from = latest - 700;
    let mut long = EventStream::open(&base, "/events", &[("Last-Event-ID", &from.to_string())]);
    let got = ids_until(&mut long, latest);
    assert_eq!(got.iter().map(|(id, _)| *id).collect::<Vec<_>>(), (from + 1..=latest).collect::<Vec<_>>());
    let mut pruned = EventStream::open(&base, "/events", &[("Last-Event-ID", &first.to_string())]);
    let (_, data) = pruned.wait_for(Duration::from_secs(10), "events.reset", |_, _| true);
    assert_eq!(data["topic"], "events.reset");
    assert!(data["data"]["reason"].as_str().unwrap().contains("no longer kept"), "{data:#}");
}

/// §8: `?topics=` filters; a quiet stream gets a keep-alive comment every
/// 10 s; bad parameters are 400s that say what is wrong.
#[test]
fn topic_filters_keep_alives_and_bad_parameters() {
    let (arw, base, pid) = with_ready_stub();
    let mut quiet = EventStream::open(&base, "/events?topics=fleet.*", &[]);
    let mut health = EventStream::open(&base, "/events?topics=runtime.health,runtime.exit", &[]);
    // SAFETY: plain kill(2) of the stub runtime we started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    health.reader.get_ref().set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut topics = Vec::new();
    while topics.len() < 2 {
        match health.next() {
            Some(Sse::Event { topic, .. }) => topics.push(topic),
            Some(Sse::Comment(_)) => {}
            None => panic!("no filtered events: {topics:?}"),
        }
    }
    assert!(topics.iter().all(|t| t == "runtime.health" || t == "runtime.exit"), "{topics:?}");

    let t = Instant::now();
    quiet.reader.get_ref().set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    loop {
        match quiet.next() {
            Some(Sse::Comment(c)) if c == "keep-alive" => break,
            Some(Sse::Comment(_)) => {}
            other => panic!("a filtered-out event or the end: {other:?}"),
        }
    }
    let waited = t.elapsed();
    assert!(waited > Duration::from_secs(8) && waited < Duration::from_secs(13), "keep-alive after {waited:?}");

    let bad = request(&base, "GET", "/events", &[("Last-Event-ID", "abc")]);
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"]["message"].as_str().unwrap().contains("not an event id"));
    let bad = request(&base, "GET", "/events?topics=Runtime.%2A", &[]);
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"]["message"].as_str().unwrap().contains("not a topic pattern"));
    arw.status();
}

/// Resident memory of a process, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kb * 1024
}

/// §8: a reader that stops reading is cut off (with a final comment
/// saying why) and the daemon's memory stays bounded.
#[test]
fn a_reader_that_stops_reading_is_cut_off() {
    // Big matrices (40 more runtimes) change many times a second.
    let bulk: String = (0..40).map(|i| stub_runtime(&format!("idle{i}"), &[], "auto_start = false")).collect();
    let arw = Arw::with_config(&(crash_loop("boom") + &crash_loop("bang") + &bulk));
    let base = arw.http_url();
    let daemon = arw.daemon_pid().unwrap();
    let host = crate::common::http::authority(&base);
    // A tiny receive buffer, and then no reads at all.
    let sock = socket2_small_rcvbuf(&host);
    let mut stalled = EventStream::open_on(sock, &host, "/events", &[]);
    let before = rss(daemon);
    let mut peak = before;
    // The daemon logs when it gives up on the reader.
    let log = arw.home.join("logs/daemon.log");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("an /events reader stopped reading") {
        peak = peak.max(rss(daemon));
        assert!(Instant::now() < deadline, "the daemon never gave up on a reader that stopped reading");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Now read what the stalled reader was sent: what the kernel held, then
    // the reason (its queue was dropped), then the end.
    stalled.reader.get_ref().set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut last_comment = None;
    let mut events = 0;
    while let Some(item) = stalled.next() {
        match item {
            Sse::Comment(c) => last_comment = Some(c),
            Sse::Event { .. } => events += 1,
        }
    }
    let why = last_comment.unwrap_or_default();
    assert!(why.contains("stopped reading") || why.contains("fell"), "final comment: {why:?} after {events} events");
    assert!(peak < before + 64 * 1024 * 1024, "daemon RSS grew from {before} to {peak}");
    assert_eq!(request(&base, "GET", "/healthz", &[]).status, 200);
}

fn socket2_small_rcvbuf(host: &str) -> std::net::TcpStream {
    use std::os::fd::{AsRawFd, FromRawFd};
    let addr: std::net::SocketAddrV4 = host.parse().unwrap();
    // SAFETY: a fresh socket, configured before connect, owned by the stream.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let size: libc::c_int = 4096;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &size as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as u32,
        );
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: addr.port().to_be(),
            sin_addr: libc::in_addr { s_addr: u32::from(*addr.ip()).to_be() },
            sin_zero: [0; 8],
        };
        let r = libc::connect(
            fd,
            &sa as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        );
        assert_eq!(r, 0, "connect");
        let s = std::net::TcpStream::from_raw_fd(fd);
        assert!(s.as_raw_fd() >= 0);
        s
    }
}

/// §8: `arw events` prints the kept events (after `--after`) and exits;
/// `--follow` goes on live; `--json` lines are the envelopes `/events`
/// sends; a bad pattern is a usage error.
#[test]
fn arw_events_replays_and_follows() {
    let (arw, _base, pid) = with_ready_stub();
    let all = arw.ok(&["events", "--json"]);
    let envelopes: Vec<Value> = all.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(envelopes.len() >= 3, "{all}");
    for e in &envelopes {
        for key in ["id", "topic", "time", "data"] {
            assert!(!e[key].is_null(), "{key} missing: {e}");
        }
    }
    assert!(envelopes.windows(2).all(|w| w[0]["id"].as_u64() < w[1]["id"].as_u64()));
    assert!(envelopes.iter().any(|e| e["topic"] == "runtime.health" && e["data"]["state"] == "ready"));
    let mid = envelopes[envelopes.len() / 2]["id"].as_u64().unwrap();
    let after = arw.ok(&["events", "--json", "--after", &mid.to_string()]);
    let after_ids: Vec<u64> =
        after.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_u64().unwrap()).collect();
    let want: Vec<u64> = envelopes.iter().filter_map(|e| e["id"].as_u64()).filter(|&id| id > mid).collect();
    assert_eq!(&after_ids[..want.len()], &want[..]);

    let text = arw.ok(&["events", "--topics", "runtime.health"]);
    assert!(text.lines().all(|l| l.contains("  runtime.health  ")), "{text}");
    assert!(text.contains("s1: starting → ready") || text.contains("s1: offline → starting"), "{text}");

    let mut follow = arw.cmd(&["events", "--follow", "--json", "--topics", "runtime.exit"]);
    follow.stdout(std::process::Stdio::piped());
    let mut child = follow.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // The stream is live once the daemon lists a second client.
    let deadline = Instant::now() + Duration::from_secs(10);
    while arw.json(&["daemon", "status", "--json"])["clients"].as_u64() < Some(2) {
        assert!(Instant::now() < deadline, "the follower never connected");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: plain kill(2) of the stub runtime we started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let line = rx.recv_timeout(Duration::from_secs(10)).expect("a followed runtime.exit");
    let e: Value = serde_json::from_str(&line).unwrap();
    assert_eq!((e["topic"].as_str(), e["data"]["runtime"].as_str()), (Some("runtime.exit"), Some("s1")));
    let _ = child.kill();
    let _ = child.wait();

    let bad = arw.run(&["events", "--topics", "Bad Topic"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a topic pattern"));
}

/// Outside-in finding (issue 12): `arw events` shows matrices for the
/// command's own knobs, like `--watch`, and refuses bad ones.
#[test]
fn arw_events_follows_the_commands_matrix_knobs() {
    let arw = Arw::new();
    arw.status();
    let out = arw
        .cmd(&["events", "--json"])
        .env("ARW_NODE_ID", "zzz")
        .env("ARW_RUNTIME_MATRIX_TTL_SECS", "7")
        .output()
        .unwrap();
    let last: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(last["topic"], "runtime.updated");
    assert!(last["data"]["matrix"]["items"]["zzz"].is_object(), "{last:#}");
    assert_eq!(last["data"]["matrix"]["ttl_seconds"], 7);
    let bad = arw.cmd(&["events"]).env("ARW_RUNTIME_MATRIX_TTL_SECS", "0").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
