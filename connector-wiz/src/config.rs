//! The connector's configuration: the schema it describes to the host, and the parsed,
//! validated form the rest of the connector uses.

use connector_sdk::http::ClientOptions;
use connector_sdk::{ConnectorError, Field, FieldKind, Settings};
use url::Url;

/// Default OAuth token endpoint: Wiz's Cognito endpoint, the one SAFE supports.
pub const DEFAULT_AUTH_URL: &str = "https://auth.app.wiz.io/oauth/token";
/// Default and largest page size Wiz accepts for `issuesV2`.
pub const MAX_PAGE_SIZE: u32 = 500;

/// The settings, in display order.
pub fn schema() -> Vec<Field> {
    vec![
        Field::new(
            "api-url",
            "Wiz API URL",
            "API Endpoint URL from Wiz: User Settings > Tenant (for example https://api.us17.app.wiz.io/graphql). With or without /graphql.",
            FieldKind::Url,
        )
        .required(),
        Field::new(
            "client-id",
            "Client ID",
            "Client ID of a Wiz service account of type Custom Integration (GraphQL API) with the read:issues scope.",
            FieldKind::Text,
        )
        .required(),
        Field::new(
            "client-secret",
            "Client Secret",
            "Client Secret of that service account, shown once when it is created.",
            FieldKind::Secret,
        )
        .required(),
        Field::new(
            "project-ids",
            "Project IDs",
            "Optional, comma-separated Wiz project ids to limit the sync to. Empty: every project the service account can see.",
            FieldKind::List,
        ),
        Field::new(
            "auth-url",
            "Token URL",
            "OAuth token endpoint. The audience is chosen from it (wiz-api for Cognito, beyond-api for the legacy Auth0 endpoints).",
            FieldKind::Url,
        )
        .default_value(DEFAULT_AUTH_URL),
        Field::new(
            "page-size",
            "Page size",
            "Issues per GraphQL page, 1 to 500. Lower it if pages time out.",
            FieldKind::Number,
        )
        .default_value("500")
        .range(1, MAX_PAGE_SIZE as i64),
        Field::new(
            "max-requests-per-second",
            "Request rate ceiling",
            "Most API requests a second; Wiz does not publish its limits, and 3 is what most integrations use.",
            FieldKind::Number,
        )
        .default_value("3")
        .range(1, 1000),
        Field::new(
            "max-attempts",
            "Attempts per request",
            "Tries per request in all, the first included, when Wiz throttles, fails with 5xx, times out, drops the connection or refuses a stale token; failed token requests on the way count too.",
            FieldKind::Number,
        )
        .default_value("5")
        .range(1, 20),
        Field::new(
            "max-retry-delay-s",
            "Longest wait between attempts",
            "Cap in seconds on the exponential backoff. When Wiz asks for a longer wait (Retry-After), the request fails as rate-limited instead of retrying early.",
            FieldKind::Number,
        )
        .default_value("60")
        .range(1, 900),
        Field::new(
            "request-timeout-s",
            "Request timeout",
            "Seconds one request may take in all, its whole answer included; Wiz's gateway cuts requests at about 120 s.",
            FieldKind::Number,
        )
        .default_value("100")
        .range(1, 115),
    ]
}

/// A parsed and validated configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct WizConfig {
    /// The GraphQL endpoint, always ending in `/graphql`.
    pub graphql_url: String,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret. Never logged: `Debug` redacts it.
    pub client_secret: String,
    /// Projects to sync; empty means all.
    pub project_ids: Vec<String>,
    /// OAuth token endpoint.
    pub auth_url: String,
    /// OAuth audience for that endpoint.
    pub audience: &'static str,
    /// Issues per page.
    pub page_size: u32,
    /// Base of portal links (`https://app.wiz.io` or `https://app.wiz.us`).
    pub portal_base: &'static str,
    /// Pacing, retries and timeouts of the HTTP client.
    pub client: ClientOptions,
}

impl std::fmt::Debug for WizConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WizConfig")
            .field("graphql_url", &self.graphql_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("project_ids", &self.project_ids)
            .field("auth_url", &self.auth_url)
            .field("page_size", &self.page_size)
            .finish()
    }
}

impl WizConfig {
    /// Reads key/value entries as the host passes them, by [`schema`] (unknown keys are
    /// refused, so a typo does not silently fall back to a default).
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConnectorError> {
        Self::from_settings(&Settings::parse(&schema(), entries)?)
    }

    /// The configuration `settings` (checked by [`schema`]) give.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConnectorError> {
        let graphql_url = graphql_endpoint(settings.url("api-url")?);
        let auth_url = settings.url("auth-url")?;
        let number = |key: &str| -> Result<u64, ConnectorError> {
            // Each number's range starts at 1 or more, checked by the schema.
            Ok(settings.number(key)?.unsigned_abs())
        };
        Ok(WizConfig {
            portal_base: portal_base(&graphql_url),
            audience: audience_for(&auth_url),
            graphql_url: graphql_url.to_string(),
            auth_url: auth_url.to_string(),
            client_id: settings.required("client-id")?.to_string(),
            client_secret: settings.required("client-secret")?.to_string(),
            project_ids: settings.list("project-ids"),
            page_size: number("page-size")? as u32,
            client: ClientOptions::from_settings(settings)?,
        })
    }
}

impl WizConfig {
    /// What to page through: each configured project, or `None` once for all projects.
    pub fn project_scopes(&self) -> Vec<Option<String>> {
        if self.project_ids.is_empty() {
            vec![None]
        } else {
            self.project_ids.iter().cloned().map(Some).collect()
        }
    }
}

