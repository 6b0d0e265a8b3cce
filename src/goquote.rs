//! Go's quoting of strings and runes, by the rules of its `strconv`
//! package (`Quote`, `QuoteToASCII`, `QuoteRune`, `CanBackquote`,
//! `IsPrint`): how Docker's messages (`%q`, `strconv.NumError`) and
//! templates (`printf "%q"`, `%#v`, `%#U`, `js`) show text. Pure.
//!
//! A character that prints stays as it is; `"` (or `'` in a rune) and `\`
//! get a backslash; the rest are `\a \b \f \n \r \t \v`, `\xNN` for other
//! ASCII controls, `\uNNNN` or `\UNNNNNNNN` above. A byte that is not part
//! of valid UTF-8 is `\xNN` on its own, as Go shows a string holding it.
//! Whether a character prints is Go's `unicode.IsPrint`: a letter, mark,
//! number, punctuation or symbol, or the ASCII space. The categories are
//! the regex crate's Unicode tables, which may be newer than the Go that
//! built Docker: a character Unicode assigned since then prints here and
//! is escaped there.

use std::fmt::Write;
use std::sync::LazyLock;

use regex::Regex;

/// A character, or a byte that is not UTF-8: what Go's `range` over a
/// string yields.
pub type Unit = Result<char, u8>;

/// The general categories that print. Should the pattern not compile, no
/// character outside ASCII prints: everything is escaped, nothing hidden.
static PRINTS: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[\p{L}\p{M}\p{N}\p{P}\p{S}]$").ok());

/// Go's `strconv.IsPrint` (the same as `unicode.IsPrint`).
pub fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    PRINTS
        .as_ref()
        .is_some_and(|re| re.is_match(c.encode_utf8(&mut [0; 4])))
}

/// The units of `b`, in order, as Go ranges over a string.
pub fn units(b: &[u8]) -> impl Iterator<Item = Unit> + '_ {
    b.utf8_chunks().flat_map(|chunk| {
        let bad = chunk.invalid().iter().map(|&b| Err(b));
        chunk.valid().chars().map(Ok).chain(bad)
    })
}

/// Go's `strconv.Quote`.
pub fn quote(s: &str) -> String {
    quote_units(s.chars().map(Ok))
}

/// Go's `strconv.QuoteToASCII` (`%+q`): every character outside printable
/// ASCII escaped.
pub fn quote_ascii(s: &str) -> String {
    quoted(s.chars().map(Ok), '"', true)
}

/// Go's `strconv.Quote` of a string given as its units (a string holding
/// any bytes: `quote_units(units(b))`).
pub fn quote_units(u: impl IntoIterator<Item = Unit>) -> String {
    quoted(u, '"', false)
}

/// Go's `strconv.QuoteRune`, or `QuoteRuneToASCII` with `ascii_only`.
pub fn quote_rune(c: char, ascii_only: bool) -> String {
    quoted([Ok(c)], '\'', ascii_only)
}

/// Go's `strconv.CanBackquote` (`%#q`): the string stands unchanged in a
/// raw string literal. Any character of more than one byte may, but the
/// invisible byte order mark.
pub fn can_backquote(s: &str) -> bool {
    !s.chars()
        .any(|c| c == '`' || c == '\u{feff}' || c == '\x7f' || (c < ' ' && c != '\t'))
}

