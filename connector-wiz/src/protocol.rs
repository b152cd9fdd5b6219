//! Wiz's wire protocol as pure functions: the token request and its answer, the GraphQL
//! documents, and the classification of every answer into data or a typed error.

use crate::config::WizConfig;
use crate::mapping::PULLED_SEVERITIES;
use crate::model::{Connection, Envelope, GraphqlError, IssuesData, ResourcesData};
use crate::page::IssuesPage;
use connector_sdk::ConnectorError;
use connector_sdk::http::Response;
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;

/// An HTTP answer as Wiz's protocol reads it: its status, the wait its `Retry-After`
/// header asks for, and its body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// `Retry-After` in seconds ([`connector_sdk::http::parse_retry_after`]).
    pub retry_after: Option<u32>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The answer `response` carries, its `Retry-After` measured from `now`.
    pub fn read(response: Response, now: std::time::SystemTime) -> Self {
        HttpResponse {
            status: response.status,
            retry_after: response.retry_after(now),
            body: response.body,
        }
    }
}

/// A count of seconds as an API may write it: a JSON number or a numeric string. Anything
/// else, and anything not finite, is `None`.
fn lenient_seconds(value: &serde_json::Value) -> Option<f64> {
    match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|s| s.is_finite())
}

/// The wait a GraphQL error's `extensions.retryAfter` asks for, in whole seconds rounded
/// up; a negative or unreadable value is ignored.
fn extension_wait(error: &GraphqlError) -> Option<u32> {
    let seconds = lenient_seconds(error.extensions.as_ref()?.retry_after.as_ref()?)?;
    // `as` saturates: a huge wait becomes u32::MAX.
    (seconds >= 0.0).then(|| seconds.ceil() as u32)
}

/// The longer of the `Retry-After` header's wait and the one `error` asks for.
fn wait_asked(error: Option<&GraphqlError>, header: Option<u32>) -> Option<u32> {
    error.and_then(extension_wait).max(header)
}

/// An access token and how long it may be used.
#[derive(Clone)]
pub struct Token {
    /// The bearer token. Never logged: `Debug` redacts it.
    pub access_token: String,
    /// Lifetime in seconds: what the token endpoint said, within
    /// [`TOKEN_LIFETIME_RANGE_S`].
    pub expires_in: u64,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(<redacted>, expires_in: {})", self.expires_in)
    }
}

/// The form body of the client-credentials token request.
pub fn token_request_body(config: &WizConfig) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", &config.client_id)
        .append_pair("client_secret", &config.client_secret)
        .append_pair("audience", config.audience)
        .finish()
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: Option<String>,
    /// Any JSON: a lifetime that is negative, fractional, a string or absurdly large must
    /// not make a good token unreadable.
    expires_in: Option<serde_json::Value>,
    error: Option<String>,
    error_description: Option<String>,
    message: Option<String>,
}

/// Lifetime assumed when the token endpoint does not say (Wiz documents 24 h; an hour
/// is a safe floor).
const DEFAULT_TOKEN_LIFETIME_S: u64 = 3600;

/// The lifetimes a token is taken to have, in seconds: a minute to a day. A shorter
/// `expires_in` would renew the token before every request; a longer one is no lifetime
/// Wiz issues, and could overflow the time arithmetic.
pub const TOKEN_LIFETIME_RANGE_S: (u64, u64) = (60, 86_400);

/// `expires_in` as a lifetime within [`TOKEN_LIFETIME_RANGE_S`]; unreadable values get
/// the default.
fn token_lifetime(expires_in: Option<&serde_json::Value>) -> u64 {
    let seconds = expires_in.and_then(lenient_seconds);
    let (min, max) = TOKEN_LIFETIME_RANGE_S;
    // `as` saturates, so a huge or negative number lands on a bound after the clamp.
    seconds.map_or(DEFAULT_TOKEN_LIFETIME_S, |s| (s as u64).clamp(min, max))
}

