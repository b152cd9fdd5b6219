//! The one layer both backends share. A statement is written once, with SQLite's
//! numbered placeholders (`?1`); its parameters say what they are ([`Param`]), including
//! the database's clock ([`Param::FromNow`]), and each backend's [`Session`] binds them
//! its own way. What the store does with the rows — the procedures, the row-to-model
//! mappings — is written once against [`Session`] and [`StoredRow`]; a backend keeps
//! only what truly differs: connecting, transactions, row locks, bulk writes, migrations.

use super::StoreError;
use super::ingest::BulkWrites;
use crate::model::parse_time;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use std::future::Future;
use std::time::Duration;

/// One parameter of a statement, as both backends bind it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    /// An integer (every integer column is 64-bit in both schemas).
    Int(i64),
    /// An integer or NULL.
    OptInt(Option<i64>),
    /// A flag: `BOOLEAN` in PostgreSQL, 0 or 1 in SQLite.
    Bool(bool),
    /// Text.
    Text(String),
    /// Text or NULL.
    OptText(Option<String>),
    /// A time: `timestamptz` in PostgreSQL, RFC 3339 text in SQLite.
    Time(DateTime<Utc>),
    /// JSON: `jsonb` in PostgreSQL, text in SQLite.
    Json(serde_json::Value),
    /// JSON or NULL.
    OptJson(Option<serde_json::Value>),
    /// Bytes: `bytea` in PostgreSQL, a blob in SQLite.
    Bytes(Vec<u8>),
    /// The database's clock now, plus this long. Expiries and due times are measured by
    /// it, never by a worker's clock: PostgreSQL reads `now()`, SQLite (one machine) the
    /// machine's clock.
    FromNow(Duration),
    /// The database's clock now, in microseconds since the epoch: for pacing, whose
    /// arithmetic both dialects do on integers.
    NowMicros,
}

impl Param {
    /// The database's clock now.
    pub(crate) const NOW: Param = Param::FromNow(Duration::ZERO);

    /// Text.
    pub(crate) fn text(s: impl Into<String>) -> Self {
        Param::Text(s.into())
    }

    /// A count, as stored.
    pub(crate) fn count(n: u64) -> Self {
        Param::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

/// One value read back, whichever backend stored it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    /// NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A flag (PostgreSQL; SQLite's are integers).
    Bool(bool),
    /// Text.
    Text(String),
    /// A time (PostgreSQL; SQLite's are text).
    Time(DateTime<Utc>),
    /// JSON (PostgreSQL; SQLite's is text).
    Json(serde_json::Value),
    /// Bytes.
    Bytes(Vec<u8>),
}

/// A row either backend read, with typed getters that accept each backend's way of
/// storing a type: the row mappings are written once against it.
pub(crate) trait StoredRow {
    /// The value in column `index`.
    fn cell(&self, index: usize) -> Result<Cell, StoreError>;

    /// An integer.
    fn int(&self, index: usize) -> Result<i64, StoreError> {
        match self.cell(index)? {
            Cell::Int(v) => Ok(v),
            other => Err(unexpected(index, "an integer", &other)),
        }
    }

    /// An integer or NULL.
    fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        match self.cell(index)? {
            Cell::Null => Ok(None),
            _ => self.int(index).map(Some),
        }
    }

    /// A count (a negative one reads as zero).
    fn count(&self, index: usize) -> Result<u64, StoreError> {
        Ok(u64::try_from(self.int(index)?).unwrap_or(0))
    }

    /// A flag.
    fn flag(&self, index: usize) -> Result<bool, StoreError> {
        match self.cell(index)? {
            Cell::Bool(v) => Ok(v),
            Cell::Int(v) => Ok(v != 0),
            other => Err(unexpected(index, "a flag", &other)),
        }
    }

    /// Bytes.
    fn bytes(&self, index: usize) -> Result<Vec<u8>, StoreError> {
        match self.cell(index)? {
            Cell::Bytes(v) => Ok(v),
            other => Err(unexpected(index, "bytes", &other)),
        }
    }

