//! Which database a `--db` value names: a path or `sqlite://…` for SQLite, or
//! `postgres://…` for PostgreSQL.

use super::StoreError;
use std::path::PathBuf;
use std::str::FromStr;

/// A parsed `--db` value.
#[derive(Debug, Clone)]
pub enum StoreTarget {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(Box<PostgresTarget>),
}

/// A PostgreSQL database to connect to.
#[derive(Debug, Clone)]
pub struct PostgresTarget {
    /// The driver's settings, credentials included.
    pub config: tokio_postgres::Config,
    /// `host:port/database`, for messages: never the user or password.
    pub shown: String,
}

impl StoreTarget {
    /// Parses a `--db` value.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let bad = |reason: String| StoreError::BadTarget {
            shown: mask_password(text),
            reason,
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(bad("is empty; give a file path or a postgres:// URL".into()));
        }
        if let Some(rest) = text.strip_prefix("sqlite://") {
            if rest.is_empty() {
                return Err(bad("names no file (sqlite://PATH)".into()));
            }
            return Ok(StoreTarget::Sqlite(PathBuf::from(rest)));
        }
        let Some((scheme, _)) = text.split_once("://") else {
            return Ok(StoreTarget::Sqlite(PathBuf::from(text)));
        };
        if !matches!(scheme, "postgres" | "postgresql") {
            return Err(bad(format!(
                "unknown scheme `{scheme}`; use a file path, sqlite://PATH or postgres://USER@HOST:PORT/DATABASE"
            )));
        }
        let url = url::Url::parse(text).map_err(|e| bad(format!("malformed URL ({e})")))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad(
                "names no host (postgres://USER@HOST:PORT/DATABASE)".into()
            ));
        }
        let database = url.path().trim_start_matches('/');
        if database.is_empty() {
            return Err(bad(
                "names no database (postgres://USER@HOST:PORT/DATABASE)".into(),
            ));
        }
        let config = tokio_postgres::Config::from_str(text)
            .map_err(|e| bad(format!("malformed PostgreSQL URL ({e})")))?;
        if matches!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        ) {
            return Err(bad(
                "sslmode=require: this host connects without TLS so far; use a local socket, a tunnel, or sslmode=disable".into(),
            ));
        }
        let shown = format!(
            "{}:{}/{database}",
            url.host_str().unwrap_or_default(),
            url.port().unwrap_or(5432)
        );
        Ok(StoreTarget::Postgres(Box::new(PostgresTarget {
            config,
            shown,
        })))
    }

    /// Where the key that seals secrets lives when none is given: beside a SQLite file,
    /// or in the user's config folder for a database URL (never a name derived from it).
    pub fn default_key_file(&self) -> PathBuf {
        match self {
            StoreTarget::Sqlite(path) => path.with_extension("key"),
            StoreTarget::Postgres(_) => user_config_dir().join("connector-host").join("secret.key"),
        }
    }
}

/// `$XDG_CONFIG_HOME`, `~/.config`, or the temp folder.
fn user_config_dir() -> PathBuf {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(std::env::temp_dir)
}

/// The text with the password of a URL replaced by `***`.
fn mask_password(text: &str) -> String {
    match url::Url::parse(text.trim()) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Ok(_) => text.trim().to_string(),
        // Unparseable: hide everything between `://` and `@`, where a password would be.
        Err(_) => match (text.find("://"), text.rfind('@')) {
            (Some(start), Some(at)) if at > start => {
                format!("{}://***{}", &text[..start], &text[at..])
            }
            _ => text.trim().to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn paths_and_urls() {
        assert!(
            matches!(StoreTarget::parse("host.db"), Ok(StoreTarget::Sqlite(p)) if p == Path::new("host.db"))
        );
        assert!(
            matches!(StoreTarget::parse("sqlite:///var/lib/h.db"), Ok(StoreTarget::Sqlite(p)) if p == Path::new("/var/lib/h.db"))
        );
        let Ok(StoreTarget::Postgres(pg)) =
            StoreTarget::parse("postgres://app:s3cret@db.internal:6543/connector")
        else {
            panic!("a postgres URL")
        };
        assert_eq!(pg.shown, "db.internal:6543/connector");
        assert_eq!(pg.config.get_password(), Some(&b"s3cret"[..]));
    }

    #[test]
    fn bad_values_are_named_without_their_password() {
        for (text, expected) in [
            ("mysql://u@h/db", "unknown scheme `mysql`"),
            ("postgres://app:s3cret@/connector", "host"),
            ("postgres://app:s3cret@db:5432", "names no database"),
            ("postgres://app:s3cret@db:notaport/x", "malformed URL"),
            ("sqlite://", "names no file"),
            ("  ", "is empty"),
        ] {
            let e = StoreTarget::parse(text).unwrap_err().to_string();
            assert!(e.contains(expected), "{text}: {e}");
            assert!(!e.contains("s3cret"), "{text}: {e}");
        }
    }

    #[test]
    fn a_database_url_keeps_its_key_in_the_config_folder() {
        let pg = StoreTarget::parse("postgres://u@h/db").unwrap();
        assert!(pg.default_key_file().ends_with("connector-host/secret.key"));
        let file = StoreTarget::parse("data/h.db").unwrap();
        assert_eq!(
            file.default_key_file(),
            Path::new("data/h.db").with_extension("key")
        );
    }
}
