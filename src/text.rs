//! Untrusted text made safe to echo: ids, values and lines that came from a
//! command line, a manifest or a runtime's log end up in messages, and must
//! neither flood a terminal nor drive it with escape sequences.

/// `s` with control characters shown as `\u{..}` escapes and cut to at most
/// `max` characters (an ellipsis marks the cut).
pub fn clip(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    /// Escapes and newlines never pass through; long values are cut.
    #[test]
    fn clip_escapes_and_cuts() {
        assert_eq!(super::clip("a\u{1b}]0;x\u{7}\nb", 100), "a\\u{1b}]0;x\\u{7}\\u{a}b");
        assert_eq!(super::clip(&"x".repeat(50), 10), format!("{}…", "x".repeat(10)));
        assert_eq!(super::clip("plain", 10), "plain");
    }
}
