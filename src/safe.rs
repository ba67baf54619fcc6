//! Text that came from outside (account keys and names are chosen by whoever holds the public
//! PostHog project key) made safe for where it is written: a terminal, a CSV cell, a Markdown
//! note. Every text output of the front-ends and the Attio notes goes through these.

use std::borrow::Cow;
use std::fmt::Write;

/// True for characters that a terminal acts on instead of showing: C0 and C1 controls, DEL,
/// and the Unicode bidirectional overrides and isolates (which reorder what is shown around
/// them).
fn acts_on_terminal(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `\u001b`: readable in a terminal, and a valid JSON escape of the same character, so JSON
/// output escaped this way still decodes to the original text.
fn escape(c: char, out: &mut String) {
    let _ = write!(out, "\\u{:04x}", c as u32);
}

/// `s` with every character `act` picks shown as an escape; borrowed when there is none.
fn escaped(s: &str, act: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&act) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if act(c) {
            escape(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One line of text for a terminal: every control character, line breaks and tabs included, is
/// shown as an escape (`\u001b`, `\u000a`, `\u202e`) instead of being acted on. Text without any
/// is returned as it is.
pub fn line(s: &str) -> Cow<'_, str> {
    escaped(s, acts_on_terminal)
}

/// A message of several lines for a terminal (an error with its causes, a report): line breaks
/// stay, every other control character is escaped as in [`line`].
pub fn text(s: &str) -> Cow<'_, str> {
    escaped(s, |c| c != '\n' && acts_on_terminal(c))
}

/// A formatted log record for a terminal or a log file: like [`text`], except that ESC stays.
/// The log formatter (tracing-subscriber ≥ 0.3.20) already shows an ESC inside a message as
/// `\x1b`, so an ESC that reaches the writer is the formatter's own colour code; what it does
/// not escape (C1 controls such as CSI `\u{9b}`, carriage returns, bidirectional overrides)
/// is escaped here.
pub fn log(s: &str) -> Cow<'_, str> {
    escaped(s, |c| c != '\n' && c != '\x1b' && acts_on_terminal(c))
}

/// A CSV cell that a spreadsheet will not run: a cell that starts with `=`, `+`, `-`, `@`, a tab
/// or a carriage return (OWASP's list for formula injection) gets a leading `'`, unless it is a
/// plain number such as `-3` or `+1.5`. Control characters are escaped as in [`line`]. The CSV
/// writer still quotes the cell as needed.
pub fn csv_cell(s: &str) -> Cow<'_, str> {
    let risky = s.starts_with(['=', '+', '-', '@', '\t', '\r']) && s.parse::<f64>().is_err();
    match (risky, line(s)) {
        (false, cell) => cell,
        (true, cell) => Cow::Owned(format!("'{cell}")),
    }
}

/// Text set inline inside Markdown (an Attio note), never at the start of a line: characters
/// Markdown reads as inline syntax (emphasis, code, links, images, HTML, tables, strike-through,
/// entities) are backslash-escaped, and control characters escaped as in [`line`] (so a value
/// cannot start a line of its own and with it a heading or a list), so an account name shows as
/// written and cannot add links or formatting.
pub fn markdown(s: &str) -> Cow<'_, str> {
    const SYNTAX: &[char] = &['\\', '`', '*', '_', '[', ']', '<', '>', '|', '~', '&'];
    let shown = line(s);
    if !shown.contains(SYNTAX) {
        return shown;
    }
    let mut out = String::with_capacity(shown.len() + 8);
    for c in shown.chars() {
        if SYNTAX.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_keep_plain_text_and_show_controls() {
        assert!(matches!(line("acme.com – Äpfel 🍎"), Cow::Borrowed(_)));
        assert_eq!(
            line("a\x1b[31mred\x1b]0;title\x07"),
            "a\\u001b[31mred\\u001b]0;title\\u0007"
        );
        assert_eq!(
            line("two\nlines\tand\r"),
            "two\\u000alines\\u0009and\\u000d"
        );
        assert_eq!(line("\u{9b}2J \u{7f}"), "\\u009b2J \\u007f");
        assert_eq!(line("evil\u{202e}moc.emca"), "evil\\u202emoc.emca");
        assert_eq!(text("first\nsecond \x1b[2J"), "first\nsecond \\u001b[2J");
        assert_eq!(
            log("\x1b[33mWARN\x1b[0m key\r\u{9b}2J\u{202e}x\n"),
            "\x1b[33mWARN\x1b[0m key\\u000d\\u009b2J\\u202ex\n"
        );
        // The escapes are JSON's own: escaped JSON output still decodes to the original text.
        let json =
            serde_json::to_string(&serde_json::json!({"k": "a\u{9b}\u{202e}b\x1b"})).unwrap();
        let decoded: serde_json::Value = serde_json::from_str(&text(&json)).unwrap();
        assert_eq!(decoded["k"], "a\u{9b}\u{202e}b\x1b");
    }

    #[test]
    fn csv_cells_that_a_spreadsheet_would_run_are_neutralised() {
        for (cell, want) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+SUM(A1)", "'+SUM(A1)"),
            ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\\u0009x"),
            ("-3", "-3"),
            ("+1.5", "+1.5"),
            ("acme.com", "acme.com"),
            ("a=b", "a=b"),
        ] {
            assert_eq!(csv_cell(cell), want, "{cell:?}");
        }
    }

    #[test]
    fn markdown_shows_names_as_written() {
        assert_eq!(markdown("Acme Inc"), "Acme Inc");
        assert_eq!(
            markdown("jane.doe@acme.com - 1.5"),
            "jane.doe@acme.com - 1.5"
        );
        assert_eq!(
            markdown("[click](https://evil) **now**"),
            "\\[click\\](https://evil) \\*\\*now\\*\\*"
        );
        // The line break shows as `\u000a` (its backslash escaped too, so it renders as written).
        assert_eq!(markdown("# big\n- item"), "# big\\\\u000a- item");
        assert_eq!(markdown("<img src=x> AT&T"), "\\<img src=x\\> AT\\&T");
    }
}
