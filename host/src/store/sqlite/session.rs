//! SQLite's side of the shared layer ([`crate::store::sql`]): a transaction's statements
//! on one of the store's connections, on a blocking thread. A SQLite call never waits on
//! anything but SQLite, so the shared procedures' futures are ready at every step, and
//! the blocking thread drives them to the end itself.

use super::SqliteStore;
use crate::model::{now, time_text};
use crate::policy::lease::expiry;
use crate::store::sql::{Backend, Cell, Locked, Param, RowLock, Session, StoredRow, Wait, Work};
use crate::store::{Fence, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use rusqlite::types::{Value, ValueRef};
use std::future::{Future, ready};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A transaction begun on a connection, rolled back unless committed (a failed step, or
/// a panic unwinding).
struct Begun<'c> {
    conn: &'c mut Connection,
}

impl<'c> Begun<'c> {
    /// `BEGIN IMMEDIATE` for writes: the file's write lock is taken at once, so the
    /// transaction never fails half-way to upgrade a read lock another writer waits on.
    /// `BEGIN` for reads: one snapshot for all the reads.
    fn begin(conn: &'c mut Connection, write: bool) -> Result<Self, StoreError> {
        conn.execute_batch(if write { "BEGIN IMMEDIATE" } else { "BEGIN" })?;
        Ok(Begun { conn })
    }

    fn commit(self) -> Result<(), StoreError> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }
}

impl Drop for Begun<'_> {
    fn drop(&mut self) {
        if !self.conn.is_autocommit() {
            // Nothing more can be done about a failed rollback: the connection's next
            // BEGIN reports the open transaction.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// One transaction on a SQLite connection.
pub(crate) struct SqliteSession<'c> {
    pub(super) conn: &'c mut Connection,
    /// How many calls wait for the writer's connection (none for a read).
    waiting: Option<&'c AtomicUsize>,
}

/// A row SQLite read, its values owned.
pub(crate) struct SqliteRow(Vec<Value>);

/// A value SQLite read, as the shared layer reads it.
fn cell_of(value: ValueRef<'_>, index: usize) -> Result<Cell, StoreError> {
    Ok(match value {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(v) => Cell::Int(v),
        ValueRef::Real(v) => Cell::Float(v),
        ValueRef::Text(v) => Cell::Text(
            std::str::from_utf8(v)
                .map_err(|e| StoreError::Corrupt {
                    what: format!("text in column {index}"),
                    detail: e.to_string(),
                })?
                .to_string(),
        ),
        ValueRef::Blob(v) => Cell::Bytes(v.to_vec()),
    })
}

impl StoredRow for SqliteRow {
    fn cell(&self, index: usize) -> Result<Cell, StoreError> {
        let value = self.0.get(index).ok_or_else(|| StoreError::Corrupt {
            what: "query answer".into(),
            detail: format!("no column {index}"),
        })?;
        cell_of(value.into(), index)
    }
}

/// A row of a listing, read where it lies.
impl StoredRow for rusqlite::Row<'_> {
    fn cell(&self, index: usize) -> Result<Cell, StoreError> {
        cell_of(self.get_ref(index)?, index)
    }
}

/// The statement's parameters as SQLite binds them; the clock is the machine's.
fn bound(params: &[Param]) -> Vec<Value> {
    let at = now();
    params
        .iter()
        .map(|p| match p {
            Param::Int(v) => Value::Integer(*v),
            Param::OptInt(v) => v.map_or(Value::Null, Value::Integer),
            Param::Bool(v) => Value::Integer(i64::from(*v)),
            Param::Text(v) => Value::Text(v.clone()),
            Param::OptText(v) => v.clone().map_or(Value::Null, Value::Text),
            Param::Time(t) => Value::Text(time_text(*t)),
            Param::Json(v) => Value::Text(v.to_string()),
            Param::OptJson(v) => v
                .as_ref()
                .map_or(Value::Null, |v| Value::Text(v.to_string())),
            Param::Bytes(v) => Value::Blob(v.clone()),
            Param::FromNow(d) => Value::Text(time_text(expiry(at, *d))),
            Param::NowMicros => Value::Integer(at.timestamp_micros()),
        })
        .collect()
}