fn quoted(u: impl IntoIterator<Item = Unit>, quote: char, ascii_only: bool) -> String {
    let mut out = String::new();
    out.push(quote);
    for unit in u {
        match unit {
            Ok(c) => escape(&mut out, c, quote, ascii_only),
            Err(b) => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push(quote);
    out
}

fn escape(out: &mut String, c: char, quote: char, ascii_only: bool) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if is_print(c) && (c.is_ascii() || !ascii_only) {
        out.push(c);
        return;
    }
    let u = u32::from(c);
    let _ = match c {
        '\x07' => out.write_str("\\a"),
        '\x08' => out.write_str("\\b"),
        '\x0c' => out.write_str("\\f"),
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        '\x0b' => out.write_str("\\v"),
        // What ASCII is left is a control character.
        _ if c.is_ascii() => write!(out, "\\x{u:02x}"),
        _ => match u16::try_from(u) {
            Ok(w) => write!(out, "\\u{w:04x}"),
            Err(_) => write!(out, "\\U{u:08x}"),
        },
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_go() {
        assert_eq!(quote(""), r#""""#);
        assert_eq!(quote("a\"b\\c'"), r#""a\"b\\c'""#);
        assert_eq!(
            quote("\x07\x08\x0c\n\r\t\x0b\x00\x01\x1f\x7f"),
            r#""\a\b\f\n\r\t\v\x00\x01\x1f\x7f""#
        );
        assert_eq!(quote(" ~é ok€"), "\" ~é ok€\"");
        assert_eq!(
            quote("\u{80}\u{85}\u{9f}\u{a0}\u{200b}\u{feff}\u{ad}\u{2028}\u{3000}"),
            r#""\u0080\u0085\u009f\u00a0\u200b\ufeff\u00ad\u2028\u3000""#
        );
        assert_eq!(quote("\u{e0001}"), r#""\U000e0001""#);
        assert_eq!(quote("\u{e000}\u{10fffd}"), r#""\ue000\U0010fffd""#);
        assert_eq!(quote("\u{1f600}\u{10000}"), "\"\u{1f600}\u{10000}\"");
        // Noncharacters, at the edge of the 16-bit escapes and beyond.
        assert_eq!(
            quote("\u{ffff}\u{fffe}\u{fdd0}\u{fdef}\u{1ffff}\u{10ffff}\u{fffd}\u{fdcf}\u{fdf0}"),
            "\"\\uffff\\ufffe\\ufdd0\\ufdef\\U0001ffff\\U0010ffff\u{fffd}\u{fdcf}\u{fdf0}\""
        );
    }

    /// The cases the modules that quoted for themselves held.
    #[test]
    fn former_cases() {
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(
            quote("\x07\x08\x0c\n\r\t\x0b\x01\x7f"),
            r#""\a\b\f\n\r\t\v\x01\x7f""#
        );
        assert_eq!(quote("é ok"), "\"é ok\"");
        assert_eq!(
            quote("\u{a0}\u{85}\u{200b}\u{feff}\u{ad}"),
            r#""\u00a0\u0085\u200b\ufeff\u00ad""#
        );
        assert_eq!(
            quote(
                "a\"\\\x07\x08\x0c\n\r\t\x0b\x00\x1f\x7f é\u{85}\u{a0}\u{ad}\u{e000}\u{10fffd}\u{e0001}\u{1f600}"
            ),
            "\"a\\\"\\\\\\a\\b\\f\\n\\r\\t\\v\\x00\\x1f\\x7f é\\u0085\\u00a0\\u00ad\\ue000\\U0010fffd\\U000e0001\u{1f600}\""
        );
        assert_eq!(
            quote(
                "\u{ffff}\u{fffe}\u{fdd0}\u{fdef}\u{1ffff}\u{10ffff}\u{fffd}\u{fdcf}\u{fdf0}\u{10000}"
            ),
            "\"\\uffff\\ufffe\\ufdd0\\ufdef\\U0001ffff\\U0010ffff\u{fffd}\u{fdcf}\u{fdf0}\u{10000}\""
        );
    }

    fn quote_bytes(b: &[u8]) -> String {
        quote_units(units(b))
    }

    #[test]
    fn bytes_that_are_not_utf8_stand_alone() {
        assert_eq!(
            quote_bytes("a\u{1}b\"\\é\t".as_bytes()),
            "\"a\\x01b\\\"\\\\é\\t\""
        );
        assert_eq!(
            quote_bytes(b"caf\xe9 \xff\xfe\xc3"),
            r#""caf\xe9 \xff\xfe\xc3""#
        );
        // A cut sequence, then a whole one; a surrogate's bytes.
        assert_eq!(
            quote_bytes(b"\xe2\x82x\xe2\x82\xac\xed\xa0\x80"),
            "\"\\xe2\\x82x€\\xed\\xa0\\x80\""
        );
        assert_eq!(
            units(b"a\xffb").collect::<Vec<_>>(),
            [Ok('a'), Err(0xff), Ok('b')]
        );
        assert_eq!(quote_units([Ok('\u{85}'), Err(0x80)]), r#""\u0085\x80""#);
    }

    #[test]
    fn ascii_only_and_runes() {
        assert_eq!(
            quote_ascii("a é\u{1f600}\n\""),
            r#""a \u00e9\U0001f600\n\"""#
        );
        assert_eq!(quote_ascii("~"), "\"~\"");
        assert_eq!(quote_rune('\'', false), r"'\''");
        assert_eq!(quote_rune('"', false), "'\"'");
        assert_eq!(quote_rune('\\', true), r"'\\'");
        assert_eq!(quote_rune('é', false), "'é'");
        assert_eq!(quote_rune('é', true), r"'\u00e9'");
        assert_eq!(quote_rune('\u{7f}', false), r"'\x7f'");
        assert_eq!(quote("'"), "\"'\"");
    }

    #[test]
    fn backquote() {
        for s in ["", "a b", "\t", "é\u{85}\u{a0}\u{1f600}", "\"\\'"] {
            assert!(can_backquote(s), "{s:?}");
        }
        for s in ["`", "a\u{feff}", "\x7f", "\x01", "\n", "\x1f"] {
            assert!(!can_backquote(s), "{s:?}");
        }
    }

    #[test]
    fn printing_is_unicode_categories() {
        for c in [
            ' ',
            '~',
            'a',
            '0',
            'é',
            '€',
            '\u{1f600}',
            '\u{fffd}',
            '\u{fffc}',
        ] {
            assert!(is_print(c), "{c:?}");
        }
        // Marks, numbers, punctuation and symbols outside ASCII.
        for c in [
            '\u{301}',
            '\u{e0100}',
            '\u{2070}',
            '\u{1d17b}',
            '«',
            '\u{f900}',
        ] {
            assert!(is_print(c), "{c:?}");
        }
        // Controls, spaces, separators, format and private-use
        // characters, noncharacters and unassigned code points.
        for c in [
            '\x00',
            '\x1f',
            '\x7f',
            '\u{80}',
            '\u{9f}',
            '\u{a0}',
            '\u{ad}',
            '\u{600}',
            '\u{605}',
            '\u{61c}',
            '\u{6dd}',
            '\u{70f}',
            '\u{8e2}',
            '\u{1680}',
            '\u{180e}',
            '\u{200b}',
            '\u{200f}',
            '\u{202a}',
            '\u{202e}',
            '\u{202f}',
            '\u{205f}',
            '\u{2060}',
            '\u{2064}',
            '\u{2065}',
            '\u{2066}',
            '\u{206f}',
            '\u{feff}',
            '\u{fff9}',
            '\u{fffb}',
            '\u{110bd}',
            '\u{110cd}',
            '\u{13430}',
            '\u{1bca0}',
            '\u{1d173}',
            '\u{1d17a}',
            '\u{e0001}',
            '\u{e0020}',
            '\u{e007f}',
            '\u{e0080}',
            '\u{e000}',
            '\u{f8ff}',
            '\u{f0000}',
            '\u{ffffd}',
            '\u{100000}',
            '\u{2028}',
            '\u{2029}',
            '\u{3000}',
            '\u{378}',
            '\u{fdd0}',
            '\u{ffff}',
        ] {
            assert!(!is_print(c), "{c:?}");
        }
    }
}
