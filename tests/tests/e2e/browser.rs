//! A real browser (headless Chromium over WebDriver) walks the guide's flow in the
//! console against the simulator: log in, configure Wiz, Test Connection, Save, Sync Now
//! with live progress, History, the Finding View against the oracle, a finding's
//! remediation, the Asset View's technologies, and logout; then a viewer's change and a
//! form without its CSRF token, both refused, and every view at 200% zoom. Each screen is
//! saved as a PNG under `target/console/` for a person to look at.

use crate::harness::{FULL_SECRET, Host, target_dir};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wiz_sim::{SimConfig, Simulator, Tenant};

/// ChromeDriver, stopped when dropped.
pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts ChromeDriver and a headless Chromium session.
pub async fn browser() -> (Driver, Client) {
    let chromedriver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let port = free_port();
    let child = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {chromedriver} ({e}): install Debian's chromium and chromium-driver \
                 (`cargo xtask test` installs them when it can), or set CHROMEDRIVER"
            )
        });
    let driver = Driver(child);
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let capabilities = serde_json::json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"],
        }
    });
    let capabilities = match capabilities {
        serde_json::Value::Object(map) => map,
        _ => unreachable!(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // ChromeDriver speaks plain HTTP on loopback: no TLS connector is needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let connected = ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        match connected {
            Ok(client) => return (driver, client),
            Err(e) if Instant::now() > deadline => panic!("ChromeDriver did not answer: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Saves what the browser shows as `target/console/NAME.png`.
pub async fn screenshot(client: &Client, name: &str) {
    let folder = target_dir().join("console");
    std::fs::create_dir_all(&folder).unwrap();
    let png = client.screenshot().await.unwrap();
    std::fs::write(folder.join(format!("{name}.png")), png).unwrap();
}

/// The text of the element `css` selects, once there is one. A page the console's script
/// reloads (a sync's end) may be gone between finding an element and reading it, so a
/// failed read is tried again until the deadline.
async fn text(client: &Client, css: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let read = match client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match read {
            Ok(text) => return text,
            Err(e) if Instant::now() > deadline => panic!("no {css}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn fill(client: &Client, css: &str, value: &str) {
    let field = client.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// Clicks a link or submit button and waits until the page it leaves is gone, so what is
/// read next comes from the page it leads to.
async fn click(client: &Client, css: &str) {
    let leaving = client.find(Locator::Css("html")).await.unwrap();
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap();
    wait_to_leave(leaving, &format!("clicking {css}")).await;
}

/// Waits until the page whose root is `leaving` is gone; `what` left it.
async fn wait_to_leave(leaving: fantoccini::elements::Element, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while leaving.tag_name().await.is_ok() {
        assert!(Instant::now() < deadline, "{what} did not leave the page");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks Test Connection, which the console's script runs without leaving the page, and
/// waits for the new outcome to replace the old one.
async fn test_in_place(client: &Client) {
    client
        .execute(
            "document.getElementById('test-result')?.setAttribute('data-old', '');",
            vec![],
        )
        .await
        .unwrap();
    let leaving = client.find(Locator::Css("html")).await.unwrap();
    client
        .find(Locator::Css("#test-connection"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .find(Locator::Css("#test-result:not([data-old])"))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "no test outcome appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        leaving.tag_name().await.is_ok(),
        "Test Connection ran in place, without loading another page"
    );
}

/// Asserts that a page behind the login sends the browser to the login page.
async fn assert_sent_to_login(client: &Client, base: &str) {
    client.goto(&format!("{base}/findings")).await.unwrap();
    let at = client.current_url().await.unwrap();
    assert!(at.path().ends_with("/login"), "at {at}");
}

pub async fn login(client: &Client, base: &str, token: &str) {
    client.goto(&format!("{base}/login")).await.unwrap();
    fill(client, "#token", token).await;
    click(client, "#login").await;
}

async fn fill_wiz(client: &Client, sim: &Simulator, secret: &str) {
    fill(client, "#name", "wiz-prod").await;
    fill(client, "#setting-api-url", &sim.api_url()).await;
    fill(client, "#setting-auth-url", &sim.auth_url()).await;
    fill(client, "#setting-client-id", "sim-client").await;
    fill(client, "#setting-client-secret", secret).await;
    fill(client, "#setting-max-requests-per-second", "100").await;
    fill(client, "#setting-page-size", &PAGE_SIZE.to_string()).await;
}

/// Issues per page in the guide flow's sync: several pages, to follow its progress.
const PAGE_SIZE: u64 = 100;

/// Waits until the integration page shows a sync running with `done` issues read and
/// its progress bar at the same point, short of its end; returns the bar's total.
async fn progress_shows(client: &Client, done: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // What a person sees: the status line and the bar (its value and max are
        // numbers, read through the page's own DOM).
        let read = client
            .execute(
                "const p = document.getElementById('progress'); \
                 const b = document.getElementById('progress-bar'); \
                 return [p && p.innerText, b && b.value, b && b.max];",
                vec![],
            )
            .await;
        let shown = read.as_ref().ok().and_then(|v| {
            let [text, value, max] = v.as_array()?.as_slice() else {
                return None;
            };
            Some((text.as_str()?.to_string(), value.as_f64()?, max.as_f64()?))
        });
        if let Some((progress, value, max)) = &shown {
            let numbers: Vec<u64> = progress
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|n| n.parse().ok())
                .collect();
            // The line says "N records of TOTAL", the total the plugin reported, and
            // the bar shows the same two numbers.
            if progress.starts_with("Syncing (started by admin)")
                && numbers.first() == Some(&done)
                && *value == done as f64
                && *max > done as f64
                && numbers.get(1).is_some_and(|t| *max == *t as f64)
            {
                return *max as u64;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the page does not show the sync running with {done} issues read: {read:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guide_flow_in_a_real_browser() {
    let tenant = Tenant {
        seed: 41,
        issues: 900,
    };
    let sim = Simulator::start(SimConfig::new(tenant.seed, tenant.issues)).unwrap();
    let host = Host::new();
    let served = host.serve_http(&[]);
    let base = served.api.trim_end_matches("/api/v1").to_string();
    let (_driver, client) = browser().await;

    // Nobody gets in without logging in.
    assert_sent_to_login(&client, &base).await;
    screenshot(&client, "01-login").await;
    login(&client, &base, &served.admin_token).await;
    assert!(text(&client, "#who").await.contains("admin"));

    // The Wiz card, found by searching.
    fill(&client, "#q", "wiz").await;
    click(&client, "form.search button").await;
    assert!(
        text(&client, ".plugin-card[data-plugin=wiz]")
            .await
            .contains("wiz")
    );
    screenshot(&client, "02-integrations").await;
    click(&client, "#add-wiz").await;

    // A wrong secret: the token step fails, nothing is saved, the secret is not echoed.
    fill_wiz(&client, &sim, "wrong-secret-value").await;
    click(&client, "#save").await;
    assert!(text(&client, "#error").await.contains("nothing was saved"));
    assert_eq!(text(&client, "[data-step=token] .outcome").await, "failed");
    let page = client.source().await.unwrap();
    assert!(
        !page.contains("wrong-secret-value"),
        "the secret is never put back into a page"
    );
    screenshot(&client, "03-test-failed").await;

    // Test Connection with the right one, in place: every step passes, and the typed
    // secret is still in its field for Save.
    fill_wiz(&client, &sim, FULL_SECRET).await;
    test_in_place(&client).await;
    for step in ["token", "api", "scope", "inventory"] {
        let outcome = text(&client, &format!("[data-step={step}] .outcome")).await;
        assert_eq!(outcome, "passed", "step {step}");
    }
    let kept = client
        .find(Locator::Css("#setting-client-secret"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some(FULL_SECRET), "the typed secret stays");
    screenshot(&client, "04-test-passed").await;
    click(&client, "#save").await;
    assert_eq!(text(&client, "#notice").await, "Saved.");

    // Sync Now, with its progress followed live until the page shows the History row.
    // The sync is held at its second issue page, then at its third: the page must show
    // it running with the first page's issues done, then, without reloading, the first
    // two pages' (only the console's script, following the event stream, can show
    // that), and when it ends the History row.
    let second_page = sim.hold_issue_page(2);
    let third_page = sim.hold_issue_page(3);
    click(&client, "#sync-now").await;
    second_page.wait_reached(Duration::from_secs(60), "the sync's second issue page");
    // Drawn while the request waited for a worker, the page reloads once to show the
    // running sync; from then on, it follows it in place.
    let total = progress_shows(&client, PAGE_SIZE).await;
    let page = client.find(Locator::Css("html")).await.unwrap();
    assert!(total > 2 * PAGE_SIZE, "{total} issues in all");
    screenshot(&client, "05-syncing").await;
    second_page.open();
    third_page.wait_reached(Duration::from_secs(60), "the sync's third issue page");
    assert_eq!(progress_shows(&client, 2 * PAGE_SIZE).await, total);
    assert!(
        page.tag_name().await.is_ok(),
        "the progress was followed in the page, without loading another"
    );
    third_page.open();
    let deadline = Instant::now() + Duration::from_secs(120);
    let first_row = loop {
        let row = client
            .find(Locator::Css("#history tbody tr:first-child"))
            .await
            .ok();
        if let Some(row) = row {
            let cells = row.text().await.unwrap_or_default();
            if cells.contains("Sync now") && cells.contains("Succeeded") {
                break cells;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the sync did not finish in the page"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        page.tag_name().await.is_err(),
        "the page reloaded when the sync ended"
    );
    assert_eq!(text(&client, "#progress").await, "No sync is running.");
    assert!(first_row.contains("admin"), "{first_row}");
    screenshot(&client, "06-history").await;

    // The Finding View's counts by severity equal the simulator's oracle.
    let expected = tenant.expected(true, &[]);
    client
        .goto(&format!("{base}/findings?integration=wiz-prod"))
        .await
        .unwrap();
    for (severity, n) in &expected.by_severity {
        let shown = text(&client, &format!("#counts [data-severity={severity}] .n")).await;
        assert_eq!(shown, n.to_string(), "{severity}");
    }
    let total: u64 = expected.by_severity.values().sum();
    assert_eq!(
        text(&client, "#counts-title").await,
        format!("{total} findings")
    );
    screenshot(&client, "07-findings").await;

    // A finding's detail (reached from the list) shows Wiz's remediation.
    click(&client, "#findings tbody tr:first-child a").await;
    assert!(
        text(&client, "#raw").await.contains("\"id\""),
        "the raw record"
    );
    let stored = host.json(&["findings", "wiz-prod"]);
    let with_remediation = stored
        .iter()
        .find(|f| f["remediation"].is_string())
        .expect("the tenant has remediation");
    let id = with_remediation["id"].as_str().unwrap();
    client
        .goto(&format!("{base}/findings/wiz-prod/{id}"))
        .await
        .unwrap();
    let remediation = text(&client, "#remediation p").await;
    assert_eq!(
        remediation,
        with_remediation["remediation"].as_str().unwrap().trim()
    );
    screenshot(&client, "08-finding").await;

    // The Asset View shows technologies as asset types.
    client
        .goto(&format!("{base}/assets?integration=wiz-prod"))
        .await
        .unwrap();
    let mut technologies = String::new();
    for cell in client
        .find_all(Locator::Css("#assets td.technologies"))
        .await
        .unwrap()
    {
        technologies.push_str(&cell.text().await.unwrap());
    }
    assert!(
        !technologies.trim().is_empty(),
        "some asset has technologies"
    );
    screenshot(&client, "09-assets").await;

    // Logout ends the session.
    click(&client, "#logout").await;
    assert_sent_to_login(&client, &base).await;
    client.close().await.unwrap();
}

/// Presses and releases one key, as a person at the keyboard would.
async fn press(client: &Client, key: Key) {
    let key = char::from(key);
    let actions = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    client.perform_actions(actions).await.unwrap();
}

/// Whether the page fits its window's width: nothing but a table's own box scrolls
/// sideways.
async fn fits_width(client: &Client) -> bool {
    let fits = client
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    fits.as_bool() == Some(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_and_forged_forms_are_refused_and_pages_reflow_at_200_percent() {
    let sim = Simulator::start(SimConfig::new(43, 300)).unwrap();
    let host = Host::new();
    let added = host.add_wiz("wiz", &sim, "sim-client", FULL_SECRET, &[]);
    assert!(added.status.success());
    host.ok(&["sync", "wiz"]);
    let out = host.run(&["users", "add", "vic", "--role", "viewer"]);
    let viewer_token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let served = host.serve_http(&[]);
    let base = served.api.trim_end_matches("/api/v1").to_string();
    let (_driver, client) = browser().await;
    let syncs = || {
        host.json(&["history", "wiz"])
            .iter()
            .filter(|r| r["action"] == "sync_now")
            .count()
    };

    // A viewer reads every view, but a change of settings is refused and changes nothing.
    login(&client, &base, &viewer_token).await;
    assert!(text(&client, "#who").await.contains("vic"));
    client
        .goto(&format!("{base}/integrations/wiz/edit"))
        .await
        .unwrap();
    let field = "#setting-max-requests-per-second";
    let before = client
        .find(Locator::Css(field))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    fill(&client, field, "7").await;
    click(&client, "#save").await;
    let refusal = text(&client, "main").await;
    assert!(
        refusal.contains("vic") && refusal.contains("may not change"),
        "{refusal}"
    );
    screenshot(&client, "10-viewer-refused").await;
    client
        .goto(&format!("{base}/integrations/wiz/edit"))
        .await
        .unwrap();
    let after = client
        .find(Locator::Css(field))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(after, before, "the refused change stored nothing");
    click(&client, "#logout").await;

    // An admin's Test Connection on the edit form tests what is typed and saves nothing.
    login(&client, &base, &served.admin_token).await;
    let stored = host.ok(&["integration", "show", "wiz", "--json"]);
    let history_before = host.json(&["history", "wiz"]);
    client
        .goto(&format!("{base}/integrations/wiz/edit"))
        .await
        .unwrap();
    fill(&client, "#setting-page-size", "123").await;
    test_in_place(&client).await;
    assert_eq!(
        host.ok(&["integration", "show", "wiz", "--json"]),
        stored,
        "Test Connection saved nothing"
    );
    assert_eq!(
        host.json(&["history", "wiz"]),
        history_before,
        "and recorded nothing"
    );

    // An admin's form without its CSRF token (as a forged one would be) is refused.
    client
        .goto(&format!("{base}/integrations/wiz"))
        .await
        .unwrap();
    let syncs_before = syncs();
    client
        .execute(
            "document.querySelectorAll('input[name=_csrf]').forEach(e => e.remove());",
            vec![],
        )
        .await
        .unwrap();
    click(&client, "#sync-now").await;
    let refusal = text(&client, "main").await;
    assert!(refusal.contains("CSRF token"), "{refusal}");
    screenshot(&client, "11-csrf-refused").await;
    assert_eq!(syncs(), syncs_before, "the forged Sync Now started nothing");

    // The keyboard alone reaches the controls: Tab walks from the skip link through the
    // navigation to the search box and the plugin's Configure button, and Enter on it
    // opens the form.
    client.goto(&format!("{base}/")).await.unwrap();
    let mut reached = Vec::new();
    for _ in 0..40 {
        press(&client, Key::Tab).await;
        let focused = client.active_element().await.unwrap();
        let id = focused.attr("id").await.unwrap().unwrap_or_default();
        let done = id == "add-wiz";
        reached.push(id);
        if done {
            break;
        }
    }
    assert!(
        reached.iter().any(|id| id == "q") && reached.last().map(String::as_str) == Some("add-wiz"),
        "Tab reached {reached:?}"
    );
    let leaving = client.find(Locator::Css("html")).await.unwrap();
    press(&client, Key::Enter).await;
    wait_to_leave(leaving, "Enter on Configure").await;
    assert!(client.find(Locator::Css("#configure")).await.is_ok());

    // At 200% zoom (half the window's CSS pixels) every view reflows to its width.
    let finding = host.ids("findings", "wiz", "id").remove(0);
    client.set_window_size(640, 1000).await.unwrap();
    for (name, path) in [
        ("integrations", "/".to_string()),
        ("integration", "/integrations/wiz".into()),
        ("configure", "/integrations/wiz/edit".into()),
        ("findings", "/findings".into()),
        ("finding", format!("/findings/wiz/{finding}")),
        ("assets", "/assets?integration=wiz".into()),
    ] {
        client.goto(&format!("{base}{path}")).await.unwrap();
        screenshot(&client, &format!("12-zoom-200-{name}")).await;
        assert!(fits_width(&client).await, "{path} scrolls sideways at 200%");
    }
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_morning_in_the_finding_view_search_sort_export_and_a_bulk_status() {
    let sim = Simulator::start(SimConfig::new(45, 300)).unwrap();
    let host = Host::new();
    let added = host.add_wiz("wiz", &sim, "sim-client", FULL_SECRET, &[]);
    assert!(added.status.success());
    host.ok(&["sync", "wiz"]);
    let served = host.serve_http(&[]);
    let base = served.api.trim_end_matches("/api/v1").to_string();
    let (_driver, client) = browser().await;
    login(&client, &base, &served.admin_token).await;

    // Search a title: the view says how many of how many it shows, as the API counts.
    client.goto(&format!("{base}/findings")).await.unwrap();
    fill(&client, "#q", "xpose").await;
    click(&client, "#apply").await;
    let expected = served.api_json("/findings?q=xpose")["total"]
        .as_u64()
        .unwrap();
    assert!(expected > 0);
    let range = text(&client, "#range").await;
    assert!(range.ends_with(&format!(" of {expected}")), "{range}");
    let titles = client
        .execute(
            "return [...document.querySelectorAll('#findings tbody tr td:nth-child(3)')].map(t => t.textContent);",
            vec![],
        )
        .await
        .unwrap();
    assert!(!titles.as_array().unwrap().is_empty());
    screenshot(&client, "20-finding-view-search").await;

    // Sort by severity the other way by its header, then by title: the URL keeps the
    // search and says the sort, and the header says how the table is sorted.
    click(&client, "th[aria-sort] a.sort").await;
    let url = client.current_url().await.unwrap();
    assert!(
        url.query().unwrap_or_default().contains("sort=-severity")
            && url.query().unwrap_or_default().contains("q=xpose"),
        "{url}"
    );
    let state = client
        .find(Locator::Css("th[aria-sort]"))
        .await
        .unwrap()
        .attr("aria-sort")
        .await
        .unwrap();
    assert_eq!(state.as_deref(), Some("descending"));
    let shown_first = text(&client, "#findings tbody tr td.sev-info, #findings tbody tr td.sev-low, #findings tbody tr td.sev-medium, #findings tbody tr td.sev-high, #findings tbody tr td.sev-critical").await;
    let least =
        served.api_json("/findings?q=xpose&sort=-severity&limit=1")["findings"][0]["severity"]
            .as_str()
            .unwrap()
            .to_string();
    assert_eq!(shown_first, least, "least severe first");

    // Export what the view shows, through the browser's own session, and compare it with
    // the API's JSON export of the same query.
    let csv = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(document.getElementById('export-csv').href).then(r => r.text()).then(done);",
            vec![],
        )
        .await
        .unwrap();
    let csv = csv.as_str().unwrap().to_string();
    let ids_in_csv: Vec<String> = csv::ReaderBuilder::new()
        .from_reader(csv.as_bytes())
        .records()
        .map(|r| r.unwrap()[1].to_string())
        .collect();
    let json: Vec<serde_json::Value> =
        serde_json::from_value(served.api_json("/findings/export.json?q=xpose&sort=-severity"))
            .unwrap();
    let ids_in_json: Vec<String> = json
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids_in_csv.len() as u64, expected);
    assert_eq!(
        ids_in_csv, ids_in_json,
        "the CSV holds the view's findings in its order"
    );

    // Tick the first finding, give a reason and set its status; the page after the POST
    // says so, and reloading it sets nothing again.
    let key = client
        .execute(
            "const row = [...document.querySelectorAll('#findings tbody tr')]
               .find(r => r.querySelector('td:nth-child(5)').textContent.trim() === 'failed');
             return row.querySelector('input[name=finding]').value;",
            vec![],
        )
        .await
        .unwrap();
    let key = key
        .as_str()
        .expect("a failed finding on the page")
        .to_string();
    let id = key.split_once('/').unwrap().1.to_string();
    client
        .find(Locator::Css(&format!(
            "#findings tbody input[value=\"{key}\"]"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .find(Locator::Css("#new-status option[value=accepted_failed]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    fill(&client, "#reason", "accepted by the morning review").await;
    click(&client, "#set-statuses").await;
    assert!(
        text(&client, "#notice").await.contains("on 1 finding"),
        "the notice"
    );
    screenshot(&client, "21-finding-view-bulk-status").await;
    let changes = |id: String| {
        let served = &served;
        move || {
            served.api_json(&format!("/integrations/wiz/findings/{id}"))["status_changes"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    let count = changes(id.clone());
    assert_eq!(count(), 1);
    client.refresh().await.unwrap();
    assert!(text(&client, "#notice").await.contains("on 1 finding"));
    assert_eq!(count(), 1, "a reload after the POST submits nothing");

    // History shows the change: who, how many, from what, and why.
    client
        .goto(&format!("{base}/integrations/wiz"))
        .await
        .unwrap();
    let history = text(&client, "#history").await;
    assert!(
        history.contains("Status set")
            && history.contains("1 from failed")
            && history.contains("accepted by the morning review"),
        "{history}"
    );
    client.close().await.unwrap();
}
