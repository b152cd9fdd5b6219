//! PostgreSQL's side of the shared layer ([`crate::store::sql`]): a transaction on a
//! pooled connection, statements written with `$n`, the clock read as `now()`, and the
//! row locks that let workers claim at once without waiting on each other.

use super::PostgresStore;
use super::upkeep::LARGE_WRITE;
use crate::store::sql::{
    Backend, Cell, Locked, Param, Piece, RowLock, Session, StoredRow, Wait, Work, pieces,
};
use crate::store::{Fence, StoreError};
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use std::fmt::Write;
use std::future::Future;
use std::time::Duration;
use tokio_postgres::types::{ToSql, Type};

/// One transaction on a PostgreSQL connection.
pub(crate) struct PgSession<'c> {
    pub(super) tx: &'c Transaction<'c>,
    store: &'c PostgresStore,
}

/// A statement in PostgreSQL's terms, ready to bind.
struct Rendered<'p> {
    sql: String,
    params: Vec<&'p (dyn ToSql + Sync)>,
}

/// Rewrites `sql`'s placeholders as `$n`, numbered by first use, and the clock as
/// `now()`: `?n` for [`Param::FromNow`] of zero is `now()` itself, binding nothing, and
/// of a duration `now()` plus its milliseconds.
fn render<'p>(
    sql: &str,
    params: &'p [Param],
    millis: &'p [f64],
) -> Result<Rendered<'p>, StoreError> {
    let mut out = Rendered {
        sql: String::with_capacity(sql.len() + 16),
        params: Vec::with_capacity(params.len()),
    };
    // Each placeholder's `$n`, once written.
    let mut numbered: Vec<Option<usize>> = vec![None; params.len()];
    for piece in pieces(sql) {
        let n = match piece {
            Piece::Text(text) => {
                out.sql.push_str(text);
                continue;
            }
            Piece::Placeholder(n) => n,
        };
        let Some(param) = n.checked_sub(1).and_then(|i| params.get(i)) else {
            return Err(StoreError::Corrupt {
                what: "statement".into(),
                detail: format!("placeholder ?{n} has no parameter (of {})", params.len()),
            });
        };
        // The clock is written as SQL; a later time binds only its milliseconds.
        let bound: &'p (dyn ToSql + Sync) = match param {
            Param::FromNow(d) if d.is_zero() => {
                out.sql.push_str("now()");
                continue;
            }
            Param::NowMicros => {
                out.sql
                    .push_str("(extract(epoch FROM now()) * 1000000)::bigint");
                continue;
            }
            Param::FromNow(_) => &millis[n - 1],
            Param::Int(v) => v,
            Param::OptInt(v) => v,
            Param::Bool(v) => v,
            Param::Text(v) => v,
            Param::OptText(v) => v,
            Param::Time(v) => v,
            Param::Json(v) => v,
            Param::OptJson(v) => v,
            Param::Bytes(v) => v,
        };
        let dollar = *numbered[n - 1].get_or_insert_with(|| {
            out.params.push(bound);
            out.params.len()
        });
        let _ = match param {
            Param::FromNow(_) => write!(out.sql, "(now() + ${dollar} * interval '1 millisecond')"),
            _ => write!(out.sql, "${dollar}"),
        };
    }
    Ok(out)
}

/// The milliseconds of each [`Param::FromNow`], where the bound values can borrow them.
fn millis(params: &[Param]) -> Vec<f64> {
    params
        .iter()
        .map(|p| match p {
            Param::FromNow(d) => d.as_millis() as f64,
            _ => 0.0,
        })
        .collect()
}

impl StoredRow for tokio_postgres::Row {
    fn cell(&self, index: usize) -> Result<Cell, StoreError> {
        let Some(column) = self.columns().get(index) else {
            return Err(StoreError::Corrupt {
                what: "query answer".into(),
                detail: format!("no column {index}"),
            });
        };
        let cell = |v: Option<Cell>| v.unwrap_or(Cell::Null);
        Ok(match *column.type_() {
            Type::INT8 => cell(self.try_get::<_, Option<i64>>(index)?.map(Cell::Int)),
            Type::INT4 => cell(
                self.try_get::<_, Option<i32>>(index)?
                    .map(|v| Cell::Int(v.into())),
            ),
            Type::INT2 => cell(
                self.try_get::<_, Option<i16>>(index)?
                    .map(|v| Cell::Int(v.into())),
            ),
            Type::FLOAT8 => cell(self.try_get::<_, Option<f64>>(index)?.map(Cell::Float)),
            Type::FLOAT4 => cell(
                self.try_get::<_, Option<f32>>(index)?
                    .map(|v| Cell::Float(v.into())),
            ),
            Type::BOOL => cell(self.try_get::<_, Option<bool>>(index)?.map(Cell::Bool)),
            Type::TIMESTAMPTZ => cell(
                self.try_get::<_, Option<DateTime<Utc>>>(index)?
                    .map(Cell::Time),
            ),
            Type::JSONB | Type::JSON => cell(
                self.try_get::<_, Option<serde_json::Value>>(index)?
                    .map(Cell::Json),
            ),
            Type::BYTEA => cell(self.try_get::<_, Option<Vec<u8>>>(index)?.map(Cell::Bytes)),
            _ => cell(self.try_get::<_, Option<String>>(index)?.map(Cell::Text)),
        })
    }
}

