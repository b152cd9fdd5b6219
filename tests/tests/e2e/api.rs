//! The HTTP API of `serve`: credentials, roles, sessions with CSRF, the security headers,
//! problem answers, and the guide's flow (configure, test, save, sync now, history)
//! against the simulator.

use crate::harness::{FULL_SECRET, Host, Served, wait_for};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use wiz_sim::{SimConfig, Simulator};

/// Requests to one served API.
struct Api {
    base: String,
    client: Client,
}

impl Api {
    fn new(served: &Served) -> Self {
        Api {
            base: served.api.clone(),
            client: Client::builder().cookie_store(true).build().unwrap(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(self.url(path))
    }

    fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(self.url(path))
    }

    fn patch(&self, path: &str) -> RequestBuilder {
        self.client.patch(self.url(path))
    }
}

/// The answer's status and JSON body.
fn answer(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Asserts a problem answer of `status` and type `kind`; returns it.
fn problem(response: Response, status: StatusCode, kind: &str) -> Value {
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    let (got, body) = answer(response);
    assert_eq!(got, status, "{body}");
    assert_eq!(content_type, "application/problem+json");
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with(&format!("#{kind}")),
        "{body}"
    );
    assert!(!body["detail"].as_str().unwrap().is_empty());
    body
}

fn wiz_body(name: &str, sim: &Simulator, secret: &str) -> Value {
    json!({
        "name": name,
        "connector": "wiz",
        "settings": {
            "api-url": sim.api_url(),
            "auth-url": sim.auth_url(),
            "client-id": "sim-client",
            "client-secret": secret,
            "max-requests-per-second": "100",
        },
        "policy": {"auto_sync_days": 1},
    })
}

#[test]
fn every_route_but_health_wants_credentials_and_every_answer_is_hardened() {
    let host = Host::new();
    let served = host.serve_http(&[]);
    let api = Api::new(&served);

    let log = served.background.log_text();
    assert!(
        log.contains(&host.admin_token_file().display().to_string()),
        "{log}"
    );
    assert!(
        !log.contains(&served.admin_token),
        "the token itself is never printed"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(host.admin_token_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let health = api.get("/health").send().unwrap();
    let headers = health.headers().clone();
    assert_eq!(answer(health), (StatusCode::OK, json!({"status": "ok"})));
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");

    for path in [
        "/integrations",
        "/plugins",
        "/me",
        "/integrations/x/history",
    ] {
        let response = api.get(path).send().unwrap();
        assert_eq!(response.headers()["x-frame-options"], "DENY", "{path}");
        assert!(
            response.headers().contains_key("www-authenticate"),
            "{path}"
        );
        problem(response, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    let wrong = api
        .get("/me")
        .bearer_auth("cht_not-a-token")
        .send()
        .unwrap();
    problem(wrong, StatusCode::UNAUTHORIZED, "unauthenticated");
    let malformed = api
        .get("/me")
        .header("authorization", "Basic abc")
        .send()
        .unwrap();
    problem(malformed, StatusCode::UNAUTHORIZED, "unauthenticated");

    let (status, me) = answer(
        api.get("/me")
            .bearer_auth(&served.admin_token)
            .send()
            .unwrap(),
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (me["name"].as_str(), me["role"].as_str()),
        (Some("admin"), Some("admin"))
    );
    let missing = api
        .get("/nowhere")
        .bearer_auth(&served.admin_token)
        .send()
        .unwrap();
    problem(missing, StatusCode::NOT_FOUND, "not-found");

    let (status, document) = answer(api.get("/openapi.json").send().unwrap());
    assert_eq!(
        status,
        StatusCode::OK,
        "the document is public, like the health check"
    );
    assert_eq!(document["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    for path in [
        "/health",
        "/integrations",
        "/integrations/{name}",
        "/integrations/{name}/test",
        "/integrations/{name}/sync",
        "/integrations/{name}/sync/events",
        "/integrations/{name}/history",
        "/session",
    ] {
        assert!(document["paths"][path].is_object(), "{path} is documented");
    }
}

#[test]
fn the_guide_flow_configure_test_save_sync_now_and_history() {
    let sim = Simulator::start(SimConfig::new(31, 1200)).unwrap();
    let host = Host::new();
    let served = host.serve_http(&[]);
    let api = Api::new(&served);
    let token = served.admin_token.as_str();

    // Test Connection on a form not yet saved: each named step, and nothing saved.
    let wrong_secret = "definitely-wrong-secret";
    let (_, plugins) = answer(api.get("/plugins").bearer_auth(token).send().unwrap());
    assert!(
        plugins
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "wiz")
    );
    let try_with = |secret: &str| {
        let settings = wiz_body("w", &sim, secret)["settings"].clone();
        answer(
            api.post("/plugins/wiz/test")
                .bearer_auth(token)
                .json(&json!({"settings": settings}))
                .send()
                .unwrap(),
        )
    };
    let (status, passed) = try_with(FULL_SECRET);
    assert_eq!(
        (status, passed["passed"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{passed}"
    );
    let names: Vec<&str> = passed["report"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["token", "api", "scope", "inventory"]);
    let (_, failed) = try_with(wrong_secret);
    assert_eq!(failed["passed"].as_bool(), Some(false));
    assert_eq!(
        failed["report"]["steps"][0]["outcome"], "failed",
        "{failed}"
    );
    assert!(!failed.to_string().contains(wrong_secret));
    let (_, listed) = answer(api.get("/integrations").bearer_auth(token).send().unwrap());
    assert_eq!(listed, json!([]), "testing saves nothing");

    // A wrong secret on save: the token step fails, nothing is saved, the secret is not
    // echoed.
    let refused = api
        .post("/integrations")
        .bearer_auth(token)
        .json(&wiz_body("w", &sim, wrong_secret))
        .send()
        .unwrap();
    let body = problem(refused, StatusCode::UNPROCESSABLE_ENTITY, "connection-test");
    assert!(!body.to_string().contains(wrong_secret), "{body}");
    assert!(body["detail"].as_str().unwrap().contains("nothing saved"));
    let token_step = &body["report"]["steps"][0];
    assert_eq!(token_step["outcome"], "failed", "{body}");
    let missing = api
        .get("/integrations/w")
        .bearer_auth(token)
        .send()
        .unwrap();
    problem(missing, StatusCode::NOT_FOUND, "not-found");

    // The right one: tested, saved, shown masked.
    let (status, created) = answer(
        api.post("/integrations")
            .bearer_auth(token)
            .json(&wiz_body("w", &sim, FULL_SECRET))
            .send()
            .unwrap(),
    );
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let steps = created["test"]["steps"].as_array().unwrap();
    assert!(
        steps.len() >= 3 && steps.iter().all(|s| s["outcome"] == "passed"),
        "{created}"
    );
    assert!(!created.to_string().contains(FULL_SECRET));
    let (_, shown) = answer(
        api.get("/integrations/w")
            .bearer_auth(token)
            .send()
            .unwrap(),
    );
    let secret = shown["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "client-secret")
        .unwrap();
    assert_eq!(
        (secret["set"].as_bool(), &secret["value"]),
        (Some(true), &Value::Null)
    );
    assert_eq!(shown["policy"]["auto_sync_days"], 1);
    let duplicate = api
        .post("/integrations")
        .bearer_auth(token)
        .json(&wiz_body("w", &sim, FULL_SECRET))
        .send()
        .unwrap();
    problem(duplicate, StatusCode::CONFLICT, "conflict");

    // An edit with an empty secret keeps the stored one and changes only the page size.
    let (status, updated) = answer(
        api.patch("/integrations/w")
            .bearer_auth(token)
            .json(&json!({"settings": {"client-secret": "", "page-size": "200"}}))
            .send()
            .unwrap(),
    );
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["changed"], json!(["page-size"]));
    assert!(
        updated["test"]["steps"].is_array(),
        "a settings change is tested"
    );

    // Sync Now, followed to its end over the event stream.
    let (status, started) = answer(
        api.post("/integrations/w/sync")
            .bearer_auth(token)
            .send()
            .unwrap(),
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let events = api
        .get("/integrations/w/sync/events")
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let mut kinds = Vec::new();
    let mut finished = Value::Null;
    let mut last_kind = String::new();
    for line in BufReader::new(events).lines() {
        let line = line.unwrap();
        if let Some(kind) = line.strip_prefix("event: ") {
            last_kind = kind.to_string();
            kinds.push(last_kind.clone());
        } else if let Some(data) = line.strip_prefix("data: ")
            && last_kind == "finished"
        {
            finished = serde_json::from_str(data).unwrap();
            break;
        }
    }
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("finished"),
        "{kinds:?}"
    );
    assert_eq!(finished["last"]["status"], "succeeded", "{finished}");
    assert_eq!(finished["last"]["action"], "sync_now");
    assert_eq!(finished["last"]["started_by"], "admin");
    let stored = finished["last"]["findings_new"].as_u64().unwrap();
    assert!(stored > 0, "{finished}");

    // Every finding, page by page, in the order and with the counts the CLI shows.
    let cli_ids: Vec<String> = host
        .json(&["findings", "w"])
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(cli_ids.len() as u64, stored);
    let (mut paged, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let mut request = api
            .get("/findings")
            .bearer_auth(token)
            .query(&[("integration", "w"), ("limit", "100")]);
        if let Some(c) = &cursor {
            request = request.query(&[("cursor", c)]);
        }
        let (status, page) = answer(request.send().unwrap());
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["total"].as_u64(), Some(stored));
        let counted: u64 = page["by_severity"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["count"].as_u64().unwrap())
            .sum();
        assert_eq!(counted, stored);
        paged.extend(
            page["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["id"].as_str().unwrap().to_string()),
        );
        pages += 1;
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(paged, cli_ids, "the pages, joined, are the whole listing");
    assert_eq!(pages, cli_ids.len().div_ceil(100));
    // Filtered: the same findings the CLI picks with the same filter, and the tenant
    // surely has some, so the check below is over something.
    let mut cli_critical: Vec<String> = host
        .json(&[
            "findings",
            "w",
            "--severity",
            "critical",
            "--status",
            "failed",
        ])
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    cli_critical.sort();
    assert!(
        !cli_critical.is_empty() && (cli_critical.len() as u64) < stored,
        "the tenant has some, not all, findings critical and failed: {}",
        cli_critical.len()
    );
    let (mut api_critical, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let mut request = api.get("/findings").bearer_auth(token).query(&[
            ("integration", "w"),
            ("severity", "critical"),
            ("status", "failed"),
            ("limit", "500"),
        ]);
        if let Some(c) = &cursor {
            request = request.query(&[("cursor", c)]);
        }
        let (status, page) = answer(request.send().unwrap());
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(
            page["total"].as_u64(),
            Some(cli_critical.len() as u64),
            "critical and failed: the API's total, the CLI's count"
        );
        let findings = page["findings"].as_array().unwrap();
        assert!(
            findings
                .iter()
                .all(|f| f["severity"] == "critical" && f["status"] == "failed"),
            "{page}"
        );
        api_critical.extend(
            findings
                .iter()
                .map(|f| f["id"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    api_critical.sort();
    assert_eq!(
        api_critical, cli_critical,
        "the API filters as the CLI does"
    );
    for bad in [
        vec![("cursor", "not-a-cursor")],
        vec![("limit", "0")],
        vec![("severity", "dreadful")],
        vec![("since", "yesterday")],
        vec![("colour", "red")],
    ] {
        let response = api
            .get("/findings")
            .bearer_auth(token)
            .query(&bad)
            .send()
            .unwrap();
        problem(response, StatusCode::BAD_REQUEST, "invalid");
    }

    // One finding in detail, and a status set here.
    let first = &cli_ids[0];
    let (status, detail) = answer(
        api.get(&format!("/integrations/w/findings/{first}"))
            .bearer_auth(token)
            .send()
            .unwrap(),
    );
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["finding"]["id"], first.as_str());
    assert!(
        detail["raw"].is_object(),
        "the raw record is the source's JSON"
    );
    let (status, changed) = answer(
        api.client
            .put(api.url(&format!("/integrations/w/findings/{first}/status")))
            .bearer_auth(token)
            .json(&json!({"status": "accepted_failed", "reason": "accepted by the API test"}))
            .send()
            .unwrap(),
    );
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["status"], "accepted_failed");
    assert!(changed["warning"].as_str().unwrap().contains("next sync"));
    // Assets page by cursor: the pages join up to what the CLI lists, and say the total.
    let listed = host.ids("assets", "w", "id");
    let mut paged: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("integration", "w".to_string()), ("limit", "7".into())];
        query.extend(cursor.take().map(|c| ("cursor", c)));
        let (status, page) = answer(
            api.get("/assets")
                .bearer_auth(token)
                .query(&query)
                .send()
                .unwrap(),
        );
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["total"], listed.len(), "{page}");
        let assets = page["assets"].as_array().unwrap();
        assert!(assets.len() <= 7);
        paged.extend(assets.iter().map(|a| a["id"].as_str().unwrap().to_string()));
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert!(listed.len() > 7, "more than one page: {}", listed.len());
    paged.sort();
    assert_eq!(paged, listed, "every asset once, none left out");
    let bad = api
        .get("/assets")
        .bearer_auth(token)
        .query(&[("cursor", "garbage")])
        .send()
        .unwrap();
    problem(bad, StatusCode::BAD_REQUEST, "invalid");

    // History: the status set, the sync, the settings change and the tests, newest first.
    let (_, history) = answer(
        api.get("/integrations/w/history")
            .bearer_auth(token)
            .send()
            .unwrap(),
    );
    let actions: Vec<&str> = history["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "status_change",
            "sync_now",
            "config_change",
            "test_connection"
        ],
        "{history}"
    );
    assert_eq!(history["total"], 4);
    let (_, older) = answer(
        api.get("/integrations/w/history")
            .bearer_auth(token)
            .query(&[("offset", "2"), ("limit", "1")])
            .send()
            .unwrap(),
    );
    assert_eq!(older["runs"][0]["action"], "config_change", "{older}");
    assert_eq!(older["runs"].as_array().unwrap().len(), 1);
    let (_, status_now) = answer(
        api.get("/integrations/w/sync")
            .bearer_auth(token)
            .send()
            .unwrap(),
    );
    assert_eq!(status_now["running"], Value::Null);
    assert_eq!(status_now["queued"], Value::Null);

    // A stored integration's test, and its removal.
    let (status, tested) = answer(
        api.post("/integrations/w/test")
            .bearer_auth(token)
            .send()
            .unwrap(),
    );
    assert_eq!(
        (status, tested["passed"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let removed = api
        .client
        .delete(api.url("/integrations/w"))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let gone = api
        .get("/integrations/w/history")
        .bearer_auth(token)
        .send()
        .unwrap();
    problem(gone, StatusCode::NOT_FOUND, "not-found");
}

#[test]
fn a_second_sync_now_while_one_runs_joins_it() {
    let sim = Simulator::start(SimConfig::new(32, 600)).unwrap();
    let host = Host::new();
    let served = host.serve_http(&[]);
    let api = Api::new(&served);
    let token = served.admin_token.as_str();
    let mut body = wiz_body("w", &sim, FULL_SECRET);
    body["settings"]["page-size"] = json!("100");
    body["test"] = json!(false);
    let created = api
        .post("/integrations")
        .bearer_auth(token)
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let status = || {
        answer(
            api.get("/integrations/w/sync")
                .bearer_auth(token)
                .send()
                .unwrap(),
        )
        .1
    };

    // The first sync is held at its second issue page: it is surely running while the
    // second Sync Now comes, however slow the machine.
    let gate = sim.hold_issue_page(2);
    let first = api
        .post("/integrations/w/sync")
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    gate.wait_reached(
        std::time::Duration::from_secs(60),
        "the first sync's second issue page",
    );
    let second = api
        .post("/integrations/w/sync")
        .bearer_auth(token)
        .send()
        .unwrap();
    let (code, joined) = answer(second);
    assert_eq!(code, StatusCode::ACCEPTED, "{joined}");
    assert_eq!(joined["request"], "joined_running", "{joined}");
    let running = status();
    assert_eq!(running["running"]["started_by"], "admin", "{running}");
    assert_eq!(running["queued"], Value::Null, "{running}");
    assert_eq!(running["last"]["status"], "running", "{running}");

    gate.open();
    wait_for(120, "the sync to finish", || status()["running"].is_null());
    let (_, history) = answer(
        api.get("/integrations/w/history")
            .bearer_auth(token)
            .send()
            .unwrap(),
    );
    let runs: Vec<&Value> = history["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "sync_now")
        .collect();
    assert_eq!(
        runs.len(),
        1,
        "the second Sync Now joined the first: {history}"
    );
    assert_eq!(
        (runs[0]["action"].as_str(), runs[0]["status"].as_str()),
        (Some("sync_now"), Some("succeeded")),
        "{history}"
    );
    assert_eq!(
        runs[0]["findings_new"].as_u64(),
        Some(host.json(&["findings", "w"]).len() as u64),
        "the held sync went on to its end: {history}"
    );
}

#[test]
fn a_viewer_reads_but_changes_nothing() {
    let host = Host::new();
    let served = host.serve_http(&[]);
    let out = host.run(&["users", "add", "vera", "--role", "viewer"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let viewer_token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(viewer_token.starts_with("cht_"));
    let api = Api::new(&served);

    let (status, me) = answer(api.get("/me").bearer_auth(&viewer_token).send().unwrap());
    assert_eq!(
        (status, me["role"].as_str()),
        (StatusCode::OK, Some("viewer"))
    );
    let (status, _) = answer(
        api.get("/integrations")
            .bearer_auth(&viewer_token)
            .send()
            .unwrap(),
    );
    assert_eq!(status, StatusCode::OK);
    let refused = api
        .post("/integrations")
        .bearer_auth(&viewer_token)
        .json(&json!({"name": "x", "connector": "wiz"}))
        .send()
        .unwrap();
    problem(refused, StatusCode::FORBIDDEN, "forbidden");

    // A rotated token stops working at once; a removed user too.
    let rotated = host.run(&["users", "rotate", "vera"]);
    assert!(rotated.status.success());
    let new_token = String::from_utf8(rotated.stdout)
        .unwrap()
        .trim()
        .to_string();
    problem(
        api.get("/me").bearer_auth(&viewer_token).send().unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    assert_eq!(
        api.get("/me")
            .bearer_auth(&new_token)
            .send()
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert!(host.run(&["users", "remove", "vera"]).status.success());
    problem(
        api.get("/me").bearer_auth(&new_token).send().unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    let users = host.json(&["users", "list"]);
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["name"], "admin");
}

#[test]
fn a_session_needs_its_csrf_token_to_change_anything_and_ends_at_logout() {
    let host = Host::new();
    let served = host.serve_http(&[]);
    let api = Api::new(&served);

    let login = api
        .post("/session")
        .json(&json!({"token": served.admin_token}))
        .send()
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("connector_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Max-Age=", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP on loopback");
    let (status, session) = answer(login);
    assert_eq!(status, StatusCode::OK);
    let csrf = session["csrf"].as_str().unwrap().to_string();

    let (status, me) = answer(api.get("/me").send().unwrap());
    assert_eq!(
        (status, me["name"].as_str()),
        (StatusCode::OK, Some("admin"))
    );
    let body = json!({"name": "x", "connector": "nope", "test": false});
    let without = api.post("/integrations").json(&body).send().unwrap();
    problem(without, StatusCode::FORBIDDEN, "forbidden");
    let forged = api
        .post("/integrations")
        .header("x-csrf-token", "forged")
        .json(&body)
        .send()
        .unwrap();
    problem(forged, StatusCode::FORBIDDEN, "forbidden");
    let with = api
        .post("/integrations")
        .header("x-csrf-token", &csrf)
        .json(&body)
        .send()
        .unwrap();
    problem(with, StatusCode::NOT_FOUND, "not-found");

    let logout = api.client.delete(api.url("/session")).send().unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    problem(
        api.get("/me").send().unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );

    let bad = api
        .post("/session")
        .json(&json!({"token": "guess"}))
        .send()
        .unwrap();
    problem(bad, StatusCode::UNAUTHORIZED, "unauthenticated");
    let junk = api
        .post("/session")
        .header("content-type", "application/json")
        .body("{")
        .send()
        .unwrap();
    problem(junk, StatusCode::BAD_REQUEST, "invalid");
}

#[test]
fn a_short_admin_token_file_keeps_serve_from_starting() {
    for content in ["", "  \n", "short-token-15c"] {
        let host = Host::new();
        let file = host.admin_token_file();
        std::fs::write(&file, content).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        // In the background: a serve that starts anyway must fail the test, not hang it.
        let mut serve = host.spawn(&["serve", "--listen", "127.0.0.1:0"]);
        let status = serve.wait(60);
        assert!(!status.success(), "{content:?}: serve must refuse to start");
        let stderr = serve.log_text();
        assert!(
            stderr.contains(&file.display().to_string())
                && stderr.contains("fewer than 16 characters")
                && stderr.contains("delete it"),
            "{content:?}: {stderr}"
        );
    }
}

#[test]
fn an_address_that_keeps_guessing_is_turned_away_but_a_valid_token_gets_in() {
    let host = Host::new();
    let served = host.serve_http(&[]);
    let api = Api::new(&served);
    let mut statuses = Vec::new();
    for i in 0..12 {
        let response = api
            .get("/me")
            .bearer_auth(format!("cht_guess{i}"))
            .send()
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
        }
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(&statuses[10..], &[429, 429], "{statuses:?}");
    // Behind one proxy address every client looks alike: a valid token must still work.
    let right = api
        .get("/me")
        .bearer_auth(&served.admin_token)
        .send()
        .unwrap();
    assert_eq!(answer(right).0, StatusCode::OK);
    let login = api
        .post("/session")
        .json(&json!({"token": served.admin_token}))
        .send()
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
}

/// How long `request` takes to be answered, and its status.
fn timed(request: RequestBuilder) -> (std::time::Duration, StatusCode) {
    let start = std::time::Instant::now();
    let response = request.send().unwrap();
    let status = response.status();
    let _ = response.bytes().unwrap();
    (start.elapsed(), status)
}

#[test]
fn a_failed_login_is_answered_after_the_default_second_and_a_good_one_at_once() {
    // `serve`'s documented default (`--failed-login-delay-ms`, web::state).
    let delay = std::time::Duration::from_secs(1);
    // A good token is checked against the store and answered; on a loaded machine that
    // is still far from the delay a failure waits.
    let quick = std::time::Duration::from_millis(500);
    let host = Host::new();
    let served = host.serve_http_with(&["serve", "--listen", "127.0.0.1:0"]);
    let api = Api::new(&served);
    let console = served.api.trim_end_matches("/api/v1").to_string();
    let anonymous = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Three failures (the throttle turns an address away after ten): a bearer token, an
    // API login and a console login, each answered no sooner than the delay.
    let failures = [
        (
            "a wrong bearer token",
            api.get("/me").bearer_auth("cht_wrong"),
        ),
        (
            "a wrong token at POST /session",
            api.post("/session").json(&json!({"token": "cht_wrong"})),
        ),
        (
            "a wrong token on the console's login form",
            anonymous
                .post(format!("{console}/login"))
                .form(&[("token", "cht_wrong")]),
        ),
    ];
    for (what, request) in failures {
        let (took, status) = timed(request);
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        assert!(took >= delay, "{what} was answered after {took:?}");
    }

    // The right token, the same three ways: the fastest of three tries is quick, so no
    // success waits out the failures' delay.
    let fastest = |what: &str, request: &dyn Fn() -> RequestBuilder, expected: StatusCode| {
        let took = (0..3)
            .map(|_| {
                let (took, status) = timed(request());
                assert_eq!(status, expected, "{what}");
                took
            })
            .min()
            .unwrap();
        assert!(took < quick, "{what} was answered after {took:?}");
    };
    let token = served.admin_token.as_str();
    fastest(
        "the admin's bearer token",
        &|| api.get("/me").bearer_auth(token),
        StatusCode::OK,
    );
    fastest(
        "the admin's token at POST /session",
        &|| api.post("/session").json(&json!({"token": token})),
        StatusCode::OK,
    );
    fastest(
        "the admin's token on the console's login form",
        &|| {
            anonymous
                .post(format!("{console}/login"))
                .form(&[("token", token)])
        },
        StatusCode::SEE_OTHER,
    );
}

#[test]
fn plain_http_on_a_public_address_needs_insecure_http() {
    let host = Host::new();
    let refused = host.fails(&["serve", "--listen", "0.0.0.0:0"]);
    assert!(refused.contains("--insecure-http"), "{refused}");
    let served = host.serve_http(&["--listen", "0.0.0.0:0", "--insecure-http"]);
    assert!(
        served
            .background
            .log_text()
            .contains("warning: serving plain HTTP")
    );
}

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_off_the_document() {
    let st = std::env::var("SCHEMATHESIS").unwrap_or_else(|_| "st".into());
    let sim = Simulator::start(SimConfig::new(33, 300)).unwrap();
    let host = Host::new();
    let served = host.serve_http(&[]);
    let api = Api::new(&served);
    // Something to find: an integration with findings, so the fuzzer reaches stored data.
    let created = api
        .post("/integrations")
        .bearer_auth(&served.admin_token)
        .json(&wiz_body("wiz", &sim, FULL_SECRET))
        .send()
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let started = api
        .post("/integrations/wiz/sync")
        .bearer_auth(&served.admin_token)
        .send()
        .unwrap();
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    wait_for(60, "the sync to finish", || {
        let (_, status) = answer(
            api.get("/integrations/wiz/sync")
                .bearer_auth(&served.admin_token)
                .send()
                .unwrap(),
        );
        status["running"].is_null() && status["queued"].is_null()
    });
    let out = std::process::Command::new(&st)
        .args([
            "run",
            &format!("{}/openapi.json", served.api),
            "--header",
            &format!("Authorization: Bearer {}", served.admin_token),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
            "--max-examples",
            "25",
            "--seed",
            "11",
            "--no-color",
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {st} ({e}): `cargo xtask test` installs schemathesis, or set SCHEMATHESIS")
        });
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("passed"), "{report}");
    assert!(
        !report.contains(&served.admin_token),
        "the token is filtered from the report"
    );
}
