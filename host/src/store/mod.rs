//! Persistence, without rules: each backend reads and writes in transactions what the
//! `policy` decided. The interface is split by concern (integrations, runs, ingest,
//! inventory, findings) and async at the boundary: no async worker ever waits on a
//! database lock. [`open_store`] opens either backend from a `--db` value.

mod access;
mod error;
pub mod fleet;
mod ingest;
mod integrations;
mod paces;
mod plugins;
pub mod postgres;
mod rows;
mod runs;
pub(crate) mod sql;
pub mod sqlite;
mod target;

pub use error::StoreError;
pub use fleet::{
    CancelRequested, Claim, ClaimKind, FleetStore, QueuedSync, RequestedStart, RunningSync,
    SyncRequested, WorkerInfo, WorkerRow,
};
pub use paces::{PaceStore, Turn};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use target::StoreTarget;

use crate::import::ImportedAsset;
use crate::model::{
    Action, AssetCursor, AssetFilter, AssetPage, Batch, FindingCursor, FindingFilter, FindingOrder,
    FindingPage, HistoryRow, InstalledPlugin, Integration, InventoryAsset, NewIntegration,
    NewSession, PluginPin, Policy, Role, RunCounts, RunEnd, Session, Severity, StatusChange,
    StatusChangeRecord, StatusesMoved, StoredFinding, User, Window,
};
use crate::policy::lease::RunningRun;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// An integration's resume point, and the generation of its settings it belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// The plugin's opaque state; `None` when there is none (the next sync is full).
    pub state: Option<String>,
    /// Moved on by every clear (a settings change).
    pub generation: i64,
}

impl Checkpoint {
    /// From a stored (state, generation) row, if there is one; an empty state is none.
    pub(crate) fn from_row(row: Option<(String, i64)>) -> Self {
        row.map_or_else(Checkpoint::default, |(state, generation)| Checkpoint {
            state: Some(state).filter(|s| !s.is_empty()),
            generation,
        })
    }
}

/// Stores a run's checkpoint while its generation is current (?1 integration, ?2 state,
/// ?3 time, ?4 generation). The checkpoint statements are written once for both
/// backends, with SQLite's numbered placeholders; PostgreSQL's take `$`.
pub(crate) const SAVE_CHECKPOINT: &str = "UPDATE checkpoints SET state = ?2, updated_at = ?3 WHERE integration_id = ?1 AND generation = ?4";
/// The first checkpoint of an integration whose checkpoint was never cleared.
pub(crate) const FIRST_CHECKPOINT: &str =
    "INSERT INTO checkpoints (integration_id, state, updated_at, generation) VALUES (?1, ?2, ?3, 0)
     ON CONFLICT (integration_id) DO NOTHING";
/// Forgets the state and moves the generation on (?1 integration, ?2 time).
pub(crate) const CLEAR_CHECKPOINT: &str =
    "INSERT INTO checkpoints (integration_id, state, updated_at, generation) VALUES (?1, '', ?2, 1)
     ON CONFLICT (integration_id) DO UPDATE SET state = '', updated_at = excluded.updated_at,
       generation = checkpoints.generation + 1";

/// Fails the syncs of an integration still marked running, which a holder that is gone
/// left (a connection test runs beside syncs, under no lease) (?1 integration, ?2 time, ?3 error).
pub(crate) const INTERRUPT_RUNS: &str =
    "UPDATE runs SET status = 'failed', finished_at = ?2, error = ?3
 WHERE integration_id = ?1 AND status = 'running' AND action IN ('sync_now', 'auto_sync')";

/// Opens a history row in state running (?1 integration, ?2 action, ?3 time, ?4 started
/// by), naming the worker that holds the integration's lease; its id.
pub(crate) const START_RUN: &str = "INSERT INTO runs (integration_id, action, started_at, started_by, status, worker)
 VALUES (?1, ?2, ?3, ?4, 'running', (SELECT holder FROM leases WHERE integration_id = ?1)) RETURNING id";

