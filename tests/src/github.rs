//! The GitHub simulator: an organization's Dependabot alerts over GitHub's REST API, on
//! deterministic data, with cursor paging through `Link`, rate-limit headers, pinned API
//! versions, a token without the Dependabot permission, and faults to inject (primary
//! and secondary rate limits, server errors). See `docs/github-dependabot-api.md`.

use crate::background::Background;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

/// A token that may read everything, Dependabot alerts included.
pub const FULL_TOKEN: &str = "ghp_simFullAccessToken0000000000000001";
/// A valid token without the Dependabot alerts permission.
pub const NO_DEPENDABOT_TOKEN: &str = "ghp_simNoDependabotToken00000000000002";
/// The API versions the simulator accepts in `X-GitHub-Api-Version`.
pub const API_VERSIONS: [&str; 2] = ["2022-11-28", "2026-03-10"];

/// What the simulated organization holds.
#[derive(Debug, Clone)]
pub struct GithubConfig {
    /// The organization's login.
    pub org: String,
    /// Repositories.
    pub repos: u32,
    /// Alerts per repository.
    pub alerts_per_repo: u32,
    /// Seed of the generated data.
    pub seed: u64,
}

impl GithubConfig {
    /// Organization `acme` with `repos` repositories of `alerts_per_repo` alerts each.
    pub fn new(seed: u64, repos: u32, alerts_per_repo: u32) -> Self {
        GithubConfig {
            org: "acme".into(),
            repos,
            alerts_per_repo,
            seed,
        }
    }
}

/// A fault the next alerts requests meet, one per request, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 500 Internal Server Error.
    ServerError,
    /// The primary limit spent: 403 with `x-ratelimit-remaining: 0` and a reset this many
    /// seconds ahead.
    PrimaryLimit {
        /// Seconds until the reset.
        reset_in: u64,
    },
    /// A secondary limit: `status` (403 or 429), with `retry-after` when given.
    SecondaryLimit {
        /// 403 or 429.
        status: u16,
        /// The `retry-after` value, if any.
        retry_after: Option<u32>,
    },
}

/// One alert as the simulator keeps it.
#[derive(Debug, Clone)]
struct Alert {
    repo: u32,
    number: u32,
    state: &'static str,
    dismissed_reason: Option<&'static str>,
    severity: &'static str,
    ecosystem: &'static str,
    package: String,
    ghsa: String,
    cve: Option<String>,
    cvss_v3: Option<f64>,
    cvss_v4: Option<f64>,
    patched: Option<String>,
    created: i64,
    updated: i64,
}

impl Alert {
    /// Its key under `sort` (created or updated), ties broken by repository and number.
    fn key(&self, sort: &str) -> (i64, u32, u32) {
        let at = if sort == "updated" {
            self.updated
        } else {
            self.created
        };
        (at, self.repo, self.number)
    }
}

