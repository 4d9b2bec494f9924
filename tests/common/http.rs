//! A plain HTTP/1.1 client over `std::net::TcpStream`, so tests control
//! every byte: headers sent, reads done (or not done), socket buffers.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `http://127.0.0.1:PORT/` → `127.0.0.1:PORT`.
pub fn authority(base: &str) -> String {
    base.trim_start_matches("http://").trim_end_matches('/').to_string()
}

/// Sends `method path` with `headers` and reads the whole reply
/// (`Connection: close`).
#[track_caller]
pub fn request(base: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let host = authority(base);
    let stream = TcpStream::connect(&host).expect("connect");
    let mut reader = send(stream, method, path, &host, &[("Connection", "close")], headers);
    let (status, headers) = read_head(&mut reader);
    let mut body = Vec::new();
    if let Some(len) = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
        let len: usize = len.1.parse().unwrap();
        body.resize(len, 0);
        reader.read_exact(&mut body).unwrap();
    } else if status != 304 {
        let _ = reader.read_to_end(&mut body);
    }
    Reply { status, headers, body }
}

#[track_caller]
pub fn get(base: &str, path: &str) -> Reply {
    request(base, "GET", path, &[])
}

/// Writes the request head: `fixed` headers, `Host` unless `headers` names
/// one, then `headers`.
fn send(
    mut stream: TcpStream,
    method: &str,
    path: &str,
    host: &str,
    fixed: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> BufReader<TcpStream> {
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {host}\r\n"));
    }
    for (k, v) in fixed.iter().chain(headers) {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    BufReader::new(stream)
}

fn read_head(reader: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    (status, headers)
}

/// One server-sent event, or a comment line.
#[derive(Debug, Clone)]
pub enum Sse {
    Event { id: Option<u64>, topic: String, data: Value },
    Comment(String),
}

/// An open `/events` stream.
pub struct EventStream {
    pub reader: BufReader<TcpStream>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl EventStream {
    /// Opens `path` (e.g. `/events?topics=runtime.*`) with extra headers.
    #[track_caller]
    pub fn open(base: &str, path: &str, headers: &[(&str, &str)]) -> EventStream {
        let host = authority(base);
        let stream = TcpStream::connect(&host).expect("connect");
        EventStream::open_on(stream, &host, path, headers)
    }

    #[track_caller]
    pub fn open_on(stream: TcpStream, host: &str, path: &str, headers: &[(&str, &str)]) -> EventStream {
        let mut reader = send(stream, "GET", path, host, &[("Accept", "text/event-stream")], headers);
        let (status, headers) = read_head(&mut reader);
        EventStream { reader, status, headers }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The next event or comment; `None` at the end of the stream. The body
    /// is chunked: chunk-size lines are skipped by shape.
    pub fn next(&mut self) -> Option<Sse> {
        let (mut id, mut topic, mut data) = (None, String::new(), None);
        let mut line = String::new();
        loop {
            line.clear();
            match self.reader.read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                    return None
                }
                Err(e) => panic!("reading events: {e}"),
            }
            let l = line.trim_end_matches(['\r', '\n']);
            // The last chunk of a chunked body (the daemon writes whole
            // frames per chunk, so a bare `0` is never data).
            if l == "0" {
                return None;
            }
            if let Some(rest) = l.strip_prefix(": ") {
                return Some(Sse::Comment(rest.to_string()));
            } else if let Some(v) = l.strip_prefix("id: ") {
                id = v.parse().ok();
            } else if let Some(v) = l.strip_prefix("event: ") {
                topic = v.to_string();
            } else if let Some(v) = l.strip_prefix("data: ") {
                data = Some(serde_json::from_str(v).unwrap_or_else(|e| panic!("bad data line ({e}): {v}")));
            } else if l.is_empty() {
                if let Some(data) = data.take() {
                    return Some(Sse::Event { id, topic, data });
                }
            }
            // Anything else: chunk sizes, `retry:`.
        }
    }

    /// The next event (comments skipped) passing `pred`, within `within`.
    #[track_caller]
    pub fn wait_for(&mut self, within: Duration, what: &str, pred: impl Fn(&str, &Value) -> bool) -> (u64, Value) {
        let deadline = Instant::now() + within;
        self.reader.get_ref().set_read_timeout(Some(within)).unwrap();
        loop {
            match self.next() {
                Some(Sse::Event { id, topic, data }) if pred(&topic, &data) => return (id.unwrap_or(0), data),
                Some(_) if Instant::now() < deadline => continue,
                other => panic!("no {what} within {within:?} (last: {other:?})"),
            }
        }
    }
}
