//! The simulator's HTTP server: Wiz's OAuth token endpoint and its GraphQL API
//! (`issuesV2`, `cloudResourcesV2`), with scopes per service account.

use crate::data::{IssueRecord, ResourceRecord, Tenant};
use crate::faults::{Endpoint, Fault, FaultRule};
use crate::gate::GateState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::StreamExt as _;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Read issues.
pub const READ_ISSUES: &str = "read:issues";
/// Read the inventory.
pub const READ_RESOURCES: &str = "read:resources";

/// A service account the simulator accepts.
#[derive(Debug, Clone)]
pub struct Account {
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// Granted scopes.
    pub scopes: Vec<&'static str>,
}

/// The accounts every simulator has: full access, issues only, and no scope at all.
pub fn default_accounts() -> Vec<Account> {
    let account = |id: &str, secret: &str, scopes: &[&'static str]| Account {
        client_id: id.into(),
        client_secret: secret.into(),
        scopes: scopes.to_vec(),
    };
    vec![
        account(
            "sim-client",
            "sim-secret-full",
            &[READ_ISSUES, READ_RESOURCES],
        ),
        account("sim-issues-only", "sim-secret-issues", &[READ_ISSUES]),
        account("sim-no-scope", "sim-secret-none", &[]),
    ]
}

/// Server configuration.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The tenant's data.
    pub tenant: Tenant,
    /// Accepted accounts.
    pub accounts: Vec<Account>,
    /// Token lifetime (`expires_in`).
    pub token_lifetime: Duration,
    /// Added before every GraphQL answer, like a distant API.
    pub latency: Duration,
}

impl SimConfig {
    /// A tenant of `issues` issues from `seed`, with the default accounts.
    pub fn new(seed: u64, issues: u64) -> Self {
        SimConfig {
            tenant: Tenant { seed, issues },
            accounts: default_accounts(),
            token_lifetime: Duration::from_secs(3600),
            latency: Duration::ZERO,
        }
    }
}

/// The most arrival times kept (the oldest are dropped beyond it), so a long-running
/// simulator does not grow without bound.
const ARRIVALS_KEPT: usize = 100_000;

/// Request counters and arrival times, for tests and benchmarks: what reached the
/// simulator, measured on its side of the wire.
#[derive(Debug, Default)]
pub struct Stats {
    /// Token requests.
    pub token_requests: AtomicU64,
    /// GraphQL requests.
    pub graphql_requests: AtomicU64,
    /// `issuesV2` pages answered.
    pub issue_pages: AtomicU64,
    /// Requests a fault rule struck, at either endpoint: a fault test checks its fault
    /// really fired.
    pub faults_delivered: AtomicU64,
    /// When the first request since the last [`Stats::take_first_arrival`] arrived.
    first_arrival: Mutex<Option<SystemTime>>,
    /// When each request (token or GraphQL) arrived, oldest first.
    arrivals: Mutex<std::collections::VecDeque<Instant>>,
}

impl Stats {
    /// Notes a request's arrival.
    fn arrived(&self) {
        self.first_arrival
            .lock()
            .expect("arrival lock")
            .get_or_insert_with(SystemTime::now);
        let mut arrivals = self.arrivals.lock().expect("arrivals lock");
        if arrivals.len() == ARRIVALS_KEPT {
            arrivals.pop_front();
        }
        arrivals.push_back(Instant::now());
    }

    /// Token requests so far.
    pub fn tokens(&self) -> u64 {
        self.token_requests.load(Ordering::SeqCst)
    }

    /// GraphQL requests so far.
    pub fn graphql(&self) -> u64 {
        self.graphql_requests.load(Ordering::SeqCst)
    }

    /// Faults delivered so far.
    pub fn faults(&self) -> u64 {
        self.faults_delivered.load(Ordering::SeqCst)
    }

