//! A stored secret stays with the URLs it was entered for: changing a URL setting without
//! entering the secrets again is refused by every front end, nothing reaches the new URL,
//! and the refusal is in history. The edit form's Test Connection saves nothing, and a
//! refused form comes back as typed.

use crate::console::logged_in;
use crate::harness::{FULL_SECRET, Host, Listener, assert_success, expect_failure};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::time::Duration;
use wiz_sim::{SimConfig, Simulator};

/// The refused settings changes in `name`'s history, newest first.
fn refused_changes(host: &Host, name: &str) -> Vec<Value> {
    host.json(&["history", name])
        .into_iter()
        .filter(|r| r["action"] == "config_change" && r["status"] == "failed")
        .collect()
}

/// The stored settings as `integration show --json` gives them.
fn shown(host: &Host, name: &str) -> Value {
    serde_json::from_str(&host.ok(&["integration", "show", name, "--json"])).unwrap()
}

#[test]
fn a_changed_url_needs_its_secrets_again_in_the_cli_the_api_and_the_console() {
    let sim = Simulator::start(SimConfig::new(11, 5)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &[]));
    let catcher = Listener::start("127.0.0.1:0", Duration::ZERO);
    let elsewhere = format!("{}/oauth/token", catcher.url);
    let before = shown(&host, "w");

    // The CLI: setting, unsetting, with and without the test.
    let set_elsewhere = format!("auth-url={elsewhere}");
    for args in [
        vec!["integration", "update", "w", "--set", &set_elsewhere],
        vec![
            "integration",
            "update",
            "w",
            "--set",
            &set_elsewhere,
            "--no-test",
        ],
        vec![
            "integration",
            "update",
            "w",
            "--set",
            &set_elsewhere,
            "--set",
            "client-secret=",
        ],
        vec![
            "integration",
            "update",
            "w",
            "--unset",
            "auth-url",
            "--no-test",
        ],
    ] {
        let out = host.run(&args);
        let (_, stderr) = expect_failure(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("`auth-url` changes") && stderr.contains("`client-secret`"),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(shown(&host, "w"), before, "nothing was saved");
    let refused = refused_changes(&host, "w");
    assert_eq!(refused.len(), 4, "{refused:?}");
    assert!(
        refused[0]["error"]
            .as_str()
            .unwrap()
            .contains("must be entered again"),
        "{refused:?}"
    );

    // The API, with the secret left empty, and with it left out.
    let served = host.serve_http(&[]);
    let api = Client::new();
    for settings in [
        json!({"auth-url": elsewhere, "client-secret": ""}),
        json!({"api-url": format!("{}/graphql", catcher.url)}),
    ] {
        let answer = api
            .patch(format!("{}/integrations/w", served.api))
            .bearer_auth(&served.admin_token)
            .json(&json!({ "settings": settings }))
            .send()
            .unwrap();
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{settings}");
        let body: Value = answer.json().unwrap();
        assert!(
            body["detail"].as_str().unwrap().contains("`client-secret`"),
            "{body}"
        );
    }

    // The console's edit form, Save and Test Connection alike.
    let (console, base, csrf) = logged_in(&served, &served.admin_token);
    for action in ["save", "test"] {
        let page = console
            .post(format!("{base}/integrations/w/edit"))
            .form(&[
                ("_csrf", csrf.as_str()),
                ("setting.api-url", &sim.api_url()),
                ("setting.auth-url", &elsewhere),
                ("setting.client-id", "sim-client"),
                ("setting.client-secret", ""),
                ("setting.max-requests-per-second", "100"),
                ("auto_sync_days", "0"),
                ("action", action),
            ])
            .send()
            .unwrap();
        assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY, "{action}");
        let html = page.text().unwrap();
        assert!(
            html.contains("must be entered again"),
            "{action}: the reason is beside the secret"
        );
        assert!(html.contains(&elsewhere), "{action}: the typed URL is kept");
    }
    let form = console
        .get(format!("{base}/integrations/w/edit"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        form.contains("Changing any URL setting needs it entered again"),
        "the form says so beside the secret"
    );
    drop(served);

    assert!(
        catcher.requests().is_empty(),
        "nothing reached the new URL: {:?}",
        catcher.requests()
    );
    assert_eq!(catcher.connections(), 0);
    assert_eq!(shown(&host, "w"), before, "still nothing saved");
    // The CLI's four, the API's two and the console's Save; Test Connection records none.
    assert_eq!(refused_changes(&host, "w").len(), 7);

    // Entered again, the change is the operator's: it is saved.
    let secret = format!("client-secret={FULL_SECRET}");
    host.ok(&[
        "integration",
        "update",
        "w",
        "--set",
        &set_elsewhere,
        "--set",
        &secret,
        "--no-test",
    ]);
    assert_eq!(shown(&host, "w")["auth-url"], elsewhere.as_str());
}

#[test]
fn the_edit_forms_test_connection_saves_nothing_and_a_refused_form_keeps_what_was_typed() {
    let sim = Simulator::start(SimConfig::new(12, 5)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &["page-size=300"]));
    let before = shown(&host, "w");
    let history_before = host.json(&["history", "w"]);
    let served = host.serve_http(&[]);
    let (console, base, csrf) = logged_in(&served, &served.admin_token);
    let form = |page_size: &str, days: &str, action: &str| {
        console
            .post(format!("{base}/integrations/w/edit"))
            .form(&[
                ("_csrf", csrf.as_str()),
                ("setting.api-url", &sim.api_url()),
                ("setting.auth-url", &sim.auth_url()),
                ("setting.client-id", "sim-client"),
                ("setting.client-secret", ""),
                ("setting.page-size", page_size),
                ("setting.max-requests-per-second", "100"),
                ("auto_sync_days", days),
                ("action", action),
            ])
            .send()
            .unwrap()
    };
    // Test Connection with a changed page size: tested, not saved, not recorded.
    let tested = form("200", "0", "test");
    assert_eq!(tested.status(), StatusCode::OK);
    let html = tested.text().unwrap();
    assert!(html.contains("test-result"), "the test's outcome is shown");
    assert!(
        html.contains(r#"value="200""#),
        "the typed value stays in the form"
    );
    assert_eq!(shown(&host, "w"), before);
    assert_eq!(host.json(&["history", "w"]), history_before);

    // A refused Auto Sync value: the form comes back with what was typed, not empty.
    let refused = form("250", "999", "save");
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().unwrap();
    assert!(html.contains(r#"value="250""#), "the typed page size stays");
    assert!(html.contains(&sim.api_url()), "the stored URLs stay");
    assert!(html.contains("sim-client"));
    assert_eq!(shown(&host, "w"), before);

    // Save saves.
    let saved = form("200", "0", "save");
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(shown(&host, "w")["page-size"], "200");
}
