//! Plugin versions side by side: installing builds, the exact build an integration runs,
//! moving it to another version (upgrade and rollback, tested first), removing a version
//! only when nothing runs it, and refusing a changed build under an installed version.
//! The real binaries throughout: the Wiz plugin as released for contract 0.1.0 and this
//! tree's 0.2.0 build.

use crate::harness::{FULL_SECRET, Host, assert_success};
use serde_json::Value;
use std::path::{Path, PathBuf};
use wiz_sim::faults::{Fault, FaultRule, Trigger};
use wiz_sim::{SimConfig, Simulator};

fn released_wiz() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts/wiz-0.1.0.wasm")
}

/// `plugins list --json` as (version, used_by) of each Wiz version.
fn wiz_versions(host: &Host) -> Vec<(String, Vec<String>)> {
    host.json(&["plugins", "list"])
        .into_iter()
        .filter(|p| p["name"] == "wiz")
        .map(|p| {
            let used: Vec<String> = p["used_by"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u.as_str().unwrap().to_string())
                .collect();
            (p["version"].as_str().unwrap().to_string(), used)
        })
        .collect()
}

fn runs(host: &Host, name: &str) -> String {
    let shown: Value =
        serde_json::from_str(&host.ok(&["integration", "show", name, "--json"])).unwrap();
    shown["plugin-version"].as_str().unwrap().to_string()
}

/// The newest config_change row of `name`'s history.
fn last_config_change(host: &Host, name: &str) -> Value {
    host.json(&["history", name])
        .into_iter()
        .find(|r| r["action"] == "config_change")
        .unwrap_or_else(|| panic!("no config_change in the history of {name}"))
}

