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
    for days in ["-1", "x", "1.5"] {
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
