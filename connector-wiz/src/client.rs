//! An authenticated Wiz API client over any [`Transport`]: it fetches a token, reuses it
//! until shortly before it expires, and re-authenticates once when the API answers 401.

use crate::config::WizConfig;
use crate::error::ConnectorError;
use crate::protocol::{self, HttpResponse, Token};
use crate::retry::{RetryPolicy, jitter_unit};
use std::cell::{Cell, RefCell};
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

/// A Wiz API client that owns the token. Its methods take `&self`, so requests can run
/// concurrently (a page fetch beside an inventory lookup); the shared token and request
/// pacing live in cells, as the connector runs on one thread.
pub struct WizClient<T> {
    transport: T,
    config: WizConfig,
    token: RefCell<Option<(Token, Instant)>>,
    retry: RetryPolicy,
    retries: Cell<u32>,
    /// The earliest start of the next request under the rate ceiling.
    next_slot: Cell<Option<Instant>>,
}

impl<T: Transport> WizClient<T> {
    /// A client that will authenticate on first use.
    pub fn new(transport: T, config: WizConfig) -> Self {
        WizClient {
            transport,
            token: RefCell::new(None),
            retry: config.retry,
            retries: Cell::new(0),
            next_slot: Cell::new(None),
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
        &self,
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
            self.back_off(attempt, retry_after).await;
            attempt += 1;
        }
    }

    /// Waits before retry number `attempt`: the server's `Retry-After`, else jittered
    /// exponential backoff.
    async fn back_off(&self, attempt: u32, retry_after: Option<u32>) {
        self.retries.set(self.retries.get() + 1);
        let wait = self
            .retry
            .delay(attempt, retry_after, jitter_unit(self.retries.get()));
        self.transport.sleep(wait).await;
    }

    /// Waits so that requests start at most `max_requests_per_second` a second: each
    /// starts at least 1/rate after the one before, measured from when they really
    /// started. Concurrent requests take turns.
    async fn pace(&self) {
        // 2% over 1/rate, so that no one-second window ever holds rate + 1 starts, even
        // with the clock read a little apart from where the request leaves.
        let gap = Duration::from_secs(1) * 102 / 100 / self.config.max_requests_per_second.max(1);
        loop {
            let now = Instant::now();
            match self.next_slot.get().filter(|slot| *slot > now) {
                Some(slot) => self.transport.sleep(slot - now).await,
                None => {
                    self.next_slot.set(Some(now + gap));
                    return;
                }
            }
        }
    }

    /// Fetches a new token from the token endpoint.
    pub async fn authenticate(&self) -> Result<(), ConnectorError> {
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
        *self.token.borrow_mut() = Some((token, renew_at));
        Ok(())
    }

    /// The `authorization` header value, with a fresh token when the one held is due for
    /// renewal.
    async fn bearer(&self) -> Result<String, ConnectorError> {
        let current = |fresh: bool| {
            self.token
                .borrow()
                .as_ref()
                .filter(|(_, renew_at)| fresh || Instant::now() < *renew_at)
                .map(|(token, _)| format!("Bearer {}", token.access_token))
        };
        if let Some(bearer) = current(false) {
            return Ok(bearer);
        }
        self.authenticate().await?;
        // A token that is due for renewal at once (a tiny lifetime) is still used once.
        current(true)
            .ok_or_else(|| ConnectorError::Internal("no token after authenticating".into()))
    }

    /// POSTs a GraphQL body and returns the raw answer. A 401 triggers one fresh token and
    /// one retry; a second 401 is left for the caller to classify as an auth error.
    pub async fn graphql(&self, body: String) -> Result<HttpResponse, ConnectorError> {
        let mut retried = false;
        loop {
            let bearer = self.bearer().await?;
            let url = self.config.graphql_url.clone();
            let headers = [
                ("content-type", "application/json"),
                ("authorization", bearer.as_str()),
            ];
            let response = self
                .post_with_retry(&url, &headers, &body, "the Wiz API")
                .await?;
            if response.status == 401 && !retried {
                retried = true;
                *self.token.borrow_mut() = None;
                continue;
            }
            return Ok(response);
        }
    }
}