/// Mixes `parts` into a pseudo-random number (splitmix64).
fn mix(parts: &[u64]) -> u64 {
    parts.iter().fold(0x9E37_79B9_7F4A_7C15u64, |h, p| {
        let mut z = h ^ p.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// 2025-01-01T00:00:00Z.
const EPOCH_2025: i64 = 1_735_689_600;

fn generate(config: &GithubConfig) -> Vec<Alert> {
    let mut alerts = Vec::new();
    for repo in 0..config.repos {
        for number in 1..=config.alerts_per_repo {
            alerts.push(generated(config.seed, repo, number));
        }
    }
    alerts
}

fn generated(seed: u64, repo: u32, number: u32) -> Alert {
    let r = |salt: u64| mix(&[seed, u64::from(repo), u64::from(number), salt]);
    let (state, dismissed_reason) = match r(1) % 10 {
        0..=5 => ("open", None),
        6 | 7 => ("fixed", None),
        8 => ("dismissed", Some("tolerable_risk")),
        _ => ("auto_dismissed", None),
    };
    let severity = ["critical", "high", "medium", "low"][(r(2) % 4) as usize];
    let (ecosystem, package) = [
        ("npm", "lodash"),
        ("pip", "requests"),
        ("maven", "org.apache.logging.log4j:log4j-core"),
        ("go", "golang.org/x/net"),
        ("rust", "openssl"),
    ][(r(3) % 5) as usize];
    let hex = |v: u64| format!("{:04x}", v % 0x10000);
    let ghsa = format!("GHSA-{}-{}-{}", hex(r(4)), hex(r(5)), hex(r(6)));
    let cve = (r(7) % 3 != 0).then(|| format!("CVE-2024-{}", 10_000 + r(8) % 50_000));
    let score = |v: u64| (v % 101) as f64 / 10.0;
    let cvss_v3 = (r(9) % 3 != 0).then(|| score(r(10)));
    let cvss_v4 = (r(11) % 3 == 0).then(|| score(r(12)));
    let patched = (r(13) % 5 != 0).then(|| format!("{}.{}.{}", r(14) % 5, r(15) % 20, r(16) % 10));
    let created = EPOCH_2025 + (r(17) % (300 * 86_400)) as i64;
    let updated = created + (r(18) % (30 * 86_400)) as i64;
    Alert {
        repo,
        number,
        state,
        dismissed_reason,
        severity,
        ecosystem,
        package: package.into(),
        ghsa,
        cve,
        cvss_v3,
        cvss_v4,
        patched,
        created,
        updated,
    }
}

/// An RFC 3339 time to the second, as GitHub writes them.
fn time(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// What the simulator serves and remembers.
struct Sim {
    config: GithubConfig,
    base: Mutex<String>,
    alerts: Mutex<Vec<Alert>>,
    deleted_repos: Mutex<HashSet<u32>>,
    faults: Mutex<VecDeque<Fault>>,
    requests: Mutex<Vec<String>>,
}

/// A GitHub simulator on a loopback port; stops when dropped.
pub struct GithubSim {
    server: Background,
    sim: Arc<Sim>,
}

impl GithubSim {
    /// Starts one.
    pub fn start(config: GithubConfig) -> std::io::Result<Self> {
        let sim = Arc::new(Sim {
            alerts: Mutex::new(generate(&config)),
            config,
            base: Mutex::new(String::new()),
            deleted_repos: Mutex::default(),
            faults: Mutex::default(),
            requests: Mutex::default(),
        });
        let router = axum::Router::new()
            .route("/rate_limit", get(rate_limit))
            .route("/orgs/{org}", get(organization))
            .route("/orgs/{org}/dependabot/alerts", get(org_alerts))
            .route("/repos/{owner}/{repo}/dependabot/alerts", get(repo_alerts))
            .with_state(sim.clone());
        let server = Background::serve("github-sim", router)?;
        *sim.base.lock().unwrap() = format!("http://{}", server.addr());
        Ok(GithubSim { server, sim })
    }

    /// The API URL, as `api-url` takes it.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The organization's login.
    pub fn org(&self) -> &str {
        &self.sim.config.org
    }

    /// A repository's full name.
    pub fn repo_name(&self, repo: u32) -> String {
        format!("{}/{}", self.sim.config.org, repo_name(repo))
    }

    /// The finding ids (`REPO_ID/NUMBER`) of the alerts of `severities` in repositories
    /// not deleted, whatever their state, sorted.
    pub fn expected_findings(&self, severities: &[&str]) -> Vec<String> {
        let deleted = self.sim.deleted_repos.lock().unwrap().clone();
        let mut ids: Vec<String> = self
            .sim
            .alerts
            .lock()
            .unwrap()
            .iter()
            .filter(|a| severities.contains(&a.severity) && !deleted.contains(&a.repo))
            .map(|a| format!("{}/{}", repo_id(a.repo), a.number))
            .collect();
        ids.sort();
        ids
    }

    /// The state of alert `number` of `repo`, now.
    pub fn set_state(&self, repo: u32, number: u32, state: &'static str) {
        let mut alerts = self.sim.alerts.lock().unwrap();
        if let Some(a) = alerts
            .iter_mut()
            .find(|a| a.repo == repo && a.number == number)
        {
            a.state = state;
            a.dismissed_reason = (state == "dismissed").then_some("no_bandwidth");
            a.updated = chrono::Utc::now().timestamp();
        }
    }

    /// Deletes a repository: its alerts vanish from every listing.
    pub fn delete_repo(&self, repo: u32) {
        self.sim.deleted_repos.lock().unwrap().insert(repo);
    }

    /// Queues faults for the next alerts requests, one each.
    pub fn queue_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.sim.faults.lock().unwrap().extend(faults);
    }

    /// Every request so far, as `PATH?QUERY`.
    pub fn requests(&self) -> Vec<String> {
        self.sim.requests.lock().unwrap().clone()
    }
}

fn repo_name(repo: u32) -> String {
    format!("service-{repo:03}")
}

fn repo_id(repo: u32) -> u64 {
    700_000 + u64::from(repo)
}

/// A GitHub error body.
fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": status.as_u16().to_string(),
    });
    (status, axum::Json(body)).into_response()
}

