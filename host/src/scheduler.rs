//! The long-running scheduler behind `connector-host serve`: one worker of a fleet that
//! may have any number. Each look claims due auto syncs from the store (as many as this
//! worker has room for), so whichever workers are up, each due sync runs exactly once;
//! the store keeps the schedule and the retry count, so any worker retries what another
//! started. On shutdown the worker drains: it claims nothing more, stops its running
//! syncs at their next batch, and hands them back due at once, for another worker to
//! resume from their last checkpoint.

use crate::clock::Clock;
use crate::model::{Action, Integration, RunStatus};
use crate::runner::SyncOutcome;
use crate::schedule::{MAX_SOURCE_WAIT, SyncTime, due_after_failure};
use crate::service::{Platform, ServiceError, SyncRequest};
use crate::store::{Claim, ClaimKind, StoreError, WorkerInfo};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

/// Who auto syncs are recorded as started by.
pub const SCHEDULER: &str = "scheduler";

/// Scheduler settings.
#[derive(Clone)]
pub struct SchedulerConfig {
    /// Time of day of auto syncs.
    pub sync_time: SyncTime,
    /// Syncs running at once on this worker.
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
    /// Where "now" comes from for due times: the store's clock when `None` (the one
    /// clock every worker agrees on), a test's clock otherwise.
    pub clock: Option<Arc<dyn Clock>>,
    /// Settings.
    pub config: SchedulerConfig,
}

/// The syncs this worker runs, each with what stops it alone (a person's Cancel sets it
/// too), and whether the worker drains.
struct Running {
    permits: Arc<Semaphore>,
    draining: Arc<AtomicBool>,
    tasks: Vec<(JoinHandle<()>, Arc<AtomicBool>)>,
}

