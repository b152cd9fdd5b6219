//! test-connection: token, then a one-issue query per configured project, then the
//! inventory, each reported as a named step.

use crate::client::WizClient;
use crate::protocol;
use connector_sdk::http::Transport;
use connector_sdk::{Checklist, ConnectionFailure, ConnectorError, Step};

/// The steps, in order.
const STEPS: [&str; 4] = ["token", "api", "scope", "inventory"];

/// Runs the test.
pub async fn test_connection<T: Transport>(
    client: WizClient<T>,
) -> Result<Vec<Step>, ConnectionFailure> {
    let mut checks = Checklist::new(&STEPS);
    if let Err(e) = client.authenticate().await {
        return Err(checks.failed("token", e));
    }
    checks.passed(
        "token",
        format!("got a token from {}", client.config().auth_url),
    );

    let projects = client.config().project_scopes();
    let mut seen = 0u64;
    for project in &projects {
        let request = protocol::issues_request(1, None, project.as_deref(), None, true);
        let count = |response: protocol::HttpResponse| {
            let page = protocol::issues_connection(&response)?;
            Ok(page.total_count.unwrap_or(page.nodes.len() as u64))
        };
        match client.query(request, count).await {
            Ok(count) => seen += count,
            Err(e @ ConnectorError::Permission(_)) => {
                checks.passed(
                    "api",
                    format!("{} answers GraphQL", client.config().graphql_url),
                );
                let e = ConnectorError::Permission(format!(
                    "the service account cannot read issues; give it the read:issues scope ({e})"
                ));
                return Err(checks.failed("scope", e));
            }
            Err(e) => return Err(checks.failed("api", e)),
        }
    }
    checks.passed(
        "api",
        format!("{} answers GraphQL", client.config().graphql_url),
    );
    let scope = match projects.len() {
        1 if projects[0].is_none() => {
            format!("read:issues granted; {seen} issues in scope across all projects")
        }
        n => format!("read:issues granted; {seen} issues in scope across {n} project(s)"),
    };
    checks.passed("scope", scope);

    let probe = protocol::resources_request(&[], None);
    let inventory = match client.query(probe, protocol::parse_resources_page).await {
        Ok(_) => "read:resources granted; asset types will be technologies".to_string(),
        Err(ConnectorError::Permission(_)) => "read:resources not granted; asset types will fall back to Wiz entity types (not an error)".to_string(),
        Err(e) => return Err(checks.failed("inventory", e)),
    };
    checks.passed("inventory", inventory);
    Ok(checks.done())
}