/// What every answer carries: the primary limit's headers.
fn with_rate_headers(mut response: Response, remaining: u64, reset: i64) -> Response {
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("x-ratelimit-limit", "5000".into());
    set("x-ratelimit-remaining", remaining.to_string());
    set("x-ratelimit-used", (5000 - remaining.min(5000)).to_string());
    set("x-ratelimit-reset", reset.to_string());
    set("x-ratelimit-resource", "core".into());
    response
}

/// Checks the token and the API version; the grant of a valid token, whether it may
/// read Dependabot alerts.
fn authorize(sim: &Sim, headers: &HeaderMap, path: &str) -> Result<bool, Box<Response>> {
    sim.requests.lock().unwrap().push(path.to_string());
    if let Some(version) = headers.get("x-github-api-version")
        && !API_VERSIONS.iter().any(|v| version == *v)
    {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            &format!(
                "The requested API version '{}' is not supported.",
                version.to_str().unwrap_or("?")
            ),
        )));
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("token "))
        });
    match token {
        Some(FULL_TOKEN) => Ok(true),
        Some(NO_DEPENDABOT_TOKEN) => Ok(false),
        _ => Err(Box::new(error(StatusCode::UNAUTHORIZED, "Bad credentials"))),
    }
}

fn reset_at() -> i64 {
    chrono::Utc::now().timestamp() + 3600
}

async fn rate_limit(State(sim): State<Arc<Sim>>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorize(&sim, &headers, "/rate_limit") {
        return *refused;
    }
    let core = json!({"limit": 5000, "remaining": 4999, "used": 1, "reset": reset_at()});
    let body = json!({"resources": {"core": core}, "rate": core});
    with_rate_headers(axum::Json(body).into_response(), 4999, reset_at())
}

async fn organization(
    State(sim): State<Arc<Sim>>,
    Path(org): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = authorize(&sim, &headers, &format!("/orgs/{org}")) {
        return *refused;
    }
    if org != sim.config.org {
        return error(StatusCode::NOT_FOUND, "Not Found");
    }
    let body = json!({"login": org, "id": 4242, "html_url": format!("https://github.com/{org}")});
    with_rate_headers(axum::Json(body).into_response(), 4998, reset_at())
}

async fn org_alerts(
    State(sim): State<Arc<Sim>>,
    Path(org): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/orgs/{org}/dependabot/alerts");
    if org != sim.config.org {
        return match authorize(&sim, &headers, &path) {
            Err(refused) => *refused,
            Ok(_) => error(StatusCode::NOT_FOUND, "Not Found"),
        };
    }
    alerts(&sim, &path, None, query, &headers)
}

async fn repo_alerts(
    State(sim): State<Arc<Sim>>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/repos/{owner}/{repo}/dependabot/alerts");
    let index = (0..sim.config.repos).find(|r| repo_name(*r) == repo);
    match (owner == sim.config.org, index) {
        (true, Some(index)) if !sim.deleted_repos.lock().unwrap().contains(&index) => {
            alerts(&sim, &path, Some(index), query, &headers)
        }
        _ => match authorize(&sim, &headers, &path) {
            Err(refused) => *refused,
            Ok(_) => error(StatusCode::NOT_FOUND, "Not Found"),
        },
    }
}

