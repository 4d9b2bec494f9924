//! The hub protocol, as huggingface_hub and hf-hub speak it:
//!
//! `GET {endpoint}/{repo}/resolve/{revision}/{file}` with `Range: bytes=0-0`
//! answers with the file's commit (`X-Repo-Commit`), its etag
//! (`X-Linked-Etag`, else `ETag`; for an LFS file, its sha256) and its size
//! (`X-Linked-Size`, else the total in `Content-Range`). LFS files answer
//! with a redirect to a CDN host; same-host redirects (renamed repos) are
//! followed. The token goes to the hub host only: never to the CDN or a
//! mirror (hf-hub 0.5 sends it everywhere as a default header, one reason
//! this module talks HTTP itself). Revisions with `/` are sent as `%2F`.

use super::cache::is_commit;
use super::sources::is_sha256;
use super::{NetSettings, Token};
use crate::gguf::{self, GgufError, GgufInfo};
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_RANGE, LOCATION, RANGE};
use reqwest::{StatusCode, Url};
use std::time::Duration;

/// The two HTTP clients a daemon keeps (connection pools are reused).
pub struct Http {
    /// Never follows redirects: resolve requests read the redirect's headers.
    pub plain: reqwest::Client,
    /// Follows up to 10 redirects, dropping `Authorization` across hosts.
    pub follow: reqwest::Client,
}

