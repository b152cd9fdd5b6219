//! A batch's findings, written to PostgreSQL. Their search texts' ids and their assets'
//! sort keys are looked up once for the batch, and findings the store does not hold yet
//! go in by a plain insert: the per-row lookups and the conflict check were a third of
//! the server's time for the findings (BENCHMARKS.md, issue 27's thirteenth session).

use crate::policy::ingest::FindingWrite;
use crate::store::StoreError;
use crate::store::ingest::rewrite_stored_finding;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use std::collections::HashMap;

/// Inserts the findings held in parallel arrays: [`INSERT`] as it is, [`UPSERT`] with the
/// rewrite of a stored finding after it.
macro_rules! insert_findings {
    () => {
        "INSERT INTO findings (integration_id, source_id, asset_source_id, title, description, severity, status, source_status, remediation,
           rule_id, rule_name, created_at, updated_at, status_changed_at, resolved_at, due_at, project_ids, portal_url, raw, content_hash,
           first_seen_at, reported_status, seen_in_run, kind, vulnerability, stream, text_id, asset_key)
         SELECT $1, id, a, t, d, sev, st, ss, rem, ri, rn, ca, ua, sca, ra, da, pr, pu, raw, h, $21, st, $22, k, v, sm, ti, ak
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
                     $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $15::timestamptz[], $16::timestamptz[], $17::jsonb[],
                     $18::text[], $19::text[], $20::bytea[], $23::text[], $24::jsonb[], $25::text[], $26::bigint[], $27::text[])
           AS u(id, a, t, d, sev, st, ss, rem, ri, rn, ca, ua, sca, ra, da, pr, pu, raw, h, k, v, sm, ti, ak)"
    };
}

/// Findings the store did not hold when the batch was planned. Only the run's own
/// transaction writes its integration's findings (the lease's fence), so none can have
/// appeared since.
const INSERT: &str = insert_findings!();

/// Findings the store holds (a closed one included): the record replaces the stored one,
/// and reopens it.
const UPSERT: &str = concat!(insert_findings!(), rewrite_stored_finding!());

/// Writes `writes` (one per finding id) for `run`.
pub(super) async fn write(
    tx: &Transaction<'_>,
    integration: i64,
    run: i64,
    writes: &[FindingWrite<'_>],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if writes.is_empty() {
        return Ok(());
    }
    let lookups = Lookups {
        texts: text_ids(tx, writes).await?,
        asset_keys: asset_keys(tx, integration, writes).await?,
    };
    let (new, stored): (Vec<_>, Vec<_>) = writes.iter().partition(|w| w.new);
    for (sql, writes) in [(INSERT, new), (UPSERT, stored)] {
        if writes.is_empty() {
            continue;
        }
        let mut c = FindingColumns::default();
        for w in writes {
            c.push(w, &lookups)?;
        }
        let stmt = tx.prepare_cached(sql).await?;
        tx.execute(
            &stmt,
            &[
                &integration,
                &c.id,
                &c.asset,
                &c.title,
                &c.description,
                &c.severity,
                &c.status,
                &c.source_status,
                &c.remediation,
                &c.rule_id,
                &c.rule_name,
                &c.created,
                &c.updated,
                &c.changed,
                &c.resolved,
                &c.due,
                &c.projects,
                &c.portal,
                &c.raw,
                &c.hash,
                &at,
                &run,
                &c.kind,
                &c.vulnerability,
                &c.stream,
                &c.text_id,
                &c.asset_key,
            ],
        )
        .await?;
    }
    Ok(())
}

/// What the batch's findings refer to, looked up once for all of them.
struct Lookups<'a> {
    /// The search text id of each pair of title and rule name (none: empty).
    texts: HashMap<(&'a str, &'a str), i64>,
    /// The sort key of each asset that has one.
    asset_keys: HashMap<&'a str, String>,
}

/// The pair of title and rule name the search indexes for a finding.
fn text_pair<'a>(w: &FindingWrite<'a>) -> (&'a str, &'a str) {
    let f = w.finding;
    (&f.title, f.rule_name.as_deref().unwrap_or_default())
}

/// The ids of the writes' pairs of title and rule name, adding the pairs that are new.
async fn text_ids<'a>(
    tx: &Transaction<'_>,
    writes: &[FindingWrite<'a>],
) -> Result<HashMap<(&'a str, &'a str), i64>, StoreError> {
    let mut pairs: Vec<(&str, &str)> = writes.iter().map(text_pair).collect();
    pairs.sort_unstable();
    pairs.dedup();
    let (titles, rule_names): (Vec<&str>, Vec<&str>) = pairs.iter().copied().unzip();
    // In one order, so two workers adding the same pairs wait on each other instead of
    // deadlocking.
    let add = tx
        .prepare_cached(
            "INSERT INTO finding_texts (title, rule_name)
             SELECT t, rn FROM unnest($1::text[], $2::text[]) AS u(t, rn) ORDER BY 1, 2
             ON CONFLICT DO NOTHING",
        )
        .await?;
    tx.execute(&add, &[&titles, &rule_names]).await?;
    // A statement of its own: it sees the pairs the insert added and those another
    // worker's insert, which that one waited for, committed. One index probe a pair:
    // a join is planned on the statistics of a table still being loaded, and scanned it.
    let find = tx
        .prepare_cached(
            "SELECT (SELECT ft.id FROM finding_texts ft WHERE md5(ft.title) = md5(u.t) AND md5(ft.rule_name) = md5(u.rn)
                       AND ft.title = u.t AND ft.rule_name = u.rn)
             FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(t, rn, i) ORDER BY u.i",
        )
        .await?;
    let rows = tx.query(&find, &[&titles, &rule_names]).await?;
    let mut ids = HashMap::with_capacity(pairs.len());
    for (pair, r) in pairs
        .into_iter()
        .zip(one_row_each(rows, titles.len(), "search text")?)
    {
        if let Some(id) = r.try_get::<_, Option<i64>>(0)? {
            ids.insert(pair, id);
        }
    }
    Ok(ids)
}

