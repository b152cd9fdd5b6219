//! What every handler shares.

use super::throttle::LoginThrottle;
use crate::service::Platform;
use std::sync::Arc;
use std::time::Duration;

/// How the HTTP front end behaves.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// How long a console session lasts.
    pub session_lifetime: Duration,
    /// Whether it is served over TLS: cookies are then `Secure`, and browsers are told to
    /// come back over HTTPS only (`Strict-Transport-Security`).
    pub https: bool,
    /// How long a failed login waits before it is answered.
    pub failed_login_delay: Duration,
    /// Proxies whose forwarded client address and scheme are believed (`--trusted-proxy`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The one header those proxies put the client in (`--proxy-header`).
    pub proxy_header: super::client::ProxyHeader,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            session_lifetime: Duration::from_secs(12 * 3600),
            https: false,
            failed_login_delay: Duration::from_secs(1),
            trusted_proxies: Vec::new(),
            proxy_header: Default::default(),
        }
    }
}

/// The platform, the configuration and the login throttle.
#[derive(Clone)]
pub struct AppState {
    pub platform: Arc<Platform>,
    pub config: Arc<WebConfig>,
    pub throttle: Arc<LoginThrottle>,
    pub streams: Arc<super::streams::StreamSlots>,
}

impl AppState {
    pub fn new(platform: Arc<Platform>, config: WebConfig) -> Self {
        AppState {
            platform,
            config: Arc::new(config),
            throttle: Arc::default(),
            streams: Arc::default(),
        }
    }
}
