//! The main flows, run on SQLite and on PostgreSQL: both must store exactly the same.
//! Also what a bad `--db` gets, on either.

use crate::harness::{FULL_SECRET, Host, assert_success, expect_failure, wait_for};
use serde_json::{Value, json};
use std::time::Duration;
use wiz_sim::data::PROJECTS;
use wiz_sim::{SimConfig, Simulator};

const SEED: u64 = 61;
const ISSUES: u64 = 400;

/// What a host stores after a step: every finding, the inventory, each integration's
/// assets, and its history without ids and times (which differ by nature).
fn snapshot(host: &Host, integrations: &[&str], step: &str) -> Value {
    let mut per_integration = serde_json::Map::new();
    for name in integrations {
        let history: Vec<Value> = host
            .json(&["history", name])
            .into_iter()
            .map(|mut row| {
                let row_map = row.as_object_mut().unwrap();
                for volatile in ["id", "started_at", "finished_at", "worker"] {
                    row_map.remove(volatile);
                }
                row
            })
            .collect();
        per_integration.insert(
            name.to_string(),
            json!({"assets": host.json(&["assets", name]), "history": history}),
        );
    }
    json!({
        "step": step,
        "findings": host.json(&["findings"]),
        "inventory": host.json(&["assets"]),
        "integrations": per_integration,
    })
}

fn add(host: &Host, sim: &Simulator, name: &str, extra: &[&str]) {
    assert_success(&host.add_wiz(name, sim, "sim-client", FULL_SECRET, extra));
}

/// Both hosts must store the same after `step`.
fn same(sqlite: &Host, postgres: &Host, integrations: &[&str], step: &str) -> Value {
    let (lite, pg) = (
        snapshot(sqlite, integrations, step),
        snapshot(postgres, integrations, step),
    );
    assert!(
        lite["findings"].as_array().unwrap().len() > 10,
        "{step}: the step stores findings"
    );
    if let Some(difference) = first_difference(&lite, &pg, "") {
        panic!("after {step}: {difference}");
    }
    pg
}

/// Where two JSON values first differ, as a path and both values.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                first_difference(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, &format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{path}: SQLite has {a}, PostgreSQL has {b}")),
    }
}

/// The story, told to a SQLite host and a PostgreSQL host in lockstep over one simulator
/// (whose changes carry the wall clock): a multi-page sync, its unchanged repeat, a
/// project filter, an incremental sync after every kind of change, a second integration
/// over the same resources, and a sync killed with -9 then resumed.
#[test]
fn postgresql_stores_exactly_what_sqlite_stores_through_the_main_flows() {
    let Some(postgres) = Host::postgres() else {
        return;
    };
    let sqlite = Host::new();
    let hosts = [&sqlite, &postgres];
    let sim = Simulator::start(SimConfig::new(SEED, ISSUES)).unwrap();
    let tenant = sim.tenant();
    for host in hosts {
        add(host, &sim, "w", &["page-size=40"]);
        host.ok(&["sync", "w"]);
    }
    same(&sqlite, &postgres, &["w"], "a multi-page sync");
    for host in hosts {
        host.ok(&["sync", "w"]);
    }
    let repeat = same(&sqlite, &postgres, &["w"], "its unchanged repeat");
    let history = &repeat["integrations"]["w"]["history"][0];
    assert_eq!(history["findings_new"], 0, "{history}");
    assert!(
        history["findings_unchanged"].as_u64().unwrap() > 0,
        "{history}"
    );

    for host in hosts {
        add(
            host,
            &sim,
            "p",
            &[&format!("project-ids={}", PROJECTS[1].0)],
        );
        host.ok(&["sync", "p"]);
    }
    same(&sqlite, &postgres, &["w", "p"], "a project filter");

    let stored = sqlite.ids("findings", "w", "id");
    let in_scope: Vec<u64> = (0..ISSUES)
        .filter(|i| stored.contains(&tenant.issue(*i).id))
        .collect();
    sim.set_issue_status(in_scope[0], "IN_PROGRESS", None);
    sim.set_issue_status(in_scope[1], "RESOLVED", Some("ISSUE_FIXED"));
    sim.set_issue_status(in_scope[2], "REJECTED", Some("EXCEPTION"));
    sim.add_issues(15);
    sim.delete_resource(tenant.issue(in_scope[3]).resource);
    for host in hosts {
        host.ok(&["sync", "w"]);
    }
    let changed = same(
        &sqlite,
        &postgres,
        &["w", "p"],
        "an incremental sync after changes",
    );
    let history = &changed["integrations"]["w"]["history"][0];
    assert!(
        history["findings_closed"].as_u64().unwrap() >= 1,
        "{history}"
    );

    for host in hosts {
        add(host, &sim, "b", &[]);
        host.ok(&["sync", "b"]);
    }
    same(
        &sqlite,
        &postgres,
        &["w", "p", "b"],
        "a second integration over the same resources",
    );

    // Each host's sync of `k` is killed while the simulator holds its fourth issue
    // page, once the three pages before it are stored: the issues the API returns
    // first (every severity but informational, in order), as many as `b` kept.
    let first_pages: std::collections::HashSet<String> = (0..ISSUES)
        .map(|i| tenant.issue(i))
        .filter(|i| i.severity != "INFORMATIONAL")
        .take(3 * 20)
        .map(|i| i.id)
        .collect();
    let stored_first = |host: &Host| {
        host.ids("findings", "b", "id")
            .iter()
            .filter(|id| first_pages.contains(*id))
            .count()
    };
    for host in hosts {
        add(host, &sim, "k", &["page-size=20"]);
        let expected = stored_first(host);
        let gate = sim.hold_issue_page(4);
        // A short lease, so the sync after the kill need not wait a minute for it.
        let sync = host.spawn(&["--lease-ttl-s", "2", "sync", "k"]);
        gate.wait_reached(Duration::from_secs(60), "the fourth page of k");
        wait_for(60, "k's first three pages stored", || {
            host.json(&["findings", "k"]).len() == expected
        });
        drop(sync); // SIGKILL
        gate.open();
        assert!(host.json(&["findings", "k"]).len() < host.json(&["findings", "b"]).len());
        let history = host.json(&["history", "k"]);
        assert_eq!(
            history[0]["status"], "running",
            "the killed run is in the history, unfinished: {history:?}"
        );
    }
    // The killed runs' leases lapse: nothing but their time tells they are dead.
    std::thread::sleep(Duration::from_millis(2500));
    for host in hosts {
        host.ok(&["sync", "k"]);
        let history = host.json(&["history", "k"]);
        assert_eq!(history[0]["status"], "succeeded", "{history:?}");
        assert!(
            history[1]["status"] == "failed"
                && history[1]["error"]
                    .as_str()
                    .unwrap()
                    .contains("interrupted"),
            "{history:?}"
        );
        assert_eq!(
            host.findings_of("k"),
            host.findings_of("b"),
            "a resumed sync stores what a clean one does"
        );
        assert_eq!(host.ids("assets", "k", "id"), host.ids("assets", "b", "id"));
    }
    // Both killed runs stopped at the same page, so k's history is compared too.
    same(
        &sqlite,
        &postgres,
        &["w", "p", "b", "k"],
        "a sync killed with -9, then resumed",
    );
}

