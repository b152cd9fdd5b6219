//! Findings and assets exported whole, for a spreadsheet or another tool: every record a
//! query matches, read from the store a page at a time and written out as it is read, so
//! an export of any size holds one page in memory. A CSV cell a spreadsheet would run as
//! a formula is defused.

use super::{AssetQuery, FindingQuery, Platform, ServiceError};
use crate::model::{
    AssetCursor, AssetFilter, FindingCursor, FindingFilter, FindingOrder, InventoryAsset,
    StoredFinding,
};
use bytes::Bytes;
use futures_util::Stream;
use std::sync::Arc;

/// Records read from the store per step of an export.
pub const EXPORT_PAGE: usize = 500;

/// How an export is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Comma-separated, a header row first.
    Csv,
    /// One JSON array of the records, as the API lists them.
    Json,
}

/// The finding CSV's columns, in order.
const FINDING_COLUMNS: &[&str] = &[
    "integration",
    "id",
    "severity",
    "status",
    "source_status",
    "kind",
    "title",
    "asset_id",
    "asset_name",
    "asset_type",
    "rule_id",
    "rule_name",
    "created_at",
    "updated_at",
    "status_changed_at",
    "resolved_at",
    "due_at",
    "portal_url",
];

/// A cell a spreadsheet would not run: text starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return gets a leading `'` (the OWASP advice for CSV injection).
pub fn defused(text: &str) -> std::borrow::Cow<'_, str> {
    match text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        true => format!("'{text}").into(),
        false => text.into(),
    }
}

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(crate::model::time_text).unwrap_or_default()
}

/// A finding's CSV cells, in [`FINDING_COLUMNS`]' order.
fn finding_cells(f: &StoredFinding) -> Vec<String> {
    let text = |t: &Option<String>| t.clone().unwrap_or_default();
    vec![
        f.integration.clone(),
        f.id.clone(),
        f.severity.to_string(),
        f.status.to_string(),
        f.source_status.clone(),
        f.kind.as_str().to_string(),
        f.title.clone(),
        f.asset_id.clone(),
        text(&f.asset_name),
        text(&f.asset_type),
        text(&f.rule_id),
        text(&f.rule_name),
        time(f.created_at),
        time(f.updated_at),
        time(f.status_changed_at),
        time(f.resolved_at),
        time(f.due_at),
        text(&f.portal_url),
    ]
}

/// The asset CSV's columns, in order.
const ASSET_COLUMNS: &[&str] = &[
    "id",
    "canonical_key",
    "name",
    "asset_type",
    "cloud_platform",
    "cloud_account_id",
    "cloud_account_name",
    "region",
    "provider_id",
    "status",
    "technologies",
    "tags",
    "integrations",
    "removed",
];

/// An asset's CSV cells, in [`ASSET_COLUMNS`]' order.
fn asset_cells(a: &InventoryAsset) -> Vec<String> {
    let text = |t: &Option<String>| t.clone().unwrap_or_default();
    let tags: Vec<String> = a.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    vec![
        a.id.clone(),
        a.canonical_key.clone(),
        a.name.clone(),
        a.asset_type.clone(),
        a.cloud_platform.clone(),
        text(&a.cloud_account_id),
        text(&a.cloud_account_name),
        text(&a.region),
        text(&a.provider_id),
        text(&a.status),
        a.technologies.join("; "),
        tags.join("; "),
        a.integrations.join("; "),
        a.removed.to_string(),
    ]
}

/// CSV rows of `cells`, with the header `columns` first when `header`.
fn csv_rows(columns: &[&str], rows: impl Iterator<Item = Vec<String>>, header: bool) -> Vec<u8> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut write = |cells: &[&str]| {
        let cells: Vec<std::borrow::Cow<'_, str>> = cells.iter().map(|c| defused(c)).collect();
        // Writing to memory cannot fail.
        out.write_record(cells.iter().map(|c| c.as_ref()))
            .expect("CSV into memory");
    };
    if header {
        write(columns);
    }
    for cells in rows {
        write(&cells.iter().map(String::as_str).collect::<Vec<_>>());
    }
    out.into_inner().expect("CSV into memory")
}

/// JSON of `rows` continuing one array: each after `[` when nothing was written yet
/// (`opened` false), else after `,`.
fn json_rows<T: serde::Serialize>(rows: &[T], opened: &mut bool) -> Vec<u8> {
    let mut out = Vec::new();
    for row in rows {
        out.push(if *opened { b',' } else { b'[' });
        *opened = true;
        serde_json::to_writer(&mut out, row).expect("a record is plain data");
    }
    out
}

/// A page of records and where the next starts.
type Page<R, C> = (Vec<R>, Option<C>);