/// Puts back the source's status wherever one was set here (?1 integration).
pub(crate) const RESTORE_REPORTED_STATUSES: &str = "UPDATE findings SET status = reported_status WHERE integration_id = ?1 AND status <> reported_status";

/// Closes a run's history row (?1 run, ?2 time, ?3 status, ?4 to ?11 counts, ?12
/// warnings, ?13 error, ?14 details), while the run's lease has the fence ?15 when one is
/// given.
pub(crate) const FINISH_RUN: &str = "UPDATE runs SET finished_at = ?2, status = ?3, assets_onboarded = ?4, assets_updated = ?5, assets_skipped = ?6,
   findings_new = ?7, findings_updated = ?8, findings_unchanged = ?9, findings_skipped = ?10, findings_closed = ?11,
   warnings = ?12, error = ?13, details = COALESCE(?14, details)
 WHERE id = ?1 AND (CAST(?15 AS BIGINT) IS NULL
   OR EXISTS (SELECT 1 FROM leases l WHERE l.integration_id = runs.integration_id AND l.fence = ?15))";

/// The answer to a [`FINISH_RUN`] that updated `rows`: the lease was lost when a fence
/// was given and nothing was updated.
pub(crate) fn run_finished(rows: u64, fence: Option<Fence>) -> Result<(), StoreError> {
    match (rows, fence) {
        (0, Some(_)) => Err(StoreError::LeaseLost),
        _ => Ok(()),
    }
}

/// The mark of one taking of a lease. Every batch and checkpoint of the run carries it,
/// and the store refuses them, in their own transaction, once the lease has another
/// fence: a run that stalled past its lease cannot write beside the run that took over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence(pub i64);

impl Fence {
    /// A fresh fence, drawn at random so no later taking repeats it. Without the
    /// system's randomness, the time in nanoseconds still differs from the last one.
    pub(crate) fn draw() -> Self {
        let drawn = getrandom::u64()
            .unwrap_or_else(|_| chrono::Utc::now().timestamp_nanos_opt().unwrap_or(1) as u64);
        Fence((drawn >> 1) as i64)
    }
}

/// The result of asking for an integration's run lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// Ours now; `interrupted_runs` were left running by a dead holder and are now failed.
    Acquired {
        /// Runs marked failed (interrupted).
        interrupted_runs: u64,
        /// What the run's writes carry.
        fence: Fence,
    },
    /// Another live process holds it.
    HeldBy(String),
}

/// What writing one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// What changed.
    pub counts: RunCounts,
    /// Findings not stored because their asset is not linked: (finding, asset) source ids.
    pub unlinked: Vec<(String, String)>,
}

impl BatchOutcome {
    /// What writing `plan` did, `closed` being the findings the store actually closed.
    pub fn of(plan: &crate::policy::ingest::Plan<'_>, closed: u64) -> Self {
        let mut counts = plan.counts;
        counts.findings_closed += closed;
        BatchOutcome {
            counts,
            unlinked: plan
                .unlinked
                .iter()
                .map(|(finding, asset)| (finding.to_string(), asset.to_string()))
                .collect(),
        }
    }
}

/// Integrations: configured instances of a connector.
#[async_trait]
pub trait IntegrationStore: Send + Sync {
    /// Adds one; [`StoreError::Conflict`] if the name is taken.
    async fn add_integration(&self, new: &NewIntegration) -> Result<Integration, StoreError>;
    /// Replaces an integration's settings, sealed secrets, policy and streams (`None`:
    /// its plugin's defaults).
    async fn update_integration(
        &self,
        id: i64,
        settings: &[(String, String)],
        sealed_secrets: &str,
        policy: &Policy,
        streams: Option<&[String]>,
    ) -> Result<(), StoreError>;
    /// Swaps an integration's sealed secrets from `was` to `now` (re-sealing them), unless
    /// someone changed them meanwhile; whether it swapped.
    async fn replace_sealed_secrets(
        &self,
        id: i64,
        was: &str,
        now: &str,
    ) -> Result<bool, StoreError>;
    /// One by name.
    async fn integration(&self, name: &str) -> Result<Integration, StoreError>;
    /// All, by name.
    async fn integrations(&self) -> Result<Vec<Integration>, StoreError>;
    /// Removes one and everything stored for it.
    async fn remove_integration(&self, name: &str) -> Result<(), StoreError>;
}

