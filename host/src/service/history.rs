//! History: every test, sync and settings change of an integration.

use super::{Platform, ServiceError};
use crate::model::HistoryRow;

/// The history service.
pub struct History<'a> {
    pub(super) platform: &'a Platform,
}

impl History<'_> {
    /// The named integration's history, newest first.
    pub async fn list(&self, integration: &str) -> Result<Vec<HistoryRow>, ServiceError> {
        let store = self.platform.store();
        let id = store.integration(integration).await?.id;
        Ok(store.history(id).await?)
    }
}