impl Session for PgSession<'_> {
    type Row = tokio_postgres::Row;

    fn others_waiting(&self) -> bool {
        self.store.pool.status().waiting > 0
    }

    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<u64, StoreError> {
        let millis = millis(params);
        let stmt = render(sql, params, &millis)?;
        let prepared = self.tx.prepare_cached(&stmt.sql).await?;
        Ok(self.tx.execute(&prepared, &stmt.params).await?)
    }

    async fn query(
        &mut self,
        sql: &str,
        params: &[Param],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let millis = millis(params);
        let stmt = render(sql, params, &millis)?;
        let prepared = self.tx.prepare_cached(&stmt.sql).await?;
        Ok(self.tx.query(&prepared, &stmt.params).await?)
    }

    fn lock_integration(
        &mut self,
        integration: i64,
        wait: Wait,
    ) -> impl Future<Output = Result<Locked, StoreError>> + Send {
        // Not FOR UPDATE: a writer holding the lease row share-locked needs a key share
        // on this row for its foreign keys, and would wait on us while we wait on it.
        let lock = match wait {
            Wait::Block => "SELECT 1 FROM integrations WHERE id = $1 FOR NO KEY UPDATE",
            Wait::Skip => "SELECT 1 FROM integrations WHERE id = $1 FOR NO KEY UPDATE SKIP LOCKED",
        };
        async move {
            if self.tx.query_opt(lock, &[&integration]).await?.is_some() {
                return Ok(Locked::Yes);
            }
            // Skipped, or missing: a claim names only integrations that exist.
            Ok(match wait {
                Wait::Block => Locked::Missing,
                Wait::Skip => Locked::Busy,
            })
        }
    }

    fn skip_locked(&self, select: &str, alias: &str) -> String {
        format!("{select} FOR UPDATE OF {alias} SKIP LOCKED")
    }

    fn row_lock(&self, lock: RowLock) -> &'static str {
        match lock {
            RowLock::Update => " FOR UPDATE",
            RowLock::Share => " FOR SHARE",
        }
    }

    fn json_texts(&self, placeholder: &str) -> String {
        format!("SELECT jsonb_array_elements_text({placeholder})")
    }

    async fn bookkeeping(&mut self, lock_wait: Duration) -> Result<(), StoreError> {
        self.tx
            .batch_execute(&format!(
                "SET LOCAL synchronous_commit = off; SET LOCAL lock_timeout = {}",
                lock_wait.as_millis().max(1)
            ))
            .await?;
        Ok(())
    }

    async fn check_fence(&mut self, integration: i64, fence: Fence) -> Result<(), StoreError> {
        // The lease row stays share-locked until the transaction ends, so a takeover
        // waits for this write, or this write sees the takeover.
        let stmt = self
            .tx
            .prepare_cached(
                "SELECT pg_postmaster_start_time() FROM leases WHERE integration_id = $1 AND fence = $2 FOR SHARE",
            )
            .await?;
        match self.tx.query_opt(&stmt, &[&integration, &fence.0]).await? {
            Some(row) => self.store.same_server(fence, row.try_get(0)?),
            None => Err(StoreError::LeaseLost),
        }
    }
}

impl PostgresStore {
    /// Runs `work` in one transaction on `client`, committed when it succeeds.
    async fn transact<R>(
        &self,
        mut client: deadpool_postgres::Object,
        work: Work<Self, R>,
    ) -> Result<R, StoreError> {
        let tx = client.transaction().await?;
        let result = work(&mut PgSession {
            tx: &tx,
            store: self,
        })
        .await?;
        tx.commit().await?;
        Ok(result)
    }

    /// Refuses a write of the run `fence` names once the server restarted since its first
    /// write (`started` is the server's start as this write sees it): groups it committed
    /// asynchronously before the restart may be gone, and going on past them would leave
    /// them out for good.
    fn same_server(&self, fence: Fence, started: DateTime<Utc>) -> Result<(), StoreError> {
        let mut starts = self
            .server_starts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match *starts.entry(fence.0).or_insert(started) == started {
            true => Ok(()),
            false => Err(StoreError::ServerRestarted),
        }
    }

    /// Forgets the server start the run `fence` names saw: it ended.
    fn forget_server_start(&self, fence: Fence) {
        self.server_starts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&fence.0);
    }
}

impl Backend for PostgresStore {
    type Session<'c> = PgSession<'c>;

    async fn run_ended(&self, fence: Option<Fence>, findings_written: u64) -> () {
        if let Some(fence) = fence {
            self.forget_server_start(fence);
        }
        if findings_written >= LARGE_WRITE {
            self.refresh_statistics().await;
        }
    }

    async fn write<R: Send + 'static>(&self, work: Work<Self, R>) -> Result<R, StoreError> {
        self.transact(self.client().await?, work).await
    }

    async fn read<R: Send + 'static>(&self, work: Work<Self, R>) -> Result<R, StoreError> {
        // The read pool's transactions are read-only, with a statement timeout.
        self.transact(self.reader().await?, work).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn placeholders_are_numbered_by_first_use_and_the_clock_is_the_servers() {
        let params = [
            Param::Int(7),
            Param::NOW,
            Param::FromNow(Duration::from_secs(2)),
            Param::text("x"),
        ];
        let millis = millis(&params);
        let stmt = render(
            "a = ?4 AND b > ?2 AND c = ?1 AND d < ?3 AND e = ?4",
            &params,
            &millis,
        )
        .unwrap();
        assert_eq!(
            stmt.sql,
            "a = $1 AND b > now() AND c = $2 AND d < (now() + $3 * interval '1 millisecond') AND e = $1"
        );
        assert_eq!(stmt.params.len(), 3);
        assert!(render("a = ?5", &params, &millis).is_err());
        assert!(render("a = ?0", &params, &millis).is_err());
    }
}
