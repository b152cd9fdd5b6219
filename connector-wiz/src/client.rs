//! An authenticated Wiz API client over any [`Transport`]: it fetches a token, reuses it
//! until shortly before it expires, and re-authenticates once when the API answers 401.

use crate::config::WizConfig;
use crate::error::ConnectorError;
use crate::protocol::{self, HttpResponse, Token};
use crate::retry::{RetryPolicy, jitter_unit};
use std::time::{Duration, Instant};

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The host refused to send it (destination not allowed).
    Denied(String),
    /// DNS, connect, TLS or reset.
    Network(String),
    /// No answer in time.
    Timeout(String),
}

/// Sends POST requests and waits. The component implements it over wasi:http.
pub trait Transport {
    /// POSTs `body` to `url` with `headers` and returns the whole answer.
    fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>>;

    /// Waits for `duration` (between retries).
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()>;
}

/// Whether an answer is worth another attempt: throttling and server-side failures.
fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504)
}

/// Renew a token this long before it expires, so no request carries a stale one.
const TOKEN_RENEW_MARGIN: Duration = Duration::from_secs(60);

/// A Wiz API client that owns the token.
pub struct WizClient<T> {
    transport: T,
    config: WizConfig,
    token: Option<(Token, Instant)>,
    retry: RetryPolicy,
    retries: u32,
    last_request: Option<Instant>,
}

impl<T: Transport> WizClient<T> {
    /// A client that will authenticate on first use.
    pub fn new(transport: T, config: WizConfig) -> Self {
        WizClient {
            transport,
            token: None,
            retry: config.retry,
            retries: 0,
            last_request: None,
            config,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &WizConfig {
        &self.config
    }

    /// POSTs with retries: network failures, timeouts, 429 and 5xx are tried again with
    /// backoff until the policy's attempts run out; the last outcome is returned.
    async fn post_with_retry(
        &mut self,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
        what: &str,
    ) -> Result<HttpResponse, ConnectorError> {
        let mut attempt = 1;
        loop {
            self.pace().await;
            let outcome = self.transport.post(url, headers, body.to_string()).await;
            let retry_after = match &outcome {
                Ok(r) if retryable_status(r.status) => r.retry_after,
                Err(TransportError::Network(_) | TransportError::Timeout(_)) => None,
                _ => return outcome.map_err(|e| transport_error(e, what, url)),
            };
            if attempt >= self.retry.max_attempts {
                return outcome.map_err(|e| transport_error(e, what, url));
            }
            self.retries += 1;
            let wait = self
                .retry
                .delay(attempt, retry_after, jitter_unit(self.retries));
            self.transport.sleep(wait).await;
            attempt += 1;
        }
    }

    /// Waits so that requests start at most `max_requests_per_second` a second.
    async fn pace(&mut self) {
        let gap = Duration::from_secs(1) / self.config.max_requests_per_second.max(1);
        if let Some(wait) = self
            .last_request
            .map(|last| gap.saturating_sub(last.elapsed()))
            .filter(|w| !w.is_zero())
        {
            self.transport.sleep(wait).await;
        }
        self.last_request = Some(Instant::now());
    }

    /// Fetches a new token from the token endpoint.
    pub async fn authenticate(&mut self) -> Result<(), ConnectorError> {
        let url = self.config.auth_url.clone();
        let body = protocol::token_request_body(&self.config);
        let response = self
            .post_with_retry(
                &url,
                &[("content-type", "application/x-www-form-urlencoded")],
                &body,
                "the token endpoint",
            )
            .await?;
        let token = protocol::parse_token_response(&response)?;
        let lifetime = Duration::from_secs(token.expires_in);
        let renew_at = Instant::now()
            + lifetime
                .saturating_sub(TOKEN_RENEW_MARGIN)
                .max(lifetime / 2);
        self.token = Some((token, renew_at));
        Ok(())
    }

    async fn bearer(&mut self) -> Result<String, ConnectorError> {
        if !matches!(&self.token, Some((_, renew_at)) if Instant::now() < *renew_at) {
            self.authenticate().await?;
        }
        let (token, _) = self.token.as_ref().expect("token was just set");
        Ok(format!("Bearer {}", token.access_token))
    }

    /// POSTs a GraphQL body and returns the raw answer. A 401 triggers one fresh token and
    /// one retry; a second 401 is left for the caller to classify as an auth error.
    pub async fn graphql(&mut self, body: String) -> Result<HttpResponse, ConnectorError> {
        let mut retried = false;
        loop {
            let bearer = self.bearer().await?;
            let url = self.config.graphql_url.clone();
            let response = self
                .transport
                .post(
                    &url,
                    &[
                        ("content-type", "application/json"),
                        ("authorization", &bearer),
                    ],
                    body.clone(),
                )
                .await
                .map_err(|e| transport_error(e, "the Wiz API", &url))?;
            if response.status == 401 && !retried {
                retried = true;
                self.token = None;
                continue;
            }
            return Ok(response);
        }
    }
}

/// A transport failure as a typed error that names the endpoint.
fn transport_error(error: TransportError, what: &str, url: &str) -> ConnectorError {
    match error {
        TransportError::Denied(m) => ConnectorError::Config(format!(
            "the host refused the request to {what} at {url}: {m}"
        )),
        TransportError::Network(m) => {
            ConnectorError::Transient(format!("cannot reach {what} at {url}: {m}"))
        }
        TransportError::Timeout(m) => {
            ConnectorError::Transient(format!("{what} at {url} did not answer in time: {m}"))
        }
    }
}
