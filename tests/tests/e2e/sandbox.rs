//! The sandbox refuses requests to hosts outside a plugin's URL settings.

use crate::harness::Host;
use std::io::ErrorKind;
use wiz_sim::{SimConfig, Simulator};

#[test]
fn request_to_a_host_not_in_the_config_is_denied() {
    let sim = Simulator::start(SimConfig::new(1, 10)).unwrap();
    let host = Host::new();
    // A listener the plugin tries to reach; it must never see a connection.
    let bystander = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    bystander.set_nonblocking(true).unwrap();
    let target = format!("http://{}/steal", bystander.local_addr().unwrap());
    host.ok(&[
        "integration",
        "add",
        "rogue",
        "--connector",
        "hostile",
        "--set",
        &format!("api-url={}", sim.api_url()),
        "--set",
        "mode=fetch-target",
        "--set",
        &format!("target={target}"),
        "--no-test",
    ]);
    let stderr = host.fails(&["sync", "rogue"]);
    assert!(
        stderr.contains("sandbox blocked 1 request")
            && stderr.contains("is not one of the hosts in this integration's URL settings"),
        "{stderr}"
    );
    assert!(
        matches!(bystander.accept(), Err(e) if e.kind() == ErrorKind::WouldBlock),
        "the request reached the bystander"
    );
    let latest = &host.json(&["history", "rogue"])[0];
    assert_eq!(latest["status"], "failed");
    assert!(
        latest["error"]
            .as_str()
            .unwrap()
            .contains("sandbox blocked")
    );
}

#[test]
fn a_refused_post_reaches_the_plugin_as_denied_not_as_a_broken_connection() {
    let host = Host::new();
    let bystander = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = format!("http://{}/token", bystander.local_addr().unwrap());
    host.add_hostile(
        "poster",
        "post-target",
        "https://api.example",
        &[&format!("target={target}")],
    );
    let stderr = host.fails(&["sync", "poster"]);
    assert!(
        stderr.contains("HttpRequestDenied") && stderr.contains("sandbox blocked 1 request"),
        "the plugin was told the host's policy refused it: {stderr}"
    );
}

/// Adds a `hostile` integration in `mode` and runs a sync that must fail; returns its
/// one-line error.
fn hostile_run(host: &Host, name: &str, mode: &str, api_url: &str, extra: &[&str]) -> String {
    host.add_hostile(name, mode, api_url, &[]);
    let mut args = vec!["sync", name];
    args.extend_from_slice(extra);
    let stderr = host.fails(&args);
    let latest = &host.json(&["history", name])[0];
    assert_eq!(latest["status"], "failed", "{mode}");
    assert!(latest["error"].is_string(), "{mode}");
    stderr
}

#[test]
fn hostile_plugins_fail_their_run_and_leave_others_unaffected() {
    let sim = Simulator::start(SimConfig::new(1, 60)).unwrap();
    let host = Host::new();
    let api = sim.api_url();

    let stderr = hostile_run(&host, "spin", "loop", &api, &["--run-timeout-s", "2"]);
    assert!(
        stderr.contains("ran longer than its 2s deadline"),
        "{stderr}"
    );

    let stderr = hostile_run(
        &host,
        "hoard",
        "allocate",
        &api,
        &["--memory-limit-mib", "64"],
    );
    assert!(
        stderr.contains("the plugin crashed") && stderr.contains("memory allocation"),
        "{stderr}"
    );

    let stderr = hostile_run(&host, "boom", "panic", &api, &[]);
    assert!(
        stderr.contains("the plugin crashed")
            && stderr.contains("hostile plugin panicked on purpose"),
        "{stderr}"
    );

    let stderr = hostile_run(&host, "snoop", "environment", &api, &[]);
    assert!(
        stderr.contains("sandbox held: no environment, no arguments"),
        "{stderr}"
    );

    // Named in the config, a metadata address is refused as the setting is entered...
    let stderr = host.fails(&[
        "integration",
        "add",
        "imds",
        "--connector",
        "hostile",
        "--set",
        "api-url=https://169.254.169.254/latest/meta-data",
        "--set",
        "mode=fetch",
        "--no-test",
    ]);
    assert!(
        stderr.contains("refused by the host's sandbox policy")
            && stderr.contains("link-local or metadata address"),
        "{stderr}"
    );
    // ...and one an older version stored fails the run as a setting to fix, saying why.
    host.add_hostile("imds", "fetch", "https://api.example/latest", &[]);
    let db = rusqlite::Connection::open(host.db()).unwrap();
    db.execute(
        "UPDATE integrations SET settings = replace(settings, 'https://api.example/latest', 'https://169.254.169.254/latest') WHERE name = 'imds'",
        [],
    )
    .unwrap();
    drop(db);
    let out = host.run(&["sync", "imds"]);
    let (_, stderr) = crate::harness::expect_failure(&out);
    assert!(
        stderr.contains("invalid settings")
            && stderr.contains("refused by the host's sandbox policy")
            && stderr.contains("169.254.169.254"),
        "{stderr}"
    );

    // The host and other integrations carry on.
    crate::harness::assert_success(&host.add_wiz(
        "w",
        &sim,
        "sim-client",
        crate::harness::FULL_SECRET,
        &[],
    ));
    host.ok(&["sync", "w"]);
    assert_eq!(
        host.ids("findings", "w", "id"),
        sim.tenant().expected(true, &[]).findings
    );
}

