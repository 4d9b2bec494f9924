//! Timestamps as the matrix and status print them: RFC 3339, UTC, milliseconds.

use std::time::SystemTime;

pub fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

/// "in 9m 58s" / "3s ago" relative to now, for tables.
pub fn relative(at: SystemTime, now: SystemTime) -> String {
    match at.duration_since(now) {
        Ok(ahead) => format!("in {}", short(ahead.as_secs())),
        Err(e) => format!("{} ago", short(e.duration().as_secs())),
    }
}

/// 75 → "1m 15s"; 3700 → "1h 1m".
pub fn short(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

/// Parses what [`rfc3339`] wrote.
pub fn parse(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Timestamps carry milliseconds and a Z, and read back.
    #[test]
    fn millis_and_round_trip() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_759_581_296_789);
        let s = rfc3339(at);
        assert_eq!(s, "2025-10-04T12:34:56.789Z");
        assert_eq!(parse(&s), Some(at));
        assert_eq!(short(75), "1m 15s");
    }
}
