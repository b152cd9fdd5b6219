//! Findings exported whole, for a spreadsheet or another tool: every finding a query
//! matches, read from the store a page at a time and written out as it is read, so an
//! export of any size holds one page in memory. A CSV cell a spreadsheet would run as a
//! formula is defused.

use super::{FindingQuery, Platform, ServiceError};
use crate::model::{FindingCursor, FindingFilter, FindingOrder, StoredFinding};
use bytes::Bytes;
use futures_util::Stream;
use std::sync::Arc;

/// Findings read from the store per step of an export.
pub const EXPORT_PAGE: usize = 500;

/// How an export is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Comma-separated, a header row first.
    Csv,
    /// One JSON array of findings, as the API lists them.
    Json,
}

/// The CSV columns, in order.
const COLUMNS: [&str; 18] = [
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

/// CSV rows of `findings`, with the header first when `header`.
fn csv_rows(findings: &[StoredFinding], header: bool) -> Vec<u8> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut write = |cells: &[&str]| {
        let cells: Vec<std::borrow::Cow<'_, str>> = cells.iter().map(|c| defused(c)).collect();
        // Writing to memory cannot fail.
        out.write_record(cells.iter().map(|c| c.as_ref()))
            .expect("CSV into memory");
    };
    if header {
        write(&COLUMNS);
    }
    for f in findings {
        let times = [
            time(f.created_at),
            time(f.updated_at),
            time(f.status_changed_at),
            time(f.resolved_at),
            time(f.due_at),
        ];
        write(&[
            &f.integration,
            &f.id,
            f.severity.as_str(),
            f.status.as_str(),
            &f.source_status,
            f.kind.as_str(),
            &f.title,
            &f.asset_id,
            f.asset_name.as_deref().unwrap_or_default(),
            f.asset_type.as_deref().unwrap_or_default(),
            f.rule_id.as_deref().unwrap_or_default(),
            f.rule_name.as_deref().unwrap_or_default(),
            &times[0],
            &times[1],
            &times[2],
            &times[3],
            &times[4],
            f.portal_url.as_deref().unwrap_or_default(),
        ]);
    }
    out.into_inner().expect("CSV into memory")
}

/// JSON of `findings` continuing one array: each finding after `[` when nothing was
/// written yet (`opened` false), else after `,`.
fn json_rows(findings: &[StoredFinding], opened: &mut bool) -> Vec<u8> {
    let mut out = Vec::new();
    for f in findings {
        out.push(if *opened { b',' } else { b'[' });
        *opened = true;
        serde_json::to_writer(&mut out, f).expect("a finding is plain data");
    }
    out
}

/// Where an export stands between two steps.
struct Walk {
    platform: Arc<Platform>,
    filter: FindingFilter,
    order: FindingOrder,
    after: Option<FindingCursor>,
    format: ExportFormat,
    /// Whether anything was written yet: the CSV header, or the JSON array's opening.
    opened: bool,
    done: bool,
}

impl Walk {
    /// The next chunk: one page of rows, and the end of the output after the last page.
    async fn step(mut self) -> Result<Option<(Bytes, Walk)>, ServiceError> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .platform
            .store()
            .finding_page(&self.filter, self.order, self.after.as_ref(), EXPORT_PAGE)
            .await?;
        let mut chunk = match self.format {
            ExportFormat::Csv => {
                let rows = csv_rows(&page.findings, !self.opened);
                self.opened = true;
                rows
            }
            ExportFormat::Json => json_rows(&page.findings, &mut self.opened),
        };
        self.after = page.next;
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
    /// Every finding `query` matches, in its order, as chunks of `format` to send as
    /// they come: one store page per chunk. A wrong query fails before the first chunk.
    pub async fn export_findings(
        self: &Arc<Self>,
        query: FindingQuery,
        format: ExportFormat,
    ) -> Result<impl Stream<Item = Result<Bytes, ServiceError>> + Send + 'static, ServiceError>
    {
        let order = query.order;
        let filter = self.findings().filter(query).await?;
        let walk = Walk {
            platform: self.clone(),
            filter,
            order,
            after: None,
            format,
            opened: false,
            done: false,
        };
        Ok(futures_util::stream::try_unfold(walk, Walk::step))
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