/// The GraphQL endpoint for an API URL given with or without `/graphql`.
fn graphql_endpoint(mut url: Url) -> Url {
    let path = url.path().trim_end_matches('/').to_string();
    if path.ends_with("/graphql") {
        url.set_path(&path);
    } else {
        url.set_path(&format!("{path}/graphql"));
    }
    url
}

/// The OAuth audience for a token endpoint (see wiz-api.md): the legacy Auth0 endpoints
/// take `beyond-api`; Cognito endpoints, and any other host, take `wiz-api`.
pub fn audience_for(auth_url: &Url) -> &'static str {
    match auth_url.host_str() {
        Some("auth.wiz.io") | Some("auth0.gov.wiz.io") => "beyond-api",
        _ => "wiz-api",
    }
}

/// Portal base URL for a tenant: Wiz for Gov tenants live under `wiz.us`.
fn portal_base(graphql_url: &Url) -> &'static str {
    match graphql_url.host_str() {
        Some(h) if h.ends_with(".wiz.us") => "https://app.wiz.us",
        _ => "https://app.wiz.io",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[(&str, &str)]) -> Result<WizConfig, ConnectorError> {
        let mut entries = vec![
            ("api-url", "https://api.us17.app.wiz.io"),
            ("client-id", "id"),
            ("client-secret", "s3cret"),
        ];
        entries.extend_from_slice(extra);
        WizConfig::from_entries(entries)
    }

    #[test]
    fn defaults_and_graphql_suffix() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.graphql_url, "https://api.us17.app.wiz.io/graphql");
        assert_eq!(c.auth_url, DEFAULT_AUTH_URL);
        assert_eq!(c.audience, "wiz-api");
        assert_eq!(c.page_size, 500);
        assert!(c.project_ids.is_empty());
        assert_eq!(c.portal_base, "https://app.wiz.io");
        assert_eq!(c.client.max_requests_per_second, 3);
        assert_eq!(c.client.retry.max_attempts, 5);
        assert_eq!(
            c.client.request_timeout,
            std::time::Duration::from_secs(100)
        );
    }

    #[test]
    fn resilience_settings_are_ranged() {
        let c = parse(&[
            ("max-attempts", "2"),
            ("max-retry-delay-s", "5"),
            ("request-timeout-s", "3"),
            ("max-requests-per-second", "50"),
        ])
        .unwrap();
        assert_eq!(
            (
                c.client.retry.max_attempts,
                c.client.retry.max_delay.as_secs(),
                c.client.request_timeout.as_secs(),
                c.client.max_requests_per_second
            ),
            (2, 5, 3, 50)
        );
        for (key, bad) in [
            ("max-attempts", "0"),
            ("request-timeout-s", "120"),
            ("max-requests-per-second", "0"),
            ("max-retry-delay-s", "x"),
        ] {
            assert!(
                parse(&[(key, bad)]).unwrap_err().to_string().contains(key),
                "{key}={bad}"
            );
        }
    }

    #[test]
    fn api_url_with_graphql_is_kept() {
        let c = parse(&[("api-url", "https://api.eu1.app.wiz.us/graphql/")]).unwrap();
        assert_eq!(c.graphql_url, "https://api.eu1.app.wiz.us/graphql");
        assert_eq!(c.portal_base, "https://app.wiz.us");
    }

    #[test]
    fn audience_follows_token_url() {
        for (url, audience) in [
            ("https://auth.app.wiz.io/oauth/token", "wiz-api"),
            ("https://auth.app.wiz.us/oauth/token", "wiz-api"),
            ("https://auth.gov.wiz.io/oauth/token", "wiz-api"),
            ("https://auth.wiz.io/oauth/token", "beyond-api"),
            ("https://auth0.gov.wiz.io/oauth/token", "beyond-api"),
        ] {
            assert_eq!(
                parse(&[("auth-url", url)]).unwrap().audience,
                audience,
                "{url}"
            );
        }
    }

    #[test]
    fn project_ids_are_split_trimmed_and_deduplicated() {
        let c = parse(&[("project-ids", " a, b,,a ,c ")]).unwrap();
        assert_eq!(c.project_ids, ["a", "b", "c"]);
    }

    #[test]
    fn page_size_range_is_enforced() {
        assert_eq!(parse(&[("page-size", "1")]).unwrap().page_size, 1);
        for bad in ["0", "501", "1000", "-3", "ten"] {
            let err = parse(&[("page-size", bad)]).unwrap_err();
            assert!(
                matches!(err, ConnectorError::Config(ref m) if m.contains("page-size")),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn missing_and_bad_values_are_config_errors() {
        let err = WizConfig::from_entries([("api-url", "https://x")]).unwrap_err();
        assert_eq!(
            err,
            ConnectorError::Config("`client-id` is required".into())
        );
        let err = parse(&[("api-url", "not a url")]).unwrap_err();
        assert!(err.to_string().contains("api-url"), "{err}");
        let err = parse(&[("api-url", "ftp://host")]).unwrap_err();
        assert!(err.to_string().contains("http(s)"), "{err}");
        let err = parse(&[("colour", "blue")]).unwrap_err();
        assert!(
            err.to_string().contains("unknown setting `colour`"),
            "{err}"
        );
    }

    #[test]
    fn debug_redacts_the_secret() {
        let c = parse(&[]).unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
