//! Where the HTTP surface listens and with which token (SPEC §7): decided
//! once, before the daemon reports ready, so a refusal reaches the command
//! that spawned it.

use crate::registry::DaemonSettings;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

/// The environment variable that turns the listener on for a daemon.
pub const LISTEN_ENV: &str = "ARW_HTTP_LISTEN";
pub const TOKEN_ENV: &str = "ARW_ADMIN_TOKEN";
/// A token shorter than this is refused: it would be guessable.
const MIN_TOKEN_CHARS: usize = 16;
const TOKEN_FILE_MAX: u64 = 4096;

/// `127.0.0.1:8091`, `[::1]:8091`, `localhost:8091`; port 0 picks one.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    if let Ok(addr) = t.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Some(port) = t.strip_prefix("localhost:") {
        if let Ok(port) = port.parse::<u16>() {
            return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
        }
    }
    Err(format!(
        "`{}` is not an address to listen on (want ADDRESS:PORT with an IP address or `localhost`)",
        crate::text::quote(t, 80)
    ))
}

/// The token, kept out of every `Debug` and log line.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// Constant-time: how much of a guess matched must not show in timing.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let want = self.0.as_bytes();
        let mut diff = (want.len() != presented.len()) as u8;
        for (i, w) in want.iter().enumerate() {
            diff |= w ^ presented.get(i).copied().unwrap_or(0);
        }
        diff == 0
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone)]
pub struct ListenConfig {
    pub addr: SocketAddr,
    pub token: Option<Token>,
    /// Where the address came from, for messages.
    pub source: &'static str,
}

/// `--http` wins over `ARW_HTTP_LISTEN`, which wins over the manifest.
/// `Ok(None)`: the listener stays off.
pub fn resolve(
    flag: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
    settings: &DaemonSettings,
) -> Result<Option<ListenConfig>, String> {
    let env_listen = env(LISTEN_ENV).filter(|v| !v.trim().is_empty());
    let (text, source) = match (flag, env_listen, &settings.http_listen) {
        (Some(f), _, _) => (f.to_string(), "--http"),
        (None, Some(e), _) => (e, LISTEN_ENV),
        (None, None, Some(m)) => (m.clone(), "[daemon] http_listen"),
        (None, None, None) => return Ok(None),
    };
    let addr = parse_addr(&text).map_err(|e| format!("{source}: {e}"))?;
    let token = match env(TOKEN_ENV).filter(|v| !v.is_empty()) {
        Some(t) => Some(checked_token(t.trim(), TOKEN_ENV)?),
        None => match &settings.admin_token_file {
            Some(path) => Some(read_token_file(path)?),
            None => None,
        },
    };
    if token.is_none() && !addr.ip().is_loopback() {
        return Err(format!(
            "refusing to serve HTTP on {addr} ({source}) without an admin token: anyone who can reach it could \
             read and steer this node; set `{TOKEN_ENV}` or `[daemon] admin_token_file`, or listen on 127.0.0.1"
        ));
    }
    Ok(Some(ListenConfig { addr, token, source }))
}

fn checked_token(t: &str, from: &str) -> Result<Token, String> {
    if t.chars().count() < MIN_TOKEN_CHARS {
        return Err(format!(
            "the admin token from {from} is shorter than {MIN_TOKEN_CHARS} characters; use a random one \
             (e.g. `openssl rand -hex 32`)"
        ));
    }
    if t.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
        return Err(format!("the admin token from {from} holds spaces or non-ASCII characters; use printable ASCII"));
    }
    Ok(Token(t.to_string()))
}

/// The file must be this user's and private: a token others can read is
/// no secret.
fn read_token_file(path: &Path) -> Result<Token, String> {
    use std::os::unix::fs::MetadataExt;
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read admin_token_file `{shown}`: {e}"))?;
    if !meta.is_file() {
        return Err(format!("admin_token_file `{shown}` is not a regular file"));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "admin_token_file `{shown}` can be read by other users (mode {:o}); run `chmod 600 {shown}`",
            meta.mode() & 0o777
        ));
    }
    if meta.uid() != crate::sys::euid() {
        return Err(format!("admin_token_file `{shown}` belongs to another user"));
    }
    if meta.len() > TOKEN_FILE_MAX {
        return Err(format!(
            "admin_token_file `{shown}` is larger than {TOKEN_FILE_MAX} bytes; it should hold one token"
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read admin_token_file `{shown}`: {e}"))?;
    checked_token(text.trim(), &format!("`{shown}`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(listen: Option<&str>, file: Option<&Path>) -> DaemonSettings {
        DaemonSettings {
            idle_timeout_secs: 0,
            matrix_ttl_secs: 60,
            http_listen: listen.map(Into::into),
            admin_token_file: file.map(Into::into),
        }
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_flag_beats_the_environment_which_beats_the_manifest() {
        let s = settings(Some("127.0.0.1:3"), None);
        let e = env(&[(LISTEN_ENV, "127.0.0.1:2")]);
        assert_eq!(resolve(Some("127.0.0.1:1"), &e, &s).unwrap().unwrap().addr.port(), 1);
        assert_eq!(resolve(None, &e, &s).unwrap().unwrap().addr.port(), 2);
        assert_eq!(resolve(None, env(&[]), &s).unwrap().unwrap().addr.port(), 3);
        assert!(resolve(None, env(&[]), &settings(None, None)).unwrap().is_none());
        assert_eq!(
            resolve(None, env(&[(LISTEN_ENV, "localhost:0")]), &s).unwrap().unwrap().addr.to_string(),
            "127.0.0.1:0"
        );
    }

    #[test]
    fn beyond_loopback_a_token_is_required_and_must_be_strong() {
        let s = settings(None, None);
        let e = resolve(Some("0.0.0.0:8091"), env(&[]), &s).unwrap_err();
        assert!(e.contains("without an admin token") && e.contains(TOKEN_ENV), "{e}");
        let short = resolve(Some("0.0.0.0:8091"), env(&[(TOKEN_ENV, "abc")]), &s).unwrap_err();
        assert!(short.contains("shorter than"), "{short}");
        assert!(!short.contains("abc"), "the token is never echoed: {short}");
        let ok = resolve(Some("0.0.0.0:8091"), env(&[(TOKEN_ENV, "0123456789abcdef0123")]), &s).unwrap().unwrap();
        assert!(ok.token.is_some());
        assert!(!format!("{ok:?}").contains("0123456789abcdef"), "Debug hides the token");
        assert!(resolve(Some("example.com:80"), env(&[]), &s).unwrap_err().contains("not an address"));
    }

    #[test]
    fn a_token_file_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "0123456789abcdef0123\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let s = settings(Some("0.0.0.0:1"), Some(&path));
        assert!(resolve(None, env(&[]), &s).unwrap_err().contains("chmod 600"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let cfg = resolve(None, env(&[]), &s).unwrap().unwrap();
        assert!(cfg.token.unwrap().matches(b"0123456789abcdef0123"));
    }

    #[test]
    fn token_comparison_needs_every_byte() {
        let t = Token("0123456789abcdef".into());
        assert!(t.matches(b"0123456789abcdef"));
        assert!(!t.matches(b"0123456789abcdeF"));
        assert!(!t.matches(b"0123456789abcde"));
        assert!(!t.matches(b"0123456789abcdef0"));
        assert!(!t.matches(b""));
    }
}