/// What one export reads: a page of records after a cursor, and how a record reads as
/// CSV cells.
trait Source: Send + Sync + 'static {
    /// One record.
    type Row: serde::Serialize + Send;
    /// Where a page starts.
    type Cursor: Send + Sync;
    /// The CSV header.
    const COLUMNS: &'static [&'static str];
    /// A record's CSV cells, in [`Source::COLUMNS`]' order.
    fn cells(row: &Self::Row) -> Vec<String>;
    /// The page after `after`, and where the next starts.
    fn page(
        &self,
        platform: &Platform,
        after: Option<&Self::Cursor>,
    ) -> impl std::future::Future<Output = Result<Page<Self::Row, Self::Cursor>, ServiceError>> + Send;
}

/// The findings a filter matches, in an order.
struct FindingSource {
    filter: FindingFilter,
    order: FindingOrder,
}

impl Source for FindingSource {
    type Row = StoredFinding;
    type Cursor = FindingCursor;
    const COLUMNS: &'static [&'static str] = FINDING_COLUMNS;

    fn cells(row: &StoredFinding) -> Vec<String> {
        finding_cells(row)
    }

    async fn page(
        &self,
        platform: &Platform,
        after: Option<&FindingCursor>,
    ) -> Result<Page<StoredFinding, FindingCursor>, ServiceError> {
        let page = (platform.store())
            .finding_page(&self.filter, self.order, after, EXPORT_PAGE)
            .await?;
        Ok((page.findings, page.next))
    }
}

/// The assets a filter matches, by name.
struct AssetSource {
    filter: AssetFilter,
}

impl Source for AssetSource {
    type Row = InventoryAsset;
    type Cursor = AssetCursor;
    const COLUMNS: &'static [&'static str] = ASSET_COLUMNS;

    fn cells(row: &InventoryAsset) -> Vec<String> {
        asset_cells(row)
    }

    async fn page(
        &self,
        platform: &Platform,
        after: Option<&AssetCursor>,
    ) -> Result<Page<InventoryAsset, AssetCursor>, ServiceError> {
        let page = (platform.store())
            .asset_page(&self.filter, after, EXPORT_PAGE)
            .await?;
        Ok((page.assets, page.next))
    }
}

/// Where an export stands between two steps.
struct Walk<S: Source> {
    platform: Arc<Platform>,
    source: S,
    after: Option<S::Cursor>,
    format: ExportFormat,
    /// Whether anything was written yet: the CSV header, or the JSON array's opening.
    opened: bool,
    done: bool,
}

impl<S: Source> Walk<S> {
    /// The whole export of `source` as a stream of chunks.
    fn stream(
        platform: Arc<Platform>,
        source: S,
        format: ExportFormat,
    ) -> impl Stream<Item = Result<Bytes, ServiceError>> + Send + 'static {
        let walk = Walk {
            platform,
            source,
            after: None,
            format,
            opened: false,
            done: false,
        };
        futures_util::stream::try_unfold(walk, Walk::step)
    }

    /// The next chunk: one page of rows, and the end of the output after the last page.
    async fn step(mut self) -> Result<Option<(Bytes, Walk<S>)>, ServiceError> {
        if self.done {
            return Ok(None);
        }
        let (rows, next) = self
            .source
            .page(&self.platform, self.after.as_ref())
            .await?;
        let mut chunk = match self.format {
            ExportFormat::Csv => {
                let cells = rows.iter().map(S::cells);
                let out = csv_rows(S::COLUMNS, cells, !self.opened);
                self.opened = true;
                out
            }
            ExportFormat::Json => json_rows(&rows, &mut self.opened),
        };
        self.after = next;
        if self.after.is_none() {
            self.done = true;
            if self.format == ExportFormat::Json {
                chunk.extend_from_slice(if self.opened { b"]" } else { b"[]" });
            }
        }
        Ok(Some((Bytes::from(chunk), self)))
    }
}

impl Platform {
    /// Every finding `query` matches, in its order, as chunks of `format` to send as they
    /// come: one store page per chunk. A wrong query fails before the first chunk.
    pub async fn export_findings(
        self: &Arc<Self>,
        query: FindingQuery,
        format: ExportFormat,
    ) -> Result<impl Stream<Item = Result<Bytes, ServiceError>> + Send + 'static, ServiceError>
    {
        let order = query.order;
        let filter = self.findings().filter(query).await?;
        let source = FindingSource { filter, order };
        Ok(Walk::stream(self.clone(), source, format))
    }

    /// Every asset `query` matches, by name, likewise.
    pub async fn export_assets(
        self: &Arc<Self>,
        query: AssetQuery,
        format: ExportFormat,
    ) -> Result<impl Stream<Item = Result<Bytes, ServiceError>> + Send + 'static, ServiceError>
    {
        let filter = self.inventory().filter(query).await?;
        Ok(Walk::stream(self.clone(), AssetSource { filter }, format))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_a_spreadsheet_would_run_are_defused() {
        for (cell, shown) in [
            (
                "=HYPERLINK(\"http://evil\")",
                "'=HYPERLINK(\"http://evil\")",
            ),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("plain title", "plain title"),
            ("", ""),
        ] {
            assert_eq!(defused(cell), shown);
        }
    }
}
