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
}
