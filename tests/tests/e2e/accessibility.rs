//! Every console page, checked by axe-core in a real browser (headless Chromium over
//! WebDriver) at a desktop width, a phone's 375 px and 200% zoom: no violation of
//! WCAG 2 A and AA, WCAG 2.1 AA or axe's best practices. axe-core comes from the npm
//! registry through `tests/browser/package-lock.json` (`cargo xtask test` installs it)
//! and is injected into each page by the test.

use crate::browser::{browser, login, screenshot};
use crate::harness::{FULL_SECRET, Host, assert_success};
use fantoccini::Client;
use serde_json::Value;
use wiz_sim::{SimConfig, Simulator};

/// axe-core's script: `AXE_SCRIPT`, or where `npm ci` in `tests/browser` puts it.
fn axe_script() -> String {
    let path = std::env::var("AXE_SCRIPT").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/browser/node_modules/axe-core/axe.min.js"
        )
        .to_string()
    });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("cannot read axe-core at {path} ({e}): run `npm ci` in tests/browser, or `cargo xtask test`")
    })
}

/// The rules axe checks.
const TAGS: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21aa", "best-practice"];

/// What axe finds wrong with the page the browser shows, one line per rule broken.
async fn violations(client: &Client, axe: &str) -> Vec<String> {
    client.execute(axe, vec![]).await.expect("axe-core loads");
    let found = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { runOnly: { type: 'tag', values: arguments[0] }, resultTypes: ['violations'] })
               .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at '
                 + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))))
               .catch(e => done(['axe failed: ' + e]));",
            vec![serde_json::json!(TAGS)],
        )
        .await
        .expect("axe runs");
    match found {
        Value::Array(lines) => lines
            .into_iter()
            .map(|l| l.as_str().unwrap_or_default().to_string())
            .collect(),
        other => vec![format!("axe answered {other}")],
    }
}

/// Short values of one word (a status, a severity, a count) in table cells that the
/// browser shows on more than one line: a word broken in the middle.
async fn broken_words(client: &Client) -> Vec<String> {
    let found = client
        .execute(
            "return [...document.querySelectorAll('td')]
               .filter(td => { const t = td.textContent.trim(); return t && !/\\s/.test(t) && t.length <= 24; })
               .filter(td => { const r = document.createRange(); r.selectNodeContents(td);
                 return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size > 1; })
               .map(td => td.textContent.trim());",
            vec![],
        )
        .await
        .expect("the page answers");
    serde_json::from_value(found).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_console_page_passes_axe_at_every_width() {
    let axe = axe_script();
    let sim = Simulator::start(SimConfig::new(44, 300)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("wiz", &sim, "sim-client", FULL_SECRET, &[]));
    host.ok(&["sync", "wiz"]);
    host.ok(&["test-connection", "wiz"]);
    let finding = host.json(&["findings", "wiz"]).remove(0);
    let id = finding["id"].as_str().unwrap().to_string();
    host.ok(&[
        "findings",
        "set-status",
        &id,
        "accepted_failed",
        "--reason",
        "accepted for the accessibility check",
    ]);
    let key: String = (finding["asset_key"].as_str().unwrap().bytes())
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let served = host.serve_http(&[]);
    let base = served.api.trim_end_matches("/api/v1").to_string();
    let (_driver, client) = browser().await;

    let pages = [
        "/",
        "/integrations/new?connector=wiz",
        "/integrations/wiz",
        "/integrations/wiz?notice=tested",
        "/integrations/wiz/edit",
        "/findings",
        "/findings?q=xpose&sort=-title&limit=25",
        "/findings?asset=no-such-asset",
        &format!("/findings/wiz/{id}"),
        &format!("/findings?inventory={key}"),
        "/assets",
        "/assets?integration=wiz",
        "/workers",
    ];
    let mut broken = Vec::new();
    // A desktop, a phone, and a desktop at 200% zoom (half its CSS pixels).
    for (width, height, name) in [
        (1280, 1000, "desktop"),
        (375, 800, "phone"),
        (640, 1000, "zoom-200"),
    ] {
        client.set_window_size(width, height).await.unwrap();
        let inner = client
            .execute("return window.innerWidth;", vec![])
            .await
            .unwrap();
        assert!(
            inner.as_u64().is_some_and(|w| w <= u64::from(width)),
            "the window is {inner} CSS pixels wide, asked for {width}"
        );
        client.goto(&format!("{base}/login")).await.unwrap();
        for line in violations(&client, &axe).await {
            broken.push(format!("{name} /login: {line}"));
        }
        login(&client, &base, &served.admin_token).await;
        for path in &pages {
            client.goto(&format!("{base}{path}")).await.unwrap();
            let mut found = violations(&client, &axe).await;
            found.extend(
                broken_words(&client)
                    .await
                    .into_iter()
                    .map(|w| format!("`{w}` breaks across lines")),
            );
            if !found.is_empty() {
                let shot = format!("axe-{name}-{}", path.replace(['/', '?', '&', '='], "_"));
                screenshot(&client, &shot).await;
            }
            broken.extend(
                found
                    .into_iter()
                    .map(|line| format!("{name} {path}: {line}")),
            );
        }
        client.delete_all_cookies().await.unwrap();
    }
    client.close().await.unwrap();
    assert!(broken.is_empty(), "axe found:\n{}", broken.join("\n"));
}