/// One page of alerts, of one repository or of the whole organization.
fn alerts(
    sim: &Sim,
    path: &str,
    only_repo: Option<u32>,
    query: BTreeMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    let listed = format!(
        "{path}?{}",
        query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    );
    let may_read = match authorize(sim, headers, &listed) {
        Ok(may) => may,
        Err(refused) => return *refused,
    };
    if let Some(fault) = sim.faults.lock().unwrap().pop_front() {
        return fault_response(fault);
    }
    if !may_read {
        return error(
            StatusCode::FORBIDDEN,
            "Resource not accessible by personal access token",
        );
    }
    let per_page = match query.get("per_page").map(|v| v.parse::<usize>()) {
        None => 30,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        _ => return error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed"),
    };
    if query.contains_key("page") {
        return error(
            StatusCode::BAD_REQUEST,
            "Pagination using the `page` parameter is not supported.",
        );
    }
    let list = |key: &str| -> Option<Vec<String>> {
        query
            .get(key)
            .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
    };
    let states = list("state");
    let severities = list("severity");
    let sort = query.get("sort").map_or("created", String::as_str);
    if !matches!(sort, "created" | "updated") {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
    }
    let ascending = query.get("direction").is_some_and(|d| d == "asc");
    let after = match query.get("after").map(|c| decode_cursor(c)) {
        None => None,
        Some(Some(key)) => Some(key),
        Some(None) => return error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed"),
    };
    let deleted = sim.deleted_repos.lock().unwrap().clone();
    let mut matching: Vec<Alert> = sim
        .alerts
        .lock()
        .unwrap()
        .iter()
        .filter(|a| only_repo.is_none_or(|r| a.repo == r) && !deleted.contains(&a.repo))
        .filter(|a| {
            states
                .as_ref()
                .is_none_or(|s| s.iter().any(|s| s == a.state))
        })
        .filter(|a| {
            severities
                .as_ref()
                .is_none_or(|s| s.iter().any(|s| s == a.severity))
        })
        .cloned()
        .collect();
    matching.sort_by_key(|a| a.key(sort));
    if !ascending {
        matching.reverse();
    }
    let start = after.map_or(0, |key| {
        matching
            .iter()
            .position(|a| match ascending {
                true => a.key(sort) > key,
                false => a.key(sort) < key,
            })
            .unwrap_or(matching.len())
    });
    let page: Vec<&Alert> = matching.iter().skip(start).take(per_page).collect();
    let base = sim.base.lock().unwrap().clone();
    let body: Vec<Value> = page
        .iter()
        .map(|a| alert_json(a, &sim.config.org, &base))
        .collect();
    let mut response = axum::Json(body).into_response();
    if start + page.len() < matching.len()
        && let Some(last) = page.last()
    {
        let mut next: Vec<(String, String)> = query
            .iter()
            .filter(|(k, _)| k.as_str() != "after")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        next.push(("after".into(), encode_cursor(last.key(sort))));
        let next_query = next
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let link = format!("<{base}{path}?{next_query}>; rel=\"next\"");
        if let Ok(v) = HeaderValue::from_str(&link) {
            response.headers_mut().insert("link", v);
        }
    }
    with_rate_headers(response, 4000, reset_at())
}

fn fault_response(fault: Fault) -> Response {
    match fault {
        Fault::ServerError => error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error"),
        Fault::PrimaryLimit { reset_in } => {
            let reset = chrono::Utc::now().timestamp() + reset_in as i64;
            with_rate_headers(
                error(
                    StatusCode::FORBIDDEN,
                    "API rate limit exceeded for user ID 1.",
                ),
                0,
                reset,
            )
        }
        Fault::SecondaryLimit {
            status,
            retry_after,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
            let mut response = error(
                status,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            );
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from(seconds));
            }
            with_rate_headers(response, 3000, reset_at())
        }
    }
}

/// An opaque cursor for the alert after which the next page starts.
fn encode_cursor(key: (i64, u32, u32)) -> String {
    use base64::Engine as _;
    let text = format!("v1:{}:{}:{}", key.0, key.1, key.2);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode_cursor(cursor: &str) -> Option<(i64, u32, u32)> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.strip_prefix("v1:")?.split(':');
    let key = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    parts.next().is_none().then_some(key)
}

fn cvss(score: Option<f64>, version: &str, seed: u64) -> Value {
    match score {
        None => json!({"vector_string": null, "score": 0.0}),
        Some(score) => {
            let vector = match version {
                "4.0" => format!(
                    "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:{}/VA:N/SC:N/SI:N/SA:N",
                    ["H", "L", "N"][(seed % 3) as usize]
                ),
                _ => format!(
                    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:{}/A:N",
                    ["H", "L", "N"][(seed % 3) as usize]
                ),
            };
            json!({"vector_string": vector, "score": score})
        }
    }
}

