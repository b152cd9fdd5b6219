//! The PostgreSQL backend, for hosts and workers that share one database. A pool of
//! async connections (tokio-postgres behind deadpool); each batch is a handful of
//! multi-row statements over `unnest` arrays, never a round trip per record. Schema
//! versions live in `connector_host_schema`, applied under an advisory lock.

mod findings;
mod ingest;
mod queries;
mod session;
pub(crate) mod tls;
mod upkeep;

use super::StoreError;
use super::target::PostgresTarget;
use crate::model::natural_key;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::time::Duration;

/// Schema migrations, in order (`migrations/postgres/`).
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_initial.sql"),
    include_str!("../../../migrations/postgres/0002_access.sql"),
    include_str!("../../../migrations/postgres/0003_finding_listing.sql"),
    include_str!("../../../migrations/postgres/0004_asset_listing.sql"),
    include_str!("../../../migrations/postgres/0005_checkpoint_generation.sql"),
    include_str!("../../../migrations/postgres/0006_lease_fence.sql"),
    include_str!("../../../migrations/postgres/0007_finding_kind.sql"),
    include_str!("../../../migrations/postgres/0008_asset_removal.sql"),
    include_str!("../../../migrations/postgres/0009_plugin_versions.sql"),
    include_str!("../../../migrations/postgres/0010_streams.sql"),
    include_str!("../../../migrations/postgres/0011_finding_search.sql"),
    include_str!("../../../migrations/postgres/0012_status_changes.sql"),
    include_str!("../../../migrations/postgres/0013_asset_name_order.sql"),
    include_str!("../../../migrations/postgres/0014_finding_asset_order.sql"),
    include_str!("../../../migrations/postgres/0015_finding_texts.sql"),
    include_str!("../../../migrations/postgres/0016_workers.sql"),
    include_str!("../../../migrations/postgres/0017_destination_paces.sql"),
];

/// The advisory lock that serialises schema changes among hosts ("connhost" in ASCII).
const SCHEMA_LOCK: i64 = 0x636f_6e6e_686f_7374;

/// Connections a host keeps open at most for its writes (syncs, changes).
const POOL_SIZE: usize = 16;
/// Connections a host keeps open at most for listings (the console's and the API's).
const READ_POOL_SIZE: usize = 4;
/// How long a listing waits for a free read connection before it fails (503). Writes
/// wait as long as it takes: a sync's batch must not fail because the console is busy.
const READ_POOL_WAIT: Duration = Duration::from_secs(10);
/// The longest a listing may run: a slow one answers 503 instead of holding connections.
const READ_STATEMENT_TIMEOUT: &str = "15s";

/// A store in a PostgreSQL database: a pool for writes, and a smaller one, read-only and
/// with a statement timeout, for listings, so a slow listing never holds the connection
/// a sync's writer needs.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    reads: Pool,
    /// When the server started, as each running run's first write saw it, by fence: a
    /// run whose server restarted since stops (see [`StoreError::ServerRestarted`]).
    server_starts: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<i64, chrono::DateTime<chrono::Utc>>>,
    >,
}

impl PostgresStore {
    /// Connects, and brings the schema up to date.
    pub async fn connect(target: &PostgresTarget) -> Result<Self, StoreError> {
        let mut config = target.config.clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("connector-host");
        let tls = target
            .tls
            .connector()
            .map_err(|reason| StoreError::BadTarget {
                shown: target.shown.clone(),
                reason,
            })?;
        let pool = Self::pool(&target.shown, config.clone(), &tls, POOL_SIZE, None)?;
        // Beside any options the database URL gives.
        let given = config.get_options().unwrap_or_default().to_string();
        config.options(format!(
            "{given} -c statement_timeout={READ_STATEMENT_TIMEOUT} -c default_transaction_read_only=on"
        ).trim_start());
        let reads = Self::pool(
            &target.shown,
            config,
            &tls,
            READ_POOL_SIZE,
            Some(READ_POOL_WAIT),
        )?;
        let mut client = pool
            .get()
            .await
            .map_err(|e| connect_error(&target.shown, e))?;
        migrate(&mut client, &target.shown).await?;
        Ok(PostgresStore {
            pool,
            reads,
            server_starts: Default::default(),
        })
    }

    fn pool(
        shown: &str,
        config: tokio_postgres::Config,
        tls: &tokio_postgres_rustls::MakeRustlsConnect,
        size: usize,
        wait: Option<Duration>,
    ) -> Result<Pool, StoreError> {
        let manager = Manager::from_config(
            config,
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(manager)
            .max_size(size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(wait)
            .build()
            .map_err(|e| StoreError::Open {
                target: shown.to_string(),
                source: e.into(),
            })
    }

    /// A connection of the read pool, for listings.
    async fn reader(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.reads.get().await?)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.pool.get().await?)
    }
}