impl Http {
    pub fn new() -> Http {
        let build = |policy| {
            reqwest::Client::builder()
                .user_agent(concat!("arw/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(15))
                .redirect(policy)
                .build()
                .expect("reqwest client builds")
        };
        Http { plain: build(reqwest::redirect::Policy::none()), follow: build(reqwest::redirect::Policy::limited(10)) }
    }
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

/// What the hub says about one file at one revision.
#[derive(Debug, Clone)]
pub struct Remote {
    pub commit: String,
    /// Quotes and `W/` removed, lower-case hex: for LFS files the sha256,
    /// else the git sha1.
    pub etag: String,
    pub size: u64,
}

/// Why the hub could not tell us about a file.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HubError {
    #[error("the hub answered {status} for `{what}`{}", if *had_token { " with the token given" } else { " without a token" })]
    Auth { status: u16, what: String, had_token: bool },
    #[error("the hub has no `{what}` ({code})")]
    NotFound { what: String, code: String },
    #[error("{0}")]
    Transient(String),
    #[error("{hub} gave an unusable answer for `{what}`: {reason}")]
    Protocol { hub: String, what: String, reason: String },
}

impl HubError {
    pub fn is_transient(&self) -> bool {
        matches!(self, HubError::Transient(_))
    }
}

/// `{endpoint}/{repo}/resolve/{revision}/{file}`, each part escaped.
pub fn resolve_url(endpoint: &str, repo: &str, revision: &str, file: &str) -> Url {
    let mut url = Url::parse(endpoint).expect("endpoint was validated");
    {
        let mut segs = url.path_segments_mut().expect("http(s) URL");
        segs.pop_if_empty();
        segs.extend(repo.split('/'));
        segs.push("resolve");
        segs.push(revision);
        segs.extend(file.split('/'));
    }
    url
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(|v| v.trim().to_string())
}

fn clean_etag(raw: &str) -> String {
    raw.trim_start_matches("W/").replace('"', "")
}

/// Total size from `Content-Range: bytes 0-0/<total>`.
pub fn content_range_total(h: &HeaderMap) -> Option<u64> {
    h.get(CONTENT_RANGE)?.to_str().ok()?.rsplit('/').next()?.parse().ok()
}

/// Maps an HTTP status that is not success to an error.
pub fn status_error(status: StatusCode, what: &str, h: &HeaderMap, had_token: bool) -> HubError {
    match status.as_u16() {
        401 | 403 => HubError::Auth { status: status.as_u16(), what: what.into(), had_token },
        404 => {
            HubError::NotFound { what: what.into(), code: header(h, "x-error-code").unwrap_or_else(|| "404".into()) }
        }
        408 | 429 | 500..=599 => HubError::Transient(format!("the hub answered {status} for `{what}`")),
        _ => HubError::Protocol {
            hub: "the server".into(),
            what: what.into(),
            reason: format!("unexpected status {status}"),
        },
    }
}

/// One resolve round trip, following same-host redirects.
async fn resolve_once(
    http: &Http,
    url: Url,
    token: Option<&Token>,
    what: &str,
    stall: Duration,
) -> Result<Remote, HubError> {
    let hub = format!("the hub at {}", url.origin().ascii_serialization());
    let protocol = |reason: String| HubError::Protocol { hub: hub.clone(), what: what.into(), reason };
    let mut url = url;
    let hub_host = (url.host_str().map(str::to_owned), url.port_or_known_default());
    for _ in 0..5 {
        let mut req = http.plain.get(url.clone()).header(RANGE, "bytes=0-0");
        if let Some(t) = token {
            req = req.header(AUTHORIZATION, t.bearer());
        }
        let resp = tokio::time::timeout(stall, req.send())
            .await
            .map_err(|_| {
                HubError::Transient(format!("the hub did not answer for `{what}` within {}s", stall.as_secs()))
            })?
            .map_err(|e| HubError::Transient(format!("cannot reach the hub for `{what}`: {}", without_url(&e))))?;
        let status = resp.status();
        let h = resp.headers().clone();
        if !(status.is_success() || status.is_redirection()) {
            return Err(match status_error(status, what, &h, token.is_some()) {
                HubError::Protocol { reason, .. } => protocol(reason),
                other => other,
            });
        }
        let etag = header(&h, "x-linked-etag").or_else(|| header(&h, "etag"));
        let commit = header(&h, "x-repo-commit");
        if status.is_redirection() {
            let location =
                header(&h, LOCATION.as_str()).ok_or_else(|| protocol("a redirect without `Location`".into()))?;
            let next = url.join(&location).map_err(|e| protocol(format!("bad `Location`: {e}")))?;
            let same_host = (next.host_str().map(str::to_owned), next.port_or_known_default()) == hub_host;
            if same_host && commit.is_none() {
                // A renamed repo or a moved file: ask again there.
                url = next;
                continue;
            }
            let size = match header(&h, "x-linked-size").and_then(|s| s.parse().ok()) {
                Some(s) => Some(s),
                None => remote_size(http, next, stall).await,
            };
            return finish(commit, etag, size).map_err(protocol);
        }
        let size = content_range_total(&h).or_else(|| header(&h, "x-linked-size").and_then(|s| s.parse().ok()));
        return finish(commit, etag, size).map_err(protocol);
    }
    Err(protocol("too many redirects".into()))
}

/// The size a plain URL (CDN, mirror) reports for `Range: bytes=0-0`,
/// asked without the token.
pub async fn remote_size(http: &Http, url: Url, stall: Duration) -> Option<u64> {
    let request = http.follow.get(url).header(RANGE, "bytes=0-0").send();
    let resp = tokio::time::timeout(stall, request).await.ok()?.ok()?;
    match resp.status() {
        StatusCode::PARTIAL_CONTENT => content_range_total(resp.headers()),
        StatusCode::OK => resp.content_length(),
        _ => None,
    }
}

/// Checks what the hub said before any of it names a file: the commit and
/// the etag become path components (`snapshots/<commit>`, `blobs/<etag>`),
/// so only hex of the right length passes, lower-cased as the cache spells it.
fn finish(commit: Option<String>, etag: Option<String>, size: Option<u64>) -> Result<Remote, String> {
    let missing = |h: &str| format!("header `{h}` is missing");
    let commit = commit.ok_or_else(|| missing("X-Repo-Commit"))?;
    if !is_commit(&commit) {
        return Err(format!("`X-Repo-Commit` is `{}`, not a 40-hex commit; nothing was written", shown(&commit)));
    }
    let etag = clean_etag(&etag.ok_or_else(|| missing("ETag"))?);
    if !(is_commit(&etag) || is_sha256(&etag)) {
        return Err(format!(
            "the file's `ETag` is `{}`, neither a sha256 nor a git sha1; nothing was written",
            shown(&etag)
        ));
    }
    Ok(Remote {
        commit: commit.to_ascii_lowercase(),
        etag: etag.to_ascii_lowercase(),
        size: size.ok_or_else(|| missing("X-Linked-Size"))?,
    })
}

/// A value from outside, fit to quote in a message: control characters
/// dropped, cut at 64 characters.
pub fn shown(value: &str) -> String {
    let clean: String = value.chars().filter(|c| !c.is_control()).collect();
    match clean.char_indices().nth(64) {
        Some((at, _)) => format!("{}…", &clean[..at]),
        None => clean,
    }
}

/// Resolves `file` at `revision`, retrying transient failures with backoff.
/// `on_retry` hears about each retry (attempt number, reason).
pub async fn resolve(
    http: &Http,
    endpoint: &str,
    model: &super::sources::ModelSource,
    token: Option<&Token>,
    net: &NetSettings,
    mut on_retry: impl FnMut(u32, &str),
) -> Result<Remote, HubError> {
    let url = resolve_url(endpoint, &model.repo, &model.revision, &model.file);
    let what = format!("{}@{}", model.id(), model.revision);
    let mut attempt = 0;
    loop {
        match resolve_once(http, url.clone(), token, &what, net.stall).await {
            Err(e) if e.is_transient() && attempt < net.retries => {
                attempt += 1;
                on_retry(attempt, &e.to_string());
                tokio::time::sleep(backoff(net, attempt)).await;
            }
            other => return other,
        }
    }
}

/// Delay before attempt `n` (from 1): doubling from `net.backoff`, at most
/// 30 s, with up to 25 % jitter so many clients do not retry in step.
pub fn backoff(net: &NetSettings, n: u32) -> Duration {
    let base = net.backoff.saturating_mul(1 << (n.saturating_sub(1)).min(16));
    let base = base.min(Duration::from_secs(30));
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    base + base.mul_f64(f64::from(nanos % 1000) / 4000.0)
}

/// A reqwest error with its causes, without the " for url (...)" part:
/// the URL is ours and says nothing new, and a message reads better without.
pub fn without_url(e: &reqwest::Error) -> String {
    let text = e.to_string();
    let mut msg = match text.split_once(" for url (") {
        Some((head, _)) => head.to_string(),
        None => text,
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// Reads the GGUF header of a remote file with Range requests (a few MB at
/// most), for the memory estimate. `None` when it cannot be read.
pub async fn fetch_header(
    http: &Http,
    url: Url,
    token: Option<&Token>,
    size: u64,
    stall: Duration,
) -> Option<GgufInfo> {
    let mut want: u64 = 2 << 20;
    for _ in 0..4 {
        let end = want.min(size).saturating_sub(1);
        let mut req = http.follow.get(url.clone()).header(RANGE, format!("bytes=0-{end}"));
        if let Some(t) = token {
            req = req.header(AUTHORIZATION, t.bearer());
        }
        let resp = tokio::time::timeout(stall, req.send()).await.ok()?.ok()?;
        if resp.status() != StatusCode::PARTIAL_CONTENT && resp.status() != StatusCode::OK {
            return None;
        }
        let body = read_capped(resp, end + 1, stall).await?;
        match gguf::read_from(&body[..], Some(size)) {
            Ok(info) => return Some(info),
            Err(GgufError::Truncated { offset }) if want < size && offset < (64 << 20) => {
                want = (offset + 1).max(want * 4).min(64 << 20);
            }
            Err(_) => return None,
        }
    }
    None
}

async fn read_capped(mut resp: reqwest::Response, cap: u64, stall: Duration) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    while (body.len() as u64) < cap {
        match tokio::time::timeout(stall, resp.chunk()).await.ok()?.ok()? {
            Some(chunk) => body.extend_from_slice(&chunk),
            None => break,
        }
    }
    body.truncate(cap as usize);
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Revisions with `/` are escaped as `%2F`; file paths keep their `/`.
    #[test]
    fn resolve_url_escapes() {
        let u = resolve_url("http://h:1/base/", "o/n", "refs/pr/1", "dir/m q.gguf");
        assert_eq!(u.as_str(), "http://h:1/base/o/n/resolve/refs%2Fpr%2F1/dir/m%20q.gguf");
    }

    /// Backoff doubles, is capped at 30 s, and jitters by at most 25 %.
    #[test]
    fn backoff_doubles_and_caps() {
        let net = NetSettings { stall: Duration::from_secs(1), retries: 3, backoff: Duration::from_millis(100) };
        let b1 = backoff(&net, 1);
        let b3 = backoff(&net, 3);
        assert!(b1 >= Duration::from_millis(100) && b1 <= Duration::from_millis(125));
        assert!(b3 >= Duration::from_millis(400) && b3 <= Duration::from_millis(500));
        assert!(backoff(&net, 30) <= Duration::from_millis(37_500));
    }

    /// Quotes and weak markers come off etags.
    #[test]
    fn etag_cleaning() {
        assert_eq!(clean_etag("W/\"abc\""), "abc");
        assert_eq!(clean_etag("\"abc\""), "abc");
    }

    /// Only hex commits and etags of the right length pass, lower-cased;
    /// anything else is quoted without control characters, cut short.
    #[test]
    fn commit_and_etag_must_be_hex() {
        let sha = "AB".repeat(32);
        let ok = finish(Some("ABCDEF0123".repeat(4)), Some(format!("\"{sha}\"")), Some(1)).unwrap();
        assert_eq!(ok.commit, "abcdef0123".repeat(4));
        assert_eq!(ok.etag, sha.to_ascii_lowercase());
        let bad = finish(Some("../../../../victim".into()), Some(sha.clone()), Some(1)).unwrap_err();
        assert!(bad.contains("`../../../../victim`") && bad.contains("40-hex"), "{bad}");
        let bad = finish(Some("c".repeat(40)), Some("../x".into()), Some(1)).unwrap_err();
        assert!(bad.contains("`../x`"), "{bad}");
        let long = format!("\u{1b}]0;{}", "x".repeat(500));
        let quoted = shown(&long);
        assert!(!quoted.contains('\u{1b}') && quoted.chars().count() == 65, "{quoted}");
    }
}
