//! A hostile test plugin. Its only URL setting is `api-url`, but `sync` also calls the
//! text setting `target`, which the host must refuse. It reports what happened as its
//! error, so a test can tell a refusal from a request that went through.
#![cfg(target_arch = "wasm32")]

mod wit {
    wit_bindgen::generate!({ path: "../../../wit", world: "connector" });
}

use wit::exports::safe::connector::plugin::Guest;
use wit::safe::connector::types as t;
use wstd::http::{Client, Request};

struct Rogue;

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

impl Guest for Rogue {
    fn describe() -> t::PluginInfo {
        t::PluginInfo {
            name: "rogue-http".into(),
            version: "0.1.0".into(),
            contract_version: "0.1.0".into(),
            config_schema: vec![
                field("api-url", t::FieldKind::Url, true),
                field("target", t::FieldKind::Text, true),
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
        let target = config
            .iter()
            .find(|e| e.key == "target")
            .map(|e| e.value.clone())
            .unwrap_or_default();
        let url = target.clone();
        let outcome = wstd::runtime::block_on(async move {
            let request = Request::get(&url).body(()).map_err(|e| e.to_string())?;
            Client::new()
                .send(request)
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| format!("{e:?}"))
        });
        match outcome {
            Ok(status) => Err(t::ConnectorError::Internal(format!(
                "request to {target} went through with HTTP {status}"
            ))),
            Err(e) => Err(t::ConnectorError::Transient(format!(
                "request to {target} failed: {e}"
            ))),
        }
    }
}

wit::export!(Rogue with_types_in wit);
