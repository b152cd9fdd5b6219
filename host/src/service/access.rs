//! Access: the users of the console and the HTTP API, their tokens, and console sessions.
//! Tokens and session ids are random 256-bit values; the store keeps only their SHA-256
//! hashes, and no text the host writes ever holds one, except the admin token file
//! (mode 0600) that exists to hand the admin token to its owner.

use super::{Platform, ServiceError};
use crate::model::{NewSession, Role, Session, User, now};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Duration;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// Environment variable that sets the admin token instead of the token file.
pub const ADMIN_TOKEN_ENV: &str = "CONNECTOR_HOST_ADMIN_TOKEN";
/// The name of the user the host creates on first start.
pub const ADMIN: &str = "admin";
/// What every token starts with, so a leaked one is recognisable (secret scanners).
const TOKEN_PREFIX: &str = "cht_";
/// The shortest token there is: an admin token from the environment or the token file
/// must be this long, and a shorter bearer token is refused unread.
const MIN_TOKEN: usize = 16;

/// The access service.
pub struct Access<'a> {
    pub(super) platform: &'a Platform,
}

/// A credential: shown once to whoever asked for it, then only its hash remains.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    fn generate(prefix: &str) -> Token {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source works");
        Token(format!("{prefix}{}", B64.encode(bytes)))
    }

    /// The token's text, to hand to its owner.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(********)")
    }
}

/// The hash under which a token or session id is stored.
fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Where the admin token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminToken {
    /// [`ADMIN_TOKEN_ENV`].
    Environment,
    /// This file, created now.
    Created(PathBuf),
    /// This file, as it was.
    File(PathBuf),
}

/// A console login: the id goes into the browser's cookie, never into the store.
#[derive(Debug, Clone)]
pub struct Login {
    /// The cookie's value.
    pub session_id: Token,
    /// The session.
    pub session: Session,
}

/// A user name: letters, digits and `.`, `_`, `@`, `-`, at most 64.
fn check_name(name: &str) -> Result<(), ServiceError> {
    let fine = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c));
    match fine {
        true => Ok(()),
        false => Err(ServiceError::BadUserName(name.to_string())),
    }
}