/// What installing a plugin build found under its name and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// Nothing: it is stored now.
    New,
    /// This very build: nothing changed.
    Already,
    /// Another build, with this digest: nothing changed, since a changed build must carry a
    /// new version.
    Differs(String),
}

/// Plugin builds kept in the store, and which one each integration runs.
#[async_trait]
pub trait PluginStore: Send + Sync {
    /// Keeps `component` as `plugin`'s name and version, unless that version is stored.
    async fn install_plugin(
        &self,
        plugin: &InstalledPlugin,
        component: &[u8],
    ) -> Result<Installed, StoreError>;
    /// Every stored build, by name and version.
    async fn installed_plugins(&self) -> Result<Vec<InstalledPlugin>, StoreError>;
    /// The component and digest of `name` at `version`, when stored.
    async fn plugin_component(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError>;
    /// Forgets `name` at `version`; [`StoreError::InUse`] while an integration runs it, or
    /// is not pinned yet (it may be about to).
    async fn remove_plugin(&self, name: &str, version: &str) -> Result<(), StoreError>;
    /// Pins integration `id` to `now`, unless its pin is no longer `was` (another process
    /// moved it) or `now` is not stored; with `settings`, its settings and sealed secrets
    /// change in the same write. Whether it did.
    async fn pin_plugin(
        &self,
        id: i64,
        was: Option<&PluginPin>,
        now: &PluginPin,
        settings: Option<(&[(String, String)], &str)>,
    ) -> Result<bool, StoreError>;
}

/// Runs, their history, the leases that keep two of one integration from running at once,
/// and auto-sync schedules.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Takes the integration's run lease if [`crate::policy::lease::may_take`] allows it;
    /// taking it fails the runs the previous holder left running.
    async fn acquire_lease(
        &self,
        integration: i64,
        holder: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError>;
    /// Extends the lease `fence` names; false if it is no longer ours (taken over).
    async fn renew_lease(
        &self,
        integration: i64,
        fence: Fence,
        ttl: Duration,
    ) -> Result<bool, StoreError>;
    /// Gives back the lease `fence` names; a lease taken over since stays its taker's.
    async fn release_lease(&self, integration: i64, fence: Fence) -> Result<(), StoreError>;
    /// Every sync marked running, with its integration's lease (a connection test is
    /// none: it holds no lease, and runs beside a sync).
    async fn running_runs(&self) -> Result<Vec<RunningRun>, StoreError>;
    /// Fails those of `runs` still running, with `error`; returns how many.
    async fn fail_runs(&self, runs: &[i64], error: &str) -> Result<u64, StoreError>;
    /// Opens a history row in state `running`.
    async fn start_run(
        &self,
        integration: i64,
        action: Action,
        started_by: &str,
    ) -> Result<i64, StoreError>;
    /// Closes a history row. A run under a lease gives its `fence`: when the lease was
    /// taken over, the row (which the taker marked interrupted) is left as it is, and the
    /// answer is [`StoreError::LeaseLost`].
    async fn finish_run(
        &self,
        run: i64,
        end: &RunEnd,
        fence: Option<Fence>,
    ) -> Result<(), StoreError>;
    /// Records a run that is over as it starts (a settings change, a recorded test).
    async fn record_run(
        &self,
        integration: i64,
        action: Action,
        started_by: &str,
        end: &RunEnd,
        details: Option<&str>,
    ) -> Result<i64, StoreError>;
    /// The rows of `window` of an integration's history, newest first.
    async fn history(
        &self,
        integration: i64,
        window: Window,
    ) -> Result<Vec<HistoryRow>, StoreError>;
    /// How many rows the integration's history has.
    async fn history_count(&self, integration: i64) -> Result<u64, StoreError>;
    /// The integration's latest sync (now or auto), if it ever synced.
    async fn last_sync(&self, integration: i64) -> Result<Option<HistoryRow>, StoreError>;
    /// When the next auto sync is due, once scheduled.
    async fn next_due(&self, integration: i64) -> Result<Option<DateTime<Utc>>, StoreError>;
}

/// One of a run's writes, in the order the plugin made them.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupWrite {
    /// A screened batch.
    Batch(Batch),
    /// The resume point after the batches before it, and the checkpoint generation the
    /// run started with.
    Checkpoint(String, i64),
}

