//! Integrations in SQLite.

use super::{SqliteStore, json_at, opt_json_at, time_at};
use crate::model::{Integration, NewIntegration, PluginPin, Policy, now, time_text};
use crate::policy::hash::json;
use crate::store::fleet::schedule_for;
use crate::store::{IntegrationStore, StoreError};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

const COLUMNS: &str = "id, name, connector, settings, sealed_secrets, created_at, auto_sync_days, auto_onboard, update_metadata, plugin_version, plugin_digest, streams";

fn integration_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Integration> {
    Ok(Integration {
        id: row.get(0)?,
        name: row.get(1)?,
        connector: row.get(2)?,
        settings: json_at(row, 3)?,
        sealed_secrets: row.get(4)?,
        created_at: time_at(row, 5)?,
        policy: Policy {
            auto_sync_days: row.get(6)?,
            auto_onboard: row.get(7)?,
            update_metadata: row.get(8)?,
        },
        plugin: match (row.get(9)?, row.get(10)?) {
            (Some(version), Some(digest)) => Some(PluginPin { version, digest }),
            _ => None,
        },
        streams: opt_json_at(row, 11)?,
    })
}

fn by_name(conn: &rusqlite::Connection, name: &str) -> Result<Integration, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM integrations WHERE name = ?1"),
        [name],
        integration_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::not_found(format!("integration `{name}`")))
}

#[async_trait]
impl IntegrationStore for SqliteStore {
    async fn add_integration(&self, new: &NewIntegration) -> Result<Integration, StoreError> {
        let new = new.clone();
        self.call(move |conn| {
            let p = &new.policy;
            let tx = conn.transaction()?;
            let result = tx.execute(
                "INSERT INTO integrations (name, connector, settings, sealed_secrets, created_at, auto_sync_days, auto_onboard, update_metadata, plugin_version, plugin_digest, streams)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![new.name, new.connector, json(&new.settings), new.sealed_secrets, time_text(now()), p.auto_sync_days, p.auto_onboard, p.update_metadata, new.plugin.version, new.plugin.digest, new.streams.as_ref().map(json)],
            );
            match result {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Err(StoreError::Conflict {
                        what: format!("integration `{}`", new.name),
                    })
                }
                Err(e) => Err(e.into()),
                Ok(_) => {
                    let added = by_name(&tx, &new.name)?;
                    tx.execute(schedule_for(p.auto_sync_days), [added.id])?;
                    tx.commit()?;
                    Ok(added)
                }
            }
        })
        .await
    }

    async fn update_integration(
        &self,
        id: i64,
        settings: &[(String, String)],
        sealed_secrets: &str,
        policy: &Policy,
        streams: Option<&[String]>,
    ) -> Result<(), StoreError> {
        let (settings, sealed, p) = (json(settings), sealed_secrets.to_string(), *policy);
        let streams = streams.map(json);
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let changed = tx.execute(
                "UPDATE integrations SET settings = ?2, sealed_secrets = ?3, auto_sync_days = ?4, auto_onboard = ?5, update_metadata = ?6, streams = ?7 WHERE id = ?1",
                params![id, settings, sealed, p.auto_sync_days, p.auto_onboard, p.update_metadata, streams],
            )?;
            if changed == 0 {
                return Err(StoreError::not_found(format!("integration #{id}")));
            }
            tx.execute(schedule_for(p.auto_sync_days), [id])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn replace_sealed_secrets(
        &self,
        id: i64,
        was: &str,
        now: &str,
    ) -> Result<bool, StoreError> {
        let (was, now) = (was.to_string(), now.to_string());
        self.call(move |conn| {
            let changed = conn.execute(
                "UPDATE integrations SET sealed_secrets = ?3 WHERE id = ?1 AND sealed_secrets = ?2",
                params![id, was, now],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn integration(&self, name: &str) -> Result<Integration, StoreError> {
        let name = name.to_string();
        self.read(move |conn| by_name(conn, &name)).await
    }

    async fn integrations(&self) -> Result<Vec<Integration>, StoreError> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare(&format!("SELECT {COLUMNS} FROM integrations ORDER BY name"))?;
            let rows = stmt.query_map([], integration_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn remove_integration(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_string();
        self.call(move |conn| {
            match conn.execute("DELETE FROM integrations WHERE name = ?1", [&name])? {
                0 => Err(StoreError::not_found(format!("integration `{name}`"))),
                _ => Ok(()),
            }
        })
        .await
    }
}
