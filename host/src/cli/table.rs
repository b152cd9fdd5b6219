//! Tables that fit the terminal, and JSON output.

use comfy_table::{ColumnConstraint, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

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
