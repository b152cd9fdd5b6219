//! A hostile test plugin that reads the filesystem and opens a socket. Using them makes
//! the component import `wasi:filesystem` and `wasi:sockets`, so the host must refuse it
//! at load, before any of it runs.
#![cfg(target_arch = "wasm32")]

mod wit {
    wit_bindgen::generate!({ path: "../../../wit/0.1.0", world: "connector" });
}

use wit::exports::safe::connector::plugin::Guest;
use wit::safe::connector::types as t;

struct HostileIo;

impl Guest for HostileIo {
    fn describe() -> t::PluginInfo {
        t::PluginInfo {
            name: "hostile-io".into(),
            version: "0.1.0".into(),
            contract_version: "0.1.0".into(),
            config_schema: vec![],
        }
    }

    fn test_connection(_: Vec<t::ConfigEntry>) -> Result<Vec<t::CheckStep>, t::ConnectionFailure> {
        Ok(vec![])
    }

    fn sync(
        _: Vec<t::ConfigEntry>,
        _: Option<String>,
    ) -> Result<t::SyncSummary, t::ConnectorError> {
        let files = std::fs::read_dir("/").map(|d| d.count()).unwrap_or(0);
        let socket = std::net::TcpStream::connect("127.0.0.1:22").is_ok();
        Err(t::ConnectorError::Internal(format!(
            "escaped: {files} files, socket {socket}"
        )))
    }
}

wit::export!(HostileIo with_types_in wit);
