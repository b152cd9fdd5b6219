//! One sync of one integration: takes its lease, opens a history row, runs the plugin with
//! a sink that screens and stores each batch and its checkpoint, and closes the row with
//! the policy's verdict.

use crate::model::{Action, Batch, Integration, RunCounts, RunEnd, RunStatus};
use crate::plugin::{LoadedPlugin, PluginHost, RunSink, SyncResult};
use crate::policy::failure::FailureClass;
use crate::policy::ingest::{EmittedAssets, never_emitted};
use crate::policy::outcome::{PluginEnd, SyncEnd, judge, may_close_unseen};
use crate::policy::screen::{self, Screened, clip};
use crate::settings::Settings;
use crate::store::{BatchOutcome, Fence, GroupFeed, GroupWrite, LeaseOutcome, Store, StoreError};
use futures_util::future::BoxFuture;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;
use tokio::sync::mpsc::{Receiver, Sender};

mod backlog;
use backlog::BacklogShare;
pub use backlog::{DEFAULT_MAX_MIB_IN_FLIGHT_PER_PROCESS, StoreBacklog};

/// Why a sync could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// Another process is syncing this integration.
    #[error(
        "integration `{name}` is already syncing (held by {holder}); try again when that run finishes, or, if its process died, once its lease lapses (--lease-ttl-s)"
    )]
    AlreadyRunning {
        /// The integration.
        name: String,
        /// Who holds its lease.
        holder: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Receives progress of a run.
pub trait Progress: Send {
    /// Records handled so far, and the total when known.
    fn update(&mut self, done: u64, total: Option<u64>);
}

/// How a sync ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SyncOutcome {
    /// History row id.
    pub run_id: i64,
    /// Final status.
    pub status: RunStatus,
    /// What it did.
    #[serde(flatten)]
    pub counts: RunCounts,
    /// Warnings.
    pub warnings: Vec<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Whose fault the failure is, if it failed.
    pub failure: Option<FailureClass>,
    /// How long the source asked to be left alone after a rate-limited failure; a retry
    /// must not come sooner.
    #[serde(skip)]
    pub source_wait: Option<std::time::Duration>,
    /// The plugin's linear memory when it returned (its peak); none when it was stopped.
    #[serde(skip)]
    pub plugin_memory_bytes: Option<u64>,
}

impl SyncOutcome {
    /// Whether it failed in a way a later retry may fix (network, throttling, server).
    pub fn retryable(&self) -> bool {
        self.failure.is_some_and(FailureClass::retryable)
    }
}

/// What the sink and writer learned during the run.
#[derive(Default)]
struct Tally {
    counts: RunCounts,
    /// Records dropped as malformed.
    rejected: u64,
    /// The first few of them, for the run's warning.
    rejected_examples: Vec<String>,
    /// Portal links dropped from stored findings.
    links_dropped: u64,
    /// The first few of them, for the run's warning.
    link_examples: Vec<String>,
    store_error: Option<(String, FailureClass)>,
    /// Set when a checkpoint was not stored because the settings changed meanwhile.
    settings_changed: bool,
}

/// How many rejected records are quoted in the run's warning.
const REJECTED_EXAMPLES: usize = 3;

impl Tally {
    /// What an end-of-run write changed. Its failure fails the run, which still records
    /// its end, unless the run lost its lease: its end is then its taker's to write.
    fn ending_write(
        &mut self,
        written: Result<u64, StoreError>,
        what: &str,
    ) -> Result<u64, StoreError> {
        match written {
            Ok(changed) => Ok(changed),
            Err(StoreError::LeaseLost) => Err(StoreError::LeaseLost),
            Err(e) => {
                self.store_error = Some((format!("{what} failed: {e}"), FailureClass::Store));
                Ok(0)
            }
        }
    }

    /// Counts dropped records, keeping the first few reasons.
    fn reject(&mut self, reasons: impl IntoIterator<Item = String>) {
        for reason in reasons {
            self.rejected += 1;
            if self.rejected_examples.len() < REJECTED_EXAMPLES {
                self.rejected_examples.push(reason);
            }
        }
    }
}

/// What the sink hands to the writer, in the order the plugin sent it.
enum Write {
    /// A batch, screened as the plugin emitted it, and its share of the bytes in flight,
    /// given back once stored.
    Batch(Box<Screened>, InFlight),
    Checkpoint(String),
}

/// A batch's share of the bytes between `emit` and the store: of its run's, and of its
/// process's.
struct InFlight {
    run: BacklogShare,
    process: BacklogShare,
}

/// Takes what the plugin emits: enforces the run's ceilings and cancellation, and queues
/// batches and checkpoints for the [`Writer`], so the plugin fetches and maps its next
/// pages while the last ones are being written. The queue is short ([`QUEUED_WRITES`]):
/// a plugin is never more than a few batches ahead of the store.
struct StoringSink {
    writes: Sender<Write>,
    /// Set when storing failed or a ceiling was passed; the plugin is then told to stop.
    failed: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    progress: Option<Box<dyn Progress>>,
    /// The streams the run pulls: a finding of another is refused.
    streams: Vec<String>,
    cancel: Arc<AtomicBool>,
    limits: EmitLimits,
    records: u64,
    bytes: u64,
    /// The run's bytes in flight: each queued batch holds its size until stored.
    in_flight: StoreBacklog,
    /// The same for every run of the process together.
    backlog: StoreBacklog,
    /// Set once an `emit` was refused: no checkpoint may follow a batch that was not
    /// stored, or a resumed run would skip it.
    refused: bool,
    /// Room taken for the next batch before the plugin's copy of it was lifted
    /// ([`RunSink::reserve`]).
    reserved: Option<InFlight>,
}

/// The size a run's first batch is taken to have per record, before it is lifted: about
/// what a finding with its raw record weighs. Later batches are sized by the run's own
/// average so far; a batch larger than its estimate takes the difference when lifted.
const FIRST_BATCH_BYTES_PER_RECORD: u64 = 2048;

