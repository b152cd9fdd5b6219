//! The GitHub Dependabot connector: an organization's Dependabot alerts as vulnerability
//! findings on its repositories, over GitHub's REST API.
//!
//! Built on `connector-sdk` and contract 0.2: everything here is GitHub's own (settings,
//! REST conventions and rate limits, the alert's shape and its mapping); plain Rust,
//! unit-tested natively with the SDK's test kit.
#![deny(missing_docs)]

pub mod api;
pub mod config;
pub mod connection;
pub mod mapping;
pub mod model;
pub mod sync;

use connector_sdk::http::Transport;
use connector_sdk::{ConnectionFailure, Connector, ConnectorError, Description, Host, Settings};
use connector_sdk::{Step, Stream, SyncSummary};

/// The GitHub Dependabot connector.
pub struct GithubDependabot;

impl Connector for GithubDependabot {
    fn describe() -> Description {
        Description {
            name: "github-dependabot",
            version: env!("CARGO_PKG_VERSION"),
            fields: config::schema(),
            streams: vec![Stream {
                name: mapping::STREAM,
                label: "Dependabot alerts",
                description: "Vulnerable dependencies GitHub found in the organization's repositories, in every state. Needs the Dependabot alerts (read) permission.",
                default_on: true,
            }],
            fixed_endpoints: Vec::new(),
        }
    }

    async fn test_connection<T: Transport>(
        settings: &Settings,
        transport: T,
    ) -> Result<Vec<Step>, ConnectionFailure> {
        let config = config::GithubConfig::from_settings(settings)?;
        connection::test_connection(&api::GithubApi::new(transport, config)).await
    }

    async fn sync<T: Transport, H: Host>(
        settings: &Settings,
        streams: &[String],
        state: Option<&str>,
        transport: T,
        host: &mut H,
    ) -> Result<SyncSummary, ConnectorError> {
        connector_sdk::check_streams(streams, &[mapping::STREAM])?;
        let config = config::GithubConfig::from_settings(settings)?;
        sync::run(&api::GithubApi::new(transport, config), host, state).await
    }
}

#[cfg(feature = "component")]
connector_sdk::export_connector!(GithubDependabot);