    /// When each request arrived (token or GraphQL), oldest first.
    pub fn arrivals(&self) -> Vec<Instant> {
        self.arrivals
            .lock()
            .expect("arrivals lock")
            .iter()
            .copied()
            .collect()
    }

    /// When the first request arrived since the previous call (start-up benchmarks time
    /// a process from its start to its first request).
    pub fn take_first_arrival(&self) -> Option<SystemTime> {
        self.first_arrival.lock().expect("arrival lock").take()
    }
}

/// A change made to an issue after generation, as a person would in Wiz.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// New status.
    pub status: String,
    /// New resolution reason.
    pub resolution_reason: Option<String>,
    /// When it changed (RFC 3339).
    pub at: String,
}

/// The fault rules in force and the requests each endpoint has had since they were set.
#[derive(Debug, Default)]
struct Faults {
    rules: Vec<FaultRule>,
    graphql_requests: u64,
    token_requests: u64,
}

/// Shared server state.
pub struct Sim {
    config: SimConfig,
    /// Changes applied on top of the generated data, by issue index.
    pub changes: Mutex<HashMap<u64, StatusChange>>,
    /// Issues added after generation (indices from `tenant.issues`).
    pub added: AtomicU64,
    /// Resources deleted since generation.
    pub deleted: Mutex<std::collections::HashSet<u64>>,
    /// Issues gone from the API altogether (retention), by index.
    pub purged: Mutex<std::collections::HashSet<u64>>,
    /// Descriptions edited since generation, by issue index (of the issue's first rule).
    pub descriptions: Mutex<HashMap<u64, String>>,
    /// Current GraphQL latency in milliseconds (starts from the config).
    pub latency_ms: AtomicU64,
    /// Faults to inject, and the requests counted since they were set.
    faults: Mutex<Faults>,
    /// Gates holding issue pages, by the page's number since start (1-based).
    page_gates: Mutex<HashMap<u64, std::sync::Arc<GateState>>>,
    tokens: Mutex<HashMap<String, (usize, Instant)>>,
    next_token: AtomicU64,
    /// Request counters.
    pub stats: Stats,
}

/// The router for a simulator with `config`.
pub fn router(config: SimConfig) -> (Router, std::sync::Arc<Sim>) {
    let latency_ms = AtomicU64::new(config.latency.as_millis() as u64);
    let sim = std::sync::Arc::new(Sim {
        config,
        changes: Mutex::new(HashMap::new()),
        added: AtomicU64::new(0),
        deleted: Mutex::new(std::collections::HashSet::new()),
        purged: Mutex::new(std::collections::HashSet::new()),
        descriptions: Mutex::new(HashMap::new()),
        latency_ms,
        faults: Mutex::new(Faults::default()),
        page_gates: Mutex::new(HashMap::new()),
        tokens: Mutex::new(HashMap::new()),
        next_token: AtomicU64::new(1),
        stats: Stats::default(),
    });
    let router = Router::new()
        .route("/oauth/token", post(token))
        .route("/graphql", post(graphql))
        .route("/_sim/faults", post(set_faults))
        .fallback(not_found)
        .with_state(sim.clone());
    (router, sim)
}

type SimState = State<std::sync::Arc<Sim>>;

/// Control endpoint: replaces the fault rules with the posted JSON array.
async fn set_faults(
    State(sim): SimState,
    axum::Json(rules): axum::Json<Vec<FaultRule>>,
) -> Response {
    let count = rules.len();
    sim.set_faults(rules);
    json_response(StatusCode::OK, json!({ "faults": count }))
}

