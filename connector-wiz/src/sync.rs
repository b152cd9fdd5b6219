//! The sync: page through `issuesV2` (per configured project, or over all), apply the
//! rules, look up technologies, and hand each page to the host with a checkpoint.

use crate::client::{Transport, WizClient};
use crate::error::ConnectorError;
use crate::mapping::{self, Candidate, InventoryEntry, SkipReason};
use crate::model::ResourceNode;
use crate::pagination::CursorGuard;
use crate::protocol;
use crate::records::{Batch, LogLevel};
use crate::state::{ResumePoint, SyncState};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What the host offers a running sync.
pub trait HostSink {
    /// Stores one page; `false` means stop.
    fn emit(&mut self, batch: Batch) -> bool;
    /// Stores the resume point covering everything emitted so far.
    fn checkpoint(&mut self, state: &str);
    /// Writes a log line.
    fn log(&mut self, level: LogLevel, message: &str);
    /// Reports progress.
    fn progress(&mut self, done: u64, total: Option<u64>);
}

/// What a finished sync reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSummary {
    /// Distinct assets emitted.
    pub assets: u64,
    /// Findings emitted.
    pub findings: u64,
    /// Issues skipped by the rules.
    pub skipped: u64,
    /// Whether the run read everything from the start.
    pub full: bool,
    /// Non-fatal things the user should know.
    pub warnings: Vec<String>,
}

/// The warning when the service account may not read the inventory.
pub const NO_INVENTORY_WARNING: &str = "The service account cannot read the Wiz inventory (scope read:resources), so asset types are Wiz entity types instead of technologies. Grant read:resources to see technologies.";

/// Whether technologies can be looked up; learned on first use.
enum Inventory {
    Unknown,
    Available,
    Denied,
}

/// Runs one sync.
pub struct Sync<'h, T, H> {
    client: WizClient<T>,
    host: &'h mut H,
    inventory: Inventory,
    emitted_assets: HashSet<String>,
    emitted_findings: HashSet<String>,
    skipped: BTreeMap<&'static str, u64>,
    summary: SyncSummary,
    max_status_changed: Option<String>,
}

impl<'h, T: Transport, H: HostSink> Sync<'h, T, H> {
    /// A sync over `client` reporting to `host`.
    pub fn new(client: WizClient<T>, host: &'h mut H) -> Self {
        Sync {
            client,
            host,
            inventory: Inventory::Unknown,
            emitted_assets: HashSet::new(),
            emitted_findings: HashSet::new(),
            skipped: BTreeMap::new(),
            summary: SyncSummary::default(),
            max_status_changed: None,
        }
    }

    /// Runs to the end: resumes an unfinished run, or fetches the changes since the
    /// stored watermark, or, without either, everything.
    pub async fn run(mut self, state: Option<&str>) -> Result<SyncSummary, ConnectorError> {
        let state = match state.map(SyncState::parse) {
            Some(Ok(state)) => state,
            Some(Err(reason)) => {
                self.host.log(
                    LogLevel::Warn,
                    &format!("ignoring the stored checkpoint: {reason}; running a full sync"),
                );
                SyncState::default()
            }
            None => SyncState::default(),
        };
        let run_start = now_rfc3339();
        let mut plan = match state.resume {
            Some(point) => point,
            None => ResumePoint {
                project: 0,
                after: String::new(),
                changed_after: state.watermark.as_deref().map(minus_overlap),
                next_watermark: Some(run_start),
            },
        };
        // Only a run that starts from nothing reads everything by itself.
        self.summary.full =
            plan.changed_after.is_none() && plan.after.is_empty() && plan.project == 0;
        let projects = self.client.config().project_scopes();
        let first_project = plan.project.min(projects.len() - 1);
        let mut done = 0u64;
        for (index, project) in projects.iter().enumerate().skip(first_project) {
            plan.project = index;
            if index != first_project {
                plan.after.clear();
            }
            done = self
                .sync_project(&mut plan, project.as_deref(), done)
                .await?;
        }
        let watermark = match (&self.max_status_changed, &plan.next_watermark) {
            (Some(seen), Some(start)) => Some(seen.min(start).clone()),
            (Some(seen), None) => Some(seen.clone()),
            // Nothing seen: keep the previous watermark (or none after an empty full run).
            (None, _) => state.watermark.clone(),
        };
        self.host
            .checkpoint(&SyncState::completed(watermark).to_text());
        if !self.skipped.is_empty() {
            let detail: Vec<String> = self
                .skipped
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            self.host.log(
                LogLevel::Info,
                &format!("skipped issues: {}", detail.join(", ")),
            );
        }
        Ok(self.summary)
    }

