//! The sync: page through `issuesV2` (per configured project, or over all), apply the
//! rules, look up technologies, and hand each page to the host with a checkpoint.

use crate::client::WizClient;
use crate::mapping::{self, Candidate, InventoryEntry, SkipReason};
use crate::model::{PageInfo, ResourceNode};
use crate::page::ScreenedPage;
use crate::protocol;
use crate::state::{ResumePoint, SyncState};
use connector_sdk::http::{BodyGate, Transport};
use connector_sdk::paging::PageGuard;
use connector_sdk::records::{Batch, LogLevel};
use connector_sdk::{ConnectorError, Host, SyncSummary};
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::poll_fn;
use std::task::Poll;
use std::time::Duration;

/// The warning when the service account may not read the inventory.
pub const NO_INVENTORY_WARNING: &str = "The service account cannot read the Wiz inventory (scope read:resources), so asset types are Wiz entity types instead of technologies. Grant read:resources to see technologies.";

/// Whether technologies can be looked up; learned on first use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inventory {
    Unknown,
    Available,
    Denied,
}

/// What an inventory lookup found.
enum Lookup {
    /// Nothing to look up, or the inventory is known to be unreadable.
    Skipped,
    /// Technologies and deletion marks by resource id.
    Found(HashMap<String, InventoryEntry>),
    /// The service account may not read the inventory (learned on the first lookup).
    Denied(String),
}

/// A page's batch, built and waiting to be handed over, with where the run stands after it.
struct Ready<'p> {
    batch: Batch<'p>,
    /// The cursor to resume after this page; `None` for a project's last page and for
    /// an empty page.
    cursor: Option<String>,
    /// Issues read so far, for progress.
    done: u64,
}

/// Runs one sync.
pub struct Sync<'h, T, H> {
    client: WizClient<T>,
    host: &'h mut H,
    run: RunRecord,
}

/// What the run has emitted and learned so far. Kept apart from the client so that a page
/// fetch, an inventory lookup and a hand-over can be in flight together.
struct RunRecord {
    inventory: Inventory,
    emitted_assets: HashSet<String>,
    /// Only kept when several projects are read: one issue can be in more than one.
    emitted_findings: Option<HashSet<String>>,
    skipped: BTreeMap<&'static str, u64>,
    summary: SyncSummary,
    max_status_changed: Option<String>,
}

