//! The console's forms over plain HTTP: a session's forms need its CSRF token, a viewer's
//! changes are refused, and every page carries the security headers.

use crate::harness::{Host, Served};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use reqwest::redirect::Policy;

/// A browser-like client logged in with `token`: (client, the page's CSRF token).
fn logged_in(served: &Served, token: &str) -> (Client, String, String) {
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
    assert!(
        !html.contains("<script>") && !html.contains(" style="),
        "no inline script or style"
    );

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
