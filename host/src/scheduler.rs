//! The long-running scheduler behind `connector-host serve`: runs each integration's auto
//! sync when due, at most a set number at once, never two of one integration (the run
//! lease spans processes), and on shutdown cancels running syncs through `emit`.

use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::plugin::PluginHost;
use crate::runner::{RunnerError, SharedStore, SyncJob, SyncOutcome};
use crate::schedule::{MAX_SOURCE_WAIT, SyncTime, due_after_failure};
use crate::secrets::SecretKey;
use crate::settings::Settings;
use crate::store::{Action, Integration, RunCounts, RunStatus, Storage, StoreError};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Who auto syncs are recorded as started by.
pub const SCHEDULER: &str = "scheduler";

/// Opens a store connection (one per running sync).
pub type StoreOpener = Arc<dyn Fn() -> Result<Box<dyn Storage>, StoreError> + Send + Sync>;

/// Scheduler settings.
#[derive(Clone)]
pub struct SchedulerConfig {
    /// Time of day of auto syncs.
    pub sync_time: SyncTime,
    /// Syncs running at once, host-wide.
    pub max_concurrent: usize,
    /// How often to look for due syncs.
    pub poll: Duration,
    /// Ceilings on what one run may emit.
    pub emit_limits: crate::runner::EmitLimits,
    /// Wait before retrying an auto sync that failed transiently; doubles per retry.
    pub retry_delay: Duration,
    /// Retries of a transiently failed auto sync before waiting for the next slot.
    pub max_retries: u32,
}

/// Everything the scheduler runs with.
pub struct Scheduler {
    /// Plugin host.
    pub host: Arc<PluginHost>,
    /// Loaded plugins.
    pub catalog: Arc<Catalog>,
    /// Opens the store.
    pub open_store: StoreOpener,
    /// Opens secrets.
    pub key: Arc<SecretKey>,
    /// Source of "now".
    pub clock: Arc<dyn Clock>,
    /// Settings.
    pub config: SchedulerConfig,
    /// Consecutive transient failures of each integration's auto sync.
    pub failures: Mutex<HashMap<i64, u32>>,
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Scheduler {
    /// Runs until `shutdown` resolves, then cancels running syncs and waits for them.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), StoreError> {
        let this = Arc::new(self);
        // One connection serves the polling; each running sync opens its own.
        let mut store = (this.open_store)()?;
        let abandoned = store.fail_abandoned_runs()?;
        if abandoned > 0 {
            tracing::warn!(
                "marked {abandoned} run(s) left running by a stopped process as failed (interrupted)"
            );
        }
        let permits = Arc::new(Semaphore::new(this.config.max_concurrent.max(1)));
        let cancel = Arc::new(AtomicBool::new(false));
        let mut running: HashMap<i64, JoinHandle<()>> = HashMap::new();
        tokio::pin!(shutdown);
        loop {
            running.retain(|_, task| !task.is_finished());
            if let Err(e) = this.start_due(store.as_mut(), &mut running, &permits, &cancel) {
                tracing::error!("scheduler: {e}");
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(this.config.poll) => {}
            }
        }
        tracing::info!("stopping: cancelling {} running sync(s)", running.len());
        cancel.store(true, Ordering::SeqCst);
        for (_, task) in running {
            let _ = task.await;
        }
        Ok(())
    }

    /// Starts every due sync that is not already running here.
    fn start_due(
        self: &Arc<Self>,
        store: &mut dyn Storage,
        running: &mut HashMap<i64, JoinHandle<()>>,
        permits: &Arc<Semaphore>,
        cancel: &Arc<AtomicBool>,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        for integration in store.integrations()? {
            let days = integration.policy.auto_sync_days;
            if days == 0 || running.contains_key(&integration.id) {
                continue;
            }
            let due = match store
                .next_due(integration.id)?
                .as_deref()
                .and_then(parse_time)
            {
                Some(due) => due,
                None => {
                    let first = self.config.sync_time.next_slot_after(now);
                    store.set_next_due(integration.id, &format_time(first))?;
                    tracing::info!(
                        "integration `{}`: first auto sync at {first}",
                        integration.name
                    );
                    first
                }
            };
            if now < due {
                continue;
            }
            let this = self.clone();
            let (permits, cancel) = (permits.clone(), cancel.clone());
            let id = integration.id;
            running.insert(
                id,
                tokio::spawn(async move {
                    let Ok(_permit) = permits.acquire_owned().await else {
                        return;
                    };
                    if cancel.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Err(e) = this.auto_sync(&integration, now, cancel).await {
                        tracing::error!("auto sync of `{}`: {e}", integration.name);
                    }
                }),
            );
        }
        Ok(())
    }

