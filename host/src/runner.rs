//! One sync of one integration: opens a history row, runs the plugin with a sink that
//! validates and stores each batch and its checkpoint, and closes the row with counts,
//! warnings and the error.

use crate::plugin::contract::{Batch, ConnectorError, LogLevel};
use crate::plugin::{LoadedPlugin, PluginHost, RunError, RunSink, SyncResult};
use crate::settings::{Settings, redact};
use crate::store::lease::{LEASE_TTL, holder_name};
use crate::store::{
    Action, Integration, LeaseOutcome, Policy, RunCounts, RunStatus, Storage, StoreError,
};
use crate::validate;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

/// Why a sync could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// Another process is syncing this integration.
    #[error(
        "integration `{name}` is already syncing (held by {holder}); try again when that run finishes"
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

/// The store shared between the runner and the sink of a running plugin.
pub type SharedStore = Arc<Mutex<Box<dyn Storage>>>;

/// Receives progress of a run (a progress bar on a terminal).
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
    /// Whether the failure was transient (network, throttling, server errors), so a later
    /// retry may succeed; false for success and for failures a person must fix.
    #[serde(skip)]
    pub transient: bool,
    /// How long the source asked to be left alone after a rate-limited failure; a retry
    /// must not come sooner.
    #[serde(skip)]
    pub source_wait: Option<std::time::Duration>,
}

/// A person-readable text for a plugin's error.
pub fn connector_error_text(e: &ConnectorError) -> String {
    match e {
        ConnectorError::Auth(m) => format!("authentication failed: {m}"),
        ConnectorError::Permission(m) => format!("permission denied: {m}"),
        ConnectorError::Config(m) => format!("configuration error: {m}"),
        ConnectorError::RateLimited(r) => match r.retry_after_seconds {
            Some(s) => format!("rate limited (retry after {s} s): {}", r.message),
            None => format!("rate limited: {}", r.message),
        },
        ConnectorError::Transient(m) => format!("temporary failure: {m}"),
        ConnectorError::Protocol(m) => format!("unexpected answer from the source: {m}"),
        ConnectorError::Internal(m) => format!("plugin error: {m}"),
    }
}

/// What the sink learned during the run.
#[derive(Default)]
struct Tally {
    counts: RunCounts,
    /// Records dropped as malformed.
    rejected: u64,
    /// The first few of them, for the run's warning.
    rejected_examples: Vec<String>,
    store_error: Option<String>,
}

/// How many rejected records are quoted in the run's warning.
const REJECTED_EXAMPLES: usize = 3;

impl Tally {
    /// Counts a dropped record, keeping the first few reasons.
    fn reject(&mut self, reason: String) {
        self.rejected += 1;
        if self.rejected_examples.len() < REJECTED_EXAMPLES {
            self.rejected_examples.push(reason);
        }
    }
}

/// What the sink hands to the writer, in the order the plugin sent it.
enum Write {
    Batch(Batch),
    Checkpoint(String),
}

/// Takes what the plugin emits: enforces the run's ceilings and cancellation, and queues
/// batches and checkpoints for the [`Writer`], so the plugin fetches and maps its next
/// page while the last one is being written. The queue holds one item: a plugin is never
/// more than a batch ahead of the store.
struct StoringSink {
    writes: SyncSender<Write>,
    /// Set when storing failed or a ceiling was passed; the plugin is then told to stop.
    failed: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    secrets: Vec<String>,
    progress: Option<Box<dyn Progress>>,
    cancel: Arc<AtomicBool>,
    limits: EmitLimits,
    records: u64,
    bytes: u64,
}

/// Screens and stores the batches and checkpoints of one run, in order, on a thread of
/// its own. After a failure it drops everything that follows: a checkpoint after a batch
/// that was not stored would skip that batch on resume.
struct Writer {
    store: SharedStore,
    integration: i64,
    run: i64,
    policy: Policy,
    emitted_assets: HashSet<String>,
    tally: Arc<Mutex<Tally>>,
    failed: Arc<AtomicBool>,
}

impl Writer {
    /// Writes until the sink is dropped.
    fn run(mut self, writes: Receiver<Write>) {
        for write in writes {
            if self.failed.load(Ordering::SeqCst) {
                continue;
            }
            let failure = match write {
                Write::Batch(batch) => self.store_batch(batch),
                Write::Checkpoint(state) => self
                    .store
                    .lock()
                    .expect("store lock")
                    .save_checkpoint(self.integration, &state)
                    .err()
                    .map(|e| format!("storing a checkpoint failed: {e}")),
            };
            if let Some(failure) = failure {
                self.tally.lock().expect("tally lock").store_error = Some(failure);
                self.failed.store(true, Ordering::SeqCst);
            }
        }
    }

    /// Screens and stores one batch; the failure, if any.
    fn store_batch(&mut self, batch: Batch) -> Option<String> {
        let store = self.store.clone();
        let mut store = store.lock().expect("store lock");
        let tally = self.tally.clone();
        let mut tally = tally.lock().expect("tally lock");
        let batch = self.screen(store.as_ref(), batch, &mut tally);
        match store.write_batch(self.integration, self.run, &self.policy, &batch) {
            Ok(counts) => {
                tally.counts += counts;
                None
            }
            Err(e) => Some(format!("storing a batch failed: {e}")),
        }
    }

