//! The shared inventory: list it, or import assets known from elsewhere.

use super::{Platform, ServiceError};
use crate::import::parse_import;
use crate::model::{AssetFilter, InventoryAsset};

/// The inventory service.
pub struct Inventory<'a> {
    pub(super) platform: &'a Platform,
}

/// Which assets to list; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssetQuery {
    /// One integration's assets by their source ids; else the whole inventory.
    pub integration: Option<String>,
    /// Only this asset type (case-insensitive).
    pub asset_type: Option<String>,
    /// Only this cloud platform (case-insensitive).
    pub cloud: Option<String>,
}

impl Inventory<'_> {
    /// Assets matching `query`, by name.
    pub async fn list(&self, query: AssetQuery) -> Result<Vec<InventoryAsset>, ServiceError> {
        let store = self.platform.store();
        let integration = match &query.integration {
            Some(name) => Some(store.integration(name).await?.id),
            None => None,
        };
        Ok(store
            .assets(&AssetFilter {
                integration,
                asset_type: query.asset_type,
                cloud: query.cloud,
            })
            .await?)
    }

    /// Imports an import file's text (JSON or CSV, see [`parse_import`]): all rows or,
    /// on a bad one, none. Returns (added, already present).
    pub async fn import(&self, text: &str) -> Result<(u64, u64), ServiceError> {
        let assets = parse_import(text)?;
        Ok(self.platform.store().import_assets(assets).await?)
    }
}
