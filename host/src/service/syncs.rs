//! Syncs: run one now, cancel one running here, and the status of one with its progress.

use super::{Platform, ServiceError};
use crate::model::{Action, HistoryRow, Integration, RunEnd, RunStatus};
use crate::policy::lease::{INTERRUPTED, abandoned};
use crate::runner::{Progress, RunnerError, SyncJob, SyncOutcome};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
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
    /// Told once the run holds its lease and has its history row.
    pub started: Option<tokio::sync::oneshot::Sender<()>>,
    /// The lease a claim took for it (the scheduler's); `None` takes it.
    pub claimed: Option<crate::store::Fence>,
}

/// A sync running in this process.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RunningSync {
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Who started it.
    pub started_by: String,
    /// Records handled so far.
    pub done: u64,
    /// Records in all, when the plugin knows.
    pub total: Option<u64>,
}

/// Where an integration's syncs stand.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SyncStatus {
    /// The sync running in this process, if one is.
    pub running_here: Option<RunningSync>,
    /// The newest sync in history (running ones included, wherever they run).
    pub last: Option<HistoryRow>,
}

struct Entry {
    sync: RunningSync,
    cancel: Arc<AtomicBool>,
}

/// The syncs running in this process, by integration id.
#[derive(Default, Clone)]
pub(super) struct Running(Arc<Mutex<HashMap<i64, Entry>>>);

impl Running {
    fn update(&self, id: i64, done: u64, total: Option<u64>) {
        if let Some(entry) = self.0.lock().expect("running syncs lock").get_mut(&id) {
            entry.sync.done = done;
            entry.sync.total = total;
        }
    }
}

/// Keeps the service's status current, then passes progress on.
struct Tracked {
    running: Running,
    integration: i64,
    inner: Option<Box<dyn Progress>>,
}

impl Progress for Tracked {
    fn update(&mut self, done: u64, total: Option<u64>) {
        self.running.update(self.integration, done, total);
        if let Some(inner) = self.inner.as_mut() {
            inner.update(done, total);
        }
    }
}

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
            all.insert(
                id,
                Entry {
                    sync: RunningSync {
                        started_at: crate::model::now(),
                        started_by: request.started_by.clone(),
                        done: 0,
                        total: None,
                    },
                    cancel: cancel.clone(),
                },
            );
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
            progress: Some(Box::new(Tracked {
                running,
                integration: id,
                inner: request.progress,
            })),
            cancel,
            full: request.full,
            streams,
            limits: self.platform.limits,
            lease_ttl: self.platform.lease_ttl,
            started: request.started,
            worker: self.platform.worker.clone(),
            claimed: request.claimed,
        };
        match job.run(self.platform.store().clone()).await {
            Ok(outcome) => Ok(outcome),
            Err(RunnerError::AlreadyRunning { name, holder }) => {
                Err(ServiceError::AlreadyRunning { name, holder })
            }
            Err(RunnerError::Store(e)) => Err(e.into()),
        }
    }

    /// Starts a sync of the named integration in the background and returns once it
    /// runs (its lease held, its history row open), or with why it could not start. Its
    /// outcome goes to history, as every sync's does.
    pub async fn start(
        platform: &Arc<Platform>,
        name: &str,
        mut request: SyncRequest,
    ) -> Result<(), ServiceError> {
        let (started, running) = tokio::sync::oneshot::channel();
        request.started = Some(started);
        let (platform, name) = (platform.clone(), name.to_string());
        let task = tokio::spawn(async move {
            let outcome = platform.syncs().run(&name, request).await;
            if let Err(e) = &outcome {
                tracing::warn!(integration = %name, "sync did not run: {e}");
            }
            outcome
        });
        if running.await.is_ok() {
            return Ok(());
        }
        // It ended before it ran: say why.
        match task.await {
            Ok(outcome) => outcome.map(|_| ()),
            Err(e) => Err(ServiceError::SyncTask(e.to_string())),
        }
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

    /// Asks the sync of the named integration running in this process to stop; false if
    /// none runs here. It stops at its next batch, keeping what it committed.
    pub async fn cancel(&self, name: &str) -> Result<bool, ServiceError> {
        let id = self.platform.store().integration(name).await?.id;
        Ok(self.cancel_id(id))
    }

    fn cancel_id(&self, id: i64) -> bool {
        match self
            .platform
            .running
            .0
            .lock()
            .expect("running syncs lock")
            .get(&id)
        {
            Some(entry) => {
                entry.cancel.store(true, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    /// Where the named integration's syncs stand.
    pub async fn status(&self, name: &str) -> Result<SyncStatus, ServiceError> {
        let store = self.platform.store();
        let id = store.integration(name).await?.id;
        let running_here = self
            .platform
            .running
            .0
            .lock()
            .expect("running syncs lock")
            .get(&id)
            .map(|e| e.sync.clone());
        let last = store.last_sync(id).await?;
        Ok(SyncStatus { running_here, last })
    }
}
