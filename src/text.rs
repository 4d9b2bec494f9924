//! Untrusted text on its way to a terminal or into a message: runtime
//! stderr lines, ids and reasons echoed back, chat replies, daemon error
//! messages, a runtime's non-JSON answer. Control
//! characters are shown escaped (`\u{1b}`, `\0`, `\n`) instead of being
//! interpreted, and very long runs are cut with an ellipsis. JSON output
//! never goes through here: serde already escapes it exactly.

use std::borrow::Cow;

/// The longest run of non-space characters kept whole in a message.
const MAX_WORD: usize = 200;
/// The longest single line kept whole in a table cell.
pub const MAX_CELL: usize = 200;

/// Characters a terminal would act on instead of showing: C0, DEL, C1, and
/// the invisible formatting marks that reorder or hide text.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

fn escape(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) && !keep(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One line: every control character escaped, newlines included.
pub fn line(s: &str) -> Cow<'_, str> {
    escape(s, |_| false)
}

/// Free text such as a chat reply: newlines and tabs stay, everything else
/// a terminal would act on (escape sequences, carriage returns) is escaped.
pub fn text(s: &str) -> Cow<'_, str> {
    escape(s, |c| c == '\n' || c == '\t')
}

/// At most `max` characters, the last one an ellipsis when cut.
pub fn clip(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max.saturating_sub(1)) {
        Some((cut, _)) if s[cut..].chars().nth(1).is_some() => Cow::Owned(format!("{}…", &s[..cut])),
        _ => Cow::Borrowed(s),
    }
}

/// One escaped line of at most `max` characters, for quoting untrusted
/// values inside a message.
pub fn quote(s: &str, max: usize) -> String {
    clip(&line(s), max).into_owned()
}

/// A table cell line: escaped, then clipped to [`MAX_CELL`].
pub fn cell(s: &str) -> String {
    clip(&line(s), MAX_CELL).into_owned()
}

/// An error message: escaped as one line, and every run of non-space
/// characters longer than [`MAX_WORD`] cut in the middle, so a 10 000-char
/// id echoed back still leaves the message's start and end readable.
pub fn message(s: &str) -> String {
    let escaped = line(s);
    let mut out = String::with_capacity(escaped.len().min(4096));
    for (i, word) in escaped.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let n = word.chars().count();
        if n > MAX_WORD {
            let head: String = word.chars().take(MAX_WORD * 3 / 4).collect();
            let tail: String = word.chars().skip(n - MAX_WORD / 5).collect();
            out.push_str(&format!("{head}…{tail}"));
        } else {
            out.push_str(word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Escape sequences, NUL, CR and newlines become visible text.
    #[test]
    fn control_characters_are_escaped() {
        let hostile = "boom\x1b]0;pwned\x07\x1b[2J\0\r\nend";
        let got = line(hostile);
        assert!(!got.chars().any(|c| c.is_control()), "{got:?}");
        assert_eq!(got, "boom\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{0}\\r\\nend");
        assert_eq!(text("a\n\tb\x1b[2Jc\r"), "a\n\tb\\u{1b}[2Jc\\r");
        assert_eq!(line("\u{9b}31m\u{202e}"), "\\u{9b}31m\\u{202e}");
    }

    /// Plain text is returned as it is, without copying.
    #[test]
    fn plain_text_is_untouched() {
        assert!(matches!(line("port 8080 · ready ✓"), Cow::Borrowed(_)));
        assert!(matches!(clip("short", 10), Cow::Borrowed(_)));
    }

    /// Clipping counts characters, not bytes, and marks the cut.
    #[test]
    fn clip_marks_the_cut() {
        assert_eq!(clip("abcdef", 6), "abcdef");
        assert_eq!(clip("abcdefg", 6), "abcde…");
        assert_eq!(clip("ééééééé", 3), "éé…");
        assert_eq!(cell(&"x".repeat(10_000)).chars().count(), MAX_CELL);
    }

    /// A huge echoed id keeps the message's start and end.
    #[test]
    fn long_words_in_messages_are_cut_in_the_middle() {
        let id = "i".repeat(10_000);
        let got = message(&format!("no runtime with id `{id}`; known ids: a"));
        assert!(got.len() < 400, "{}", got.len());
        assert!(got.starts_with("no runtime with id `iii") && got.ends_with("iii`; known ids: a"), "{got}");
        assert!(got.contains('…'));
    }
}
