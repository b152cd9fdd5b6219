//! Syncs: run one here (the CLI's and the scheduler's), ask any worker for one (Sync Now
//! from the console and the API), cancel one wherever it runs, and the status of one with
//! its progress, as the store has them.

use super::{Platform, ServiceError};
use crate::model::{Action, HistoryRow, Integration, RunEnd, RunStatus};
use crate::policy::lease::{INTERRUPTED, abandoned};
use crate::runner::{Progress, RunnerError, SyncJob, SyncOutcome};
use crate::store::{QueuedSync, RunningSync, StoreError, SyncRequested};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The syncs service.
pub struct Syncs<'a> {
    pub(super) platform: &'a Platform,
}

/// How to run a sync.
pub struct SyncRequest {
    /// Why it runs.
    pub action: Action,
    /// Who started it.
    pub started_by: String,
    /// Read everything instead of the changes since the last sync.
    pub full: bool,
    /// Where progress goes, besides the status the service keeps.
    pub progress: Option<Box<dyn Progress>>,
    /// Set to stop the run (shutdown, Ctrl-C); [`Syncs::cancel`] sets it too.
    pub cancel: Arc<AtomicBool>,
    /// The lease a claim took for it (the scheduler's); `None` takes it.
    pub claimed: Option<crate::store::Fence>,
}

/// Where an integration's syncs stand, whichever worker runs them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SyncStatus {
    /// The sync running now, on whichever worker, with its progress.
    pub running: Option<RunningSync>,
    /// The Sync Now waiting for a free worker, if one is.
    pub queued: Option<QueuedSync>,
    /// The newest sync in history (running ones included).
    pub last: Option<HistoryRow>,
}

/// The syncs running in this process, by integration id, each with what cancels it.
#[derive(Default, Clone)]
pub(super) struct Running(Arc<Mutex<HashMap<i64, Arc<AtomicBool>>>>);

/// Removes a sync from the running ones however its run ends.
struct Registered {
    running: Running,
    integration: i64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.running
            .0
            .lock()
            .expect("running syncs lock")
            .remove(&self.integration);
    }
}

impl Syncs<'_> {
    /// Runs a sync of the named integration to its end. A sync that ran and failed is
    /// `Ok` with a failed outcome; `Err` means it could not run.
    pub async fn run(&self, name: &str, request: SyncRequest) -> Result<SyncOutcome, ServiceError> {
        let integration = self.platform.integration(name).await?;
        self.run_integration(integration, request).await
    }

    /// [`run`](Self::run) for an integration in hand (the scheduler's).
    pub async fn run_integration(
        &self,
        integration: Integration,
        request: SyncRequest,
    ) -> Result<SyncOutcome, ServiceError> {
        let prepared = self.platform.prepare_integration(integration).await?;
        prepared.check_runnable()?;
        let streams = prepared.streams()?;
        let id = prepared.integration.id;
        let cancel = request.cancel;
        let running = self.platform.running.clone();
        {
            let mut all = running.0.lock().expect("running syncs lock");
            if all.contains_key(&id) {
                return Err(ServiceError::AlreadyRunning {
                    name: prepared.integration.name.clone(),
                    holder: "this process".into(),
                });
            }
            all.insert(id, cancel.clone());
        }
        let _registered = Registered {
            running: running.clone(),
            integration: id,
        };
        let job = SyncJob {
            host: &prepared.plugins.host,
            plugin: &prepared.plugin,
            integration: &prepared.integration,
            settings: prepared.settings.clone(),
            action: request.action,
            started_by: request.started_by,
            progress: request.progress,
            cancel,
            full: request.full,
            streams,
            limits: self.platform.limits,
            backlog: self.platform.backlog.clone(),
            lease_ttl: self.platform.lease_ttl,
            worker: self.platform.worker.clone(),
            claimed: request.claimed,
        };
        let metrics = self.platform.metrics();
        let started = std::time::Instant::now();
        metrics.run_started();
        let ran = job.run(self.platform.store().clone()).await;
        match &ran {
            Ok(outcome) => {
                metrics.run_ended(outcome.status, started.elapsed(), &outcome.counts);
                if let Some(bytes) = outcome.plugin_memory_bytes {
                    metrics.plugin_memory(bytes);
                }
            }
            Err(_) => metrics.run_aborted(),
        }
        match ran {
            Ok(outcome) => Ok(outcome),
            Err(RunnerError::AlreadyRunning { name, holder }) => {
                Err(ServiceError::AlreadyRunning { name, holder })
            }
            Err(RunnerError::Store(e)) => Err(e.into()),
        }
    }

    /// Asks for a Sync Now of the named integration, which the first free worker runs
    /// (a `serve` process, this one or another); a sync already running or queued is
    /// joined. Refused at once when it could not run (its plugin is gone, its settings no
    /// longer open).
    pub async fn request(
        &self,
        name: &str,
        requested_by: &str,
        full: bool,
    ) -> Result<SyncRequested, ServiceError> {
        let integration = self.platform.integration(name).await?;
        let id = integration.id;
        self.platform
            .prepare_integration(integration)
            .await?
            .check_runnable()?;
        Ok(self
            .platform
            .store()
            .request_sync(id, requested_by, full)
            .await?)
    }

    /// Records in history a sync that could not start (its plugin is gone, its settings
    /// no longer open), so the people who expected it see why.
    pub async fn record_unstartable(
        &self,
        integration: &Integration,
        action: Action,
        started_by: &str,
        error: &ServiceError,
    ) -> Result<(), StoreError> {
        self.platform
            .store()
            .record_run(
                integration.id,
                action,
                started_by,
                &RunEnd::bare(RunStatus::Failed, Some(error.to_string())),
                None,
            )
            .await?;
        Ok(())
    }

    /// Fails (interrupted) the runs marked running that nobody runs any more: their
    /// process died, or their lease expired. Returns how many.
    pub async fn fail_abandoned(&self) -> Result<u64, StoreError> {
        let store = self.platform.store();
        let gone = abandoned(&store.running_runs().await?);
        store.fail_runs(&gone, INTERRUPTED).await
    }

    /// Asks the named integration's sync to stop, wherever it runs (at its next batch,
    /// keeping what it committed; on another worker within seconds), and drops its
    /// queued Sync Now; false if there was neither.
    pub async fn cancel(&self, name: &str) -> Result<bool, ServiceError> {
        let store = self.platform.store();
        let id = store.integration(name).await?.id;
        let here = match self
            .platform
            .running
            .0
            .lock()
            .expect("running syncs lock")
            .get(&id)
        {
            Some(cancel) => {
                cancel.store(true, Ordering::SeqCst);
                true
            }
            None => false,
        };
        let asked = store.request_cancel(id).await?;
        Ok(here || asked.running || asked.queued)
    }

    /// Where the named integration's syncs stand, whichever worker runs them.
    pub async fn status(&self, name: &str) -> Result<SyncStatus, ServiceError> {
        let store = self.platform.store();
        let id = store.integration(name).await?.id;
        Ok(SyncStatus {
            running: store.running_sync(id).await?,
            queued: store.queued_sync(id).await?,
            last: store.last_sync(id).await?,
        })
    }
}