/// Reads the token endpoint's answer.
pub fn parse_token_response(response: &HttpResponse) -> Result<Token, ConnectorError> {
    let body: Option<TokenBody> = serde_json::from_slice(&response.body).ok();
    let reason = body
        .as_ref()
        .and_then(|b| {
            b.error_description
                .clone()
                .or_else(|| b.message.clone())
                .or_else(|| b.error.clone())
        })
        .unwrap_or_else(|| format!("HTTP {}", response.status));
    match response.status {
        200 => {}
        400 | 401 | 403 => {
            return Err(ConnectorError::Auth(format!(
                "the token endpoint refused the client id and secret ({reason}); check them, and that the token URL matches your tenant"
            )));
        }
        _ => return Err(status_error(response, "the token endpoint", &reason)),
    }
    match body {
        Some(TokenBody {
            access_token: Some(access_token),
            expires_in,
            ..
        }) if !access_token.is_empty() => Ok(Token {
            access_token,
            expires_in: token_lifetime(expires_in.as_ref()),
        }),
        _ => Err(ConnectorError::Protocol(
            "the token endpoint answered 200 without an access_token; is the token URL right?"
                .into(),
        )),
    }
}

/// The error for an HTTP status that is not a success. `what` names the endpoint.
pub fn status_error(response: &HttpResponse, what: &str, reason: &str) -> ConnectorError {
    match response.status {
        401 => ConnectorError::Auth(format!("{what} answered 401 Unauthorized ({reason})")),
        403 => ConnectorError::Permission(format!("{what} answered 403 Forbidden ({reason})")),
        404 => ConnectorError::Config(format!("{what} answered 404 Not Found; check the URL")),
        408 | 425 | 500..=599 => ConnectorError::Transient(format!(
            "{what} answered HTTP {} ({reason})",
            response.status
        )),
        429 => ConnectorError::RateLimited {
            retry_after_seconds: requested_wait(response),
            message: format!("{what} answered 429 Too Many Requests"),
        },
        s => ConnectorError::Protocol(format!("{what} answered HTTP {s} ({reason})")),
    }
}

const ISSUES_QUERY: &str = r#"query Issues($first: Int!, $after: String, $filterBy: IssueFilters, $withTotal: Boolean!) {
  issues: issuesV2(first: $first, after: $after, filterBy: $filterBy) {
    totalCount @include(if: $withTotal)
    pageInfo { hasNextPage endCursor }
    nodes {
      id type status severity createdAt updatedAt statusChangedAt resolvedAt dueAt resolutionReason url
      sourceRules {
        __typename
        ... on Control { id name description resolutionRecommendation }
        ... on CloudConfigurationRule { id name description remediationInstructions serviceType }
        ... on CloudEventRule { id name description sourceType type }
      }
      projects { id name slug businessUnit riskProfile { businessImpact } }
      entitySnapshot {
        id type nativeType name status cloudPlatform cloudProviderURL providerId region
        resourceGroupExternalId subscriptionExternalId subscriptionName subscriptionTags tags
        createdAt externalId
      }
      serviceTickets { externalId name url }
    }
  }
}"#;

const RESOURCES_QUERY: &str = r#"query Resources($first: Int!, $after: String, $filterBy: CloudResourceV2Filters) {
  cloudResourcesV2(first: $first, after: $after, filterBy: $filterBy) {
    pageInfo { hasNextPage endCursor }
    nodes { id deletedAt technology { id name categories { name } } }
  }
}"#;

/// The body of one `issuesV2` page request: pulled severities only, one project or all,
/// and only issues whose status changed after `changed_after` when given.
pub fn issues_request(
    first: u32,
    after: Option<&str>,
    project: Option<&str>,
    changed_after: Option<&str>,
    with_total: bool,
) -> String {
    let mut filter = json!({ "severity": PULLED_SEVERITIES });
    if let Some(project) = project {
        filter["project"] = json!([project]);
    }
    if let Some(changed_after) = changed_after {
        filter["statusChangedAt"] = json!({ "after": changed_after });
    }
    json!({
        "query": ISSUES_QUERY,
        "variables": { "first": first, "after": after, "filterBy": filter, "withTotal": with_total },
    })
    .to_string()
}