    /// A flag or NULL.
    fn opt_flag(&self, index: usize) -> Result<Option<bool>, StoreError> {
        match self.cell(index)? {
            Cell::Null => Ok(None),
            _ => self.flag(index).map(Some),
        }
    }

    /// Text.
    fn text(&self, index: usize) -> Result<String, StoreError> {
        match self.cell(index)? {
            Cell::Text(v) => Ok(v),
            other => Err(unexpected(index, "text", &other)),
        }
    }

    /// Text or NULL.
    fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError> {
        match self.cell(index)? {
            Cell::Null => Ok(None),
            _ => self.text(index).map(Some),
        }
    }

    /// A time.
    fn time(&self, index: usize) -> Result<DateTime<Utc>, StoreError> {
        match self.cell(index)? {
            Cell::Time(t) => Ok(t),
            Cell::Text(s) => parse_time(&s).ok_or_else(|| StoreError::Corrupt {
                what: format!("time in column {index}"),
                detail: format!("`{s}` is not an RFC 3339 time"),
            }),
            other => Err(unexpected(index, "a time", &other)),
        }
    }

    /// A time or NULL.
    fn opt_time(&self, index: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
        match self.cell(index)? {
            Cell::Null => Ok(None),
            _ => self.time(index).map(Some),
        }
    }

    /// A stored enumerated name, parsed.
    fn parsed<T: std::str::FromStr>(&self, index: usize) -> Result<T, StoreError>
    where
        T::Err: std::fmt::Display,
    {
        let text = self.text(index)?;
        text.parse().map_err(|e: T::Err| StoreError::Corrupt {
            what: format!("name in column {index}"),
            detail: e.to_string(),
        })
    }

    /// Stored JSON, read into its type; `what` names it in an error.
    fn json<T: serde::de::DeserializeOwned>(
        &self,
        index: usize,
        what: &str,
    ) -> Result<T, StoreError> {
        let corrupt = |e: serde_json::Error| StoreError::Corrupt {
            what: what.to_string(),
            detail: e.to_string(),
        };
        match self.cell(index)? {
            Cell::Json(v) => serde_json::from_value(v).map_err(corrupt),
            Cell::Text(s) => serde_json::from_str(&s).map_err(corrupt),
            other => Err(unexpected(index, "JSON", &other)),
        }
    }

    /// Stored JSON or NULL.
    fn opt_json<T: serde::de::DeserializeOwned>(
        &self,
        index: usize,
        what: &str,
    ) -> Result<Option<T>, StoreError> {
        match self.cell(index)? {
            Cell::Null => Ok(None),
            _ => self.json(index, what).map(Some),
        }
    }
}

/// A value of another type than the column's reader expects. Only the type is named:
/// the value may be anything a plugin sent.
fn unexpected(index: usize, wanted: &str, found: &Cell) -> StoreError {
    let found = match found {
        Cell::Null => "NULL",
        Cell::Int(_) => "an integer",
        Cell::Float(_) => "a float",
        Cell::Bool(_) => "a flag",
        Cell::Text(_) => "text",
        Cell::Time(_) => "a time",
        Cell::Json(_) => "JSON",
        Cell::Bytes(_) => "bytes",
    };
    StoreError::Corrupt {
        what: format!("column {index}"),
        detail: format!("expected {wanted}, found {found}"),
    }
}

/// Whether taking a lease waits for another taker of the same integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Wait: one asked for this integration.
    Block,
    /// Pass it by: a claim takes whatever is free.
    Skip,
}

/// A row lock a statement takes on what it reads, until its transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowLock {
    /// For a change or removal of the rows.
    Update,
    /// So that no one changes or removes them meanwhile.
    Share,
}