fn alert_json(a: &Alert, org: &str, base: &str) -> Value {
    let repo = repo_name(a.repo);
    let full_name = format!("{org}/{repo}");
    let package = json!({"ecosystem": a.ecosystem, "name": a.package});
    let mut identifiers = vec![json!({"type": "GHSA", "value": a.ghsa})];
    if let Some(cve) = &a.cve {
        identifiers.push(json!({"type": "CVE", "value": cve}));
    }
    let range = match &a.patched {
        Some(fixed) => format!("< {fixed}"),
        None => ">= 0".into(),
    };
    let seed = u64::from(a.number) + u64::from(a.repo);
    let at = |state: &str| (a.state == state).then(|| time(a.updated));
    json!({
        "number": a.number,
        "state": a.state,
        "dependency": {
            "package": package,
            "manifest_path": "package-lock.json",
            "scope": "runtime",
            "relationship": "direct",
        },
        "security_advisory": {
            "ghsa_id": a.ghsa,
            "cve_id": a.cve,
            "summary": format!("{} vulnerability in {}", a.severity, a.package),
            "description": format!("A {} severity flaw in {} lets an attacker do harm.", a.severity, a.package),
            "vulnerabilities": [{
                "package": package,
                "severity": a.severity,
                "vulnerable_version_range": range,
                "first_patched_version": a.patched.as_ref().map(|p| json!({"identifier": p})),
            }],
            "severity": a.severity,
            "cvss": {"vector_string": null, "score": 0.0},
            "cvss_severities": {
                "cvss_v3": cvss(a.cvss_v3, "3.1", seed),
                "cvss_v4": cvss(a.cvss_v4, "4.0", seed),
            },
            "epss": [{"percentage": 0.001, "percentile": 0.2}],
            "cwes": [{"cwe_id": "CWE-400", "name": "Uncontrolled Resource Consumption"}],
            "identifiers": identifiers,
            "references": [{"url": format!("https://github.com/advisories/{}", a.ghsa)}],
            "published_at": time(a.created - 86_400),
            "updated_at": time(a.created),
            "withdrawn_at": null,
        },
        "security_vulnerability": {
            "package": package,
            "severity": a.severity,
            "vulnerable_version_range": range,
            "first_patched_version": a.patched.as_ref().map(|p| json!({"identifier": p})),
        },
        "url": format!("{base}/repos/{full_name}/dependabot/alerts/{}", a.number),
        "html_url": format!("https://github.com/{full_name}/security/dependabot/{}", a.number),
        "created_at": time(a.created),
        "updated_at": time(a.updated),
        "dismissed_at": at("dismissed"),
        "dismissed_by": null,
        "dismissed_reason": a.dismissed_reason,
        "dismissed_comment": null,
        "fixed_at": at("fixed"),
        "auto_dismissed_at": at("auto_dismissed"),
        "repository": {
            "id": repo_id(a.repo),
            "name": repo,
            "full_name": full_name,
            "private": a.repo.is_multiple_of(2),
            "html_url": format!("https://github.com/{full_name}"),
            "owner": {"login": org},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let key = (1_735_689_600, 3, 17);
        assert_eq!(decode_cursor(&encode_cursor(key)), Some(key));
        assert_eq!(decode_cursor("not-a-cursor"), None);
    }

    #[test]
    fn the_data_is_deterministic_and_varied() {
        let config = GithubConfig::new(7, 4, 25);
        let (a, b) = (generate(&config), generate(&config));
        assert_eq!(a.len(), 100);
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| x.ghsa == y.ghsa && x.updated == y.updated)
        );
        for state in ["open", "fixed", "dismissed", "auto_dismissed"] {
            assert!(a.iter().any(|x| x.state == state), "{state}");
        }
        assert!(a.iter().any(|x| x.cve.is_none()) && a.iter().any(|x| x.patched.is_none()));
        assert!(a.iter().any(|x| x.cvss_v3.is_none() && x.cvss_v4.is_none()));
    }
}
