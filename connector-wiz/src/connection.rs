//! test-connection: token, then a one-issue query per configured project, then the
//! inventory, each reported as a named step.

use crate::client::{Transport, WizClient};
use crate::error::ConnectorError;
use crate::protocol;

/// How a step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It worked.
    Passed,
    /// It failed.
    Failed,
    /// Not run, because an earlier step failed.
    Skipped,
}

/// One named step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// `token`, `api`, `scope` or `inventory`.
    pub name: &'static str,
    /// How it went.
    pub outcome: Outcome,
    /// What was checked or what failed.
    pub detail: String,
}

/// A failed test: the cause and every step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The cause.
    pub error: ConnectorError,
    /// All steps, in order.
    pub steps: Vec<Step>,
}

const STEPS: [&str; 4] = ["token", "api", "scope", "inventory"];

/// Runs the test.
pub async fn test_connection<T: Transport>(client: WizClient<T>) -> Result<Vec<Step>, Failure> {
    let mut steps = Vec::new();
    let fail = |steps: &mut Vec<Step>, name: &'static str, error: ConnectorError| {
        steps.push(Step {
            name,
            outcome: Outcome::Failed,
            detail: error.to_string(),
        });
        for later in STEPS.iter().skip_while(|s| **s != name).skip(1) {
            steps.push(Step {
                name: later,
                outcome: Outcome::Skipped,
                detail: format!("not run: `{name}` failed"),
            });
        }
        Failure {
            error,
            steps: std::mem::take(steps),
        }
    };
    if let Err(e) = client.authenticate().await {
        return Err(fail(&mut steps, "token", e));
    }
    steps.push(Step {
        name: "token",
        outcome: Outcome::Passed,
        detail: format!("got a token from {}", client.config().auth_url),
    });

    let projects = client.config().project_scopes();
    let mut seen = 0u64;
    for project in &projects {
        let request = protocol::issues_request(1, None, project.as_deref(), None, true);
        match client.query(request, protocol::parse_issues_page).await {
            Ok(page) => seen += page.total_count.unwrap_or(page.nodes.len() as u64),
            Err(e @ ConnectorError::Permission(_)) => {
                steps.push(Step {
                    name: "api",
                    outcome: Outcome::Passed,
                    detail: format!("{} answers GraphQL", client.config().graphql_url),
                });
                let e = ConnectorError::Permission(format!(
                    "the service account cannot read issues; give it the read:issues scope ({e})"
                ));
                return Err(fail(&mut steps, "scope", e));
            }
            Err(e) => return Err(fail(&mut steps, "api", e)),
        }
    }
    steps.push(Step {
        name: "api",
        outcome: Outcome::Passed,
        detail: format!("{} answers GraphQL", client.config().graphql_url),
    });
    let scope = match projects.len() {
        1 if projects[0].is_none() => {
            format!("read:issues granted; {seen} issues in scope across all projects")
        }
        n => format!("read:issues granted; {seen} issues in scope across {n} project(s)"),
    };
    steps.push(Step {
        name: "scope",
        outcome: Outcome::Passed,
        detail: scope,
    });

    let probe = protocol::resources_request(&[], None);
    let inventory = match client.query(probe, protocol::parse_resources_page).await {
        Ok(_) => "read:resources granted; asset types will be technologies".to_string(),
        Err(ConnectorError::Permission(_)) => "read:resources not granted; asset types will fall back to Wiz entity types (not an error)".to_string(),
        Err(e) => return Err(fail(&mut steps, "inventory", e)),
    };
    steps.push(Step {
        name: "inventory",
        outcome: Outcome::Passed,
        detail: inventory,
    });
    Ok(steps)
}
