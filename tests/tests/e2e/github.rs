//! The second connector: GitHub Dependabot alerts from the GitHub simulator, beside Wiz in
//! one host and one store, each feeding the shared inventory without knowing the other.

use crate::harness::{FULL_SECRET, Host, assert_success};
use serde_json::Value;
use wiz_sim::github::{FULL_TOKEN, Fault, GithubConfig, GithubSim, NO_DEPENDABOT_TOKEN};
use wiz_sim::{SimConfig, Simulator};

const ALL: [&str; 4] = ["critical", "high", "medium", "low"];

/// Adds a GitHub integration named `name` on `github` with `token`; `extra` are more
/// `--set` values. Returns the command's output.
fn add_github(
    host: &Host,
    name: &str,
    github: &GithubSim,
    token: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args: Vec<String> = [
        "integration",
        "add",
        name,
        "--connector",
        "github-dependabot",
        "--set",
        &format!("api-url={}", github.api_url()),
        "--set",
        &format!("organization={}", github.org()),
        "--secret",
        &format!("token={token}"),
        "--set",
        "max-requests-per-second=100",
        "--set",
        "page-size=7",
    ]
    .map(String::from)
    .to_vec();
    for e in extra {
        args.extend(["--set".to_string(), e.to_string()]);
    }
    host.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn finding<'a>(findings: &'a [Value], id: &str) -> &'a Value {
    findings
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no finding {id}"))
}

#[test]
fn github_and_wiz_share_one_store_and_one_inventory() {
    let wiz = Simulator::start(SimConfig::new(5, 20)).unwrap();
    let github = GithubSim::start(GithubConfig::new(11, 4, 9)).unwrap();
    let host = Host::new();
    let plugins = host.ok(&["plugins"]);
    assert!(
        plugins.contains("github-dependabot 0.1.0 (contract 0.2.0)")
            && plugins.contains("streams: dependabot-alerts (on by default)")
            && plugins.contains("wiz 0.2.0 (contract 0.2.0)")
            && plugins.contains("streams: issues (on by default)"),
        "{plugins}"
    );
    assert_success(&host.add_wiz("wiz", &wiz, "sim-client", FULL_SECRET, &[]));
    assert_success(&add_github(&host, "deps", &github, FULL_TOKEN, &[]));
    host.ok(&["sync", "wiz"]);
    host.ok(&["sync", "deps"]);

    // Every alert, in every state, once, on its repository: 36 alerts in pages of 7.
    assert_eq!(
        host.ids("findings", "deps", "id"),
        github.expected_findings(&ALL)
    );
    assert_eq!(
        host.ids("findings", "wiz", "id"),
        wiz.tenant().expected(true, &[]).findings,
        "Wiz is untouched by its neighbour"
    );
    // Distinct pages: a transient failure's retry asks for the same page again.
    let pages: std::collections::BTreeSet<String> = github
        .requests()
        .into_iter()
        .filter(|r| r.contains("/dependabot/alerts?") && r.contains("per_page=7"))
        .collect();
    let pages = pages.len();
    assert_eq!(
        pages,
        6,
        "36 alerts in pages of 7, by Link: {:#?}",
        github.requests()
    );

    // Both feed the one inventory: four repositories beside Wiz's resources.
    let inventory = host.json(&["assets"]);
    let repos: Vec<&Value> = inventory
        .iter()
        .filter(|a| a["cloud_platform"] == "GitHub")
        .collect();
    assert_eq!(repos.len(), 4, "{inventory:#?}");
    assert!(inventory.iter().any(|a| a["cloud_platform"] != "GitHub"));
    assert!(repos.iter().all(|a| a["asset_type"] == "Repository"));

    // A finding is a vulnerability with its advisory; what GitHub left empty is absent.
    let findings = host.json(&["findings", "deps"]);
    assert!(
        findings.iter().all(|f| f["kind"] == "vulnerability"),
        "{:#?}",
        findings[0]
    );
    let with_fix = findings
        .iter()
        .find(|f| !f["vulnerability"]["fixed_version"].is_null())
        .expect("an alert with a fix");
    assert!(
        with_fix["remediation"]
            .as_str()
            .is_some_and(|r| r.starts_with("Upgrade ")),
        "{with_fix:#}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f["vulnerability"]["fixed_version"].is_null() && f["remediation"].is_null())
    );
    assert!(
        findings
            .iter()
            .any(|f| f["vulnerability"]["cve_ids"] == serde_json::json!([]))
    );
    let statuses: std::collections::BTreeSet<&str> = findings
        .iter()
        .filter_map(|f| f["status"].as_str())
        .collect();
    assert!(
        statuses.contains("failed")
            && statuses.contains("passed")
            && statuses.contains("accepted_failed"),
        "{statuses:?}"
    );

    // Incremental: one alert fixed at GitHub is read newest first and stops early.
    let before = github.requests().len();
    let first_repo = &host.json(&["assets", "deps"])[0];
    let _ = first_repo;
    github.set_state(0, 1, "fixed");
    let out = host.ok(&["sync", "deps"]);
    assert!(out.contains("succeeded"), "{out}");
    let incremental: Vec<String> = github.requests()[before..].to_vec();
    assert!(
        incremental
            .iter()
            .all(|r| !r.contains("/dependabot/alerts?") || r.contains("direction=desc")),
        "{incremental:#?}"
    );
    assert!(
        incremental.len() < 6,
        "an incremental sync reads only what changed: {incremental:#?}"
    );
    let findings = host.json(&["findings", "deps"]);
    assert_eq!(finding(&findings, "700000/1")["status"], "passed");

    // A full sync closes what vanished: a deleted repository's alerts.
    github.delete_repo(3);
    host.ok(&["sync", "deps", "--full"]);
    let findings = host.json(&["findings", "deps"]);
    let gone: Vec<&Value> = findings
        .iter()
        .filter(|f| f["id"].as_str().unwrap().starts_with("700003/"))
        .collect();
    assert_eq!(gone.len(), 9);
    assert!(
        gone.iter().all(|f| f["status"] == "passed"),
        "{:#?}",
        gone.iter().map(|f| &f["status"]).collect::<Vec<_>>()
    );
}

