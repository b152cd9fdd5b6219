//! Which database a `--db` value names: a path or `sqlite://…` for SQLite, or
//! `postgres://…` for PostgreSQL.

use super::StoreError;
use super::postgres::tls::TlsSettings;
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
    /// Whether and how the connection is encrypted (`sslmode`, `sslrootcert`).
    pub tls: TlsSettings,
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
        // The driver knows neither verify-ca, verify-full nor sslrootcert: the TLS
        // settings are read here, and the rest of the URL is the driver's.
        let (tls, driver_url) = tls_of(url.clone());
        let tls = tls.map_err(bad)?;
        let mut config = tokio_postgres::Config::from_str(driver_url.as_str())
            .map_err(|e| bad(format!("malformed PostgreSQL URL ({e})")))?;
        config.ssl_mode(tls.driver_mode());
        let shown = format!(
            "{}:{}/{database}",
            url.host_str().unwrap_or_default(),
            url.port().unwrap_or(5432)
        );
        Ok(StoreTarget::Postgres(Box::new(PostgresTarget {
            config,
            shown,
            tls,
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

/// The TLS settings of a database URL (or why they are wrong), and the URL without them.
/// The other parameters are kept as written: the driver decodes them itself.
fn tls_of(mut url: url::Url) -> (Result<TlsSettings, String>, url::Url) {
    let (mut mode, mut root_cert, mut rest) = (None, None, Vec::new());
    for pair in url.query().unwrap_or_default().split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = || {
            percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned()
        };
        match key {
            "sslmode" => mode = Some(decoded()),
            "sslrootcert" => root_cert = Some(decoded()),
            "" => {}
            _ => rest.push(pair),
        }
    }
    let rest = rest.join("&");
    url.set_query((!rest.is_empty()).then_some(rest.as_str()));
    (
        TlsSettings::parse(mode.as_deref(), root_cert.as_deref()),
        url,
    )
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
    use crate::store::postgres::tls::{Roots, TlsMode};
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
    fn tls_settings_are_read_from_the_url_and_the_rest_goes_to_the_driver() {
        let Ok(StoreTarget::Postgres(pg)) = StoreTarget::parse(
            "postgres://u@db/x?sslmode=verify-full&connect_timeout=7&sslrootcert=/etc/ca.pem",
        ) else {
            panic!("a postgres URL")
        };
        assert_eq!(pg.tls.mode, TlsMode::VerifyFull);
        assert_eq!(pg.tls.roots, Some(Roots::File("/etc/ca.pem".into())));
        assert_eq!(
            pg.config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        assert_eq!(
            pg.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(7))
        );
        let Ok(StoreTarget::Postgres(plain)) = StoreTarget::parse("postgres://u@db/x") else {
            panic!("a postgres URL")
        };
        assert_eq!(plain.tls.mode, TlsMode::Prefer, "libpq's default");
        let e = StoreTarget::parse("postgres://u:s3cret@db/x?sslmode=verify")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sslmode `verify`") && !e.contains("s3cret"),
            "{e}"
        );
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