/// Writes the sink may queue, batches and checkpoints alike: a plugin stays at most eight
/// writes (four pages and their checkpoints) ahead of the store, which bounds the run's
/// memory. A group goes on taking what queues while it writes ([`GroupFeed`]), so the
/// store commits less often than once per queue's worth without more of it waiting:
/// sixteen queued made a 100k sync 0.95 of the wall time for 10 MiB more peak memory
/// (BENCHMARKS.md, issue 27).
const QUEUED_WRITES: usize = 8;

/// Stores the screened batches and the checkpoints of one run, in order, as a task of its
/// own, a group of them per transaction ([`GroupFeed`]). After a failure it drops
/// everything that follows: a checkpoint after a batch that was not stored would skip that
/// batch on resume.
struct Writer {
    store: Arc<dyn Store>,
    integration: Integration,
    run: i64,
    /// The checkpoint generation the run started with; a checkpoint is stored only while
    /// it is current.
    generation: i64,
    /// The run's lease: every write carries it, and none is stored once it was taken over.
    fence: Fence,
    emitted_assets: EmittedAssets,
    tally: Arc<Mutex<Tally>>,
    failed: Arc<AtomicBool>,
}

impl Writer {
    /// Writes until the sink is dropped. Only a failure of its own drops what follows:
    /// when the sink refuses a batch (a ceiling passed), what it queued before the refusal
    /// is still stored, with its checkpoints, and nothing after it was queued.
    async fn run(self, writes: Receiver<Write>) {
        let queue = Queue::new(
            writes,
            self.generation,
            self.tally.clone(),
            self.emitted_assets,
        );
        let mut store_failed = false;
        // The queue is locked only while it is polled, never across a wait.
        while let Some(write) =
            std::future::poll_fn(|cx| queue.lock().expect("queue lock").writes.poll_recv(cx)).await
        {
            if store_failed {
                continue;
            }
            queue.lock().expect("queue lock").first = Some(write);
            let written = self
                .store
                .write_group(
                    self.integration.id,
                    self.run,
                    self.integration.policy,
                    Box::new(Lent(queue.clone())),
                    self.fence,
                )
                .await;
            let done = {
                let mut queue = queue.lock().expect("queue lock");
                let mut done = std::mem::take(&mut queue.group);
                if written.is_err() {
                    // A group refused before it took its first write failed that write.
                    let first = queue.first.take();
                    done.took_batch |= matches!(first, Some(Write::Batch(..)));
                    // The room of the writes not stored is given back.
                    queue.held.clear();
                }
                done
            };
            let mut tally = self.tally.lock().expect("tally lock");
            match written {
                Ok(outcome) => {
                    tracing::trace!(run = self.run, writes = outcome.writes, "group committed");
                    tally.settings_changed |= outcome.checkpoint_stale;
                    tally.counts += done.counts;
                    tally.reject(done.forbidden);
                }
                Err(e) => {
                    let failure = match done.took_batch {
                        true => format!("storing a batch failed: {e}"),
                        false => format!("storing a checkpoint failed: {e}"),
                    };
                    tally.store_error = Some((failure, FailureClass::Store));
                    self.failed.store(true, Ordering::SeqCst);
                    store_failed = true;
                }
            }
        }
    }
}

/// The writer's queue, which the store takes each group's writes from: it counts what
/// screening dropped as it hands a batch out, and keeps what the group's batches did
/// until the group commits.
struct Queue {
    writes: Receiver<Write>,
    /// The write the writer waited for, which begins the next group.
    first: Option<Write>,
    generation: i64,
    tally: Arc<Mutex<Tally>>,
    emitted_assets: EmittedAssets,
    /// The room of the batches handed out and not yet written, in their order.
    held: VecDeque<InFlight>,
    /// What the group being written did so far.
    group: Done,
    /// Where written batches are freed.
    runtime: tokio::runtime::Handle,
}

/// What a group's batches did, counted in the run's tally once the group commits.
#[derive(Default)]
struct Done {
    counts: RunCounts,
    /// Findings refused because they name an asset the plugin never emitted.
    forbidden: Vec<String>,
    /// Whether the group took a batch (else a failure was storing its checkpoint).
    took_batch: bool,
}

impl Queue {
    /// The queue of `writes`, shared by the writer and the group it lends it to.
    fn new(
        writes: Receiver<Write>,
        generation: i64,
        tally: Arc<Mutex<Tally>>,
        emitted_assets: EmittedAssets,
    ) -> Arc<Mutex<Queue>> {
        Arc::new(Mutex::new(Queue {
            writes,
            first: None,
            generation,
            tally,
            emitted_assets,
            held: VecDeque::new(),
            group: Done::default(),
            runtime: tokio::runtime::Handle::current(),
        }))
    }

