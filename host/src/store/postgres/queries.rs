//! The inventory and findings in PostgreSQL: imports and the listings.

use super::ingest::insert_entries;
use super::{PostgresStore, parsed_at, stored_count};
use crate::import::ImportedAsset;
use crate::model::{
    AssetCursor, AssetFilter, AssetPage, FindingCursor, FindingFilter, FindingOrder, FindingPage,
    FindingSort, Severity, SortKey, StatusChange, StatusChangeRecord, StatusesMoved, now,
};
use crate::policy::inventory::{Metadata, import_key, plan_import};
use crate::store::rows::{asset_row, finding_row, finding_select, status_change_row};
use crate::store::{
    FindingStore, InventoryStore, StoreError, cut_page, finding_page_of, page_fetch,
    reads_descending, removed_column,
};
use async_trait::async_trait;
use std::collections::HashSet;
use tokio_postgres::types::ToSql;

/// The column a sort orders by: the expression its index holds. Text in byte order of
/// its lower case, as SQLite's NOCASE sorts it, so both stores page alike.
fn sort_column(by: FindingSort) -> &'static str {
    match by {
        FindingSort::Severity => "f.severity_rank",
        FindingSort::Title => "lower(f.title) COLLATE \"C\"",
        FindingSort::Asset => "f.asset_key COLLATE \"C\"",
        FindingSort::Status => "f.status COLLATE \"C\"",
        FindingSort::Changed => "coalesce(f.status_changed_at, f.created_at, f.first_seen_at)",
    }
}