impl SqliteSession<'_> {
    fn run(&mut self, sql: &str, params: &[Param]) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        Ok(stmt.execute(rusqlite::params_from_iter(bound(params)))? as u64)
    }

    fn rows(&mut self, sql: &str, params: &[Param]) -> Result<Vec<SqliteRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let columns = stmt.column_count();
        let rows = stmt.query_map(rusqlite::params_from_iter(bound(params)), |r| {
            (0..columns)
                .map(|i| r.get::<_, Value>(i))
                .collect::<Result<Vec<_>, _>>()
                .map(SqliteRow)
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl Session for SqliteSession<'_> {
    type Row = SqliteRow;

    fn others_waiting(&self) -> bool {
        self.waiting
            .is_some_and(|waiting| waiting.load(Ordering::SeqCst) > 0)
    }

    fn execute(
        &mut self,
        sql: &str,
        params: &[Param],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        ready(self.run(sql, params))
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Param],
    ) -> impl Future<Output = Result<Vec<SqliteRow>, StoreError>> + Send {
        ready(self.rows(sql, params))
    }

    fn lock_integration(
        &mut self,
        integration: i64,
        _wait: Wait,
    ) -> impl Future<Output = Result<Locked, StoreError>> + Send {
        // The transaction holds the file's one write lock already: no other taker can be
        // at it, so there is nothing to wait for or skip.
        let found = self.rows(
            "SELECT 1 FROM integrations WHERE id = ?1",
            &[Param::Int(integration)],
        );
        ready(found.map(|rows| match rows.is_empty() {
            true => Locked::Missing,
            false => Locked::Yes,
        }))
    }

    fn skip_locked(&self, select: &str, _alias: &str) -> String {
        // One writer at a time: nothing is locked by another claim.
        select.to_string()
    }

    fn row_lock(&self, _lock: RowLock) -> &'static str {
        ""
    }

    fn json_texts(&self, placeholder: &str) -> String {
        format!("SELECT value FROM json_each({placeholder})")
    }

    fn bookkeeping(
        &mut self,
        _lock_wait: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        ready(Ok(()))
    }

    fn check_fence(
        &mut self,
        integration: i64,
        fence: Fence,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        // The transaction is immediate, so no other process can take the lease between
        // this check and the commit.
        let held = self.rows(
            "SELECT 1 FROM leases WHERE integration_id = ?1 AND fence = ?2",
            &[Param::Int(integration), Param::Int(fence.0)],
        );
        ready(held.and_then(|rows| match rows.is_empty() {
            true => Err(StoreError::LeaseLost),
            false => Ok(()),
        }))
    }
}

impl SqliteStore {
    /// Runs `work` in one transaction on `conn`, committed when it succeeds.
    fn transact<R>(
        conn: &mut Connection,
        waiting: Option<&AtomicUsize>,
        work: Work<Self, R>,
    ) -> Result<R, StoreError> {
        let begun = Begun::begin(conn, waiting.is_some())?;
        let result = {
            let mut session = SqliteSession {
                conn: &mut *begun.conn,
                waiting,
            };
            futures_executor::block_on(work(&mut session))
        }?;
        begun.commit()?;
        Ok(result)
    }
}

impl Backend for SqliteStore {
    type Session<'c> = SqliteSession<'c>;

    fn clock(&self) -> impl Future<Output = Result<DateTime<Utc>, StoreError>> + Send {
        // An embedded store's clock is its machine's: no need to ask the file.
        ready(Ok(now()))
    }

    fn write<R: Send + 'static>(
        &self,
        work: Work<Self, R>,
    ) -> impl Future<Output = Result<R, StoreError>> + Send {
        let waiting = self.waiting.clone();
        self.call(move |conn| Self::transact(conn, Some(&waiting), work))
    }

    fn read<R: Send + 'static>(
        &self,
        work: Work<Self, R>,
    ) -> impl Future<Output = Result<R, StoreError>> + Send {
        Self::on(self.reader.clone(), move |conn| {
            Self::transact(conn, None, work)
        })
    }
}
