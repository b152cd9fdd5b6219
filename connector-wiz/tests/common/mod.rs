//! Wiz as the tests' scripted transport plays it.

use connector_sdk::http::{Request, Response};
use connector_sdk::testkit::ScriptedTransport;
use serde_json::Value;

/// A token for any token request, `issues(page, variables)` for an issues query (`page`
/// a fresh copy of the current-shape fixture page, `variables` the query's), and an empty
/// inventory for any other query.
pub fn wiz_answering(issues: impl Fn(Value, &Value) -> Value + 'static) -> ScriptedTransport {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/wiz/synthetic_issues-v2_page_current-shape.json"
    );
    let page: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    ScriptedTransport::answering(move |request: &Request| {
        if request.url.ends_with("/oauth/token") {
            return Ok(Response::new(
                200,
                r#"{"access_token":"t","expires_in":3600}"#,
            ));
        }
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let answer = if body["query"].as_str().unwrap().contains("issuesV2") {
            issues(page.clone(), &body["variables"]).to_string()
        } else {
            r#"{"data":{"cloudResourcesV2":{"nodes":[],"pageInfo":{"hasNextPage":false}}}}"#
                .to_string()
        };
        Ok(Response::new(200, answer))
    })
}
