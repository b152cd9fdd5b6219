//! PostgreSQL's bulk work of a batch ([`BulkWrites`]): a few statements whatever the
//! batch's size, three snapshot reads by `= ANY`, then one multi-row statement over
//! `unnest` arrays per kind of write.

use super::findings;
use super::session::PgSession;
use crate::model::now;
use crate::policy::ingest::{CLOSED_STATUS, InventoryRef, Keys, Plan, REMOVED_AT_SOURCE, Snapshot};
use crate::policy::inventory::Metadata;
use crate::store::StoreError;
use crate::store::ingest::{BulkWrites, close_finding};
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use std::collections::HashMap;
use std::future::Future;

/// A statement written with SQLite's numbered placeholders (`?1`), in PostgreSQL's (`$1`).
pub(super) fn dollars(sql: &str) -> String {
    sql.replace('?', "$")
}

async fn snapshot(
    tx: &Transaction<'_>,
    integration: i64,
    keys: &Keys<'_>,
) -> Result<Snapshot, StoreError> {
    let mut s = Snapshot::default();
    if !keys.canonical.is_empty() {
        let stmt = tx
            .prepare_cached("SELECT canonical_key, id, metadata_hash FROM inventory WHERE canonical_key = ANY($1)")
            .await?;
        for r in tx.query(&stmt, &[&keys.canonical]).await? {
            s.inventory
                .insert(r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?));
        }
    }
    if !keys.asset_ids.is_empty() {
        let stmt = tx
            // A removed link reads as changed, so an asset reported again is linked again.
            .prepare_cached("SELECT source_id, CASE WHEN removed_at IS NULL THEN content_hash ELSE ''::bytea END FROM assets WHERE integration_id = $1 AND source_id = ANY($2)")
            .await?;
        for r in tx.query(&stmt, &[&integration, &keys.asset_ids]).await? {
            s.asset_links.insert(r.try_get(0)?, r.try_get(1)?);
        }
    }
    if !keys.linked_ids.is_empty() {
        let stmt = tx
            .prepare_cached(
                "SELECT source_id FROM assets WHERE integration_id = $1 AND source_id = ANY($2)",
            )
            .await?;
        for r in tx.query(&stmt, &[&integration, &keys.linked_ids]).await? {
            s.linked.insert(r.try_get(0)?);
        }
    }
    if !keys.finding_ids.is_empty() {
        let stmt = tx
            .prepare_cached("SELECT source_id, content_hash FROM findings WHERE integration_id = $1 AND source_id = ANY($2)")
            .await?;
        for r in tx.query(&stmt, &[&integration, &keys.finding_ids]).await? {
            s.findings.insert(r.try_get(0)?, r.try_get(1)?);
        }
    }
    Ok(s)
}

/// Columns of inventory metadata, as parallel arrays for `unnest`.
#[derive(Default)]
struct MetadataColumns {
    name: Vec<String>,
    asset_type: Vec<String>,
    cloud_platform: Vec<String>,
    cloud_account_id: Vec<Option<String>>,
    cloud_account_name: Vec<Option<String>>,
    region: Vec<Option<String>>,
    provider_id: Vec<Option<String>>,
    tags: Vec<serde_json::Value>,
    status: Vec<Option<String>>,
    technologies: Vec<serde_json::Value>,
    hash: Vec<Vec<u8>>,
    name_key: Vec<String>,
}

impl MetadataColumns {
    fn push(&mut self, m: &Metadata) {
        self.name.push(m.name.clone());
        self.asset_type.push(m.asset_type.clone());
        self.cloud_platform.push(m.cloud_platform.clone());
        self.cloud_account_id.push(m.cloud_account_id.clone());
        self.cloud_account_name.push(m.cloud_account_name.clone());
        self.region.push(m.region.clone());
        self.provider_id.push(m.provider_id.clone());
        self.tags
            .push(serde_json::to_value(&m.tags).expect("plain data"));
        self.status.push(m.status.clone());
        self.technologies
            .push(serde_json::to_value(&m.technologies).expect("plain data"));
        self.hash.push(m.hash.clone());
        self.name_key.push(m.name_key.clone());
    }
}