/// Unknown paths answer 404 after reading the request, as Wiz's gateway does, so the
/// client sees the 404 rather than a connection closed under its request body.
async fn not_found(_body: Bytes) -> Response {
    json_response(StatusCode::NOT_FOUND, json!({"message": "Not Found"}))
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn token(State(sim): SimState, Form(form): Form<HashMap<String, String>>) -> Response {
    sim.stats.token_requests.fetch_add(1, Ordering::Relaxed);
    sim.stats.arrived();
    let fault = sim.take_fault(Endpoint::Token, false);
    if let Some(fault) = &fault {
        tokio::time::sleep(fault.delay()).await;
        if let Some(response) = failure_response(fault) {
            return response;
        }
    }
    match issue_token(&sim, &form) {
        Ok(token) => deliver(fault.as_ref(), token.to_string()),
        Err((status, refusal)) => json_response(status, refusal),
    }
}

/// The token endpoint's answer to a form: the token, or the refusal's status and body.
fn issue_token(sim: &Sim, form: &HashMap<String, String>) -> Result<Value, (StatusCode, Value)> {
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if field("grant_type") != "client_credentials" {
        return Err((
            StatusCode::BAD_REQUEST,
            json!({"error": "unsupported_grant_type", "error_description": "grant_type must be client_credentials"}),
        ));
    }
    if field("audience") != "wiz-api" {
        return Err((
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_request", "error_description": "audience must be wiz-api for this endpoint"}),
        ));
    }
    let Some(index) = sim.config.accounts.iter().position(|a| {
        a.client_id == field("client_id") && a.client_secret == field("client_secret")
    }) else {
        return Err((
            StatusCode::UNAUTHORIZED,
            json!({"error": "access_denied", "error_description": "Unauthorized"}),
        ));
    };
    let token = format!(
        "simtoken-{}-{:x}",
        sim.next_token.fetch_add(1, Ordering::Relaxed),
        sim.config.tenant.seed
    );
    let lifetime = sim.config.token_lifetime;
    sim.tokens
        .lock()
        .expect("tokens")
        .insert(token.clone(), (index, Instant::now() + lifetime));
    Ok(json!({"access_token": token, "token_type": "Bearer", "expires_in": lifetime.as_secs()}))
}

fn gql_error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        json!({"data": null, "errors": [{"message": message, "extensions": {"code": code}}]}),
    )
}

/// A GraphQL request, answered `latency` after it arrived: the answer is worked out
/// while the latency runs, so the added time is exactly what the API costs.
async fn graphql(State(sim): SimState, headers: HeaderMap, body: Bytes) -> Response {
    let arrived = tokio::time::Instant::now();
    let latency = Duration::from_millis(sim.latency_ms.load(Ordering::Relaxed));
    let response = answer(&sim, headers, body).await;
    tokio::time::sleep_until(arrived + latency).await;
    response
}

