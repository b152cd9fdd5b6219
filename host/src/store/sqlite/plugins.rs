//! Plugin builds and pins in SQLite.

use super::{SqliteStore, time_at};
use crate::model::{InstalledPlugin, PluginPin, time_text};
use crate::policy::hash::json;
use crate::store::{Installed, PluginStore, StoreError};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

/// Integrations of `?1` that run version `?2`, or are not pinned yet.
const USERS: &str = "SELECT name FROM integrations WHERE connector = ?1 AND (plugin_version = ?2 OR plugin_version IS NULL) ORDER BY name";

#[async_trait]
impl PluginStore for SqliteStore {
    async fn install_plugin(
        &self,
        plugin: &InstalledPlugin,
        component: &[u8],
    ) -> Result<Installed, StoreError> {
        let (plugin, component) = (plugin.clone(), component.to_vec());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let inserted = tx.execute(
                "INSERT INTO plugin_versions (name, version, digest, contract_version, component, installed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name, version) DO NOTHING",
                params![plugin.name, plugin.version, plugin.digest, plugin.contract_version, component, time_text(plugin.installed_at)],
            )?;
            let outcome = match inserted {
                1 => Installed::New,
                _ => {
                    let stored: String = tx.query_row(
                        "SELECT digest FROM plugin_versions WHERE name = ?1 AND version = ?2",
                        params![plugin.name, plugin.version],
                        |row| row.get(0),
                    )?;
                    match stored == plugin.digest {
                        true => Installed::Already,
                        false => Installed::Differs(stored),
                    }
                }
            };
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }

    async fn installed_plugins(&self) -> Result<Vec<InstalledPlugin>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT name, version, digest, contract_version, installed_at FROM plugin_versions ORDER BY name, version",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok(InstalledPlugin {
                    name: row.get(0)?,
                    version: row.get(1)?,
                    digest: row.get(2)?,
                    contract_version: row.get(3)?,
                    installed_at: time_at(row, 4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn plugin_component(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let (name, version) = (name.to_string(), version.to_string());
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT digest, component FROM plugin_versions WHERE name = ?1 AND version = ?2",
                    params![name, version],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?)
        })
        .await
    }

    async fn remove_plugin(&self, name: &str, version: &str) -> Result<(), StoreError> {
        let (name, version) = (name.to_string(), version.to_string());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let users: Vec<String> = tx
                .prepare(USERS)?
                .query_map(params![name, version], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            if !users.is_empty() {
                return Err(StoreError::InUse {
                    what: format!("{name} {version}"),
                    users,
                });
            }
            let removed = tx.execute(
                "DELETE FROM plugin_versions WHERE name = ?1 AND version = ?2",
                params![name, version],
            )?;
            tx.commit()?;
            match removed {
                0 => Err(StoreError::not_found(format!(
                    "installed plugin {name} {version}"
                ))),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn pin_plugin(
        &self,
        id: i64,
        was: Option<&PluginPin>,
        now: &PluginPin,
        settings: Option<(&[(String, String)], &str)>,
    ) -> Result<bool, StoreError> {
        let was = was.map(|p| p.digest.clone());
        let now = now.clone();
        let (settings, sealed) = match settings {
            Some((plain, sealed)) => (Some(json(plain)), Some(sealed.to_string())),
            None => (None, None),
        };
        self.call(move |conn| {
            let changed = conn.execute(
                "UPDATE integrations SET plugin_version = ?3, plugin_digest = ?4,
                     settings = COALESCE(?5, settings), sealed_secrets = COALESCE(?6, sealed_secrets)
                 WHERE id = ?1 AND plugin_digest IS ?2
                   AND EXISTS (SELECT 1 FROM plugin_versions v
                               WHERE v.name = integrations.connector AND v.version = ?3 AND v.digest = ?4)",
                params![id, was, now.version, now.digest, settings, sealed],
            )?;
            Ok(changed == 1)
        })
        .await
    }
}
