//! The console and the API over HTTPS (`--tls-cert`, `--tls-key`): a real handshake with a
//! certificate made for the test, the `Secure` cookie and HSTS that TLS brings, plain HTTP
//! refused on the same port, and files that cannot be served refused with their name.

use crate::harness::Host;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A self-signed certificate for `localhost`, as PEM files, and as the client trusts it.
struct TestCertificate {
    cert: PathBuf,
    key: PathBuf,
    der: CertificateDer<'static>,
}

fn certificate(dir: &Path, name: &str) -> TestCertificate {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("a self-signed certificate");
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    TestCertificate {
        cert,
        key,
        der: made.cert.der().clone(),
    }
}

/// Sends one HTTP/1.1 request over TLS to `address` (host:port), trusting only `trusted`;
/// returns the whole answer as text.
fn https(address: &str, trusted: &CertificateDer<'static>, request: &str) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(address).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    tls.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    match tls.read_to_end(&mut answer) {
        Ok(_) => {}
        // A server may close without TLS's close_notify once it has answered in full.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => panic!("reading the HTTPS answer: {e}"),
    }
    String::from_utf8_lossy(&answer).into_owned()
}

fn address_of(api: &str) -> &str {
    let rest = api.strip_prefix("https://").expect("an https URL");
    rest.split('/').next().unwrap()
}

