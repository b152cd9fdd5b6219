//! test-connection and `integration add` against good and bad credentials and URLs.

use crate::harness::{FULL_SECRET, Host, assert_success, expect_failure};
use wiz_sim::{SimConfig, Simulator};

#[test]
fn good_secret_passes_every_step() {
    let sim = Simulator::start(SimConfig::new(1, 50)).unwrap();
    let host = Host::new();
    let out = host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &[]);
    assert_success(&out);
    let stdout = host.ok(&["test-connection", "w"]);
    for step in ["token", "api", "scope", "inventory"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("[ok  ]") && l.contains(step)),
            "{step}: {stdout}"
        );
    }
    let report: serde_json::Value =
        serde_json::from_str(&host.ok(&["test-connection", "w", "--json"])).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["steps"].as_array().unwrap().len(), 4);
    assert!(
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["outcome"] == "passed")
    );
    let outcome: serde_json::Value =
        serde_json::from_str(&host.ok(&["sync", "w", "--json"])).unwrap();
    assert_eq!(outcome["status"], "succeeded");
    assert!(outcome["findings_new"].as_u64().unwrap() > 0);
    let history = host.json(&["history", "w"]);
    assert_eq!(history[1]["action"], "test_connection");
    assert_eq!(history[1]["status"], "succeeded");
    assert_eq!(history[1]["started_by"], "e2e-tester");
}

#[test]
fn bad_secret_is_refused_and_nothing_is_saved() {
    let sim = Simulator::start(SimConfig::new(1, 50)).unwrap();
    let host = Host::new();
    let out = host.add_wiz("w", &sim, "sim-client", "wrong-secret-value", &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("authentication failed") && stderr.contains("client id and secret"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("wrong-secret-value"),
        "the secret leaked: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("[FAIL] token"), "{stdout}");
    assert!(
        !host.ok(&["integration", "list"]).contains(" w "),
        "a failed test must not save"
    );
}

#[test]
fn unreachable_and_wrong_api_urls_name_the_api_step() {
    let sim = Simulator::start(SimConfig::new(1, 50)).unwrap();
    let host = Host::new();
    // A port nobody listens on, held for the whole test: a port only freed could be taken
    // by another test's server meanwhile, which then resets the connection.
    let held = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    held.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let closed = held.local_addr().unwrap().as_socket().unwrap();
    let out = host.add_wiz_at(
        "w",
        &format!("http://{closed}"),
        &sim.auth_url(),
        "sim-client",
        FULL_SECRET,
        &[],
    );
    let (stdout, stderr) = expect_failure(&out);
    assert!(
        stdout.contains("[ok  ] token") && stdout.contains("[FAIL] api"),
        "{stdout}"
    );
    // Said in words, without wasi:http's type names.
    assert!(
        stderr.contains("cannot reach the Wiz API")
            && stderr.contains("the server refused the connection")
            && !stderr.contains("ErrorCode"),
        "{stderr}"
    );
    // A URL that answers, but not with GraphQL.
    let out = host.add_wiz_at(
        "w",
        &format!("{}/not-wiz", sim.base_url()),
        &sim.auth_url(),
        "sim-client",
        FULL_SECRET,
        &[],
    );
    let (_, stderr) = expect_failure(&out);
    assert!(
        stderr.contains("404") && stderr.contains("check the URL"),
        "{stderr}"
    );
}

#[test]
fn issues_only_account_passes_and_no_scope_account_fails_on_scope() {
    let sim = Simulator::start(SimConfig::new(1, 50)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("limited", &sim, "sim-issues-only", "sim-secret-issues", &[]));
    let stdout = host.ok(&["test-connection", "limited"]);
    assert!(
        stdout.contains("[ok  ] inventory") && stdout.contains("read:resources not granted"),
        "{stdout}"
    );

    let out = host.add_wiz("none", &sim, "sim-no-scope", "sim-secret-none", &[]);
    let (stdout, stderr) = expect_failure(&out);
    assert!(
        stdout.contains("[ok  ] api") && stdout.contains("[FAIL] scope"),
        "{stdout}"
    );
    assert!(
        stderr.contains("permission denied") && stderr.contains("read:issues"),
        "{stderr}"
    );
}

#[test]
fn bad_input_is_refused_before_any_network_call() {
    let sim = Simulator::start(SimConfig::new(1, 50)).unwrap();
    let host = Host::new();
    for (extra, message) in [
        (
            "page-size=1000",
            "setting `page-size`: 1000 is out of range (1 to 500)",
        ),
        ("page-size=0", "out of range"),
        ("colour=red", "setting `colour`: unknown"),
    ] {
        let out = host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &[extra]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(message),
            "{extra}: {stderr}"
        );
    }
    let stderr = host.fails(&[
        "integration",
        "add",
        "w",
        "--connector",
        "wiz",
        "--set",
        "api-url=https://api.example",
        "--secret",
        "client-secret=x",
    ]);
    assert!(
        stderr.contains("setting `client-id`: is required"),
        "{stderr}"
    );
    let stderr = host.fails(&[
        "integration",
        "add",
        "w",
        "--connector",
        "wiz",
        "--set",
        "api-url=ftp://x",
        "--set",
        "client-id=a",
        "--secret",
        "client-secret=x",
    ]);
    assert!(
        stderr.contains("api-url") && stderr.contains("https"),
        "{stderr}"
    );
    let stderr = host.fails(&[
        "integration",
        "add",
        "w",
        "--connector",
        "nope",
        "--set",
        "a=b",
    ]);
    assert!(
        stderr.contains("no plugin named `nope`") && stderr.contains("available: "),
        "{stderr}"
    );
    assert_eq!(
        sim.stats()
            .token_requests
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no request may leave for bad input"
    );
    let stderr = host.fails(&["sync", "missing"]);
    assert!(
        stderr.contains("integration `missing` not found"),
        "{stderr}"
    );
}

#[test]
fn update_changes_secrets_after_a_connection_test_and_records_only_key_names() {
    let sim = Simulator::start(SimConfig::new(1, 50)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &[]));
    // A wrong secret fails the test and changes nothing.
    let out = host.run(&[
        "integration",
        "update",
        "w",
        "--secret",
        "client-secret=not-the-secret",
    ]);
    let (_, stderr) = expect_failure(&out);
    assert!(stderr.contains("nothing saved"), "{stderr}");
    host.ok(&["test-connection", "w"]);
    // Switching account and secret together works, and history names only the keys.
    let out = host.ok(&[
        "integration",
        "update",
        "w",
        "--set",
        "client-id=sim-issues-only",
        "--secret",
        "client-secret=sim-secret-issues",
    ]);
    assert!(out.contains("changed client-id, client-secret"), "{out}");
    let change = host
        .json(&["history", "w"])
        .into_iter()
        .find(|r| r["action"] == "config_change")
        .unwrap();
    assert_eq!(change["details"], "changed: client-id, client-secret");
    let history = host.ok(&["history", "w", "--json"]);
    assert!(
        !history.contains("sim-secret-issues") && !history.contains("not-the-secret"),
        "{history}"
    );
    assert!(
        host.ok(&["test-connection", "w"])
            .contains("read:resources not granted")
    );
    assert!(
        host.ok(&[
            "integration",
            "update",
            "w",
            "--set",
            "client-id=sim-issues-only"
        ])
        .contains("nothing changed")
    );
}
