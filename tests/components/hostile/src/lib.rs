//! A hostile test plugin. `sync` misbehaves as its `mode` setting says:
//!
//! - `loop`: spins forever (the host's deadline must stop it);
//! - `allocate`: grows memory without bound (the memory limit must stop it);
//! - `panic`: panics (a trap; the message must reach the run's error);
//! - `environment`: reports any environment variable or argument it can see (there must
//!   be none);
//! - `fetch`: fetches its `api-url` (a link-local metadata address must be refused even
//!   though the config names it).
#![cfg(target_arch = "wasm32")]

mod wit {
    wit_bindgen::generate!({ path: "../../../wit", world: "connector" });
}

use wit::exports::safe::connector::plugin::Guest;
use wit::safe::connector::types as t;

struct Hostile;

fn field(key: &str, kind: t::FieldKind) -> t::ConfigField {
    t::ConfigField {
        key: key.into(),
        label: key.into(),
        help: String::new(),
        kind,
        required: true,
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
                field("api-url", t::FieldKind::Url),
                field("mode", t::FieldKind::Text),
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
            "fetch" => {
                let url = setting(&config, "api-url");
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
                Err(t::ConnectorError::Transient(format!(
                    "fetch outcome: {outcome:?}"
                )))
            }
            other => Err(t::ConnectorError::Config(format!("unknown mode `{other}`"))),
        }
    }
}

wit::export!(Hostile with_types_in wit);