impl Scheduler {
    /// Runs until `shutdown` resolves, then drains: cancels running syncs, hands them
    /// back, and marks this worker stopped.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), StoreError> {
        let this = Arc::new(self);
        let store = this.platform.store().clone();
        let worker = this.platform.worker().to_string();
        store
            .register_worker(&WorkerInfo {
                id: worker.clone(),
                host: crate::policy::lease::hostname(),
                pid: std::process::id(),
                version: env!("CARGO_PKG_VERSION").into(),
                lease_ttl: this.platform.lease_ttl(),
            })
            .await?;
        tracing::info!("worker {worker} started");
        let heartbeat = tokio::spawn(beat(this.platform.clone(), this.sweep_interval()));
        this.fail_abandoned().await;
        let mut running = Running {
            permits: Arc::new(Semaphore::new(this.config.max_concurrent.max(1))),
            draining: Arc::new(AtomicBool::new(false)),
            tasks: Vec::new(),
        };
        let mut swept = Instant::now();
        tokio::pin!(shutdown);
        loop {
            running.tasks.retain(|(task, _)| !task.is_finished());
            match this.claim_due(&mut running).await {
                // Said at every look that finds nothing to do, so a reader of the log
                // (the schedule tests) knows every sync started so far has ended.
                Ok(()) if running.tasks.is_empty() => {
                    tracing::debug!("scheduler idle: no sync due or running");
                }
                Ok(()) => {}
                Err(e) => tracing::error!("scheduler: {e}"),
            }
            if swept.elapsed() >= this.sweep_interval() {
                this.fail_abandoned().await;
                swept = Instant::now();
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(this.config.poll) => {}
            }
        }
        tracing::info!(
            "draining: stopping {} running sync(s) at their next batch; another worker resumes them",
            running.tasks.len()
        );
        if let Err(e) = store.drain_worker(&worker).await {
            tracing::warn!("could not mark worker {worker} draining: {e}");
        }
        running.draining.store(true, Ordering::SeqCst);
        for (_, cancel) in &running.tasks {
            cancel.store(true, Ordering::SeqCst);
        }
        for (task, _) in running.tasks {
            let _ = task.await;
        }
        heartbeat.abort();
        store.stop_worker(&worker).await
    }

    /// How often the worker beats and sweeps: a third of the lease time, so a worker
    /// misses two before its leases could lapse.
    fn sweep_interval(&self) -> Duration {
        self.platform.lease_ttl() / 3
    }

    /// Now, for due times.
    async fn now(&self) -> Result<DateTime<Utc>, StoreError> {
        match &self.clock {
            Some(clock) => Ok(clock.now()),
            None => self.platform.store().now().await,
        }
    }

    /// Fails the runs nobody runs any more (their worker died and their lease lapsed).
    async fn fail_abandoned(&self) {
        match self.platform.syncs().fail_abandoned().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                "marked {n} run(s) left running by a worker that stopped as failed (interrupted)"
            ),
            Err(e) => tracing::error!("scheduler: {e}"),
        }
    }

    /// Schedules newly enabled auto syncs at the next slot, then claims as many due
    /// syncs as this worker has room for and starts them.
    async fn claim_due(self: &Arc<Self>, running: &mut Running) -> Result<(), StoreError> {
        let store = self.platform.store();
        let now = self.now().await?;
        let first = self.config.sync_time.next_slot_after(now);
        for name in store.schedule_new(first).await? {
            tracing::info!("integration `{name}`: first auto sync at {first}");
        }
        let room: Vec<OwnedSemaphorePermit> =
            std::iter::from_fn(|| running.permits.clone().try_acquire_owned().ok()).collect();
        if room.is_empty() {
            return Ok(());
        }
        let worker = self.platform.worker();
        let ttl = self.platform.lease_ttl();
        let claims = store.claim_due(worker, now, room.len(), ttl).await?;
        let takeovers = claims.iter().filter(|c| c.interrupted_runs > 0).count();
        self.platform
            .metrics()
            .claimed(claims.len() as u64, takeovers as u64);
        // Permits without a claim go back as `room` drops.
        for (claim, permit) in claims.into_iter().zip(room) {
            if claim.interrupted_runs > 0 {
                tracing::warn!(
                    "took over the auto sync of `{}` from a worker that stopped: its run is marked interrupted, and this one resumes it",
                    claim.name
                );
            }
            let cancel = Arc::new(AtomicBool::new(false));
            let stop = Stop {
                cancel: cancel.clone(),
                draining: running.draining.clone(),
            };
            let this = self.clone();
            let task = tokio::spawn(async move {
                let _permit = permit;
                let name = claim.name.clone();
                let ran = match claim.kind.clone() {
                    ClaimKind::Auto { failures } => {
                        this.auto_sync(claim, failures, now, stop).await
                    }
                    ClaimKind::Now { requested_by, full } => {
                        this.requested_sync(claim, requested_by, full, stop).await
                    }
                };
                if let Err(e) = ran {
                    tracing::error!("sync of `{name}`: {e}");
                }
            });
            running.tasks.push((task, cancel));
        }
        Ok(())
    }

    /// When the next auto sync is due after `run`, and how many times in a row it has
    /// failed now: a failure a retry may fix is retried ([`Self::retry`]); anything else
    /// waits for the next slot (a person must fix auth, permission and config errors).
    fn after_run(
        &self,
        integration: &Integration,
        run: Run,
        outcome: &SyncOutcome,
        next_slot: DateTime<Utc>,
    ) -> (DateTime<Utc>, u32) {
        if !outcome.retryable() {
            return (next_slot, 0);
        }
        if let Some(asked) = outcome.source_wait.filter(|w| *w > MAX_SOURCE_WAIT) {
            tracing::warn!(
                "`{}`: the source asked to wait {} s; waiting {} s instead",
                integration.name,
                asked.as_secs(),
                MAX_SOURCE_WAIT.as_secs()
            );
        }
        self.retry(run, next_slot, outcome.source_wait)
    }

    /// When a run that failed in a way a retry may fix runs again, and how many times in
    /// a row it has failed now: after a doubling delay, a bounded number of times, then
    /// at the next slot; never sooner than the source asked (`source_wait`).
    fn retry(
        &self,
        run: Run,
        next_slot: DateTime<Utc>,
        source_wait: Option<Duration>,
    ) -> (DateTime<Utc>, u32) {
        let failures = run.failures_before + 1;
        let delay = match failures > self.config.max_retries {
            true => None,
            false => self
                .config
                .retry_delay
                .checked_mul(2u32.saturating_pow(failures - 1)),
        };
        let due = due_after_failure(run.started, run.ended, delay, next_slot, source_wait);
        (due, if delay.is_some() { failures } else { 0 })
    }

    /// Runs one claimed auto sync, then ends the claim: the schedule moves on from
    /// `started` (or stays due, for another worker, when the run was stopped) as the
    /// lease is given back.
    async fn auto_sync(
        &self,
        claim: Claim,
        failures_before: u32,
        started: DateTime<Utc>,
        stop: Stop,
    ) -> Result<(), StoreError> {
        let store = self.platform.store();
        let integration = match store.integration(&claim.name).await {
            Ok(integration) => integration,
            // Removed since: its schedule and lease went with it.
            Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => {
                self.hand_back(&claim, failures_before).await;
                return Err(e);
            }
        };
        let next = self
            .config
            .sync_time
            .slot_days_after(started, integration.policy.auto_sync_days);
        let request = stop.request(&claim, Action::AutoSync, SCHEDULER.into(), false);
        let syncs = self.platform.syncs();
        let (due, failures) = match syncs.run_integration(integration.clone(), request).await {
            Ok(outcome) => {
                tracing::info!(
                    "auto sync of `{}`: {}",
                    integration.name,
                    outcome.status.as_str()
                );
                if outcome.status == RunStatus::Cancelled && stop.draining.load(Ordering::SeqCst) {
                    // Still due: another worker (or this one, restarted) resumes it.
                    self.hand_back(&claim, failures_before).await;
                    return Ok(());
                }
                let run = Run {
                    started,
                    ended: self.now().await?,
                    failures_before,
                };
                self.after_run(&integration, run, &outcome, next)
            }
            Err(ServiceError::AlreadyRunning { holder, .. }) => {
                tracing::info!(
                    "auto sync of `{}` postponed: {holder} is running it",
                    integration.name
                );
                self.hand_back(&claim, failures_before).await;
                return Ok(());
            }
            // The database failed (restarting, unreachable): retried as a transient
            // failure, if it answers to be told so; else the lease lapses and any worker
            // claims the sync again.
            Err(ServiceError::Store(e)) => {
                let run = Run {
                    started,
                    ended: self.now().await.unwrap_or(started),
                    failures_before,
                };
                let (due, failures) = self.retry(run, next, None);
                if let Err(again) = store
                    .end_claim(claim.integration, claim.fence, due, failures)
                    .await
                {
                    tracing::warn!("could not reschedule `{}`: {again}", claim.name);
                }
                return Err(e);
            }
            Err(error) => {
                // Record why it cannot run, and wait for the next slot rather than retry
                // every poll: this needs a person to fix it.
                syncs
                    .record_unstartable(&integration, Action::AutoSync, SCHEDULER, &error)
                    .await?;
                (next, 0)
            }
        };
        store
            .end_claim(claim.integration, claim.fence, due, failures)
            .await
    }

    /// Runs one claimed Sync Now as the person who asked for it, then gives the lease
    /// back. Stopped by a drain, it is asked for again, for another worker to resume.
    async fn requested_sync(
        &self,
        claim: Claim,
        requested_by: String,
        full: bool,
        stop: Stop,
    ) -> Result<(), StoreError> {
        let store = self.platform.store();
        let integration = match store.integration(&claim.name).await {
            Ok(integration) => integration,
            Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => {
                store
                    .end_requested_claim(claim.integration, claim.fence)
                    .await?;
                return Err(e);
            }
        };
        let request = stop.request(&claim, Action::SyncNow, requested_by.clone(), full);
        let syncs = self.platform.syncs();
        let ran = syncs.run_integration(integration.clone(), request).await;
        let after = match ran {
            Ok(outcome) => {
                tracing::info!(
                    "sync now of `{}`: {}",
                    integration.name,
                    outcome.status.as_str()
                );
                // Stopped by the drain: asked for again once the lease is back.
                (outcome.status == RunStatus::Cancelled && stop.draining.load(Ordering::SeqCst))
                    .then_some(Requeue)
                    .map(Ok)
            }
            Err(ServiceError::Store(e)) => Some(Err(e)),
            Err(ServiceError::AlreadyRunning { .. }) => None,
            Err(error) => {
                syncs
                    .record_unstartable(&integration, Action::SyncNow, &requested_by, &error)
                    .await?;
                None
            }
        };
        // The request left the queue as the run opened; one that could not open leaves
        // it here, answered by the history row above.
        store
            .end_requested_claim(claim.integration, claim.fence)
            .await?;
        match after {
            Some(Ok(Requeue)) => {
                store
                    .request_sync(integration.id, &requested_by, full)
                    .await?;
                Ok(())
            }
            Some(Err(e)) => Err(e),
            None => Ok(()),
        }
    }

    /// Gives an auto sync's claim back still due, as it was, for the next look of any
    /// worker.
    async fn hand_back(&self, claim: &Claim, failures: u32) {
        let handed = async {
            let now = self.now().await?;
            self.platform
                .store()
                .end_claim(claim.integration, claim.fence, now, failures)
                .await
        };
        if let Err(e) = handed.await {
            tracing::warn!(
                "could not hand back the auto sync of `{}` (its lease lapses instead): {e}",
                claim.name
            );
        }
    }
}

impl Stop {
    /// How to run `claim`, stopped by this.
    fn request(
        &self,
        claim: &Claim,
        action: Action,
        started_by: String,
        full: bool,
    ) -> SyncRequest {
        SyncRequest {
            claimed: Some(claim.fence),
            action,
            started_by,
            full,
            progress: None,
            cancel: self.cancel.clone(),
        }
    }
}

/// A Sync Now stopped by a drain, to ask for again.
struct Requeue;

/// What stops an auto sync: its own flag, set by a person's Cancel or a drain, and
/// whether the worker drains (then the sync is handed back, still due).
struct Stop {
    cancel: Arc<AtomicBool>,
    draining: Arc<AtomicBool>,
}

/// An auto sync that ran: when, and how often it had failed in a row before.
#[derive(Debug, Clone, Copy)]
struct Run {
    started: DateTime<Utc>,
    ended: DateTime<Utc>,
    failures_before: u32,
}

/// Beats this worker's heartbeat every `interval` until aborted.
async fn beat(platform: Arc<Platform>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        match platform.store().heartbeat(platform.worker()).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "worker {} is no longer in the store's list of workers",
                platform.worker()
            ),
            Err(e) => tracing::warn!("could not record the heartbeat: {e}"),
        }
    }
}
