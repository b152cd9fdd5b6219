//! The SQLite backend: one file, WAL journal, schema versions in `user_version`.

use super::{
    Action, AssetFilter, AssetRow, FindingFilter, FindingRow, HistoryRow, Integration,
    LeaseOutcome, NewIntegration, Policy, RunCounts, RunStatus, Storage, StoreError, lease,
};
use crate::inventory::{ImportedAsset, canonical_key};
use crate::plugin::contract::{self, FindingStatus, Severity};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Schema migrations, applied in order; `user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE integrations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    connector TEXT NOT NULL,
    settings TEXT NOT NULL,
    sealed_secrets TEXT NOT NULL,
    created_at TEXT NOT NULL,
    auto_sync_days INTEGER NOT NULL DEFAULT 0,
    auto_onboard INTEGER NOT NULL DEFAULT 1,
    update_metadata INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE schedules (
    integration_id INTEGER PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    next_due TEXT NOT NULL
);
CREATE TABLE leases (
    integration_id INTEGER PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    holder TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE inventory (
    id INTEGER PRIMARY KEY,
    canonical_key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    asset_type TEXT NOT NULL,
    cloud_platform TEXT NOT NULL,
    cloud_account_id TEXT,
    cloud_account_name TEXT,
    region TEXT,
    provider_id TEXT,
    tags TEXT NOT NULL,
    status TEXT,
    technologies TEXT NOT NULL,
    metadata_hash BLOB NOT NULL,
    origin TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE assets (
    integration_id INTEGER NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    source_id TEXT NOT NULL,
    inventory_id INTEGER NOT NULL REFERENCES inventory(id),
    raw TEXT NOT NULL,
    content_hash BLOB NOT NULL,
    first_seen_at TEXT NOT NULL,
    PRIMARY KEY (integration_id, source_id)
) WITHOUT ROWID;
CREATE INDEX assets_by_inventory ON assets (inventory_id);
CREATE TABLE findings (
    integration_id INTEGER NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    source_id TEXT NOT NULL,
    asset_source_id TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    source_status TEXT NOT NULL,
    remediation TEXT,
    rule_id TEXT,
    rule_name TEXT,
    created_at TEXT,
    updated_at TEXT,
    status_changed_at TEXT,
    resolved_at TEXT,
    due_at TEXT,
    project_ids TEXT NOT NULL,
    portal_url TEXT,
    raw TEXT NOT NULL,
    content_hash BLOB NOT NULL,
    first_seen_at TEXT NOT NULL,
    closed_reason TEXT,
    reported_status TEXT NOT NULL,
    PRIMARY KEY (integration_id, source_id)
) WITHOUT ROWID;
CREATE TABLE checkpoints (
    integration_id INTEGER PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    integration_id INTEGER NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    action TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    started_by TEXT NOT NULL,
    status TEXT NOT NULL,
    assets_onboarded INTEGER NOT NULL DEFAULT 0,
    assets_updated INTEGER NOT NULL DEFAULT 0,
    assets_skipped INTEGER NOT NULL DEFAULT 0,
    findings_new INTEGER NOT NULL DEFAULT 0,
    findings_updated INTEGER NOT NULL DEFAULT 0,
    findings_unchanged INTEGER NOT NULL DEFAULT 0,
    findings_skipped INTEGER NOT NULL DEFAULT 0,
    findings_closed INTEGER NOT NULL DEFAULT 0,
    warnings TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    details TEXT
);
CREATE INDEX runs_by_integration ON runs (integration_id, id);
"#,
    r#"
-- Findings and assets become rowid tables with a unique index on the source id. As
-- WITHOUT ROWID tables their rows (raw records of a few KiB) each spilled into a mostly
-- empty overflow page, and random ids scattered every insert across the file.
-- `seen_in_run` is the run that last reported a finding: a complete full sync closes the
-- open findings it did not report, without holding their ids in memory.
CREATE TABLE findings_v2 (
    integration_id INTEGER NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    source_id TEXT NOT NULL,
    asset_source_id TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    source_status TEXT NOT NULL,
    remediation TEXT,
    rule_id TEXT,
    rule_name TEXT,
    created_at TEXT,
    updated_at TEXT,
    status_changed_at TEXT,
    resolved_at TEXT,
    due_at TEXT,
    project_ids TEXT NOT NULL,
    portal_url TEXT,
    raw TEXT NOT NULL,
    content_hash BLOB NOT NULL,
    first_seen_at TEXT NOT NULL,
    closed_reason TEXT,
    reported_status TEXT NOT NULL,
    seen_in_run INTEGER
);
INSERT INTO findings_v2 (integration_id, source_id, asset_source_id, title, description, severity, status, source_status,
    remediation, rule_id, rule_name, created_at, updated_at, status_changed_at, resolved_at, due_at, project_ids, portal_url,
    raw, content_hash, first_seen_at, closed_reason, reported_status)
  SELECT integration_id, source_id, asset_source_id, title, description, severity, status, source_status,
    remediation, rule_id, rule_name, created_at, updated_at, status_changed_at, resolved_at, due_at, project_ids, portal_url,
    raw, content_hash, first_seen_at, closed_reason, reported_status FROM findings;
DROP TABLE findings;
ALTER TABLE findings_v2 RENAME TO findings;
CREATE UNIQUE INDEX findings_by_source ON findings (integration_id, source_id);
-- The two end-of-run updates read these small partial indexes, not every finding: the
-- open findings by the run that last reported them, and those changed locally.
CREATE INDEX findings_open_by_run ON findings (integration_id, seen_in_run) WHERE closed_reason IS NULL;
CREATE INDEX findings_changed_locally ON findings (integration_id) WHERE status != reported_status;

CREATE TABLE assets_v2 (
    integration_id INTEGER NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    source_id TEXT NOT NULL,
    inventory_id INTEGER NOT NULL REFERENCES inventory(id),
    raw TEXT NOT NULL,
    content_hash BLOB NOT NULL,
    first_seen_at TEXT NOT NULL
);
INSERT INTO assets_v2 (integration_id, source_id, inventory_id, raw, content_hash, first_seen_at)
  SELECT integration_id, source_id, inventory_id, raw, content_hash, first_seen_at FROM assets;
DROP TABLE assets;
ALTER TABLE assets_v2 RENAME TO assets;
CREATE UNIQUE INDEX assets_by_source ON assets (integration_id, source_id);
CREATE INDEX assets_by_inventory ON assets (inventory_id);
"#,
];

/// A store in one SQLite file.
pub struct SqliteStore {
    conn: Connection,
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open_error = |message: String| StoreError::Open {
            path: path.display().to_string(),
            message,
        };
        if let Some(parent) = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty() && !p.is_dir())
        {
            return Err(open_error(format!(
                "folder {} does not exist",
                parent.display()
            )));
        }
        let mut conn = Connection::open(path).map_err(|e| open_error(e.to_string()))?;
        // Many syncs write at once (serve, several hosts): writers queue for the lock, and
        // every transaction takes it when it begins. A deferred one that read first could
        // not wait for it later; SQLite would answer "database is locked" at once.
        conn.busy_timeout(std::time::Duration::from_secs(60))
            .map_err(|e| open_error(e.to_string()))?;
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        conn.execute_batch(
            // Page size only takes on a new file: 16 KiB pages hold several findings with
            // their raw records, where 4 KiB pages held one and wasted the rest.
            "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -16384; PRAGMA wal_autocheckpoint = 4096;",
        )
        .map_err(|e| open_error(format!("not a usable SQLite database ({e})")))?;
        let mut store = SqliteStore { conn };
        store.migrate().map_err(|e| open_error(e.to_string()))?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: usize = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(backend)?;
        if version > MIGRATIONS.len() {
            return Err(StoreError::Backend(format!(
                "schema version {version} is newer than this host knows ({}); upgrade the host",
                MIGRATIONS.len()
            )));
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = self.conn.transaction().map_err(backend)?;
            tx.execute_batch(sql).map_err(backend)?;
            tx.pragma_update(None, "user_version", index + 1)
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
        }
        Ok(())
    }

    fn integration_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Integration> {
        let settings: String = row.get(3)?;
        Ok(Integration {
            id: row.get(0)?,
            name: row.get(1)?,
            connector: row.get(2)?,
            settings: serde_json::from_str(&settings).unwrap_or_default(),
            sealed_secrets: row.get(4)?,
            created_at: row.get(5)?,
            policy: Policy {
                auto_sync_days: row.get(6)?,
                auto_onboard: row.get(7)?,
                update_metadata: row.get(8)?,
            },
        })
    }
}

/// What an upsert did.
enum Upsert {
    Inserted,
    Updated,
    Unchanged,
}

fn stored_hash(
    tx: &Transaction<'_>,
    table: &str,
    integration: i64,
    source_id: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    tx.prepare_cached(&format!(
        "SELECT content_hash FROM {table} WHERE integration_id = ?1 AND source_id = ?2"
    ))
    .and_then(|mut s| {
        s.query_row(params![integration, source_id], |r| r.get(0))
            .optional()
    })
    .map_err(backend)
}

fn hash_of(parts: &[&str]) -> Vec<u8> {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().to_vec()
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serializes")
}

/// An asset's metadata as the inventory stores it.
struct Metadata<'a> {
    name: &'a str,
    asset_type: &'a str,
    cloud_platform: &'a str,
    cloud_account_id: Option<&'a str>,
    cloud_account_name: Option<&'a str>,
    region: Option<&'a str>,
    provider_id: Option<&'a str>,
    tags: String,
    status: Option<&'a str>,
    technologies: String,
}

impl Metadata<'_> {
    fn hash(&self) -> Vec<u8> {
        let o = |v: Option<&str>| v.unwrap_or_default().to_string();
        hash_of(&[
            self.name,
            self.asset_type,
            self.cloud_platform,
            &o(self.cloud_account_id),
            &o(self.cloud_account_name),
            &o(self.region),
            &o(self.provider_id),
            &self.tags,
            &o(self.status),
            &self.technologies,
        ])
    }

    /// Creates an inventory asset; returns its id.
    fn insert(&self, tx: &Transaction<'_>, key: &str, origin: &str) -> Result<i64, StoreError> {
        let at = now();
        tx.prepare_cached(
            "INSERT INTO inventory (canonical_key, name, asset_type, cloud_platform, cloud_account_id, cloud_account_name, region, provider_id, tags, status,
               technologies, metadata_hash, origin, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14)",
        )
        .and_then(|mut s| {
            s.execute(params![
                key, self.name, self.asset_type, self.cloud_platform, self.cloud_account_id, self.cloud_account_name, self.region, self.provider_id,
                self.tags, self.status, self.technologies, self.hash(), origin, at
            ])
        })
        .map_err(backend)?;
        Ok(tx.last_insert_rowid())
    }

    /// Overwrites an inventory asset's metadata.
    fn update(&self, tx: &Transaction<'_>, id: i64) -> Result<(), StoreError> {
        tx.prepare_cached(
            "UPDATE inventory SET name = ?2, asset_type = ?3, cloud_platform = ?4, cloud_account_id = ?5, cloud_account_name = ?6, region = ?7,
               provider_id = ?8, tags = ?9, status = ?10, technologies = ?11, metadata_hash = ?12, updated_at = ?13 WHERE id = ?1",
        )
        .and_then(|mut s| {
            s.execute(params![
                id, self.name, self.asset_type, self.cloud_platform, self.cloud_account_id, self.cloud_account_name, self.region, self.provider_id,
                self.tags, self.status, self.technologies, self.hash(), now()
            ])
        })
        .map_err(backend)?;
        Ok(())
    }
}

/// What happened to an emitted asset.
enum AssetOutcome {
    Onboarded,
    Updated,
    Unchanged,
    Skipped,
}

/// Finds or onboards the asset in the inventory, per the integration's policy, and
/// links the integration's source record to it.
fn upsert_asset(
    tx: &Transaction<'_>,
    integration: i64,
    policy: &Policy,
    a: &contract::Asset,
) -> Result<AssetOutcome, StoreError> {
    let tags: std::collections::BTreeMap<&str, &str> = a
        .tags
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect();
    let meta = Metadata {
        name: &a.name,
        asset_type: &a.asset_type,
        cloud_platform: &a.cloud_platform,
        cloud_account_id: a.cloud_account_id.as_deref(),
        cloud_account_name: a.cloud_account_name.as_deref(),
        region: a.region.as_deref(),
        provider_id: a.provider_id.as_deref(),
        tags: json(&tags),
        status: a.status.as_deref(),
        technologies: json(&a.technologies),
    };
    let key = canonical_key(
        a.provider_id.as_deref(),
        &a.cloud_platform,
        &integration.to_string(),
        &a.source_id,
    );
    let existing: Option<(i64, Vec<u8>)> = tx
        .prepare_cached("SELECT id, metadata_hash FROM inventory WHERE canonical_key = ?1")
        .and_then(|mut s| {
            s.query_row([&key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(backend)?;
    let (inventory_id, outcome) = match existing {
        None if !policy.auto_onboard => return Ok(AssetOutcome::Skipped),
        None => (
            meta.insert(tx, &key, &format!("integration:{integration}"))?,
            AssetOutcome::Onboarded,
        ),
        Some((id, hash)) if policy.update_metadata && hash != meta.hash() => {
            meta.update(tx, id)?;
            (id, AssetOutcome::Updated)
        }
        Some((id, _)) => (id, AssetOutcome::Unchanged),
    };
    let hash = hash_of(&[&inventory_id.to_string(), &a.raw]);
    if stored_hash(tx, "assets", integration, &a.source_id)?.as_deref() != Some(hash.as_slice()) {
        tx.prepare_cached(
            "INSERT INTO assets (integration_id, source_id, inventory_id, raw, content_hash, first_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (integration_id, source_id) DO UPDATE SET inventory_id = excluded.inventory_id, raw = excluded.raw, content_hash = excluded.content_hash",
        )
        .and_then(|mut s| s.execute(params![integration, a.source_id, inventory_id, a.raw, hash, now()]))
        .map_err(backend)?;
    }
    Ok(outcome)
}

/// What closing a finding the source no longer reports sets.
const CLOSE_FINDING: &str = "UPDATE findings SET status = 'passed', reported_status = 'passed', closed_reason = 'removed_at_source', content_hash = X''";

/// Marks a finding closed because the source no longer reports it; returns 1 if it was
/// open. Clearing the hash lets the source's record rewrite it if it ever returns.
fn close_finding(tx: &Transaction<'_>, integration: i64, id: &str) -> Result<u64, StoreError> {
    let changed = tx
        .prepare_cached(&format!(
            "{CLOSE_FINDING} WHERE integration_id = ?1 AND source_id = ?2 AND closed_reason IS NULL"
        ))
        .and_then(|mut s| s.execute(params![integration, id]))
        .map_err(backend)?;
    Ok(changed as u64)
}

/// Lower-case severity name as stored and shown.
pub fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
        Severity::Info => "info",
    }
}

/// Status name as stored and shown.
pub fn status_name(s: FindingStatus) -> &'static str {
    match s {
        FindingStatus::Failed => "failed",
        FindingStatus::Passed => "passed",
        FindingStatus::AcceptedFailed => "accepted_failed",
    }
}

fn upsert_finding(
    tx: &Transaction<'_>,
    integration: i64,
    run: i64,
    f: &contract::Finding,
) -> Result<Upsert, StoreError> {
    let project_ids = json(&f.project_ids);
    let (severity, status) = (severity_name(f.severity), status_name(f.status));
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    let hash = hash_of(&[
        &f.asset_source_id,
        &f.title,
        &f.description,
        severity,
        status,
        &f.source_status,
        &opt(&f.remediation),
        &opt(&f.rule_id),
        &opt(&f.rule_name),
        &opt(&f.created_at),
        &opt(&f.updated_at),
        &opt(&f.status_changed_at),
        &opt(&f.resolved_at),
        &opt(&f.due_at),
        &project_ids,
        &opt(&f.portal_url),
        &f.raw,
    ]);
    let existing = stored_hash(tx, "findings", integration, &f.source_id)?;
    if existing.as_deref() == Some(hash.as_slice()) {
        tx.prepare_cached(
            "UPDATE findings SET seen_in_run = ?3 WHERE integration_id = ?1 AND source_id = ?2",
        )
        .and_then(|mut s| s.execute(params![integration, f.source_id, run]))
        .map_err(backend)?;
        return Ok(Upsert::Unchanged);
    }
    tx.prepare_cached(
        "INSERT INTO findings (integration_id, source_id, asset_source_id, title, description, severity, status, source_status, remediation, rule_id, rule_name,
           created_at, updated_at, status_changed_at, resolved_at, due_at, project_ids, portal_url, raw, content_hash, first_seen_at, reported_status, seen_in_run)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?7, ?22)
         ON CONFLICT (integration_id, source_id) DO UPDATE SET asset_source_id = excluded.asset_source_id, title = excluded.title,
           description = excluded.description, severity = excluded.severity, status = excluded.status, source_status = excluded.source_status,
           remediation = excluded.remediation, rule_id = excluded.rule_id, rule_name = excluded.rule_name, created_at = excluded.created_at,
           updated_at = excluded.updated_at, status_changed_at = excluded.status_changed_at, resolved_at = excluded.resolved_at,
           due_at = excluded.due_at, project_ids = excluded.project_ids, portal_url = excluded.portal_url, raw = excluded.raw,
           content_hash = excluded.content_hash, closed_reason = NULL, reported_status = excluded.reported_status,
           seen_in_run = excluded.seen_in_run",
    )
    .and_then(|mut s| {
        s.execute(params![
            integration, f.source_id, f.asset_source_id, f.title, f.description, severity, status, f.source_status, f.remediation, f.rule_id, f.rule_name,
            f.created_at, f.updated_at, f.status_changed_at, f.resolved_at, f.due_at, project_ids, f.portal_url, f.raw, hash, now(),
            run
        ])
    })
    .map_err(backend)?;
    Ok(if existing.is_some() {
        Upsert::Updated
    } else {
        Upsert::Inserted
    })
}

impl Storage for SqliteStore {
    fn add_integration(&mut self, new: &NewIntegration) -> Result<Integration, StoreError> {
        let p = &new.policy;
        let result = self.conn.execute(
            "INSERT INTO integrations (name, connector, settings, sealed_secrets, created_at, auto_sync_days, auto_onboard, update_metadata)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![new.name, new.connector, json(&new.settings), new.sealed_secrets, now(), p.auto_sync_days, p.auto_onboard, p.update_metadata],
        );
        match result {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::Conflict(format!("integration `{}`", new.name)))
            }
            Err(e) => Err(backend(e)),
            Ok(_) => self.integration(&new.name),
        }
    }

    fn update_integration(
        &mut self,
        id: i64,
        settings: &[(String, String)],
        sealed_secrets: &str,
        policy: &Policy,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE integrations SET settings = ?2, sealed_secrets = ?3, auto_sync_days = ?4, auto_onboard = ?5, update_metadata = ?6 WHERE id = ?1",
                params![id, json(&settings), sealed_secrets, policy.auto_sync_days, policy.auto_onboard, policy.update_metadata],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn acquire_lease(
        &mut self,
        integration: i64,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<LeaseOutcome, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        let current: Option<(String, String)> = tx
            .query_row(
                "SELECT holder, expires_at FROM leases WHERE integration_id = ?1",
                [integration],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(backend)?;
        let now_text = now();
        if let Some((other, expires_at)) = &current
            && other != holder
            && *expires_at > now_text
            && lease::holder_alive(other)
        {
            return Ok(LeaseOutcome::HeldBy(other.clone()));
        }
        let expires = lease::expiry(ttl);
        tx.execute(
            "INSERT INTO leases (integration_id, holder, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (integration_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at",
            params![integration, holder, expires],
        )
        .map_err(backend)?;
        // Holding the lease, any run still marked running was left by a process that died.
        let interrupted = tx
            .execute(
                "UPDATE runs SET status = 'failed', finished_at = ?2, error = 'interrupted: the process running it stopped before it finished'
                 WHERE integration_id = ?1 AND status = 'running'",
                params![integration, now_text],
            )
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(LeaseOutcome::Acquired {
            interrupted_runs: interrupted as u64,
        })
    }

    fn renew_lease(
        &mut self,
        integration: i64,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let changed = self
            .conn
            .execute(
                "UPDATE leases SET expires_at = ?3 WHERE integration_id = ?1 AND holder = ?2",
                params![integration, holder, lease::expiry(ttl)],
            )
            .map_err(backend)?;
        Ok(changed == 1)
    }

    fn release_lease(&mut self, integration: i64, holder: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "DELETE FROM leases WHERE integration_id = ?1 AND holder = ?2",
                params![integration, holder],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn record_config_change(
        &mut self,
        integration: i64,
        started_by: &str,
        changed_keys: &[String],
    ) -> Result<(), StoreError> {
        let at = now();
        self.conn
            .execute(
                "INSERT INTO runs (integration_id, action, started_at, finished_at, started_by, status, details) VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)",
                params![integration, Action::ConfigChange.as_str(), at, started_by, RunStatus::Succeeded.as_str(), format!("changed: {}", changed_keys.join(", "))],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn next_due(&self, integration: i64) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT next_due FROM schedules WHERE integration_id = ?1",
                [integration],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)
    }

    fn set_next_due(&mut self, integration: i64, at: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO schedules (integration_id, next_due) VALUES (?1, ?2)
                 ON CONFLICT (integration_id) DO UPDATE SET next_due = excluded.next_due",
                params![integration, at],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn fail_abandoned_runs(&mut self) -> Result<u64, StoreError> {
        let now_text = now();
        let changed = self
            .conn
            .execute(
                "UPDATE runs SET status = 'failed', finished_at = ?1, error = 'interrupted: the process running it stopped before it finished'
                 WHERE status = 'running' AND integration_id NOT IN (SELECT integration_id FROM leases WHERE expires_at > ?1)",
                params![now_text],
            )
            .map_err(backend)?;
        Ok(changed as u64)
    }

    fn integration(&self, name: &str) -> Result<Integration, StoreError> {
        self.conn
            .query_row("SELECT id, name, connector, settings, sealed_secrets, created_at, auto_sync_days, auto_onboard, update_metadata FROM integrations WHERE name = ?1", [name], Self::integration_row)
            .optional()
            .map_err(backend)?
            .ok_or_else(|| StoreError::NotFound(format!("integration `{name}`")))
    }

    fn integrations(&self) -> Result<Vec<Integration>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT id, name, connector, settings, sealed_secrets, created_at, auto_sync_days, auto_onboard, update_metadata FROM integrations ORDER BY name").map_err(backend)?;
        let rows = stmt.query_map([], Self::integration_row).map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn remove_integration(&mut self, name: &str) -> Result<(), StoreError> {
        match self
            .conn
            .execute("DELETE FROM integrations WHERE name = ?1", [name])
            .map_err(backend)?
        {
            0 => Err(StoreError::NotFound(format!("integration `{name}`"))),
            _ => Ok(()),
        }
    }

    fn start_run(
        &mut self,
        integration: i64,
        action: Action,
        started_by: &str,
    ) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO runs (integration_id, action, started_at, started_by, status) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![integration, action.as_str(), now(), started_by, RunStatus::Running.as_str()],
            )
            .map_err(backend)?;
        Ok(self.conn.last_insert_rowid())
    }

    fn finish_run(
        &mut self,
        run: i64,
        status: RunStatus,
        c: &RunCounts,
        warnings: &[String],
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE runs SET finished_at = ?2, status = ?3, assets_onboarded = ?4, assets_updated = ?5, assets_skipped = ?6,
                   findings_new = ?7, findings_updated = ?8, findings_unchanged = ?9, findings_skipped = ?10, findings_closed = ?11,
                   warnings = ?12, error = ?13 WHERE id = ?1",
                params![
                    run, now(), status.as_str(), c.assets_onboarded, c.assets_updated, c.assets_skipped, c.findings_new,
                    c.findings_updated, c.findings_unchanged, c.findings_skipped, c.findings_closed, json(&warnings), error
                ],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn history(&self, integration: i64) -> Result<Vec<HistoryRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, action, started_at, finished_at, started_by, status, assets_onboarded, assets_updated, assets_skipped,
                   findings_new, findings_updated, findings_unchanged, findings_skipped, findings_closed, warnings, error, details
                 FROM runs WHERE integration_id = ?1 ORDER BY id DESC",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map([integration], |r| {
                let action: String = r.get(1)?;
                let status: String = r.get(5)?;
                let warnings: String = r.get(14)?;
                Ok(HistoryRow {
                    id: r.get(0)?,
                    action: Action::parse(&action).unwrap_or(Action::SyncNow),
                    started_at: r.get(2)?,
                    finished_at: r.get(3)?,
                    started_by: r.get(4)?,
                    status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
                    counts: RunCounts {
                        assets_onboarded: r.get(6)?,
                        assets_updated: r.get(7)?,
                        assets_skipped: r.get(8)?,
                        findings_new: r.get(9)?,
                        findings_updated: r.get(10)?,
                        findings_unchanged: r.get(11)?,
                        findings_skipped: r.get(12)?,
                        findings_closed: r.get(13)?,
                    },
                    warnings: serde_json::from_str(&warnings).unwrap_or_default(),
                    error: r.get(15)?,
                    details: r.get(16)?,
                })
            })
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn write_batch(
        &mut self,
        integration: i64,
        run: i64,
        policy: &Policy,
        batch: &contract::Batch,
    ) -> Result<RunCounts, StoreError> {
        let tx = self.conn.transaction().map_err(backend)?;
        let mut counts = RunCounts::default();
        for asset in &batch.assets {
            match upsert_asset(&tx, integration, policy, asset)? {
                AssetOutcome::Onboarded => counts.assets_onboarded += 1,
                AssetOutcome::Updated => counts.assets_updated += 1,
                AssetOutcome::Unchanged => {}
                AssetOutcome::Skipped => counts.assets_skipped += 1,
            }
        }
        for finding in &batch.findings {
            let asset_known = tx
                .prepare_cached("SELECT 1 FROM assets WHERE integration_id = ?1 AND source_id = ?2")
                .and_then(|mut s| s.exists(params![integration, finding.asset_source_id]))
                .map_err(backend)?;
            if !asset_known {
                counts.findings_skipped += 1; // its asset is not in the inventory (auto-onboard off)
                continue;
            }
            match upsert_finding(&tx, integration, run, finding)? {
                Upsert::Inserted => counts.findings_new += 1,
                Upsert::Updated => counts.findings_updated += 1,
                Upsert::Unchanged => counts.findings_unchanged += 1,
            }
        }
        for id in &batch.removed_findings {
            counts.findings_closed += close_finding(&tx, integration, id)?;
        }
        tx.commit().map_err(backend)?;
        Ok(counts)
    }

    fn close_findings_unseen_in(&mut self, integration: i64, run: i64) -> Result<u64, StoreError> {
        let closed = self
            .conn
            .execute(
                &format!(
                    // Run ids only grow, so "not seen in this run" is "seen earlier, or never".
                    "{CLOSE_FINDING} WHERE integration_id = ?1 AND closed_reason IS NULL AND (seen_in_run IS NULL OR seen_in_run < ?2)"
                ),
                params![integration, run],
            )
            .map_err(backend)?;
        Ok(closed as u64)
    }

    fn import_assets(&mut self, assets: &[ImportedAsset]) -> Result<(u64, u64), StoreError> {
        let tx = self.conn.transaction().map_err(backend)?;
        let (mut added, mut present) = (0, 0);
        for a in assets {
            let key = canonical_key(
                Some(&a.provider_id),
                &a.cloud_platform,
                "import",
                &a.provider_id,
            );
            let exists = tx
                .prepare_cached("SELECT 1 FROM inventory WHERE canonical_key = ?1")
                .and_then(|mut s| s.exists([&key]))
                .map_err(backend)?;
            if exists {
                present += 1;
                continue;
            }
            let meta = Metadata {
                name: &a.name,
                asset_type: &a.asset_type,
                cloud_platform: &a.cloud_platform,
                cloud_account_id: a.account_id.as_deref(),
                cloud_account_name: None,
                region: a.region.as_deref(),
                provider_id: Some(&a.provider_id),
                tags: json(&a.tags),
                status: None,
                technologies: "[]".into(),
            };
            meta.insert(&tx, &key, "import")?;
            added += 1;
        }
        tx.commit().map_err(backend)?;
        Ok((added, present))
    }

    fn has_asset(&self, integration: i64, source_id: &str) -> Result<bool, StoreError> {
        self.conn
            .prepare_cached("SELECT 1 FROM assets WHERE integration_id = ?1 AND source_id = ?2")
            .and_then(|mut s| s.exists(params![integration, source_id]))
            .map_err(backend)
    }

    fn save_checkpoint(&mut self, integration: i64, state: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO checkpoints (integration_id, state, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (integration_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                params![integration, state, now()],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn checkpoint(&self, integration: i64) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT state FROM checkpoints WHERE integration_id = ?1",
                [integration],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)
    }

    fn assets(&self, filter: &AssetFilter) -> Result<Vec<AssetRow>, StoreError> {
        // Scoped to an integration: its source ids; otherwise the whole inventory by key.
        let id_column = if filter.integration.is_some() {
            "a.source_id"
        } else {
            "inv.canonical_key"
        };
        let from = if filter.integration.is_some() {
            "FROM assets a JOIN inventory inv ON inv.id = a.inventory_id WHERE a.integration_id = ?"
        } else {
            "FROM inventory inv WHERE 1 = 1"
        };
        let mut query = Query::new(&format!(
            "SELECT {id_column}, inv.canonical_key, inv.name, inv.asset_type, inv.cloud_platform, inv.cloud_account_id, inv.cloud_account_name, inv.region,
               inv.provider_id, inv.tags, inv.status, inv.technologies,
               (SELECT json_group_array(name) FROM (SELECT DISTINCT i.name FROM assets a2 JOIN integrations i ON i.id = a2.integration_id
                  WHERE a2.inventory_id = inv.id ORDER BY i.name))
             {from}"
        ));
        if let Some(integration) = filter.integration {
            query.params.push(integration.into());
        }
        query.filter(
            " AND lower(inv.asset_type) = lower(?)",
            filter.asset_type.clone(),
        );
        query.filter(
            " AND lower(inv.cloud_platform) = lower(?)",
            filter.cloud.clone(),
        );
        query.sql.push_str(" ORDER BY inv.name, 1");
        query.rows(&self.conn, |r| {
            let tags: String = r.get(9)?;
            let technologies: String = r.get(11)?;
            let integrations: String = r.get(12)?;
            Ok(AssetRow {
                id: r.get(0)?,
                canonical_key: r.get(1)?,
                name: r.get(2)?,
                asset_type: r.get(3)?,
                cloud_platform: r.get(4)?,
                cloud_account_id: r.get(5)?,
                cloud_account_name: r.get(6)?,
                region: r.get(7)?,
                provider_id: r.get(8)?,
                tags: serde_json::from_str(&tags).unwrap_or_default(),
                status: r.get(10)?,
                technologies: serde_json::from_str(&technologies).unwrap_or_default(),
                integrations: serde_json::from_str(&integrations).unwrap_or_default(),
            })
        })
    }

    fn findings(&self, filter: &FindingFilter) -> Result<Vec<FindingRow>, StoreError> {
        let mut query = Query::new(
            "SELECT i.name, f.source_id, f.asset_source_id, f.title, f.description, f.severity, f.status, f.source_status, f.remediation, f.rule_id,
               f.rule_name, f.created_at, f.updated_at, f.status_changed_at, f.resolved_at, f.due_at, f.project_ids, f.portal_url, f.closed_reason
             FROM findings f JOIN integrations i ON i.id = f.integration_id WHERE 1 = 1",
        );
        query.filter(" AND f.integration_id = ?", filter.integration);
        query.filter(" AND f.source_id = ?", filter.id.clone());
        query.filter(" AND f.asset_source_id = ?", filter.asset.clone());
        query.filter(
            " AND coalesce(f.status_changed_at, f.created_at) >= ?",
            filter.since.clone(),
        );
        query.one_of("f.severity", &filter.severities);
        query.one_of("f.status", &filter.statuses);
        query.sql.push_str(" ORDER BY CASE f.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END, i.name, f.source_id");
        query.rows(&self.conn, |r| {
            let project_ids: String = r.get(16)?;
            Ok(FindingRow {
                integration: r.get(0)?,
                id: r.get(1)?,
                asset_id: r.get(2)?,
                title: r.get(3)?,
                description: r.get(4)?,
                severity: r.get(5)?,
                status: r.get(6)?,
                source_status: r.get(7)?,
                remediation: r.get(8)?,
                rule_id: r.get(9)?,
                rule_name: r.get(10)?,
                created_at: r.get(11)?,
                updated_at: r.get(12)?,
                status_changed_at: r.get(13)?,
                resolved_at: r.get(14)?,
                due_at: r.get(15)?,
                project_ids: serde_json::from_str(&project_ids).unwrap_or_default(),
                portal_url: r.get(17)?,
                closed_reason: r.get(18)?,
            })
        })
    }

    fn finding_raw(&self, integration: i64, id: &str) -> Result<String, StoreError> {
        self.conn
            .query_row(
                "SELECT raw FROM findings WHERE integration_id = ?1 AND source_id = ?2",
                params![integration, id],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?
            .ok_or_else(|| StoreError::NotFound(format!("finding `{id}`")))
    }

    fn set_finding_status(
        &mut self,
        integration: i64,
        id: &str,
        status: &str,
    ) -> Result<(), StoreError> {
        // Only the effective status changes; `reported_status` keeps the source's word.
        let changed = self
            .conn
            .execute(
                "UPDATE findings SET status = ?3 WHERE integration_id = ?1 AND source_id = ?2",
                params![integration, id, status],
            )
            .map_err(backend)?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("finding `{id}`")));
        }
        Ok(())
    }

    fn restore_reported_statuses(&mut self, integration: i64) -> Result<u64, StoreError> {
        let changed = self
            .conn
            .execute("UPDATE findings SET status = reported_status WHERE integration_id = ?1 AND status != reported_status", [integration])
            .map_err(backend)?;
        Ok(changed as u64)
    }

    fn clear_checkpoint(&mut self, integration: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "DELETE FROM checkpoints WHERE integration_id = ?1",
                [integration],
            )
            .map_err(backend)?;
        Ok(())
    }
}

/// A SELECT with optional filters bound as parameters.
struct Query {
    sql: String,
    params: Vec<rusqlite::types::Value>,
}

impl Query {
    fn new(sql: &str) -> Self {
        Query {
            sql: sql.to_string(),
            params: Vec::new(),
        }
    }

    /// Adds `clause` (one `?`) when `value` is given.
    fn filter(&mut self, clause: &str, value: Option<impl Into<rusqlite::types::Value>>) {
        if let Some(value) = value {
            self.sql.push_str(clause);
            self.params.push(value.into());
        }
    }

    /// Adds `column IN (…)` when `values` is not empty.
    fn one_of(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let marks = vec!["?"; values.len()].join(", ");
        self.sql.push_str(&format!(" AND {column} IN ({marks})"));
        self.params.extend(values.iter().cloned().map(Into::into));
    }

    fn rows<T>(
        &self,
        conn: &Connection,
        map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = conn.prepare(&self.sql).map_err(backend)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(self.params.iter()), map)
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn upgrading_a_version_1_store_keeps_its_findings_and_assets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        version_1_store(&path);
        let store = SqliteStore::open(&path).unwrap();
        let version: usize = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len());
        assert_eq!(store.finding_raw(1, "finding-1").unwrap(), r#"{"id":1}"#);
        assert!(store.has_asset(1, "asset-1").unwrap());
        let duplicate = store.conn.execute(
            "INSERT INTO findings (integration_id, source_id, asset_source_id, title, description, severity, status,
               source_status, project_ids, raw, content_hash, first_seen_at, reported_status)
               VALUES (1, 'finding-1', 'asset-1', '', '', 'high', 'failed', 'OPEN', '[]', '{}', X'', '', 'failed')",
            [],
        );
        assert!(duplicate.is_err(), "source ids stay unique per integration");
    }
}