async fn answer(sim: &Sim, headers: HeaderMap, body: Bytes) -> Response {
    sim.stats.graphql_requests.fetch_add(1, Ordering::Relaxed);
    sim.stats.arrived();
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let query = request["query"].as_str().unwrap_or("").to_string();
    let fault = sim.take_fault(Endpoint::Graphql, query.contains("cloudResourcesV2"));
    if let Some(fault) = &fault {
        tokio::time::sleep(fault.delay()).await;
        if let Some(response) = failure_response(fault) {
            return response;
        }
        if *fault == Fault::InventoryDenied {
            return gql_error(
                StatusCode::OK,
                "UNAUTHORIZED",
                "access denied; required permissions: [read:resources]",
            );
        }
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let account = {
        let tokens = sim.tokens.lock().expect("tokens");
        match tokens.get(bearer) {
            Some((index, expires)) if Instant::now() < *expires => {
                sim.config.accounts[*index].clone()
            }
            _ => {
                return gql_error(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHENTICATED",
                    "Invalid or expired token",
                );
            }
        }
    };
    if request.is_null() {
        return gql_error(
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            "body is not JSON",
        );
    }
    let variables = &request["variables"];
    let (scope, result) = if query.contains("issuesV2") {
        let page = sim.stats.issue_pages.fetch_add(1, Ordering::SeqCst) + 1;
        let gate = sim.page_gates.lock().expect("gates").get(&page).cloned();
        if let Some(gate) = gate {
            gate.pass().await;
        }
        (READ_ISSUES, issues(&sim.live(), variables))
    } else if query.contains("cloudResourcesV2") {
        (READ_RESOURCES, resources(&sim.live(), variables))
    } else {
        return gql_error(StatusCode::OK, "BAD_USER_INPUT", "unknown query");
    };
    if !account.scopes.contains(&scope) {
        let message = format!(
            "access denied; required permissions: [{scope}], your permissions: [{}]",
            account.scopes.join(", ")
        );
        return gql_error(StatusCode::OK, "UNAUTHORIZED", &message);
    }
    let data = match result {
        Ok(data) => data,
        Err(message) => return gql_error(StatusCode::OK, "BAD_USER_INPUT", &message),
    };
    // Written straight from the records; only a fault that rewrites the content builds a
    // JSON tree to edit.
    let body = match fault.as_ref().filter(|f| f.changes_content()) {
        Some(fault) => corrupt(fault, json!({ "data": data }), &variables["after"]).to_string(),
        None => format!(
            r#"{{"data":{}}}"#,
            serde_json::to_string(&data).expect("plain data serializes")
        ),
    };
    deliver(fault.as_ref(), body)
}

/// The answer a fault puts in place of the real one: throttling, an outage, a stale token.
fn failure_response(fault: &Fault) -> Option<Response> {
    match fault {
        Fault::RateLimited { retry_after } => {
            let mut response = gql_error(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMIT_EXCEEDED",
                "Rate limit exceeded",
            );
            if let Some(seconds) = retry_after {
                response.headers_mut().insert(
                    "retry-after",
                    seconds
                        .to_string()
                        .parse()
                        .expect("a number is a header value"),
                );
            }
            Some(response)
        }
        Fault::ServerError { status } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY);
            Some((status, "<html><body>upstream unavailable</body></html>").into_response())
        }
        Fault::Unauthorized => Some(gql_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Token expired",
        )),
        _ => None,
    }
}

/// Applies a fault that changes the answer's content.
fn corrupt(fault: &Fault, mut body: Value, after: &Value) -> Value {
    let connection = if body["data"].get("issues").is_some() {
        "issues"
    } else {
        "cloudResourcesV2"
    };
    match fault {
        Fault::WrongShape => body["data"][connection]["nodes"] = json!({"unexpected": "object"}),
        Fault::ErrorsWithPartialData => {
            body["errors"] = json!([{"message": "Internal error resolving entitySnapshot", "path": [connection, "nodes", 0], "extensions": {"code": "INTERNAL"}}]);
        }
        Fault::RepeatedCursor => {
            body["data"][connection]["pageInfo"] = json!({"hasNextPage": true, "endCursor": if after.is_null() { json!(encode_cursor(0)) } else { after.clone() }});
        }
        Fault::NextPageWithoutCursor => {
            body["data"][connection]["pageInfo"] = json!({"hasNextPage": true, "endCursor": null})
        }
        Fault::EmptyPageWithFreshCursor if connection == "issues" => {
            // One past the request's position: each empty page points somewhere new.
            let position = decode_cursor(after).unwrap_or(0);
            body["data"][connection]["nodes"] = json!([]);
            body["data"][connection]["pageInfo"] =
                json!({"hasNextPage": true, "endCursor": encode_cursor(position + 1)});
        }
        _ => {}
    }
    body
}

