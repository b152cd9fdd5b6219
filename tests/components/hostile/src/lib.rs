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
//! - `malformed`: emits one batch mixing good records with broken ones;
//! - `flood`: emits batches without end (the per-run ceilings must stop it).
#![cfg(target_arch = "wasm32")]

mod wit {
    wit_bindgen::generate!({ path: "../../../wit", world: "connector" });
}

use wit::exports::safe::connector::plugin::Guest;
use wit::safe::connector::types as t;

struct Hostile;

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
        t::PluginInfo {
            name: "hostile".into(),
            version: "0.1.0".into(),
            contract_version: "0.1.0".into(),
            config_schema: vec![
                field("api-url", t::FieldKind::Url, true),
                field("mode", t::FieldKind::Text, true),
                field("target", t::FieldKind::Text, false),
            ],
        }
    }

    fn test_connection(_: Vec<t::ConfigEntry>) -> Result<Vec<t::CheckStep>, t::ConnectionFailure> {
        Ok(vec![])
    }

    fn sync(
        config: Vec<t::ConfigEntry>,
        _: Option<String>,
    ) -> Result<t::SyncSummary, t::ConnectorError> {
        match setting(&config, "mode").as_str() {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
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
            mode @ ("fetch" | "fetch-target") => {
                let url = setting(&config, if mode == "fetch" { "api-url" } else { "target" });
                let shown = url.clone();
                let outcome = wstd::runtime::block_on(async move {
                    let request = wstd::http::Request::get(&url)
                        .body(())
                        .map_err(|e| e.to_string())?;
                    wstd::http::Client::new()
                        .send(request)
                        .await
                        .map(|r| r.status().as_u16())
                        .map_err(|e| format!("{e:?}"))
                });
                match outcome {
                    Ok(status) => Err(t::ConnectorError::Internal(format!(
                        "request to {shown} went through with HTTP {status}"
                    ))),
                    Err(e) => Err(t::ConnectorError::Transient(format!(
                        "request to {shown} failed: {e}"
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
            other => Err(t::ConnectorError::Config(format!("unknown mode `{other}`"))),
        }
    }
}

wit::export!(Hostile with_types_in wit);