#[test]
fn versions_install_side_by_side_and_an_integration_moves_between_them_tested_first() {
    let sim = Simulator::start(SimConfig::new(31, 30)).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    // The folder holds the released 0.1.0 only: a new integration runs it.
    let (host, plugins) = Host::with_only_plugin(scratch.path(), |_| released_wiz(), "wiz.wasm");
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &[]));
    assert_eq!(runs(&host, "w"), "0.1.0");

    // 0.2.0 installs beside it; installing the same build again changes nothing.
    let built = Host::new().built_plugins().join("wiz.wasm");
    let built = built.to_str().unwrap();
    let installed = host.ok(&["plugins", "install", built]);
    assert!(
        installed.contains("installed wiz 0.2.0 (contract 0.2.0")
            && installed.contains("other versions: 0.1.0"),
        "{installed}"
    );
    let again = host.ok(&["plugins", "install", built]);
    assert!(again.contains("wiz 0.2.0 is already installed"), "{again}");
    let not_wasm = scratch.path().join("notes.wasm");
    std::fs::write(&not_wasm, "not a component").unwrap();
    let out = host.run(&["plugins", "install", not_wasm.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "a wrong file is a usage error");
    assert_eq!(
        wiz_versions(&host),
        [
            ("0.1.0".to_string(), vec!["w".to_string()]),
            ("0.2.0".to_string(), vec![])
        ]
    );
    let listed = host.ok(&["plugins"]);
    assert!(
        listed.contains("wiz 0.1.0 (contract 0.1.0) installed, from ")
            && listed.contains("wiz 0.2.0 (contract 0.2.0) installed, sha256 ")
            && listed.contains("used by: w")
            && listed.contains("used by: no integration"),
        "{listed}"
    );

    // A version in use is not removed.
    let refused = host.fails(&["plugins", "remove", "wiz@0.1.0"]);
    assert!(
        refused.contains("wiz 0.1.0 is in use by w") && refused.contains("integration upgrade"),
        "{refused}"
    );
    host.ok(&["sync", "w"]);
    let synced_by_old = host.findings_of("w");
    assert!(!synced_by_old.is_empty());

    // The move is tested with the new version first: a failing test changes nothing,
    // and history names both versions.
    sim.set_faults(vec![
        FaultRule::new(
            Fault::Unauthorized,
            Trigger::Run {
                from: 1,
                count: 1000,
            },
        )
        .at_token_endpoint(),
    ]);
    let failed = host.fails(&["integration", "upgrade", "w"]);
    assert!(failed.contains("connection test failed"), "{failed}");
    assert_eq!(
        runs(&host, "w"),
        "0.1.0",
        "a failed test keeps the old version"
    );
    let row = last_config_change(&host, "w");
    assert_eq!(row["status"], "failed", "{row}");
    assert!(
        row["details"]
            .as_str()
            .unwrap_or_default()
            .contains("wiz 0.1.0 -> 0.2.0"),
        "{row}"
    );

    // With the source answering again, the upgrade goes through, and the next sync is
    // full and stores what the old version stored.
    sim.set_faults(vec![]);
    let upgraded = host.ok(&["integration", "upgrade", "w"]);
    assert!(
        upgraded.contains("integration `w` now runs 0.2.0 (was 0.1.0)"),
        "{upgraded}"
    );
    assert_eq!(runs(&host, "w"), "0.2.0");
    let row = last_config_change(&host, "w");
    assert_eq!(row["status"], "succeeded", "{row}");
    assert!(
        row["details"]
            .as_str()
            .unwrap_or_default()
            .contains("plugin: wiz 0.1.0 -> 0.2.0"),
        "{row}"
    );
    host.ok(&["sync", "w"]);
    assert_eq!(host.findings_of("w"), synced_by_old);
    let already = host.fails(&["integration", "upgrade", "w"]);
    assert!(
        already.contains("already runs wiz 0.2.0, the newest"),
        "{already}"
    );

    // Rolling back is the same command with the older version, and it still runs with
    // its file gone from the folder: the host kept the build.
    std::fs::remove_file(plugins.join("wiz.wasm")).unwrap();
    let rolled_back = host.ok(&["integration", "upgrade", "w", "--to", "0.1.0"]);
    assert!(
        rolled_back.contains("now runs 0.1.0 (was 0.2.0)"),
        "{rolled_back}"
    );
    host.ok(&["sync", "w"]);
    assert_eq!(host.findings_of("w"), synced_by_old);
    let unknown = host.fails(&["integration", "upgrade", "w", "--to", "7.0.0"]);
    assert!(
        unknown.contains("wiz 7.0.0 is neither installed nor in")
            && unknown.contains("its versions here: 0.1.0, 0.2.0"),
        "{unknown}"
    );

    // 0.2.0 is unused now and goes; 0.1.0 stays while `w` runs it.
    host.ok(&["plugins", "remove", "wiz@0.2.0"]);
    assert_eq!(
        wiz_versions(&host),
        [("0.1.0".to_string(), vec!["w".to_string()])]
    );
    let gone = host.fails(&["plugins", "remove", "wiz@0.2.0"]);
    assert!(
        gone.contains("installed plugin wiz 0.2.0 not found"),
        "{gone}"
    );
    let bad = host.run(&["plugins", "remove", "wiz"]);
    assert_eq!(bad.status.code(), Some(2), "NAME@VERSION is required");
}

#[test]
fn a_changed_build_under_an_installed_version_is_refused_and_never_runs() {
    let sim = Simulator::start(SimConfig::new(5, 20)).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let (host, plugins) = Host::with_only_plugin(
        scratch.path(),
        |h| h.built_plugins().join("wiz.wasm"),
        "wiz.wasm",
    );
    let changed = scratch.path().join("wiz-rebuilt.wasm");
    Host::changed_build(&plugins.join("wiz.wasm"), &changed);

    // Two different builds calling themselves wiz 0.2.0 in the folder, nothing installed:
    // neither gets the secret.
    std::fs::copy(&changed, plugins.join("also-wiz.wasm")).unwrap();
    let ambiguous = host.fails(&[
        "integration",
        "add",
        "w",
        "--connector",
        "wiz",
        "--set",
        &format!("api-url={}", sim.api_url()),
        "--set",
        &format!("auth-url={}", sim.auth_url()),
        "--set",
        "client-id=sim-client",
        "--secret",
        &format!("client-secret={FULL_SECRET}"),
    ]);
    assert!(
        ambiguous.contains("2 different files call themselves `wiz` 0.2.0")
            && ambiguous.contains("also-wiz.wasm"),
        "{ambiguous}"
    );
    assert_eq!(sim.stats().tokens(), 0, "no plugin ran with the secret");

    // With one build in the folder, the integration is set up on it and the host keeps it.
    std::fs::remove_file(plugins.join("also-wiz.wasm")).unwrap();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &[]));
    let kept = host.json(&["plugins", "list"]);
    let digest = kept[0]["digest"].as_str().unwrap().to_string();

    // The changed build is refused as an install, and in the folder it is not used.
    let refused = host.fails(&["plugins", "install", changed.to_str().unwrap()]);
    assert!(
        refused.contains("wiz 0.2.0 from")
            && refused.contains("is a different build")
            && refused.contains("a changed build must carry a new version"),
        "{refused}"
    );
    std::fs::copy(&changed, plugins.join("wiz.wasm")).unwrap();
    let out = host.run(&["plugins"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("wiz.wasm not loaded") && stderr.contains("is a different build"),
        "{stderr}"
    );
    // The integration runs the build it was set up with, from the store.
    host.ok(&["sync", "w"]);
    let listed = host.json(&["plugins", "list"]);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["digest"], digest.as_str());
    assert_eq!(listed[0]["used_by"][0], "w");
    assert_eq!(
        listed[0]["path"],
        Value::Null,
        "the folder's file is not this build"
    );
}