/// What locking an integration's row for a lease found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locked {
    /// Locked: this transaction may take its lease.
    Yes,
    /// Another transaction is taking it (only with [`Wait::Skip`]).
    Busy,
    /// No such integration.
    Missing,
}

/// One transaction on either backend. The futures are `Send` so that the procedures
/// written once over it run in any async context.
pub(crate) trait Session: Send {
    /// A row it reads.
    type Row: StoredRow + Send;

    /// Runs a statement; the rows it changed.
    fn execute(
        &mut self,
        sql: &str,
        params: &[Param],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Runs a query; its rows.
    fn query(
        &mut self,
        sql: &str,
        params: &[Param],
    ) -> impl Future<Output = Result<Vec<Self::Row>, StoreError>> + Send;

    /// Serialises the lease takers of one integration, whether its lease row exists or
    /// not: PostgreSQL locks the integration's row, SQLite already holds the one write
    /// lock of the file.
    fn lock_integration(
        &mut self,
        integration: i64,
        wait: Wait,
    ) -> impl Future<Output = Result<Locked, StoreError>> + Send;

    /// `select` (a query over `alias`'s rows) with the row locks a claim takes: rows that
    /// another worker's claim locked are skipped, never waited for. SQLite has one writer
    /// at a time, and needs none.
    fn skip_locked(&self, select: &str, alias: &str) -> String;

    /// The clause that ends a query to take `lock` on the rows it reads (PostgreSQL);
    /// nothing on SQLite, whose write transaction holds the file's one write lock.
    fn row_lock(&self, lock: RowLock) -> &'static str;

    /// Marks the transaction as bookkeeping whose loss in a crash is harmless and which
    /// must not wait long on another's row lock: PostgreSQL commits it without waiting
    /// for the disk and gives up on a lock after `lock_wait`; SQLite's busy timeout
    /// already bounds its waits.
    fn bookkeeping(
        &mut self,
        lock_wait: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A select list of the texts of the JSON array bound at `placeholder` (`?3`), for
    /// `IN (…)`.
    fn json_texts(&self, placeholder: &str) -> String;

    /// Refuses a write of the run whose lease was taken over: `Ok` while the
    /// integration's lease has `fence`, which stays so until the transaction ends.
    fn check_fence(
        &mut self,
        integration: i64,
        fence: super::Fence,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether another transaction waits for what this one holds: SQLite's one writer
    /// connection, or a connection of PostgreSQL's pool. A group then takes only the
    /// writes its run has already queued, and waits for no more.
    fn others_waiting(&self) -> bool;

    /// The first row of a query, if any.
    fn query_opt(
        &mut self,
        sql: &str,
        params: &[Param],
    ) -> impl Future<Output = Result<Option<Self::Row>, StoreError>> + Send {
        async move { Ok(self.query(sql, params).await?.into_iter().next()) }
    }

    /// The one row a query answers.
    fn query_one(
        &mut self,
        sql: &str,
        params: &[Param],
    ) -> impl Future<Output = Result<Self::Row, StoreError>> + Send {
        async move {
            self.query_opt(sql, params)
                .await?
                .ok_or_else(|| StoreError::Corrupt {
                    what: "query answer".into(),
                    detail: "no row where one was expected".into(),
                })
        }
    }
}

/// Work for one transaction of backend `B`: it borrows the session for the future it
/// returns.
pub(crate) type Work<B, R> = Box<
    dyn for<'s> FnOnce(&'s mut <B as Backend>::Session<'s>) -> BoxFuture<'s, Result<R, StoreError>>
        + Send,
>;

/// A backend as the shared layer sees it: where a transaction's work runs.
pub(crate) trait Backend: Send + Sync + 'static {
    /// A transaction on it.
    type Session<'c>: BulkWrites;

    /// Runs `work` in one write transaction, committed when it succeeds.
    fn write<R: Send + 'static>(
        &self,
        work: Work<Self, R>,
    ) -> impl Future<Output = Result<R, StoreError>> + Send;

    /// Runs `work` in one read-only transaction, on the connections kept for reads.
    fn read<R: Send + 'static>(
        &self,
        work: Work<Self, R>,
    ) -> impl Future<Output = Result<R, StoreError>> + Send;

