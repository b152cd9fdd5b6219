//! The SQLite backend: one file, WAL journal, schema versions in `user_version`. Calls run
//! on tokio's blocking threads, one at a time on the store's connection, so a lock wait
//! (up to the busy timeout, while another process writes) never holds an async worker.
//! A call queues for the connection as a task and takes a blocking thread only once the
//! connection is its own: hundreds of syncs waiting to write hold no thread each, so the
//! number of syncs at once is bounded by memory and the operator's setting, not by
//! tokio's pool of blocking threads (issue 27).
//! Listings (the console's and the API's reads) run on a read-only connection of their
//! own: under WAL they neither wait behind a sync's writes nor hold them up.

mod ingest;
mod queries;
mod session;
mod turns;

pub use turns::retry_for_lock;

use super::StoreError;
use crate::model::natural_key;
use rusqlite::Connection;
use rusqlite::types::Type;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// Schema migrations, in order (`migrations/sqlite/`); `user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/sqlite/0001_initial.sql"),
    include_str!("../../../migrations/sqlite/0002_rowid_tables.sql"),
    include_str!("../../../migrations/sqlite/0003_access.sql"),
    include_str!("../../../migrations/sqlite/0004_finding_listing.sql"),
    include_str!("../../../migrations/sqlite/0005_asset_listing.sql"),
    include_str!("../../../migrations/sqlite/0006_checkpoint_generation.sql"),
    include_str!("../../../migrations/sqlite/0007_lease_fence.sql"),
    include_str!("../../../migrations/sqlite/0008_finding_kind.sql"),
    include_str!("../../../migrations/sqlite/0009_asset_removal.sql"),
    include_str!("../../../migrations/sqlite/0010_plugin_versions.sql"),
    include_str!("../../../migrations/sqlite/0011_streams.sql"),
    include_str!("../../../migrations/sqlite/0012_finding_search.sql"),
    include_str!("../../../migrations/sqlite/0013_status_changes.sql"),
    include_str!("../../../migrations/sqlite/0014_asset_name_order.sql"),
    include_str!("../../../migrations/sqlite/0015_finding_asset_order.sql"),
    include_str!("../../../migrations/sqlite/0016_finding_texts.sql"),
    include_str!("../../../migrations/sqlite/0017_workers.sql"),
    include_str!("../../../migrations/sqlite/0018_destination_paces.sql"),
];

/// A store in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// How many calls wait for `conn`: a sync's group waits for its run's next write
    /// only while none does (`store::GROUP_IDLE`).
    waiting: Arc<AtomicUsize>,
    /// When `conn` leaves the file's write lock to other processes.
    turns: Arc<turns::LockTurns>,
    /// Read-only, for listings.
    reader: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(&path)).await?
    }

    fn open_blocking(path: &Path) -> Result<Self, StoreError> {
        let open_error = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            target: path.display().to_string(),
            source,
        };
        if let Some(parent) = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty() && !p.is_dir())
        {
            return Err(open_error(
                format!("folder {} does not exist", parent.display()).into(),
            ));
        }
        create_private(path).map_err(|e| open_error(e.into()))?;
        let mut conn = Connection::open(path).map_err(|e| open_error(e.into()))?;
        // Many syncs write at once (serve, several hosts): writers wait for the lock,
        // trying each millisecond for a turn another process leaves them (`turns`), and
        // every transaction takes it when it begins. A deferred one that read first could
        // not wait for it later; SQLite would answer "database is locked" at once.
        conn.busy_handler(Some(turns::retry_for_lock))
            .map_err(|e| open_error(e.into()))?;
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        conn.execute_batch(
            // Page size only takes on a new file: 16 KiB pages hold several findings with
            // their raw records, where 4 KiB pages held one and wasted the rest. The
            // writer's page cache is 16 MiB (one per process, whatever the number of
            // syncs): with 4 MiB a large sync read its own index pages back through the
            // kernel, and a 100k sync stored 1.06 to 1.38 times faster with 16 MiB
            // (BENCHMARKS.md, issue 27), for 12 MiB more peak memory. With the indexes of
            // today's schema, 8 KiB pages still stored a 100k sync 7 to 25% slower, 4 KiB
            // pages 18 to 40% slower.
            "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -16384; PRAGMA wal_autocheckpoint = 4096;",
        )
        .map_err(|e| open_error(format!("not a usable SQLite database ({e})").into()))?;
        migrate(&mut conn, path)?;
        let reader = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| open_error(e.into()))?;
        reader
            .busy_timeout(std::time::Duration::from_secs(60))
            .map_err(|e| open_error(e.into()))?;
        reader
            .execute_batch("PRAGMA cache_size = -4096;")
            .map_err(|e| open_error(e.into()))?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            waiting: Arc::default(),
            turns: Arc::default(),
            reader: Arc::new(Mutex::new(reader)),
        })
    }

    /// Runs `f` on the connection, on a blocking thread.
    async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let queued = WaitingCall::join(&self.waiting);
        let conn = self.conn.clone().lock_owned().await;
        drop(queued);
        let pause = self.turns.pause_before_call();
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        let turns = self.turns.clone();
        Self::run_on(conn, move |conn| {
            let result = f(conn);
            turns.call_ended();
            result
        })
        .await
    }

    /// Runs the reads of `f` on the read-only connection, on a blocking thread.
    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        Self::on(self.reader.clone(), f).await
    }

    async fn on<R: Send + 'static>(
        conn: Arc<Mutex<Connection>>,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        Self::run_on(conn.lock_owned().await, f).await
    }

    /// Runs `f` on a connection it holds, on a blocking thread. Waiting for the connection
    /// was a task's wait, not a thread's. A panic inside a call rolled its transaction
    /// back as it unwound, and releases the connection.
    async fn run_on<R: Send + 'static>(
        mut conn: OwnedMutexGuard<Connection>,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        tokio::task::spawn_blocking(move || f(&mut conn)).await?
    }
}

