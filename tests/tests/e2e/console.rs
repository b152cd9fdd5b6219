//! The console's forms over plain HTTP: a session's forms need its CSRF token, a viewer's
//! changes are refused, every page carries the security headers, and no page holds
//! inline script or style.

use crate::harness::{FULL_SECRET, Host, Served, assert_success, wait_for};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::redirect::Policy;
use std::time::Duration;
use wiz_sim::{SimConfig, Simulator};

/// A browser-like client logged in with `token`: (client, the page's CSRF token).
pub fn logged_in(served: &Served, token: &str) -> (Client, String, String) {
    let base = served.api.trim_end_matches("/api/v1").to_string();
    let client = Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap();
    let login = client
        .post(format!("{base}/login"))
        .form(&[("token", token)])
        .send()
        .unwrap();
    assert_eq!(
        login.status(),
        StatusCode::SEE_OTHER,
        "a login redirects to the console"
    );
    let page = client.get(format!("{base}/")).send().unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().unwrap();
    let marker = r#"name="_csrf" value=""#;
    let start = html.find(marker).expect("every page has the logout form") + marker.len();
    let csrf = html[start..].split('"').next().unwrap().to_string();
    (client, base, csrf)
}

/// The page at `base` + `path` as the logged-in `client` sees it.
pub fn page_text(client: &Client, base: &str, path: &str) -> String {
    client
        .get(format!("{base}{path}"))
        .send()
        .unwrap()
        .text()
        .unwrap()
}

#[test]
fn console_forms_need_the_csrf_token_and_an_admin() {
    let host = Host::new();
    let served = host.serve_http(&[]);
    let (admin, base, csrf) = logged_in(&served, &served.admin_token);

    // Pages without a session go to the login page; pages are hardened.
    let anonymous = Client::builder().redirect(Policy::none()).build().unwrap();
    let bounced = anonymous.get(format!("{base}/findings")).send().unwrap();
    assert_eq!(bounced.status(), StatusCode::SEE_OTHER);
    assert_eq!(bounced.headers()["location"], "/login");
    let login_page = anonymous.get(format!("{base}/login")).send().unwrap();
    assert_eq!(login_page.headers()["x-frame-options"], "DENY");
    assert!(
        login_page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    let html = login_page.text().unwrap();
    assert_eq!(inline_code(&html), Vec::<String>::new(), "the login page");

    let form = [
        ("name", "x"),
        ("setting.client-id", "id"),
        ("action", "save"),
    ];
    let without = admin
        .post(format!("{base}/integrations/new?connector=wiz"))
        .form(&form)
        .send()
        .unwrap();
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    assert!(without.text().unwrap().contains("CSRF"));
    let forged = admin
        .post(format!("{base}/integrations/new?connector=wiz"))
        .form(&[("_csrf", "forged"), ("name", "x"), ("action", "save")])
        .send()
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    // With the token, the form is read: here it lacks required settings, shown by field.
    let with = admin
        .post(format!("{base}/integrations/new?connector=wiz"))
        .form(&[("_csrf", csrf.as_str()), ("name", "x"), ("action", "save")])
        .send()
        .unwrap();
    assert_eq!(with.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = with.text().unwrap();
    assert!(
        html.contains("field-error"),
        "the error sits beside its field"
    );

    // A viewer reads, and is refused any change.
    let out = host.run(&["users", "add", "vic", "--role", "viewer"]);
    let viewer_token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let (viewer, _, viewer_csrf) = logged_in(&served, &viewer_token);
    let page = viewer
        .get(format!("{base}/"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        !page.contains("id=\"add-wiz\""),
        "a viewer is offered no Configure button"
    );
    let refused = viewer
        .post(format!("{base}/integrations/new?connector=wiz"))
        .form(&[
            ("_csrf", viewer_csrf.as_str()),
            ("name", "x"),
            ("action", "save"),
        ])
        .send()
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().unwrap().contains("viewer"));

    // Logout needs the token too, then ends the session.
    let no_token = admin.post(format!("{base}/logout")).send().unwrap();
    assert_eq!(no_token.status(), StatusCode::FORBIDDEN);
    let out = admin
        .post(format!("{base}/logout"))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = admin.get(format!("{base}/")).send().unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER, "the session is over");

    // A wrong token on the login form is refused with the reason.
    let wrong = anonymous
        .post(format!("{base}/login"))
        .form(&[("token", "cht_wrong")])
        .send()
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().unwrap().contains("not valid"));
}

/// Every console page read, by what was asked for: (what, HTML).
#[derive(Default)]
struct Pages(Vec<(String, String)>);