    /// When the next auto sync is due after one that started at `started`: a transient
    /// failure is retried after a doubling delay, a bounded number of times; anything else
    /// waits for the next slot (a person must fix auth, permission and config errors).
    /// A retry comes no sooner than the source asked ([`due_after_failure`]).
    fn after_run(
        &self,
        integration: &Integration,
        started: DateTime<Utc>,
        outcome: &SyncOutcome,
        next_slot: DateTime<Utc>,
    ) -> DateTime<Utc> {
        let mut failures = self.failures.lock().expect("failures lock");
        if !outcome.transient {
            failures.remove(&integration.id);
            return next_slot;
        }
        let count = failures.entry(integration.id).or_default();
        *count += 1;
        let delay = if *count > self.config.max_retries {
            failures.remove(&integration.id);
            None
        } else {
            self.config
                .retry_delay
                .checked_mul(2u32.saturating_pow(*count - 1))
        };
        if let Some(asked) = outcome.source_wait.filter(|w| *w > MAX_SOURCE_WAIT) {
            tracing::warn!(
                "`{}`: the source asked to wait {} s; waiting {} s instead",
                integration.name,
                asked.as_secs(),
                MAX_SOURCE_WAIT.as_secs()
            );
        }
        let ended = self.clock.now();
        due_after_failure(started, ended, delay, next_slot, outcome.source_wait)
    }

    /// Runs one auto sync and moves the integration's schedule on from `started`.
    async fn auto_sync(
        &self,
        integration: &Integration,
        started: DateTime<Utc>,
        cancel: Arc<AtomicBool>,
    ) -> Result<(), StoreError> {
        let mut store = (self.open_store)()?;
        let next = self
            .config
            .sync_time
            .slot_days_after(started, integration.policy.auto_sync_days);
        let prepared = self
            .catalog
            .get(&integration.connector)
            .map_err(|e| e.to_string())
            .and_then(|plugin| {
                Settings::open(integration, &plugin.info.config_schema, &self.key)
                    .map(|s| (plugin, s))
                    .map_err(|e| e.to_string())
            });
        let (plugin, settings) = match prepared {
            Ok(ready) => ready,
            Err(error) => {
                // Record why it cannot run, and wait for the next slot rather than retry
                // every poll: this needs a person to fix it.
                let run = store.start_run(integration.id, Action::AutoSync, SCHEDULER)?;
                store.finish_run(
                    run,
                    RunStatus::Failed,
                    &RunCounts::default(),
                    &[],
                    Some(&error),
                )?;
                return store.set_next_due(integration.id, &format_time(next));
            }
        };
        let job = SyncJob {
            host: &self.host,
            plugin,
            integration,
            settings,
            action: Action::AutoSync,
            started_by: SCHEDULER.into(),
            progress: None,
            cancel,
            full: false,
            limits: self.config.emit_limits,
        };
        let shared: SharedStore = Arc::new(Mutex::new(store));
        match job.run(shared.clone()).await {
            Ok(outcome) => {
                tracing::info!(
                    "auto sync of `{}`: {}",
                    integration.name,
                    outcome.status.as_str()
                );
                if outcome.status == RunStatus::Cancelled {
                    return Ok(()); // still due: it runs when the scheduler next starts
                }
                let due = self.after_run(integration, started, &outcome, next);
                shared
                    .lock()
                    .expect("store lock")
                    .set_next_due(integration.id, &format_time(due))?;
                Ok(())
            }
            Err(RunnerError::AlreadyRunning { holder, .. }) => {
                tracing::info!(
                    "auto sync of `{}` postponed: {holder} is running it",
                    integration.name
                );
                Ok(())
            }
            Err(RunnerError::Store(e)) => Err(e),
        }
    }
}