/// A call counted among those waiting for the writer's connection while it exists, so
/// that a call dropped while it waits is no longer counted.
struct WaitingCall<'a>(&'a AtomicUsize);

impl<'a> WaitingCall<'a> {
    fn join(waiting: &'a AtomicUsize) -> Self {
        waiting.fetch_add(1, Ordering::SeqCst);
        WaitingCall(waiting)
    }
}

impl Drop for WaitingCall<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Creates a missing database file with mode 0600, before SQLite creates it with the
/// umask's: it holds sealed secrets, tokens' hashes and every finding, and SQLite gives
/// its WAL and shared-memory files the same mode.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        result => result.map(drop),
    }
}

/// The migration that gave inventory entries their name's sort key, which entries stored
/// before it get from [`fill_name_keys`] in the same transaction.
const NAME_KEY_MIGRATION: usize = 14;

/// Gives every inventory entry without one its name's sort key ([`natural_key`]).
fn fill_name_keys(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    let named: Vec<(i64, String)> = tx
        .prepare("SELECT id, name FROM inventory WHERE name_key IS NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut update = tx.prepare("UPDATE inventory SET name_key = ?2 WHERE id = ?1")?;
    for (id, name) in named {
        update.execute(rusqlite::params![id, natural_key(&name)])?;
    }
    Ok(())
}

/// Applies the migrations this file lacks, each in a write transaction that rechecks the
/// version first, so two hosts opening one file at once apply each migration once.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    // Up to date, the common case, is a read: every command opens the store, and a write
    // transaction here would make `findings` wait for a running sync's lock.
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version == known {
        return Ok(());
    }
    loop {
        let tx = conn.transaction()?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > known {
            return Err(StoreError::TooNew {
                target: path.display().to_string(),
                found: version,
                known,
            });
        }
        if version == known {
            return Ok(());
        }
        tx.execute_batch(MIGRATIONS[version as usize])?;
        if version as usize + 1 == NAME_KEY_MIGRATION {
            fill_name_keys(&tx)?;
        }
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
}

fn conversion(index: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e))
}