    /// The write the writer waited for, else the next the sink queues.
    fn poll_write(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Option<Write>> {
        match self.first.take() {
            Some(write) => Poll::Ready(Some(write)),
            None => self.writes.poll_recv(cx),
        }
    }

    /// Hands a write out to the group, counting what screening dropped of a batch.
    fn hand_out(&mut self, write: Write) -> GroupWrite {
        match write {
            Write::Batch(screened, held) => {
                self.held.push_back(held);
                self.group.took_batch = true;
                let mut tally = self.tally.lock().expect("tally lock");
                tally.counts.assets_skipped += screened.assets_rejected;
                tally.counts.findings_skipped += screened.findings_rejected;
                tally.reject(screened.reasons);
                tally.links_dropped += screened.links_dropped.len() as u64;
                let room = REJECTED_EXAMPLES.saturating_sub(tally.link_examples.len());
                tally
                    .link_examples
                    .extend(screened.links_dropped.into_iter().take(room));
                GroupWrite::Batch(screened.batch)
            }
            Write::Checkpoint(state) => GroupWrite::Checkpoint(state, self.generation),
        }
    }

    fn written(&mut self, batch: Batch, stored: BatchOutcome) {
        // Batch by batch, in order: a finding may name an asset of its own batch or an
        // earlier one, never a later one.
        for asset in &batch.assets {
            self.emitted_assets.insert(&asset.source_id);
        }
        self.group.counts += stored.counts;
        let forbidden =
            never_emitted(&stored.unlinked, &self.emitted_assets).map(|(finding, asset)| {
                format!(
                    "finding `{}`: names asset `{}` that was never emitted",
                    clip(finding),
                    clip(asset)
                )
            });
        self.group.forbidden.extend(forbidden);
        // Freed by a task of its own, so the group's next write need not wait while a
        // batch's thousands of records are dropped; its room is given back only once it
        // is, so the ceilings still bound the memory.
        let held = self.held.pop_front();
        self.runtime.spawn(async move {
            drop(batch);
            drop(held);
        });
    }
}

/// The writer's queue, lent to the store for one group.
struct Lent(Arc<Mutex<Queue>>);

impl GroupFeed for Lent {
    fn next(&mut self, wait: Duration) -> BoxFuture<'_, Option<GroupWrite>> {
        let queue = &self.0;
        // SQLite's group runs on a blocking thread: the timer is the runtime's.
        let runtime = queue.lock().expect("queue lock").runtime.clone();
        let _entered = runtime.enter();
        let next = tokio::time::timeout(
            wait,
            std::future::poll_fn(|cx| queue.lock().expect("queue lock").poll_write(cx)),
        );
        Box::pin(async move {
            let write = next.await.ok()??;
            Some(queue.lock().expect("queue lock").hand_out(write))
        })
    }

    fn written(&mut self, batch: Batch, stored: BatchOutcome) {
        self.0.lock().expect("queue lock").written(batch, stored)
    }
}

impl StoringSink {
    // Each is one of the run's own parts (queue, flags, tally, ceilings), none optional.
    #[allow(clippy::too_many_arguments)]
    fn new(
        writes: Sender<Write>,
        failed: Arc<AtomicBool>,
        tally: Arc<Mutex<Tally>>,
        progress: Option<Box<dyn Progress>>,
        streams: Vec<String>,
        cancel: Arc<AtomicBool>,
        limits: EmitLimits,
        backlog: StoreBacklog,
    ) -> Self {
        StoringSink {
            writes,
            failed,
            tally,
            progress,
            streams,
            cancel,
            limits,
            records: 0,
            bytes: 0,
            in_flight: StoreBacklog::new(limits.max_bytes_in_flight),
            backlog,
            refused: false,
            reserved: None,
        }
    }

    /// The KiB a batch of `records` records is taken to need before it is lifted.
    fn estimated_kib(&self, records: u64) -> u32 {
        let per_record = match self.records {
            0 => FIRST_BATCH_BYTES_PER_RECORD,
            seen => self.bytes.div_ceil(seen),
        };
        u32::try_from(records.saturating_mul(per_record).div_ceil(1024)).unwrap_or(u32::MAX)
    }

    /// The room a batch of `kib` takes from the run's and the process's ceilings: what
    /// was `reserved` for it, resized to fit, or taken now. `None` if a ceiling was closed.
    async fn room_for(&mut self, reserved: Option<InFlight>, kib: u32) -> Option<InFlight> {
        match reserved {
            Some(InFlight { run, process }) => Some(InFlight {
                run: self.in_flight.resize(run, kib).await?,
                process: self.backlog.resize(process, kib).await?,
            }),
            None => Some(InFlight {
                run: self.in_flight.admit(kib).await?,
                process: self.backlog.admit(kib).await?,
            }),
        }
    }

    /// Queues `batch` for the writer, unless the run is cancelled, failed, or over a
    /// ceiling; whether it was queued.
    async fn accept(&mut self, batch: Batch) -> bool {
        // Taken now, so that a batch that is refused gives its room back at once.
        let reserved = self.reserved.take();
        if self.cancel.load(Ordering::SeqCst) || self.failed.load(Ordering::SeqCst) {
            return false;
        }
        let bytes = screen::batch_bytes(&batch);
        if let Some(reason) = self.over_ceiling(&batch, bytes) {
            self.tally.lock().expect("tally lock").store_error =
                Some((reason, FailureClass::Sandbox));
            self.failed.store(true, Ordering::SeqCst);
            return false;
        }
        // Screened here, on the plugin's side of the queue: the writer's task would do it
        // between two commits, while the store waits.
        let screened = Box::new(screen::screen(batch, &self.streams));
        // Waits while the run holds its ceiling of bytes in flight, then while the
        // process holds its own (unless room was reserved), then while the queue is
        // full; fails only if the writer is gone.
        let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        let Some(held) = self.room_for(reserved, kib).await else {
            return false;
        };
        if self
            .writes
            .send(Write::Batch(screened, held))
            .await
            .is_err()
        {
            return false;
        }
        // The plugin goes on to its next batch once there is room for one like this.
        self.backlog.wait_for_room(kib).await;
        true
    }

    /// Counts a batch against the run's ceilings; the reason to stop when one is passed.
    fn over_ceiling(&mut self, batch: &Batch, bytes: u64) -> Option<String> {
        if bytes > self.limits.max_bytes_in_flight {
            return Some(format!(
                "the plugin emitted one batch of {} MiB, over the ceiling of {} MiB a run may have in flight; emit smaller pages",
                bytes.div_ceil(1 << 20),
                self.limits.max_bytes_in_flight >> 20
            ));
        }
        self.records += batch.records();
        self.bytes += bytes;
        if self.records > self.limits.max_records {
            return Some(format!(
                "the plugin emitted more than the per-run ceiling of {} records; the run was stopped",
                self.limits.max_records
            ));
        }
        if self.bytes > self.limits.max_bytes {
            return Some(format!(
                "the plugin emitted more than the per-run ceiling of {} MiB; the run was stopped",
                self.limits.max_bytes >> 20
            ));
        }
        None
    }
}

