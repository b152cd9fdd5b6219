//! Workers: the `serve` processes that share the store, and what each runs.

use super::{Platform, ServiceError};
use crate::policy::lease::{WorkerState, worker_state};
use crate::store::WorkerRow;

/// The workers service.
pub struct Workers<'a> {
    pub(super) platform: &'a Platform,
}

/// A worker, and what its heartbeat says of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct WorkerView {
    /// As the store keeps it.
    #[serde(flatten)]
    pub row: WorkerRow,
    /// Whether it runs, drains, stopped, or went silent.
    pub state: WorkerState,
}

impl Workers<'_> {
    /// Every worker the store knows (those of the last week), newest first.
    pub async fn list(&self) -> Result<Vec<WorkerView>, ServiceError> {
        Ok(self
            .platform
            .store()
            .workers()
            .await?
            .into_iter()
            .map(|row| WorkerView {
                state: worker_state(&row),
                row,
            })
            .collect())
    }

    /// The Prometheus text exposition of this worker's metrics, with the fleet's queue
    /// depth and workers by state as the store says now.
    pub async fn metrics(&self) -> Result<String, ServiceError> {
        let store = self.platform.store();
        let due = store.due_count(store.now().await?).await?;
        let mut states: Vec<(String, u64)> = Vec::new();
        for worker in self.list().await? {
            let state = worker.state.as_str();
            match states.iter_mut().find(|(s, _)| s == state) {
                Some((_, n)) => *n += 1,
                None => states.push((state.to_string(), 1)),
            }
        }
        Ok(self.platform.metrics().render(due, &states))
    }
}