#[test]
fn a_metadata_address_in_any_notation_is_refused_as_it_is_entered() {
    let host = Host::new();
    for url in [
        "https://100.100.100.200/graphql",
        "https://169.254.169.254/graphql",
        "http://169.254.170.2/v2/credentials",
        "https://[fd00:ec2::254]/graphql",
        "https://[::ffff:169.254.169.254]/graphql",
        "https://[::ffff:a9fe:a9fe]/graphql",
        "https://[fe80::1]/graphql",
        "https://metadata.google.internal/graphql",
        "https://2852039166/graphql",
        "https://0xa9fea9fe/graphql",
    ] {
        for key in ["api-url", "auth-url"] {
            let other = match key {
                "api-url" => "auth-url=https://auth.example/oauth/token",
                _ => "api-url=https://api.example/graphql",
            };
            let this = format!("{key}={url}");
            let out = host.run(&[
                "integration",
                "add",
                "m",
                "--connector",
                "wiz",
                "--set",
                &this,
                "--set",
                other,
                "--set",
                "client-id=id",
                "--secret",
                "client-secret=a-secret-that-goes-nowhere",
            ]);
            let (_, stderr) = crate::harness::expect_failure(&out);
            assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
            let lines: Vec<&str> = stderr.lines().collect();
            assert_eq!(lines.len(), 1, "one line: {stderr}");
            assert!(
                lines[0].contains(&format!("setting `{key}`"))
                    && lines[0].contains("refused by the host's sandbox policy")
                    && lines[0].contains("link-local or metadata address"),
                "{url}: {stderr}"
            );
        }
    }
}

#[test]
fn malformed_records_are_dropped_one_by_one_and_floods_are_stopped() {
    let host = Host::new();
    let api = "https://api.example";
    host.ok(&[
        "integration",
        "add",
        "bad",
        "--connector",
        "hostile",
        "--set",
        &format!("api-url={api}"),
        "--set",
        "mode=malformed",
        "--no-test",
    ]);
    let out = host.run(&["sync", "bad"]);
    crate::harness::assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rejected as malformed"), "{stderr}");
    assert_eq!(
        host.ids("findings", "bad", "id"),
        ["good-finding"],
        "the good record of the batch is stored"
    );
    assert_eq!(host.ids("assets", "bad", "id"), ["good-asset"]);
    let run = &host.json(&["history", "bad"])[0];
    assert_eq!(run["status"], "succeeded_with_warnings");
    assert_eq!(run["findings_skipped"], 3);
    assert_eq!(run["assets_skipped"], 1);
    let warning = run["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains("`source-id` is empty")
            || warning.contains("never emitted")
            || warning.contains("over the"),
        "{warning}"
    );

    // An enum value outside the contract cannot be one record's problem: the canonical ABI
    // refuses the whole call, so the run fails; the batch committed before it stays.
    let stderr = hostile_run(&host, "enum", "unknown-enum", api, &[]);
    assert!(
        stderr.contains("the plugin crashed") && stderr.contains("discriminant"),
        "{stderr}"
    );
    assert_eq!(host.ids("findings", "enum", "id"), ["good-finding"]);

    host.ok(&[
        "integration",
        "add",
        "flood",
        "--connector",
        "hostile",
        "--set",
        &format!("api-url={api}"),
        "--set",
        "mode=flood",
        "--no-test",
    ]);
    let stderr = host.fails(&["sync", "flood", "--max-records-per-run", "5000"]);
    assert!(
        stderr.contains("per-run ceiling of 5000 records"),
        "{stderr}"
    );
    let stored = host.json(&["findings", "flood"]).len();
    assert!(
        (1000..=5000).contains(&stored),
        "batches before the ceiling are kept ({stored})"
    );
    assert_eq!(host.json(&["history", "flood"])[0]["status"], "failed");
}

