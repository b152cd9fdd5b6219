//! Integrations in PostgreSQL.

use super::ingest::dollars;
use super::{PostgresStore, json_at, opt_json_at};
use crate::model::{Integration, NewIntegration, PluginPin, Policy, now};
use crate::store::fleet::schedule_for;
use crate::store::{IntegrationStore, StoreError};
use async_trait::async_trait;
use tokio_postgres::error::SqlState;

const COLUMNS: &str = "id, name, connector, settings, sealed_secrets, created_at, auto_sync_days, auto_onboard, update_metadata, plugin_version, plugin_digest, streams";

fn integration_row(row: &tokio_postgres::Row) -> Result<Integration, StoreError> {
    Ok(Integration {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        connector: row.try_get(2)?,
        settings: json_at(row, 3, "integration settings")?,
        sealed_secrets: row.try_get(4)?,
        created_at: row.try_get(5)?,
        policy: Policy {
            auto_sync_days: u32::try_from(row.try_get::<_, i64>(6)?).unwrap_or(0),
            auto_onboard: row.try_get(7)?,
            update_metadata: row.try_get(8)?,
        },
        plugin: match (row.try_get(9)?, row.try_get(10)?) {
            (Some(version), Some(digest)) => Some(PluginPin { version, digest }),
            _ => None,
        },
        streams: opt_json_at(row, 11, "integration streams")?,
    })
}

#[async_trait]
impl IntegrationStore for PostgresStore {
    async fn add_integration(&self, new: &NewIntegration) -> Result<Integration, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let settings = serde_json::to_value(&new.settings).expect("plain data");
        let streams = new
            .streams
            .as_ref()
            .map(|s| serde_json::to_value(s).expect("plain data"));
        let p = &new.policy;
        let result = tx
            .query_one(
                &format!(
                    "INSERT INTO integrations (name, connector, settings, sealed_secrets, created_at, auto_sync_days, auto_onboard, update_metadata, plugin_version, plugin_digest, streams)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {COLUMNS}"
                ),
                &[&new.name, &new.connector, &settings, &new.sealed_secrets, &now(), &i64::from(p.auto_sync_days), &p.auto_onboard, &p.update_metadata, &new.plugin.version, &new.plugin.digest, &streams],
            )
            .await;
        match result {
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Err(StoreError::Conflict {
                what: format!("integration `{}`", new.name),
            }),
            Err(e) => Err(e.into()),
            Ok(row) => {
                let added = integration_row(&row)?;
                tx.execute(&dollars(schedule_for(p.auto_sync_days)), &[&added.id])
                    .await?;
                tx.commit().await?;
                Ok(added)
            }
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
        let settings = serde_json::to_value(settings).expect("plain data");
        let streams = streams.map(|s| serde_json::to_value(s).expect("plain data"));
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let changed = tx
            .execute(
                "UPDATE integrations SET settings = $2, sealed_secrets = $3, auto_sync_days = $4, auto_onboard = $5, update_metadata = $6, streams = $7 WHERE id = $1",
                &[&id, &settings, &sealed_secrets, &i64::from(policy.auto_sync_days), &policy.auto_onboard, &policy.update_metadata, &streams],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::not_found(format!("integration #{id}")));
        }
        tx.execute(&dollars(schedule_for(policy.auto_sync_days)), &[&id])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn replace_sealed_secrets(
        &self,
        id: i64,
        was: &str,
        now: &str,
    ) -> Result<bool, StoreError> {
        let changed = self
            .client()
            .await?
            .execute(
                "UPDATE integrations SET sealed_secrets = $3 WHERE id = $1 AND sealed_secrets = $2",
                &[&id, &was, &now],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn integration(&self, name: &str) -> Result<Integration, StoreError> {
        let row = self
            .reader()
            .await?
            .query_opt(
                &format!("SELECT {COLUMNS} FROM integrations WHERE name = $1"),
                &[&name],
            )
            .await?
            .ok_or_else(|| StoreError::not_found(format!("integration `{name}`")))?;
        integration_row(&row)
    }

    async fn integrations(&self) -> Result<Vec<Integration>, StoreError> {
        self.reader()
            .await?
            .query(
                &format!("SELECT {COLUMNS} FROM integrations ORDER BY name"),
                &[],
            )
            .await?
            .iter()
            .map(integration_row)
            .collect()
    }

    async fn remove_integration(&self, name: &str) -> Result<(), StoreError> {
        let removed = self
            .client()
            .await?
            .execute("DELETE FROM integrations WHERE name = $1", &[&name])
            .await?;
        match removed {
            0 => Err(StoreError::not_found(format!("integration `{name}`"))),
            _ => Ok(()),
        }
    }
}
