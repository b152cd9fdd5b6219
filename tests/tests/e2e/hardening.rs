//! Secrets stay secret everywhere, and bad input gets a clear error before anything runs.

use crate::harness::{FULL_SECRET, Host, assert_success, expect_failure, wait_for};
use std::time::Duration;
use wiz_sim::{SimConfig, Simulator};

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn the_client_secret_never_appears_in_logs_history_output_or_files() {
    let sim = Simulator::start(SimConfig::new(61, 120)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &[]));
    let mut outputs = Vec::new();
    for args in [
        &["sync", "w", "-vvv"][..],
        &["test-connection", "w", "-vvv"],
        &["integration", "show", "w"],
        &["integration", "show", "w", "--json"],
        &["history", "w", "--json"],
        &["history", "w"],
    ] {
        let out = host.run_with_env(args, &[("RUST_LOG", "trace")]);
        assert_success(&out);
        outputs.push((args.join(" "), out));
    }
    // A failing run with the secret in play: the error must not carry it either.
    host.ok(&[
        "integration",
        "update",
        "w",
        "--set",
        "client-id=someone-else",
        "--no-test",
    ]);
    outputs.push((
        "failing sync".into(),
        host.run_with_env(&["sync", "w", "-vvv"], &[("RUST_LOG", "trace")]),
    ));
    for (what, out) in &outputs {
        assert!(
            !contains(&out.stdout, FULL_SECRET) && !contains(&out.stderr, FULL_SECRET),
            "the secret leaked in `{what}`"
        );
    }
    assert!(
        String::from_utf8_lossy(&outputs[0].1.stderr)
            .lines()
            .count()
            > 20,
        "trace logging was on"
    );
    for entry in std::fs::read_dir(host.dir()).unwrap() {
        let path = entry.unwrap().path();
        assert!(
            !contains(&std::fs::read(&path).unwrap(), FULL_SECRET),
            "the secret is in plaintext in {}",
            path.display()
        );
    }
}

/// A secret that JSON escaping and percent-encoding both change.
const SPREAD_SECRET: &str = "s3cr\"et/+ &é\\x";

/// The forms the hostile plugin's `leak` modes write [`SPREAD_SECRET`] in.
const SPREAD_FORMS: [&str; 3] = [
    SPREAD_SECRET,
    "s3cr\\\"et/+ &é\\\\x",
    "s3cr%22et%2F%2B%20%26%C3%A9%5Cx",
];

#[test]
fn a_plugin_that_spreads_its_secret_in_every_form_is_scrubbed_everywhere() {
    let scratch = tempfile::tempdir().unwrap();
    let (host, plugins) = Host::with_only_plugin(
        scratch.path(),
        |h| h.built_plugins().join("hostile.wasm"),
        "hostile.wasm",
    );
    let secret = format!("client-secret={SPREAD_SECRET}");
    // Nothing listens on the discard port: the plugin's request leaves and fails.
    let api = "api-url=http://127.0.0.1:9";
    let trace = [("RUST_LOG", "trace")];
    // Compiled once without tracing: the compiler's own trace is long and slow.
    host.ok(&["plugins"]);
    let mut outputs = Vec::new();
    for mode in ["leak", "leak-panic"] {
        let mode_set = format!("mode={mode}");
        // A connection test that fails (or traps) while the integration is added.
        let args = [
            "integration",
            "add",
            mode,
            "--connector",
            "hostile",
            "--set",
            api,
            "--set",
            &mode_set,
            "--set",
            &secret,
            "-vvv",
        ];
        let out = host.run_with_env(&args, &trace);
        assert!(!out.status.success(), "the test fails, so nothing is added");
        outputs.push((format!("add {mode}"), out));
        host.add_hostile(mode, mode, "http://127.0.0.1:9", &[&secret]);
        for args in [
            &["test-connection", mode, "-vvv"][..],
            &["sync", mode, "-vvv"],
            &["integration", "update", mode, "--set", "count=2", "-vvv"],
            &["history", mode, "--json"],
            &["integration", "show", mode, "--json"],
        ] {
            outputs.push((args.join(" "), host.run_with_env(args, &trace)));
        }
    }
    let scrubbed = |what: &str, text: &[u8]| {
        for form in SPREAD_FORMS {
            assert!(!contains(text, form), "`{form}` leaked in {what}");
        }
    };
    for (what, out) in &outputs {
        scrubbed(what, &out.stdout);
        scrubbed(what, &out.stderr);
    }
    let sync_log = String::from_utf8_lossy(&outputs[2].1.stderr).to_string();
    assert!(
        sync_log.contains("leaking raw `<redacted>` json `<redacted>` url `<redacted>`"),
        "the plugin spoke, scrubbed: {sync_log}"
    );
    let add_panic = String::from_utf8_lossy(&outputs[6].1.stderr).to_string();
    for line in [
        "panicking with raw `<redacted>`",
        "stderr leaking raw `<redacted>`",
    ] {
        assert!(
            add_panic.contains(line),
            "the trap and its stderr reached the operator, scrubbed: {add_panic}"
        );
    }

    // An upgrade re-declares the secret as text: it stays masked and sealed.
    std::fs::copy(
        host.plugin_variant("hostile-upgraded.wasm"),
        plugins.join("hostile.wasm"),
    )
    .unwrap();
    host.ok(&["plugins"]);
    host.ok(&[
        "integration",
        "upgrade",
        "leak",
        "--set",
        "exfil-url=http://127.0.0.1:9",
        // A URL setting changes: the secret must come with it.
        "--set",
        &secret,
        "--no-test",
    ]);
    let shown: serde_json::Value =
        serde_json::from_str(&host.ok(&["integration", "show", "leak", "--json"])).unwrap();
    assert_eq!(shown["client-secret"], "********", "still masked: {shown}");
    for args in [
        &["integration", "show", "leak"][..],
        &["sync", "leak", "-vvv"],
        &["history", "leak", "--json"],
    ] {
        let out = host.run_with_env(args, &trace);
        scrubbed(&args.join(" "), &out.stdout);
        scrubbed(&args.join(" "), &out.stderr);
    }
    for entry in std::fs::read_dir(host.dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            scrubbed(&path.display().to_string(), &std::fs::read(&path).unwrap());
        }
    }
}