/// `text` matched literally by LIKE: its wildcards and the escape character escaped.
fn like_escaped(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The ids of the pairs of title and rule name that hold each of `words`, word by word.
/// Bound as arrays rather than a subquery, so the planner weighs the findings they have
/// by its statistics: one common title can hold a tenth of a tenant's findings, where a
/// subquery would be planned for a few dozen.
async fn texts_holding(
    client: &impl deadpool_postgres::GenericClient,
    words: &[String],
) -> Result<Vec<Vec<i64>>, StoreError> {
    let mut found = Vec::with_capacity(words.len());
    for word in words {
        // Through the trigram indexes, which serve ILIKE for words of three characters
        // or more; shorter words are read from the texts.
        let pattern = format!("%{}%", like_escaped(word));
        let rows = client
            .query(
                "SELECT id FROM finding_texts WHERE title ILIKE $1 OR rule_name ILIKE $1",
                &[&pattern],
            )
            .await?;
        found.push(
            rows.iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?,
        );
    }
    Ok(found)
}

/// A SELECT with optional filters bound as numbered parameters.
#[derive(Default)]
struct Query {
    sql: String,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Query {
    fn new(sql: &str) -> Self {
        Query {
            sql: sql.to_string(),
            params: Vec::new(),
        }
    }

    /// Binds `value` as the next parameter; returns its placeholder.
    fn bind(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    /// Adds `clause`, with `{}` standing for the parameter, when `value` is given.
    fn filter<T: ToSql + Sync + Send + 'static>(&mut self, clause: &str, value: Option<T>) {
        if let Some(value) = value {
            let mark = self.bind(value);
            self.sql.push_str(&clause.replace("{}", &mark));
        }
    }

    /// Adds the conditions of `filter` on the findings table `f`, its words as the pairs
    /// of texts that hold them ([`texts_holding`]).
    fn matching(&mut self, filter: &FindingFilter, texts: Vec<Vec<i64>>) {
        self.filter(" AND f.integration_id = {}", filter.integration);
        self.filter(" AND f.source_id = {}", filter.id.clone());
        self.filter(" AND f.asset_source_id = {}", filter.asset.clone());
        self.filter(
            " AND EXISTS (SELECT 1 FROM assets a JOIN inventory inv ON inv.id = a.inventory_id WHERE inv.canonical_key = {} AND a.integration_id = f.integration_id AND a.source_id = f.asset_source_id)",
            filter.inventory.clone(),
        );
        self.filter(
            " AND coalesce(f.status_changed_at, f.created_at) >= {}",
            filter.since,
        );
        let names = |values: Vec<&'static str>| {
            (!values.is_empty()).then(|| values.into_iter().map(String::from).collect::<Vec<_>>())
        };
        // By rank, the listing index's first column: a severity filter reads a range of it.
        let ranks: Vec<i16> = filter.severities.iter().map(|s| s.rank() as i16).collect();
        self.filter(
            " AND f.severity_rank = ANY({})",
            (!ranks.is_empty()).then_some(ranks),
        );
        let statuses = names(filter.statuses.iter().map(|s| s.as_str()).collect());
        self.filter(" AND f.status = ANY({})", statuses);
        for ids in texts {
            self.filter(" AND f.text_id = ANY({})", Some(ids));
        }
    }

    /// `SELECT columns` over the assets `filter` lists, `{id}` in `columns` standing for
    /// the id column (the integration's source id, else the canonical key), which comes
    /// back as well.
    fn assets(filter: &AssetFilter, columns: &str) -> (Self, &'static str) {
        let mut query = Query::default();
        let (id_column, from) = match filter.integration {
            Some(integration) => {
                let mark = query.bind(integration);
                (
                    "a.source_id",
                    format!(
                        "FROM assets a JOIN inventory inv ON inv.id = a.inventory_id WHERE a.integration_id = {mark}"
                    ),
                )
            }
            None => (
                "inv.canonical_key",
                "FROM inventory inv WHERE TRUE".to_string(),
            ),
        };
        query.sql = format!(
            "SELECT {} {from}",
            columns
                .replace("{id}", id_column)
                .replace("{removed}", removed_column(filter))
        );
        query.filter(
            " AND lower(inv.asset_type) = lower({})",
            filter.asset_type.clone(),
        );
        query.filter(
            " AND lower(inv.cloud_platform) = lower({})",
            filter.cloud.clone(),
        );
        query.filter(" AND inv.canonical_key = {}", filter.key.clone());
        (query, id_column)
    }

    /// Counts the assets `filter` lists; without a type or cloud filter, from one
    /// index alone.
    fn asset_count(filter: &AssetFilter) -> Self {
        if filter.asset_type.is_some() || filter.cloud.is_some() || filter.key.is_some() {
            return Query::assets(filter, "count(*)").0;
        }
        match filter.integration {
            Some(integration) => {
                let mut query = Query::default();
                let mark = query.bind(integration);
                query.sql =
                    format!("SELECT count(*) FROM assets a WHERE a.integration_id = {mark}");
                query
            }
            None => Query::new("SELECT count(*) FROM inventory"),
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

#[async_trait]
impl InventoryStore for PostgresStore {
    async fn import_assets(&self, assets: Vec<ImportedAsset>) -> Result<(u64, u64), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let keys: Vec<String> = assets.iter().map(import_key).collect();
        let stored: HashSet<String> = tx
            .query(
                "SELECT canonical_key FROM inventory WHERE canonical_key = ANY($1)",
                &[&keys],
            )
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        let plan = plan_import(&assets, &stored);
        let entries: Vec<(&str, &Metadata)> =
            plan.insert.iter().map(|(k, m)| (k.as_str(), m)).collect();
        insert_entries(&tx, &entries, "import", now()).await?;
        tx.commit().await?;
        Ok((plan.insert.len() as u64, plan.present))
    }

    async fn asset_page(
        &self,
        filter: &AssetFilter,
        after: Option<&AssetCursor>,
        limit: usize,
    ) -> Result<AssetPage, StoreError> {
        let (mut query, id_column) = Query::assets(
            filter,
            "{id}, inv.canonical_key, inv.name, inv.asset_type, inv.cloud_platform, inv.cloud_account_id, inv.cloud_account_name,
               inv.region, inv.provider_id, inv.tags, inv.status, inv.technologies,
               to_jsonb(ARRAY(SELECT DISTINCT i.name COLLATE \"C\" FROM assets a2 JOIN integrations i ON i.id = a2.integration_id
                     WHERE a2.inventory_id = inv.id ORDER BY 1)), {removed}",
        );
        // Byte order, as SQLite sorts text, so both list and page alike.
        if let Some(after) = after {
            let (name, id) = (
                query.bind(after.name_key.clone()),
                query.bind(after.id.clone()),
            );
            query.sql.push_str(&format!(
                " AND (inv.name_key COLLATE \"C\", {id_column} COLLATE \"C\") > ({name}, {id})"
            ));
        }
        let limit_mark = query.bind(page_fetch(limit));
        query.sql.push_str(&format!(
            " ORDER BY inv.name_key COLLATE \"C\", {id_column} COLLATE \"C\" LIMIT {limit_mark}"
        ));
        let rows = self
            .reader()
            .await?
            .query(&query.sql, &query.params())
            .await?;
        let assets = rows
            .iter()
            .map(asset_row)
            .collect::<Result<Vec<_>, StoreError>>()?;
        let (assets, next) = cut_page(assets, limit);
        Ok(AssetPage { assets, next })
    }

    async fn asset_values(&self) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let reader = self.reader().await?;
        let mut lists = Vec::new();
        for column in ["asset_type", "cloud_platform"] {
            // Each next value is one seek in the column's index, however many entries; in
            // byte order, as SQLite sorts text.
            let sql = format!(
                "WITH RECURSIVE v(x) AS (SELECT min({column} COLLATE \"C\") FROM inventory
                   UNION ALL SELECT (SELECT min({column} COLLATE \"C\") FROM inventory WHERE {column} COLLATE \"C\" > v.x) FROM v WHERE v.x IS NOT NULL)
                 SELECT x FROM v WHERE x IS NOT NULL"
            );
            let rows = reader.query(&sql, &[]).await?;
            lists.push(
                rows.iter()
                    .map(|r| r.try_get::<_, String>(0))
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        let clouds = lists.pop().unwrap_or_default();
        Ok((lists.pop().unwrap_or_default(), clouds))
    }

    async fn asset_count(&self, filter: &AssetFilter) -> Result<u64, StoreError> {
        let query = Query::asset_count(filter);
        let row = self
            .reader()
            .await?
            .query_one(&query.sql, &query.params())
            .await?;
        Ok(stored_count(&row, 0))
    }
}

#[async_trait]
impl FindingStore for PostgresStore {
    async fn finding_page(
        &self,
        filter: &FindingFilter,
        order: FindingOrder,
        at: Option<&FindingCursor>,
        limit: usize,
    ) -> Result<FindingPage, StoreError> {
        let column = sort_column(order.by);
        let mut query = Query::new(&finding_select(column));
        let reader = self.reader().await?;
        query.matching(filter, texts_holding(&reader, &filter.words).await?);
        let (direction, beyond) = match reads_descending(order, at) {
            true => ("DESC", "<"),
            false => ("ASC", ">"),
        };
        if let Some(at) = at {
            let key = match &at.key {
                SortKey::Int(n) => query.bind(i16::try_from(*n).unwrap_or(i16::MAX)),
                SortKey::Text(text) => query.bind(text.clone()),
                SortKey::Time(t) => query.bind(*t),
            };
            let integration = query.bind(at.integration);
            let row = query.bind(at.row);
            query.sql.push_str(&format!(
                " AND ({column}, f.integration_id, f.listing_id) {beyond} ({key}, {integration}, {row})"
            ));
        }
        let fetch = query.bind(page_fetch(limit));
        query.sql.push_str(&format!(
            " ORDER BY {column} {direction}, f.integration_id {direction}, f.listing_id {direction} LIMIT {fetch}"
        ));
        let rows = reader.query(&query.sql, &query.params()).await?;
        let page = rows
            .iter()
            .map(|r| finding_row(r, order))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(finding_page_of(page, at, limit))
    }

    async fn finding_counts(
        &self,
        filter: &FindingFilter,
    ) -> Result<Vec<(Severity, u64)>, StoreError> {
        let mut query = Query::new("SELECT f.severity_rank, count(*) FROM findings f WHERE TRUE");
        let reader = self.reader().await?;
        query.matching(filter, texts_holding(&reader, &filter.words).await?);
        query
            .sql
            .push_str(" GROUP BY f.severity_rank ORDER BY f.severity_rank");
        let rows = reader.query(&query.sql, &query.params()).await?;
        let mut counts = Vec::new();
        for r in rows {
            let rank = usize::try_from(r.try_get::<_, i16>(0)?).unwrap_or(usize::MAX);
            if let Some(severity) = Severity::ALL.get(rank) {
                counts.push((*severity, stored_count(&r, 1)));
            }
        }
        Ok(counts)
    }

    async fn finding_raw(&self, integration: i64, id: &str) -> Result<String, StoreError> {
        let row = self
            .reader()
            .await?
            .query_opt(
                "SELECT raw FROM findings WHERE integration_id = $1 AND source_id = $2",
                &[&integration, &id],
            )
            .await?
            .ok_or_else(|| StoreError::not_found(format!("finding `{id}`")))?;
        Ok(row.try_get(0)?)
    }

    async fn set_finding_statuses(
        &self,
        filter: &FindingFilter,
        change: &StatusChange,
    ) -> Result<Vec<StatusesMoved>, StoreError> {
        // One statement: the findings chosen (and locked), their new status, and the
        // record of each change, with the time from the database.
        let mut query = Query::default();
        let to = query.bind(change.status.as_str().to_string());
        let by = query.bind(change.by.clone());
        let reason = query.bind(change.reason.clone());
        query.sql = format!(
            "WITH chosen AS (SELECT f.integration_id, f.source_id, f.status FROM findings f WHERE f.status <> {to}"
        );
        let client = self.client().await?;
        query.matching(filter, texts_holding(&client, &filter.words).await?);
        query.sql.push_str(&format!(
            " FOR UPDATE OF f),
             updated AS (UPDATE findings u SET status = {to} FROM chosen c
               WHERE u.integration_id = c.integration_id AND u.source_id = c.source_id),
             recorded AS (INSERT INTO status_changes (integration_id, finding_source_id, changed_at, changed_by, from_status, to_status, reason)
               SELECT c.integration_id, c.source_id, now(), {by}, c.status, {to}, {reason} FROM chosen c)
             SELECT integration_id, status, count(*) FROM chosen GROUP BY integration_id, status ORDER BY integration_id, status COLLATE \"C\""
        ));
        let rows = client.query(&query.sql, &query.params()).await?;
        rows.iter()
            .map(|r| {
                Ok(StatusesMoved {
                    integration: r.try_get(0)?,
                    from: parsed_at(r, 1)?,
                    count: stored_count(r, 2),
                })
            })
            .collect()
    }

    async fn status_changes(
        &self,
        integration: i64,
        id: &str,
    ) -> Result<Vec<StatusChangeRecord>, StoreError> {
        let rows = self
            .reader()
            .await?
            .query(
                "SELECT changed_at, changed_by, from_status, to_status, reason FROM status_changes
                   WHERE integration_id = $1 AND finding_source_id = $2 ORDER BY id",
                &[&integration, &id],
            )
            .await?;
        rows.iter().map(status_change_row).collect()
    }
}
