//! Integrations, once for both backends; each keeps its auto-sync schedule in step with
//! its auto-sync days in the same transaction.

use super::fleet::schedule_for;
use super::sql::{Backend, Param, Session, StoredRow};
use super::{IntegrationStore, StoreError};
use crate::model::{Integration, NewIntegration, PluginPin, Policy, now};
use async_trait::async_trait;

/// The columns of [`integration_row`].
const COLUMNS: &str = "id, name, connector, settings, sealed_secrets, created_at, auto_sync_days, auto_onboard, update_metadata, plugin_version, plugin_digest, streams";

fn integration_row(r: &impl StoredRow) -> Result<Integration, StoreError> {
    Ok(Integration {
        id: r.int(0)?,
        name: r.text(1)?,
        connector: r.text(2)?,
        settings: r.json(3, "integration settings")?,
        sealed_secrets: r.text(4)?,
        created_at: r.time(5)?,
        policy: Policy {
            auto_sync_days: u32::try_from(r.int(6)?).unwrap_or(0),
            auto_onboard: r.flag(7)?,
            update_metadata: r.flag(8)?,
        },
        plugin: match (r.opt_text(9)?, r.opt_text(10)?) {
            (Some(version), Some(digest)) => Some(PluginPin { version, digest }),
            _ => None,
        },
        streams: r.opt_json(11, "integration streams")?,
    })
}

/// Settings or streams as stored.
pub(super) fn json_of(value: impl serde::Serialize) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(value).map_err(|e| StoreError::Corrupt {
        what: "integration settings".into(),
        detail: e.to_string(),
    })
}

#[async_trait]
impl<B: Backend> IntegrationStore for B {
    async fn add_integration(&self, new: &NewIntegration) -> Result<Integration, StoreError> {
        let p = &new.policy;
        let params = vec![
            Param::text(&new.name),
            Param::text(&new.connector),
            Param::Json(json_of(&new.settings)?),
            Param::text(&new.sealed_secrets),
            Param::Time(now()),
            Param::Int(i64::from(p.auto_sync_days)),
            Param::Bool(p.auto_onboard),
            Param::Bool(p.update_metadata),
            Param::text(&new.plugin.version),
            Param::text(&new.plugin.digest),
            Param::OptJson(new.streams.as_ref().map(json_of).transpose()?),
        ];
        let schedule = schedule_for(p.auto_sync_days);
        let added = self
            .write(Box::new(move |s| {
                Box::pin(async move {
                    let row = s
                        .query_one(
                            &format!(
                                "INSERT INTO integrations (name, connector, settings, sealed_secrets, created_at, auto_sync_days, auto_onboard,
                                   update_metadata, plugin_version, plugin_digest, streams)
                                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING {COLUMNS}"
                            ),
                            &params,
                        )
                        .await?;
                    let added = integration_row(&row)?;
                    s.execute(schedule, &[Param::Int(added.id)]).await?;
                    Ok(added)
                })
            }))
            .await;
        match added {
            Err(e) if e.is_unique_violation() => Err(StoreError::Conflict {
                what: format!("integration `{}`", new.name),
            }),
            other => other,
        }
    }

    async fn update_integration(
        &self,
        id: i64,
        settings: &[(String, String)],
        sealed_secrets: &str,
        policy: &Policy,
        streams: Option<&[String]>,
    ) -> Result<(), StoreError> {
        let params = [
            Param::Int(id),
            Param::Json(json_of(settings)?),
            Param::text(sealed_secrets),
            Param::Int(i64::from(policy.auto_sync_days)),
            Param::Bool(policy.auto_onboard),
            Param::Bool(policy.update_metadata),
            Param::OptJson(streams.map(json_of).transpose()?),
        ];
        let schedule = schedule_for(policy.auto_sync_days);
        self.write(Box::new(move |s| {
            Box::pin(async move {
                let changed = s
                    .execute(
                        "UPDATE integrations SET settings = ?2, sealed_secrets = ?3, auto_sync_days = ?4, auto_onboard = ?5,
                           update_metadata = ?6, streams = ?7 WHERE id = ?1",
                        &params,
                    )
                    .await?;
                if changed == 0 {
                    return Err(StoreError::not_found(format!("integration #{id}")));
                }
                s.execute(schedule, &[Param::Int(id)]).await?;
                Ok(())
            })
        }))
        .await
    }

    async fn replace_sealed_secrets(
        &self,
        id: i64,
        was: &str,
        now: &str,
    ) -> Result<bool, StoreError> {
        let changed = self
            .write_one(
                "UPDATE integrations SET sealed_secrets = ?3 WHERE id = ?1 AND sealed_secrets = ?2",
                vec![Param::Int(id), Param::text(was), Param::text(now)],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn integration(&self, name: &str) -> Result<Integration, StoreError> {
        let name = name.to_string();
        self.read(Box::new(move |s| {
            Box::pin(async move {
                let row = s
                    .query_opt(
                        &format!("SELECT {COLUMNS} FROM integrations WHERE name = ?1"),
                        &[Param::text(&name)],
                    )
                    .await?
                    .ok_or_else(|| StoreError::not_found(format!("integration `{name}`")))?;
                integration_row(&row)
            })
        }))
        .await
    }

    async fn integrations(&self) -> Result<Vec<Integration>, StoreError> {
        self.read(Box::new(|s| {
            Box::pin(async move {
                let rows = s
                    .query(
                        &format!("SELECT {COLUMNS} FROM integrations ORDER BY name"),
                        &[],
                    )
                    .await?;
                rows.iter().map(integration_row).collect()
            })
        }))
        .await
    }

    async fn remove_integration(&self, name: &str) -> Result<(), StoreError> {
        let removed = self
            .write_one(
                "DELETE FROM integrations WHERE name = ?1",
                vec![Param::text(name)],
            )
            .await?;
        match removed {
            0 => Err(StoreError::not_found(format!("integration `{name}`"))),
            _ => Ok(()),
        }
    }
}