/// A failed first connection: the server answered and refused (wrong password, no such
/// database), or nothing answered.
fn connect_error(shown: &str, e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) if e.as_db_error().is_some() => StoreError::Open {
            target: shown.to_string(),
            source: e.into(),
        },
        deadpool_postgres::PoolError::Backend(e) => StoreError::Unreachable {
            target: shown.to_string(),
            source: e.into(),
        },
        other => StoreError::Unreachable {
            target: shown.to_string(),
            source: other.into(),
        },
    }
}

/// Applies the migrations the database lacks, in one transaction under the schema lock.
/// A database newer than this binary is refused before anything is written.
/// The migration that gave inventory entries their name's sort key, which entries stored
/// before it get from [`fill_name_keys`] in the same transaction.
const NAME_KEY_MIGRATION: usize = 13;

/// Gives every inventory entry without one its name's sort key ([`natural_key`]).
async fn fill_name_keys(tx: &deadpool_postgres::Transaction<'_>) -> Result<(), StoreError> {
    let rows = tx
        .query("SELECT id, name FROM inventory WHERE name_key IS NULL", &[])
        .await?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut keys = Vec::with_capacity(rows.len());
    for r in &rows {
        ids.push(r.try_get::<_, i64>(0)?);
        keys.push(natural_key(r.try_get::<_, &str>(1)?));
    }
    tx.execute(
        "UPDATE inventory SET name_key = u.k FROM unnest($1::bigint[], $2::text[]) AS u(id, k) WHERE inventory.id = u.id",
        &[&ids, &keys],
    )
    .await?;
    Ok(())
}

async fn migrate(client: &mut deadpool_postgres::Object, shown: &str) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    // Up to date, the common case, needs no lock; otherwise the version is read again
    // under it.
    if schema_version(&*client).await? == Some(known) {
        return Ok(());
    }
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await?;
    let found = schema_version(&tx).await?;
    let exists = found.is_some();
    let version = found.unwrap_or(0);
    if version > known {
        return Err(StoreError::TooNew {
            target: shown.to_string(),
            found: version,
            known,
        });
    }
    if version == known {
        return Ok(());
    }
    if !exists {
        tx.batch_execute("CREATE TABLE connector_host_schema (version BIGINT NOT NULL)")
            .await?;
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(sql).await?;
        if index + 1 == NAME_KEY_MIGRATION {
            fill_name_keys(&tx).await?;
        }
    }
    tx.execute("DELETE FROM connector_host_schema", &[]).await?;
    tx.execute(
        "INSERT INTO connector_host_schema (version) VALUES ($1)",
        &[&known],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The schema version the database records; `None` before the first migration.
async fn schema_version(
    client: &impl deadpool_postgres::GenericClient,
) -> Result<Option<i64>, StoreError> {
    let exists: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'connector_host_schema')",
            &[],
        )
        .await?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_opt("SELECT version FROM connector_host_schema", &[])
        .await?;
    Ok(Some(row.map_or(0, |r| r.get(0))))
}

/// A stored count.
fn stored_count(row: &tokio_postgres::Row, index: usize) -> u64 {
    u64::try_from(row.get::<_, i64>(index)).unwrap_or(0)
}

