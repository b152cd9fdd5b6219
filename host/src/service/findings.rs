//! Findings: query with filters and counts, show one, set a status here.

use super::paging::{check_page_size, decode_cursor, encode_cursor};
use super::{Platform, ServiceError};
use crate::model::{
    FindingCursor, FindingFilter, FindingOrder, FindingSort, FindingStatus, Severity, SortKey,
    StatusChangeRecord, StoredFinding,
};
use crate::store::StoreError;
use chrono::{DateTime, Utc};

/// The findings service.
pub struct Findings<'a> {
    pub(super) platform: &'a Platform,
}

/// Which findings to list; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingQuery {
    /// Only this integration's (by name).
    pub integration: Option<String>,
    /// Only these severities.
    pub severities: Vec<Severity>,
    /// Only these statuses.
    pub statuses: Vec<FindingStatus>,
    /// Only findings on this asset (source id).
    pub asset: Option<String>,
    /// Only findings on this inventory asset (canonical key), from any integration.
    pub inventory: Option<String>,
    /// Only findings whose status changed at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only findings whose title or rule name holds each of these words, ignoring case.
    pub words: Vec<String>,
    /// The order of a page.
    pub order: FindingOrder,
}

/// The Finding View's filters as text, as a URL or a command line gives them, for
/// [`FindingQuery::parse`]. Empty values mean "any", so an empty form field filters
/// nothing.
#[derive(Debug, Clone, Default)]
pub struct FindingFilterText {
    /// An integration's name.
    pub integration: Option<String>,
    /// Severity names, each one or several separated by commas.
    pub severities: Vec<String>,
    /// Status names, likewise.
    pub statuses: Vec<String>,
    /// An asset's source id.
    pub asset: Option<String>,
    /// An inventory asset's canonical key.
    pub inventory: Option<String>,
    /// A date (`YYYY-MM-DD`, midnight UTC) or an RFC 3339 time.
    pub since: Option<String>,
    /// Words, separated by spaces, that the title or rule name must each hold.
    pub search: Option<String>,
    /// `severity`, `title`, `status` or `changed`, with a leading `-` for the reverse.
    pub sort: Option<String>,
}

/// `text` unless it is empty or blank.
fn given(text: &Option<String>) -> Option<&str> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

/// Names separated by commas across `values`, each parsed.
fn names<T>(values: &[String], field: &'static str) -> Result<Vec<T>, ServiceError>
where
    T: std::str::FromStr<Err = crate::model::UnknownName>,
{
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse()
                .map_err(|e: crate::model::UnknownName| ServiceError::BadFilter {
                    field,
                    problem: e.to_string(),
                })
        })
        .collect()
}

/// A `since` value: a date (`YYYY-MM-DD`, taken as midnight UTC) or an RFC 3339 time.
pub fn parse_since(text: &str) -> Result<DateTime<Utc>, ServiceError> {
    crate::model::parse_time(text)
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
        .ok_or_else(|| ServiceError::BadFilter {
            field: "since",
            problem: format!("`{text}` is not a date (YYYY-MM-DD) or an RFC 3339 time"),
        })
}

impl FindingQuery {
    /// The query `text` asks for, or which field is wrong and why.
    pub fn parse(text: &FindingFilterText) -> Result<FindingQuery, ServiceError> {
        let order = match given(&text.sort) {
            None => FindingOrder::default(),
            Some(sort) => sort.parse().map_err(|e: crate::model::UnknownName| {
                let known: Vec<&str> = FindingSort::ALL.iter().map(|s| s.as_str()).collect();
                ServiceError::BadFilter {
                    field: "sort",
                    problem: format!(
                        "{e}; sort by {}, with `-` before for the reverse",
                        known.join(", ")
                    ),
                }
            })?,
        };
        Ok(FindingQuery {
            integration: given(&text.integration).map(String::from),
            severities: names(&text.severities, "severity")?,
            statuses: names(&text.statuses, "status")?,
            asset: given(&text.asset).map(String::from),
            inventory: given(&text.inventory).map(String::from),
            since: given(&text.since).map(parse_since).transpose()?,
            words: given(&text.search)
                .map(|t| t.split_whitespace().map(String::from).collect())
                .unwrap_or_default(),
            order,
        })
    }
}

/// Where a page of the Finding View starts, as its cursor holds it: a place in the store's
/// order, and how many findings come before it (for "51–100 of 159").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct PagePlace {
    at: FindingCursor,
    offset: u64,
}

/// Whether `key` is the kind of value `by` sorts on: a cursor made for one sort cannot
/// page another.
fn key_fits(by: FindingSort, key: &SortKey) -> bool {
    matches!(
        (by, key),
        (FindingSort::Severity, SortKey::Int(_))
            | (
                FindingSort::Title | FindingSort::Asset | FindingSort::Status,
                SortKey::Text(_)
            )
            | (FindingSort::Changed, SortKey::Time(_))
    )
}

/// Findings and their counts by severity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingList {
    /// In the query's order.
    pub findings: Vec<StoredFinding>,
    /// How many of each severity, most severe first, severities without any left out.
    pub by_severity: Vec<(Severity, u64)>,
}