#[test]
fn bad_input_gets_clear_errors() {
    let sim = Simulator::start(SimConfig::new(61, 20)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &[]));
    // 100000 once overflowed the next slot's date to "due now": syncs ran back to back.
    for days in ["-1", "x", "1.5", "366", "100000"] {
        let out = host.run(&[
            "integration",
            "update",
            "w",
            &format!("--auto-sync-days={days}"),
        ]);
        let (_, stderr) = expect_failure(&out);
        assert!(stderr.contains("--auto-sync-days"), "{days}: {stderr}");
    }
    // Names are short and plain: none empty, with controls, or megabytes long.
    let huge = "n".repeat(100_000);
    for name in ["", "has space", "bell\u{7}", huge.as_str()] {
        let out = host.run(&["integration", "add", name, "--connector", "wiz"]);
        let (_, stderr) = expect_failure(&out);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("is not allowed: use 1 to 64 letters") && stderr.len() < 400,
            "{stderr}"
        );
    }
    let out = host.run(&["serve", "--sync-time", "25:00"]);
    assert!(expect_failure(&out).1.contains("HH:MM"));
    // `inf` once panicked converting to a duration.
    for minutes in ["inf", "NaN", "-5", "1e9"] {
        let flag = format!("--retry-after-minutes={minutes}");
        let out = host.run(&["serve", "--no-http", &flag]);
        let stderr = expect_failure(&out).1;
        assert_eq!(out.status.code(), Some(2), "{minutes}: {stderr}");
        assert!(
            stderr.contains("is not a number of minutes from 0 to 1440"),
            "{minutes}: {stderr}"
        );
    }
    // A bound on syncs at once is a bound: none at all, or beyond any memory, is refused.
    for count in ["0", "5000"] {
        let out = host.run(&["serve", "--no-http", "--max-concurrent-syncs", count]);
        assert!(expect_failure(&out).1.contains("1..=4096"), "{count}");
    }

    // A database file that is not SQLite, and one in a folder that does not exist.
    let garbage = host.dir().join("garbage.db");
    std::fs::write(&garbage, vec![7u8; 4096]).unwrap();
    let stderr = host.fails(&["--db", garbage.to_str().unwrap(), "integration", "list"]);
    assert!(
        stderr.contains("garbage.db") && stderr.contains("not a usable SQLite database"),
        "{stderr}"
    );
    let stderr = host.fails(&["--db", "/no/such/folder/x.db", "integration", "list"]);
    assert!(
        stderr.contains("folder /no/such/folder does not exist"),
        "{stderr}"
    );
    // A wrong CONNECTOR_HOST_KEY is refused, not silently replaced.
    let out = host.run_with_env(&["sync", "w"], &[("CONNECTOR_HOST_KEY", "dG9vIHNob3J0")]);
    assert!(
        expect_failure(&out)
            .1
            .contains("CONNECTOR_HOST_KEY must be 32 bytes")
    );
}

/// The parts of an error line (`error: a: b: c`), split at `: `.
fn parts(line: &str) -> Vec<String> {
    line.trim_start_matches("error: ")
        .split(": ")
        .map(|p| p.trim().to_string())
        .collect()
}

