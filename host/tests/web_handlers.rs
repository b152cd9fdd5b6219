//! The HTTP handlers in process: the real router over a real SQLite store, each request
//! sent with tower's `oneshot`, no socket. What they check is what every route owes its
//! caller: credentials first, CSRF on a session's changes, problem+json errors in the
//! service's classes, paging parameters checked, and the security headers on everything.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use connector_host::model::Role;
use connector_host::plugin::Limits;
use connector_host::runner::EmitLimits;
use connector_host::service::{Platform, PluginSource};
use connector_host::store::{StoreTarget, open_store};
use connector_host::web::{self, WebConfig};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

/// A router over a fresh store, with an admin's and a viewer's tokens.
struct App {
    router: Router,
    platform: Arc<Platform>,
    admin: String,
    viewer: String,
    _dir: tempfile::TempDir,
}

async fn app(config: WebConfig) -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&StoreTarget::Sqlite(dir.path().join("store.db")))
        .await
        .unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let platform = Arc::new(Platform::new(
        store,
        dir.path().join("store.key"),
        PluginSource {
            folder: dir.path().join("plugins"),
            cache_dir: dir.path().join("cache"),
            limits: Limits::default(),
            resolver: Default::default(),
        },
        EmitLimits::default(),
    ));
    let (_, admin) = platform
        .access()
        .add_user("ops", Role::Admin)
        .await
        .unwrap();
    let (_, viewer) = platform
        .access()
        .add_user("vic", Role::Viewer)
        .await
        .unwrap();
    App {
        router: web::router(platform.clone(), config),
        platform,
        admin: admin.reveal().to_string(),
        viewer: viewer.reveal().to_string(),
        _dir: dir,
    }
}

fn quick() -> WebConfig {
    WebConfig {
        failed_login_delay: Duration::ZERO,
        ..WebConfig::default()
    }
}

/// A request from a loopback peer, as the server's accept loop would hand it over.
fn request(method: Method, uri: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .extension(ConnectInfo(
            "127.0.0.1:40000".parse::<SocketAddr>().unwrap(),
        ))
}

fn with_token(method: Method, uri: &str, token: &str) -> axum::http::request::Builder {
    request(method, uri).header(header::AUTHORIZATION, format!("Bearer {token}"))
}

/// Sends one request; the answer's status, headers and body (JSON when it parses).
async fn send(app: &App, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let answer = app.router.clone().oneshot(req).await.unwrap();
    let (parts, body) = answer.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (parts.status, parts.headers, body)
}