/// One page of findings, with the counts of all that the query matches.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FindingsPage {
    /// The page, in the order asked for.
    pub findings: Vec<StoredFinding>,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
    /// The cursor of the page before, when there is one.
    pub previous: Option<String>,
    /// How many findings come before this page.
    pub offset: u64,
    /// How many match, by severity, most severe first.
    pub by_severity: Vec<SeverityCount>,
    /// How many match in all.
    pub total: u64,
}

/// How many findings of one severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SeverityCount {
    /// The severity.
    pub severity: Severity,
    /// How many.
    pub count: u64,
}

/// One finding with the source's raw record.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingDetail {
    /// The finding.
    pub finding: StoredFinding,
    /// The source's record: JSON, or a string if it is not JSON.
    pub raw: serde_json::Value,
    /// The statuses set on it here, oldest first.
    pub changes: Vec<StatusChangeRecord>,
}

impl Findings<'_> {
    pub(super) async fn integration_id(
        &self,
        name: Option<&str>,
    ) -> Result<Option<i64>, ServiceError> {
        Ok(match name {
            Some(name) => Some(self.platform.store().integration(name).await?.id),
            None => None,
        })
    }

    pub(super) async fn filter(&self, query: FindingQuery) -> Result<FindingFilter, ServiceError> {
        Ok(FindingFilter {
            integration: self.integration_id(query.integration.as_deref()).await?,
            id: None,
            severities: query.severities,
            statuses: query.statuses,
            asset: query.asset,
            inventory: query.inventory,
            since: query.since,
            words: query.words,
        })
    }

    /// Every finding matching `query`, with counts.
    pub async fn list(&self, query: FindingQuery) -> Result<FindingList, ServiceError> {
        let order = query.order;
        let filter = self.filter(query).await?;
        let store = self.platform.store();
        let findings = store
            .finding_page(&filter, order, None, usize::MAX)
            .await?
            .findings;
        let by_severity = store.finding_counts(&filter).await?;
        Ok(FindingList {
            findings,
            by_severity,
        })
    }

    /// How many findings match `query`, by severity, most severe first.
    pub async fn counts(&self, query: FindingQuery) -> Result<Vec<(Severity, u64)>, ServiceError> {
        let filter = self.filter(query).await?;
        Ok(self.platform.store().finding_counts(&filter).await?)
    }

    /// A page of up to `limit` (1 to [`super::MAX_PAGE`]) findings matching `query`, in
    /// its order, starting at `cursor` (the `next` or `previous` of another page of the
    /// same query), with the counts of all that match.
    pub async fn page(
        &self,
        query: FindingQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<FindingsPage, ServiceError> {
        check_page_size(limit)?;
        let place: Option<PagePlace> = cursor.map(decode_cursor).transpose()?;
        let order = query.order;
        if let Some(place) = &place
            && (place.at.order != order || !key_fits(order.by, &place.at.key))
        {
            return Err(ServiceError::CursorOfAnotherSort {
                cursor: place.at.order.to_string(),
                asked: order.to_string(),
            });
        }
        let filter = self.filter(query).await?;
        let store = self.platform.store();
        let at = place.as_ref().map(|p| &p.at);
        let mut page = store.finding_page(&filter, order, at, limit).await?;
        let mut offset = place.as_ref().map_or(0, |p| p.offset);
        if at.is_some_and(|c| c.backward) && page.previous.is_none() {
            // Back at the top, however many findings came or went meanwhile.
            offset = 0;
            if page.findings.is_empty() {
                page = store.finding_page(&filter, order, None, limit).await?;
            }
        }
        let shown = page.findings.len() as u64;
        let by_severity: Vec<SeverityCount> = store
            .finding_counts(&filter)
            .await?
            .into_iter()
            .map(|(severity, count)| SeverityCount { severity, count })
            .collect();
        Ok(FindingsPage {
            findings: page.findings,
            next: page.next.map(|at| {
                encode_cursor(&PagePlace {
                    at,
                    offset: offset + shown,
                })
            }),
            previous: page.previous.map(|at| {
                encode_cursor(&PagePlace {
                    at,
                    offset: offset.saturating_sub(limit as u64),
                })
            }),
            offset,
            total: by_severity.iter().map(|c| c.count).sum(),
            by_severity,
        })
    }

    /// The one finding with `id`, in `integration` when given: ambiguous if several
    /// integrations report that id.
    pub(super) async fn one(
        &self,
        id: &str,
        integration: Option<&str>,
    ) -> Result<StoredFinding, ServiceError> {
        let filter = FindingFilter {
            integration: self.integration_id(integration).await?,
            id: Some(id.to_string()),
            ..Default::default()
        };
        let mut rows = self.platform.store().findings(&filter).await?;
        match rows.len() {
            0 => Err(StoreError::not_found(format!("finding `{id}`")).into()),
            1 => Ok(rows.remove(0)),
            _ => Err(ServiceError::Ambiguous {
                id: id.to_string(),
                integrations: rows.into_iter().map(|r| r.integration).collect(),
            }),
        }
    }

    /// One finding and the source's raw record of it.
    pub async fn show(
        &self,
        id: &str,
        integration: Option<&str>,
    ) -> Result<FindingDetail, ServiceError> {
        let finding = self.one(id, integration).await?;
        let store = self.platform.store();
        let owner = store.integration(&finding.integration).await?;
        let text = store.finding_raw(owner.id, id).await?;
        let raw = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        let changes = store.status_changes(owner.id, id).await?;
        Ok(FindingDetail {
            finding,
            raw,
            changes,
        })
    }
}
