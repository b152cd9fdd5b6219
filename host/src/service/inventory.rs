//! The shared inventory: list it, or import assets known from elsewhere.

use super::paging::{check_page_size, decode_cursor, encode_cursor};
use super::{Platform, ServiceError};
use crate::import::parse_import;
use crate::model::{AssetCursor, AssetFilter, InventoryAsset};
use crate::store::StoreError;

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

/// One page of assets, with the count of all that the query matches.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AssetsPage {
    /// The page, by name.
    pub assets: Vec<InventoryAsset>,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
    /// How many match in all.
    pub total: u64,
}

/// The rows the CLI's whole listing reads at a time.
const LIST_CHUNK: usize = 1000;

impl Inventory<'_> {
    pub(super) async fn filter(&self, query: AssetQuery) -> Result<AssetFilter, ServiceError> {
        let integration = match &query.integration {
            Some(name) => Some(self.platform.store().integration(name).await?.id),
            None => None,
        };
        Ok(AssetFilter {
            integration,
            asset_type: query.asset_type,
            cloud: query.cloud,
            key: None,
        })
    }

    /// The asset types and cloud platforms present, each sorted: the values the
    /// Asset View's filters offer.
    pub async fn values(&self) -> Result<(Vec<String>, Vec<String>), ServiceError> {
        Ok(self.platform.store().asset_values().await?)
    }

    /// The inventory asset with `key` (its canonical key): what an asset's page names.
    pub async fn asset(&self, key: &str) -> Result<InventoryAsset, ServiceError> {
        let filter = AssetFilter {
            key: Some(key.to_string()),
            ..Default::default()
        };
        let page = self.platform.store().asset_page(&filter, None, 1).await?;
        (page.assets.into_iter().next())
            .ok_or_else(|| StoreError::not_found(format!("asset `{key}`")).into())
    }

    /// Every asset matching `query`, by name.
    pub async fn list(&self, query: AssetQuery) -> Result<Vec<InventoryAsset>, ServiceError> {
        let filter = self.filter(query).await?;
        let store = self.platform.store();
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .asset_page(&filter, after.as_ref(), LIST_CHUNK)
                .await?;
            all.extend(page.assets);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// A page of up to `limit` (1 to [`super::MAX_PAGE`]) assets matching `query`,
    /// starting at `cursor` (from the previous page), with the count of all that match.
    pub async fn page(
        &self,
        query: AssetQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<AssetsPage, ServiceError> {
        check_page_size(limit)?;
        let after: Option<AssetCursor> = cursor.map(decode_cursor).transpose()?;
        let filter = self.filter(query).await?;
        let store = self.platform.store();
        let page = store.asset_page(&filter, after.as_ref(), limit).await?;
        Ok(AssetsPage {
            assets: page.assets,
            next: page.next.as_ref().map(encode_cursor),
            total: store.asset_count(&filter).await?,
        })
    }

    /// Imports an import file's text (JSON or CSV, see [`parse_import`]): all rows or,
    /// on a bad one, none. Returns (added, already present).
    pub async fn import(&self, text: &str) -> Result<(u64, u64), ServiceError> {
        let assets = parse_import(text)?;
        Ok(self.platform.store().import_assets(assets).await?)
    }
}