/// A run's queue of writes as a group takes them. A group is one transaction and one
/// commit: the batches in their order, then the last checkpoint among them, so a crash
/// loses a group and its checkpoint together and a resumed run reads those batches
/// again. A group goes on taking its run's writes as they come, for up to
/// [`GROUP_SPAN`], and ends sooner when none comes within [`GROUP_IDLE`], or none is
/// queued while another transaction waits for the store: a writer faster than its plugin
/// commits each write soon after it comes, one behind it commits less often, and many
/// syncs sharing the store do not hold it for each other's plugins.
pub trait GroupFeed: Send {
    /// The run's next write, if one is queued within `wait`.
    fn next(&mut self, wait: Duration) -> BoxFuture<'_, Option<GroupWrite>>;
    /// Takes back a batch the group wrote, with what it did, which holds only if the
    /// group commits.
    fn written(&mut self, batch: Batch, outcome: BatchOutcome);
}

/// How long a group goes on taking its run's writes. Each commit rewrites every index
/// page the group's keys touched, and a group's random keys touch most pages of the
/// findings' indexes: a 100k sync whose groups took four times the writes took 0.89 of
/// the wall time (BENCHMARKS.md, issue 27). Another sync of the process waits for the
/// store about this long at most.
pub const GROUP_SPAN: Duration = Duration::from_millis(250);

/// How long a group waits for its run's next write before it commits what it has.
pub const GROUP_IDLE: Duration = Duration::from_millis(50);

/// What writing a group did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupOutcome {
    /// How many writes (batches and checkpoints) the group took.
    pub writes: usize,
    /// Set when the checkpoint was not stored because its generation is no longer
    /// current (the settings changed since the run started) or the integration is gone.
    pub checkpoint_stale: bool,
}

/// What syncs write: groups of batches and checkpoints, and the end-of-run updates.
#[async_trait]
pub trait IngestStore: Send + Sync {
    /// Writes a group of what `feed` has queued in one transaction (see [`GroupFeed`]).
    /// Each batch reads the snapshot of its keys (seeing the batches before it), lets
    /// [`crate::policy::ingest::plan`] decide, and writes the plan; findings written or
    /// found unchanged are marked as seen in `run`. The checkpoint is stored while its
    /// generation is current. [`StoreError::LeaseLost`] (nothing written) when the lease
    /// no longer has `fence`.
    async fn write_group(
        &self,
        integration: i64,
        run: i64,
        policy: Policy,
        feed: Box<dyn GroupFeed>,
        fence: Fence,
    ) -> Result<GroupOutcome, StoreError>;
    /// Closes (passed, removed at source) the open findings of `streams` that `run` did not
    /// report; findings stored before streams were recorded count as any stream's.
    /// [`StoreError::LeaseLost`] (nothing closed) when the lease no longer has `fence`.
    async fn close_unseen(
        &self,
        integration: i64,
        run: i64,
        streams: &[String],
        fence: Fence,
    ) -> Result<u64, StoreError>;
    /// Puts back the source's status wherever one was set here; returns how many.
    /// [`StoreError::LeaseLost`] (nothing changed) when the lease no longer has `fence`.
    async fn restore_reported_statuses(
        &self,
        integration: i64,
        fence: Fence,
    ) -> Result<u64, StoreError>;
    /// The stored resume point and its generation.
    async fn checkpoint(&self, integration: i64) -> Result<Checkpoint, StoreError>;
    /// Forgets the resume point, so the next sync is full, and moves the generation on,
    /// so a run that started before cannot store one after.
    async fn clear_checkpoint(&self, integration: i64) -> Result<(), StoreError>;
}

