//! The inventory and findings in SQLite: imports and the listings.

use super::ingest::insert_entry;
use super::{SqliteStore, parsed_at};
use crate::import::ImportedAsset;
use crate::model::{
    AssetCursor, AssetFilter, AssetPage, FindingCursor, FindingFilter, FindingOrder, FindingPage,
    FindingSort, Severity, SortKey, StatusChange, StatusChangeRecord, StatusesMoved, now,
    time_text,
};
use crate::policy::inventory::{import_key, plan_import};
use crate::store::rows::{asset_row, finding_row, finding_select, status_change_row};
use crate::store::{
    FindingStore, InventoryStore, StoreError, cut_page, finding_page_of, page_fetch,
    reads_descending, removed_column,
};
use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashSet;

/// The column a sort orders by: the expression its index holds.
fn sort_column(by: FindingSort) -> &'static str {
    match by {
        FindingSort::Severity => "f.severity_rank",
        FindingSort::Title => "f.title COLLATE NOCASE",
        FindingSort::Asset => "f.asset_key",
        FindingSort::Status => "f.status",
        FindingSort::Changed => "coalesce(f.status_changed_at, f.created_at, f.first_seen_at)",
    }
}

/// A SELECT with optional filters bound as parameters.
struct Query {
    sql: String,
    params: Vec<Value>,
}

impl Query {
    fn new(sql: &str) -> Self {
        Query {
            sql: sql.to_string(),
            params: Vec::new(),
        }
    }

    /// Adds `clause` (one `?`) when `value` is given.
    fn filter(&mut self, clause: &str, value: Option<impl Into<Value>>) {
        if let Some(value) = value {
            self.sql.push_str(clause);
            self.params.push(value.into());
        }
    }

    /// Adds `column IN (…)` when `values` is not empty.
    fn one_of(&mut self, column: &str, values: &[&str]) {
        if values.is_empty() {
            return;
        }
        let marks = vec!["?"; values.len()].join(", ");
        self.sql.push_str(&format!(" AND {column} IN ({marks})"));
        self.params
            .extend(values.iter().map(|v| Value::Text(v.to_string())));
    }

    /// Adds the conditions of `filter` on the findings table `f`.
    fn matching(&mut self, filter: &FindingFilter) {
        self.filter(" AND f.integration_id = ?", filter.integration);
        self.filter(" AND f.source_id = ?", filter.id.clone());
        self.filter(" AND f.asset_source_id = ?", filter.asset.clone());
        self.filter(
            " AND EXISTS (SELECT 1 FROM assets a JOIN inventory inv ON inv.id = a.inventory_id WHERE inv.canonical_key = ? AND a.integration_id = f.integration_id AND a.source_id = f.asset_source_id)",
            filter.inventory.clone(),
        );
        self.filter(
            " AND coalesce(f.status_changed_at, f.created_at) >= ?",
            filter.since.map(time_text),
        );
        // By rank, the listing index's first column: a severity filter reads a range of it.
        if !filter.severities.is_empty() {
            let marks = vec!["?"; filter.severities.len()].join(", ");
            self.sql
                .push_str(&format!(" AND f.severity_rank IN ({marks})"));
            self.params
                .extend(filter.severities.iter().map(|s| Value::Integer(s.rank())));
        }
        let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        self.one_of("f.status", &statuses);
        self.holding(&filter.words);
    }

    /// Adds that the title or rule name holds each of `words`: through the trigram index
    /// for words it can find (three characters or more), by reading the text otherwise.
    fn holding(&mut self, words: &[String]) {
        let (indexed, short): (Vec<&String>, Vec<&String>) =
            words.iter().partition(|w| w.chars().count() >= 3);
        if !indexed.is_empty() {
            let phrases: Vec<String> = indexed
                .iter()
                .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
                .collect();
            // `+` keeps SQLite walking the sorted page's index, which holds each finding's
            // text id, and testing it against the matching texts: a common word matches
            // thousands of findings, whose rows are large and would each be read.
            self.filter(
                " AND +f.text_id IN (SELECT rowid FROM finding_texts_search WHERE finding_texts_search MATCH ?)",
                Some(phrases.join(" AND ")),
            );
        }
        for word in short {
            self.sql.push_str(
                " AND (instr(lower(f.title), ?) > 0 OR instr(lower(coalesce(f.rule_name, '')), ?) > 0)",
            );
            let word = word.to_lowercase();
            self.params
                .extend([Value::Text(word.clone()), Value::Text(word)]);
        }
    }