/// Sends the body, or the broken version of it that the fault calls for.
fn deliver(fault: Option<&Fault>, body: String) -> Response {
    match fault {
        Some(Fault::TruncatedJson) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            body[..body.len() / 2].to_string(),
        )
            .into_response(),
        Some(Fault::MalformedJson) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            "<html>Service Temporarily Unavailable</html>",
        )
            .into_response(),
        Some(Fault::Trickle { millis }) => {
            const PIECES: u64 = 20;
            let gap = Duration::from_millis(millis / PIECES);
            let piece = body.len().div_ceil(PIECES as usize).max(1);
            let pieces: Vec<Bytes> = body
                .as_bytes()
                .chunks(piece)
                .map(Bytes::copy_from_slice)
                .collect();
            let stream = futures_util::stream::iter(pieces).then(move |piece| async move {
                tokio::time::sleep(gap).await;
                Ok::<_, std::io::Error>(piece)
            });
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                axum::body::Body::from_stream(stream),
            )
                .into_response()
        }
        Some(Fault::ResetMidBody) => {
            let half = Bytes::from(body[..body.len() / 2].to_string());
            let parts: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(half),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "injected reset",
                )),
            ];
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                axum::body::Body::from_stream(futures_util::stream::iter(parts)),
            )
                .into_response()
        }
        _ => (StatusCode::OK, [("content-type", "application/json")], body).into_response(),
    }
}

const CURSOR_PREFIX: &str = "sim-cursor:";

fn encode_cursor(position: u64) -> String {
    B64.encode(format!("{CURSOR_PREFIX}{position}"))
}

fn decode_cursor(cursor: &Value) -> Result<u64, String> {
    match cursor {
        Value::Null => Ok(0),
        Value::String(c) => B64
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix(CURSOR_PREFIX).and_then(|n| n.parse().ok()))
            .ok_or_else(|| format!("invalid cursor `{c}`")),
        _ => Err("`after` must be a string".into()),
    }
}

fn page_size(variables: &Value) -> Result<u64, String> {
    match variables["first"].as_u64() {
        Some(n) if n > 500 => Err("'first' must be less than or equal to 500".into()),
        Some(n) => Ok(n),
        None => Err("`first` is required".into()),
    }
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
        ),
        _ => Some(vec![]),
    }
}

/// The tenant as it is now: generated data plus the changes made since.
pub struct Live {
    tenant: Tenant,
    changes: HashMap<u64, StatusChange>,
    issues: u64,
    deleted: std::collections::HashSet<u64>,
    purged: std::collections::HashSet<u64>,
    descriptions: HashMap<u64, String>,
}

impl Sim {
    /// Replaces the fault rules and restarts their request counts.
    pub fn set_faults(&self, rules: Vec<FaultRule>) {
        *self.faults.lock().expect("faults") = Faults {
            rules,
            ..Faults::default()
        };
    }

    /// Counts a request to `endpoint` and returns the fault that hits it, if any.
    fn take_fault(&self, endpoint: Endpoint, inventory_query: bool) -> Option<Fault> {
        let mut faults = self.faults.lock().expect("faults");
        let count = match endpoint {
            Endpoint::Graphql => &mut faults.graphql_requests,
            Endpoint::Token => &mut faults.token_requests,
        };
        *count += 1;
        let n = *count;
        let fault = faults
            .rules
            .iter()
            .find(|r| {
                r.endpoint == endpoint
                    && r.hits(n)
                    && (r.fault != Fault::InventoryDenied || inventory_query)
            })
            .map(|r| r.fault.clone());
        if fault.is_some() {
            self.stats.faults_delivered.fetch_add(1, Ordering::SeqCst);
        }
        fault
    }

    /// Holds the `n`th issue page requested from now (1-based) at a gate the caller opens.
    pub(crate) fn hold_issue_page(&self, n: u64) -> std::sync::Arc<GateState> {
        let page = self.stats.issue_pages.load(Ordering::SeqCst) + n;
        let gate = GateState::new();
        self.page_gates
            .lock()
            .expect("gates")
            .insert(page, gate.clone());
        gate
    }

    /// A snapshot of the tenant's current state.
    pub fn live(&self) -> Live {
        Live {
            tenant: self.config.tenant,
            changes: self.changes.lock().expect("changes").clone(),
            issues: self.config.tenant.issues + self.added.load(Ordering::Relaxed),
            deleted: self.deleted.lock().expect("deleted").clone(),
            purged: self.purged.lock().expect("purged").clone(),
            descriptions: self.descriptions.lock().expect("descriptions").clone(),
        }
    }
}