/// Creates inventory entries; returns each key's id. An entry another host created
/// meanwhile is found rather than duplicated.
pub(super) async fn insert_entries(
    tx: &Transaction<'_>,
    entries: &[(&str, &Metadata)],
    origin: &str,
    at: DateTime<Utc>,
) -> Result<HashMap<String, i64>, StoreError> {
    if entries.is_empty() {
        return Ok(HashMap::new());
    }
    let keys: Vec<&str> = entries.iter().map(|(k, _)| *k).collect();
    let mut m = MetadataColumns::default();
    for (_, metadata) in entries {
        m.push(metadata);
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO inventory (canonical_key, name, asset_type, cloud_platform, cloud_account_id, cloud_account_name, region, provider_id,
               tags, status, technologies, metadata_hash, origin, created_at, updated_at, name_key)
             SELECT k, n, t, p, ai, an, r, pi, tg, s, te, h, $13, $14, $14, nk
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::jsonb[],
                         $10::text[], $11::jsonb[], $12::bytea[], $15::text[]) AS u(k, n, t, p, ai, an, r, pi, tg, s, te, h, nk)
             ON CONFLICT (canonical_key) DO NOTHING
             RETURNING canonical_key, id",
        )
        .await?;
    let mut ids = HashMap::new();
    for r in tx
        .query(
            &stmt,
            &[
                &keys,
                &m.name,
                &m.asset_type,
                &m.cloud_platform,
                &m.cloud_account_id,
                &m.cloud_account_name,
                &m.region,
                &m.provider_id,
                &m.tags,
                &m.status,
                &m.technologies,
                &m.hash,
                &origin,
                &at,
                &m.name_key,
            ],
        )
        .await?
    {
        ids.insert(r.try_get(0)?, r.try_get(1)?);
    }
    if ids.len() < keys.len() {
        let missing: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| !ids.contains_key(*k))
            .collect();
        for r in tx
            .query(
                "SELECT canonical_key, id FROM inventory WHERE canonical_key = ANY($1)",
                &[&missing],
            )
            .await?
        {
            ids.insert(r.try_get(0)?, r.try_get(1)?);
        }
    }
    Ok(ids)
}

async fn update_metadata(
    tx: &Transaction<'_>,
    updates: &[(i64, Metadata)],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if updates.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = updates.iter().map(|(id, _)| *id).collect();
    let mut m = MetadataColumns::default();
    for (_, metadata) in updates {
        m.push(metadata);
    }
    let stmt = tx
        .prepare_cached(
            "UPDATE inventory SET name = u.n, asset_type = u.t, cloud_platform = u.p, cloud_account_id = u.ai, cloud_account_name = u.an,
               region = u.r, provider_id = u.pi, tags = u.tg, status = u.s, technologies = u.te, metadata_hash = u.h, updated_at = $13,
               name_key = u.nk
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::jsonb[],
                         $10::text[], $11::jsonb[], $12::bytea[], $14::text[]) AS u(id, n, t, p, ai, an, r, pi, tg, s, te, h, nk)
             WHERE inventory.id = u.id",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &ids,
            &m.name,
            &m.asset_type,
            &m.cloud_platform,
            &m.cloud_account_id,
            &m.cloud_account_name,
            &m.region,
            &m.provider_id,
            &m.tags,
            &m.status,
            &m.technologies,
            &m.hash,
            &at,
            &m.name_key,
        ],
    )
    .await?;
    // Renamed entries: every integration's findings on them sort by the new names.
    let renamed = tx
        .prepare_cached(
            "UPDATE findings f SET asset_key = inv.name_key FROM assets a JOIN inventory inv ON inv.id = a.inventory_id
             WHERE inv.id = ANY($1) AND f.integration_id = a.integration_id AND f.asset_source_id = a.source_id
               AND f.asset_key <> inv.name_key",
        )
        .await?;
    tx.execute(&renamed, &[&ids]).await?;
    Ok(())
}