    /// `SELECT columns` over the assets `filter` lists, `{id}` in `columns` standing for
    /// the id column (the integration's source id, else the canonical key), which comes
    /// back as well.
    fn assets(filter: &AssetFilter, columns: &str) -> (Self, &'static str) {
        // Scoped to an integration: its source ids; otherwise the whole inventory by key.
        // CROSS JOIN is SQLite's way to fix the join order: walk the inventory by its name
        // index and keep the integration's links, so a page stops after its rows instead
        // of sorting every asset the integration has.
        let (id_column, from) = match filter.integration {
            Some(_) => (
                "a.source_id",
                "FROM inventory inv CROSS JOIN assets a ON a.inventory_id = inv.id WHERE a.integration_id = ?",
            ),
            None => ("inv.canonical_key", "FROM inventory inv WHERE 1 = 1"),
        };
        let mut query = Query::new(&format!(
            "SELECT {} {from}",
            columns
                .replace("{id}", id_column)
                .replace("{removed}", removed_column(filter))
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
        query.filter(" AND inv.canonical_key = ?", filter.key.clone());
        (query, id_column)
    }

    /// Counts the assets `filter` lists; without a type or cloud filter, from one
    /// index alone.
    fn asset_count(filter: &AssetFilter) -> Self {
        if filter.asset_type.is_some() || filter.cloud.is_some() || filter.key.is_some() {
            return Query::assets(filter, "count(*)").0;
        }
        match filter.integration {
            Some(integration) => Query {
                sql: "SELECT count(*) FROM assets a WHERE a.integration_id = ?".into(),
                params: vec![integration.into()],
            },
            None => Query::new("SELECT count(*) FROM inventory"),
        }
    }

    fn execute(&self, conn: &Connection) -> Result<usize, StoreError> {
        Ok(conn.execute(&self.sql, rusqlite::params_from_iter(self.params.iter()))?)
    }

    fn rows<T>(
        &self,
        conn: &Connection,
        mut map: impl FnMut(&rusqlite::Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = conn.prepare(&self.sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(self.params.iter()))?;
        let mut mapped = Vec::new();
        while let Some(row) = rows.next()? {
            mapped.push(map(row)?);
        }
        Ok(mapped)
    }
}

#[async_trait]
impl InventoryStore for SqliteStore {
    async fn import_assets(&self, assets: Vec<ImportedAsset>) -> Result<(u64, u64), StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let mut stored = HashSet::new();
            {
                let mut exists =
                    tx.prepare_cached("SELECT 1 FROM inventory WHERE canonical_key = ?1")?;
                for a in &assets {
                    let key = import_key(a);
                    if exists.exists([&key])? {
                        stored.insert(key);
                    }
                }
            }
            let plan = plan_import(&assets, &stored);
            let at = time_text(now());
            for (key, metadata) in &plan.insert {
                insert_entry(&tx, key, metadata, "import", &at)?;
            }
            tx.commit()?;
            Ok((plan.insert.len() as u64, plan.present))
        })
        .await
    }

    async fn asset_page(
        &self,
        filter: &AssetFilter,
        after: Option<&AssetCursor>,
        limit: usize,
    ) -> Result<AssetPage, StoreError> {
        let (filter, after) = (filter.clone(), after.cloned());
        self.read(move |conn| {
            let (mut query, id_column) = Query::assets(
                &filter,
                "{id}, inv.canonical_key, inv.name, inv.asset_type, inv.cloud_platform, inv.cloud_account_id, inv.cloud_account_name, inv.region,
                   inv.provider_id, inv.tags, inv.status, inv.technologies,
                   (SELECT json_group_array(name) FROM (SELECT DISTINCT i.name FROM assets a2 JOIN integrations i ON i.id = a2.integration_id
                      WHERE a2.inventory_id = inv.id ORDER BY i.name)), {removed}",
            );
            if let Some(after) = after {
                query.sql.push_str(&format!(" AND (inv.name_key, {id_column}) > (?, ?)"));
                query.params.extend([Value::Text(after.name_key), Value::Text(after.id)]);
            }
            query.sql.push_str(" ORDER BY inv.name_key, 1 LIMIT ?");
            query.params.push(Value::Integer(page_fetch(limit)));
            let rows = query.rows(conn, |r| asset_row(r))?;
            let (assets, next) = cut_page(rows, limit);
            Ok(AssetPage { assets, next })
        })
        .await
    }

    async fn asset_values(&self) -> Result<(Vec<String>, Vec<String>), StoreError> {
        self.read(|conn| {
            // Each next value is one seek in the column's index, however many entries.
            let values = |column: &str| {
                Query::new(&format!(
                    "WITH RECURSIVE v(x) AS (SELECT min({column}) FROM inventory
                       UNION ALL SELECT (SELECT min({column}) FROM inventory WHERE {column} > v.x) FROM v WHERE v.x IS NOT NULL)
                     SELECT x FROM v WHERE x IS NOT NULL"
                ))
                .rows(conn, |r| Ok(r.get::<_, String>(0)?))
            };
            Ok((values("asset_type")?, values("cloud_platform")?))
        })
        .await
    }

    async fn asset_count(&self, filter: &AssetFilter) -> Result<u64, StoreError> {
        let filter = filter.clone();
        self.read(move |conn| {
            let query = Query::asset_count(&filter);
            let counted = query.rows(conn, |r| Ok(r.get::<_, i64>(0)?))?;
            Ok(counted.first().copied().unwrap_or(0) as u64)
        })
        .await
    }
}