/// The sort keys of the assets the writes are on: their inventory entries' name keys,
/// as linked now (this batch's links included).
async fn asset_keys<'a>(
    tx: &Transaction<'_>,
    integration: i64,
    writes: &[FindingWrite<'a>],
) -> Result<HashMap<&'a str, String>, StoreError> {
    let mut assets: Vec<&str> = writes
        .iter()
        .map(|w| w.finding.asset_source_id.as_str())
        .collect();
    assets.sort_unstable();
    assets.dedup();
    // One probe an asset, as a subquery: see `text_ids`.
    let stmt = tx
        .prepare_cached(
            "SELECT (SELECT inv.name_key FROM assets a JOIN inventory inv ON inv.id = a.inventory_id
                     WHERE a.integration_id = $1 AND a.source_id = u.s)
             FROM unnest($2::text[]) WITH ORDINALITY AS u(s, i) ORDER BY u.i",
        )
        .await?;
    let rows = tx.query(&stmt, &[&integration, &assets]).await?;
    let mut keys = HashMap::with_capacity(assets.len());
    for (asset, r) in assets
        .iter()
        .zip(one_row_each(rows, assets.len(), "asset sort key")?)
    {
        if let Some(key) = r.try_get::<_, Option<String>>(0)? {
            keys.insert(*asset, key);
        }
    }
    Ok(keys)
}

/// The rows of a lookup that answers one row for each of `asked` keys, in their order.
fn one_row_each(
    rows: Vec<tokio_postgres::Row>,
    asked: usize,
    what: &str,
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    match rows.len() == asked {
        true => Ok(rows),
        false => Err(StoreError::Corrupt {
            what: what.into(),
            detail: format!("{asked} looked up, {} answered", rows.len()),
        }),
    }
}

/// Columns of the findings to write, as parallel arrays for `unnest`.
#[derive(Default)]
struct FindingColumns<'a> {
    id: Vec<&'a str>,
    asset: Vec<&'a str>,
    title: Vec<&'a str>,
    description: Vec<&'a str>,
    severity: Vec<&'a str>,
    status: Vec<&'a str>,
    source_status: Vec<&'a str>,
    remediation: Vec<Option<&'a str>>,
    rule_id: Vec<Option<&'a str>>,
    rule_name: Vec<Option<&'a str>>,
    created: Vec<Option<DateTime<Utc>>>,
    updated: Vec<Option<DateTime<Utc>>>,
    changed: Vec<Option<DateTime<Utc>>>,
    resolved: Vec<Option<DateTime<Utc>>>,
    due: Vec<Option<DateTime<Utc>>>,
    projects: Vec<serde_json::Value>,
    portal: Vec<Option<&'a str>>,
    raw: Vec<&'a str>,
    hash: Vec<&'a [u8]>,
    kind: Vec<&'a str>,
    vulnerability: Vec<Option<serde_json::Value>>,
    stream: Vec<&'a str>,
    text_id: Vec<i64>,
    asset_key: Vec<&'a str>,
}

impl<'a> FindingColumns<'a> {
    fn push(
        &mut self,
        w: &'a FindingWrite<'a>,
        lookups: &'a Lookups<'_>,
    ) -> Result<(), StoreError> {
        let f = w.finding;
        let text_id = *lookups
            .texts
            .get(&text_pair(w))
            .ok_or_else(|| StoreError::Corrupt {
                what: "search text".into(),
                detail: format!("finding `{}`'s was neither added nor found", f.source_id),
            })?;
        self.id.push(&f.source_id);
        self.asset.push(&f.asset_source_id);
        self.title.push(&f.title);
        self.description.push(&f.description);
        self.severity.push(f.severity.as_str());
        self.status.push(f.status.as_str());
        self.source_status.push(&f.source_status);
        self.remediation.push(f.remediation.as_deref());
        self.rule_id.push(f.rule_id.as_deref());
        self.rule_name.push(f.rule_name.as_deref());
        self.created.push(f.created_at);
        self.updated.push(f.updated_at);
        self.changed.push(f.status_changed_at);
        self.resolved.push(f.resolved_at);
        self.due.push(f.due_at);
        self.projects
            .push(serde_json::to_value(&f.project_ids).expect("plain data"));
        self.portal.push(f.portal_url.as_deref());
        self.raw.push(&f.raw);
        self.hash.push(&w.hash);
        self.kind.push(f.kind.as_str());
        self.stream.push(&f.stream);
        self.vulnerability.push(
            f.vulnerability
                .as_ref()
                .map(|v| serde_json::to_value(v).expect("plain data")),
        );
        self.text_id.push(text_id);
        self.asset_key.push(
            lookups
                .asset_keys
                .get(f.asset_source_id.as_str())
                .map_or("", String::as_str),
        );
        Ok(())
    }
}
