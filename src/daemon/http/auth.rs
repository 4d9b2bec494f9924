//! Who may talk to the listener. With a token, every endpoint but
//! `/healthz` needs `Authorization: Bearer <token>`. Without one the
//! listener is loopback-only, and a request must also name a loopback host:
//! a web page the operator visits could otherwise point its own domain at
//! 127.0.0.1 (DNS rebinding) and read the node through the browser.

use super::{error, Http};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::middleware::Next;
use std::net::IpAddr;
use std::sync::Arc;

pub async fn guard(State(http): State<Arc<Http>>, req: Request<Body>, next: Next) -> Response<Body> {
    match &http.config.token {
        None => {
            let mut hosts = req.headers().get_all(header::HOST).iter();
            let host = hosts.next().and_then(|h| h.to_str().ok()).unwrap_or("");
            // One Host, and an absolute-form target (`GET http://x/`) must
            // name a loopback host too: it is the one that counts.
            let target = req.uri().authority().map(|a| a.as_str());
            if hosts.next().is_some() || !loopback_host(host) || target.is_some_and(|t| !loopback_host(t)) {
                return error(
                    StatusCode::MISDIRECTED_REQUEST,
                    "host_not_allowed",
                    format!(
                        "this listener answers only requests for a loopback host (127.0.0.1, localhost, [::1]), \
                         not `{}`; set an admin token to serve other names",
                        crate::text::quote(host, 80)
                    ),
                );
            }
        }
        Some(token) if req.uri().path() != "/healthz" => {
            // The scheme is case-insensitive (RFC 9110 §11.1).
            let presented = req
                .headers()
                .get(header::AUTHORIZATION)
                .map(|h| h.as_bytes())
                .filter(|h| h.len() > 7 && h[..7].eq_ignore_ascii_case(b"bearer "))
                .map(|h| h[7..].trim_ascii())
                .unwrap_or(b"");
            if !token.matches(presented) {
                let mut resp = error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "this listener needs `Authorization: Bearer <token>` with the daemon's admin token",
                );
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return resp;
            }
        }
        Some(_) => {}
    }
    next.run(req).await
}

/// `127.0.0.1:8091`, `localhost`, `[::1]:8091` — exactly: a name, then
/// at most a numeric port, nothing else.
fn loopback_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((name, "")) => (name, None),
            Some((name, tail)) => match tail.strip_prefix(':') {
                Some(port) => (name, Some(port)),
                None => return false,
            },
            None => return false,
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok && (name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_loopback_names_pass() {
        for ok in ["127.0.0.1:8091", "127.0.0.1", "localhost:1", "LOCALHOST", "[::1]:80", "127.3.4.5:9"] {
            assert!(super::loopback_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example:8091",
            "10.0.0.1:80",
            "localhost.evil.com",
            "[::2]:80",
            "127.0.0.1.nip.io",
            "127.0.0.1:18102@evil.com",
            "127.0.0.1:evil",
            "localhost:18102, evil.com",
            "[::1]evil",
            "127.0.0.1:",
        ] {
            assert!(!super::loopback_host(bad), "{bad}");
        }
    }
}
