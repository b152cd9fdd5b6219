//! History: every test, sync and settings change of an integration.

use super::paging::check_page_size;
use super::{Platform, ServiceError};
use crate::model::{HistoryRow, Window};

/// The history service.
pub struct History<'a> {
    pub(super) platform: &'a Platform,
}

/// One page of an integration's history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct HistoryPage {
    /// The page, newest first.
    pub runs: Vec<HistoryRow>,
    /// Rows passed over before the page.
    pub offset: u64,
    /// How many rows the history has in all.
    pub total: u64,
}

impl History<'_> {
    /// The named integration's whole history, newest first.
    pub async fn list(&self, integration: &str) -> Result<Vec<HistoryRow>, ServiceError> {
        let store = self.platform.store();
        let id = store.integration(integration).await?.id;
        Ok(store.history(id, Window::ALL).await?)
    }

    /// Up to `limit` (1 to [`super::MAX_PAGE`]) rows of the named integration's history,
    /// newest first, after passing over `offset`; with the count of all rows.
    pub async fn page(
        &self,
        integration: &str,
        offset: u64,
        limit: usize,
    ) -> Result<HistoryPage, ServiceError> {
        check_page_size(limit)?;
        let store = self.platform.store();
        let id = store.integration(integration).await?.id;
        let window = Window {
            offset,
            limit: limit as u64,
        };
        Ok(HistoryPage {
            runs: store.history(id, window).await?,
            offset,
            total: store.history_count(id).await?,
        })
    }
}