    /// Drops records the contract forbids: empty ids, and findings about assets neither
    /// emitted in this run nor stored. One bad record never rejects the good ones.
    fn screen(&mut self, store: &dyn Storage, mut batch: Batch, tally: &mut Tally) -> Batch {
        batch.assets.retain(|a| match validate::asset(a) {
            Ok(()) => true,
            Err(problem) => {
                tally.counts.assets_skipped += 1;
                tally.reject(format!("asset `{}`: {problem}", clip(&a.source_id)));
                false
            }
        });
        self.emitted_assets
            .extend(batch.assets.iter().map(|a| a.source_id.clone()));
        batch.findings.retain(|f| {
            let problem = validate::finding(f).err().or_else(|| {
                let known = self.emitted_assets.contains(&f.asset_source_id)
                    || store
                        .has_asset(self.integration, &f.asset_source_id)
                        .unwrap_or(false);
                (!known).then(|| {
                    format!(
                        "names asset `{}` that was never emitted",
                        clip(&f.asset_source_id)
                    )
                })
            });
            match problem {
                None => true,
                Some(problem) => {
                    tally.counts.findings_skipped += 1;
                    tally.reject(format!("finding `{}`: {problem}", clip(&f.source_id)));
                    false
                }
            }
        });
        batch
    }
}

impl StoringSink {
    /// Counts a batch against the run's ceilings; the reason to stop when one is passed.
    fn over_ceiling(&mut self, batch: &Batch) -> Option<String> {
        self.records +=
            (batch.assets.len() + batch.findings.len() + batch.removed_findings.len()) as u64;
        self.bytes += validate::batch_bytes(batch);
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

/// An id short enough to quote in a message.
fn clip(id: &str) -> String {
    if id.len() <= 80 {
        id.to_string()
    } else {
        format!("{}…", &id[..id.floor_char_boundary(80)])
    }
}

/// Default ceiling on the records one run may emit.
pub const DEFAULT_MAX_RECORDS: u64 = 20_000_000;
/// Default ceiling on the data one run may emit, in MiB.
pub const DEFAULT_MAX_MIB: u64 = 32 * 1024;

/// Per-run ceilings on what a plugin may emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmitLimits {
    /// Most records (assets, findings, removals) in one run.
    pub max_records: u64,
    /// Most bytes, roughly, in one run.
    pub max_bytes: u64,
}

impl RunSink for StoringSink {
    fn emit(&mut self, batch: Batch) -> bool {
        if self.cancel.load(Ordering::SeqCst) || self.failed.load(Ordering::SeqCst) {
            return false;
        }
        if let Some(reason) = self.over_ceiling(&batch) {
            self.tally.lock().expect("tally lock").store_error = Some(reason);
            self.failed.store(true, Ordering::SeqCst);
            return false;
        }
        // Waits while the writer is a batch behind; fails only if the writer is gone.
        self.writes.send(Write::Batch(batch)).is_ok()
    }

    fn checkpoint(&mut self, state: String) {
        // The writer drops it if a write before it failed.
        let _ = self.writes.send(Write::Checkpoint(state));
    }

    fn log(&mut self, level: LogLevel, message: String) {
        crate::plugin::runtime::trace_plugin_log(level, &redact(&message, &self.secrets));
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
    /// Ceilings on what the plugin may emit.
    pub limits: EmitLimits,
}

impl SyncJob<'_> {
    /// Runs the sync to its end and records it in history. Refused while another
    /// process runs the same integration.
    pub async fn run(self, store: SharedStore) -> Result<SyncOutcome, RunnerError> {
        let holder = holder_name();
        let outcome = store.lock().expect("store lock").acquire_lease(
            self.integration.id,
            &holder,
            LEASE_TTL,
        )?;
        if let LeaseOutcome::HeldBy(other) = outcome {
            return Err(RunnerError::AlreadyRunning {
                name: self.integration.name.clone(),
                holder: other,
            });
        }
        let renewal = tokio::spawn(renew_lease(
            store.clone(),
            self.integration.id,
            holder.clone(),
        ));
        let integration = self.integration.id;
        let result = self.run_holding_lease(store.clone()).await;
        renewal.abort();
        store
            .lock()
            .expect("store lock")
            .release_lease(integration, &holder)?;
        Ok(result?)
    }