/// Default ceiling on the records one run may emit.
pub const DEFAULT_MAX_RECORDS: u64 = 20_000_000;
/// Default ceiling on the data one run may emit, in MiB.
pub const DEFAULT_MAX_MIB: u64 = 32 * 1024;
/// Default ceiling on the data one run may have between `emit` and the store, in MiB:
/// what bounds the host's memory per run, however large or fast the plugin's batches.
pub const DEFAULT_MAX_MIB_IN_FLIGHT: u64 = 64;

/// Ceilings on what plugins may emit: per run, and all runs of a process together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmitLimits {
    /// Most records (assets, findings, removals) in one run.
    pub max_records: u64,
    /// Most bytes, roughly, in one run.
    pub max_bytes: u64,
    /// Most bytes, roughly, queued for the store at once; also the largest batch.
    pub max_bytes_in_flight: u64,
    /// Most bytes, roughly, all runs of the process may have queued for the store
    /// ([`StoreBacklog`]).
    pub max_bytes_in_flight_per_process: u64,
}

impl Default for EmitLimits {
    /// The `DEFAULT_MAX_…` ceilings.
    fn default() -> Self {
        EmitLimits {
            max_records: DEFAULT_MAX_RECORDS,
            max_bytes: DEFAULT_MAX_MIB << 20,
            max_bytes_in_flight: DEFAULT_MAX_MIB_IN_FLIGHT << 20,
            max_bytes_in_flight_per_process: DEFAULT_MAX_MIB_IN_FLIGHT_PER_PROCESS << 20,
        }
    }
}

#[async_trait::async_trait]
impl RunSink for StoringSink {
    async fn reserve(&mut self, records: u64) {
        self.reserved = None;
        if self.cancel.load(Ordering::SeqCst) || self.failed.load(Ordering::SeqCst) {
            return;
        }
        let kib = self.estimated_kib(records);
        if let Some(run) = self.in_flight.admit(kib).await
            && let Some(process) = self.backlog.admit(kib).await
        {
            self.reserved = Some(InFlight { run, process });
        }
    }

    async fn emit(&mut self, batch: Batch) -> bool {
        let accepted = self.accept(batch).await;
        self.refused |= !accepted;
        accepted
    }

    async fn checkpoint(&mut self, state: String) {
        // After a refused batch, nothing; the writer also drops it if a write before it
        // failed.
        if !self.refused {
            let _ = self.writes.send(Write::Checkpoint(state)).await;
        }
    }

    fn progress(&mut self, done: u64, total: Option<u64>) {
        if let Some(p) = self.progress.as_mut() {
            p.update(done, total);
        }
    }
}

/// Everything one sync needs.
pub struct SyncJob<'a> {
    /// The plugin host.
    pub host: &'a PluginHost,
    /// The integration's plugin.
    pub plugin: &'a LoadedPlugin,
    /// The integration: its id, name and policy.
    pub integration: &'a Integration,
    /// Its validated settings, secrets included.
    pub settings: Settings,
    /// Why it runs.
    pub action: Action,
    /// Who started it.
    pub started_by: String,
    /// Where progress goes.
    pub progress: Option<Box<dyn Progress>>,
    /// Set to stop the run; the plugin learns it from `emit`'s answer.
    pub cancel: Arc<AtomicBool>,
    /// Ignore the stored checkpoint and read everything.
    pub full: bool,
    /// The streams to pull (the integration's choice, checked against its plugin).
    pub streams: Vec<String>,
    /// Ceilings on what the plugin may emit.
    pub limits: EmitLimits,
    /// The process's ceiling on bytes emitted and not yet stored, shared by its runs.
    pub backlog: StoreBacklog,
    /// How long its lease lasts without renewal; renewed every third of it.
    pub lease_ttl: Duration,
    /// The worker it runs on: what its lease and history row name.
    pub worker: String,
    /// The lease a claim took for it, which its claimer gives back; without one, the run
    /// takes the lease itself and gives it back when it ends.
    pub claimed: Option<Fence>,
}

