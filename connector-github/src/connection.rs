//! test-connection: the token, the organization, then the Dependabot alerts permission,
//! each a named step with what to fix when it fails.

use crate::api::GithubApi;
use connector_sdk::http::Transport;
use connector_sdk::{Checklist, ConnectionFailure, ConnectorError, Step};

/// The steps, in order.
const STEPS: [&str; 3] = ["token", "organization", "dependabot-alerts"];

/// Runs the test.
pub async fn test_connection<T: Transport>(
    api: &GithubApi<T>,
) -> Result<Vec<Step>, ConnectionFailure> {
    let mut checks = Checklist::new(&STEPS);
    let config = api.config();
    match api
        .get(&format!("{}/rate_limit", config.api_url), "the token check")
        .await
    {
        Ok(response) => {
            let left = response
                .header("x-ratelimit-remaining")
                .map(|n| format!(" ({n} requests left this hour)"))
                .unwrap_or_default();
            checks.passed("token", format!("GitHub accepted the token{left}"));
        }
        Err(e) => return Err(checks.failed("token", e)),
    }
    let org = &config.organization;
    match api
        .get(
            &format!("{}/orgs/{org}", config.api_url),
            "the organization",
        )
        .await
    {
        Ok(_) => checks.passed("organization", format!("organization `{org}` found")),
        Err(ConnectorError::Config(_)) => {
            let e = ConnectorError::Config(format!(
                "no organization `{org}` that this token can see; check the login"
            ));
            return Err(checks.failed("organization", e));
        }
        Err(e) => return Err(checks.failed("organization", e)),
    }
    let first_repo = config.repositories.first().map(String::as_str);
    let probe = api
        .alerts_url(first_repo, "desc")
        .replace(&format!("per_page={}", config.page_size), "per_page=1");
    match api.get(&probe, "Dependabot alerts").await {
        Ok(_) => checks.passed(
            "dependabot-alerts",
            match first_repo {
                Some(repo) => format!("the token may read Dependabot alerts of {org}/{repo}"),
                None => format!("the token may read Dependabot alerts of {org}"),
            },
        ),
        Err(e) => return Err(checks.failed("dependabot-alerts", e)),
    }
    Ok(checks.done())
}
