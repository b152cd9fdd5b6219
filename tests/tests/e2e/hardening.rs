//! Secrets stay secret everywhere, and bad input gets a clear error before anything runs.

use crate::harness::{FULL_SECRET, Host, assert_success, expect_failure};
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
    // More syncs than tokio's blocking threads could wait for the store at once.
    let out = host.run(&["serve", "--no-http", "--max-concurrent-syncs", "1000"]);
    assert!(expect_failure(&out).1.contains("1..=256"));

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

#[test]
fn a_plugin_built_for_another_contract_line_is_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let plugins = scratch.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let host = Host::new();
    let mut bytes = std::fs::read(host.built_plugins().join("wiz.wasm")).unwrap();
    // Re-stamp the exported contract as 0.2.0 everywhere (same length, so the binary
    // stays well-formed).
    let (from, to) = (
        b"safe:connector/plugin@0.1.0",
        b"safe:connector/plugin@0.2.0",
    );
    let mut stamped = 0;
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(from.len()).position(|w| w == from) {
        let start = at + found;
        bytes[start..start + from.len()].copy_from_slice(to);
        at = start + from.len();
        stamped += 1;
    }
    assert!(stamped > 0);
    std::fs::write(plugins.join("future.wasm"), bytes).unwrap();
    let host = host.with_plugins(&plugins, &scratch.path().join("cache"));
    let out = host.run(&["plugins"]);
    let (_, stderr) = expect_failure(&out);
    assert!(
        stderr.contains("built for contract 0.2.0") && stderr.contains("runs contract 0.1.x"),
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