#[test]
fn secrets_are_sealed_in_postgresql_too() {
    let Some(host) = Host::postgres() else {
        return;
    };
    let sim = Simulator::start(SimConfig::new(SEED, 30)).unwrap();
    add(&host, &sim, "w", &[]);
    host.ok(&["sync", "w"]);
    let database = host.postgres_database().unwrap();
    let stored = database
        .texts(
            "SELECT concat_ws(' ', name, connector, settings::text, sealed_secrets) FROM integrations
             UNION ALL SELECT concat_ws(' ', error, warnings::text, details) FROM runs",
        )
        .unwrap();
    assert!(stored[0].contains("v2:"), "sealed: {}", stored[0]);
    assert!(
        stored.iter().all(|text| !text.contains(FULL_SECRET)),
        "{stored:?}"
    );
    let key = host.dir().join("config/connector-host/secret.key");
    assert!(key.is_file(), "the key lives in the user's config folder");
    assert!(
        !database.url().contains("secret.key"),
        "and is not named after the URL"
    );
}

/// The exit code and the one line of error of a failed command.
fn failure(host: &Host, args: &[&str]) -> (i32, String) {
    let out = host.run(args);
    let (_, stderr) = expect_failure(&out);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line of error: {stderr}");
    (out.status.code().unwrap(), lines[0].to_string())
}

#[test]
fn bad_database_values_get_clear_errors_and_their_exit_codes() {
    let host = Host::new();
    let (code, line) = failure(
        &host,
        &["--db", "mysql://root:hunter22@db/x", "integration", "list"],
    );
    assert_eq!(code, 2, "{line}");
    assert!(
        line.contains("unknown scheme `mysql`") && !line.contains("hunter22"),
        "{line}"
    );
    let (code, line) = failure(
        &host,
        &[
            "--db",
            "postgres://app:hunter22@127.0.0.1:notaport/x",
            "integration",
            "list",
        ],
    );
    assert_eq!(code, 2, "{line}");
    assert!(
        line.contains("malformed") && !line.contains("hunter22"),
        "{line}"
    );

    // Nothing listens on port 1.
    let (code, line) = failure(
        &host,
        &[
            "--db",
            "postgres://app:hunter22@127.0.0.1:1/connector",
            "integration",
            "list",
        ],
    );
    assert_eq!(code, 5, "{line}");
    assert!(
        line.contains("127.0.0.1:1/connector"),
        "names host and port: {line}"
    );
    assert!(
        !line.contains("hunter22") && !line.contains("app:"),
        "{line}"
    );

    // A database from a newer host is refused, on SQLite here (the storage story checks
    // both backends leave it untouched).
    host.ok(&["integration", "list"]);
    let db = rusqlite::Connection::open(host.db()).unwrap();
    db.pragma_update(None, "user_version", 42).unwrap();
    drop(db);
    let (code, line) = failure(&host, &["integration", "list"]);
    assert_eq!(code, 5, "{line}");
    assert!(
        line.contains("schema version 42") && line.contains("upgrade connector-host"),
        "{line}"
    );
}

#[test]
fn exit_codes_tell_a_failed_test_a_busy_integration_and_a_usage_error_apart() {
    let sim = Simulator::start(SimConfig::new(SEED, 30)).unwrap();
    let host = Host::new();
    let out = host.add_wiz("w", &sim, "sim-client", "wrong-secret", &[]);
    assert_eq!(out.status.code(), Some(3), "a failed connection test");
    add(&host, &sim, "w", &[]);
    assert_eq!(
        host.run(&["integration", "update", "w", "--set", "nonsense=1"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(host.run(&["sync", "missing"]).status.code(), Some(1));
    // A sync holding the lease makes a second one wait its turn: exit 4. The first is
    // held at its first issue page until the second has been refused.
    let gate = sim.hold_issue_page(1);
    let mut first = host.spawn(&["sync", "w"]);
    gate.wait_reached(Duration::from_secs(60), "the first sync's first page");
    let second = host.run(&["sync", "w"]);
    assert_eq!(
        second.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    gate.open();
    assert!(first.wait(60).success(), "{}", first.log_text());
}