/// The body of an inventory request for the given resource ids.
pub fn resources_request(ids: &[&str], after: Option<&str>) -> String {
    json!({
        "query": RESOURCES_QUERY,
        "variables": { "first": ids.len().max(1), "after": after, "filterBy": { "id": { "equals": ids } } },
    })
    .to_string()
}

/// Reads a GraphQL answer of the issues query: the page keeps the body, and its issues
/// are screened where they are in it.
pub fn parse_issues_page(response: HttpResponse) -> Result<IssuesPage, ConnectorError> {
    IssuesPage::read(response)
}

/// The connection of an issues answer, its nodes borrowed from the body.
pub fn issues_connection(response: &HttpResponse) -> Result<Connection<&RawValue>, ConnectorError> {
    let data: IssuesData = parse_graphql(response)?;
    data.issues
        .ok_or_else(|| ConnectorError::Protocol("`data.issues` is missing or null".into()))
}

/// Reads a GraphQL answer of the inventory query into its connection.
pub fn parse_resources_page(
    response: HttpResponse,
) -> Result<Connection<Box<RawValue>>, ConnectorError> {
    let data: ResourcesData = parse_graphql(&response)?;
    data.cloud_resources_v2.ok_or_else(|| {
        ConnectorError::Protocol("`data.cloudResourcesV2` is missing or null".into())
    })
}

/// Reads any GraphQL answer: HTTP errors, then GraphQL `errors` (fatal even beside partial
/// data), then the typed `data`, which may borrow the body.
pub fn parse_graphql<'a, T: Deserialize<'a>>(
    response: &'a HttpResponse,
) -> Result<T, ConnectorError> {
    if response.status != 200 {
        let reason = graphql_error_reason(&response.body);
        return Err(status_error(response, "the Wiz API", &reason));
    }
    let envelope: Envelope<T> = serde_json::from_slice(&response.body).map_err(|e| {
        ConnectorError::Protocol(format!(
            "the Wiz API answer is not the expected GraphQL JSON ({e}); is the API URL right?"
        ))
    })?;
    if let Some(error) = envelope.errors.as_deref().and_then(|e| e.first()) {
        let wait = wait_asked(Some(error), response.retry_after);
        return Err(classify_graphql_error(error, wait));
    }
    envelope
        .data
        .ok_or_else(|| ConnectorError::Protocol("the Wiz API answer has no `data`".into()))
}

/// The first GraphQL error in a body, if it is a GraphQL envelope with errors.
fn first_graphql_error(body: &[u8]) -> Option<GraphqlError> {
    serde_json::from_slice::<Envelope<serde::de::IgnoredAny>>(body)
        .ok()
        .and_then(|e| e.errors)
        .and_then(|e| e.into_iter().next())
}

fn graphql_error_reason(body: &[u8]) -> String {
    first_graphql_error(body)
        .map(|e| e.message)
        .unwrap_or_else(|| "no GraphQL error in the body".into())
}

/// How long an answer asks the client to wait before trying again: the longer of the
/// `Retry-After` header and the first GraphQL error's `extensions.retryAfter`.
pub fn requested_wait(response: &HttpResponse) -> Option<u32> {
    wait_in(&response.body, response.retry_after)
}

/// The longer of `header` (the `Retry-After` wait) and the wait the first GraphQL error
/// in `body` asks for.
pub fn wait_in(body: &[u8], header: Option<u32>) -> Option<u32> {
    wait_asked(first_graphql_error(body).as_ref(), header)
}