#[test]
fn every_store_and_plugin_folder_failure_says_each_part_once() {
    let host = Host::new();
    let dir = host.dir();
    let garbage = dir.join("garbage.db");
    std::fs::write(&garbage, vec![7u8; 4096]).unwrap();
    let a_file = dir.join("plain-file");
    std::fs::write(&a_file, "x").unwrap();
    let (garbage, a_file) = (garbage.to_str().unwrap(), a_file.to_str().unwrap());
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "--db",
            "postgres://nobody@127.0.0.1:1/x",
            "integration",
            "list",
        ],
        vec![
            "--db",
            "postgres://nobody@[::1]:1/x?connect_timeout=2",
            "findings",
        ],
        vec!["--db", garbage, "integration", "list"],
        vec!["--db", "/no/such/folder/x.db", "integration", "list"],
        vec!["--db", dir.to_str().unwrap(), "integration", "list"],
        vec!["--plugins", "/nonexistent", "plugins"],
        vec!["--plugins", a_file, "plugins"],
    ];
    for args in cases {
        let line = host.fails(&args);
        let parts = parts(&line);
        for (i, part) in parts.iter().enumerate() {
            assert!(
                !parts[i + 1..].contains(part),
                "`{part}` is said twice in {args:?}: {line}"
            );
        }
    }
}

/// Seals `plaintext` as the version before bindings did: `v1:`, no associated data.
fn sealed_unbound(key_file: &std::path::Path, plaintext: &[u8]) -> String {
    use base64::Engine as _;
    use chacha20poly1305::aead::{Aead, KeyInit};
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64
        .decode(std::fs::read_to_string(key_file).unwrap().trim())
        .unwrap();
    let cipher = chacha20poly1305::ChaCha20Poly1305::new_from_slice(&key).unwrap();
    let nonce = [3u8; 12];
    let mut bytes = nonce.to_vec();
    bytes.extend(
        cipher
            .encrypt(chacha20poly1305::Nonce::from_slice(&nonce), plaintext)
            .unwrap(),
    );
    format!("v1:{}", b64.encode(bytes))
}

#[test]
fn secrets_an_older_version_sealed_are_resealed_by_the_first_command_and_stay_put() {
    let sim = Simulator::start(SimConfig::new(62, 5)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &[]));
    assert_success(&host.add_wiz("w2", &sim, "sim-client", FULL_SECRET, &[]));
    let legacy = sealed_unbound(
        &host.db().with_extension("key"),
        format!(r#"{{"client-secret":"{FULL_SECRET}"}}"#).as_bytes(),
    );
    let db = rusqlite::Connection::open(host.db()).unwrap();
    db.execute(
        "UPDATE integrations SET sealed_secrets = ?1 WHERE name = 'w'",
        [&legacy],
    )
    .unwrap();
    // The first one-shot command re-seals, then runs with the secret.
    host.ok(&["sync", "w"]);
    let sealed: String = db
        .query_row(
            "SELECT sealed_secrets FROM integrations WHERE name = 'w'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(sealed.starts_with("v2:"), "{sealed}");
    // Copied into another integration's row, a sealed value does not open there.
    db.execute(
        "UPDATE integrations SET sealed_secrets = ?1 WHERE name = 'w2'",
        [&sealed],
    )
    .unwrap();
    let stderr = host.fails(&["sync", "w2"]);
    assert!(
        stderr.contains("cannot decrypt the stored secrets"),
        "{stderr}"
    );
}

/// The built Wiz plugin with its exported contract re-stamped as `version` everywhere
/// (same length, so the binary stays well-formed).
fn stamped_wiz(host: &Host, version: &[u8; 5]) -> Vec<u8> {
    let mut bytes = std::fs::read(host.built_plugins().join("wiz.wasm")).unwrap();
    let from = b"safe:connector/plugin@0.2.0";
    let mut to = *from;
    to[from.len() - 5..].copy_from_slice(version);
    let mut stamped = 0;
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(from.len()).position(|w| w == from) {
        let start = at + found;
        bytes[start..start + from.len()].copy_from_slice(&to);
        at = start + from.len();
        stamped += 1;
    }
    assert!(stamped > 0);
    bytes
}

#[test]
fn a_plugin_built_for_another_contract_line_is_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let plugins = scratch.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let host = Host::new();
    std::fs::write(plugins.join("future.wasm"), stamped_wiz(&host, b"0.9.0")).unwrap();
    std::fs::write(plugins.join("other.wasm"), stamped_wiz(&host, b"1.0.0")).unwrap();
    let host = host.with_plugins(&plugins, &scratch.path().join("cache"));
    let out = host.run(&["plugins"]);
    let (_, stderr) = expect_failure(&out);
    assert!(
        stderr.contains("built for contract 0.9.0, newer than this host runs (0.1.x, 0.2.x)")
            && stderr.contains("upgrade connector-host"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "built for contract 1.0.0, which this host does not run (it runs 0.1.x, 0.2.x)"
        ),
        "{stderr}"
    );
}