impl Access<'_> {
    /// The file that holds the admin token: beside the key file.
    pub fn admin_token_file(&self) -> PathBuf {
        self.platform.key_file.with_extension("admin-token")
    }

    /// Makes sure the admin user exists with the admin token: the one
    /// [`ADMIN_TOKEN_ENV`] sets, else the token file's, else a new one written to that
    /// file. Says where the token is; never the token.
    pub async fn bootstrap_admin(&self) -> Result<AdminToken, ServiceError> {
        let file = self.admin_token_file();
        let (token, source) = match std::env::var(ADMIN_TOKEN_ENV) {
            Ok(text) if text.trim().len() >= MIN_TOKEN => {
                (Token(text.trim().to_string()), AdminToken::Environment)
            }
            Ok(_) => return Err(ServiceError::WeakAdminToken),
            Err(_) if file.exists() => {
                let text =
                    crate::private_file::read(&file).map_err(|source| ServiceError::TokenFile {
                        path: file.clone(),
                        source,
                    })?;
                if text.trim().len() < MIN_TOKEN {
                    return Err(ServiceError::WeakTokenFile(file));
                }
                (Token(text.trim().to_string()), AdminToken::File(file))
            }
            Err(_) => {
                let token = Token::generate(TOKEN_PREFIX);
                crate::private_file::create(&file, token.0.as_bytes()).map_err(|source| {
                    ServiceError::TokenFile {
                        path: file.clone(),
                        source,
                    }
                })?;
                (token, AdminToken::Created(file))
            }
        };
        let store = self.platform.store();
        let hashed = hash(&token.0);
        match store.user_by_token(&hashed).await? {
            Some(user) if user.name == ADMIN && user.role == Role::Admin => {}
            Some(user) => return Err(ServiceError::TokenTaken(user.name)),
            None => match store.users().await?.into_iter().find(|u| u.name == ADMIN) {
                Some(user) if user.role != Role::Admin => {
                    return Err(ServiceError::TokenTaken(user.name));
                }
                Some(_) => store.set_user_token(ADMIN, &hashed).await?,
                None => {
                    store.add_user(ADMIN, Role::Admin, &hashed).await?;
                }
            },
        }
        Ok(source)
    }

    /// Adds a user with a new token, returned once.
    pub async fn add_user(&self, name: &str, role: Role) -> Result<(User, Token), ServiceError> {
        check_name(name)?;
        let token = Token::generate(TOKEN_PREFIX);
        let user = self
            .platform
            .store()
            .add_user(name, role, &hash(&token.0))
            .await?;
        Ok((user, token))
    }

    /// Gives a user a new token and ends the user's sessions. The admin's goes to the
    /// token file (and `None` is returned); anyone else's is returned once.
    pub async fn rotate(&self, name: &str) -> Result<Option<Token>, ServiceError> {
        let token = Token::generate(TOKEN_PREFIX);
        if name == ADMIN && std::env::var_os(ADMIN_TOKEN_ENV).is_some() {
            return Err(ServiceError::AdminTokenFromEnvironment);
        }
        let store = self.platform.store();
        store.set_user_token(name, &hash(&token.0)).await?;
        if name != ADMIN {
            return Ok(Some(token));
        }
        let file = self.admin_token_file();
        crate::private_file::replace(&file, token.0.as_bytes())
            .map_err(|source| ServiceError::TokenFile { path: file, source })?;
        Ok(None)
    }

    /// Removes a user; the admin stays.
    pub async fn remove_user(&self, name: &str) -> Result<(), ServiceError> {
        if name == ADMIN {
            return Err(ServiceError::KeepAdmin);
        }
        Ok(self.platform.store().remove_user(name).await?)
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<User>, ServiceError> {
        Ok(self.platform.store().users().await?)
    }

    /// The user a bearer token belongs to. A token too short to be one (an empty one
    /// above all) is refused without looking anything up.
    pub async fn authenticate(&self, token: &str) -> Result<User, ServiceError> {
        if token.trim().len() < MIN_TOKEN {
            return Err(ServiceError::Unauthenticated);
        }
        self.platform
            .store()
            .user_by_token(&hash(token.trim()))
            .await?
            .ok_or(ServiceError::Unauthenticated)
    }

    /// A new session for `user` (authenticated by [`authenticate`](Self::authenticate))
    /// that lasts `lifetime`.
    pub async fn login(&self, user: User, lifetime: Duration) -> Result<Login, ServiceError> {
        let session_id = Token::generate("");
        let csrf = Token::generate("").0;
        let at = now();
        let new = NewSession {
            id_hash: hash(&session_id.0),
            user: user.name.clone(),
            csrf: csrf.clone(),
            expires_at: at + lifetime,
        };
        self.platform.store().create_session(&new, at).await?;
        Ok(Login {
            session_id,
            session: Session {
                user,
                csrf,
                expires_at: new.expires_at,
            },
        })
    }

    /// The live session a cookie names.
    pub async fn session(&self, session_id: &str) -> Result<Session, ServiceError> {
        self.platform
            .store()
            .session(&hash(session_id), now())
            .await?
            .ok_or(ServiceError::Unauthenticated)
    }

    /// Ends the session a cookie names.
    pub async fn logout(&self, session_id: &str) -> Result<(), ServiceError> {
        Ok(self
            .platform
            .store()
            .delete_session(&hash(session_id))
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_never_printed_by_debug() {
        let (a, b) = (Token::generate(TOKEN_PREFIX), Token::generate(TOKEN_PREFIX));
        assert_ne!(a, b);
        assert!(a.reveal().starts_with(TOKEN_PREFIX));
        assert_eq!(a.reveal().len(), TOKEN_PREFIX.len() + 43, "256 bits");
        assert!(!format!("{a:?}").contains(a.reveal()));
        assert_eq!(hash(a.reveal()).len(), 32);
    }

    #[test]
    fn user_names_are_plain() {
        for good in ["alice", "ci-bot", "a.b_c@example.com"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "has space", "semi;colon", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