/// A stored enumerated name.
pub(super) fn parsed_at<T: std::str::FromStr>(
    row: &rusqlite::Row<'_>,
    index: usize,
) -> rusqlite::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: String = row.get(index)?;
    text.parse().map_err(|e| conversion(index, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FindingStore, IngestStore, InventoryStore};

    /// A store at schema version 1 with one asset and one finding, the way hosts before
    /// the rowid tables wrote them.
    fn version_1_store(path: &Path) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(
            "INSERT INTO integrations (id, name, connector, settings, sealed_secrets, created_at)
               VALUES (1, 'w', 'wiz', '{}', '{}', '2026-01-01T00:00:00Z');
             INSERT INTO inventory (id, canonical_key, name, asset_type, cloud_platform, tags, technologies,
               metadata_hash, origin, created_at, updated_at)
               VALUES (1, 'aws:arn:x', 'x', 'VM', 'AWS', '{}', '[]', X'00', 'integration:1', '2026-01-01', '2026-01-01');
             INSERT INTO assets VALUES (1, 'asset-1', 1, '{}', X'01', '2026-01-01');
             INSERT INTO findings (integration_id, source_id, asset_source_id, title, description, severity, status,
               source_status, project_ids, raw, content_hash, first_seen_at, reported_status)
               VALUES (1, 'finding-1', 'asset-1', 'Open bucket', '', 'high', 'failed', 'OPEN', '[]', '{\"id\":1}', X'02',
               '2026-01-01', 'failed');",
        )
        .unwrap();
    }

    #[tokio::test]
    async fn upgrading_a_version_1_store_keeps_its_findings_and_assets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        version_1_store(&path);
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(
            store.finding_raw(1, "finding-1").await.unwrap(),
            r#"{"id":1}"#
        );
        assert!(store.checkpoint(1).await.unwrap().state.is_none());
        let search = crate::model::FindingFilter {
            words: vec!["BUCK".into()],
            ..Default::default()
        };
        let found = store.findings(&search).await.unwrap();
        assert_eq!(found.len(), 1, "findings stored before search are found");
        let listed = store
            .asset_page(&crate::model::AssetFilter::default(), None, 10)
            .await
            .unwrap();
        assert_eq!(
            listed.assets.len(),
            1,
            "entries stored before the name key are listed"
        );
        let keys = store
            .read(|conn| {
                Ok(conn.query_row(
                    "SELECT inv.name_key, f.asset_key FROM inventory inv, findings f WHERE inv.id = 1 AND f.source_id = 'finding-1'",
                    [],
                    |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, String>(1)?)),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(
            keys,
            (Some(natural_key("x")), natural_key("x")),
            "the name key is filled in, and the finding sorts by its asset's name"
        );
        store
            .call(|conn| {
                let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
                assert_eq!(version, MIGRATIONS.len() as i64);
                let duplicate = conn.execute(
                    "INSERT INTO findings (integration_id, source_id, asset_source_id, title, description, severity, status,
                       source_status, project_ids, raw, content_hash, first_seen_at, reported_status)
                       VALUES (1, 'finding-1', 'asset-1', '', '', 'high', 'failed', 'OPEN', '[]', '{}', X'', '', 'failed')",
                    [],
                );
                assert!(duplicate.is_err(), "source ids stay unique per integration");
                Ok(())
            })
            .await
            .unwrap();
    }

    /// Calls queued for the connection wait as tasks: while one call holds it, forty
    /// more waiting must leave tokio's blocking threads (two here) free for other work.
    /// Before, each waiting call held a blocking thread, and the pool ran dry.
    #[test]
    fn calls_waiting_for_the_connection_hold_no_blocking_thread() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(&dir.path().join("s.db")).await.unwrap();
            let (release, released) = std::sync::mpsc::channel::<()>();
            let holder = tokio::spawn({
                let store = store.clone();
                async move {
                    store
                        .call(move |_| {
                            let _ = released.recv_timeout(std::time::Duration::from_secs(20));
                            Ok(())
                        })
                        .await
                }
            });
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let waiting: Vec<_> = (0..40)
                .map(|_| {
                    let store = store.clone();
                    tokio::spawn(async move { store.call(|_| Ok(())).await })
                })
                .collect();
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let other_work = tokio::task::spawn_blocking(move || release.send(()));
            tokio::time::timeout(std::time::Duration::from_secs(5), other_work)
                .await
                .expect("other blocking work found no thread while calls waited for the store")
                .unwrap()
                .unwrap();
            holder.await.unwrap().unwrap();
            for call in waiting {
                call.await.unwrap().unwrap();
            }
        });
    }
}