impl Pages {
    /// Sends `request`, expects `status` and a hardened HTML page, and keeps it.
    fn read(&mut self, what: &str, request: RequestBuilder, status: StatusCode) -> String {
        let response = request.send().unwrap();
        let got = response.status();
        let headers = response.headers().clone();
        let html = response.text().unwrap();
        assert_eq!(got, status, "{what}: {html}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{what}"
        );
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'")
                && csp.contains("style-src 'self'")
                && !csp.contains("unsafe-inline"),
            "{what}: {csp}"
        );
        self.0.push((what.to_string(), html.clone()));
        html
    }
}

#[test]
fn no_console_page_holds_inline_script_or_style() {
    let sim = Simulator::start(SimConfig::new(34, 120)).unwrap();
    let host = Host::new();
    assert_success(&host.add_wiz("w", &sim, "sim-client", FULL_SECRET, &["page-size=50"]));
    host.ok(&["sync", "w"]);
    let out = host.run(&["users", "add", "vic", "--role", "viewer"]);
    assert_success(&out);
    let viewer_token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let served = host.serve_http(&[]);
    let (admin, base, csrf) = logged_in(&served, &served.admin_token);
    let (viewer, _, viewer_csrf) = logged_in(&served, &viewer_token);
    let anonymous = Client::builder().redirect(Policy::none()).build().unwrap();
    let url = |path: &str| format!("{base}{path}");
    let stored = host.json(&["findings", "w"]);
    let finding = stored
        .iter()
        .find(|f| f["remediation"].is_string())
        .expect("the tenant has remediation")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut pages = Pages::default();
    let ok = StatusCode::OK;

    pages.read("the login page", anonymous.get(url("/login")), ok);
    pages.read(
        "a refused login",
        anonymous
            .post(url("/login"))
            .form(&[("token", "cht_wrong")]),
        StatusCode::UNAUTHORIZED,
    );
    for (what, path) in [
        ("the integrations", "/"),
        ("the integrations searched", "/?q=wiz"),
        (
            "the new-integration form",
            "/integrations/new?connector=wiz",
        ),
        ("the integration", "/integrations/w"),
        ("its second history page", "/integrations/w?page=2"),
        ("its settings form", "/integrations/w/edit"),
        ("the findings", "/findings"),
        (
            "the findings filtered",
            "/findings?integration=w&severity=critical",
        ),
        ("the finding", &format!("/findings/w/{finding}")),
        ("the assets", "/assets"),
        ("the assets of one integration", "/assets?integration=w"),
    ] {
        pages.read(what, admin.get(url(path)), ok);
        pages.read(&format!("{what}, to a viewer"), viewer.get(url(path)), ok);
    }
    pages.read(
        "a missing integration",
        admin.get(url("/integrations/nowhere")),
        StatusCode::NOT_FOUND,
    );
    pages.read(
        "a new integration's form with errors",
        admin.post(url("/integrations/new?connector=wiz")).form(&[
            ("_csrf", csrf.as_str()),
            ("name", "x"),
            ("action", "save"),
        ]),
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    pages.read(
        "a form without its CSRF token",
        admin
            .post(url("/integrations/new?connector=wiz"))
            .form(&[("name", "x"), ("action", "save")]),
        StatusCode::FORBIDDEN,
    );
    pages.read(
        "a viewer's change, refused",
        viewer
            .post(url("/integrations/w/test"))
            .form(&[("_csrf", viewer_csrf.as_str())]),
        StatusCode::FORBIDDEN,
    );
    let tests_in_history = || {
        host.json(&["history", "w"])
            .iter()
            .filter(|r| r["action"] == "test_connection")
            .count()
    };
    let tests_before = tests_in_history();
    let tested = admin
        .post(url("/integrations/w/test"))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .unwrap();
    assert_eq!(tested.status(), StatusCode::SEE_OTHER, "post/redirect/get");
    let location = tested.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, "/integrations/w?notice=tested");
    for _ in 0..2 {
        let shown = pages.read("a connection test, shown", admin.get(url(&location)), ok);
        assert!(
            shown.contains("id=\"test-result\"") && shown.contains("Test Connection: passed"),
            "{shown}"
        );
        assert!(shown.contains(r#"data-step="#), "its steps: {shown}");
    }
    assert_eq!(
        tests_in_history(),
        tests_before + 1,
        "a reload tests nothing again"
    );

    // While a sync runs (held at its first issue page), the integration page shows its
    // progress, and a second Sync Now joins it.
    let gate = sim.hold_issue_page(1);
    let started = admin
        .post(url("/integrations/w/sync"))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    gate.wait_reached(Duration::from_secs(60), "the sync's first issue page");
    let running = pages.read(
        "the integration while it syncs",
        admin.get(url("/integrations/w?notice=started")),
        ok,
    );
    assert!(
        running.contains(r#"<progress id="progress-bar" aria-label="Sync progress""#)
            && running.contains("Sync requested: the first free worker runs it.")
            && running.contains(r#"id="cancel-sync""#)
            && running.contains(r#"id="sync-now" class="primary" disabled>"#)
            && running.contains(r#"Full sync</button>"#)
            && running.contains(r#"?" disabled>Full sync</button>"#),
        "the run's buttons are off while it goes: {running}"
    );
    let joined = admin
        .post(url("/integrations/w/sync"))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .unwrap();
    assert_eq!(
        joined.status(),
        StatusCode::SEE_OTHER,
        "a second Sync Now joins"
    );
    gate.open();
    wait_for(60, "the sync to end", || {
        let page = admin.get(url("/integrations/w")).send().unwrap();
        page.text().unwrap().contains("No sync is running.")
    });
    // Once it ended, the "started" notice is over and the buttons are back.
    let ended = admin
        .get(url("/integrations/w?notice=started"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        !ended.contains("Sync requested")
            && ended.contains(r#"id="sync-now" class="primary">Sync Now</button>"#),
        "{ended}"
    );

    // The Finding View names each finding's asset as the inventory has it, linked to
    // that asset's findings.
    let listed = admin
        .get(url("/findings?integration=w"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let first = &host.json(&["findings", "w"])[0];
    let (asset_name, asset_key) = (
        first["asset_name"].as_str().expect("the asset is named"),
        first["asset_key"]
            .as_str()
            .expect("the asset is in the inventory"),
    );
    let key_in_url: String = asset_key
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    assert!(
        listed.contains(&format!(
            r#"<td class="short asset"><a href="/findings?inventory={key_in_url}">{asset_name}</a>"#
        )),
        "{asset_name}: {listed}"
    );
    // The asset's page names it and counts its findings.
    let asset_page = pages.read(
        "an asset's findings",
        admin.get(url(&format!("/findings?inventory={key_in_url}"))),
        ok,
    );
    assert!(
        asset_page.contains(&format!("<h1>Findings on {asset_name}</h1>"))
            && asset_page.contains(r#"id="asset-card""#)
            && asset_page.contains(r#"id="counts""#),
        "{asset_page}"
    );

    // A view that matches nothing says so, with the way back.
    let nothing = pages.read(
        "findings matching nothing",
        admin.get(url("/findings?asset=no-such-asset")),
        ok,
    );
    assert!(
        nothing.contains(r#"<p id="no-findings" role="status">No finding matches these filters."#)
            && !nothing.contains(r#"id="findings""#),
        "{nothing}"
    );
    let no_assets = pages.read(
        "assets matching nothing",
        admin.get(url("/assets?type=no-such-type")),
        ok,
    );
    assert!(no_assets.contains(r#"id="no-assets""#), "{no_assets}");

    // History reads as people say it, counts in their own columns, and its scrolling box
    // is reachable by keyboard.
    let page = admin
        .get(url("/integrations/w"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains(
            r#"<div class="table-wrap" tabindex="0" role="region" aria-label="History of w">"#
        ) && page.contains(r#"<tr><td class="short">Sync now (full)</td>"#)
            && page.contains(r#"<tr><td class="short">Sync now (incremental)</td>"#)
            && page.contains(r#"<td class="short status-succeeded">Succeeded</td>"#)
            && page.contains(r#"<th scope="colgroup" colspan="5">Findings</th>"#)
            && !page.contains(">sync_now<")
            && page.contains(r#"<th scope="row">Wiz API URL</th>"#)
            && !page.contains(r#"<th scope="row">api-url</th>"#),
        "{page}"
    );

    // A finding's status set here: post, then redirect to the finding page with the
    // notice, so that reloading it sets nothing again; its select starts on the status.
    let before = admin
        .get(url(&format!("/findings/w/{finding}")))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        before.contains(r#"<option value="failed" selected>failed</option>"#),
        "the select starts on the finding's status: {before}"
    );
    let posted = admin
        .post(url(&format!("/findings/w/{finding}/status")))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("status", "accepted_failed"),
            ("reason", "accepted in the console test"),
        ])
        .send()
        .unwrap();
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
    let location = posted.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, format!("/findings/w/{finding}?notice=status-set"));
    let set = pages.read("a finding's status set", admin.get(url(&location)), ok);
    assert!(
        set.contains(
            "Status set to accepted_failed. The next sync of w puts the source&#39;s status back."
        ) && set.contains(r#"<option value="accepted_failed" selected>accepted_failed</option>"#),
        "{set}"
    );

    let offending: Vec<String> = pages
        .0
        .iter()
        .flat_map(|(what, html)| {
            inline_code(html)
                .into_iter()
                .map(move |f| format!("{what}: {f}"))
        })
        .collect();
    assert!(
        offending.is_empty(),
        "{} inline script or style found in the {} pages read:\n{}",
        offending.len(),
        pages.0.len(),
        offending.join("\n")
    );
    // The scan read real pages: each links the console's own stylesheet.
    for (what, html) in &pages.0 {
        assert!(html.contains("/static/console.css"), "{what}: {html}");
    }
}

/// What in `html` would run or style inline, against the console's CSP: a `<script>`
/// without `src` or with a body, a `<style>` element, an event-handler (`on…`) or
/// `style` attribute, and a `javascript:` URL. Tags and attributes are read as a browser
/// reads them: any case, values double-, single- or un-quoted, character references
/// decoded; comments are passed over.
fn inline_code(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    while let Some(offset) = html[at..].find('<') {
        let start = at + offset;
        if lower[start..].starts_with("<!--") {
            at = lower[start..]
                .find("-->")
                .map_or(html.len(), |end| start + end + 3);
            continue;
        }
        let Some((tag, attributes, end)) = read_tag(html, start) else {
            // A closing tag, a doctype, or a `<` that starts no tag.
            at = start + 1;
            continue;
        };
        at = end;
        let shown: String = html[start..end].chars().take(120).collect();
        for (name, value) in &attributes {
            if name.starts_with("on") {
                found.push(format!("event-handler attribute `{name}` in {shown}"));
            }
            if name == "style" {
                found.push(format!("style attribute in {shown}"));
            }
            let url = value.as_deref().map(url_of).unwrap_or_default();
            let url = match (tag.as_str(), name.as_str()) {
                // `<meta http-equiv=refresh content="0; url=…">`
                ("meta", "content") => url
                    .split_once("url=")
                    .map(|(_, u)| u.trim_start_matches(['\'', '"']).to_string())
                    .unwrap_or_default(),
                _ => url,
            };
            if url.starts_with("javascript:") {
                found.push(format!("javascript: URL in `{name}` of {shown}"));
            }
        }
        if tag == "script" || tag == "style" {
            // Raw text up to the closing tag, whatever it holds.
            let close = lower[end..]
                .find(&format!("</{tag}"))
                .map_or(html.len(), |c| end + c);
            let body = &html[end..close];
            if tag == "style" {
                found.push(format!("<style> element: {shown}"));
            } else if !attributes.iter().any(|(n, v)| n == "src" && v.is_some()) {
                found.push(format!("<script> without src: {shown}"));
            } else if !body.trim().is_empty() {
                found.push(format!("<script> with a body: {shown}{body}"));
            }
            at = close;
        }
    }
    found
}

/// The start tag at `start` (`<name …>`): its lower-case name, its attributes (lower-case
/// names, values with character references decoded) and where it ends; `None` when no
/// start tag begins there.
#[allow(clippy::type_complexity)]
fn read_tag(html: &str, start: usize) -> Option<(String, Vec<(String, Option<String>)>, usize)> {
    let bytes = html.as_bytes();
    let mut i = start + 1;
    if !bytes.get(i)?.is_ascii_alphabetic() {
        return None;
    }
    let name_start = i;
    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !b"/>".contains(&bytes[i]) {
        i += 1;
    }
    let tag = html[name_start..i].to_ascii_lowercase();
    let mut attributes = Vec::new();
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() {
            return Some((tag, attributes, i));
        }
        if bytes[i] == b'>' {
            return Some((tag, attributes, i + 1));
        }
        // An attribute name runs to whitespace, `/`, `>` or `=` (its first character may
        // be `=`, as a browser reads it).
        let name_start = i;
        i += 1;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && !b"/>=".contains(&bytes[i]) {
            i += 1;
        }
        let name = html[name_start..i].to_ascii_lowercase();
        let mut j = i;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        if bytes.get(j) != Some(&b'=') {
            attributes.push((name, None));
            continue;
        }
        i = j + 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = match bytes.get(i) {
            Some(&quote @ (b'"' | b'\'')) => {
                let end = html[i + 1..]
                    .find(quote as char)
                    .map_or(html.len(), |e| i + 1 + e);
                let value = &html[i + 1..end];
                i = (end + 1).min(html.len());
                value
            }
            _ => {
                let value_start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                    i += 1;
                }
                &html[value_start..i]
            }
        };
        attributes.push((name, Some(decode_references(value))));
    }
}

/// `text` with its numeric character references and the named ones that can spell a
/// scheme decoded.
fn decode_references(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map_or(rest.len(), |e| e + 1);
        let reference = &rest[1..end];
        let decoded = if let Some(number) = reference.strip_prefix('#') {
            match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => number.parse().ok(),
            }
            .and_then(char::from_u32)
        } else {
            match reference.to_ascii_lowercase().as_str() {
                "colon" => Some(':'),
                "tab" => Some('\t'),
                "newline" => Some('\n'),
                "amp" => Some('&'),
                _ => None,
            }
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = rest[end..].strip_prefix(';').unwrap_or(&rest[end..]);
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// An attribute value as a browser's URL parser sees its scheme: without leading and
/// trailing spaces or control characters, tabs and newlines dropped, in lower case.
fn url_of(value: &str) -> String {
    value
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect::<String>()
        .to_ascii_lowercase()
}

#[test]
fn the_inline_code_scan_finds_what_a_browser_would_run() {
    for page in [
        "<p>hi</p><script>alert(1)</script>",
        "<SCRIPT\n>alert(1)</SCRIPT>",
        "<script type=module>import('/x')</script>",
        "<script src=/static/console.js>alert(1)</script>",
        "<div OnClick='go()'>x</div>",
        "<img src=x onerror=go()>",
        "<svg><g onload=\"go()\"/></svg>",
        "<p STYLE=\"color:red\">x</p>",
        "<p title='a>b' style=color:red>x</p>",
        "<style>p{}</style>",
        "<StYlE media=all>p{}</StYlE>",
        "<a href=\" JaVaScRiPt:go()\">x</a>",
        "<a href='java\tscript:go()'>x</a>",
        "<a href=\"&#106;avascript&colon;go()\">x</a>",
        "<form action=&#x6A;avascript:go()></form>",
        "<button formaction=javascript:go()>x</button>",
        "<meta http-equiv=refresh content=\"0; url=javascript:go()\">",
    ] {
        assert!(!inline_code(page).is_empty(), "not caught: {page}");
    }
    for page in [
        "<!doctype html><html lang=en><head><script src=\"/static/console.js\" defer></script>\
         <link rel=stylesheet href=/static/console.css></head><body></body></html>",
        "<p data-confirm=\"Remove x? onclick=1 style=2\">text: style=, onclick=, <b>javascript:</b></p>",
        "<!-- <script>alert(1)</script> --><p>a &lt;script&gt; shown as text</p>",
        "<noscript><meta http-equiv=\"refresh\" content=\"2\"></noscript>",
        "<a href=\"/findings?q=javascript:\">search</a><p>1 < 2</p>",
        "<svg class=bar><rect class=sev-critical width=3></rect></svg>",
    ] {
        assert_eq!(inline_code(page), Vec::<String>::new(), "{page}");
    }
}

#[test]
fn the_configure_form_assumes_no_connector() {
    // Two plugins loaded (wiz and hostile): without a connector named, the form sends
    // the operator to the integrations page (the console's home) to choose one.
    let host = Host::new();
    let served = host.serve_http(&[]);
    let (admin, base, _) = logged_in(&served, &served.admin_token);
    let unnamed = admin
        .get(format!("{base}/integrations/new"))
        .send()
        .unwrap();
    assert_eq!(unnamed.status(), StatusCode::SEE_OTHER);
    assert_eq!(unnamed.headers()["location"], "/");
    let listed = admin.get(format!("{base}/")).send().unwrap();
    let html = listed.text().unwrap();
    assert!(
        html.contains("/integrations/new?connector=wiz")
            && html.contains("/integrations/new?connector=hostile"),
        "each plugin can be configured"
    );
    let hostile = admin
        .get(format!("{base}/integrations/new?connector=hostile"))
        .send()
        .unwrap();
    assert_eq!(hostile.status(), StatusCode::OK);
    assert!(hostile.text().unwrap().contains("Configure hostile"));
    drop(served);

    // One plugin loaded: it is the one.
    let scratch = tempfile::tempdir().unwrap();
    let (only, _) = Host::with_only_plugin(
        scratch.path(),
        |h| h.built_plugins().join("hostile.wasm"),
        "hostile.wasm",
    );
    let served = only.serve_http(&[]);
    let (admin, base, _) = logged_in(&served, &served.admin_token);
    let page = admin
        .get(format!("{base}/integrations/new"))
        .send()
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().unwrap().contains("Configure hostile"));
}