    async fn run_holding_lease(self, store: SharedStore) -> Result<SyncOutcome, StoreError> {
        let schema = &self.plugin.info.config_schema;
        let secrets: Vec<String> = self.settings.secrets(schema).into_values().collect();
        let (run_id, state) = {
            let mut s = store.lock().expect("store lock");
            let state = if self.full {
                None
            } else {
                s.checkpoint(self.integration.id)?
            };
            (
                s.start_run(self.integration.id, self.action, &self.started_by)?,
                state,
            )
        };
        let tally = Arc::new(Mutex::new(Tally::default()));
        let failed = Arc::new(AtomicBool::new(false));
        let (writes, queue) = std::sync::mpsc::sync_channel(1);
        let writer = Writer {
            store: store.clone(),
            integration: self.integration.id,
            run: run_id,
            policy: self.integration.policy,
            emitted_assets: HashSet::new(),
            tally: tally.clone(),
            failed: failed.clone(),
        };
        let writing = tokio::task::spawn_blocking(move || writer.run(queue));
        let sink = StoringSink {
            writes,
            failed,
            secrets: secrets.clone(),
            tally: tally.clone(),
            progress: self.progress,
            cancel: self.cancel.clone(),
            limits: self.limits,
            records: 0,
            bytes: 0,
        };
        let result = self
            .host
            .sync(
                self.plugin,
                self.settings.entries(schema),
                state,
                self.settings.allow_list(schema),
                Box::new(sink),
            )
            .await;
        // The plugin's store, and with it the sink, is gone: the writer finishes the queue.
        if writing.await.is_err() {
            tally.lock().expect("tally lock").store_error =
                Some("the store writer stopped unexpectedly".into());
        }
        let mut tally = std::mem::take(&mut *tally.lock().expect("tally lock"));
        let cancelled = self.cancel.load(Ordering::SeqCst);
        let complete_full =
            matches!(&result, Ok(SyncResult { result: Ok(summary), .. }) if summary.full);
        {
            let mut store = store.lock().expect("store lock");
            if complete_full && !cancelled && tally.store_error.is_none() {
                // Only a complete full read proves that what was not seen is gone.
                tally.counts.findings_closed +=
                    store.close_findings_unseen_in(self.integration.id, run_id)?;
            }
            // The source is the truth for status: local changes last until the next sync.
            tally.counts.findings_updated +=
                store.restore_reported_statuses(self.integration.id)?;
        }
        let mut outcome = conclude(run_id, result, tally, &secrets);
        if cancelled {
            outcome.status = RunStatus::Cancelled;
            outcome.error = Some("cancelled: the host was asked to stop; committed batches and the checkpoint are kept".into());
        }
        store.lock().expect("store lock").finish_run(
            run_id,
            outcome.status,
            &outcome.counts,
            &outcome.warnings,
            outcome.error.as_deref(),
        )?;
        Ok(outcome)
    }
}

/// Keeps a lease alive while its run goes on.
async fn renew_lease(store: SharedStore, integration: i64, holder: String) {
    let mut tick = tokio::time::interval(LEASE_TTL / 3);
    tick.tick().await;
    loop {
        tick.tick().await;
        let renewed =
            store
                .lock()
                .expect("store lock")
                .renew_lease(integration, &holder, LEASE_TTL);
        if !matches!(renewed, Ok(true)) {
            tracing::warn!(
                "could not renew the run lease of integration {integration}: {renewed:?}"
            );
        }
    }
}

fn conclude(
    run_id: i64,
    result: Result<SyncResult, RunError>,
    tally: Tally,
    secrets: &[String],
) -> SyncOutcome {
    let mut counts = tally.counts;
    let mut warnings = Vec::new();
    if tally.rejected > 0 {
        warnings.push(format!(
            "{} record(s) rejected as malformed, for example: {}",
            tally.rejected,
            tally.rejected_examples.join("; ")
        ));
    }
    // Throttling and outages may pass; a rate limit may also say for how long.
    let (transient, source_wait) = match &result {
        Ok(SyncResult {
            result: Err(ConnectorError::RateLimited(r)),
            ..
        }) => (
            true,
            r.retry_after_seconds
                .map(|s| std::time::Duration::from_secs(u64::from(s))),
        ),
        Ok(SyncResult {
            result: Err(ConnectorError::Transient(_)),
            ..
        }) => (true, None),
        _ => (false, None),
    };
    let error = match result {
        Ok(SyncResult {
            result: Ok(summary),
            ..
        }) => {
            counts.findings_skipped += summary.skipped;
            warnings.extend(summary.warnings);
            tally.store_error
        }
        Ok(SyncResult {
            result: Err(e),
            blocked,
        }) => {
            let mut text = tally
                .store_error
                .unwrap_or_else(|| connector_error_text(&e));
            if !blocked.is_empty() {
                text = format!(
                    "the sandbox blocked {} request(s): {}; {text}",
                    blocked.len(),
                    blocked.join("; ")
                );
            }
            Some(text)
        }
        Err(e) => Some(e.to_string()),
    };
    let warnings: Vec<String> = warnings.iter().map(|w| redact(w, secrets)).collect();
    let status = match (&error, warnings.is_empty()) {
        (Some(_), _) => RunStatus::Failed,
        (None, true) => RunStatus::Succeeded,
        (None, false) => RunStatus::SucceededWithWarnings,
    };
    SyncOutcome {
        run_id,
        status,
        counts,
        warnings,
        transient: transient && error.is_some(),
        source_wait: source_wait.filter(|_| error.is_some()),
        error: error.map(|e| redact(&e, secrets)),
    }
}
