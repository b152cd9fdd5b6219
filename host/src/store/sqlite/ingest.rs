//! SQLite's bulk work of a batch ([`BulkWrites`]): the snapshot read and the plan
//! written statement by statement on cached statements, in the group's transaction.

use super::session::SqliteSession;
use crate::model::{now, time_text};
use crate::policy::hash::json;
use crate::policy::ingest::{CLOSED_STATUS, InventoryRef, Keys, Plan, REMOVED_AT_SOURCE, Snapshot};
use crate::policy::inventory::Metadata;
use crate::store::StoreError;
use crate::store::ingest::{BulkWrites, close_finding, rewrite_stored_finding};
use rusqlite::{Connection, OptionalExtension, params};
use std::future::{Future, ready};

fn snapshot(tx: &Connection, integration: i64, keys: &Keys<'_>) -> Result<Snapshot, StoreError> {
    let mut s = Snapshot::default();
    let mut inventory =
        tx.prepare_cached("SELECT id, metadata_hash FROM inventory WHERE canonical_key = ?1")?;
    for key in &keys.canonical {
        if let Some(entry) = inventory
            .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
        {
            s.inventory.insert(key.clone(), entry);
        }
    }
    let mut assets = tx.prepare_cached(
        // A removed link reads as changed, so an asset reported again is linked again.
        "SELECT CASE WHEN removed_at IS NULL THEN content_hash ELSE X'' END FROM assets WHERE integration_id = ?1 AND source_id = ?2",
    )?;
    for id in &keys.asset_ids {
        if let Some(hash) = assets
            .query_row(params![integration, id], |r| r.get(0))
            .optional()?
        {
            s.asset_links.insert(id.to_string(), hash);
        }
    }
    // Index only: whether a linked asset exists never reads its row and raw record.
    let mut linked =
        tx.prepare_cached("SELECT 1 FROM assets WHERE integration_id = ?1 AND source_id = ?2")?;
    for id in &keys.linked_ids {
        if linked.exists(params![integration, id])? {
            s.linked.insert(id.to_string());
        }
    }
    let mut findings = tx.prepare_cached(
        "SELECT content_hash FROM findings WHERE integration_id = ?1 AND source_id = ?2",
    )?;
    for id in &keys.finding_ids {
        if let Some(hash) = findings
            .query_row(params![integration, id], |r| r.get(0))
            .optional()?
        {
            s.findings.insert(id.to_string(), hash);
        }
    }
    Ok(s)
}

/// Creates an inventory entry; returns its id.
pub(super) fn insert_entry(
    tx: &Connection,
    key: &str,
    m: &Metadata,
    origin: &str,
    at: &str,
) -> Result<i64, StoreError> {
    tx.prepare_cached(
        "INSERT INTO inventory (canonical_key, name, asset_type, cloud_platform, cloud_account_id, cloud_account_name, region, provider_id, tags, status,
           technologies, metadata_hash, origin, created_at, updated_at, name_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, ?15)",
    )?
    .execute(params![
        key, m.name, m.asset_type, m.cloud_platform, m.cloud_account_id, m.cloud_account_name, m.region, m.provider_id,
        json(&m.tags), m.status, json(&m.technologies), m.hash, origin, at, m.name_key
    ])?;
    Ok(tx.last_insert_rowid())
}

/// The id of the pair of `title` and `rule_name` the search indexes, added if new.
fn text_id(tx: &Connection, title: &str, rule_name: Option<&str>) -> Result<i64, StoreError> {
    let rule_name = rule_name.unwrap_or_default();
    let known = tx
        .prepare_cached("SELECT id FROM finding_texts WHERE title = ?1 AND rule_name = ?2")?
        .query_row(params![title, rule_name], |r| r.get(0))
        .optional()?;
    if let Some(id) = known {
        return Ok(id);
    }
    tx.prepare_cached("INSERT INTO finding_texts (title, rule_name) VALUES (?1, ?2)")?
        .execute(params![title, rule_name])?;
    Ok(tx.last_insert_rowid())
}