#[test]
fn the_connection_test_names_the_step_that_fails_and_what_to_fix() {
    let github = GithubSim::start(GithubConfig::new(2, 1, 1)).unwrap();
    let host = Host::new();
    // The steps print on stdout, the error on stderr.
    let said = |out: std::process::Output| {
        assert!(!out.status.success());
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let out = said(add_github(
        &host,
        "no-perm",
        &github,
        NO_DEPENDABOT_TOKEN,
        &[],
    ));
    assert!(
        out.contains("[ok  ] organization")
            && out.contains("[FAIL] dependabot-alerts")
            && out.contains("Resource not accessible by personal access token")
            && out.contains("Dependabot alerts (read) permission"),
        "{out}"
    );
    let out = said(add_github(&host, "bad-token", &github, "ghp_wrong", &[]));
    assert!(
        out.contains("[FAIL] token") && out.contains("Bad credentials"),
        "{out}"
    );
    let org = ["organization=nobody"];
    let out = said(add_github(&host, "no-org", &github, FULL_TOKEN, &org));
    assert!(
        out.contains("[FAIL] organization") && out.contains("no organization `nobody`"),
        "{out}"
    );
    assert!(
        host.json(&["integration", "list"]).is_empty(),
        "nothing was saved"
    );
}

#[test]
fn rate_limits_are_waited_out_or_reported_with_their_wait() {
    let github = GithubSim::start(GithubConfig::new(3, 2, 5)).unwrap();
    let host = Host::new();
    assert_success(&add_github(&host, "deps", &github, FULL_TOKEN, &[]));
    // A secondary limit with retry-after, then the primary limit spent for 2 s: waited out.
    github.queue_faults([
        Fault::SecondaryLimit {
            status: 429,
            retry_after: Some(1),
        },
        Fault::PrimaryLimit { reset_in: 2 },
        Fault::ServerError,
    ]);
    host.ok(&["sync", "deps"]);
    assert_eq!(
        host.ids("findings", "deps", "id"),
        github.expected_findings(&ALL)
    );
    // A reset an hour away is longer than max-retry-delay-s: the run fails as rate-limited
    // with GitHub's wait, for the host to retry after it.
    github.queue_faults(vec![Fault::PrimaryLimit { reset_in: 3600 }; 5]);
    let out = host.run(&["sync", "deps", "--full", "--json"]);
    assert!(
        !out.status.success(),
        "{}\nrequests: {:#?}",
        String::from_utf8_lossy(&out.stdout),
        github.requests()
    );
    let outcome: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome["failure"], "transient", "{outcome}");
    let error = outcome["error"].as_str().unwrap();
    assert!(
        error.contains("rate limit") && error.contains("asked to wait"),
        "{error}"
    );
}

#[test]
fn the_console_shows_a_vulnerability_with_its_advisory_package_and_fix() {
    let github = GithubSim::start(GithubConfig::new(11, 2, 9)).unwrap();
    let host = Host::new();
    assert_success(&add_github(&host, "deps", &github, FULL_TOKEN, &[]));
    host.ok(&["sync", "deps"]);
    let findings = host.json(&["findings", "deps"]);
    let shown = findings
        .iter()
        .find(|f| {
            let v = &f["vulnerability"];
            !v["fixed_version"].is_null() && v["cve_ids"][0].is_string() && v["cvss"][0].is_object()
        })
        .expect("an alert with a CVE, a score and a fix");
    let served = host.serve_http(&[]);
    let (admin, base, _) = crate::console::logged_in(&served, &served.admin_token);
    let id = shown["id"].as_str().unwrap();
    // The id holds a slash (repository id / alert number): one path segment, encoded.
    let answer = admin
        .get(format!("{base}/findings/deps/{}", id.replace('/', "%2F")))
        .send()
        .unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::OK);
    let page = answer.text().unwrap();
    let v = &shown["vulnerability"];
    for expected in [
        "Vulnerability",
        "vulnerability",
        v["cve_ids"][0].as_str().unwrap(),
        v["advisory_ids"][0].as_str().unwrap(),
        v["package"]["name"].as_str().unwrap(),
        v["fixed_version"].as_str().unwrap(),
        &format!("CVSS {}", v["cvss"][0]["version"].as_str().unwrap()),
    ] {
        assert!(
            page.contains(expected),
            "{expected} is not on the page:\n{page}"
        );
    }
    assert!(!page.contains("In Wiz"), "nothing on the page assumes Wiz");
}
