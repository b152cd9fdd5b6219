//! The long-running scheduler behind `connector-host serve`: runs each integration's auto
//! sync when due, at most a set number at once, never two of one integration (the run
//! lease spans processes), and on shutdown cancels running syncs through `emit`.

use crate::clock::Clock;
use crate::model::{Action, Integration, RunStatus};
use crate::runner::SyncOutcome;
use crate::schedule::{MAX_SOURCE_WAIT, SyncTime, due_after_failure};
use crate::service::{Platform, ServiceError, SyncRequest};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Who auto syncs are recorded as started by.
pub const SCHEDULER: &str = "scheduler";

/// Scheduler settings.
#[derive(Clone)]
pub struct SchedulerConfig {
    /// Time of day of auto syncs.
    pub sync_time: SyncTime,
    /// Syncs running at once, host-wide.
    pub max_concurrent: usize,
    /// How often to look for due syncs.
    pub poll: Duration,
    /// Wait before retrying an auto sync that failed transiently; doubles per retry.
    pub retry_delay: Duration,
    /// Retries of a transiently failed auto sync before waiting for the next slot.
    pub max_retries: u32,
}

/// Everything the scheduler runs with.
pub struct Scheduler {
    /// The store, plugins and key, through the services.
    pub platform: Arc<Platform>,
    /// Source of "now".
    pub clock: Arc<dyn Clock>,
    /// Settings.
    pub config: SchedulerConfig,
    /// Consecutive transient failures of each integration's auto sync.
    pub failures: Mutex<HashMap<i64, u32>>,
}

impl Scheduler {
    /// Runs until `shutdown` resolves, then cancels running syncs and waits for them.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), StoreError> {
        let this = Arc::new(self);
        let abandoned = this.platform.syncs().fail_abandoned().await?;
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
            match this.start_due(&mut running, &permits, &cancel).await {
                // Said at every look that finds nothing to do, so a reader of the log
                // (the schedule tests) knows every sync started so far has ended.
                Ok(()) if running.is_empty() => {
                    tracing::debug!("scheduler idle: no sync due or running");
                }
                Ok(()) => {}
                Err(e) => tracing::error!("scheduler: {e}"),
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
    async fn start_due(
        self: &Arc<Self>,
        running: &mut HashMap<i64, JoinHandle<()>>,
        permits: &Arc<Semaphore>,
        cancel: &Arc<AtomicBool>,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let store = self.platform.store();
        for integration in store.integrations().await? {
            let days = integration.policy.auto_sync_days;
            if days == 0 || running.contains_key(&integration.id) {
                continue;
            }
            let due = match store.next_due(integration.id).await? {
                Some(due) => due,
                None => {
                    let first = self.config.sync_time.next_slot_after(now);
                    store.set_next_due(integration.id, first).await?;
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
                    if let Err(e) = this.auto_sync(integration.clone(), now, cancel).await {
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
        if !outcome.retryable() {
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
        integration: Integration,
        started: DateTime<Utc>,
        cancel: Arc<AtomicBool>,
    ) -> Result<(), StoreError> {
        let store = self.platform.store();
        let next = self
            .config
            .sync_time
            .slot_days_after(started, integration.policy.auto_sync_days);
        let request = SyncRequest {
            started: None,
            action: Action::AutoSync,
            started_by: SCHEDULER.into(),
            full: false,
            progress: None,
            cancel,
        };
        let syncs = self.platform.syncs();
        match syncs.run_integration(integration.clone(), request).await {
            Ok(outcome) => {
                tracing::info!(
                    "auto sync of `{}`: {}",
                    integration.name,
                    outcome.status.as_str()
                );
                if outcome.status == RunStatus::Cancelled {
                    return Ok(()); // still due: it runs when the scheduler next starts
                }
                let due = self.after_run(&integration, started, &outcome, next);
                store.set_next_due(integration.id, due).await
            }
            Err(ServiceError::AlreadyRunning { holder, .. }) => {
                tracing::info!(
                    "auto sync of `{}` postponed: {holder} is running it",
                    integration.name
                );
                Ok(())
            }
            Err(ServiceError::Store(e)) => Err(e),
            Err(error) => {
                // Record why it cannot run, and wait for the next slot rather than retry
                // every poll: this needs a person to fix it.
                syncs
                    .record_unstartable(&integration, Action::AutoSync, SCHEDULER, &error)
                    .await?;
                store.set_next_due(integration.id, next).await
            }
        }
    }
}
