//! Plugin builds and pins, once for both backends. On PostgreSQL a removal locks the
//! build's row before it looks for users, and a pin holds a share lock on it: one of the
//! two waits for the other, so no integration is ever pinned to a build that is gone
//! (SQLite's one writer at a time does the same).

use super::sql::{Backend, Param, RowLock, Session, StoredRow};
use super::{Installed, PluginStore, StoreError};
use crate::model::{InstalledPlugin, PluginPin};
use async_trait::async_trait;

#[async_trait]
impl<B: Backend> PluginStore for B {
    async fn install_plugin(
        &self,
        plugin: &InstalledPlugin,
        component: &[u8],
    ) -> Result<Installed, StoreError> {
        let (plugin, component) = (plugin.clone(), component.to_vec());
        self.write(Box::new(move |s| {
            Box::pin(async move {
                let (name, version) = (Param::text(&plugin.name), Param::text(&plugin.version));
                let inserted = s
                    .execute(
                        "INSERT INTO plugin_versions (name, version, digest, contract_version, component, installed_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name, version) DO NOTHING",
                        &[
                            name.clone(),
                            version.clone(),
                            Param::text(&plugin.digest),
                            Param::text(&plugin.contract_version),
                            Param::Bytes(component),
                            Param::Time(plugin.installed_at),
                        ],
                    )
                    .await?;
                if inserted == 1 {
                    return Ok(Installed::New);
                }
                let stored = s
                    .query_one(
                        "SELECT digest FROM plugin_versions WHERE name = ?1 AND version = ?2",
                        &[name, version],
                    )
                    .await?
                    .text(0)?;
                Ok(match stored == plugin.digest {
                    true => Installed::Already,
                    false => Installed::Differs(stored),
                })
            })
        }))
        .await
    }

    async fn installed_plugins(&self) -> Result<Vec<InstalledPlugin>, StoreError> {
        self.read(Box::new(|s| {
            Box::pin(async move {
                let rows = s
                    .query(
                        "SELECT name, version, digest, contract_version, installed_at FROM plugin_versions ORDER BY name, version",
                        &[],
                    )
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(InstalledPlugin {
                            name: r.text(0)?,
                            version: r.text(1)?,
                            digest: r.text(2)?,
                            contract_version: r.text(3)?,
                            installed_at: r.time(4)?,
                        })
                    })
                    .collect()
            })
        }))
        .await
    }

    async fn plugin_component(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let params = [Param::text(name), Param::text(version)];
        self.read(Box::new(move |s| {
            Box::pin(async move {
                let row = s
                    .query_opt(
                        "SELECT digest, component FROM plugin_versions WHERE name = ?1 AND version = ?2",
                        &params,
                    )
                    .await?;
                row.map(|r| Ok((r.text(0)?, r.bytes(1)?))).transpose()
            })
        }))
        .await
    }

    async fn remove_plugin(&self, name: &str, version: &str) -> Result<(), StoreError> {
        let (name, version) = (name.to_string(), version.to_string());
        self.write(Box::new(move |s| {
            Box::pin(async move {
                let params = [Param::text(&name), Param::text(&version)];
                let lock = format!(
                    "SELECT 1 FROM plugin_versions WHERE name = ?1 AND version = ?2{}",
                    s.row_lock(RowLock::Update)
                );
                if s.query_opt(&lock, &params).await?.is_none() {
                    return Err(StoreError::not_found(format!(
                        "installed plugin {name} {version}"
                    )));
                }
                // Integrations that run this version, or are not pinned yet.
                let users = s
                    .query(
                        "SELECT name FROM integrations WHERE connector = ?1 AND (plugin_version = ?2 OR plugin_version IS NULL) ORDER BY name",
                        &params,
                    )
                    .await?
                    .iter()
                    .map(|r| r.text(0))
                    .collect::<Result<Vec<_>, _>>()?;
                if !users.is_empty() {
                    return Err(StoreError::InUse {
                        what: format!("{name} {version}"),
                        users,
                    });
                }
                s.execute(
                    "DELETE FROM plugin_versions WHERE name = ?1 AND version = ?2",
                    &params,
                )
                .await?;
                Ok(())
            })
        }))
        .await
    }

    async fn pin_plugin(
        &self,
        id: i64,
        was: Option<&PluginPin>,
        now: &PluginPin,
        settings: Option<(&[(String, String)], &str)>,
    ) -> Result<bool, StoreError> {
        let (settings, sealed) = match settings {
            Some((plain, sealed)) => (
                Some(super::integrations::json_of(plain)?),
                Some(sealed.to_string()),
            ),
            None => (None, None),
        };
        let params = [
            Param::Int(id),
            Param::OptText(was.map(|p| p.digest.clone())),
            Param::text(&now.version),
            Param::text(&now.digest),
            Param::OptJson(settings),
            Param::OptText(sealed),
        ];
        self.write(Box::new(move |s| {
            Box::pin(async move {
                let sql = format!(
                    "UPDATE integrations SET plugin_version = ?3, plugin_digest = ?4,
                         settings = COALESCE(?5, settings), sealed_secrets = COALESCE(?6, sealed_secrets)
                     WHERE id = ?1 AND plugin_digest IS NOT DISTINCT FROM ?2
                       AND EXISTS (SELECT 1 FROM plugin_versions v
                                   WHERE v.name = integrations.connector AND v.version = ?3 AND v.digest = ?4{})",
                    s.row_lock(RowLock::Share)
                );
                Ok(s.execute(&sql, &params).await? == 1)
            })
        }))
        .await
    }
}
