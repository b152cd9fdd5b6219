//! The connector's settings: what it describes to the host, and the checked form the
//! rest of it reads.

use connector_sdk::http::ClientOptions;
use connector_sdk::records::Severity;
use connector_sdk::{ConnectorError, Field, FieldKind, Settings};
use url::Url;

/// GitHub's public API.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// The most alerts GitHub returns in one page.
pub const MAX_PAGE_SIZE: i64 = 100;

/// The settings, in display order.
pub fn schema() -> Vec<Field> {
    vec![
        Field::new(
            "api-url",
            "GitHub API URL",
            "https://api.github.com for GitHub.com; https://HOST/api/v3 for GitHub Enterprise Server.",
            FieldKind::Url,
        )
        .default_value(DEFAULT_API_URL),
        Field::new(
            "organization",
            "Organization",
            "The organization's login, as in https://github.com/LOGIN.",
            FieldKind::Text,
        )
        .required(),
        Field::new(
            "token",
            "Token",
            "A fine-grained token or GitHub App installation token with the repository permission Dependabot alerts (read), or a classic token with security_events (public_repo for public repositories only).",
            FieldKind::Secret,
        )
        .required(),
        Field::new(
            "repositories",
            "Repositories",
            "Optional, comma-separated repository names to limit the sync to. Empty: every repository of the organization the token can see.",
            FieldKind::List,
        ),
        Field::new(
            "severities",
            "Severities",
            "Comma-separated severities to pull: critical, high, medium, low.",
            FieldKind::List,
        )
        .default_value("critical,high,medium,low"),
        Field::new(
            "page-size",
            "Page size",
            "Alerts per page, 1 to 100.",
            FieldKind::Number,
        )
        .default_value("100")
        .range(1, MAX_PAGE_SIZE),
        Field::new(
            "max-requests-per-second",
            "Request rate ceiling",
            "Most API requests a second. GitHub allows 5,000 requests an hour per token and limits bursts; 10 stays well within both.",
            FieldKind::Number,
        )
        .default_value("10")
        .range(1, 100),
        Field::new(
            "max-attempts",
            "Attempts per request",
            "Tries per request in all, the first included, when GitHub throttles, fails with 5xx, times out or drops the connection.",
            FieldKind::Number,
        )
        .default_value("5")
        .range(1, 20),
        Field::new(
            "max-retry-delay-s",
            "Longest wait between attempts",
            "Seconds. When GitHub asks for a longer wait (Retry-After, or a spent rate limit until its reset), the sync fails as rate-limited and the host retries it after that wait.",
            FieldKind::Number,
        )
        .default_value("60")
        .range(1, 900),
        Field::new(
            "request-timeout-s",
            "Request timeout",
            "Seconds one request may take in all, its whole answer included.",
            FieldKind::Number,
        )
        .default_value("60")
        .range(1, 300),
    ]
}

/// Checked settings.
#[derive(Clone, PartialEq, Eq)]
pub struct GithubConfig {
    /// The API base, without a trailing slash.
    pub api_url: String,
    /// The organization's login.
    pub organization: String,
    /// The token. `Debug` never shows it.
    pub token: String,
    /// Repositories to read; empty means the whole organization.
    pub repositories: Vec<String>,
    /// Severities to pull, as GitHub names them.
    pub severities: Vec<Severity>,
    /// Alerts per page.
    pub page_size: u32,
    /// How the HTTP client paces, bounds and retries.
    pub client: ClientOptions,
}

impl std::fmt::Debug for GithubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubConfig")
            .field("api_url", &self.api_url)
            .field("organization", &self.organization)
            .field("token", &"<redacted>")
            .field("repositories", &self.repositories)
            .finish()
    }
}

impl GithubConfig {
    /// Reads key/value entries by [`schema`].
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConnectorError> {
        Self::from_settings(&Settings::parse(&schema(), entries)?)
    }

    /// The configuration `settings` give.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConnectorError> {
        let api_url: Url = settings.url("api-url")?;
        let organization = settings.required("organization")?.to_string();
        if !valid_name(&organization) {
            return Err(ConnectorError::Config(format!(
                "`organization` is not a GitHub login: `{organization}`"
            )));
        }
        let repositories = settings.list("repositories");
        if let Some(bad) = repositories.iter().find(|r| !valid_name(r)) {
            return Err(ConnectorError::Config(format!(
                "`repositories` holds `{bad}`, which is not a repository name (give names without the organization)"
            )));
        }
        let mut severities = Vec::new();
        for name in settings.list("severities") {
            match connector_sdk::records::Severity::parse(&name) {
                Some(s) if s != Severity::Info => severities.push(s),
                _ => {
                    return Err(ConnectorError::Config(format!(
                        "`severities` holds `{name}`; GitHub's are critical, high, medium and low"
                    )));
                }
            }
        }
        if severities.is_empty() {
            return Err(ConnectorError::Config(
                "`severities` must name at least one of critical, high, medium, low".into(),
            ));
        }
        Ok(GithubConfig {
            api_url: api_url.as_str().trim_end_matches('/').to_string(),
            organization,
            token: settings.required("token")?.to_string(),
            repositories,
            severities,
            page_size: settings.number("page-size")?.unsigned_abs() as u32,
            client: ClientOptions::from_settings(settings)?,
        })
    }
}

/// A login or repository name: letters, digits, `-`, `_` and `.`, at most 100 characters.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[(&str, &str)]) -> Result<GithubConfig, ConnectorError> {
        let mut entries = vec![("organization", "acme"), ("token", "ghp_secret")];
        entries.extend_from_slice(extra);
        GithubConfig::from_entries(entries)
    }

    #[test]
    fn defaults_follow_github_com() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.api_url, "https://api.github.com");
        assert_eq!(c.severities.len(), 4);
        assert_eq!(c.page_size, 100);
        assert!(c.repositories.is_empty());
        assert!(!format!("{c:?}").contains("ghp_secret"));
    }

    #[test]
    fn an_enterprise_server_url_keeps_its_path() {
        let c = parse(&[("api-url", "https://ghe.example.com/api/v3/")]).unwrap();
        assert_eq!(c.api_url, "https://ghe.example.com/api/v3");
    }

    #[test]
    fn wrong_values_say_what_is_wrong() {
        for (key, value, says) in [
            ("severities", "high,moderate", "`moderate`"),
            ("severities", "info", "`info`"),
            ("organization", "acme/x", "not a GitHub login"),
            ("repositories", "acme/web", "without the organization"),
            ("page-size", "101", "from 1 to 100"),
        ] {
            let error = parse(&[(key, value)]).unwrap_err();
            assert!(matches!(error, ConnectorError::Config(_)), "{error}");
            assert!(error.to_string().contains(says), "{key}={value}: {error}");
        }
    }
}
