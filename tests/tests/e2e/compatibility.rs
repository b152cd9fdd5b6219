//! Plugins built and shipped before the host changed keep working: the Wiz plugin as
//! released for contract 0.1.0, kept as a binary (`tests/artifacts/`), runs on this host
//! unchanged and stores exactly what this tree's build of the same connector stores.

use crate::harness::{FULL_SECRET, Host, assert_success};
use serde_json::Value;
use sha2::Digest;
use std::path::{Path, PathBuf};
use wiz_sim::{SimConfig, Simulator};

/// The Wiz plugin as released for contract 0.1.0.
fn released_wiz() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts/wiz-0.1.0.wasm")
}

/// What a host with only `plugin` as `wiz.wasm` stores after a full sync against `sim`:
/// the findings and assets, and the plugin line of `plugins`.
fn stored_by(scratch: &Path, plugin: PathBuf, sim: &Simulator) -> (Vec<Value>, Vec<Value>, String) {
    let (host, _) = Host::with_only_plugin(scratch, |_| plugin, "wiz.wasm");
    assert_success(&host.add_wiz("w", sim, "sim-client", FULL_SECRET, &[]));
    host.ok(&["sync", "w"]);
    let listed = host.ok(&["plugins"]);
    let line = listed
        .lines()
        .find(|l| l.starts_with("wiz "))
        .unwrap_or_default()
        .to_string();
    (host.findings_of("w"), host.json(&["assets", "w"]), line)
}

#[test]
fn the_released_0_1_0_binary_is_the_one_recorded() {
    let bytes = std::fs::read(released_wiz()).unwrap();
    assert_eq!(
        hex(&sha2::Sha256::digest(&bytes)),
        "40ea5510ad87d5cc3ae4903dadf27d7780f0e991b460220b66bee7d58c4f40a5",
        "tests/artifacts/wiz-0.1.0.wasm must stay the binary as released"
    );
}

#[test]
fn the_released_0_1_0_binary_stores_what_this_build_stores() {
    let sim = Simulator::start(SimConfig::new(71, 40)).unwrap();
    let (old, new) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let released = stored_by(old.path(), released_wiz(), &sim);
    let built = stored_by(
        new.path(),
        Host::new().built_plugins().join("wiz.wasm"),
        &sim,
    );
    assert!(
        released.2.contains("wiz 0.1.0 (contract 0.1.0)"),
        "{}",
        released.2
    );
    assert!(
        built.2.contains("wiz 0.2.0 (contract 0.2.0)"),
        "this build speaks 0.2: {}",
        built.2
    );
    assert!(!released.0.is_empty() && !released.1.is_empty());
    assert_eq!(released.0, built.0, "the findings");
    assert_eq!(released.1, built.1, "the assets");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The interfaces a component exports, named as `wasm-tools component wit` prints them
/// (`safe:connector/plugin@0.2.0`), read with the library that command uses.
fn exported_interfaces(component: &Path) -> Vec<String> {
    let bytes = std::fs::read(component).unwrap();
    let decoded = wit_component::decode(&bytes)
        .unwrap_or_else(|e| panic!("{} is not a component: {e:#}", component.display()));
    let wit_component::DecodedWasm::Component(resolve, world) = decoded else {
        panic!("{} is a WIT package, not a component", component.display());
    };
    resolve.worlds[world]
        .exports
        .values()
        .filter_map(|item| match item {
            wit_parser::WorldItem::Interface { id, .. } => resolve.id_of(*id),
            _ => None,
        })
        .collect()
}

#[test]
fn each_shipped_plugin_exports_the_contract_version_it_was_built_for() {
    let built = Host::new().built_plugins();
    let example = built.parent().unwrap().join("example-plugins");
    for plugin in [
        built.join("wiz.wasm"),
        built.join("github-dependabot.wasm"),
        example.join("json-feed.wasm"),
    ] {
        assert_eq!(
            exported_interfaces(&plugin),
            ["safe:connector/plugin@0.2.0"],
            "{}",
            plugin.display()
        );
    }
    assert_eq!(
        exported_interfaces(&released_wiz()),
        ["safe:connector/plugin@0.1.0"]
    );
}