fn apply(tx: &Connection, integration: i64, run: i64, plan: &Plan<'_>) -> Result<u64, StoreError> {
    let origin = format!("integration:{integration}");
    let at = time_text(now());
    let mut created = Vec::with_capacity(plan.onboard.len());
    for entry in &plan.onboard {
        created.push(insert_entry(tx, &entry.key, &entry.metadata, &origin, &at)?);
    }
    let mut update = tx.prepare_cached(
        "UPDATE inventory SET name = ?2, asset_type = ?3, cloud_platform = ?4, cloud_account_id = ?5, cloud_account_name = ?6, region = ?7,
           provider_id = ?8, tags = ?9, status = ?10, technologies = ?11, metadata_hash = ?12, updated_at = ?13, name_key = ?14 WHERE id = ?1",
    )?;
    let mut renamed = tx.prepare_cached(
        "UPDATE findings SET asset_key = ?2 WHERE (integration_id, asset_source_id) IN
           (SELECT integration_id, source_id FROM assets WHERE inventory_id = ?1) AND asset_key != ?2",
    )?;
    for (id, m) in &plan.update_metadata {
        update.execute(params![
            id,
            m.name,
            m.asset_type,
            m.cloud_platform,
            m.cloud_account_id,
            m.cloud_account_name,
            m.region,
            m.provider_id,
            json(&m.tags),
            m.status,
            json(&m.technologies),
            m.hash,
            at,
            m.name_key
        ])?;
        // A renamed entry: every integration's findings on it sort by the new name.
        renamed.execute(params![id, m.name_key])?;
    }
    let mut follow = tx.prepare_cached(
        "UPDATE findings SET asset_key = coalesce((SELECT name_key FROM inventory WHERE id = ?3), '')
         WHERE integration_id = ?1 AND asset_source_id = ?2 AND asset_key != coalesce((SELECT name_key FROM inventory WHERE id = ?3), '')",
    )?;
    let mut link = tx.prepare_cached(
        "INSERT INTO assets (integration_id, source_id, inventory_id, raw, content_hash, first_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (integration_id, source_id) DO UPDATE SET inventory_id = excluded.inventory_id, raw = excluded.raw, content_hash = excluded.content_hash,
           removed_at = NULL",
    )?;
    for l in &plan.link {
        let inventory_id = match l.inventory {
            InventoryRef::Stored(id) => id,
            InventoryRef::New(index) => created[index],
        };
        link.execute(params![
            integration,
            l.source_id,
            inventory_id,
            l.raw,
            l.hash,
            at
        ])?;
        // Findings stored before their asset (or before it moved to another entry) sort
        // by its name from now on.
        follow.execute(params![integration, l.source_id, inventory_id])?;
    }
    let mut write = tx.prepare_cached(concat!(
        "INSERT INTO findings (integration_id, source_id, asset_source_id, title, description, severity, status, source_status, remediation, rule_id, rule_name,
           created_at, updated_at, status_changed_at, resolved_at, due_at, project_ids, portal_url, raw, content_hash, first_seen_at, reported_status, seen_in_run,
           kind, vulnerability, stream, text_id, asset_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?7, ?22, ?23, ?24, ?25, ?26,
           coalesce((SELECT inv.name_key FROM assets a JOIN inventory inv ON inv.id = a.inventory_id
             WHERE a.integration_id = ?1 AND a.source_id = ?3), ''))",
        rewrite_stored_finding!()
    ),
    )?;
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(time_text);
    for w in &plan.write {
        let f = w.finding;
        write.execute(params![
            integration,
            f.source_id,
            f.asset_source_id,
            f.title,
            f.description,
            f.severity.as_str(),
            f.status.as_str(),
            f.source_status,
            f.remediation,
            f.rule_id,
            f.rule_name,
            time(f.created_at),
            time(f.updated_at),
            time(f.status_changed_at),
            time(f.resolved_at),
            time(f.due_at),
            json(&f.project_ids),
            f.portal_url,
            f.raw,
            w.hash,
            at,
            run,
            f.kind.as_str(),
            f.vulnerability.as_ref().map(json),
            f.stream,
            text_id(tx, &f.title, f.rule_name.as_deref())?,
        ])?;
    }
    let mut seen = tx.prepare_cached(
        "UPDATE findings SET seen_in_run = ?3 WHERE integration_id = ?1 AND source_id = ?2",
    )?;
    for id in &plan.seen {
        seen.execute(params![integration, id, run])?;
    }
    let (status, reason) = (CLOSED_STATUS.as_str(), REMOVED_AT_SOURCE);
    let mut close = tx.prepare_cached(&format!(
        "{} WHERE integration_id = ?1 AND source_id = ?2 AND closed_reason IS NULL",
        close_finding(3)
    ))?;
    let mut closed = 0;
    for id in plan.close {
        closed += close.execute(params![integration, id, status, reason])? as u64;
    }
    let mut remove = tx.prepare_cached(
        "UPDATE assets SET removed_at = ?3 WHERE integration_id = ?1 AND source_id = ?2 AND removed_at IS NULL",
    )?;
    let mut close_on_asset = tx.prepare_cached(&format!(
        "{} WHERE integration_id = ?1 AND asset_source_id = ?2 AND closed_reason IS NULL",
        close_finding(3)
    ))?;
    for id in plan.remove_assets {
        remove.execute(params![integration, id, at])?;
        closed += close_on_asset.execute(params![integration, id, status, reason])? as u64;
    }
    Ok(closed)
}

impl BulkWrites for SqliteSession<'_> {
    fn snapshot(
        &mut self,
        integration: i64,
        keys: &Keys<'_>,
    ) -> impl Future<Output = Result<Snapshot, StoreError>> + Send {
        ready(snapshot(self.conn, integration, keys))
    }

    fn apply(
        &mut self,
        integration: i64,
        run: i64,
        plan: &Plan<'_>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        ready(apply(self.conn, integration, run, plan))
    }
}
