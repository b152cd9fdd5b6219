//! Integrations: configured instances of a connector, and the platform's policy for them.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What the platform does around an integration's syncs (the guide's settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Policy {
    /// Auto sync every this many days; 0 means manual only.
    pub auto_sync_days: u32,
    /// Create assets the inventory lacks (Auto Onboard New Assets).
    pub auto_onboard: bool,
    /// Overwrite metadata of assets that exist (Update Existing Asset Metadata).
    pub update_metadata: bool,
}

impl Policy {
    /// The longest Auto Sync frequency, in days: a year. A larger one would put the
    /// next slot past what dates can hold.
    pub const MAX_AUTO_SYNC_DAYS: u32 = 365;
}

impl Default for Policy {
    /// Manual syncs, onboarding on, metadata kept: the guide's defaults.
    fn default() -> Self {
        Policy {
            auto_sync_days: 0,
            auto_onboard: true,
            update_metadata: false,
        }
    }
}

/// An integration to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIntegration {
    /// Unique name.
    pub name: String,
    /// The connector (plugin name).
    pub connector: String,
    /// Non-secret settings, key to value.
    pub settings: Vec<(String, String)>,
    /// Secret settings, sealed (see `secrets`).
    pub sealed_secrets: String,
    /// Platform policy.
    pub policy: Policy,
    /// The build of its plugin it runs (installed before the integration is added).
    pub plugin: PluginPin,
    /// The streams it pulls; `None` for its plugin's defaults.
    pub streams: Option<Vec<String>>,
}

/// The exact build of a plugin an integration runs: its version, and the sha256 of its
/// component, so that a file changed under the same version is never run in its place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PluginPin {
    /// The plugin's version, as it describes itself.
    pub version: String,
    /// The sha256 of the component, in hex.
    pub digest: String,
}

/// A plugin build kept by the host (`plugins install`, or the plugins folder's file an
/// integration was set up with): every process of a fleet can run it from the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct InstalledPlugin {
    /// The name it describes itself with.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The sha256 of the component, in hex.
    pub digest: String,
    /// The contract version it exports.
    pub contract_version: String,
    /// When it was installed.
    pub installed_at: DateTime<Utc>,
}

/// A stored integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integration {
    /// Row id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// The connector (plugin name).
    pub connector: String,
    /// Non-secret settings, key to value.
    pub settings: Vec<(String, String)>,
    /// Secret settings, sealed.
    pub sealed_secrets: String,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// Platform policy.
    pub policy: Policy,
    /// The build of its plugin it runs; `None` for an integration stored before versions
    /// were pinned, until its first use pins the newest.
    pub plugin: Option<PluginPin>,
    /// The streams it pulls; `None` for its plugin's defaults.
    pub streams: Option<Vec<String>>,
}
