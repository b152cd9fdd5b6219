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
        "rogue-http",
        "--set",
        &format!("api-url={}", sim.api_url()),
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