/// Maps a GraphQL error to the typed error its code means; a throttling error carries
/// `retry_after`, the wait the answer asked for ([`requested_wait`]).
pub fn classify_graphql_error(error: &GraphqlError, retry_after: Option<u32>) -> ConnectorError {
    let code = error
        .extensions
        .as_ref()
        .and_then(|x| x.code.as_deref())
        .unwrap_or("");
    let message = &error.message;
    match code {
        "UNAUTHENTICATED" => {
            ConnectorError::Auth(format!("the Wiz API refused the token: {message}"))
        }
        "UNAUTHORIZED" | "FORBIDDEN" | "FORBIDDEN_IP" => ConnectorError::Permission(format!(
            "the service account lacks a permission ({code}): {message}"
        )),
        "BAD_USER_INPUT" | "NOT_FOUND" => ConnectorError::Config(format!(
            "the Wiz API rejected the request ({code}): {message}"
        )),
        "RATE_LIMIT_EXCEEDED" => ConnectorError::RateLimited {
            retry_after_seconds: retry_after,
            message: format!("the Wiz API is rate limiting: {message}"),
        },
        "INTERNAL" => ConnectorError::Transient(format!("the Wiz API failed: {message}")),
        other => ConnectorError::Protocol(format!(
            "the Wiz API answered with an error ({}): {message}",
            if other.is_empty() { "no code" } else { other }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            retry_after: Some(7),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn token_body_is_form_encoded_with_audience() {
        let config = WizConfig::from_entries([
            ("api-url", "https://api.us1.app.wiz.io"),
            ("client-id", "my id"),
            ("client-secret", "a&b=c"),
        ])
        .unwrap();
        assert_eq!(
            token_request_body(&config),
            "grant_type=client_credentials&client_id=my+id&client_secret=a%26b%3Dc&audience=wiz-api"
        );
    }

    #[test]
    fn token_answers_are_classified() {
        let ok = parse_token_response(&response(200, r#"{"access_token":"t","expires_in":900}"#));
        assert_eq!(ok.unwrap().expires_in, 900);
        let err = parse_token_response(&response(
            401,
            r#"{"error":"access_denied","error_description":"Unauthorized"}"#,
        ))
        .unwrap_err();
        assert!(
            matches!(err, ConnectorError::Auth(ref m) if m.contains("Unauthorized")),
            "{err}"
        );
        let err = parse_token_response(&response(200, r#"{"token_type":"Bearer"}"#)).unwrap_err();
        assert!(matches!(err, ConnectorError::Protocol(_)), "{err}");
        let err = parse_token_response(&response(503, "down")).unwrap_err();
        assert!(matches!(err, ConnectorError::Transient(_)), "{err}");
        let err = parse_token_response(&response(429, "")).unwrap_err();
        assert_eq!(
            err,
            ConnectorError::RateLimited {
                retry_after_seconds: Some(7),
                message: "the token endpoint answered 429 Too Many Requests".into()
            }
        );
    }

    #[test]
    fn token_lifetimes_are_clamped_to_a_sane_range() {
        for (expires_in, lifetime) in [
            ("900", 900),
            ("0", 60),
            ("-1", 60),
            ("1e300", 86_400),
            ("18446744073709551615", 86_400),
            ("\"7200\"", 7200),
            ("\"never\"", DEFAULT_TOKEN_LIFETIME_S),
            ("null", DEFAULT_TOKEN_LIFETIME_S),
            ("3599.9", 3599),
        ] {
            let body = format!(r#"{{"access_token":"t","expires_in":{expires_in}}}"#);
            let token = parse_token_response(&response(200, &body)).unwrap();
            assert_eq!(token.expires_in, lifetime, "{expires_in}");
        }
    }

    #[test]
    fn graphql_retry_after_is_read_from_the_error_and_the_header() {
        let body = |wait: &str| {
            format!(
                r#"{{"data":null,"errors":[{{"message":"m","extensions":{{"code":"RATE_LIMIT_EXCEEDED","retryAfter":{wait}}}}}]}}"#
            )
        };
        let wait_of = |r: HttpResponse| match parse_issues_page(r).unwrap_err() {
            ConnectorError::RateLimited {
                retry_after_seconds,
                ..
            } => retry_after_seconds,
            other => panic!("{other}"),
        };
        // `response` sends Retry-After: 7; the longer wait wins.
        assert_eq!(wait_of(response(200, &body("30"))), Some(30));
        assert_eq!(wait_of(response(200, &body("2.1"))), Some(7));
        assert_eq!(wait_of(response(429, &body("12"))), Some(12));
        let no_header = HttpResponse {
            retry_after: None,
            ..response(200, &body("\"oops\""))
        };
        assert_eq!(wait_of(no_header), None);
    }

    #[test]
    fn graphql_error_codes_are_classified() {
        let cases = [
            ("UNAUTHENTICATED", "authentication failed"),
            ("UNAUTHORIZED", "permission denied"),
            ("FORBIDDEN_IP", "permission denied"),
            ("BAD_USER_INPUT", "invalid configuration"),
            ("RATE_LIMIT_EXCEEDED", "rate limited"),
            ("INTERNAL", "transient failure"),
            ("SOMETHING_NEW", "unexpected response"),
        ];
        for (code, prefix) in cases {
            let body = format!(
                r#"{{"data":null,"errors":[{{"message":"m","extensions":{{"code":"{code}"}}}}]}}"#
            );
            let err = parse_issues_page(response(200, &body)).unwrap_err();
            assert!(err.to_string().starts_with(prefix), "{code}: {err}");
        }
    }

    #[test]
    fn errors_beside_partial_data_fail() {
        let body = r#"{"data":{"issues":{"nodes":[],"pageInfo":{"hasNextPage":false}}},"errors":[{"message":"partial"}]}"#;
        assert!(parse_issues_page(response(200, body)).is_err());
    }

    #[test]
    fn non_json_and_wrong_shapes_are_protocol_errors() {
        for body in [
            "<html>hello</html>",
            r#"{"data":{"issues":{"nodes":{}}}}"#,
            r#"{"data":{}}"#,
            r#"{"data":{"issues":{"nodes":[],"pageInfo":{"hasNextPage":"yes"}}}}"#,
        ] {
            let err = parse_issues_page(response(200, body)).unwrap_err();
            assert!(matches!(err, ConnectorError::Protocol(_)), "{body}: {err}");
        }
    }

    #[test]
    fn http_statuses_are_classified() {
        let err = parse_issues_page(response(404, "")).unwrap_err();
        assert!(matches!(err, ConnectorError::Config(_)));
        let err = parse_issues_page(response(502, "")).unwrap_err();
        assert!(matches!(err, ConnectorError::Transient(_)));
        let err = parse_issues_page(response(401, "")).unwrap_err();
        assert!(matches!(err, ConnectorError::Auth(_)));
    }

    #[test]
    fn issues_request_filters_severity_and_project() {
        let body: serde_json::Value = serde_json::from_str(&issues_request(
            500,
            Some("c1"),
            Some("p1"),
            Some("2026-01-01T00:00:00Z"),
            true,
        ))
        .unwrap();
        let vars = &body["variables"];
        assert_eq!(vars["first"], 500);
        assert_eq!(vars["after"], "c1");
        assert_eq!(
            vars["filterBy"]["severity"],
            json!(["CRITICAL", "HIGH", "MEDIUM", "LOW"])
        );
        assert_eq!(vars["filterBy"]["project"], json!(["p1"]));
        assert_eq!(
            vars["filterBy"]["statusChangedAt"]["after"],
            "2026-01-01T00:00:00Z"
        );
        assert!(
            body["query"]
                .as_str()
                .unwrap()
                .contains("issues: issuesV2(")
        );
        let body: serde_json::Value =
            serde_json::from_str(&issues_request(10, None, None, None, false)).unwrap();
        assert!(body["variables"]["filterBy"].get("project").is_none());
        assert!(body["variables"]["after"].is_null());
    }
}
