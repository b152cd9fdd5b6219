//! The sync: page through `issuesV2` (per configured project, or over all), apply the
//! rules, look up technologies, and hand each page to the host with a checkpoint.

use crate::client::{Transport, WizClient};
use crate::error::ConnectorError;
use crate::mapping::{self, Candidate, InventoryEntry, SkipReason};
use crate::model::ResourceNode;
use crate::pagination::CursorGuard;
use crate::protocol;
use crate::records::{Batch, LogLevel};
use crate::state::SyncState;
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
        }
    }

    /// Runs to the end, resuming from `state` when it names an unfinished run.
    pub async fn run(mut self, state: Option<&str>) -> Result<SyncSummary, ConnectorError> {
        let resume = match state.map(SyncState::parse) {
            Some(Ok(state)) => state.resume,
            Some(Err(reason)) => {
                self.host.log(
                    LogLevel::Warn,
                    &format!("ignoring the stored checkpoint: {reason}; running a full sync"),
                );
                None
            }
            None => None,
        };
        self.summary.full = true;
        let projects = self.client.config().project_scopes();
        let first_project = resume
            .as_ref()
            .map_or(0, |r| r.project.min(projects.len() - 1));
        let mut done = 0u64;
        for (index, project) in projects.iter().enumerate().skip(first_project) {
            let after = resume
                .as_ref()
                .filter(|r| r.project == index)
                .map(|r| r.after.clone());
            done = self
                .sync_project(index, project.as_deref(), after, done)
                .await?;
        }
        self.host.checkpoint(&SyncState::completed().to_text());
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
        index: usize,
        project: Option<&str>,
        mut after: Option<String>,
        mut done: u64,
    ) -> Result<u64, ConnectorError> {
        let mut guard = CursorGuard::default();
        let mut total = None;
        for page_number in 1u64.. {
            let where_ = match project {
                Some(p) => format!("issues page {page_number} of project {p}"),
                None => format!("issues page {page_number}"),
            };
            let body = protocol::issues_request(
                self.client.config().page_size,
                after.as_deref(),
                project,
                page_number == 1,
            );
            let response = self
                .client
                .graphql(body)
                .await
                .map_err(|e| e.context(&where_))?;
            let page = protocol::parse_issues_page(&response).map_err(|e| e.context(&where_))?;
            if page_number == 1 {
                total = page.total_count.map(|t| t + done);
            }
            let next = guard
                .next(&page.page_info)
                .map_err(|e| e.context(&where_))?;
            done += page.nodes.len() as u64;
            let mut candidates = Vec::with_capacity(page.nodes.len());
            for node in &page.nodes {
                match mapping::screen(node).map_err(|e| e.context(&where_))? {
                    Ok(c) => candidates.push(c),
                    Err(reason) => self.skip(&reason),
                }
            }
            let batch = self
                .build_batch(candidates)
                .await
                .map_err(|e| e.context(&where_))?;
            self.summary.assets += batch.assets.len() as u64;
            self.summary.findings += batch.findings.len() as u64;
            if !self.host.emit(batch) {
                return Err(ConnectorError::Internal("the host stopped the run".into()));
            }
            self.host.progress(done, total);
            match next {
                Some(cursor) => {
                    self.host
                        .checkpoint(&SyncState::resuming(index, cursor.clone()).to_text());
                    after = Some(cursor);
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
            let response = self
                .client
                .graphql(protocol::resources_request(ids, after.as_deref()))
                .await?;
            let page = match protocol::parse_resources_page(&response) {
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