impl Sim {
    /// Issues generated at start.
    pub fn config_issues(&self) -> u64 {
        self.config.tenant.issues
    }
}

impl Live {
    /// The generated data underneath.
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    #[cfg(test)]
    fn of(tenant: Tenant) -> Self {
        Live {
            tenant,
            changes: HashMap::new(),
            issues: tenant.issues,
            deleted: Default::default(),
            purged: Default::default(),
            descriptions: HashMap::new(),
        }
    }
}

/// Issue `i` as served: generated, then changed.
fn issue_node(live: &Live, i: u64) -> IssueRecord {
    let mut node = live.tenant.issue_record(i);
    if let Some(change) = live.changes.get(&i) {
        node.status = change.status.clone();
        node.resolution_reason = change.resolution_reason.clone();
        node.status_changed_at = change.at.clone();
        node.updated_at = change.at.clone();
        node.resolved_at =
            matches!(change.status.as_str(), "RESOLVED" | "REJECTED").then(|| change.at.clone());
    }
    if let Some(description) = live.descriptions.get(&i) {
        node.set_description(description);
    }
    node
}

/// A GraphQL connection page.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Connection<T> {
    nodes: Vec<T>,
    page_info: PageInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_count: Option<u64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: String,
}

/// The `data` of an answer.
#[derive(Debug, Serialize)]
enum Data {
    #[serde(rename = "issues")]
    Issues(Connection<IssueRecord>),
    #[serde(rename = "cloudResourcesV2")]
    Resources(Connection<ResourceRecord>),
}

/// `issuesV2`: filters severity, status, project and statusChangedAt.after.
fn issues(live: &Live, variables: &Value) -> Result<Data, String> {
    let first = page_size(variables)?;
    let start = decode_cursor(&variables["after"])?;
    let filter = &variables["filterBy"];
    let severities = string_list(&filter["severity"]);
    let statuses = string_list(&filter["status"]);
    let projects = string_list(&filter["project"]);
    let changed_after = filter["statusChangedAt"]["after"]
        .as_str()
        .map(str::to_string);
    let has = |list: &Option<Vec<String>>, v: &str| {
        list.as_ref().is_none_or(|l| l.iter().any(|x| x == v))
    };
    let matches = |node: &IssueRecord| {
        has(&severities, node.severity)
            && has(&statuses, &node.status)
            && projects.as_ref().is_none_or(|ps| {
                node.projects
                    .iter()
                    .flatten()
                    .flatten()
                    .any(|p| ps.iter().any(|x| p.id == x))
            })
            && changed_after
                .as_deref()
                .is_none_or(|after| node.status_changed_at.as_str() > after)
    };
    let mut nodes = Vec::new();
    let mut position = start;
    let mut end_cursor = start;
    let mut has_next = false;
    while position < live.issues {
        let index = position;
        position += 1;
        if live.purged.contains(&index) {
            continue;
        }
        let node = issue_node(live, index);
        if !matches(&node) {
            continue;
        }
        if nodes.len() as u64 == first {
            has_next = true; // one match of lookahead; it starts the next page
            break;
        }
        nodes.push(node);
        end_cursor = position;
    }
    let total_count = variables["withTotal"].as_bool().unwrap_or(false).then(|| {
        // A full read filters by severity only, which changes never touch: count on the
        // generated issues instead of building every node a second time.
        let live_issues = (0..live.issues).filter(|i| !live.purged.contains(i));
        if statuses.is_none() && projects.is_none() && changed_after.is_none() {
            live_issues
                .filter(|i| has(&severities, live.tenant.issue(*i).severity))
                .count() as u64
        } else {
            live_issues
                .filter(|i| matches(&issue_node(live, *i)))
                .count() as u64
        }
    });
    Ok(Data::Issues(Connection {
        nodes,
        page_info: PageInfo {
            has_next_page: has_next,
            end_cursor: encode_cursor(end_cursor),
        },
        total_count,
    }))
}

