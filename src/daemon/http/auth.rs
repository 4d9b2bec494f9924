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
            let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
            if !loopback_host(host) {
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
            let presented = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|h| h.as_bytes().strip_prefix(b"Bearer "))
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

/// `127.0.0.1:8091`, `localhost`, `[::1]:8091`.
fn loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_loopback_names_pass() {
        for ok in ["127.0.0.1:8091", "127.0.0.1", "localhost:1", "LOCALHOST", "[::1]:80", "127.3.4.5:9"] {
            assert!(super::loopback_host(ok), "{ok}");
        }
        for bad in ["", "evil.example:8091", "10.0.0.1:80", "localhost.evil.com", "[::2]:80", "127.0.0.1.nip.io"] {
            assert!(!super::loopback_host(bad), "{bad}");
        }
    }
}