#[test]
fn allowed_host_names_are_resolved_checked_and_reached() {
    let sim = Simulator::start(SimConfig::new(1, 30)).unwrap();
    let host = Host::new();
    let base = sim.base_url().replace("127.0.0.1", "localhost");
    let out = host.add_wiz_at(
        "named",
        &base,
        &format!("{base}/oauth/token"),
        "sim-client",
        crate::harness::FULL_SECRET,
        &[],
    );
    crate::harness::assert_success(&out);
    host.ok(&["sync", "named"]);
    assert_eq!(
        host.ids("findings", "named", "id"),
        sim.tenant().expected(true, &[]).findings
    );
}

#[test]
fn a_host_name_that_starts_resolving_to_a_metadata_address_fails_the_run_as_a_setting_to_fix() {
    let sim = Simulator::start(SimConfig::new(1, 10)).unwrap();
    let host = Host::new();
    // Plain http is for loopback names only, so the steered name is `localhost`, answered
    // through `--resolve` as an internal resolver would.
    let base = sim.base_url().replace("127.0.0.1", "localhost");
    let resolving = |address: &str| format!("--resolve=localhost={address}");
    let mut add = wiz_sim::add_wiz_args(
        "named",
        &base,
        &format!("{base}/oauth/token"),
        "sim-client",
        crate::harness::FULL_SECRET,
    );
    add.push(resolving("127.0.0.1"));
    let add: Vec<&str> = add.iter().map(String::as_str).collect();
    // Entered while the name leads to the simulator: tested, stored and synced.
    crate::harness::assert_success(&host.run(&add));
    host.ok(&["sync", "named", &resolving("127.0.0.1")]);
    let first = host.json(&["history", "named"]).len();

    // Later the same name answers with a metadata address.
    let out = host.run(&["sync", "named", "--json", &resolving("169.254.169.254")]);
    assert!(!out.status.success(), "the run must fail");
    let outcome: serde_json::Value = serde_json::from_slice(&out.stdout).expect("sync --json");
    assert_eq!(
        outcome["failure"], "config",
        "a setting to change, not a blip to retry: {outcome}"
    );
    let error = outcome["error"].as_str().unwrap();
    assert!(
        error.contains("sandbox blocked")
            && error.contains("localhost (resolves to 169.254.169.254)")
            && error.contains("link-local or metadata address"),
        "names the policy and the address: {error}"
    );
    let history = host.json(&["history", "named"]);
    assert_eq!(history.len(), first + 1);
    assert_eq!(history[0]["status"], "failed");
    assert_eq!(history[0]["error"].as_str(), Some(error));

    // Entered while it answers so, the same name is refused at once, naming the policy.
    let mut again = add.clone();
    again[2] = "other";
    *again.last_mut().unwrap() = "--resolve=localhost=169.254.169.254";
    let stderr = host.fails(&again);
    assert!(
        stderr.contains("refused by the host's sandbox policy")
            && stderr.contains("resolves to 169.254.169.254"),
        "{stderr}"
    );
}