    async fn sync_project(
        &mut self,
        plan: &mut ResumePoint,
        project: Option<&str>,
        mut done: u64,
    ) -> Result<u64, ConnectorError> {
        let mut guard = CursorGuard::default();
        let mut total = None;
        for page_number in 1u64.. {
            let where_ = match project {
                Some(p) => format!("issues page {page_number} of project {p}"),
                None => format!("issues page {page_number}"),
            };
            let after = Some(plan.after.as_str()).filter(|a| !a.is_empty());
            let body = protocol::issues_request(
                self.client.config().page_size,
                after,
                project,
                plan.changed_after.as_deref(),
                page_number == 1,
            );
            let page = self
                .client
                .query(body, protocol::parse_issues_page)
                .await
                .map_err(|e| e.context(&where_))?;
            if page_number == 1 {
                total = page.total_count.map(|t| t + done);
            }
            let next = guard
                .next(&page.page_info)
                .map_err(|e| e.context(&where_))?;
            done += page.nodes.len() as u64;
            let mut candidates = Vec::with_capacity(page.nodes.len());
            let mut removed = Vec::new();
            for node in &page.nodes {
                let screened = mapping::screen(node).map_err(|e| e.context(&where_))?;
                if let Some(at) = screened
                    .status_changed_at
                    .filter(|at| self.max_status_changed.as_ref().is_none_or(|m| at > m))
                {
                    self.max_status_changed = Some(at);
                }
                match screened.outcome {
                    Ok(c) => candidates.push(c),
                    Err(reason) => {
                        if reason == SkipReason::DeletedResource {
                            removed.push(screened.id);
                        }
                        self.skip(&reason);
                    }
                }
            }
            let mut batch = self
                .build_batch(candidates)
                .await
                .map_err(|e| e.context(&where_))?;
            batch.removed_findings.extend(removed);
            self.summary.assets += batch.assets.len() as u64;
            self.summary.findings += batch.findings.len() as u64;
            if !self.host.emit(batch) {
                return Err(ConnectorError::Internal("the host stopped the run".into()));
            }
            self.host.progress(done, total);
            match next {
                Some(cursor) => {
                    plan.after = cursor;
                    self.host
                        .checkpoint(&SyncState::resuming(plan.clone()).to_text());
                }
                None => break,
            }
        }
        Ok(done)
    }

    fn skip(&mut self, reason: &SkipReason) {
        self.summary.skipped += 1;
        *self.skipped.entry(reason.label()).or_default() += 1;
    }

    /// Looks up the page's new resources, drops issues on deleted ones, and builds the
    /// batch: each asset the first time it is seen in this run, each finding once.
    async fn build_batch(&mut self, candidates: Vec<Candidate>) -> Result<Batch, ConnectorError> {
        let new_ids: Vec<&str> = {
            let mut ids: Vec<&str> = candidates
                .iter()
                .map(|c| c.entity.id.as_str())
                .filter(|id| !self.emitted_assets.contains(*id))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let inventory = self.lookup(&new_ids).await?;
        let mut batch = Batch::default();
        for c in candidates {
            let entry = inventory.get(c.entity.id.as_str());
            if entry.is_some_and(|e| e.deleted) {
                self.skip(&SkipReason::DeletedResource);
                batch.removed_findings.push(c.issue.id.clone());
                continue;
            }
            if !self.emitted_findings.insert(c.issue.id.clone()) {
                continue; // already emitted under another project
            }
            if self.emitted_assets.insert(c.entity.id.clone()) {
                batch.assets.push(mapping::asset(&c, entry));
            }
            batch
                .findings
                .push(mapping::finding(&c, self.client.config().portal_base));
        }
        Ok(batch)
    }

    /// Technologies and deletion marks for `ids`, from the inventory when it may be read.
    async fn lookup(
        &mut self,
        ids: &[&str],
    ) -> Result<HashMap<String, InventoryEntry>, ConnectorError> {
        let mut found = HashMap::new();
        if ids.is_empty() || matches!(self.inventory, Inventory::Denied) {
            return Ok(found);
        }
        let mut guard = CursorGuard::default();
        let mut after: Option<String> = None;
        loop {
            let request = protocol::resources_request(ids, after.as_deref());
            let page = match self
                .client
                .query(request, protocol::parse_resources_page)
                .await
            {
                Err(ConnectorError::Permission(reason))
                    if matches!(self.inventory, Inventory::Unknown) =>
                {
                    self.host
                        .log(LogLevel::Warn, &format!("inventory not readable: {reason}"));
                    self.summary.warnings.push(NO_INVENTORY_WARNING.to_string());
                    self.inventory = Inventory::Denied;
                    return Ok(found);
                }
                other => other.map_err(|e| e.context("inventory lookup"))?,
            };
            self.inventory = Inventory::Available;
            for node in &page.nodes {
                let node: ResourceNode = serde_json::from_str(node.get()).map_err(|e| {
                    ConnectorError::Protocol(format!("malformed cloudResourcesV2 node: {e}"))
                })?;
                found.insert(node.id.clone(), InventoryEntry::from(node));
            }
            match guard
                .next(&page.page_info)
                .map_err(|e| e.context("inventory lookup"))?
            {
                Some(cursor) => after = Some(cursor),
                None => return Ok(found),
            }
        }
    }
}

/// Changes that share a timestamp across page boundaries, or land while a run pages, can
/// be missed by an exclusive `statusChangedAt.after`; re-reading this much is cheap.
pub const INCREMENTAL_OVERLAP: chrono::Duration = chrono::Duration::minutes(5);

fn now_rfc3339() -> String {
    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The watermark minus the overlap; a watermark that does not parse is used as it is.
fn minus_overlap(watermark: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(watermark) {
        Ok(t) => (t.with_timezone(&chrono::Utc) - INCREMENTAL_OVERLAP)
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        Err(_) => watermark.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_is_subtracted() {
        assert_eq!(
            minus_overlap("2026-03-01T10:00:00.000001Z"),
            "2026-03-01T09:55:00.000001Z"
        );
        assert_eq!(minus_overlap("garbage"), "garbage");
    }
}
