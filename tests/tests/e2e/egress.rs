//! A plugin does not choose its own egress: the hosts a run may reach are the URL
//! settings the operator saw and the store keeps, plugin defaults included only once
//! accepted.

use crate::harness::{FULL_SECRET, Host, Listener};

/// The address the hostile plugin's `exfil-url` defaults to (its `EXFIL_URL`).
const EXFIL_ADDRESS: &str = "127.0.0.1:47291";

/// The URLs `integration show` lists under "its runs may send requests to:", checked
/// against the list `--json` gives.
fn egress_shown(host: &Host, name: &str) -> Vec<String> {
    let shown = host.ok(&["integration", "show", name]);
    let listed: Vec<String> = shown
        .lines()
        .skip_while(|l| *l != "its runs may send requests to:")
        .skip(1)
        .map_while(|l| l.strip_prefix("  "))
        .map(str::to_string)
        .collect();
    let json: serde_json::Value =
        serde_json::from_str(&host.ok(&["integration", "show", name, "--json"])).unwrap();
    let in_json: Vec<String> = json["egress"]
        .as_array()
        .unwrap_or_else(|| panic!("no egress list in {json}"))
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, in_json, "{shown}");
    listed
}

#[test]
fn a_default_host_from_a_plugin_upgrade_is_not_reached_until_the_operator_accepts_it() {
    // A bystander on the address the hostile plugin's `exfil-url` defaults to.
    let bystander = Listener::start(EXFIL_ADDRESS, std::time::Duration::ZERO);
    let scratch = tempfile::tempdir().unwrap();
    let (host, plugins) = Host::with_only_plugin(
        scratch.path(),
        |h| h.built_plugins().join("hostile.wasm"),
        "hostile.wasm",
    );

    // Version 0.1.0 has no exfil-url: its own default is not a host it may reach.
    host.add_hostile(
        "h",
        "exfil",
        "https://api.example",
        &[&format!("client-secret={FULL_SECRET}")],
    );
    let stderr = host.fails(&["sync", "h"]);
    assert!(stderr.contains("sandbox blocked"), "{stderr}");

    // The upgrade (0.2.0) declares exfil-url with that default. Dropping it in the folder
    // changes nothing for `h`, which keeps running the build it was set up with; moving
    // `h` to it is refused before the plugin starts, saying how to accept the host.
    std::fs::copy(
        host.plugin_variant("hostile-upgraded.wasm"),
        plugins.join("hostile.wasm"),
    )
    .unwrap();
    let still_old = host.fails(&["sync", "h"]);
    assert!(still_old.contains("sandbox blocked"), "{still_old}");
    let refused = host.fails(&["integration", "upgrade", "h"]);
    assert!(
        refused.contains("`http://127.0.0.1:47291/collect`")
            && refused.contains("never accepted")
            && refused.contains("integration upgrade h --to 0.2.0 --set exfil-url="),
        "{refused}"
    );
    assert_eq!(
        bystander.connections(),
        0,
        "no request reached the bystander"
    );
    let shown: serde_json::Value =
        serde_json::from_str(&host.ok(&["integration", "show", "h", "--json"])).unwrap();
    assert_eq!(
        shown["plugin-version"], "0.1.0",
        "the refused move changed nothing"
    );
    // Showing the integration still works, and does not list the host as reachable.
    assert_eq!(egress_shown(&host, "h"), ["https://api.example"]);

    // A new integration shows the resolved egress list, the default included, and
    // stores it as a value of its own.
    let added = host.ok(&[
        "integration",
        "add",
        "h2",
        "--connector",
        "hostile",
        "--set",
        "api-url=https://api.example",
        "--set",
        "mode=exfil",
        "--no-test",
    ]);
    assert!(
        added.contains("its runs may send requests to:")
            && added.contains("  https://api.example")
            && added.contains("  http://127.0.0.1:47291/collect"),
        "{added}"
    );
    let shown: serde_json::Value =
        serde_json::from_str(&host.ok(&["integration", "show", "h2", "--json"])).unwrap();
    assert_eq!(shown["exfil-url"], "http://127.0.0.1:47291/collect");

    // Accepting it for the first integration is part of the move the operator makes, with
    // the secret entered again: it now goes to one more host.
    let without_secret = host.fails(&[
        "integration",
        "upgrade",
        "h",
        "--set",
        "exfil-url=http://127.0.0.1:47291/collect",
        "--no-test",
    ]);
    assert!(
        without_secret.contains("`client-secret` must be entered again"),
        "{without_secret}"
    );
    let secret = format!("client-secret={FULL_SECRET}");
    let updated = host.ok(&[
        "integration",
        "upgrade",
        "h",
        "--set",
        "exfil-url=http://127.0.0.1:47291/collect",
        "--set",
        &secret,
        "--no-test",
    ]);
    assert!(updated.contains("now runs 0.2.0 (was 0.1.0)"), "{updated}");
    assert_eq!(
        egress_shown(&host, "h"),
        ["https://api.example", "http://127.0.0.1:47291/collect"]
    );
    host.fails(&["sync", "h"]);
    assert!(
        bystander.connections() >= 1,
        "an accepted host is reachable"
    );
}

#[test]
fn the_wiz_token_url_default_is_stored_and_shown_as_a_value() {
    let host = Host::new();
    let added = host.ok(&[
        "integration",
        "add",
        "w",
        "--connector",
        "wiz",
        "--set",
        "api-url=https://api.us17.app.wiz.io/graphql",
        "--set",
        "client-id=id",
        "--set",
        &format!("client-secret={FULL_SECRET}"),
        "--no-test",
    ]);
    assert!(
        added.contains("  https://api.us17.app.wiz.io/graphql")
            && added.contains("  https://auth.app.wiz.io/oauth/token"),
        "{added}"
    );
    let shown: serde_json::Value =
        serde_json::from_str(&host.ok(&["integration", "show", "w", "--json"])).unwrap();
    assert_eq!(shown["auth-url"], "https://auth.app.wiz.io/oauth/token");
    assert_eq!(
        egress_shown(&host, "w"),
        [
            "https://api.us17.app.wiz.io/graphql",
            "https://auth.app.wiz.io/oauth/token"
        ]
    );
}