/// The shared asset inventory.
#[async_trait]
pub trait InventoryStore: Send + Sync {
    /// Adds assets known from elsewhere, in one transaction; (added, already present).
    async fn import_assets(&self, assets: Vec<ImportedAsset>) -> Result<(u64, u64), StoreError>;
    /// Up to `limit` assets matching `filter` after `after`, by name then id.
    async fn asset_page(
        &self,
        filter: &AssetFilter,
        after: Option<&AssetCursor>,
        limit: usize,
    ) -> Result<AssetPage, StoreError>;
    /// How many assets match `filter`.
    async fn asset_count(&self, filter: &AssetFilter) -> Result<u64, StoreError>;
    /// The asset types and the cloud platforms the inventory holds, each sorted: the
    /// choices of the Asset View's filters.
    async fn asset_values(&self) -> Result<(Vec<String>, Vec<String>), StoreError>;
}

/// Stored findings.
#[async_trait]
pub trait FindingStore: Send + Sync {
    /// Up to `limit` findings matching `filter` in `order` (ties by integration, then in
    /// the order they were first stored), from the start or from the cursor `at` (which
    /// must be of `order`), forward or, for a backward cursor, the findings just before it.
    async fn finding_page(
        &self,
        filter: &FindingFilter,
        order: FindingOrder,
        at: Option<&FindingCursor>,
        limit: usize,
    ) -> Result<FindingPage, StoreError>;
    /// Every finding matching `filter`, most severe first.
    async fn findings(&self, filter: &FindingFilter) -> Result<Vec<StoredFinding>, StoreError> {
        let order = FindingOrder::default();
        Ok(self
            .finding_page(filter, order, None, usize::MAX)
            .await?
            .findings)
    }
    /// How many findings match `filter`, by severity, most severe first; severities
    /// without any left out.
    async fn finding_counts(
        &self,
        filter: &FindingFilter,
    ) -> Result<Vec<(Severity, u64)>, StoreError>;
    /// The source's raw JSON of a finding.
    async fn finding_raw(&self, integration: i64, id: &str) -> Result<String, StoreError>;
    /// Sets the effective status of every finding `filter` matches that has another,
    /// recording each change with who, when and why, in one transaction; the source's own
    /// status is kept for the next sync. How many moved, by integration and former status.
    async fn set_finding_statuses(
        &self,
        filter: &FindingFilter,
        change: &StatusChange,
    ) -> Result<Vec<StatusesMoved>, StoreError>;
    /// The status changes recorded on a finding, oldest first.
    async fn status_changes(
        &self,
        integration: i64,
        id: &str,
    ) -> Result<Vec<StatusChangeRecord>, StoreError>;
}

/// Users of the console and the API, and console sessions. Tokens and session ids are
/// only ever handled as their SHA-256 hashes.
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// Adds a user; [`StoreError::Conflict`] if the name (or, vanishingly, the token) is
    /// taken.
    async fn add_user(&self, name: &str, role: Role, token_hash: &[u8])
    -> Result<User, StoreError>;
    /// Gives a user a new token, ending the user's sessions.
    async fn set_user_token(&self, name: &str, token_hash: &[u8]) -> Result<(), StoreError>;
    /// Removes a user and the user's sessions.
    async fn remove_user(&self, name: &str) -> Result<(), StoreError>;
    /// Every user, by name.
    async fn users(&self) -> Result<Vec<User>, StoreError>;
    /// The user whose token hashes to `token_hash`.
    async fn user_by_token(&self, token_hash: &[u8]) -> Result<Option<User>, StoreError>;
    /// Stores a session, dropping those that expired before `now`.
    async fn create_session(
        &self,
        session: &NewSession,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The session whose id hashes to `id_hash`, unless it expired before `now`.
    async fn session(
        &self,
        id_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError>;
    /// Ends a session.
    async fn delete_session(&self, id_hash: &[u8]) -> Result<(), StoreError>;
}

/// A whole store: every concern, one backend.
pub trait Store:
    IntegrationStore
    + PluginStore
    + RunStore
    + IngestStore
    + InventoryStore
    + FindingStore
    + AccessStore
    + FleetStore
    + PaceStore
{
}

impl<
    T: IntegrationStore
        + PluginStore
        + RunStore
        + IngestStore
        + InventoryStore
        + FindingStore
        + AccessStore
        + FleetStore
        + PaceStore,
> Store for T
{
}

/// How many rows a listing reads for a page of `limit`: one more, so that it knows
/// whether another page follows without counting.
/// The listing's `removed` column, in SQL both backends speak: the integration's own link
/// when the listing is scoped to one (`a`), else whether every integration that reported
/// the inventory entry (`inv`) removed it (an imported entry no source reported is not).
fn removed_column(filter: &AssetFilter) -> &'static str {
    match filter.integration {
        Some(_) => "a.removed_at IS NOT NULL",
        None => {
            "(EXISTS (SELECT 1 FROM assets r WHERE r.inventory_id = inv.id)
              AND NOT EXISTS (SELECT 1 FROM assets r WHERE r.inventory_id = inv.id AND r.removed_at IS NULL))"
        }
    }
}

