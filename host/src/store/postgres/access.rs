//! Users and sessions in PostgreSQL.

use super::{PostgresStore, parsed_at};
use crate::model::{NewSession, Role, Session, User, now};
use crate::store::{AccessStore, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::error::SqlState;

fn user_row(row: &tokio_postgres::Row) -> Result<User, StoreError> {
    Ok(User {
        name: row.try_get(0)?,
        role: parsed_at(row, 1)?,
        created_at: row.try_get(2)?,
    })
}

fn user_missing(name: &str) -> StoreError {
    StoreError::not_found(format!("user `{name}`"))
}

#[async_trait]
impl AccessStore for PostgresStore {
    async fn add_user(
        &self,
        name: &str,
        role: Role,
        token_hash: &[u8],
    ) -> Result<User, StoreError> {
        let created_at = now();
        let result = self
            .client()
            .await?
            .execute(
                "INSERT INTO users (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4)",
                &[&name, &role.as_str(), &token_hash, &created_at],
            )
            .await;
        match result {
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Err(StoreError::Conflict {
                what: format!("user `{name}`"),
            }),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(User {
                name: name.to_string(),
                role,
                created_at,
            }),
        }
    }

    async fn set_user_token(&self, name: &str, token_hash: &[u8]) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "UPDATE users SET token_hash = $2 WHERE name = $1 RETURNING id",
                &[&name, &token_hash],
            )
            .await?
            .ok_or_else(|| user_missing(name))?;
        let id: i64 = row.try_get(0)?;
        tx.execute("DELETE FROM sessions WHERE user_id = $1", &[&id])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_user(&self, name: &str) -> Result<(), StoreError> {
        let removed = self
            .client()
            .await?
            .execute("DELETE FROM users WHERE name = $1", &[&name])
            .await?;
        match removed {
            0 => Err(user_missing(name)),
            _ => Ok(()),
        }
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        self.reader()
            .await?
            .query(
                "SELECT name, role, created_at FROM users ORDER BY name",
                &[],
            )
            .await?
            .iter()
            .map(user_row)
            .collect()
    }

    async fn user_by_token(&self, token_hash: &[u8]) -> Result<Option<User>, StoreError> {
        self.reader()
            .await?
            .query_opt(
                "SELECT name, role, created_at FROM users WHERE token_hash = $1",
                &[&token_hash],
            )
            .await?
            .as_ref()
            .map(user_row)
            .transpose()
    }

    async fn create_session(
        &self,
        session: &NewSession,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("DELETE FROM sessions WHERE expires_at < $1", &[&now])
            .await?;
        let added = tx
            .execute(
                "INSERT INTO sessions (id_hash, user_id, csrf, expires_at)
                 SELECT $1, id, $3, $4 FROM users WHERE name = $2",
                &[
                    &session.id_hash,
                    &session.user,
                    &session.csrf,
                    &session.expires_at,
                ],
            )
            .await?;
        if added == 0 {
            return Err(user_missing(&session.user));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn session(
        &self,
        id_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let row = self
            .reader()
            .await?
            .query_opt(
                "SELECT u.name, u.role, u.created_at, s.csrf, s.expires_at
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.id_hash = $1 AND s.expires_at >= $2",
                &[&id_hash, &now],
            )
            .await?;
        row.map(|r| {
            Ok(Session {
                user: user_row(&r)?,
                csrf: r.try_get(3)?,
                expires_at: r.try_get(4)?,
            })
        })
        .transpose()
    }

    async fn delete_session(&self, id_hash: &[u8]) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute("DELETE FROM sessions WHERE id_hash = $1", &[&id_hash])
            .await?;
        Ok(())
    }
}
