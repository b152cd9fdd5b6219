//! Issue 27's correctness check beside its speed targets: a faster build must store, for
//! the same tenant, byte for byte what the baseline build stored. Two SQLite stores are
//! compared row by row over the columns both schemas have, in key order; only what the
//! host makes up itself (its clock's times, its row ids) is left out.

use anyhow::{Context, bail};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// One table compared: its rows in `order`, minus the host's own columns.
struct Table {
    name: &'static str,
    order: &'static str,
    /// Times of the host's clock and row ids, which differ from run to run.
    host_columns: &'static [&'static str],
    /// Columns the key's row is read with, beyond the table's own (a foreign row id
    /// turned into what it stands for).
    joined: &'static [&'static str],
}

const TABLES: &[Table] = &[
    Table {
        name: "findings",
        order: "integration_id, source_id",
        host_columns: &["first_seen_at", "seen_in_run"],
        joined: &[],
    },
    Table {
        name: "assets",
        order: "integration_id, source_id",
        host_columns: &["first_seen_at", "inventory_id"],
        joined: &["(SELECT canonical_key FROM inventory i WHERE i.id = inventory_id)"],
    },
    Table {
        name: "inventory",
        order: "canonical_key",
        host_columns: &["id", "created_at", "updated_at"],
        joined: &[],
    },
];

/// Rows compared, per table.
#[derive(Debug, Default)]
pub struct Compared {
    pub findings: u64,
    pub assets: u64,
    pub inventory: u64,
}

/// Compares the store at `current` with the baseline's at `baseline`; fails at the first
/// row or value that differs, naming the table, the row's key and the column.
pub fn compare(baseline: &Path, current: &Path) -> anyhow::Result<Compared> {
    let open = |path: &Path| {
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("open {}", path.display()))
    };
    let (old, new) = (open(baseline)?, open(current)?);
    let mut compared = Compared::default();
    for table in TABLES {
        let rows = compare_table(&old, &new, table)?;
        match table.name {
            "findings" => compared.findings = rows,
            "assets" => compared.assets = rows,
            _ => compared.inventory = rows,
        }
    }
    Ok(compared)
}

fn columns(conn: &Connection, table: &str) -> anyhow::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(names)
}

fn compare_table(old: &Connection, new: &Connection, table: &Table) -> anyhow::Result<u64> {
    let current = columns(new, table.name)?;
    let mut compared: Vec<String> = columns(old, table.name)?
        .into_iter()
        .filter(|c| current.contains(c) && !table.host_columns.contains(&c.as_str()))
        .collect();
    if compared.is_empty() {
        bail!("{}: no column in common", table.name);
    }
    compared.extend(table.joined.iter().map(|c| c.to_string()));
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {}",
        compared.join(", "),
        table.name,
        table.order
    );
    let mut old_stmt = old.prepare(&sql)?;
    let mut new_stmt = new.prepare(&sql)?;
    let mut old_rows = old_stmt.query([])?;
    let mut new_rows = new_stmt.query([])?;
    let mut count = 0u64;
    loop {
        match (old_rows.next()?, new_rows.next()?) {
            (None, None) => return Ok(count),
            (Some(_), None) => bail!("{}: the baseline stored more than {count} rows", table.name),
            (None, Some(_)) => bail!("{}: the baseline stored only {count} rows", table.name),
            (Some(o), Some(n)) => {
                for (index, column) in compared.iter().enumerate() {
                    let (a, b): (Value, Value) = (o.get(index)?, n.get(index)?);
                    if a != b {
                        let key: (Value, Value) = (o.get(0)?, o.get(1)?);
                        bail!(
                            "{}: row {count} ({}, {}) differs in {column}: {} against the baseline's {}",
                            table.name,
                            shown(&key.0),
                            shown(&key.1),
                            shown(&b),
                            shown(&a)
                        );
                    }
                }
                count += 1;
            }
        }
    }
}

/// A value as an error message shows it: short, whatever its size.
fn shown(value: &Value) -> String {
    let text = match value {
        Value::Null => "NULL".to_string(),
        Value::Integer(n) => n.to_string(),
        Value::Real(x) => x.to_string(),
        Value::Text(t) => format!("{t:?}"),
        Value::Blob(b) => format!("{} bytes", b.len()),
    };
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path, name: &str, raw: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE findings (integration_id, source_id, raw, first_seen_at, content_hash);
             CREATE TABLE assets (integration_id, source_id, inventory_id, raw, first_seen_at);
             CREATE TABLE inventory (id, canonical_key, name, created_at, updated_at);
             INSERT INTO inventory VALUES (7, 'aws:x', 'x', '{name}', '{name}');
             INSERT INTO assets VALUES (1, 'a', 7, '{{}}', '{name}');
             INSERT INTO findings VALUES (1, 'f1', '{raw}', '{name}', X'01'), (1, 'f2', '{{}}', '{name}', X'02');"
        ))
        .unwrap();
        path
    }

    #[test]
    fn host_times_are_left_out_and_any_byte_of_a_record_counts() {
        let dir = tempfile::tempdir().unwrap();
        let baseline = store(dir.path(), "old.db", r#"{"a":1}"#);
        let same = store(dir.path(), "same.db", r#"{"a":1}"#);
        let compared = compare(&baseline, &same).unwrap();
        assert_eq!(
            (compared.findings, compared.assets, compared.inventory),
            (2, 1, 1)
        );
        let spaced = store(dir.path(), "spaced.db", r#"{"a": 1}"#);
        let error = compare(&baseline, &spaced).unwrap_err().to_string();
        assert!(
            error.contains("findings: row 0") && error.contains("in raw"),
            "{error}"
        );
    }
}