/// A GET with `token`, sent.
async fn get(app: &App, uri: &str, token: &str) -> (StatusCode, axum::http::HeaderMap, Value) {
    send(
        app,
        with_token(Method::GET, uri, token)
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

fn problem_kind(headers: &axum::http::HeaderMap, body: &Value) -> String {
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/problem+json",
        "{body}"
    );
    let kind = body["type"].as_str().unwrap();
    kind.rsplit('#').next().unwrap().to_string()
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_hsts_only_over_tls() {
    let plain = app(quick()).await;
    let (status, headers, _) = send(
        &plain,
        request(Method::GET, "/api/v1/health")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(!headers.contains_key(header::STRICT_TRANSPORT_SECURITY));
    let tls = app(WebConfig {
        https: true,
        ..quick()
    })
    .await;
    let (_, headers, _) = send(
        &tls,
        request(Method::GET, "/login").body(Body::empty()).unwrap(),
    )
    .await;
    assert!(headers.contains_key(header::STRICT_TRANSPORT_SECURITY));
}

#[tokio::test]
async fn without_credentials_the_api_answers_401_and_the_console_sends_to_login() {
    let app = app(quick()).await;
    for uri in ["/api/v1/me", "/api/v1/integrations", "/api/v1/findings"] {
        let (status, headers, body) =
            send(&app, request(Method::GET, uri).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(problem_kind(&headers, &body), "unauthenticated", "{uri}");
    }
    let (status, _, _) = get(&app, "/api/v1/me", "csh_not-a-real-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for uri in ["/", "/findings", "/assets", "/integrations/x"] {
        let (status, headers, _) =
            send(&app, request(Method::GET, uri).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{uri}");
        assert_eq!(headers[header::LOCATION], "/login", "{uri}");
    }
}

#[tokio::test]
async fn a_viewer_reads_but_every_change_is_forbidden() {
    let app = app(quick()).await;
    let (status, _, me) = get(&app, "/api/v1/me", &app.viewer).await;
    assert_eq!(
        (status, me["role"].as_str()),
        (StatusCode::OK, Some("viewer"))
    );
    let create = json!({"name": "w", "connector": "wiz", "settings": {}});
    for (method, uri, body) in [
        (Method::POST, "/api/v1/integrations", create.to_string()),
        (Method::DELETE, "/api/v1/integrations/w", String::new()),
        (Method::POST, "/api/v1/integrations/w/sync", String::new()),
        (Method::POST, "/api/v1/assets/import", "[]".to_string()),
    ] {
        let (status, headers, answer) = send(
            &app,
            with_token(method.clone(), uri, &app.viewer)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {uri}: {answer}");
        assert_eq!(problem_kind(&headers, &answer), "forbidden");
    }
}

#[tokio::test]
async fn a_session_changes_nothing_without_its_csrf_token() {
    let app = app(quick()).await;
    let login = json!({"token": app.admin}).to_string();
    let (status, headers, session) = send(
        &app,
        request(Method::POST, "/api/v1/session")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(login))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag");
    let cookie = cookie.split(';').next().unwrap().to_string();
    let csrf = session["csrf"].as_str().unwrap().to_string();
    let delete = |csrf: Option<&str>| {
        let mut r =
            request(Method::DELETE, "/api/v1/integrations/nowhere").header(header::COOKIE, &cookie);
        if let Some(csrf) = csrf {
            r = r.header("x-csrf-token", csrf);
        }
        r.body(Body::empty()).unwrap()
    };
    let (status, headers, body) = send(&app, delete(None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(problem_kind(&headers, &body), "forbidden");
    let (status, _, _) = send(&app, delete(Some("wrong"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // With its token the request reaches the service, which has no such integration.
    let (status, headers, body) = send(&app, delete(Some(&csrf))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(problem_kind(&headers, &body), "not-found");
    // The console's forms likewise: a logout form without `_csrf` is refused.
    let (status, _, _) = send(
        &app,
        request(Method::POST, "/logout")
            .header(header::COOKIE, &cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("x=1"))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(
        &app,
        request(Method::GET, "/api/v1/me")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the refused logout left the session"
    );
}

#[tokio::test]
async fn paging_parameters_are_checked_and_failed_logins_are_throttled() {
    let app = app(quick()).await;
    for uri in [
        "/api/v1/findings?limit=0",
        "/api/v1/findings?limit=501",
        "/api/v1/findings?cursor=not-a-cursor",
        "/api/v1/assets?cursor=bm90IGpzb24",
        "/api/v1/findings?severity=dire",
        "/api/v1/findings?since=yesterday",
        "/api/v1/findings?unknown=1",
    ] {
        let (status, headers, body) = get(&app, uri, &app.admin).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(problem_kind(&headers, &body), "invalid", "{uri}");
    }
    let (status, headers, body) = send(
        &app,
        with_token(
            Method::GET,
            "/api/v1/integrations/none/history?limit=5",
            &app.admin,
        )
        .body(Body::empty())
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem_kind(&headers, &body), "not-found");
    let (status, _, page) = get(&app, "/api/v1/assets?limit=500", &app.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page, json!({"assets": [], "next": null, "total": 0}));

    let wrong = json!({"token": "csh_wrong"}).to_string();
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let (status, _, _) = send(
            &app,
            request(Method::POST, "/api/v1/session")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(wrong.clone()))
                .unwrap(),
        )
        .await;
        statuses.push(status);
    }
    assert!(
        statuses[..10]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED)
    );
    assert_eq!(statuses[10], StatusCode::TOO_MANY_REQUESTS);
}

/// A POST of a JSON login from `peer` with `extra` headers.
fn session_login(peer: &str, token: &str, extra: &[(&str, &str)]) -> Request<Body> {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/session")
        .header(header::CONTENT_TYPE, "application/json")
        .extension(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.body(Body::from(json!({ "token": token }).to_string()))
        .unwrap()
}

#[tokio::test]
async fn a_valid_token_gets_in_past_the_throttle_and_proxied_clients_count_apart() {
    let app = app(WebConfig {
        trusted_proxies: vec![web::parse_trusted_proxy("10.9.0.0/16").unwrap()],
        ..quick()
    })
    .await;
    let wrong = "cht_wrong-but-long-enough-to-be-checked";
    let from = "192.0.2.10:5000";
    for _ in 0..10 {
        let (status, _, _) = send(&app, session_login(from, wrong, &[])).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _, _) = send(&app, session_login(from, wrong, &[])).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the 11th failure waits"
    );
    // The valid token from the same address, by session and by bearer, gets in.
    let (status, _, body) = send(&app, session_login(from, &app.admin, &[])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bearer = Request::builder()
        .method(Method::GET)
        .uri("/api/v1/me")
        .header(header::AUTHORIZATION, format!("Bearer {}", app.admin))
        .extension(ConnectInfo(from.parse::<SocketAddr>().unwrap()))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, bearer).await.0, StatusCode::OK);

    // Behind the trusted proxy, each forwarded client has its own count.
    let proxy = "10.9.0.1:443";
    let alice = [("x-forwarded-for", "198.51.100.1")];
    let bob = [
        ("x-forwarded-for", "198.51.100.2"),
        ("x-forwarded-proto", "https"),
    ];
    for _ in 0..10 {
        let (status, _, _) = send(&app, session_login(proxy, wrong, &alice)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _, _) = send(&app, session_login(proxy, wrong, &alice)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _, _) = send(&app, session_login(proxy, wrong, &bob)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "bob is not throttled for alice"
    );
    // Forwarded as https by the trusted proxy: a Secure cookie and HSTS.
    let (status, headers, _) = send(&app, session_login(proxy, &app.admin, &bob)).await;
    assert_eq!(status, StatusCode::OK);
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(headers.contains_key(header::STRICT_TRANSPORT_SECURITY));
    // The same claim from anyone else is ignored.
    let (_, headers, _) = send(&app, session_login("192.0.2.77:1", &app.admin, &bob)).await;
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert!(!headers.contains_key(header::STRICT_TRANSPORT_SECURITY));
}

#[tokio::test]
async fn a_login_form_from_another_site_is_refused() {
    let app = app(quick()).await;
    let form = |origin: Option<&str>| {
        let mut req = request(Method::POST, "/login")
            .header(header::HOST, "console.example")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(origin) = origin {
            req = req.header(header::ORIGIN, origin);
        }
        req.body(Body::from(format!("token={}", app.admin)))
            .unwrap()
    };
    let (status, headers, body) = send(&app, form(Some("https://evil.example"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(!headers.contains_key(header::SET_COOKIE), "no session");
    assert!(
        body.as_str().unwrap().contains("from another site"),
        "{body}"
    );
    for same in [Some("http://console.example"), None] {
        let (status, headers, _) = send(&app, form(same)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{same:?}");
        assert!(headers.contains_key(header::SET_COOKIE));
    }
}

#[tokio::test]
async fn an_empty_token_is_refused_even_where_a_store_holds_its_hash() {
    use sha2::Digest;
    let app = app(quick()).await;
    // What an empty admin token file once made: a user whose token is "".
    app.platform
        .store()
        .add_user("blank", Role::Admin, &sha2::Sha256::digest(b""))
        .await
        .unwrap();
    for token in ["", "   "] {
        let (status, _, body) = send(&app, session_login("127.0.0.1:1", token, &[])).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}: {body}");
        let form = request(Method::POST, "/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("token="))
            .unwrap();
        let (status, headers, _) = send(&app, form).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(!headers.contains_key(header::SET_COOKIE));
    }
}

#[tokio::test]
async fn integration_names_are_short_and_plain_whoever_asks() {
    let app = app(quick()).await;
    let long = "n".repeat(65);
    let huge = "m".repeat(1 << 20);
    for name in [
        "",
        " ",
        "a b",
        "tab\there",
        "\u{1b}[31mred",
        "dots/slash",
        &long,
        &huge,
    ] {
        let body = json!({"name": name, "connector": "wiz", "settings": {}}).to_string();
        let (status, headers, answer) = send(
            &app,
            with_token(Method::POST, "/api/v1/integrations", &app.admin)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
        let shown: String = name.chars().take(20).collect();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{shown:?}: {answer}");
        assert_eq!(problem_kind(&headers, &answer), "invalid");
        let detail = answer["detail"].as_str().unwrap();
        assert!(
            detail.contains("use 1 to 64 letters, digits and `-`, `_`, `.`"),
            "{detail}"
        );
        assert!(detail.len() < 400, "the name is quoted cut short");
        assert!(!detail.contains('\u{1b}'), "control characters are escaped");
    }
}

#[tokio::test(start_paused = true)]
async fn a_body_that_never_finishes_arriving_is_cut_off() {
    let app = app(quick()).await;
    let trickle = futures_util::stream::pending::<Result<bytes::Bytes, std::io::Error>>();
    let started = tokio::time::Instant::now();
    let (status, _, _) = send(
        &app,
        request(Method::POST, "/api/v1/session")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from_stream(trickle))
            .unwrap(),
    )
    .await;
    // The body read fails at the deadline, and the request is refused as unreadable.
    assert!(
        matches!(
            status,
            StatusCode::BAD_REQUEST | StatusCode::REQUEST_TIMEOUT
        ),
        "{status}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(30) && waited <= Duration::from_secs(31),
        "{waited:?}"
    );
}

#[tokio::test]
async fn event_streams_are_bounded_per_session_or_token() {
    use connector_host::model::NewIntegration;
    let app = app(quick()).await;
    app.platform
        .store()
        .add_integration(&NewIntegration {
            name: "w".into(),
            connector: "wiz".into(),
            settings: vec![],
            sealed_secrets: String::new(),
            policy: Default::default(),
            plugin: connector_host::model::PluginPin {
                version: "0.2.0".into(),
                digest: "not-run-here".into(),
            },
            streams: None,
        })
        .await
        .unwrap();
    let open = || {
        app.router.clone().oneshot(
            with_token(
                Method::GET,
                "/api/v1/integrations/w/sync/events",
                &app.admin,
            )
            .body(Body::empty())
            .unwrap(),
        )
    };
    // Held open: each answer's body is the stream, and it is not read.
    let mut streams = Vec::new();
    for _ in 0..8 {
        let answer = open().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        streams.push(answer);
    }
    let refused = open().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another user's token has streams of its own.
    let theirs = app
        .router
        .clone()
        .oneshot(
            with_token(
                Method::GET,
                "/api/v1/integrations/w/sync/events",
                &app.viewer,
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(theirs.status(), StatusCode::OK);
    streams.pop();
    assert_eq!(open().await.unwrap().status(), StatusCode::OK, "one ended");
}