/// A stored enumerated name.
fn parsed_at<T: std::str::FromStr>(row: &tokio_postgres::Row, index: usize) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    let text: String = row.try_get(index)?;
    text.parse().map_err(|e: T::Err| StoreError::Corrupt {
        what: "name".into(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RunEnd;
    use crate::store::{FindingStore, IngestStore, RunStore, StoreTarget};

    /// The store on the test's database, its schema brought up to date.
    async fn store_on(db: &postgres_fixture::TestDatabase) -> PostgresStore {
        let StoreTarget::Postgres(target) = StoreTarget::parse(db.url()).unwrap() else {
            panic!("a PostgreSQL target")
        };
        PostgresStore::connect(&target).await.unwrap()
    }

    /// A lease for the tests, long enough not to lapse while one runs.
    const LEASE_TTL_FOR_TEST: Duration = Duration::from_secs(60);

    async fn show(client: &deadpool_postgres::Object, setting: &str) -> String {
        client
            .query_one(&format!("SHOW {setting}"), &[])
            .await
            .unwrap()
            .get(0)
    }

    /// A database at the schema before the name keys (version 12), with one inventory
    /// entry, its asset and a finding on it, as hosts before issue 25 wrote them.
    fn before_name_keys(db: &postgres_fixture::TestDatabase) {
        let mut sql = MIGRATIONS[..NAME_KEY_MIGRATION - 1].concat();
        sql.push_str(&format!(
            "CREATE TABLE connector_host_schema (version BIGINT NOT NULL);
             INSERT INTO connector_host_schema VALUES ({});
             INSERT INTO integrations (name, connector, settings, sealed_secrets, created_at)
               VALUES ('w', 'wiz', '{{}}', '{{}}', now());
             INSERT INTO inventory (canonical_key, name, asset_type, cloud_platform, tags, technologies,
               metadata_hash, origin, created_at, updated_at)
               VALUES ('aws:arn:x', 'node-12', 'VM', 'AWS', '{{}}', '[]', '\\x00', 'integration:1', now(), now());
             INSERT INTO assets (integration_id, source_id, inventory_id, raw, content_hash, first_seen_at)
               VALUES (1, 'asset-1', 1, '{{}}', '\\x01', now());
             INSERT INTO findings (integration_id, source_id, asset_source_id, title, description, severity, status,
               source_status, project_ids, raw, content_hash, first_seen_at, reported_status)
               VALUES (1, 'finding-1', 'asset-1', 'Open bucket', '', 'high', 'failed', 'OPEN', '[]', '{{}}', '\\x02',
               now(), 'failed');",
            NAME_KEY_MIGRATION - 1
        ));
        db.execute(&sql).unwrap();
    }

    /// Whether the findings were vacuumed and analysed, and the pages the search index's pending
    /// list held (merging them, so each call sees what was written since the last).
    fn upkeep_state(db: &postgres_fixture::TestDatabase) -> (bool, String) {
        let analysed = db
            .texts("SELECT (last_analyze IS NOT NULL AND last_vacuum IS NOT NULL)::text FROM pg_stat_user_tables WHERE relname = 'findings'")
            .unwrap();
        let pending = db
            .texts("SELECT gin_clean_pending_list('finding_texts_search')::text")
            .unwrap();
        (analysed == ["true"], pending.concat())
    }

    #[tokio::test]
    async fn a_large_run_leaves_the_findings_vacuumed_and_analysed() {
        let Some(db) = postgres_fixture::database() else {
            return;
        };
        let store = store_on(&db).await;
        let write_findings = |from: u32| {
            format!(
                "INSERT INTO findings (integration_id, source_id, asset_source_id, title, description, severity, status,
                   source_status, project_ids, raw, content_hash, first_seen_at, reported_status)
                 SELECT 1, 'f-' || n, 'a-' || n, 'Exposed bucket number ' || n, '', 'high', 'failed', 'OPEN', '[]', '{{}}',
                   '\\x00', now(), 'failed' FROM generate_series({from}, {from} + 1999) AS n;
                 INSERT INTO finding_texts (title, rule_name)
                   SELECT 'Exposed bucket number ' || n, '' FROM generate_series({from}, {from} + 1999) AS n;
                 INSERT INTO runs (integration_id, action, started_at, started_by, status)
                   VALUES (1, 'sync_now', now(), 'test', 'running');"
            )
        };
        db.execute(
            "INSERT INTO integrations (name, connector, settings, sealed_secrets, created_at)
               VALUES ('w', 'wiz', '{}', '{}', now());
             ALTER TABLE findings SET (autovacuum_enabled = false);
             ALTER TABLE finding_texts SET (autovacuum_enabled = false);",
        )
        .unwrap();
        let mut end = RunEnd {
            status: crate::model::RunStatus::Succeeded,
            counts: crate::model::RunCounts {
                findings_new: 2_000,
                ..Default::default()
            },
            warnings: Vec::new(),
            error: None,
            details: None,
        };
        db.execute(&write_findings(0)).unwrap();
        store.finish_run(1, &end, None).await.unwrap();
        let (analysed, pending) = upkeep_state(&db);
        assert!(!analysed, "a small run leaves the statistics to autovacuum");
        assert_ne!(
            pending, "0",
            "a small run leaves the pending list to autovacuum"
        );

        db.execute(&write_findings(2_000)).unwrap();
        end.counts.findings_new = upkeep::LARGE_WRITE;
        store.finish_run(2, &end, None).await.unwrap();
        assert_eq!(
            upkeep_state(&db),
            (true, "0".to_string()),
            "a large run vacuums and analyses the findings and merges the search index's pending list"
        );
    }

    #[tokio::test]
    async fn a_takeover_racing_a_writer_mid_transaction_waits_for_it_without_deadlock() {
        let Some(db) = postgres_fixture::database() else {
            return;
        };
        let store = store_on(&db).await;
        db.execute(
            "INSERT INTO integrations (name, connector, settings, sealed_secrets, created_at)
               VALUES ('w', 'wiz', '{}', '{}', now())",
        )
        .unwrap();
        let acquired = |outcome| match outcome {
            crate::store::LeaseOutcome::Acquired { fence, .. } => fence,
            held => panic!("{held:?}"),
        };
        // A lease that lapses at once: the next worker may take it over.
        let stale = acquired(
            store
                .acquire_lease(1, "far/1/1", Duration::ZERO)
                .await
                .unwrap(),
        );
        // The stale writer's group: the fence checked, its lease row share-locked...
        let mut writer = store.client().await.unwrap();
        let group = writer.transaction().await.unwrap();
        group
            .execute(
                "SELECT 1 FROM leases WHERE integration_id = 1 AND fence = $1 FOR SHARE",
                &[&stale.0],
            )
            .await
            .unwrap();
        // ...while another worker takes the lease over and waits for that row.
        let taker = store.clone();
        let takeover =
            tokio::spawn(
                async move { taker.acquire_lease(1, "near/2/2", LEASE_TTL_FOR_TEST).await },
            );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !takeover.is_finished(),
            "the taker waits for the writer's group"
        );
        // The group goes on writing: its foreign key to the integration must not wait on
        // the taker (a deadlock, one of the two aborted after a second).
        group
            .execute(
                "INSERT INTO checkpoints (integration_id, state, updated_at, generation) VALUES (1, 'c1', now(), 0)",
                &[],
            )
            .await
            .expect("the writer is not deadlocked");
        group.commit().await.expect("the writer's group commits");
        let taken = acquired(
            takeover
                .await
                .unwrap()
                .expect("the takeover is not deadlocked"),
        );
        assert_ne!(taken, stale);
        assert!(matches!(
            store.restore_reported_statuses(1, stale).await,
            Err(StoreError::LeaseLost)
        ));
    }

    #[tokio::test]
    async fn upgrading_a_store_from_before_name_keys_fills_them_in_and_finds_its_findings() {
        let Some(db) = postgres_fixture::database() else {
            return;
        };
        before_name_keys(&db);
        let store = store_on(&db).await;
        let search = crate::model::FindingFilter {
            words: vec!["BUCK".into()],
            ..Default::default()
        };
        let found = store.findings(&search).await.unwrap();
        assert_eq!(found.len(), 1, "findings stored before search are found");
        let keys = db
            .texts(
                "SELECT inv.name_key || '|' || f.asset_key || '|' || s.version
                 FROM inventory inv, findings f, connector_host_schema s WHERE inv.id = 1 AND f.source_id = 'finding-1'",
            )
            .unwrap();
        let wanted = natural_key("node-12");
        assert_eq!(
            keys,
            vec![format!("{wanted}|{wanted}|{}", MIGRATIONS.len())],
            "the entry's name key is filled in, the finding sorts by its asset's name, and the schema is current"
        );
    }

    #[tokio::test]
    async fn listings_run_read_only_with_a_statement_timeout_and_writes_without() {
        let Some(db) = postgres_fixture::database() else {
            return;
        };
        // Options the URL gives are kept beside the read pool's own.
        let url = format!(
            "{}?options=-c%20search_path%3Dfrom_the_url,public",
            db.url()
        );
        let StoreTarget::Postgres(target) = StoreTarget::parse(&url).unwrap() else {
            panic!("a PostgreSQL target")
        };
        let store = PostgresStore::connect(&target).await.unwrap();
        let reader = store.reader().await.unwrap();
        assert_eq!(show(&reader, "statement_timeout").await, "15s");
        assert_eq!(show(&reader, "default_transaction_read_only").await, "on");
        assert_eq!(show(&reader, "search_path").await, "from_the_url,public");
        let writer = store.client().await.unwrap();
        assert_eq!(show(&writer, "statement_timeout").await, "0");
        assert_eq!(show(&writer, "default_transaction_read_only").await, "off");
        let refused = reader
            .execute("CREATE TABLE nope (x int)", &[])
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("read-only")
                || format!("{refused:?}").contains("read-only"),
            "{refused:?}"
        );
        // A listing past its timeout is the store too busy to answer (503), not a failure.
        reader
            .batch_execute("SET statement_timeout = '10ms'")
            .await
            .unwrap();
        let slow = reader
            .query_one("SELECT pg_sleep(1)::text", &[])
            .await
            .unwrap_err();
        let slow = StoreError::from(slow);
        assert!(slow.is_unreachable(), "{slow}");
        assert_eq!(
            crate::service::store_kind(&slow),
            crate::service::ErrorKind::StoreUnreachable
        );
    }
}
