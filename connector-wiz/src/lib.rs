//! The Wiz connector: pulls Wiz issues and the cloud resources they concern, and hands
//! them to the host as normalised findings and assets.
//!
//! Built on `connector-sdk`: everything here is Wiz's own (its settings, GraphQL protocol,
//! token handling, rules and mapping) and plain Rust, unit-tested natively with the SDK's
//! test kit; the SDK binds [`Wiz`] to the contract and to wasi:http in the component.
#![deny(missing_docs)]

pub mod client;
pub mod config;
pub mod connection;
pub mod mapping;
pub mod model;
pub mod page;
pub mod protocol;
pub mod state;
pub mod sync;

use connector_sdk::http::Transport;
use connector_sdk::{ConnectionFailure, Connector, ConnectorError, Description, Host, Settings};
use connector_sdk::{Step, Stream, SyncSummary};

/// The one stream Wiz offers.
pub const ISSUES_STREAM: &str = "issues";

/// The Wiz connector.
pub struct Wiz;

impl Connector for Wiz {
    fn describe() -> Description {
        Description {
            name: "wiz",
            version: env!("CARGO_PKG_VERSION"),
            fields: config::schema(),
            streams: vec![Stream {
                name: ISSUES_STREAM,
                label: "Issues",
                description: "Wiz issues (controls, threat detections, cloud configuration rules) and the cloud resources they concern. Needs read:issues; read:resources adds technologies as asset types.",
                default_on: true,
            }],
            fixed_endpoints: Vec::new(),
        }
    }

    async fn test_connection<T: Transport>(
        settings: &Settings,
        transport: T,
    ) -> Result<Vec<Step>, ConnectionFailure> {
        let config = config::WizConfig::from_settings(settings)?;
        connection::test_connection(client::WizClient::new(transport, config)).await
    }

    async fn sync<T: Transport, H: Host>(
        settings: &Settings,
        streams: &[String],
        state: Option<&str>,
        transport: T,
        host: &mut H,
    ) -> Result<SyncSummary, ConnectorError> {
        connector_sdk::check_streams(streams, &[ISSUES_STREAM])?;
        let config = config::WizConfig::from_settings(settings)?;
        let client = client::WizClient::new(transport, config);
        sync::Sync::new(client, host).run(state).await
    }
}

#[cfg(feature = "component")]
connector_sdk::export_connector!(Wiz);
