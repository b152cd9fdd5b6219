//! Users and sessions, once for both backends: only hashes of tokens and session ids
//! are stored.

use super::sql::{Backend, Param, Session as _, StoredRow};
use super::{AccessStore, StoreError};
use crate::model::{NewSession, Role, Session, User, now};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// The columns of [`user_row`], from `users`.
const USER_COLUMNS: &str = "SELECT name, role, created_at FROM users";

fn user_row(r: &impl StoredRow) -> Result<User, StoreError> {
    Ok(User {
        name: r.text(0)?,
        role: r.parsed(1)?,
        created_at: r.time(2)?,
    })
}

fn user_missing(name: &str) -> StoreError {
    StoreError::not_found(format!("user `{name}`"))
}

#[async_trait]
impl<B: Backend> AccessStore for B {
    async fn add_user(
        &self,
        name: &str,
        role: Role,
        token_hash: &[u8],
    ) -> Result<User, StoreError> {
        let user = User {
            name: name.to_string(),
            role,
            created_at: now(),
        };
        let params = vec![
            Param::text(name),
            Param::text(role.as_str()),
            Param::Bytes(token_hash.to_vec()),
            Param::Time(user.created_at),
        ];
        let added = self
            .write_one(
                "INSERT INTO users (name, role, token_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                params,
            )
            .await;
        match added {
            Err(e) if e.is_unique_violation() => Err(StoreError::Conflict {
                what: format!("user `{name}`"),
            }),
            Err(e) => Err(e),
            Ok(_) => Ok(user),
        }
    }

    async fn set_user_token(&self, name: &str, token_hash: &[u8]) -> Result<(), StoreError> {
        let (name, token_hash) = (name.to_string(), Param::Bytes(token_hash.to_vec()));
        self.write(Box::new(move |s| {
            Box::pin(async move {
                let who = Param::text(&name);
                let changed = s
                    .execute(
                        "UPDATE users SET token_hash = ?2 WHERE name = ?1",
                        &[who.clone(), token_hash],
                    )
                    .await?;
                if changed == 0 {
                    return Err(user_missing(&name));
                }
                // A new token ends the sessions the old one opened.
                s.execute(
                    "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?1)",
                    &[who],
                )
                .await?;
                Ok(())
            })
        }))
        .await
    }

    async fn remove_user(&self, name: &str) -> Result<(), StoreError> {
        let removed = self
            .write_one("DELETE FROM users WHERE name = ?1", vec![Param::text(name)])
            .await?;
        match removed {
            0 => Err(user_missing(name)),
            _ => Ok(()),
        }
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        self.read(Box::new(|s| {
            Box::pin(async move {
                let rows = s
                    .query(&format!("{USER_COLUMNS} ORDER BY name"), &[])
                    .await?;
                rows.iter().map(user_row).collect()
            })
        }))
        .await
    }

    async fn user_by_token(&self, token_hash: &[u8]) -> Result<Option<User>, StoreError> {
        let token_hash = Param::Bytes(token_hash.to_vec());
        self.read(Box::new(move |s| {
            Box::pin(async move {
                let row = s
                    .query_opt(
                        &format!("{USER_COLUMNS} WHERE token_hash = ?1"),
                        &[token_hash],
                    )
                    .await?;
                row.as_ref().map(user_row).transpose()
            })
        }))
        .await
    }

    async fn create_session(
        &self,
        session: &NewSession,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let session = session.clone();
        self.write(Box::new(move |s| {
            Box::pin(async move {
                s.execute(
                    "DELETE FROM sessions WHERE expires_at < ?1",
                    &[Param::Time(now)],
                )
                .await?;
                let added = s
                    .execute(
                        "INSERT INTO sessions (id_hash, user_id, csrf, expires_at)
                         SELECT ?1, id, ?3, ?4 FROM users WHERE name = ?2",
                        &[
                            Param::Bytes(session.id_hash),
                            Param::text(&session.user),
                            Param::text(session.csrf),
                            Param::Time(session.expires_at),
                        ],
                    )
                    .await?;
                match added {
                    0 => Err(user_missing(&session.user)),
                    _ => Ok(()),
                }
            })
        }))
        .await
    }

    async fn session(
        &self,
        id_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let id_hash = Param::Bytes(id_hash.to_vec());
        self.read(Box::new(move |s| {
            Box::pin(async move {
                let row = s
                    .query_opt(
                        "SELECT u.name, u.role, u.created_at, s.csrf, s.expires_at
                         FROM sessions s JOIN users u ON u.id = s.user_id
                         WHERE s.id_hash = ?1 AND s.expires_at >= ?2",
                        &[id_hash, Param::Time(now)],
                    )
                    .await?;
                row.map(|r| {
                    Ok(Session {
                        user: user_row(&r)?,
                        csrf: r.text(3)?,
                        expires_at: r.time(4)?,
                    })
                })
                .transpose()
            })
        }))
        .await
    }

    async fn delete_session(&self, id_hash: &[u8]) -> Result<(), StoreError> {
        let id_hash = vec![Param::Bytes(id_hash.to_vec())];
        self.write_one("DELETE FROM sessions WHERE id_hash = ?1", id_hash)
            .await?;
        Ok(())
    }
}