impl SyncJob<'_> {
    /// Whether it runs a Sync Now a claim took from the queue: its request stays queued
    /// (shown as starting) until the run's row opens, and leaves the queue with it.
    fn takes_queued_request(&self) -> bool {
        self.claimed.is_some() && self.action == Action::SyncNow
    }

    /// Runs the sync to its end and records it in history. Refused while another
    /// process runs the same integration.
    pub async fn run(self, store: Arc<dyn Store>) -> Result<SyncOutcome, RunnerError> {
        let id = self.integration.id;
        let claimed = self.claimed;
        let fence = match claimed {
            Some(fence) => fence,
            None => match store
                .acquire_lease(id, &self.worker, self.lease_ttl)
                .await?
            {
                LeaseOutcome::HeldBy(other) => {
                    return Err(RunnerError::AlreadyRunning {
                        name: self.integration.name.clone(),
                        holder: other,
                    });
                }
                LeaseOutcome::Acquired { fence, .. } => fence,
            },
        };
        let renewal = tokio::spawn(renew_lease(
            store.clone(),
            Lease {
                integration: id,
                fence,
                ttl: self.lease_ttl,
            },
            self.cancel.clone(),
        ));
        let result = self.run_holding_lease(store.clone(), fence).await;
        renewal.abort();
        if claimed.is_none() {
            store.release_lease(id, fence).await?;
        }
        Ok(result?)
    }

    async fn run_holding_lease(
        self,
        store: Arc<dyn Store>,
        fence: Fence,
    ) -> Result<SyncOutcome, StoreError> {
        let schema = &self.plugin.info.config_schema;
        let grants = self.settings.grants(schema);
        let redactor = grants.redactor.clone();
        let id = self.integration.id;
        let checkpoint = store.checkpoint(id).await?;
        let state = checkpoint.state.filter(|_| !self.full);
        let started_full = state.is_none();
        let run_id = match self.takes_queued_request() {
            false => store.start_run(id, self.action, &self.started_by).await?,
            true => {
                let started = store
                    .start_requested_sync(id, fence, &self.started_by)
                    .await?;
                // Cancelled between its claim and now: it stops at its first batch.
                if started.withdrawn {
                    self.cancel.store(true, Ordering::SeqCst);
                }
                started.run
            }
        };
        let tally = Arc::new(Mutex::new(Tally::default()));
        let failed = Arc::new(AtomicBool::new(false));
        let (writes, queue) = tokio::sync::mpsc::channel(QUEUED_WRITES);
        let writer = Writer {
            store: store.clone(),
            integration: self.integration.clone(),
            run: run_id,
            generation: checkpoint.generation,
            fence,
            emitted_assets: EmittedAssets::default(),
            tally: tally.clone(),
            failed: failed.clone(),
        };
        let writing = tokio::spawn(writer.run(queue));
        let reported = Arc::new(Mutex::new(Reported::default()));
        let reporter = tokio::spawn(report_progress(
            store.clone(),
            run_id,
            reported.clone(),
            self.cancel.clone(),
        ));
        let progress = Shared {
            reported,
            inner: self.progress,
        };
        let sink = StoringSink::new(
            writes,
            failed,
            tally.clone(),
            Some(Box::new(progress)),
            self.streams.clone(),
            self.cancel.clone(),
            self.limits,
            self.backlog.clone(),
        );
        let result = self
            .host
            .sync(
                self.plugin,
                self.settings.entries(schema),
                self.streams.clone(),
                state,
                grants,
                Box::new(sink),
                self.cancel.clone(),
            )
            .await;
        reporter.abort();
        // The plugin's store, and with it the sink, is gone: the writer finishes the queue.
        if writing.await.is_err() {
            tally.lock().expect("tally lock").store_error = Some((
                "the store writer stopped unexpectedly".into(),
                FailureClass::Store,
            ));
        }
        let mut tally = std::mem::take(&mut *tally.lock().expect("tally lock"));
        let cancelled = self.cancel.load(Ordering::SeqCst);
        let plugin_memory_bytes = result.as_ref().ok().map(|r| r.memory_bytes);
        if let Some(bytes) = plugin_memory_bytes {
            tracing::debug!(
                integration = %self.integration.name,
                bytes,
                "the plugin's memory at the sync's end"
            );
        }
        let plugin = match result {
            Ok(SyncResult {
                result: Ok(summary),
                ..
            }) => PluginEnd::Finished(summary),
            Ok(SyncResult {
                result: Err(error),
                blocked,
                ..
            }) => PluginEnd::Failed { error, blocked },
            Err(e) => PluginEnd::Stopped {
                class: e.class(),
                message: e.to_string(),
            },
        };
        if may_close_unseen(&plugin, cancelled, tally.store_error.is_some()) {
            let closed = store.close_unseen(id, run_id, &self.streams, fence).await;
            tally.counts.findings_closed += tally.ending_write(closed, "closing")?;
        }
        // The source is the truth for status: local changes last until the next sync.
        if tally.store_error.is_none() {
            let restored = store.restore_reported_statuses(id, fence).await;
            tally.counts.findings_updated += tally.ending_write(restored, "restoring statuses")?;
        }
        let verdict = judge(SyncEnd {
            plugin,
            counts: tally.counts,
            rejected: tally.rejected,
            rejected_examples: tally.rejected_examples,
            links_dropped: tally.links_dropped,
            link_examples: tally.link_examples,
            store_error: tally.store_error,
            settings_changed: tally.settings_changed,
            cancelled,
            full: started_full,
        });
        let end = RunEnd {
            warnings: verdict
                .end
                .warnings
                .iter()
                .map(|w| redactor.redacted(w))
                .collect(),
            error: verdict.end.error.as_deref().map(|e| redactor.redacted(e)),
            ..verdict.end
        };
        store.finish_run(run_id, &end, Some(fence)).await?;
        Ok(SyncOutcome {
            run_id,
            status: end.status,
            counts: end.counts,
            warnings: end.warnings,
            error: end.error,
            failure: verdict.failure,
            source_wait: verdict.source_wait,
            plugin_memory_bytes,
        })
    }
}

/// How often a run records its progress in the store, and learns whether someone (on
/// any worker) asked to cancel it.
const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// A run's progress as last told: records handled, and in all when known.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Reported {
    done: u64,
    total: Option<u64>,
}

/// Keeps the run's progress for its reporter, then passes it on.
struct Shared {
    reported: Arc<Mutex<Reported>>,
    inner: Option<Box<dyn Progress>>,
}

impl Progress for Shared {
    fn update(&mut self, done: u64, total: Option<u64>) {
        *self.reported.lock().expect("progress lock") = Reported { done, total };
        if let Some(inner) = self.inner.as_mut() {
            inner.update(done, total);
        }
    }
}

/// Records the run's progress in its row every [`REPORT_INTERVAL`] while it changes, so
/// any worker shows it, and stops the run when its row says someone asked to cancel it.
async fn report_progress(
    store: Arc<dyn Store>,
    run: i64,
    reported: Arc<Mutex<Reported>>,
    cancel: Arc<AtomicBool>,
) {
    let mut tick = tokio::time::interval(REPORT_INTERVAL);
    loop {
        tick.tick().await;
        // Written even when unchanged: the answer is how a Cancel arrives.
        let Reported { done, total } = *reported.lock().expect("progress lock");
        match store.report_progress(run, done, total).await {
            Ok(true) => {
                tracing::info!("run {run}: cancel requested; stopping at its next batch");
                cancel.store(true, Ordering::SeqCst);
                return;
            }
            Ok(false) => {}
            Err(e) => tracing::debug!("could not record the progress of run {run}: {e}"),
        }
    }
}

