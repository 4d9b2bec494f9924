//! Pure checks on single manifest values, kept apart from the section rules
//! so they can be tested on their own.

use std::net::IpAddr;

/// Whether two runtimes listening on one port would collide. Host names
/// other than `localhost` are compared as written; `::` also takes IPv4.
pub(super) fn hosts_overlap(a: &str, b: &str) -> bool {
    let localhost =
        |name: &str, ip: IpAddr| name.eq_ignore_ascii_case("localhost") && (ip.is_loopback() || ip.is_unspecified());
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => {
            let covers = |w: IpAddr, o: IpAddr| w.is_unspecified() && (w.is_ipv6() || o.is_ipv4());
            x == y || covers(x, y) || covers(y, x)
        }
        (Ok(ip), Err(_)) => localhost(b, ip),
        (Err(_), Ok(ip)) => localhost(a, ip),
        (Err(_), Err(_)) => a.eq_ignore_ascii_case(b),
    }
}

pub fn valid_id(id: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    id.len() <= 64 && id.starts_with(alnum) && id.chars().all(|c| alnum(c) || ".-_".contains(c))
}

pub(super) fn valid_host(host: &str) -> bool {
    !host.is_empty() && !host.contains(|c: char| c.is_whitespace() || "/@?#[]".contains(c))
}

/// Rejects a `${` that does not form `${NAME}`, so the typo fails at load
/// rather than reaching the runtime as a literal argument.
pub(super) fn check_placeholders(arg: &str) -> Result<(), String> {
    let mut rest = arg;
    while let Some(at) = rest.find("${") {
        let after = &rest[at + 2..];
        let name = &after[..after.find('}').ok_or("unterminated `${`")?];
        let first_ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("invalid variable reference `${{{name}}}`"));
        }
        if crate::knobs::DAEMON_SECRETS.contains(&name) {
            return Err(format!(
                "`${{{name}}}` is the daemon's own secret and is never given to a runtime; pass the runtime its \
                 own credential instead"
            ));
        }
        rest = &after[name.len() + 1..];
    }
    Ok(())
}

pub(super) fn parse_endpoint(url: &str) -> Result<(String, u16), String> {
    let rest = url.strip_prefix("http://").ok_or(format!("endpoint `{url}` is not http://"))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#', '@']) {
        return Err(format!("endpoint `{url}` has a path, query or user part"));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once("]:").ok_or(format!("endpoint `{url}` has no port"))?,
        None => authority.rsplit_once(':').ok_or(format!("endpoint `{url}` has no port"))?,
    };
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("endpoint `{url}` has an invalid port")),
        Ok(_) if !valid_host(host) => Err(format!("endpoint `{url}` has an invalid host")),
        Ok(port) => Ok((host.to_owned(), port)),
    }
}