#[test]
fn hosts_starting_at_once_on_a_fresh_store_all_succeed() {
    use std::os::unix::fs::PermissionsExt;
    let at_once = |host: &Host, args: &dyn Fn(usize) -> Vec<String>| {
        let children: Vec<std::process::Child> = (0..6)
            .map(|i| {
                let args = args(i);
                host.command(&args.iter().map(String::as_str).collect::<Vec<_>>())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("start connector-host")
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    let sqlite = Host::new();
    let postgres = Host::postgres();
    for host in std::iter::once(&sqlite).chain(postgres.as_ref()) {
        // Six hosts migrate one fresh store, then create one key file between them
        // (each seals a secret with it).
        at_once(host, &|_| vec!["integration".into(), "list".into()]);
        if let Some(db) = host.postgres_database() {
            let migrations = std::fs::read_dir(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../host/migrations/postgres"),
            )
            .unwrap()
            .count();
            assert_eq!(
                db.texts("SELECT version::text FROM connector_host_schema")
                    .unwrap(),
                [migrations.to_string()],
                "one schema version row, every migration applied once"
            );
        }
        at_once(host, &|i| {
            [
                "integration",
                "add",
                &format!("h{i}"),
                "--connector",
                "hostile",
                "--set",
                "api-url=https://api.example",
                "--set",
                "mode=loop",
                "--set",
                "client-secret=sealed-with-the-one-key",
                "--no-test",
            ]
            .map(String::from)
            .to_vec()
        });
        // Every secret opens with the key that won.
        for i in 0..6 {
            host.ok(&["integration", "show", &format!("h{i}")]);
        }
    }
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode(&sqlite.db()),
        0o600,
        "the database is the user's alone"
    );
    let key = sqlite.db().with_extension("key");
    assert_eq!(mode(&key), 0o600);
    // A key file others may read is refused, with what to do.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = sqlite.fails(&["integration", "show", "h0"]);
    assert!(
        refused.contains("others may read or write it (mode 644)") && refused.contains("chmod 600"),
        "{refused}"
    );
}

/// Whether another process holds SQLite's write lock on `db` right now.
fn write_locked(db: &std::path::Path) -> bool {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::ZERO).unwrap();
    match conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;") {
        Ok(()) => false,
        Err(e) => {
            assert!(e.to_string().contains("locked"), "{e}");
            true
        }
    }
}

#[test]
fn a_run_that_stalls_past_its_lease_stores_nothing_after_the_takeover() {
    let sim = Simulator::start(SimConfig::new(67, 300)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &["page-size=10"]));
    // The first run cannot finish: its third page is held until it has been frozen.
    let gate = sim.hold_issue_page(3);
    let mut stalled = host.spawn(&["--lease-ttl-s", "2", "sync", "w"]);
    gate.wait_reached(Duration::from_secs(60), "the first run's third page");
    wait_for(60, "the first run to store a batch", || {
        !host.json(&["findings", "w"]).is_empty()
    });
    // Frozen where it stands, as a paused VM or a swapped-out process would be; never
    // inside a write, which would hold the database for everyone.
    loop {
        stalled.signal("STOP");
        if !write_locked(&host.db()) {
            break;
        }
        stalled.signal("CONT");
        std::thread::sleep(Duration::from_millis(30));
    }
    // Its lease lapses (2 s without renewal); a second sync then takes over and runs to
    // its end while the first is still frozen.
    wait_for(60, "a second sync to take the lease over", || {
        let out = host.run(&["--lease-ttl-s", "2", "sync", "w"]);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            out.status.success() || stderr.contains("already syncing"),
            "{stderr}"
        );
        if !out.status.success() {
            std::thread::sleep(Duration::from_millis(500));
        }
        out.status.success()
    });
    let after_takeover = host.findings_of("w");
    // The source moves on: the first run, were it still writing, would store the change
    // with the pages it has left (the last issue comes last).
    let last = sim.tenant().issues - 1;
    sim.set_issue_status(last, "RESOLVED", Some("ISSUE_FIXED"));

    gate.open();
    stalled.signal("CONT");
    let status = stalled.wait(120);
    let log = stalled.log_text();
    assert!(!status.success(), "{log}");
    assert!(log.contains("lost its lease to another process"), "{log}");
    assert_eq!(
        host.findings_of("w"),
        after_takeover,
        "nothing of the stalled run was stored after the takeover"
    );
    let history = host.json(&["history", "w"]);
    let (taker, first) = (&history[0], &history[1]);
    assert_eq!(taker["status"], "succeeded", "{taker}");
    assert_eq!(first["status"], "failed", "{first}");
    assert!(
        first["error"]
            .as_str()
            .is_some_and(|e| e.contains("interrupted")),
        "the stalled run's end is its taker's to write, not its own: {first}"
    );
}