#[test]
fn the_api_and_the_console_install_move_and_remove_versions() {
    use crate::console::logged_in;
    use reqwest::StatusCode;
    use reqwest::blocking::Client;
    use serde_json::json;

    let sim = Simulator::start(SimConfig::new(8, 10)).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let (host, _) = Host::with_only_plugin(scratch.path(), |_| released_wiz(), "wiz.wasm");
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &[]));
    let served = host.serve_http(&[]);
    let token = served.admin_token.as_str();
    let api = Client::new();
    let url = |path: &str| format!("{}{path}", served.api);
    let send = |request: reqwest::blocking::RequestBuilder| {
        let response = request.bearer_auth(token).send().unwrap();
        let status = response.status();
        let body: Value = serde_json::from_str(&response.text().unwrap()).unwrap_or(Value::Null);
        (status, body)
    };

    // Install: the component is the body; again is a no-op; garbage and a changed build
    // are refused with problems.
    let built = std::fs::read(Host::new().built_plugins().join("wiz.wasm")).unwrap();
    let (status, installed) = send(api.post(url("/plugins")).body(built.clone()));
    assert_eq!(status, StatusCode::CREATED, "{installed}");
    assert_eq!(installed["version"], "0.2.0");
    let (status, _) = send(api.post(url("/plugins")).body(built.clone()));
    assert_eq!(status, StatusCode::OK);
    let (status, garbage) = send(api.post(url("/plugins")).body(b"not wasm".to_vec()));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{garbage}");
    assert!(
        garbage["detail"]
            .as_str()
            .unwrap()
            .starts_with("not installed: plugin (uploaded) refused"),
        "{garbage}"
    );
    let changed = scratch.path().join("changed.wasm");
    let built_file = scratch.path().join("built.wasm");
    std::fs::write(&built_file, &built).unwrap();
    Host::changed_build(&built_file, &changed);
    let (status, conflict) = send(
        api.post(url("/plugins"))
            .body(std::fs::read(&changed).unwrap()),
    );
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    assert!(
        conflict["detail"]
            .as_str()
            .unwrap()
            .contains("a changed build must carry a new version")
    );

    let (_, listed) = send(api.get(url("/plugins")));
    let versions: Vec<(&str, &Value)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["version"].as_str().unwrap(), &p["used_by"]))
        .collect();
    assert_eq!(versions, [("0.1.0", &json!(["w"])), ("0.2.0", &json!([]))]);

    // Upgrade and roll back; a version in use is not removed.
    let (status, moved) = send(api.post(url("/integrations/w/upgrade")).json(&json!({})));
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(
        (moved["from"].as_str(), moved["to"].as_str()),
        (Some("0.1.0"), Some("0.2.0"))
    );
    assert!(
        moved["test"]["steps"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    );
    let (_, shown) = send(api.get(url("/integrations/w")));
    assert_eq!(shown["plugin_version"], "0.2.0");
    let (status, _) = send(api.delete(url("/plugins/wiz/0.2.0")));
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, back) = send(
        api.post(url("/integrations/w/upgrade"))
            .json(&json!({"to": "0.1.0"})),
    );
    assert_eq!(
        (status, back["to"].as_str()),
        (StatusCode::OK, Some("0.1.0")),
        "{back}"
    );

    // The console: the card and the page show the version run, and the page moves it.
    let (console, base, csrf) = logged_in(&served, token);
    let home = crate::console::page_text(&console, &base, "/");
    assert!(
        home.contains(r#"<span class="plugin-version">0.1.0</span>"#),
        "{home}"
    );
    let page = crate::console::page_text(&console, &base, "/integrations/w");
    assert!(
        page.contains(r#"<strong id="running-version">0.1.0</strong>"#)
            && page.contains(r#"<option value="0.2.0">0.2.0 (upgrade)</option>"#),
        "{page}"
    );
    let moved = console
        .post(format!("{base}/integrations/w/upgrade"))
        .form(&[("_csrf", csrf.as_str()), ("to", "0.2.0")])
        .send()
        .unwrap();
    assert_eq!(moved.status(), StatusCode::SEE_OTHER);
    let page = crate::console::page_text(&console, &base, "/integrations/w");
    assert!(
        page.contains(r#"<strong id="running-version">0.2.0</strong>"#)
            && page.contains(r#"<option value="0.1.0">0.1.0 (roll back)</option>"#),
        "{page}"
    );
    // A failed test there changes nothing and shows why.
    sim.set_faults(vec![
        FaultRule::new(
            Fault::Unauthorized,
            Trigger::Run {
                from: 1,
                count: 1000,
            },
        )
        .at_token_endpoint(),
    ]);
    let refused = console
        .post(format!("{base}/integrations/w/upgrade"))
        .form(&[("_csrf", csrf.as_str()), ("to", "0.1.0")])
        .send()
        .unwrap();
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let html = refused.text().unwrap();
    assert!(
        html.contains("still runs the version it ran")
            && html.contains(r#"<strong id="running-version">0.2.0</strong>"#),
        "{html}"
    );
    sim.set_faults(vec![]);

    // 0.1.0 is unused now: it goes, through the API.
    let (status, _) = send(api.delete(url("/plugins/wiz/0.1.0")));
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(api.delete(url("/plugins/wiz/0.1.0")));
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A host whose plugins folder holds only the Wiz build, with integration `w` on a
/// simulator, the build installed in the store by adding it; the folder's path last.
fn wiz_installed_from_the_folder() -> (Simulator, tempfile::TempDir, Host, PathBuf) {
    let sim = Simulator::start(SimConfig::new(6, 10)).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let (host, plugins) = Host::with_only_plugin(
        scratch.path(),
        |h| h.built_plugins().join("wiz.wasm"),
        "wiz.wasm",
    );
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &[]));
    (sim, scratch, host, plugins)
}

/// Replaces the store's copy of the installed Wiz build with another build, as a damaged
/// or tampered store would hold it.
fn swap_stored_build(host: &Host, scratch: &Path) {
    let swapped = scratch.join("swapped.wasm");
    Host::changed_build(&Host::new().built_plugins().join("wiz.wasm"), &swapped);
    let db = rusqlite::Connection::open(host.db()).unwrap();
    let changed = db
        .execute(
            "UPDATE plugin_versions SET component = ?1 WHERE name = 'wiz'",
            [std::fs::read(&swapped).unwrap()],
        )
        .unwrap();
    assert_eq!(changed, 1);
}

#[test]
fn an_installed_build_the_folder_holds_too_runs_from_the_folder_not_the_store() {
    let (sim, scratch, host, _plugins) = wiz_installed_from_the_folder();
    // The folder keeps the recorded build, loaded with the catalog: the sync runs that
    // copy and never reads, compiles or describes the store's (here unreadable) one.
    swap_stored_build(&host, scratch.path());
    let tokens = sim.stats().tokens();
    host.ok(&["sync", "w"]);
    assert!(sim.stats().tokens() > tokens, "the folder's build ran");
}

#[test]
fn a_build_changed_in_the_store_is_refused_not_run() {
    let (sim, scratch, host, plugins) = wiz_installed_from_the_folder();
    // The folder's file goes, so only the store's copy can run; then that copy is
    // swapped for another build behind the host's back.
    std::fs::remove_file(plugins.join("wiz.wasm")).unwrap();
    swap_stored_build(&host, scratch.path());
    let tokens = sim.stats().tokens();
    let refused = host.fails(&["sync", "w"]);
    assert!(
        refused.contains("stored plugin wiz 0.2.0 is unreadable")
            && refused.contains("does not match its recorded sha256"),
        "{refused}"
    );
    assert_eq!(sim.stats().tokens(), tokens, "the swapped build never ran");
}