#[async_trait]
impl FindingStore for SqliteStore {
    async fn finding_page(
        &self,
        filter: &FindingFilter,
        order: FindingOrder,
        at: Option<&FindingCursor>,
        limit: usize,
    ) -> Result<FindingPage, StoreError> {
        let (filter, at) = (filter.clone(), at.cloned());
        self.read(move |conn| {
            let column = sort_column(order.by);
            let mut query = Query::new(&finding_select(column));
            query.matching(&filter);
            let (direction, beyond) = match reads_descending(order, at.as_ref()) {
                true => ("DESC", "<"),
                false => ("ASC", ">"),
            };
            if let Some(at) = &at {
                query.sql.push_str(&format!(
                    " AND ({column}, f.integration_id, f.listing_id) {beyond} (?, ?, ?)"
                ));
                let key = match &at.key {
                    SortKey::Int(n) => Value::Integer(*n),
                    SortKey::Text(text) => Value::Text(text.clone()),
                    SortKey::Time(t) => Value::Text(time_text(*t)),
                };
                query.params.extend([key, at.integration.into(), at.row.into()]);
            }
            query.sql.push_str(&format!(
                " ORDER BY {column} {direction}, f.integration_id {direction}, f.listing_id {direction} LIMIT ?"
            ));
            query.params.push(page_fetch(limit).into());
            let rows = query.rows(conn, |r| finding_row(r, order))?;
            Ok(finding_page_of(rows, at.as_ref(), limit))
        })
        .await
    }

    async fn finding_counts(
        &self,
        filter: &FindingFilter,
    ) -> Result<Vec<(Severity, u64)>, StoreError> {
        let filter = filter.clone();
        self.read(move |conn| {
            let mut query =
                Query::new("SELECT f.severity_rank, count(*) FROM findings f WHERE 1 = 1");
            query.matching(&filter);
            query
                .sql
                .push_str(" GROUP BY f.severity_rank ORDER BY f.severity_rank");
            let counts = query.rows(conn, |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
            Ok(counts
                .into_iter()
                .filter_map(|(rank, n)| {
                    Some((
                        *Severity::ALL.get(usize::try_from(rank).ok()?)?,
                        u64::try_from(n).ok()?,
                    ))
                })
                .collect())
        })
        .await
    }

    async fn finding_raw(&self, integration: i64, id: &str) -> Result<String, StoreError> {
        let id = id.to_string();
        self.read(move |conn| {
            conn.query_row(
                "SELECT raw FROM findings WHERE integration_id = ?1 AND source_id = ?2",
                params![integration, id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::not_found(format!("finding `{id}`")))
        })
        .await
    }

    async fn set_finding_statuses(
        &self,
        filter: &FindingFilter,
        change: &StatusChange,
    ) -> Result<Vec<StatusesMoved>, StoreError> {
        let (filter, change) = (filter.clone(), change.clone());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let to = change.status.as_str();
            let last: i64 = tx.query_row("SELECT coalesce(max(id), 0) FROM status_changes", [], |r| r.get(0))?;
            // Only the effective status changes; `reported_status` keeps the source's word.
            let mut record = Query::new(
                "INSERT INTO status_changes (integration_id, finding_source_id, changed_at, changed_by, from_status, to_status, reason)
                 SELECT f.integration_id, f.source_id, ?, ?, f.status, ?, ? FROM findings f WHERE f.status != ?",
            );
            record.params.extend([
                Value::Text(time_text(now())),
                Value::Text(change.by.clone()),
                Value::Text(to.into()),
                Value::Text(change.reason.clone()),
                Value::Text(to.into()),
            ]);
            record.matching(&filter);
            record.execute(&tx)?;
            tx.execute(
                "UPDATE findings SET status = ?2 WHERE (integration_id, source_id) IN
                   (SELECT integration_id, finding_source_id FROM status_changes WHERE id > ?1)",
                params![last, to],
            )?;
            let moved = Query {
                sql: "SELECT integration_id, from_status, count(*) FROM status_changes WHERE id > ?
                        GROUP BY integration_id, from_status ORDER BY integration_id, from_status".into(),
                params: vec![Value::Integer(last)],
            }
            .rows(&tx, |r| {
                Ok(StatusesMoved {
                    integration: r.get(0)?,
                    from: parsed_at(r, 1)?,
                    count: r.get::<_, i64>(2)? as u64,
                })
            })?;
            tx.commit()?;
            Ok(moved)
        })
        .await
    }

    async fn status_changes(
        &self,
        integration: i64,
        id: &str,
    ) -> Result<Vec<StatusChangeRecord>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| {
            Query {
                sql: "SELECT changed_at, changed_by, from_status, to_status, reason FROM status_changes
                        WHERE integration_id = ? AND finding_source_id = ? ORDER BY id".into(),
                params: vec![Value::Integer(integration), Value::Text(id)],
            }
            .rows(conn, |r| status_change_row(r))
        })
        .await
    }
}
