//! The Finding View as a daily tool, over HTTP against a real `serve`: a text search over
//! titles and rule names, sorts either way, pages that go back as well as forward and
//! say where they are, and an export in the order shown. The same through the API and
//! the console.

use crate::console::logged_in;
use crate::harness::{FULL_SECRET, Host, Served, assert_success};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::Value;
use wiz_sim::{SimConfig, Simulator};

/// The API as the admin.
struct Api {
    client: Client,
    base: String,
    token: String,
}

impl Api {
    fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = (self.client.get(format!("{}{path}", self.base)))
            .bearer_auth(&self.token)
            .send()
            .unwrap();
        let status = response.status();
        (status, response.json().unwrap_or(Value::Null))
    }

    /// Every page of `query`, forward, `limit` at a time: the pages and their offsets.
    fn pages(&self, query: &str, limit: usize) -> Vec<(u64, Vec<Value>, Option<String>)> {
        let (mut pages, mut cursor) = (Vec::new(), String::new());
        loop {
            let (status, page) = self.get(&format!("/findings?{query}&limit={limit}{cursor}"));
            assert_eq!(status, StatusCode::OK, "{page}");
            let rows = page["findings"].as_array().unwrap().clone();
            let previous = page["previous"].as_str().map(String::from);
            pages.push((page["offset"].as_u64().unwrap(), rows, previous));
            match page["next"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => return pages,
            }
        }
    }
}

/// A tenant of 160 issues synced into integration `w`, served, with the API as the
/// admin; the simulator is kept for the test's length.
fn synced() -> (Simulator, Host, Served, Api) {
    let sim = Simulator::start(SimConfig::new(12, 160)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &[]));
    host.ok(&["sync", "w"]);
    let served = host.serve_http(&[]);
    let api = Api {
        client: Client::new(),
        base: served.api.clone(),
        token: served.admin_token.clone(),
    };
    (sim, host, served, api)
}

