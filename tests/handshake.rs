//! Handshake: a daemon of another build is replaced, or refused with
//! `--no-restart-daemon`; garbage on the socket never hurts other clients.

use crate::common::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::time::Duration;

/// Starts `arw daemon serve --fake-build-id` by hand and waits until it answers.
fn start_fake_daemon(arw: &Arw) -> std::process::Child {
    let mut child = arw
        .cmd(&["daemon", "serve", "--fake-build-id", "0.0.0-other"])
        .env("ARW_DAEMON_NOTIFY", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert!(line.starts_with("ready "), "fake daemon said: {line}");
    child
}

/// A mismatched daemon is drained and replaced by the client's own build.
#[test]
fn mismatched_daemon_is_replaced() {
    let arw = Arw::new();
    let mut old = start_fake_daemon(&arw);
    let old_pid = old.id();
    let out = arw.run(&["runtime", "status", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("replacing daemon") && err.contains("0.0.0-other"), "{err}");
    let status = old.wait().unwrap();
    assert!(status.success(), "old daemon drained and exited cleanly: {status:?}");
    let new_pid = arw.daemon_pid().unwrap();
    assert_ne!(new_pid, old_pid);
    let info = arw.json(&["daemon", "status", "--json"]);
    assert_ne!(info["build_id"], "0.0.0-other");
}

/// With --no-restart-daemon the client refuses to talk to another build (exit 3).
#[test]
fn mismatched_daemon_is_refused_with_flag() {
    let arw = Arw::new();
    let mut old = start_fake_daemon(&arw);
    let out = arw.run(&["--no-restart-daemon", "runtime", "status"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("different build") && err.contains("arw daemon restart"), "{err}");
    assert!(alive(old.id()), "the other daemon was left alone");
    old.kill().unwrap();
    old.wait().unwrap();
}

fn connect(arw: &Arw) -> UnixStream {
    let s = UnixStream::connect(arw.home.join("run/arw.sock")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn read_reply(s: &mut UnixStream) -> Option<serde_json::Value> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

fn frame(json: &str) -> Vec<u8> {
    let mut v = (json.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(json.as_bytes());
    v
}

/// Garbage, truncated and oversized frames get an error or a hang-up; the
/// daemon still answers the next client.
#[test]
fn garbage_frames_do_not_hurt_the_daemon() {
    let arw = Arw::new();
    arw.status();
    let pid = arw.daemon_pid().unwrap();

    // Not a frame at all: the length prefix reads as absurdly large.
    let mut s = connect(&arw);
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let reply = read_reply(&mut s).expect("an error reply");
    assert_eq!(reply["result"]["Err"]["kind"], "bad_frame", "{reply}");
    assert!(read_reply(&mut s).is_none(), "connection closed after the error");

    // Oversized length prefix.
    let mut s = connect(&arw);
    s.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let reply = read_reply(&mut s).expect("an error reply");
    assert!(reply["result"]["Err"]["message"].as_str().unwrap().contains("exceeds"), "{reply}");

    // Valid length, invalid JSON as the hello.
    let mut s = connect(&arw);
    s.write_all(&frame("{not json")).unwrap();
    let reply = read_reply(&mut s).expect("an error reply");
    assert_eq!(reply["result"]["Err"]["kind"], "bad_frame");

    // Good hello, then a request that is not one.
    let mut s = connect(&arw);
    let protocol = arw.json(&["daemon", "status", "--json"])["protocol"].clone();
    let hello = format!(r#"{{"protocol":{protocol},"build_id":{:?}}}"#, build_id(&arw));
    s.write_all(&frame(&hello)).unwrap();
    let welcome = read_reply(&mut s).expect("welcome");
    assert_eq!(welcome["pid"], pid);
    s.write_all(&frame(r#"{"id":1,"request":{"type":"launch_missiles"}}"#)).unwrap();
    let reply = read_reply(&mut s).expect("an error reply");
    assert_eq!(reply["result"]["Err"]["kind"], "bad_frame");

    // Truncated frame, then hang up mid-body.
    let mut s = connect(&arw);
    s.write_all(&100u32.to_be_bytes()).unwrap();
    s.write_all(b"{\"protocol\"").unwrap();
    drop(s);

    // Silence: the daemon must not wait forever for a hello (it times out);
    // meanwhile other clients are served.
    let _silent = connect(&arw);

    let status = arw.status();
    assert!(status["matrix"]["ttl_seconds"].as_u64().unwrap() > 0);
    assert_eq!(arw.daemon_pid(), Some(pid), "same daemon, still serving");
}

fn build_id(arw: &Arw) -> String {
    arw.json(&["daemon", "status", "--json"])["build_id"].as_str().unwrap().to_string()
}