    /// The database's clock: what every due time is compared with.
    fn clock(&self) -> impl Future<Output = Result<DateTime<Utc>, StoreError>> + Send {
        self.read(Box::new(|s| Box::pin(clock(s))))
    }

    /// Runs one statement in a write transaction of its own; the rows it changed.
    fn write_one(
        &self,
        sql: &'static str,
        params: Vec<Param>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        self.write(Box::new(move |s| {
            Box::pin(async move { s.execute(sql, &params).await })
        }))
    }

    /// Told when a run ended, after its history row was closed (or refused): the upkeep
    /// a backend does then. `findings_written` is how many findings the run wrote.
    fn run_ended(
        &self,
        _fence: Option<super::Fence>,
        _findings_written: u64,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// The database's clock, as a session reads it.
pub(crate) async fn clock<S: Session>(s: &mut S) -> Result<DateTime<Utc>, StoreError> {
    s.query_one("SELECT ?1", &[Param::NOW]).await?.time(0)
}

/// A piece of a statement's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// Text as written.
    Text(&'a str),
    /// The numbered placeholder `?n`.
    Placeholder(usize),
}

/// A statement cut at its numbered placeholders (`?1`), for a backend that writes them
/// its own way. A question mark not followed by a number stays text.
pub(crate) fn pieces(sql: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut rest = sql;
    while let Some(at) = rest.find('?') {
        let digits = rest[at + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        match rest[at + 1..at + 1 + digits].parse::<usize>() {
            Ok(n) => {
                pieces.push(Piece::Text(&rest[..at]));
                pieces.push(Piece::Placeholder(n));
            }
            Err(_) => pieces.push(Piece::Text(&rest[..at + 1])),
        }
        rest = &rest[at + 1 + digits..];
    }
    pieces.push(Piece::Text(rest));
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row of given cells.
    struct Cells(Vec<Cell>);

    impl StoredRow for Cells {
        fn cell(&self, index: usize) -> Result<Cell, StoreError> {
            Ok(self.0[index].clone())
        }
    }

    #[test]
    fn each_backends_way_of_storing_a_type_reads_alike_and_a_mismatch_names_no_value() {
        let row = Cells(vec![
            Cell::Int(1),
            Cell::Bool(true),
            Cell::Text("2030-01-01T01:15:00Z".into()),
            Cell::Time(parse_time("2030-01-01T01:15:00Z").unwrap()),
            Cell::Text(r#"["a"]"#.into()),
            Cell::Json(serde_json::json!(["a"])),
            Cell::Null,
            Cell::Text("client-secret-value".into()),
        ]);
        assert!(row.flag(0).unwrap() && row.flag(1).unwrap());
        assert_eq!(row.time(2).unwrap(), row.time(3).unwrap());
        let (text, json): (Vec<String>, Vec<String>) =
            (row.json(4, "list").unwrap(), row.json(5, "list").unwrap());
        assert_eq!(text, json);
        assert_eq!(row.opt_text(6).unwrap(), None);
        let mismatch = row.int(7).unwrap_err().to_string();
        assert!(
            mismatch.contains("expected an integer, found text")
                && !mismatch.contains("client-secret-value"),
            "{mismatch}"
        );
    }

    #[test]
    fn placeholders_are_found_with_their_numbers_and_other_question_marks_kept() {
        use Piece::{Placeholder as P, Text as T};
        assert_eq!(
            pieces("a = ?1 AND b = ?12 OR c ? d ?2"),
            vec![
                T("a = "),
                P(1),
                T(" AND b = "),
                P(12),
                T(" OR c ?"),
                T(" d "),
                P(2),
                T("")
            ]
        );
    }
}
