//! Streams chosen per integration: a sync pulls the streams its integration chose (the
//! plugin's defaults until it chooses), a choice the plugin does not offer is refused, a
//! full sync closes only the unseen findings of the streams it pulled, and a finding of a
//! stream the sync did not ask for is refused. With the `streams-probe` test plugin,
//! which offers `alpha` (on by default) and `beta`.

use crate::harness::Host;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wiz_sim::background::Background;

/// Each stream's record ids.
type Records = Arc<Mutex<HashMap<String, Vec<&'static str>>>>;

/// The probe's source: each stream's records, changed by the test as it goes.
struct Source {
    records: Records,
    server: Background,
}

impl Source {
    fn start(alpha: &[&'static str], beta: &[&'static str]) -> Self {
        let records = Arc::new(Mutex::new(HashMap::from([
            ("alpha".to_string(), alpha.to_vec()),
            ("beta".to_string(), beta.to_vec()),
        ])));
        let router = axum::Router::new()
            .route(
                "/{stream}",
                axum::routing::get(
                    |State(records): State<Records>, Path(stream): Path<String>| async move {
                        let ids = records.lock().unwrap().get(&stream).cloned();
                        match ids {
                            Some(ids) => {
                                let items: Vec<Value> = ids
                                    .iter()
                                    .map(|id| json!({"id": id, "severity": "high"}))
                                    .collect();
                                (axum::http::StatusCode::OK, axum::Json(json!(items)))
                            }
                            None => (axum::http::StatusCode::NOT_FOUND, axum::Json(json!([]))),
                        }
                    },
                ),
            )
            .with_state(records.clone());
        Source {
            records,
            server: Background::serve("probe-source", router).unwrap(),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    fn set(&self, stream: &str, ids: &[&'static str]) {
        self.records
            .lock()
            .unwrap()
            .insert(stream.into(), ids.to_vec());
    }
}

/// The ids of `name`'s findings with `status`, sorted.
fn ids_with(host: &Host, name: &str, status: &str) -> Vec<String> {
    let mut ids: Vec<String> = host
        .findings_of(name)
        .into_iter()
        .filter(|f| f["status"] == status)
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn shown_streams(host: &Host, name: &str) -> String {
    let shown: Value =
        serde_json::from_str(&host.ok(&["integration", "show", name, "--json"])).unwrap();
    shown["streams"].as_str().unwrap().to_string()
}

#[test]
fn a_sync_pulls_the_chosen_streams_and_a_full_sync_closes_only_theirs() {
    let source = Source::start(&["a1", "a2"], &["b1"]);
    let scratch = tempfile::tempdir().unwrap();
    let (host, _) = Host::with_only_plugin(
        scratch.path(),
        |h| h.plugin_variant("streams-probe.wasm"),
        "streams-probe.wasm",
    );
    let listed = host.ok(&["plugins"]);
    assert!(
        listed.contains("streams: alpha (on by default), beta"),
        "{listed}"
    );
    let source_url = format!("source-url={}", source.url());
    let add = |extra: &[&str]| {
        let mut args = vec![
            "integration",
            "add",
            "p",
            "--connector",
            "streams-probe",
            "--set",
            &source_url,
        ];
        args.extend_from_slice(extra);
        host.run(&args)
    };

    // A stream the plugin does not offer, or none, is refused.
    let refused = add(&["--streams", "alpha,gamma"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("`gamma` is not a stream of streams-probe 0.1.0; it offers alpha, beta"),
        "{stderr}"
    );
    assert_eq!(refused.status.code(), Some(2));

    // Until it chooses, it pulls the plugin's defaults.
    assert!(add(&[]).status.success());
    assert_eq!(shown_streams(&host, "p"), "alpha (default)");
    host.ok(&["sync", "p"]);
    assert_eq!(ids_with(&host, "p", "failed"), ["alpha-a1", "alpha-a2"]);

    // Choosing both makes the next sync full, and it pulls beta too.
    let updated = host.ok(&["integration", "update", "p", "--streams", "alpha,beta"]);
    assert!(
        updated.contains("changed streams") && updated.contains("the next sync is full"),
        "{updated}"
    );
    assert_eq!(shown_streams(&host, "p"), "alpha,beta");
    host.ok(&["sync", "p"]);
    assert_eq!(
        ids_with(&host, "p", "failed"),
        ["alpha-a1", "alpha-a2", "beta-b1"]
    );

    // A full sync of beta alone closes beta's unseen findings and leaves alpha's as they
    // are, though alpha changed at the source meanwhile.
    source.set("alpha", &["a1"]);
    source.set("beta", &[]);
    host.ok(&["integration", "update", "p", "--streams", "beta"]);
    host.ok(&["sync", "p"]);
    assert_eq!(ids_with(&host, "p", "failed"), ["alpha-a1", "alpha-a2"]);
    assert_eq!(ids_with(&host, "p", "passed"), ["beta-b1"]);

    // Back to the defaults: alpha is pulled again, and its vanished a2 closes.
    host.ok(&["integration", "update", "p", "--streams", "default"]);
    assert_eq!(shown_streams(&host, "p"), "alpha (default)");
    host.ok(&["sync", "p"]);
    assert_eq!(ids_with(&host, "p", "failed"), ["alpha-a1"]);
    assert_eq!(ids_with(&host, "p", "passed"), ["alpha-a2", "beta-b1"]);
    let changes: Vec<String> = host
        .json(&["history", "p"])
        .into_iter()
        .filter(|r| r["action"] == "config_change")
        .map(|r| r["details"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert!(
        changes.iter().all(|c| c == "changed: streams"),
        "{changes:?}"
    );

    // A finding of a stream the sync did not ask for is refused, and said so.
    host.ok(&[
        "integration",
        "update",
        "p",
        "--set",
        "stray=true",
        "--no-test",
    ]);
    host.ok(&["sync", "p"]);
    let all: Vec<String> = host
        .findings_of("p")
        .into_iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!all.contains(&"beta-stray".to_string()), "{all:?}");
    let last = &host.json(&["history", "p"])[0];
    assert_eq!(last["findings_skipped"], 1, "{last}");
    let warned = last["warnings"].to_string();
    assert!(
        warned.contains("stream `beta` is not one this sync asked for (alpha)"),
        "{warned}"
    );
}

#[test]
fn the_console_form_chooses_streams_and_refuses_none() {
    use crate::console::logged_in;
    use reqwest::StatusCode;

    let source = Source::start(&["a1"], &["b1"]);
    let scratch = tempfile::tempdir().unwrap();
    let (host, _) = Host::with_only_plugin(
        scratch.path(),
        |h| h.plugin_variant("streams-probe.wasm"),
        "streams-probe.wasm",
    );
    host.ok(&[
        "integration",
        "add",
        "p",
        "--connector",
        "streams-probe",
        "--set",
        &format!("source-url={}", source.url()),
    ]);
    let served = host.serve_http(&[]);
    let (console, base, csrf) = logged_in(&served, &served.admin_token);
    let form = console
        .get(format!("{base}/integrations/p/edit"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        form.contains(r#"id="stream-alpha" name="stream.alpha" type="checkbox" aria-describedby="stream-help-alpha" checked>"#)
            && form.contains(r#"id="stream-beta" name="stream.beta" type="checkbox" aria-describedby="stream-help-beta">"#),
        "{form}"
    );
    let url = source.url();
    let submit = |fields: &[(&str, &str)]| {
        let mut all = vec![
            ("_csrf", csrf.as_str()),
            ("setting.source-url", url.as_str()),
            ("streams_shown", "1"),
            ("action", "save"),
        ];
        all.extend_from_slice(fields);
        console
            .post(format!("{base}/integrations/p/edit"))
            .form(&all)
            .send()
            .unwrap()
    };
    let none = submit(&[]);
    assert_eq!(none.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = none.text().unwrap();
    assert!(
        page.contains(
            r#"<p id="error-streams" class="field-error">choose at least one stream</p>"#
        ),
        "{page}"
    );
    assert_eq!(
        shown_streams(&host, "p"),
        "alpha (default)",
        "nothing saved"
    );
    let saved = submit(&[("stream.beta", "on")]);
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(shown_streams(&host, "p"), "beta");
}