#[test]
fn https_serves_the_api_and_console_with_secure_cookies_and_hsts() {
    let host = Host::new();
    let tls = certificate(host.dir(), "console");
    let served = host.serve_http(&[
        "--tls-cert",
        tls.cert.to_str().unwrap(),
        "--tls-key",
        tls.key.to_str().unwrap(),
    ]);
    let address = address_of(&served.api).to_string();
    let log = served.background.log_text();
    assert!(
        !log.contains("warning"),
        "TLS on loopback warns of nothing: {log}"
    );

    let health = https(
        &address,
        &tls.der,
        "GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let lower = health.to_ascii_lowercase();
    assert!(
        lower.contains("strict-transport-security: max-age="),
        "{health}"
    );
    assert!(lower.contains("x-frame-options: deny"), "{health}");

    let body = format!(r#"{{"token":"{}"}}"#, served.admin_token);
    let login = https(
        &address,
        &tls.der,
        &format!(
            "POST /api/v1/session HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");
    let cookie = login
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a session cookie");
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Max-Age="] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(
        !login.contains(&served.admin_token),
        "the token never comes back: {login}"
    );

    let page = https(
        &address,
        &tls.der,
        "GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("<form"),
        "{page}"
    );

    // Plain HTTP on the TLS port gets no answer a browser would take.
    let plain = reqwest::blocking::Client::new()
        .get(format!("http://{address}/api/v1/health"))
        .timeout(std::time::Duration::from_secs(15))
        .send();
    assert!(
        plain.is_err(),
        "plain HTTP must not be served: {:?}",
        plain.map(|r| r.status())
    );
    // The server is still there for the next TLS client.
    let again = https(
        &address,
        &tls.der,
        "GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
}

#[test]
fn certificate_files_that_cannot_be_served_are_refused_with_their_name() {
    let host = Host::new();
    let good = certificate(host.dir(), "good");
    let other = certificate(host.dir(), "other");
    let garbage = host.dir().join("garbage.crt");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = host.dir().join("missing.key");
    let (good_cert, good_key, other_key) = (
        good.cert.to_str().unwrap(),
        good.key.to_str().unwrap(),
        other.key.to_str().unwrap(),
    );
    let serve = |cert: &str, key: &str| {
        host.fails(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert,
            "--tls-key",
            key,
        ])
    };

    let no_certificate = serve(garbage.to_str().unwrap(), good_key);
    assert!(
        no_certificate.contains("garbage.crt") && no_certificate.contains("no PEM certificate"),
        "{no_certificate}"
    );
    let no_key = serve(good_cert, missing.to_str().unwrap());
    assert!(
        no_key.contains("missing.key") && no_key.contains("private key"),
        "{no_key}"
    );
    let mismatched = serve(good_cert, other_key);
    assert!(
        mismatched.contains("cannot be served together"),
        "{mismatched}"
    );

    let half = host.run(&["serve", "--tls-cert", good_cert]);
    assert!(!half.status.success());
    assert!(
        String::from_utf8_lossy(&half.stderr).contains("--tls-key"),
        "a certificate needs its key"
    );
}

/// Raises this process's file-descriptor limit to its hard limit, for a test that opens
/// thousands of connections.
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
}

/// Opens up to `count` connections to `address` that send nothing, as a flood would, from
/// 40 threads at once; those the server's backlog has no room for are given up on.
fn silent_connections(address: &str, count: usize) -> Vec<std::net::TcpStream> {
    let address: std::net::SocketAddr = address.parse().unwrap();
    let threads = 40;
    std::thread::scope(|s| {
        let openers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || {
                    (0..count / threads)
                        .filter_map(|_| {
                            std::net::TcpStream::connect_timeout(
                                &address,
                                std::time::Duration::from_millis(300),
                            )
                            .ok()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        openers
            .into_iter()
            .flat_map(|o| o.join().unwrap())
            .collect()
    })
}

#[test]
fn two_thousand_silent_connections_shut_out_no_login_and_no_sync() {
    raise_fd_limit();
    let sim = wiz_sim::Simulator::start(wiz_sim::SimConfig::new(21, 5)).unwrap();
    let host = Host::new();
    crate::harness::assert_success(&host.add_wiz(
        "w",
        &sim,
        "sim-client",
        crate::harness::FULL_SECRET,
        &[],
    ));
    let cap = 300;
    let cap_arg = cap.to_string();

    // Plain HTTP.
    let served = host.serve_http(&["--max-connections", &cap_arg]);
    let address = served
        .api
        .strip_prefix("http://")
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    // A kept-alive connection silent after its answer is closed, like one that never
    // sent anything.
    let kept_alive = std::thread::spawn({
        let address = address.clone();
        move || {
            let mut tcp = std::net::TcpStream::connect(&address).unwrap();
            tcp.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            tcp.set_read_timeout(Some(std::time::Duration::from_secs(60)))
                .unwrap();
            let mut answer = [0u8; 4096];
            let read = tcp.read(&mut answer).unwrap();
            assert!(answer[..read].starts_with(b"HTTP/1.1 200"));
            let idle = std::time::Instant::now();
            assert_eq!(
                tcp.read(&mut answer).unwrap_or(0),
                0,
                "closed, not answered"
            );
            idle.elapsed()
        }
    });
    let flood = silent_connections(&address, 2000);
    assert!(flood.len() > cap, "the flood connected: {}", flood.len());
    let open = served.background.open_files();
    eprintln!(
        "{} silent connections, {open} files open (cap {cap})",
        flood.len()
    );
    assert!(
        open < cap + 64,
        "{open} files open with a cap of {cap} connections"
    );
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(90))
        .build()
        .unwrap();
    let login = client
        .post(format!("{}/session", served.api))
        .json(&serde_json::json!({"token": served.admin_token}))
        .send()
        .unwrap();
    assert_eq!(login.status(), reqwest::StatusCode::OK);
    let started = client
        .post(format!("{}/integrations/w/sync", served.api))
        .bearer_auth(&served.admin_token)
        .send()
        .unwrap();
    assert_eq!(started.status(), reqwest::StatusCode::ACCEPTED);
    crate::harness::wait_for(120, "the sync to end", || {
        let status: serde_json::Value = client
            .get(format!("{}/integrations/w/sync", served.api))
            .bearer_auth(&served.admin_token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        status["running"].is_null() && status["queued"].is_null() && !status["last"].is_null()
    });
    let history = host.json(&["history", "w"]);
    assert_eq!(history[0]["status"], "succeeded", "{history:?}");
    let open = served.background.open_files();
    assert!(open < cap + 64, "{open} files open after the sync");
    let idle = kept_alive.join().unwrap();
    assert!(
        idle < std::time::Duration::from_secs(30),
        "a silent kept-alive connection lived {idle:?}"
    );
    drop(flood);
    drop(served);

    // TLS: silent connections never finish a handshake.
    let tls = certificate(host.dir(), "flood");
    let served = host.serve_http(&[
        "--tls-cert",
        tls.cert.to_str().unwrap(),
        "--tls-key",
        tls.key.to_str().unwrap(),
        "--max-connections",
        &cap_arg,
    ]);
    let address = address_of(&served.api).to_string();
    let flood = silent_connections(&address, 2000);
    assert!(flood.len() > cap, "the flood connected: {}", flood.len());
    let body = serde_json::json!({"token": served.admin_token}).to_string();
    let answer = https(
        &address,
        &tls.der,
        &format!(
            "POST /api/v1/session HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let open = served.background.open_files();
    assert!(
        open < cap + 256 + 64 + 64,
        "{open} files open: the cap, the handshakes under way and the queue"
    );
    drop(flood);
}