async fn link_assets(
    tx: &Transaction<'_>,
    integration: i64,
    plan: &Plan<'_>,
    created: &HashMap<String, i64>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if plan.link.is_empty() {
        return Ok(());
    }
    let mut source_ids = Vec::with_capacity(plan.link.len());
    let mut inventory_ids = Vec::with_capacity(plan.link.len());
    let mut raws = Vec::with_capacity(plan.link.len());
    let mut hashes = Vec::with_capacity(plan.link.len());
    for l in &plan.link {
        let id = match l.inventory {
            InventoryRef::Stored(id) => id,
            InventoryRef::New(index) => {
                let key = &plan.onboard[index].key;
                *created.get(key).ok_or_else(|| StoreError::Corrupt {
                    what: "inventory entry".into(),
                    detail: format!("`{key}` was neither created nor found"),
                })?
            }
        };
        source_ids.push(l.source_id);
        inventory_ids.push(id);
        raws.push(l.raw);
        hashes.push(l.hash.as_slice());
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO assets (integration_id, source_id, inventory_id, raw, content_hash, first_seen_at)
             SELECT $1, s, i, r, h, $6 FROM unnest($2::text[], $3::bigint[], $4::text[], $5::bytea[]) AS u(s, i, r, h)
             ON CONFLICT (integration_id, source_id) DO UPDATE SET inventory_id = EXCLUDED.inventory_id, raw = EXCLUDED.raw,
               content_hash = EXCLUDED.content_hash, removed_at = NULL",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &integration,
            &source_ids,
            &inventory_ids,
            &raws,
            &hashes,
            &at,
        ],
    )
    .await?;
    // Findings stored before their asset (or before it moved to another entry) sort by
    // its name from now on; by `findings_by_asset`, one probe per asset.
    let follow = tx
        .prepare_cached(
            "UPDATE findings f SET asset_key = coalesce(inv.name_key, '')
             FROM unnest($2::text[], $3::bigint[]) AS u(s, i) JOIN inventory inv ON inv.id = u.i
             WHERE f.integration_id = $1 AND f.asset_source_id = u.s AND f.asset_key <> coalesce(inv.name_key, '')",
        )
        .await?;
    tx.execute(&follow, &[&integration, &source_ids, &inventory_ids])
        .await?;
    Ok(())
}

async fn apply(
    tx: &Transaction<'_>,
    integration: i64,
    run: i64,
    plan: &Plan<'_>,
) -> Result<u64, StoreError> {
    let at = now();
    let entries: Vec<(&str, &Metadata)> = plan
        .onboard
        .iter()
        .map(|e| (e.key.as_str(), &e.metadata))
        .collect();
    let created = insert_entries(tx, &entries, &format!("integration:{integration}"), at).await?;
    update_metadata(tx, &plan.update_metadata, at).await?;
    link_assets(tx, integration, plan, &created, at).await?;
    findings::write(tx, integration, run, &plan.write, at).await?;
    if !plan.seen.is_empty() {
        let stmt = tx
            .prepare_cached("UPDATE findings SET seen_in_run = $3 WHERE integration_id = $1 AND source_id = ANY($2)")
            .await?;
        tx.execute(&stmt, &[&integration, &plan.seen, &run]).await?;
    }
    let (status, reason) = (CLOSED_STATUS.as_str(), REMOVED_AT_SOURCE);
    let mut closed = 0;
    if !plan.close.is_empty() {
        // `coalesce(…) = ''` rather than `IS NULL`: the latter matches the partial index of
        // open findings, which the planner, with the statistics of a table still being
        // loaded, took for the cheap path and scanned whole for every batch (12 of the 22
        // seconds of a 100k sync). This way the primary key finds each id.
        let stmt = tx
            .prepare_cached(&dollars(&format!("{} WHERE integration_id = ?1 AND source_id = ANY(?2) AND coalesce(closed_reason, '') = ''", close_finding(3))))
            .await?;
        closed += tx
            .execute(&stmt, &[&integration, &plan.close, &status, &reason])
            .await?;
    }
    if !plan.remove_assets.is_empty() {
        let remove = tx
            .prepare_cached("UPDATE assets SET removed_at = $3 WHERE integration_id = $1 AND source_id = ANY($2) AND removed_at IS NULL")
            .await?;
        tx.execute(&remove, &[&integration, &plan.remove_assets, &at])
            .await?;
        // By asset, through `findings_by_asset` (the same care as above).
        let close = tx
            .prepare_cached(&dollars(&format!("{} WHERE integration_id = ?1 AND asset_source_id = ANY(?2) AND coalesce(closed_reason, '') = ''", close_finding(3))))
            .await?;
        closed += tx
            .execute(
                &close,
                &[&integration, &plan.remove_assets, &status, &reason],
            )
            .await?;
    }
    Ok(closed)
}

impl BulkWrites for PgSession<'_> {
    async fn group_begun(&mut self) -> Result<(), StoreError> {
        // A group need not wait for its WAL to reach the disk: commits stay in order, so
        // a crash that loses a group loses its checkpoint too, and the next sync reads
        // those batches again; the run itself stops at its next write, which finds the
        // server restarted.
        self.tx
            .batch_execute("SET LOCAL synchronous_commit = off")
            .await?;
        Ok(())
    }

    fn snapshot(
        &mut self,
        integration: i64,
        keys: &Keys<'_>,
    ) -> impl Future<Output = Result<Snapshot, StoreError>> + Send {
        snapshot(self.tx, integration, keys)
    }

    fn apply(
        &mut self,
        integration: i64,
        run: i64,
        plan: &Plan<'_>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        apply(self.tx, integration, run, plan)
    }
}
