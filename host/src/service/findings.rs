//! Findings: query with filters and counts, show one, set a status here.

use super::paging::{check_page_size, decode_cursor, encode_cursor};
use super::{Platform, ServiceError};
use crate::model::{
    FindingCursor, FindingFilter, FindingStatus, Integration, Severity, StoredFinding,
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
}

/// Findings and their counts by severity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingList {
    /// Most severe first.
    pub findings: Vec<StoredFinding>,
    /// How many of each severity, most severe first, severities without any left out.
    pub by_severity: Vec<(Severity, u64)>,
}

/// One page of findings, with the counts of all that the query matches.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FindingsPage {
    /// The page, most severe first.
    pub findings: Vec<StoredFinding>,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
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
}

/// What setting a status did, and what the next sync will do to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    /// The finding, before the change.
    pub finding: StoredFinding,
    /// Its integration.
    pub integration: Integration,
    /// The status set.
    pub status: FindingStatus,
}

impl Findings<'_> {
    async fn integration_id(&self, name: Option<&str>) -> Result<Option<i64>, ServiceError> {
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
        })
    }

    /// Every finding matching `query`, with counts.
    pub async fn list(&self, query: FindingQuery) -> Result<FindingList, ServiceError> {
        let filter = self.filter(query).await?;
        let store = self.platform.store();
        let findings = store.findings(&filter).await?;
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

    /// A page of up to `limit` (1 to [`super::MAX_PAGE`]) findings matching `query`, starting
    /// at `cursor` (from the previous page), with the counts of all that match.
    pub async fn page(
        &self,
        query: FindingQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<FindingsPage, ServiceError> {
        check_page_size(limit)?;
        let after: Option<FindingCursor> = cursor.map(decode_cursor).transpose()?;
        let filter = self.filter(query).await?;
        let store = self.platform.store();
        let page = store.finding_page(&filter, after.as_ref(), limit).await?;
        let by_severity: Vec<SeverityCount> = store
            .finding_counts(&filter)
            .await?
            .into_iter()
            .map(|(severity, count)| SeverityCount { severity, count })
            .collect();
        Ok(FindingsPage {
            findings: page.findings,
            next: page.next.as_ref().map(encode_cursor),
            total: by_severity.iter().map(|c| c.count).sum(),
            by_severity,
        })
    }

    /// The one finding with `id`, in `integration` when given: ambiguous if several
    /// integrations report that id.
    async fn one(
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
        Ok(FindingDetail { finding, raw })
    }

    /// Sets a finding's status here. The source stays the truth: the next sync of its
    /// integration puts the source's status back.
    pub async fn set_status(
        &self,
        id: &str,
        integration: Option<&str>,
        status: FindingStatus,
    ) -> Result<StatusSet, ServiceError> {
        let finding = self.one(id, integration).await?;
        let store = self.platform.store();
        let owner = store.integration(&finding.integration).await?;
        store.set_finding_status(owner.id, id, status).await?;
        Ok(StatusSet {
            finding,
            integration: owner,
            status,
        })
    }
}