/// `cloudResourcesV2` filtered by `id.equals`.
fn resources(live: &Live, variables: &Value) -> Result<Data, String> {
    let first = page_size(variables)?;
    let start = decode_cursor(&variables["after"])?;
    let ids = string_list(&variables["filterBy"]["id"]["equals"]).unwrap_or_default();
    let mut found: Vec<ResourceRecord> = ids
        .iter()
        .filter_map(|id| live.tenant.resource_node(id, &live.deleted))
        .collect();
    let count = found.len() as u64;
    let end = (start + first).min(count);
    let nodes = found
        .drain(start.min(count) as usize..end as usize)
        .collect();
    Ok(Data::Resources(Connection {
        nodes,
        page_info: PageInfo {
            has_next_page: end < count,
            end_cursor: encode_cursor(end),
        },
        total_count: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(live: &Live, variables: &Value) -> Result<Value, String> {
        issues(live, variables).map(|d| serde_json::to_value(d).unwrap())
    }

    fn vars(first: u64, after: Value) -> Value {
        json!({"first": first, "after": after, "filterBy": {"severity": ["CRITICAL", "HIGH", "MEDIUM", "LOW"]}, "withTotal": true})
    }

    #[test]
    fn first_over_500_is_refused_like_wiz() {
        let t = Tenant {
            seed: 3,
            issues: 10,
        };
        assert_eq!(
            page(&Live::of(t), &vars(501, Value::Null)).unwrap_err(),
            "'first' must be less than or equal to 500"
        );
        assert!(page(&Live::of(t), &vars(500, Value::Null)).is_ok());
        assert!(
            page(&Live::of(t), &json!({"after": null})).is_err(),
            "first is required"
        );
    }

    #[test]
    fn pages_cover_every_match_once_and_end_cleanly() {
        let t = Tenant {
            seed: 3,
            issues: 1000,
        };
        let mut seen = Vec::new();
        let mut after = Value::Null;
        let mut total = None;
        loop {
            let page = page(&Live::of(t), &vars(64, after.clone())).unwrap();
            let connection = &page["issues"];
            total = total.or(connection["totalCount"].as_u64());
            seen.extend(
                connection["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n["id"].as_str().unwrap().to_string()),
            );
            if !connection["pageInfo"]["hasNextPage"].as_bool().unwrap() {
                break;
            }
            after = connection["pageInfo"]["endCursor"].clone();
        }
        let expected: Vec<String> = (0..t.issues)
            .map(|i| t.issue(i))
            .filter(|i| i.severity != "INFORMATIONAL")
            .map(|i| i.id)
            .collect();
        assert_eq!(seen, expected);
        assert_eq!(total, Some(expected.len() as u64));
        assert!(
            page(&Live::of(t), &vars(10, json!("not-a-cursor")))
                .unwrap_err()
                .contains("invalid cursor")
        );
    }

    #[test]
    fn project_and_status_changed_filters() {
        let t = Tenant {
            seed: 3,
            issues: 400,
        };
        let project = crate::data::PROJECTS[0].0;
        let page = self::page(
            &Live::of(t),
            &json!({"first": 500, "filterBy": {"project": project}}),
        )
        .unwrap();
        for node in page["issues"]["nodes"].as_array().unwrap() {
            assert!(
                node["projects"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["id"] == project)
            );
        }
        let page = self::page(&Live::of(t), &json!({"first": 500, "filterBy": {"statusChangedAt": {"after": "2026-01-01T03:00:00Z"}}})).unwrap();
        for node in page["issues"]["nodes"].as_array().unwrap() {
            assert!(node["statusChangedAt"].as_str().unwrap() > "2026-01-01T03:00:00Z");
        }
    }
}
