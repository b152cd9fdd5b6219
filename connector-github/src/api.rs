//! GitHub's REST API over the SDK's client: the headers GitHub asks for (a pinned
//! `X-GitHub-Api-Version`), its rate limits read as GitHub documents them, paging by the
//! `Link` header, and every answer classified into data or a typed error.

use crate::config::GithubConfig;
use connector_sdk::ConnectorError;
use connector_sdk::http::{
    Assessment, Client, Request, Response, Transport, retryable_status, seconds_until,
};
use std::time::{Duration, SystemTime};

/// The REST API version the connector is written against.
pub const API_VERSION: &str = "2022-11-28";
/// How long to wait on a secondary limit that names no wait: GitHub says at least a minute.
const SECONDARY_LIMIT_WAIT_S: u32 = 60;

/// A client of one organization's API.
pub struct GithubApi<T> {
    http: Client<T>,
    config: GithubConfig,
}

impl<T: Transport> GithubApi<T> {
    /// A client sending through `transport`.
    pub fn new(transport: T, config: GithubConfig) -> Self {
        GithubApi {
            http: Client::new(transport, config.client),
            config,
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &GithubConfig {
        &self.config
    }

    /// The wall clock of the transport (for watermarks).
    pub fn now(&self) -> SystemTime {
        self.http.transport().wall_clock()
    }

    /// GETs `url` (retrying what GitHub says may pass), and returns a success's answer or
    /// the typed error of any other. `what` names the request in errors.
    pub async fn get(&self, url: &str, what: &str) -> Result<Response, ConnectorError> {
        let request = Request::get(url)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", API_VERSION)
            .header("authorization", &format!("Bearer {}", self.config.token))
            .header(
                "user-agent",
                concat!("connector-github/", env!("CARGO_PKG_VERSION")),
            );
        let response = self.http.send(&request, what, assess).await?;
        match response.status {
            200..=299 => Ok(response),
            _ => Err(error_for(&response, what, self.now())),
        }
    }

    /// The first page of alerts of one repository (`Some(name)`) or of the organization,
    /// sorted by `updated` in `direction`, of the configured severities, every state.
    pub fn alerts_url(&self, repository: Option<&str>, direction: &str) -> String {
        let c = &self.config;
        let base = match repository {
            Some(repo) => format!(
                "{}/repos/{}/{repo}/dependabot/alerts",
                c.api_url, c.organization
            ),
            None => format!("{}/orgs/{}/dependabot/alerts", c.api_url, c.organization),
        };
        let severities: Vec<&str> = c.severities.iter().map(|s| s.as_str()).collect();
        format!(
            "{base}?state=auto_dismissed,dismissed,fixed,open&severity={}&sort=updated&direction={direction}&per_page={}",
            severities.join(","),
            c.page_size
        )
    }
}

/// Whether GitHub's answer says a rate limit was hit (primary or secondary), and the wait
/// it asks for: `retry-after`, else until `x-ratelimit-reset` when nothing remains, else
/// a minute.
pub fn rate_limit_wait(response: &Response, now: SystemTime) -> Option<u32> {
    if !matches!(response.status, 403 | 429) {
        return None;
    }
    if let Some(wait) = response.retry_after(now) {
        return Some(wait);
    }
    if response.header("x-ratelimit-remaining").map(str::trim) == Some("0") {
        let reset = response
            .header("x-ratelimit-reset")
            .and_then(|r| r.trim().parse::<u64>().ok())
            .map(|epoch| SystemTime::UNIX_EPOCH + Duration::from_secs(epoch));
        return Some(reset.map_or(SECONDARY_LIMIT_WAIT_S, |at| seconds_until(at, now)));
    }
    let message = message(response).to_ascii_lowercase();
    (response.status == 429 || message.contains("rate limit")).then_some(SECONDARY_LIMIT_WAIT_S)
}

/// What an answer means for its request: rate limits and server errors are tried again.
pub fn assess(response: &Response, now: SystemTime) -> Assessment {
    if let Some(wait) = rate_limit_wait(response, now) {
        return Assessment::Retry(Some(wait));
    }
    match retryable_status(response.status) {
        true => Assessment::Retry(response.retry_after(now)),
        false => Assessment::Done,
    }
}

/// GitHub's `message` in an error body, or the start of the body.
fn message(response: &Response) -> String {
    serde_json::from_slice::<serde_json::Value>(&response.body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| response.body_excerpt(200))
}

/// The typed error of an answer that is not a success.
pub fn error_for(response: &Response, what: &str, now: SystemTime) -> ConnectorError {
    let said = message(response);
    if let Some(wait) = rate_limit_wait(response, now) {
        return ConnectorError::RateLimited {
            retry_after_seconds: Some(wait),
            message: format!("{what}: GitHub's rate limit ({said})"),
        };
    }
    match response.status {
        401 => ConnectorError::Auth(format!(
            "{what}: GitHub refused the token ({said}); check it has not expired or been revoked"
        )),
        403 => ConnectorError::Permission(format!(
            "{what}: {said}; give the token the Dependabot alerts (read) permission on the organization's repositories (security_events for a classic token)"
        )),
        404 => ConnectorError::Config(format!(
            "{what}: 404 Not Found; check the organization's login (and repository names), and that the token can see them"
        )),
        400 | 422 => ConnectorError::Config(format!("{what}: GitHub refused the request ({said})")),
        s if s >= 500 => ConnectorError::Transient(format!("{what}: GitHub answered HTTP {s}")),
        s => ConnectorError::Protocol(format!("{what}: unexpected HTTP {s} ({said})")),
    }
}

/// The `rel="next"` URL of a `Link` header, as given. URLs may hold commas (GitHub's
/// own do, in `state=open,fixed`), so entries are read by their `<…>`, not split on
/// commas.
pub fn next_link(response: &Response) -> Option<String> {
    let mut rest = response.header("link")?;
    while let Some(open) = rest.find('<') {
        let close = open + rest[open..].find('>')?;
        let url = &rest[open + 1..close];
        let after = &rest[close + 1..];
        let params_end = after.find('<').unwrap_or(after.len());
        let is_next = after[..params_end]
            .split([';', ','])
            .map(str::trim)
            .any(|p| p == "rel=\"next\"" || p == "rel=next");
        if is_next {
            return Some(url.to_string());
        }
        rest = &after[params_end..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    #[test]
    fn the_next_link_is_taken_as_given() {
        let r = Response::new(200, "[]").with_header(
            "Link",
            "<https://api.github.com/x?before=b>; rel=\"prev\", <https://api.github.com/orgs/a/dependabot/alerts?state=open,fixed&per_page=2&after=Y3Vy>; rel=\"next\"",
        );
        assert_eq!(
            next_link(&r).as_deref(),
            Some(
                "https://api.github.com/orgs/a/dependabot/alerts?state=open,fixed&per_page=2&after=Y3Vy"
            ),
            "a URL with commas is read whole"
        );
        let last =
            Response::new(200, "[]").with_header("link", "<https://x/p?before=b>; rel=\"prev\"");
        assert_eq!(next_link(&last), None);
        assert_eq!(next_link(&Response::new(200, "[]")), None);
    }

    #[test]
    fn rate_limits_are_read_as_github_documents_them() {
        let body = r#"{"message":"API rate limit exceeded for user ID 1."}"#;
        let primary = Response::new(403, body)
            .with_header("x-ratelimit-remaining", "0")
            .with_header("x-ratelimit-reset", "1800000090");
        assert_eq!(rate_limit_wait(&primary, now()), Some(90));
        let secondary = Response::new(
            403,
            r#"{"message":"You have exceeded a secondary rate limit."}"#,
        )
        .with_header("retry-after", "30");
        assert_eq!(rate_limit_wait(&secondary, now()), Some(30));
        let bare = Response::new(429, "{}");
        assert_eq!(rate_limit_wait(&bare, now()), Some(60));
        let forbidden = Response::new(
            403,
            r#"{"message":"Resource not accessible by personal access token"}"#,
        )
        .with_header("x-ratelimit-remaining", "4990");
        assert_eq!(
            rate_limit_wait(&forbidden, now()),
            None,
            "a 403 that means permission"
        );
        assert!(matches!(
            error_for(&forbidden, "alerts", now()),
            ConnectorError::Permission(_)
        ));
        assert!(matches!(
            error_for(&primary, "alerts", now()),
            ConnectorError::RateLimited {
                retry_after_seconds: Some(90),
                ..
            }
        ));
    }

    #[test]
    fn statuses_map_to_whose_fault_it_is() {
        let kind =
            |status: u16| error_for(&Response::new(status, r#"{"message":"m"}"#), "x", now());
        assert!(matches!(kind(401), ConnectorError::Auth(_)));
        assert!(matches!(kind(404), ConnectorError::Config(_)));
        assert!(matches!(kind(422), ConnectorError::Config(_)));
        assert!(matches!(kind(502), ConnectorError::Transient(_)));
        assert!(matches!(kind(418), ConnectorError::Protocol(_)));
    }
}
