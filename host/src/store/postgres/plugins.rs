//! Plugin builds and pins in PostgreSQL. A removal locks the build's row before it looks
//! for users, and a pin holds a share lock on it: one of the two waits for the other, so
//! no integration is ever pinned to a build that is gone.

use super::PostgresStore;
use crate::model::{InstalledPlugin, PluginPin};
use crate::store::{Installed, PluginStore, StoreError};
use async_trait::async_trait;

#[async_trait]
impl PluginStore for PostgresStore {
    async fn install_plugin(
        &self,
        plugin: &InstalledPlugin,
        component: &[u8],
    ) -> Result<Installed, StoreError> {
        let client = self.client().await?;
        let inserted = client
            .execute(
                "INSERT INTO plugin_versions (name, version, digest, contract_version, component, installed_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name, version) DO NOTHING",
                &[&plugin.name, &plugin.version, &plugin.digest, &plugin.contract_version, &component, &plugin.installed_at],
            )
            .await?;
        if inserted == 1 {
            return Ok(Installed::New);
        }
        let stored: String = client
            .query_one(
                "SELECT digest FROM plugin_versions WHERE name = $1 AND version = $2",
                &[&plugin.name, &plugin.version],
            )
            .await?
            .try_get(0)?;
        Ok(match stored == plugin.digest {
            true => Installed::Already,
            false => Installed::Differs(stored),
        })
    }

    async fn installed_plugins(&self) -> Result<Vec<InstalledPlugin>, StoreError> {
        self.reader()
            .await?
            .query(
                "SELECT name, version, digest, contract_version, installed_at FROM plugin_versions ORDER BY name, version",
                &[],
            )
            .await?
            .iter()
            .map(|row| {
                Ok(InstalledPlugin {
                    name: row.try_get(0)?,
                    version: row.try_get(1)?,
                    digest: row.try_get(2)?,
                    contract_version: row.try_get(3)?,
                    installed_at: row.try_get(4)?,
                })
            })
            .collect()
    }

    async fn plugin_component(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let row = self
            .reader()
            .await?
            .query_opt(
                "SELECT digest, component FROM plugin_versions WHERE name = $1 AND version = $2",
                &[&name, &version],
            )
            .await?;
        Ok(match row {
            Some(row) => Some((row.try_get(0)?, row.try_get(1)?)),
            None => None,
        })
    }

    async fn remove_plugin(&self, name: &str, version: &str) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let locked = tx
            .query_opt(
                "SELECT 1 FROM plugin_versions WHERE name = $1 AND version = $2 FOR UPDATE",
                &[&name, &version],
            )
            .await?;
        if locked.is_none() {
            return Err(StoreError::not_found(format!(
                "installed plugin {name} {version}"
            )));
        }
        let users: Vec<String> = tx
            .query(
                "SELECT name FROM integrations WHERE connector = $1 AND (plugin_version = $2 OR plugin_version IS NULL) ORDER BY name",
                &[&name, &version],
            )
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        if !users.is_empty() {
            return Err(StoreError::InUse {
                what: format!("{name} {version}"),
                users,
            });
        }
        tx.execute(
            "DELETE FROM plugin_versions WHERE name = $1 AND version = $2",
            &[&name, &version],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn pin_plugin(
        &self,
        id: i64,
        was: Option<&PluginPin>,
        now: &PluginPin,
        settings: Option<(&[(String, String)], &str)>,
    ) -> Result<bool, StoreError> {
        let was = was.map(|p| p.digest.as_str());
        let (settings, sealed) = match settings {
            Some((plain, sealed)) => (
                Some(serde_json::to_value(plain).expect("plain data")),
                Some(sealed),
            ),
            None => (None, None),
        };
        let changed = self
            .client()
            .await?
            .execute(
                "UPDATE integrations SET plugin_version = $3, plugin_digest = $4,
                     settings = COALESCE($5, settings), sealed_secrets = COALESCE($6, sealed_secrets)
                 WHERE id = $1 AND plugin_digest IS NOT DISTINCT FROM $2
                   AND EXISTS (SELECT 1 FROM plugin_versions v
                               WHERE v.name = integrations.connector AND v.version = $3 AND v.digest = $4
                               FOR SHARE)",
                &[&id, &was, &now.version, &now.digest, &settings, &sealed],
            )
            .await?;
        Ok(changed == 1)
    }
}
