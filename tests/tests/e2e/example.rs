//! The example of `docs/writing-a-connector.md`, built as a component and installed the
//! way the guide says (a file in the plugins folder), syncing from a feed on loopback.

use crate::harness::Host;
use axum::routing::get;
use wiz_sim::background::Background;

/// A feed of two pages: three findings on two assets, the second page linked from the
/// first, behind a bearer token.
fn feed() -> Background {
    let page = |items: &str, next: &str| format!(r#"{{"items": [{items}], "next": {next}}}"#);
    let item = |id: &str, asset: &str, severity: &str, status: &str| {
        format!(
            r#"{{"id": "{id}", "asset": {{"id": "{asset}", "name": "{asset}.example", "type": "host"}}, "title": "finding {id}", "severity": "{severity}", "status": "{status}", "updated_at": "2026-01-02T03:04:05Z"}}"#
        )
    };
    let first = page(
        &[
            item("f1", "a1", "high", "open"),
            item("f2", "a1", "low", "resolved"),
        ]
        .join(","),
        "NEXT",
    );
    let second = page(&item("f3", "a2", "critical", "accepted"), "null");
    let authorized = |headers: &axum::http::HeaderMap| {
        headers
            .get("authorization")
            .is_some_and(|v| v == "Bearer feed-token-0001")
    };
    let router = axum::Router::new()
        .route(
            "/p1",
            get(move |headers: axum::http::HeaderMap| {
                let host = headers
                    .get("host")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let body = first.replace("NEXT", &format!("\"http://{host}/p2\""));
                async move {
                    match authorized(&headers) {
                        true => (axum::http::StatusCode::OK, body),
                        false => (axum::http::StatusCode::UNAUTHORIZED, String::new()),
                    }
                }
            }),
        )
        .route("/p2", get(move || async move { second }));
    Background::serve("feed", router).unwrap()
}

#[test]
fn the_guides_example_installs_as_a_file_and_syncs() {
    let scratch = tempfile::tempdir().unwrap();
    let plugins = scratch.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let host = Host::new();
    let built = host.built_plugins();
    let example = built
        .parent()
        .unwrap()
        .join("example-plugins/json-feed.wasm");
    std::fs::copy(&example, plugins.join("json-feed.wasm")).unwrap();
    let host = host.with_plugins(&plugins, &scratch.path().join("cache"));
    assert!(
        host.ok(&["plugins"])
            .contains("json-feed 0.1.0 (contract 0.2.0)"),
        "the guide's `plugins` line"
    );
    let feed = feed();
    let url = format!("http://{}/p1", feed.addr());
    host.ok(&[
        "integration",
        "add",
        "feed",
        "--connector",
        "json-feed",
        "--set",
        &format!("feed-url={url}"),
        "--secret",
        "token=feed-token-0001",
    ]);
    host.ok(&["sync", "feed"]);
    assert_eq!(host.ids("findings", "feed", "id"), ["f1", "f2", "f3"]);
    assert_eq!(host.ids("assets", "feed", "id"), ["a1", "a2"]);
    let wrong = host.run(&[
        "integration",
        "add",
        "wrong",
        "--connector",
        "json-feed",
        "--set",
        &format!("feed-url={url}"),
        "--secret",
        "token=not-the-token",
    ]);
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stdout).contains("[FAIL] feed"),
        "{}",
        String::from_utf8_lossy(&wrong.stdout)
    );
}
