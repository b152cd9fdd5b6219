//! Tables that fit the terminal, JSON output, and text from sources and plugins made
//! safe to print.

use comfy_table::{ColumnConstraint, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use std::borrow::Cow;
use std::fmt::Write;

/// A table with a header, sized to the terminal.
pub fn new(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    if table.width().is_none() && !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        table.set_width(160);
    }
    // Ids are copied into other commands: never wrap them.
    if header.first() == Some(&"ID")
        && let Some(column) = table.column_mut(0)
    {
        column.set_constraint(ColumnConstraint::ContentWidth);
    }
    table
}

/// Prints a table, its text made [`safe`].
pub fn print(table: &Table) {
    println!("{}", safe(&table.to_string()));
}

/// `text` with every control character but newline and tab shown as `\u{…}`: titles,
/// errors and log lines come from sources and plugins, and an escape sequence in one
/// must not reach the operator's terminal (move the cursor, rewrite the screen, set the
/// window title).
pub fn safe(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            let _ = write!(shown, "\\u{{{:x}}}", c as u32);
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

/// Prints `rows` as a pretty JSON array.
pub fn print_json<T: serde::Serialize>(rows: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(rows)?);
    Ok(())
}

/// An optional value for a cell.
pub fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

/// A time for a cell, to the second.
pub fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An optional time for a cell.
pub fn opt_time(t: &Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.as_ref().map(time).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::safe;

    #[test]
    fn escape_sequences_are_shown_not_sent() {
        assert_eq!(safe("plain\ttext\nlines"), "plain\ttext\nlines");
        assert_eq!(
            safe("\u{1b}]0;owned\u{7}\u{1b}[2Jtitle\r\u{9b}"),
            "\\u{1b}]0;owned\\u{7}\\u{1b}[2Jtitle\\u{d}\\u{9b}"
        );
    }
}