fn page_fetch(limit: usize) -> i64 {
    i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX)
}

/// The page of `rows` (read by [`page_fetch`], each with the cursor that resumes after
/// it): its first `limit` rows, and the cursor of the last when more follow.
fn cut_page<T, C>(mut rows: Vec<(T, C)>, limit: usize) -> (Vec<T>, Option<C>) {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let (page, mut cursors): (Vec<T>, Vec<C>) = rows.into_iter().unzip();
    (page, cursors.pop().filter(|_| more))
}

/// Which way a page of findings reads the store's order: descending when the order is and
/// the page runs forward, or the order is ascending and the page runs back from a cursor.
fn reads_descending(order: FindingOrder, at: Option<&FindingCursor>) -> bool {
    order.descending != at.is_some_and(|c| c.backward)
}

/// The page of findings from `rows` (read by [`page_fetch`] in the direction
/// [`reads_descending`] gives, each with its forward cursor), in `order`, with the cursors
/// of the pages on either side.
fn finding_page_of(
    mut rows: Vec<(StoredFinding, FindingCursor)>,
    at: Option<&FindingCursor>,
    limit: usize,
) -> FindingPage {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let backward = at.is_some_and(|c| c.backward);
    if backward {
        rows.reverse();
    }
    let (findings, cursors): (Vec<StoredFinding>, Vec<FindingCursor>) = rows.into_iter().unzip();
    let back_from = |c: &FindingCursor| FindingCursor {
        backward: true,
        ..c.clone()
    };
    // Going back, more rows means more before; forward, more after. The other side has
    // rows when the page was reached through a cursor.
    let (more_before, more_after) = match backward {
        true => (more, true),
        false => (at.is_some(), more),
    };
    FindingPage {
        previous: cursors.first().filter(|_| more_before).map(back_from),
        next: cursors.last().filter(|_| more_after).cloned(),
        findings,
    }
}

/// An asset's place in the Asset View's order, for resuming after it.
fn asset_cursor(asset: &InventoryAsset) -> AssetCursor {
    AssetCursor {
        name_key: crate::model::natural_key(&asset.name),
        id: asset.id.clone(),
    }
}

/// Opens the store `target` names, bringing its schema up to date.
pub async fn open_store(target: &StoreTarget) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match target {
        StoreTarget::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
        StoreTarget::Postgres(config) => Arc::new(PostgresStore::connect(config).await?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_cut_from_one_row_more_than_it_holds() {
        let rows = |n: u8| (0..n).map(|i| (i, i * 10)).collect::<Vec<_>>();
        assert_eq!(page_fetch(50), 51);
        assert_eq!(cut_page(rows(3), 2), (vec![0, 1], Some(10)), "more follow");
        assert_eq!(cut_page(rows(2), 2), (vec![0, 1], None), "the last page");
        assert_eq!(cut_page(rows(0), 2), (vec![], None));
        assert_eq!(
            cut_page(rows(1), 0),
            (vec![], None),
            "an empty page has no cursor"
        );
    }
}
