//! Users and sessions in SQLite.

use super::{SqliteStore, parsed_at, time_at};
use crate::model::{NewSession, Role, Session, User, now, time_text};
use crate::store::{AccessStore, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

fn user_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        name: row.get(0)?,
        role: parsed_at(row, 1)?,
        created_at: time_at(row, 2)?,
    })
}

fn user_missing(name: &str) -> StoreError {
    StoreError::not_found(format!("user `{name}`"))
}

#[async_trait]
impl AccessStore for SqliteStore {
    async fn add_user(
        &self,
        name: &str,
        role: Role,
        token_hash: &[u8],
    ) -> Result<User, StoreError> {
        let (name, token_hash) = (name.to_string(), token_hash.to_vec());
        self.call(move |conn| {
            let created_at = now();
            let result = conn.execute(
                "INSERT INTO users (name, role, token_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![name, role.as_str(), token_hash, time_text(created_at)],
            );
            match result {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Err(StoreError::Conflict {
                        what: format!("user `{name}`"),
                    })
                }
                Err(e) => Err(e.into()),
                Ok(_) => Ok(User {
                    name,
                    role,
                    created_at,
                }),
            }
        })
        .await
    }

    async fn set_user_token(&self, name: &str, token_hash: &[u8]) -> Result<(), StoreError> {
        let (name, token_hash) = (name.to_string(), token_hash.to_vec());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let changed = tx.execute(
                "UPDATE users SET token_hash = ?2 WHERE name = ?1",
                params![name, token_hash],
            )?;
            if changed == 0 {
                return Err(user_missing(&name));
            }
            tx.execute(
                "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?1)",
                [&name],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn remove_user(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_string();
        self.call(
            move |conn| match conn.execute("DELETE FROM users WHERE name = ?1", [&name])? {
                0 => Err(user_missing(&name)),
                _ => Ok(()),
            },
        )
        .await
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare("SELECT name, role, created_at FROM users ORDER BY name")?;
            let rows = stmt.query_map([], user_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn user_by_token(&self, token_hash: &[u8]) -> Result<Option<User>, StoreError> {
        let token_hash = token_hash.to_vec();
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT name, role, created_at FROM users WHERE token_hash = ?1",
                    [token_hash],
                    user_row,
                )
                .optional()?)
        })
        .await
    }

    async fn create_session(
        &self,
        session: &NewSession,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let session = session.clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "DELETE FROM sessions WHERE expires_at < ?1",
                [time_text(now)],
            )?;
            let added = tx.execute(
                "INSERT INTO sessions (id_hash, user_id, csrf, expires_at)
                 SELECT ?1, id, ?3, ?4 FROM users WHERE name = ?2",
                params![
                    session.id_hash,
                    session.user,
                    session.csrf,
                    time_text(session.expires_at)
                ],
            )?;
            if added == 0 {
                return Err(user_missing(&session.user));
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn session(
        &self,
        id_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let id_hash = id_hash.to_vec();
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT u.name, u.role, u.created_at, s.csrf, s.expires_at
                     FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.id_hash = ?1 AND s.expires_at >= ?2",
                    params![id_hash, time_text(now)],
                    |r| {
                        Ok(Session {
                            user: user_row(r)?,
                            csrf: r.get(3)?,
                            expires_at: time_at(r, 4)?,
                        })
                    },
                )
                .optional()?)
        })
        .await
    }

    async fn delete_session(&self, id_hash: &[u8]) -> Result<(), StoreError> {
        let id_hash = id_hash.to_vec();
        self.call(move |conn| {
            conn.execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash])?;
            Ok(())
        })
        .await
    }
}
