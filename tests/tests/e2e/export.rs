//! Exports of the Finding View: every finding the filters match, streamed over several
//! store pages, the same from the API and the console, as CSV a spreadsheet cannot be
//! tricked by and as the API's JSON.

use crate::console::logged_in;
use crate::harness::{FULL_SECRET, Host, assert_success};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::Value;
use wiz_sim::background::Background;
use wiz_sim::{SimConfig, Simulator};

/// Reads a CSV text into rows of cells.
fn rows(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[test]
fn an_export_holds_every_matching_finding_across_store_pages() {
    // More findings than one export step reads (500), so the export spans pages.
    let sim = Simulator::start(SimConfig::new(12, 1200)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &[]));
    host.ok(&["sync", "w"]);
    let served = host.serve_http(&[]);
    let token = served.admin_token.as_str();
    let api = Client::new();
    let get = |path: &str| {
        let response = api
            .get(format!("{}{path}", served.api))
            .bearer_auth(token)
            .send()
            .unwrap();
        let status = response.status();
        let disposition = response
            .headers()
            .get("content-disposition")
            .map(|d| d.to_str().unwrap().to_string());
        (status, disposition, response.text().unwrap())
    };

    let listed = host.json(&["findings", "w"]);
    assert!(
        listed.len() > 500,
        "more than one export step: {}",
        listed.len()
    );
    let (status, disposition, csv) = get("/findings/export.csv?integration=w");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        disposition.as_deref(),
        Some("attachment; filename=\"findings.csv\"")
    );
    let table = rows(&csv);
    assert_eq!(table[0][..4], ["integration", "id", "severity", "status"]);
    assert_eq!(table.len() - 1, listed.len(), "every finding, once");
    let csv_ids: Vec<&str> = table[1..].iter().map(|r| r[1].as_str()).collect();
    let listed_ids: Vec<&str> = listed.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(csv_ids, listed_ids, "in the list's order");

    // The JSON export is the API's findings, whole.
    let (status, _, json) = get("/findings/export.json?integration=w&severity=critical,high");
    assert_eq!(status, StatusCode::OK);
    let exported: Vec<Value> = serde_json::from_str(&json).unwrap();
    let mut paged = Vec::new();
    let mut cursor = String::new();
    loop {
        let (_, _, page) = get(&format!(
            "/findings?integration=w&severity=critical,high&limit=500{cursor}"
        ));
        let page: Value = serde_json::from_str(&page).unwrap();
        paged.extend(page["findings"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert!(!exported.is_empty());
    assert_eq!(exported, paged);
    // Nothing matches: a header alone, and an empty array.
    let (_, _, none) = get("/findings/export.csv?asset=no-such-asset");
    assert_eq!(rows(&none).len(), 1);
    let (_, _, none) = get("/findings/export.json?asset=no-such-asset");
    assert_eq!(none, "[]");
    // An export is whole: a cursor or a limit is refused.
    let (status, _, refused) = get("/findings/export.csv?limit=5");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");

    // The console's link exports what the view shows, the same bytes as the API.
    let (console, base, _) = logged_in(&served, token);
    let view = console
        .get(format!("{base}/findings?integration=w"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        view.contains(r#"<a href="/findings/export.csv?integration=w" id="export-csv" download>"#),
        "{view}"
    );
    let from_console = console
        .get(format!("{base}/findings/export.csv?integration=w"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(from_console, csv);

    // The Asset View exports alike (through the same paging walk as findings): every
    // asset the filters match, in the list's order, the JSON the same as the API's pages.
    let (status, disposition, csv) = get("/assets/export.csv?integration=w");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        disposition.as_deref(),
        Some("attachment; filename=\"assets.csv\"")
    );
    let table = rows(&csv);
    let listed = host.json(&["assets", "w"]);
    assert!(!listed.is_empty());
    assert_eq!(table.len() - 1, listed.len(), "every asset, once");
    let (_, _, json) = get("/assets/export.json?integration=w");
    let exported: Vec<Value> = serde_json::from_str(&json).unwrap();
    let mut paged = Vec::new();
    let mut cursor = String::new();
    loop {
        let (_, _, page) = get(&format!("/assets?integration=w&limit=500{cursor}"));
        let page: Value = serde_json::from_str(&page).unwrap();
        paged.extend(page["assets"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(exported, paged);
    let csv_ids: Vec<&str> = table[1..].iter().map(|r| r[0].as_str()).collect();
    let json_ids: Vec<&str> = exported.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(csv_ids, json_ids);
    let (status, _, refused) = get("/assets/export.csv?cursor=x");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let view = console
        .get(format!("{base}/assets?integration=w"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        view.contains(r#"<a href="/assets/export.csv?integration=w" id="export-csv" download>"#),
        "{view}"
    );
    let from_console = console
        .get(format!("{base}/assets/export.csv?integration=w"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(from_console, csv);
}

/// A feed whose finding titles a spreadsheet would run as formulas.
fn feed_of_formulas() -> Background {
    let item = |id: &str, title: &str| {
        serde_json::json!({"id": id, "asset": {"id": "a1", "name": "web", "type": "host"},
            "title": title, "severity": "high", "status": "open", "updated_at": null})
    };
    let mut evil_asset = item("f5", "on an asset with a formula for a name");
    evil_asset["asset"] =
        serde_json::json!({"id": "a2", "name": "=cmd|'/c calc'!A1", "type": "host"});
    let page = serde_json::json!({"items": [
        evil_asset,
        item("f1", "=HYPERLINK(\"http://evil.example\",\"click\")"),
        item("f2", "+1+1"),
        item("f3", "@SUM(A1)"),
        item("f4", "a plain title, with a comma"),
    ], "next": null})
    .to_string();
    let router = axum::Router::new().route("/p1", axum::routing::get(move || async move { page }));
    Background::serve("formula-feed", router).unwrap()
}

#[test]
fn exported_cells_never_run_as_spreadsheet_formulas() {
    let scratch = tempfile::tempdir().unwrap();
    let (host, _) = Host::with_only_plugin(
        scratch.path(),
        |h| {
            h.built_plugins()
                .parent()
                .unwrap()
                .join("example-plugins/json-feed.wasm")
        },
        "json-feed.wasm",
    );
    let feed = feed_of_formulas();
    host.ok(&[
        "integration",
        "add",
        "feed",
        "--connector",
        "json-feed",
        "--set",
        &format!("feed-url=http://{}/p1", feed.addr()),
    ]);
    host.ok(&["sync", "feed"]);
    let served = host.serve_http(&[]);
    let csv = Client::new()
        .get(format!("{}/findings/export.csv", served.api))
        .bearer_auth(&served.admin_token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let table = rows(&csv);
    let title = table[0].iter().position(|c| c == "title").unwrap();
    let mut titles: Vec<&str> = table[1..].iter().map(|r| r[title].as_str()).collect();
    titles.sort_unstable();
    assert_eq!(
        titles,
        [
            "'+1+1",
            "'=HYPERLINK(\"http://evil.example\",\"click\")",
            "'@SUM(A1)",
            "a plain title, with a comma",
            "on an asset with a formula for a name",
        ],
        "{csv}"
    );
    // The asset export defuses asset names alike.
    let assets = Client::new()
        .get(format!("{}/assets/export.csv", served.api))
        .bearer_auth(&served.admin_token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    let table = rows(&assets);
    let name = table[0].iter().position(|c| c == "name").unwrap();
    let mut names: Vec<&str> = table[1..].iter().map(|r| r[name].as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["'=cmd|'/c calc'!A1", "web"], "{assets}");
    // The JSON export keeps the text as the source sent it.
    let json: Vec<Value> = serde_json::from_str(
        &Client::new()
            .get(format!("{}/findings/export.json", served.api))
            .bearer_auth(&served.admin_token)
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    assert!(
        json.iter()
            .any(|f| f["title"] == "=HYPERLINK(\"http://evil.example\",\"click\")")
    );
}