impl<'h, T: Transport, H: Host> Sync<'h, T, H> {
    /// A sync over `client` reporting to `host`.
    pub fn new(client: WizClient<T>, host: &'h mut H) -> Self {
        let several_projects = client.config().project_scopes().len() > 1;
        Sync {
            client,
            host,
            run: RunRecord {
                inventory: Inventory::Unknown,
                emitted_assets: HashSet::new(),
                emitted_findings: several_projects.then(HashSet::new),
                skipped: BTreeMap::new(),
                summary: SyncSummary::default(),
                max_status_changed: None,
            },
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
        self.run.summary.full =
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
        let watermark = match (&self.run.max_status_changed, &plan.next_watermark) {
            (Some(seen), Some(start)) => Some(seen.min(start).clone()),
            (Some(seen), None) => Some(seen.clone()),
            // Nothing seen: keep the previous watermark (or none after an empty full run).
            (None, _) => state.watermark.clone(),
        };
        self.host
            .checkpoint(&SyncState::completed(watermark).to_text());
        if !self.run.skipped.is_empty() {
            let detail: Vec<String> = self
                .run
                .skipped
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            self.host.log(
                LogLevel::Info,
                &format!("skipped issues: {}", detail.join(", ")),
            );
        }
        Ok(self.run.summary)
    }

    /// Pages through one project (or all issues), keeping the API busy: the next page is
    /// asked for as soon as a page arrives, each page's resources are looked up while later
    /// pages load, and pages are handed to the host in order as their lookups end.
    ///
    /// How far the walk reads ahead depends on who sets the pace. While the host takes
    /// pages at once, up to [`PAGES_AHEAD`] pages wait for their lookup. While it makes
    /// the sync wait ([`HOST_SETS_THE_PACE`]: other syncs fill the store's queue), and
    /// until it has taken a page quickly, a page's answer is read only once the page
    /// before it has been handed over: the answer waits outside the plugin rather than as
    /// a second page in its memory, and reading it earlier would not make the sync faster.
    async fn sync_project(
        &mut self,
        plan: &mut ResumePoint,
        project: Option<&str>,
        mut done: u64,
    ) -> Result<u64, ConnectorError> {
        let Sync { client, host, run } = self;
        let client = &*client;
        let portal_base = client.config().portal_base;
        let changed_after = plan.changed_after.clone();
        let page_label = |number: u64| match project {
            Some(p) => format!("issues page {number} of project {p}"),
            None => format!("issues page {number}"),
        };
        // Open while fewer pages wait for their lookup than the walk may read ahead.
        let gate = BodyGate::default();
        let gate = &gate;
        let fetch = |number: u64, after: Option<String>| {
            let body = protocol::issues_request(
                client.config().page_size,
                after.as_deref(),
                project,
                changed_after.as_deref(),
                number == 1,
            );
            let label = page_label(number);
            Box::pin(async move {
                let page = client
                    .query_held_by(Some(gate), body, protocol::parse_issues_page)
                    .await;
                (number, page.map_err(|e| e.context(&label)))
            })
        };
        let mut guard = PageGuard::default();
        let mut total = None;
        let first_after = Some(plan.after.clone()).filter(|a| !a.is_empty());
        let mut fetching = Some(fetch(1, first_after));
        let mut pages_ahead = 1;
        let mut looking_up = FuturesOrdered::new();
        let mut failure = None;
        while fetching.is_some() || !looking_up.is_empty() {
            let event = poll_fn(|cx| {
                if let Some(Poll::Ready(page)) = fetching.as_mut().map(|f| f.as_mut().poll(cx)) {
                    return Poll::Ready(Event::Fetched(page));
                }
                match looking_up.poll_next_unpin(cx) {
                    Poll::Ready(Some(looked)) => Poll::Ready(Event::LookedUp(looked)),
                    _ => Poll::Pending,
                }
            })
            .await;
            match event {
                Event::Fetched((number, page)) => {
                    fetching = None;
                    let label = page_label(number);
                    // A page that fails (to arrive, to parse, to pass the rules) ends the
                    // walk; the pages before it are still handed over.
                    let page = page.and_then(|page| {
                        let screened = page.get();
                        let next = next_cursor(&mut guard, &screened.page_info, screened.issues)
                            .map_err(|e| e.context(&label))?;
                        Ok((page, next))
                    });
                    let (page, next) = match page {
                        Ok(page) => page,
                        Err(e) => {
                            failure = Some(e);
                            continue;
                        }
                    };
                    let screened = page.get();
                    if number == 1 {
                        total = screened.total_count.map(|t| t + done);
                    }
                    done += screened.issues as u64;
                    if let Some(cursor) = &next {
                        fetching = Some(fetch(number + 1, Some(cursor.clone())));
                    }
                    // An empty page moves no resume point: its cursor is the one a server
                    // that pages forever makes up, and re-reading an empty page is free.
                    let resume_after = next.filter(|_| screened.issues > 0);
                    run.note_screened(screened);
                    let ids = run.new_asset_ids(&screened.candidates);
                    let inventory = run.inventory;
                    let ready_at = done;
                    looking_up.push_back(async move {
                        let found = lookup(client, inventory, &ids).await;
                        (number, found, page, resume_after, ready_at)
                    });
                }
                Event::LookedUp((number, found, page, cursor, ready_at)) => {
                    let label = page_label(number);
                    let found = found.map_err(|e| e.context("inventory lookup").context(&label))?;
                    let batch = run
                        .build_batch(page.get(), found, &mut **host, portal_base)
                        .map_err(|e| e.context(&label))?;
                    let ready = Ready {
                        batch,
                        cursor,
                        done: ready_at,
                    };
                    let clock = client.http().transport();
                    let handing_over = clock.now();
                    deliver(&mut **host, run, plan, ready, total)?;
                    pages_ahead = match clock.now() - handing_over < HOST_SETS_THE_PACE {
                        true => PAGES_AHEAD,
                        false => 1,
                    };
                }
            }
            gate.set_open(looking_up.len() < pages_ahead);
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }
}

/// The cursor of the page after one of `nodes` items, `None` at the end (Relay paging,
/// guarded against loops).
fn next_cursor(
    guard: &mut PageGuard,
    page: &PageInfo,
    nodes: usize,
) -> Result<Option<String>, ConnectorError> {
    guard.next(
        page.has_next_page,
        page.end_cursor.as_deref(),
        nodes,
        "`pageInfo.endCursor`",
    )
}

/// Pages that may wait for their inventory lookup while the host takes pages at once.
const PAGES_AHEAD: usize = 2;

/// A hand-over that took this long means the host, not the API, sets the pace: the
/// store's queue is full of other syncs' pages (500 syncs at once wait seconds for each),
/// and a page read ahead would only wait as long in the plugin's memory (issue 27).
/// A single sync waits far less for its own writes to be committed.
const HOST_SETS_THE_PACE: Duration = Duration::from_secs(1);

/// What the page walk waits for.
enum Event<P, L> {
    /// An issues page arrived (or failed).
    Fetched(P),
    /// The oldest page's lookup ended.
    LookedUp(L),
}

/// Hands a built page to the host, reports progress and records the resume point after it.
fn deliver<H: Host>(
    host: &mut H,
    run: &mut RunRecord,
    plan: &mut ResumePoint,
    ready: Ready<'_>,
    total: Option<u64>,
) -> Result<(), ConnectorError> {
    run.summary.assets += ready.batch.assets.len() as u64;
    run.summary.findings += ready.batch.findings.len() as u64;
    if !host.emit(ready.batch) {
        return Err(ConnectorError::Internal("the host stopped the run".into()));
    }
    host.progress(ready.done, total);
    if let Some(cursor) = ready.cursor {
        plan.after = cursor;
        host.checkpoint(&SyncState::resuming(plan.clone()).to_text());
    }
    Ok(())
}

impl RunRecord {
    fn skip(&mut self, reason: &SkipReason) {
        self.summary.skipped += 1;
        *self.skipped.entry(reason.label()).or_default() += 1;
    }

    /// Counts a screened page's skipped issues and notes its latest status change.
    fn note_screened(&mut self, page: &ScreenedPage) {
        for (label, count) in &page.skipped {
            self.summary.skipped += count;
            *self.skipped.entry(label).or_default() += count;
        }
        if let Some(at) = page
            .latest_change
            .as_deref()
            .filter(|at| self.max_status_changed.as_deref().is_none_or(|m| *at > m))
        {
            self.max_status_changed = Some(at.to_string());
        }
    }

    /// The resources of `candidates` not emitted yet in this run, each once.
    fn new_asset_ids(&self, candidates: &[Candidate]) -> Vec<String> {
        let mut ids: Vec<String> = candidates
            .iter()
            .map(|c| &*c.entity.id)
            .filter(|id| !self.emitted_assets.contains(*id))
            .map(str::to_string)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Builds a page's batch from what the inventory said: drops issues on deleted
    /// resources, emits each asset the first time it is seen in this run, each finding
    /// once. The batch's raw records borrow the page.
    fn build_batch<'p>(
        &mut self,
        page: &ScreenedPage<'p>,
        found: Lookup,
        host: &mut impl Host,
        portal_base: &str,
    ) -> Result<Batch<'p>, ConnectorError> {
        let inventory = match found {
            Lookup::Skipped => HashMap::new(),
            Lookup::Found(entries) => {
                self.inventory = Inventory::Available;
                entries
            }
            Lookup::Denied(reason) => {
                match self.inventory {
                    Inventory::Unknown => {
                        host.log(LogLevel::Warn, &format!("inventory not readable: {reason}"));
                        self.summary.warnings.push(NO_INVENTORY_WARNING.to_string());
                        self.inventory = Inventory::Denied;
                    }
                    Inventory::Denied => {} // a lookup that started before the first denial
                    Inventory::Available => return Err(ConnectorError::Permission(reason)),
                }
                HashMap::new()
            }
        };
        let mut batch = Batch {
            removed_findings: page.removed.iter().map(|id| id.to_string()).collect(),
            ..Batch::default()
        };
        for c in &page.candidates {
            let entry = inventory.get(&*c.entity.id);
            if entry.is_some_and(|e| e.deleted) {
                self.skip(&SkipReason::DeletedResource);
                batch.removed_findings.push(c.issue.id.to_string());
                continue;
            }
            if let Some(emitted) = &mut self.emitted_findings
                && !emitted.insert(c.issue.id.to_string())
            {
                continue; // already emitted under another project
            }
            if !self.emitted_assets.contains(&*c.entity.id) {
                self.emitted_assets.insert(c.entity.id.to_string());
                batch.assets.push(mapping::asset(c, entry)?);
            }
            batch.findings.push(mapping::finding(c, portal_base));
        }
        Ok(batch)
    }
}

/// Technologies and deletion marks for `ids`, from the inventory when it may be read.
/// A permission error on the first lookup means the inventory is not readable.
async fn lookup<T: Transport>(
    client: &WizClient<T>,
    inventory: Inventory,
    ids: &[String],
) -> Result<Lookup, ConnectorError> {
    if ids.is_empty() || inventory == Inventory::Denied {
        return Ok(Lookup::Skipped);
    }
    let mut found = HashMap::new();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut guard = PageGuard::default();
    let mut after: Option<String> = None;
    loop {
        let request = protocol::resources_request(&ids, after.as_deref());
        let page = match client.query(request, protocol::parse_resources_page).await {
            Err(ConnectorError::Permission(reason)) if inventory == Inventory::Unknown => {
                return Ok(Lookup::Denied(reason));
            }
            other => other?,
        };
        for node in &page.nodes {
            let node: ResourceNode = serde_json::from_str(node.get()).map_err(|e| {
                ConnectorError::Protocol(format!("malformed cloudResourcesV2 node: {e}"))
            })?;
            found.insert(node.id.clone(), InventoryEntry::from(node));
        }
        match next_cursor(&mut guard, &page.page_info, page.nodes.len())? {
            Some(cursor) => after = Some(cursor),
            None => return Ok(Lookup::Found(found)),
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