/// A lease a run holds: on what, its fence, and how long it lasts unrenewed.
struct Lease {
    integration: i64,
    fence: Fence,
    ttl: Duration,
}

/// Keeps a lease alive while its run goes on. A lease taken over stops the run: its
/// plugin learns it from its next emit, and every write after is refused by the fence.
async fn renew_lease(store: Arc<dyn Store>, lease: Lease, stop: Arc<AtomicBool>) {
    let Lease {
        integration,
        fence,
        ttl,
    } = lease;
    let mut tick = tokio::time::interval(ttl / 3);
    tick.tick().await;
    loop {
        tick.tick().await;
        match store.renew_lease(integration, fence, ttl).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    "the run lease of integration {integration} was taken over; stopping its run"
                );
                stop.store(true, Ordering::SeqCst);
                return;
            }
            // The store may answer again before the lease expires: try at the next tick.
            Err(e) => {
                tracing::warn!("could not renew the run lease of integration {integration}: {e}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::lease::LEASE_TTL;
    use std::time::Duration;

    #[tokio::test]
    async fn no_checkpoint_follows_a_refused_batch() {
        let (writes, mut queued) = tokio::sync::mpsc::channel(QUEUED_WRITES);
        let cancel = Arc::new(AtomicBool::new(false));
        let mut sink = StoringSink::new(
            writes,
            Arc::default(),
            Arc::default(),
            None,
            issues_only(),
            cancel.clone(),
            EmitLimits::default(),
            StoreBacklog::default(),
        );
        assert!(sink.emit(Batch::default()).await);
        sink.checkpoint("after the first".into()).await;
        assert!(matches!(queued.recv().await, Some(Write::Batch(..))));
        assert!(
            matches!(queued.recv().await, Some(Write::Checkpoint(s)) if s == "after the first")
        );
        // Cancelled: the batch is refused, and the plugin's checkpoint after it dropped,
        // even once the cancel is gone.
        cancel.store(true, Ordering::SeqCst);
        assert!(!sink.emit(Batch::default()).await);
        cancel.store(false, Ordering::SeqCst);
        sink.checkpoint("after the refused".into()).await;
        drop(sink);
        assert!(
            queued.recv().await.is_none(),
            "nothing was queued after the refusal"
        );
    }

    /// The streams the tests' runs pull.
    fn issues_only() -> Vec<String> {
        vec!["issues".into()]
    }

    /// A batch screened as the sink screens it, for batches queued by hand.
    fn screened(batch: Batch) -> Box<Screened> {
        Box::new(screen::screen(batch, &issues_only()))
    }

    /// A write of one asset and one finding titled `title`, queued by hand.
    fn one_finding_batch(title: &str) -> Write {
        use crate::policy::ingest::tests::{asset, finding};
        let batch = Batch {
            assets: vec![asset("a1", None, "kept")],
            findings: vec![finding("f1", "a1", title)],
            ..Default::default()
        };
        Write::Batch(screened(batch), in_flight())
    }

    /// A batch's share of ceilings of its own, for batches queued by hand.
    fn in_flight() -> InFlight {
        let permit = || {
            Arc::new(tokio::sync::Semaphore::new(1))
                .try_acquire_owned()
                .unwrap()
        };
        InFlight {
            run: permit(),
            process: permit(),
        }
    }

    /// A batch of about `kib` KiB.
    fn batch_of(kib: usize) -> Batch {
        use crate::policy::ingest::tests::asset;
        let mut a = asset("a", None, "big");
        a.raw = "x".repeat(kib * 1024);
        Batch {
            assets: vec![a],
            ..Default::default()
        }
    }

    /// A sink that may hold 1 MiB in flight, and the queue its writes go to.
    fn sink_with_one_mib_in_flight(
        tally: &Arc<Mutex<Tally>>,
    ) -> (StoringSink, tokio::sync::mpsc::Receiver<Write>) {
        sink_sharing(tally, 1 << 20, StoreBacklog::default())
    }

    /// A sink that may hold `bytes` in flight within the process's `backlog`, and the
    /// queue its writes go to.
    fn sink_sharing(
        tally: &Arc<Mutex<Tally>>,
        bytes: u64,
        backlog: StoreBacklog,
    ) -> (StoringSink, tokio::sync::mpsc::Receiver<Write>) {
        let (writes, queued) = tokio::sync::mpsc::channel(QUEUED_WRITES);
        let limits = EmitLimits {
            max_bytes_in_flight: bytes,
            ..EmitLimits::default()
        };
        let sink = StoringSink::new(
            writes,
            Arc::default(),
            tally.clone(),
            None,
            issues_only(),
            Arc::default(),
            limits,
            backlog,
        );
        (sink, queued)
    }

    #[tokio::test(start_paused = true)]
    async fn runs_wait_while_the_process_holds_its_bytes_in_flight() {
        let tally: Arc<Mutex<Tally>> = Arc::default();
        let backlog = StoreBacklog::new(1 << 20);
        let (mut first, mut first_queue) = sink_sharing(&tally, 64 << 20, backlog.clone());
        let (mut second, mut second_queue) = sink_sharing(&tally, 64 << 20, backlog.clone());
        // The first run's batch is queued, but its emit returns only once the process
        // has room for another like it: its plugin does not build the next one meanwhile.
        let mut emitted = Box::pin(first.emit(batch_of(600)));
        let waited = tokio::time::timeout(Duration::from_secs(3600), &mut emitted).await;
        assert!(waited.is_err(), "emit waits for room for the next batch");
        let Some(Write::Batch(_, held)) = first_queue.recv().await else {
            panic!("the first run's batch is queued")
        };
        // Another run's batch waits too, though its own ceiling has room.
        let mut other = Box::pin(second.emit(batch_of(600)));
        let waited = tokio::time::timeout(Duration::from_secs(3600), &mut other).await;
        assert!(
            waited.is_err(),
            "the other run waits for the process's room"
        );
        // Once the first batch is stored, the first run goes on, and the other's batch
        // is queued; its emit returns once that batch is stored in turn.
        drop(held);
        assert!(emitted.await);
        let waited = tokio::time::timeout(Duration::from_secs(3600), &mut other).await;
        assert!(waited.is_err(), "no room for another like it yet");
        let Some(Write::Batch(_, held)) = second_queue.try_recv().ok() else {
            panic!("the other run's batch is queued")
        };
        drop(held);
        assert!(other.await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_takes_its_room_before_it_is_lifted() {
        let tally: Arc<Mutex<Tally>> = Arc::default();
        let backlog = StoreBacklog::new(1 << 20);
        let (mut first, mut first_queue) = sink_sharing(&tally, 64 << 20, backlog.clone());
        let (mut second, mut second_queue) = sink_sharing(&tally, 64 << 20, backlog.clone());
        // 300 records of a first batch are taken to be 600 KiB: the first run has room.
        first.reserve(300).await;
        assert_eq!(backlog.free_kib(), 1024 - 600);
        // The other run has none: its plugin's batch stays in the plugin's memory.
        let mut reserving = Box::pin(second.reserve(300));
        let waited = tokio::time::timeout(Duration::from_secs(3600), &mut reserving).await;
        assert!(waited.is_err(), "the second batch is not lifted meanwhile");
        // The first batch, lifted, uses its room, resized to what it weighs.
        let mut emitted = Box::pin(first.emit(batch_of(500)));
        let waited = tokio::time::timeout(Duration::from_secs(3600), &mut emitted).await;
        assert!(waited.is_err(), "no room for another like it yet");
        let Some(Write::Batch(_, held)) = first_queue.recv().await else {
            panic!("the first run's batch is queued")
        };
        let taken = held.process.num_permits();
        assert!(
            (500..600).contains(&taken),
            "the estimate's excess is given back: {taken} KiB held"
        );
        // Once it is stored, the other run takes its room, and its batch is queued.
        drop(held);
        reserving.await;
        assert!(second.emit(batch_of(100)).await);
        assert!(matches!(second_queue.try_recv(), Ok(Write::Batch(..))));
        assert!(emitted.await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_batch_gives_its_reserved_room_back() {
        let tally: Arc<Mutex<Tally>> = Arc::default();
        let backlog = StoreBacklog::new(1 << 20);
        let (mut sink, _queued) = sink_sharing(&tally, 1 << 20, backlog.clone());
        sink.reserve(300).await;
        assert_eq!(backlog.free_kib(), 1024 - 600);
        assert!(!sink.emit(batch_of(2048)).await, "over the run's ceiling");
        assert_eq!(backlog.free_kib(), 1024, "other runs may use the room");
    }

    #[tokio::test(start_paused = true)]
    async fn emit_waits_while_the_run_holds_its_bytes_in_flight() {
        let tally: Arc<Mutex<Tally>> = Arc::default();
        let (mut sink, mut queued) = sink_with_one_mib_in_flight(&tally);
        assert!(sink.emit(batch_of(600)).await, "the first fits");
        // The second would pass the ceiling while the first is not stored: it waits,
        // however long the store takes.
        let mut second = Box::pin(sink.emit(batch_of(600)));
        let waited = tokio::time::timeout(Duration::from_secs(3600), &mut second).await;
        assert!(waited.is_err(), "emit waited for the store");
        // The writer takes the first and, once it is stored, gives its bytes back.
        let Some(Write::Batch(_, held)) = queued.recv().await else {
            panic!("the first batch is queued")
        };
        drop(held);
        assert!(second.await, "then the second goes");
        drop(sink);
        // One batch over the whole ceiling is refused with why.
        let (mut sink, _queued) = sink_with_one_mib_in_flight(&tally);
        assert!(!sink.emit(batch_of(2048)).await);
        let (reason, class) = tally.lock().unwrap().store_error.clone().unwrap();
        assert_eq!(class, FailureClass::Sandbox);
        assert!(
            reason.contains("one batch of 3 MiB, over the ceiling of 1 MiB"),
            "{reason}"
        );
    }

    /// A SQLite store in a folder of its own (kept while the first value lives), with one
    /// integration whose plugin never runs here.
    async fn store_with_an_integration() -> (tempfile::TempDir, Arc<dyn Store>, Integration) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            crate::store::SqliteStore::open(&dir.path().join("w.db"))
                .await
                .unwrap(),
        );
        let integration = store
            .add_integration(&crate::model::NewIntegration {
                name: "w".into(),
                connector: "wiz".into(),
                settings: vec![],
                sealed_secrets: String::new(),
                policy: Default::default(),
                plugin: crate::model::PluginPin {
                    version: "0.2.0".into(),
                    digest: "not-run-here".into(),
                },
                streams: None,
            })
            .await
            .unwrap();
        (dir, store, integration)
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_whose_lease_was_taken_over_is_stopped_at_the_next_renewal() {
        let (_dir, store, integration) = store_with_an_integration().await;
        let id = integration.id;
        let fence = |outcome| match outcome {
            LeaseOutcome::Acquired { fence, .. } => fence,
            held => panic!("{held:?}"),
        };
        // A lease that lapses at once, taken over by another worker.
        let stale = fence(
            store
                .acquire_lease(id, "far/1/1", Duration::ZERO)
                .await
                .unwrap(),
        );
        fence(
            store
                .acquire_lease(id, "near/2/2", LEASE_TTL)
                .await
                .unwrap(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let lease = Lease {
            integration: id,
            fence: stale,
            ttl: LEASE_TTL,
        };
        let renewing = tokio::spawn(renew_lease(store.clone(), lease, stop.clone()));
        tokio::time::timeout(LEASE_TTL, renewing)
            .await
            .expect("renewal ends once the lease is lost")
            .unwrap();
        assert!(stop.load(Ordering::SeqCst), "the run is told to stop");
    }

    /// A writer for a run of a new integration, holding its lease; `failed` as the sink
    /// left it.
    async fn writer_of_a_run(
        failed: bool,
    ) -> (
        tempfile::TempDir,
        Arc<dyn Store>,
        i64,
        Writer,
        Arc<Mutex<Tally>>,
    ) {
        let (dir, store, integration) = store_with_an_integration().await;
        let id = integration.id;
        let LeaseOutcome::Acquired { fence, .. } = store
            .acquire_lease(id, "writer-test", LEASE_TTL)
            .await
            .unwrap()
        else {
            panic!("a new integration's lease is free")
        };
        let run = store.start_run(id, Action::SyncNow, "test").await.unwrap();
        let tally = Arc::new(Mutex::new(Tally::default()));
        let writer = Writer {
            store: store.clone(),
            integration,
            run,
            generation: 0,
            fence,
            emitted_assets: EmittedAssets::default(),
            tally: tally.clone(),
            failed: Arc::new(AtomicBool::new(failed)),
        };
        (dir, store, id, writer, tally)
    }

    #[tokio::test]
    async fn a_group_checks_each_batch_against_the_assets_emitted_before_it() {
        use crate::policy::ingest::tests::{asset, finding};
        let (_dir, store, id, writer, tally) = writer_of_a_run(false).await;
        // Queued before the writer starts, so it takes all three as one group: a finding
        // on an asset only a later batch emits is refused, as if written one by one.
        let (writes, queue) = tokio::sync::mpsc::channel(QUEUED_WRITES);
        let early = Batch {
            findings: vec![finding("f1", "a2", "too early")],
            ..Default::default()
        };
        let late = Batch {
            assets: vec![asset("a2", None, "late")],
            findings: vec![finding("f2", "a2", "in order")],
            ..Default::default()
        };
        writes
            .send(Write::Batch(screened(early), in_flight()))
            .await
            .unwrap();
        writes
            .send(Write::Batch(screened(late), in_flight()))
            .await
            .unwrap();
        writes
            .send(Write::Checkpoint("after both".into()))
            .await
            .unwrap();
        drop(writes);
        writer.run(queue).await;
        let tally = std::mem::take(&mut *tally.lock().unwrap());
        assert!(tally.store_error.is_none(), "{:?}", tally.store_error);
        assert_eq!(tally.rejected, 1);
        assert!(
            tally.rejected_examples[0].contains("`f1`"),
            "{:?}",
            tally.rejected_examples
        );
        assert_eq!(
            (tally.counts.assets_onboarded, tally.counts.findings_new),
            (1, 1)
        );
        assert_eq!(
            store.checkpoint(id).await.unwrap().state.as_deref(),
            Some("after both")
        );
    }

    /// A group refused before it took its first write (the run's lease was taken over)
    /// says which kind of write it failed to store.
    #[tokio::test]
    async fn a_group_refused_before_its_first_write_names_that_write() {
        let (_dir, _store, _id, mut writer, tally) = writer_of_a_run(false).await;
        writer.fence = Fence(0);
        let (writes, queue) = tokio::sync::mpsc::channel(QUEUED_WRITES);
        writes
            .send(one_finding_batch("never stored"))
            .await
            .unwrap();
        drop(writes);
        writer.run(queue).await;
        let (error, _) = tally.lock().unwrap().store_error.clone().unwrap();
        assert!(error.starts_with("storing a batch failed"), "{error}");
    }

    /// A group waits for the run's next write as long as the store asks, and no longer.
    #[tokio::test]
    async fn a_group_waits_for_the_next_write_only_as_long_as_it_is_told() {
        let (writes, receiver) = tokio::sync::mpsc::channel(QUEUED_WRITES);
        let tally = Arc::new(Mutex::new(Tally::default()));
        let mut lent = Lent(Queue::new(receiver, 3, tally, EmittedAssets::default()));
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            writes.send(Write::Checkpoint("late".into())).await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
        });
        assert_eq!(
            lent.next(Duration::from_secs(5)).await,
            Some(GroupWrite::Checkpoint("late".into(), 3))
        );
        let waited = std::time::Instant::now();
        assert_eq!(lent.next(Duration::from_millis(50)).await, None);
        let waited = waited.elapsed();
        assert!(
            waited >= Duration::from_millis(50) && waited < Duration::from_millis(300),
            "{waited:?}"
        );
        late.await.unwrap();
    }

    /// The sink refused a batch (a ceiling passed) while earlier ones still waited in the
    /// queue: those are stored with their checkpoint, as if the writer had been quicker.
    #[tokio::test]
    async fn what_was_queued_before_a_refused_batch_is_still_stored() {
        // Failed, as the sink marks the run when it refuses a batch over a ceiling.
        let (_dir, store, id, writer, tally) = writer_of_a_run(true).await;
        let (writes, queue) = tokio::sync::mpsc::channel(QUEUED_WRITES);
        writes
            .send(one_finding_batch("accepted before the refusal"))
            .await
            .unwrap();
        writes
            .send(Write::Checkpoint("after the accepted batch".into()))
            .await
            .unwrap();
        drop(writes);
        writer.run(queue).await;
        assert_eq!(tally.lock().unwrap().counts.findings_new, 1);
        assert_eq!(
            store.checkpoint(id).await.unwrap().state.as_deref(),
            Some("after the accepted batch")
        );
    }
}