impl<T: Transport> WizClient<T> {
    /// Runs a GraphQL request and reads its answer with `parse`. Answers that arrive fine
    /// but carry a transient GraphQL error (INTERNAL, RATE_LIMIT_EXCEEDED) are retried with
    /// the same policy; HTTP-level failures were already retried below.
    pub async fn query<R>(
        &self,
        body: String,
        parse: impl Fn(&HttpResponse) -> Result<R, ConnectorError>,
    ) -> Result<R, ConnectorError> {
        let mut attempt = 1;
        loop {
            let response = self.graphql(body.clone()).await?;
            let parsed = parse(&response);
            let retry_after = match &parsed {
                Err(ConnectorError::Transient(_)) if response.status == 200 => None,
                Err(ConnectorError::RateLimited {
                    retry_after_seconds,
                    ..
                }) if response.status == 200 => *retry_after_seconds,
                _ => return parsed,
            };
            if attempt >= self.retry.max_attempts {
                return parsed;
            }
            self.back_off(attempt, retry_after).await;
            attempt += 1;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Answers from a script, recording requests and waits.
    struct Scripted {
        answers: RefCell<VecDeque<Result<HttpResponse, TransportError>>>,
        posts: RefCell<Vec<String>>,
        sleeps: RefCell<Vec<Duration>>,
    }

    impl Transport for &Scripted {
        async fn post(
            &self,
            url: &str,
            _: &[(&str, &str)],
            _: String,
        ) -> Result<HttpResponse, TransportError> {
            self.posts.borrow_mut().push(url.to_string());
            self.answers
                .borrow_mut()
                .pop_front()
                .expect("a scripted answer")
        }
        async fn sleep(&self, duration: Duration) {
            self.sleeps.borrow_mut().push(duration);
        }
    }

    impl Scripted {
        fn new(answers: impl IntoIterator<Item = Result<HttpResponse, TransportError>>) -> Self {
            Scripted {
                answers: RefCell::new(answers.into_iter().collect()),
                posts: RefCell::default(),
                sleeps: RefCell::default(),
            }
        }
    }

    fn answer(status: u16, body: &str) -> Result<HttpResponse, TransportError> {
        Ok(HttpResponse {
            status,
            retry_after: (status == 429).then_some(2),
            body: body.as_bytes().to_vec(),
        })
    }

    fn run<F: Future>(f: F) -> F::Output {
        // The futures here never wait on I/O, so polling once to completion suffices.
        let mut f = std::pin::pin!(f);
        let waker = std::task::Waker::noop();
        match f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("scripted transport never pends"),
        }
    }

    fn config(attempts: &str) -> WizConfig {
        WizConfig::from_entries([
            ("api-url", "https://api.example"),
            ("client-id", "id"),
            ("client-secret", "secret"),
            ("max-attempts", attempts),
            ("max-requests-per-second", "100"),
        ])
        .unwrap()
    }

    const TOKEN: &str = r#"{"access_token":"t","expires_in":3600}"#;

    #[test]
    fn transient_answers_are_retried_with_backoff_and_retry_after() {
        let script = Scripted::new([
            answer(200, TOKEN),
            answer(500, ""),
            answer(429, ""),
            Err(TransportError::Network("reset".into())),
            answer(200, "{}"),
        ]);
        let client = WizClient::new(&script, config("4"));
        let response = run(client.graphql("{}".into())).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(script.posts.borrow().len(), 5);
        let sleeps = script.sleeps.borrow();
        assert!(
            sleeps.iter().any(|s| *s == Duration::from_secs(2)),
            "Retry-After honoured: {sleeps:?}"
        );
    }

    #[test]
    fn attempts_are_bounded() {
        let script = Scripted::new([answer(200, TOKEN), answer(503, ""), answer(503, "")]);
        let client = WizClient::new(&script, config("2"));
        assert_eq!(run(client.graphql("{}".into())).unwrap().status, 503);
        assert_eq!(script.posts.borrow().len(), 3, "token + 2 attempts");
    }

    #[test]
    fn transient_graphql_errors_are_retried() {
        let internal =
            r#"{"data":null,"errors":[{"message":"boom","extensions":{"code":"INTERNAL"}}]}"#;
        let page = r#"{"data":{"issues":{"nodes":[],"pageInfo":{"hasNextPage":false}}}}"#;
        let script = Scripted::new([answer(200, TOKEN), answer(200, internal), answer(200, page)]);
        let client = WizClient::new(&script, config("3"));
        assert!(run(client.query("{}".into(), crate::protocol::parse_issues_page)).is_ok());
        let denied = r#"{"data":null,"errors":[{"message":"access denied","extensions":{"code":"UNAUTHORIZED"}}]}"#;
        script.answers.borrow_mut().push_back(answer(200, denied));
        let err = run(client.query("{}".into(), crate::protocol::parse_issues_page)).unwrap_err();
        assert!(
            matches!(err, ConnectorError::Permission(_)),
            "permission errors are not retried: {err}"
        );
    }

    #[test]
    fn a_401_gets_one_fresh_token() {
        let script = Scripted::new([
            answer(200, TOKEN),
            answer(401, ""),
            answer(200, TOKEN),
            answer(401, ""),
        ]);
        let client = WizClient::new(&script, config("3"));
        assert_eq!(
            run(client.graphql("{}".into())).unwrap().status,
            401,
            "a second 401 is left to the caller (auth error)"
        );
        assert_eq!(
            script
                .posts
                .borrow()
                .iter()
                .filter(|u| u.contains("oauth"))
                .count(),
            2
        );
    }
}