fn ids(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

fn holds(finding: &Value, word: &str) -> bool {
    let word = word.to_lowercase();
    ["title", "rule_name"].iter().any(|field| {
        finding[field]
            .as_str()
            .is_some_and(|t| t.to_lowercase().contains(&word))
    })
}

#[test]
fn the_finding_view_searches_sorts_and_pages_both_ways() {
    let (_sim, host, served, api) = synced();
    let listed = host.json(&["findings", "w"]);
    assert!(listed.len() > 100, "several pages: {}", listed.len());

    // Search: any part of a word, ignoring case, in titles and rule names; every word.
    let word = "EXPOSED";
    let expected: Vec<&Value> = listed.iter().filter(|f| holds(f, word)).collect();
    assert!(!expected.is_empty() && expected.len() < listed.len());
    let (_, found) = api.get("/findings?q=xpose&limit=500");
    assert_eq!(found["total"].as_u64(), Some(expected.len() as u64));
    let mut found_ids = ids(found["findings"].as_array().unwrap());
    let mut expected_ids: Vec<String> = expected
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    found_ids.sort();
    expected_ids.sort();
    assert_eq!(found_ids, expected_ids);
    let (_, narrower) = api.get("/findings?q=xpose%20zzz-no-such-word");
    assert_eq!(narrower["total"].as_u64(), Some(0), "every word must match");
    // The CLI searches alike.
    assert_eq!(
        host.json(&["findings", "w", "--search", "xpose"]).len(),
        expected.len()
    );

    // Sort by title, 50 a page: the pages join into one sorted list with their offsets,
    // and going back from each page gives the page before it.
    let pages = api.pages("sort=title", 50);
    let mut offset = 0;
    let mut titles = Vec::new();
    for (at, rows, _) in &pages {
        assert_eq!(*at, offset, "each page says how many come before it");
        offset += rows.len() as u64;
        titles.extend(
            rows.iter()
                .map(|f| f["title"].as_str().unwrap().to_lowercase()),
        );
    }
    assert_eq!(titles.len(), listed.len());
    assert!(titles.windows(2).all(|p| p[0] <= p[1]), "sorted by title");
    for pair in pages.windows(2) {
        let previous = pair[1].2.as_deref().expect("a way back");
        let (_, back) = api.get(&format!("/findings?sort=title&limit=50&cursor={previous}"));
        assert_eq!(back["offset"].as_u64(), Some(pair[0].0));
        assert_eq!(
            ids(back["findings"].as_array().unwrap()),
            ids(&pair[0].1),
            "back to the same page"
        );
    }
    assert!(pages[0].2.is_none(), "nothing before the first page");
    // The reverse order is the same list backwards.
    let reversed: Vec<String> = api
        .pages("sort=-title", 500)
        .into_iter()
        .flat_map(|(_, rows, _)| ids(&rows))
        .collect();
    let mut forward: Vec<String> = pages.iter().flat_map(|(_, rows, _)| ids(rows)).collect();
    forward.reverse();
    assert_eq!(reversed, forward);

    // Wrong sorts and cursors are refused with what to do.
    let (status, refused) = api.get("/findings?sort=colour");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("severity, title, asset, status, changed"),
        "{refused}"
    );
    let title_cursor = api.pages("sort=title", 50)[1].2.clone().unwrap();
    let (status, refused) = api.get(&format!("/findings?sort=-changed&cursor={title_cursor}"));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");

    // The export follows the search and the order.
    let response = (api.client.get(format!(
        "{}/findings/export.json?q=xpose&sort=-changed",
        api.base
    )))
    .bearer_auth(&api.token)
    .send()
    .unwrap();
    let exported: Vec<Value> = response.json().unwrap();
    let paged: Vec<Value> = api
        .pages("q=xpose&sort=-changed", 20)
        .into_iter()
        .flat_map(|(_, rows, _)| rows)
        .collect();
    assert_eq!(exported, paged);

    // The console: a search box, sort links on the headers, page sizes, "26–50 of N"
    // and a way back.
    let (console, base, _) = logged_in(&served, &served.admin_token);
    let page = |path: &str| {
        let response = console.get(format!("{base}{path}")).send().unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.text().unwrap()
    };
    let total = listed.len();
    let first = page("/findings?limit=25");
    assert!(
        first.contains(&format!(r#"<span id="range">1–25 of {total}</span>"#)),
        "{first}"
    );
    assert!(
        first.contains(r#"aria-sort="ascending""#),
        "sorted by severity at first"
    );
    assert!(
        first.contains(r#"href="/findings?limit=25&#38;sort=title""#),
        "{first}"
    );
    let next = link_of(&first, "next-page").expect("a next page link");
    let second = page(&next);
    assert!(second.contains(&format!(r#"<span id="range">26–50 of {total}</span>"#)));
    let previous = link_of(&second, "previous-page").expect("a way back");
    let back = page(&previous);
    assert!(back.contains(&format!(r#"<span id="range">1–25 of {total}</span>"#)));
    assert!(link_of(&back, "previous-page").is_none());
    let searched = page("/findings?q=xpose&sort=-title");
    assert!(searched.contains(r#"value="xpose""#));
    assert!(searched.contains(r#"aria-sort="descending""#));
    assert!(searched.contains(&format!(" of {}</span>", expected.len())));
    let refused = console
        .get(format!("{base}/findings?sort=colour"))
        .send()
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
}

/// The `href` of the link with `id` in `html`, its entities decoded.
fn link_of(html: &str, id: &str) -> Option<String> {
    let marker = format!(r#"id="{id}""#);
    let tag_end = html.find(&marker)?;
    let tag_start = html[..tag_end].rfind("<a ")?;
    let tag = &html[tag_start..tag_end];
    let href = tag.split(r#"href=""#).nth(1)?.split('"').next()?;
    Some(href.replace("&amp;", "&").replace("&#38;", "&"))
}

impl Api {
    fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = (self.client.post(format!("{}{path}", self.base)))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .unwrap();
        let status = response.status();
        (status, response.json().unwrap_or(Value::Null))
    }

    fn changes_of(&self, id: &str) -> Vec<Value> {
        let (_, detail) = self.get(&format!("/integrations/w/findings/{id}"));
        detail["status_changes"].as_array().unwrap().clone()
    }
}

#[test]
fn statuses_are_set_in_bulk_with_a_reason_and_recorded() {
    let (_sim, host, served, api) = synced();
    let failed: Vec<Value> = host
        .json(&["findings", "w", "--status", "failed"])
        .into_iter()
        .collect();
    let (a, b) = (
        failed[0]["id"].as_str().unwrap().to_string(),
        failed[1]["id"].as_str().unwrap().to_string(),
    );

    // These two, with a reason: recorded on each, with who, from and to.
    let (status, set) = api.post(
        "/findings/status",
        serde_json::json!({"status": "accepted_failed", "reason": "risk accepted until Q3",
            "findings": [{"integration": "w", "id": a}, {"integration": "w", "id": b}]}),
    );
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["changed"], 2);
    assert_eq!(set["integrations"], serde_json::json!(["w"]));
    assert!(
        set["warning"]
            .as_str()
            .unwrap()
            .contains("next sync of `w`")
    );
    let changes = api.changes_of(&a);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["by"], "admin");
    assert_eq!(changes[0]["from"], "failed");
    assert_eq!(changes[0]["to"], "accepted_failed");
    assert_eq!(changes[0]["reason"], "risk accepted until Q3");
    // Setting what they already have changes and records nothing.
    let (_, again) = api.post(
        "/findings/status",
        serde_json::json!({"status": "accepted_failed", "reason": "again",
            "findings": [{"integration": "w", "id": a}]}),
    );
    assert_eq!(again["changed"], 0);
    assert_eq!(api.changes_of(&a).len(), 1);

    // A reason is required; one selection, not both or neither.
    for body in [
        serde_json::json!({"status": "passed", "reason": "  ", "findings": [{"integration": "w", "id": a}]}),
        serde_json::json!({"status": "passed", "reason": "x"}),
        serde_json::json!({"status": "passed", "reason": "x", "findings": [], "matching": {}}),
        serde_json::json!({"status": "passed", "reason": "x", "matching": {"colour": "red"}}),
    ] {
        let (status, refused) = api.post("/findings/status", body.clone());
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {refused}");
    }
    let (_, refused) = api.post(
        "/findings/status",
        serde_json::json!({"status": "passed", "reason": "", "findings": [{"integration": "w", "id": a}]}),
    );
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("give a reason"),
        "{refused}"
    );

    // Every finding a search matches.
    let (_, matching) = api.get("/findings?q=xpose&status=failed&limit=500");
    let expected = matching["total"].as_u64().unwrap();
    assert!(expected > 0);
    let (status, set) = api.post(
        "/findings/status",
        serde_json::json!({"status": "passed", "reason": "fixed by the network team",
            "matching": {"q": "xpose", "status": "failed"}}),
    );
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["changed"].as_u64(), Some(expected));
    let (_, left) = api.get("/findings?q=xpose&status=failed");
    assert_eq!(left["total"], 0);

    // History says what was set, how many, from what, and why.
    let (_, history) = api.get("/integrations/w/history");
    let rows = history["runs"].as_array().unwrap();
    assert_eq!(rows[0]["action"], "status_change");
    assert_eq!(rows[0]["started_by"], "admin");
    let line = rows[0]["details"].as_str().unwrap();
    assert!(
        line.contains(&format!("status of {expected} findings set to passed"))
            && line.contains("reason: fixed by the network team"),
        "{line}"
    );
    assert!(
        rows[1]["details"]
            .as_str()
            .unwrap()
            .contains("2 from failed")
    );

    // The console: tick one, give a reason, post; the redirect shows a notice and a
    // reload sets nothing again.
    let (console, base, csrf) = logged_in(&served, &served.admin_token);
    // One still failed, so that the change below is its first.
    let untouched = host
        .json(&["findings", "w", "--status", "failed"])
        .remove(0);
    let c = untouched["id"].as_str().unwrap().to_string();
    let severity = untouched["severity"].as_str().unwrap();
    let view = console
        .get(format!("{base}/findings?severity={severity}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(view.contains(r#"id="bulk-status""#) && view.contains(r#"form="bulk-status""#));
    let posted = console
        .post(format!("{base}/findings/status"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("severity", severity),
            ("scope", "selected"),
            ("finding", &format!("w/{c}")),
            ("new_status", "accepted_failed"),
            ("reason", "ticked in the console"),
        ])
        .send()
        .unwrap();
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    let location = posted.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("/findings?severity=")
            && location.contains("notice=statuses-set&changed=1&to=accepted_failed"),
        "{location}"
    );
    for _ in 0..2 {
        let shown = console.get(format!("{base}{location}")).send().unwrap();
        assert_eq!(shown.status(), StatusCode::OK);
        let shown = shown.text().unwrap();
        assert!(
            shown.contains("Status set to accepted_failed on 1 finding."),
            "{shown}"
        );
    }
    assert_eq!(api.changes_of(&c).len(), 1, "a reload sets nothing again");
    let detail = console
        .get(format!("{base}/findings/w/{c}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(detail.contains("ticked in the console") && detail.contains(r#"id="status-changes""#));
    // Without a reason the console refuses and changes nothing.
    let refused = console
        .post(format!("{base}/findings/status"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("scope", "selected"),
            ("finding", &format!("w/{c}")),
            ("new_status", "passed"),
            ("reason", ""),
        ])
        .send()
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(api.changes_of(&c).len(), 1);

    // The next sync puts the source's statuses back; the record of the changes stays.
    host.ok(&["sync", "w"]);
    let (_, detail) = api.get(&format!("/integrations/w/findings/{a}"));
    assert_eq!(detail["finding"]["status"], "failed");
    assert_eq!(detail["status_changes"].as_array().unwrap().len(), 1);
}
