//! An authenticated Wiz API client over any [`Transport`]: it fetches a token, reuses it
//! until shortly before it expires, re-authenticates once when the API answers 401, and
//! retries what is transient within one budget of attempts per request.

use crate::config::WizConfig;
use crate::error::ConnectorError;
use crate::protocol::{self, HttpResponse, Token};
use crate::retry::{Backoff, jitter_unit};
use futures_util::future::{Either, select};
use std::cell::{Cell, RefCell};
use std::pin::pin;
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

    /// Waits for `duration` (between retries, and as the request timeout).
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()>;

    /// The time now, on the clock `sleep` waits by.
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// Whether an answer is worth another attempt: throttling and server-side failures.
fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504)
}

/// Renew a token this long before it expires, so no request carries a stale one.
const TOKEN_RENEW_MARGIN: Duration = Duration::from_secs(60);

/// The failed tries of one logical request (an issues page, an inventory lookup, one
/// query of the connection test). Every layer that retries on its behalf draws on it:
/// HTTP failures, GraphQL errors, the fresh token after a 401 and failed token requests
/// on the way. So the tries add up to `max-attempts` instead of multiplying.
#[derive(Debug, Default)]
struct Attempts {
    failed: u32,
}

/// Whether a failed try may be followed by another.
enum Verdict {
    /// The wait is over; try again.
    Retry,
    /// The budget is spent; the last outcome stands.
    Spent,
    /// The server asked for a wait (seconds) longer than the cap.
    WaitTooLong(u32),
}

/// A Wiz API client that owns the token. Its methods take `&self`, so requests can run
/// concurrently (a page fetch beside an inventory lookup); the shared token and request
/// pacing live in cells, as the connector runs on one thread.
pub struct WizClient<T> {
    transport: T,
    config: WizConfig,
    token: RefCell<Option<(Token, Instant)>>,
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
            retries: Cell::new(0),
            next_slot: Cell::new(None),
            config,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &WizConfig {
        &self.config
    }

    /// Records a failed try and, when another is allowed, waits for it: jittered
    /// exponential backoff, or, when the server asked for a wait, exactly that long for
    /// every request of this client (requests in flight side by side hold back too).
    async fn after_failure(&self, attempts: &mut Attempts, retry_after: Option<u32>) -> Verdict {
        if !self.spend(attempts) {
            return Verdict::Spent;
        }
        self.retries.set(self.retries.get() + 1);
        let jitter = jitter_unit(self.retries.get());
        match self
            .config
            .retry
            .backoff(attempts.failed, retry_after, jitter)
        {
            Backoff::Asked(wait) => {
                // `send_once` paces every request, this retry included, past the hold.
                self.hold_requests_until(self.transport.now() + wait);
                Verdict::Retry
            }
            Backoff::Wait(wait) => {
                self.transport.sleep(wait).await;
                Verdict::Retry
            }
            Backoff::TooLong(seconds) => Verdict::WaitTooLong(seconds),
        }
    }

    /// Counts a failed try; whether the budget allows another.
    fn spend(&self, attempts: &mut Attempts) -> bool {
        attempts.failed += 1;
        attempts.failed < self.config.retry.max_attempts
    }

    /// The error for a server that asked to wait longer than `max-retry-delay-s`.
    fn wait_too_long(&self, what: &str, seconds: u32) -> ConnectorError {
        ConnectorError::RateLimited {
            retry_after_seconds: Some(seconds),
            message: format!(
                "{what} asked to wait {seconds} s before trying again, longer than max-retry-delay-s ({} s)",
                self.config.retry.max_delay.as_secs()
            ),
        }
    }

    /// One POST under the rate ceiling, bounded as a whole by `request-timeout-s`: a body
    /// that trickles in byte by byte times out like a server that never answers.
    async fn send_once(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<HttpResponse, TransportError> {
        self.pace().await;
        let timeout = self.config.request_timeout;
        let post = pin!(self.transport.post(url, headers, body.to_string()));
        match select(post, pin!(self.transport.sleep(timeout))).await {
            Either::Left((outcome, _)) => outcome,
            Either::Right(_) => Err(TransportError::Timeout(format!(
                "no complete answer within {} s (request-timeout-s)",
                timeout.as_secs()
            ))),
        }
    }

    /// POSTs, retrying network failures, timeouts, 429 and 5xx within `attempts`; the
    /// last outcome is returned when they run out.
    async fn post_with_retry(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
        what: &str,
        attempts: &mut Attempts,
    ) -> Result<HttpResponse, ConnectorError> {
        loop {
            let outcome = self.send_once(url, headers, body).await;
            let retry_after = match &outcome {
                Ok(r) if retryable_status(r.status) => protocol::requested_wait(r),
                Err(TransportError::Network(_) | TransportError::Timeout(_)) => None,
                _ => return outcome.map_err(|e| transport_error(e, what, url)),
            };
            match self.after_failure(attempts, retry_after).await {
                Verdict::Retry => continue,
                Verdict::Spent => return outcome.map_err(|e| transport_error(e, what, url)),
                Verdict::WaitTooLong(seconds) => return Err(self.wait_too_long(what, seconds)),
            }
        }
    }

    /// Starts no request before `until` (a wait the server asked for).
    fn hold_requests_until(&self, until: Instant) {
        if self.next_slot.get().is_none_or(|slot| slot < until) {
            self.next_slot.set(Some(until));
        }
    }

    /// Waits so that requests start at most `max_requests_per_second` a second: each
    /// starts at least 1/rate after the one before, measured from when they really
    /// started, and none before a hold ends. Concurrent requests take turns.
    async fn pace(&self) {
        // 2% over 1/rate, so that no one-second window ever holds rate + 1 starts, even
        // with the clock read a little apart from where the request leaves.
        let gap = Duration::from_secs(1) * 102 / 100 / self.config.max_requests_per_second.max(1);
        loop {
            let now = self.transport.now();
            match self.next_slot.get().filter(|slot| *slot > now) {
                Some(slot) => self.transport.sleep(slot - now).await,
                None => {
                    self.next_slot.set(Some(now + gap));
                    return;
                }
            }
        }
    }

    /// Fetches a new token from the token endpoint, with a budget of its own.
    pub async fn authenticate(&self) -> Result<(), ConnectorError> {
        self.authenticate_within(&mut Attempts::default()).await
    }

    /// Fetches a new token, its retries drawn from the request it is fetched for.
    async fn authenticate_within(&self, attempts: &mut Attempts) -> Result<(), ConnectorError> {
        let url = self.config.auth_url.clone();
        let body = protocol::token_request_body(&self.config);
        let response = self
            .post_with_retry(
                &url,
                &[("content-type", "application/x-www-form-urlencoded")],
                &body,
                "the token endpoint",
                attempts,
            )
            .await?;
        let token = protocol::parse_token_response(&response)?;
        // The lifetime is clamped to at most a day, so this cannot overflow.
        let lifetime = Duration::from_secs(token.expires_in);
        let renew_at = self.transport.now()
            + lifetime
                .saturating_sub(TOKEN_RENEW_MARGIN)
                .max(lifetime / 2);
        *self.token.borrow_mut() = Some((token, renew_at));
        Ok(())
    }

    /// The `authorization` header value, with a fresh token when the one held is due for
    /// renewal.
    async fn bearer(&self, attempts: &mut Attempts) -> Result<String, ConnectorError> {
        let current = |fresh: bool| {
            self.token
                .borrow()
                .as_ref()
                .filter(|(_, renew_at)| fresh || self.transport.now() < *renew_at)
                .map(|(token, _)| format!("Bearer {}", token.access_token))
        };
        if let Some(bearer) = current(false) {
            return Ok(bearer);
        }
        self.authenticate_within(attempts).await?;
        // A token that is due for renewal at once is still used once.
        current(true)
            .ok_or_else(|| ConnectorError::Internal("no token after authenticating".into()))
    }

    /// POSTs a GraphQL body within `attempts`. A 401 triggers one fresh token and one
    /// more try; a second 401 (or a 401 with the budget spent) is left for the caller to
    /// classify as an auth error.
    async fn graphql_within(
        &self,
        body: &str,
        attempts: &mut Attempts,
    ) -> Result<HttpResponse, ConnectorError> {
        let mut refreshed = false;
        loop {
            let bearer = self.bearer(attempts).await?;
            let url = self.config.graphql_url.clone();
            let headers = [
                ("content-type", "application/json"),
                ("authorization", bearer.as_str()),
            ];
            let response = self
                .post_with_retry(&url, &headers, body, "the Wiz API", attempts)
                .await?;
            if response.status != 401 || refreshed {
                return Ok(response);
            }
            // A stale token is a failed try too; the fresh one is fetched at once.
            refreshed = true;
            *self.token.borrow_mut() = None;
            if !self.spend(attempts) {
                return Ok(response);
            }
        }
    }

    /// Runs a GraphQL request and reads its answer with `parse`. Answers that arrive fine
    /// but carry a transient GraphQL error (INTERNAL, RATE_LIMIT_EXCEEDED) are retried
    /// within the same budget as the HTTP failures below them.
    pub async fn query<R>(
        &self,
        body: String,
        parse: impl Fn(&HttpResponse) -> Result<R, ConnectorError>,
    ) -> Result<R, ConnectorError> {
        let mut attempts = Attempts::default();
        loop {
            let response = self.graphql_within(&body, &mut attempts).await?;
            let parsed = parse(&response);
            let retry_after = match &parsed {
                Err(ConnectorError::Transient(_)) if response.status == 200 => None,
                Err(ConnectorError::RateLimited {
                    retry_after_seconds,
                    ..
                }) if response.status == 200 => *retry_after_seconds,
                _ => return parsed,
            };
            match self.after_failure(&mut attempts, retry_after).await {
                Verdict::Retry => continue,
                Verdict::Spent => return parsed,
                Verdict::WaitTooLong(seconds) => {
                    return Err(self.wait_too_long("the Wiz API", seconds));
                }
            }
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

    /// Answers from a script, recording requests and waits, on a clock that only its
    /// sleeps move (so tests neither wait nor spin). A hanging one answers nothing, ever.
    struct Scripted {
        answers: RefCell<VecDeque<Result<HttpResponse, TransportError>>>,
        hang: bool,
        posts: RefCell<Vec<String>>,
        sleeps: RefCell<Vec<Duration>>,
        clock: FakeClock,
    }

    /// A clock that starts now and moves only when slept on.
    struct FakeClock {
        start: Instant,
        elapsed: Cell<Duration>,
    }

    impl Default for FakeClock {
        fn default() -> Self {
            FakeClock {
                start: Instant::now(),
                elapsed: Cell::new(Duration::ZERO),
            }
        }
    }

    impl FakeClock {
        fn now(&self) -> Instant {
            self.start + self.elapsed.get()
        }
        fn sleep(&self, duration: Duration) {
            self.elapsed.set(self.elapsed.get() + duration);
        }
    }

    impl Transport for &Scripted {
        async fn post(
            &self,
            url: &str,
            _: &[(&str, &str)],
            _: String,
        ) -> Result<HttpResponse, TransportError> {
            self.posts.borrow_mut().push(url.to_string());
            if self.hang {
                return std::future::pending().await;
            }
            self.answers
                .borrow_mut()
                .pop_front()
                .expect("a scripted answer")
        }
        async fn sleep(&self, duration: Duration) {
            self.sleeps.borrow_mut().push(duration);
            self.clock.sleep(duration);
        }
        fn now(&self) -> Instant {
            self.clock.now()
        }
    }

    impl Scripted {
        fn new(answers: impl IntoIterator<Item = Result<HttpResponse, TransportError>>) -> Self {
            Scripted {
                answers: RefCell::new(answers.into_iter().collect()),
                hang: false,
                posts: RefCell::default(),
                sleeps: RefCell::default(),
                clock: FakeClock::default(),
            }
        }

        /// A transport whose requests never complete, like a body that trickles forever.
        fn hanging() -> Self {
            Scripted {
                hang: true,
                ..Scripted::new([])
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

    /// Test settings: a fast rate ceiling, plus `extra`.
    fn config_with(extra: &[(&str, &str)]) -> WizConfig {
        let base = [
            ("api-url", "https://api.example"),
            ("client-id", "id"),
            ("client-secret", "secret"),
            ("max-requests-per-second", "100"),
        ];
        WizConfig::from_entries(base.iter().chain(extra).copied()).unwrap()
    }

    fn config(attempts: &str) -> WizConfig {
        config_with(&[("max-attempts", attempts)])
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
        let response = run(client.graphql_within("{}", &mut Attempts::default())).unwrap();
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
        assert_eq!(
            run(client.graphql_within("{}", &mut Attempts::default()))
                .unwrap()
                .status,
            503
        );
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
            run(client.graphql_within("{}", &mut Attempts::default()))
                .unwrap()
                .status,
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

    const INTERNAL: &str =
        r#"{"data":null,"errors":[{"message":"boom","extensions":{"code":"INTERNAL"}}]}"#;

    /// Token expiry plus server errors at every layer: GraphQL errors, HTTP 5xx, a stale
    /// token and a failing token endpoint all draw on one budget of `max-attempts`.
    #[test]
    fn attempts_add_up_across_layers_instead_of_multiplying() {
        let script = Scripted::new([
            answer(200, TOKEN),
            answer(200, INTERNAL), // 1st failed try: a GraphQL error
            answer(401, ""),       // 2nd: the token went stale
            answer(503, ""),       // 3rd: the token endpoint is down
            answer(502, ""),       // 4th: still down
            answer(200, TOKEN),
            answer(503, ""),   // 5th: the API fails; the budget is spent
            answer(200, "{}"), // never asked for
        ]);
        let client = WizClient::new(&script, config("5"));
        let err = run(client.query("{}".into(), crate::protocol::parse_issues_page)).unwrap_err();
        assert!(matches!(err, ConnectorError::Transient(_)), "{err}");
        let posts = script.posts.borrow();
        assert_eq!(posts.len(), 7, "{posts:?}");
        assert_eq!(
            posts.iter().filter(|u| !u.contains("oauth")).count(),
            3,
            "GraphQL tries"
        );
        assert_eq!(script.answers.borrow().len(), 1, "the budget stopped it");
    }

    #[test]
    fn every_failure_kind_is_bounded_by_the_same_budget() {
        for failure in [
            answer(200, INTERNAL),
            answer(503, ""),
            Err(TransportError::Network("reset".into())),
        ] {
            let mut answers = vec![answer(200, TOKEN)];
            answers.extend(std::iter::repeat_n(failure, 30));
            let script = Scripted::new(answers);
            let client = WizClient::new(&script, config("4"));
            assert!(run(client.query("{}".into(), crate::protocol::parse_issues_page)).is_err());
            assert_eq!(script.posts.borrow().len(), 1 + 4, "token + 4 tries");
        }
    }

    fn answer_with_wait(
        status: u16,
        header: Option<u32>,
        body: &str,
    ) -> Result<HttpResponse, TransportError> {
        Ok(HttpResponse {
            status,
            retry_after: header,
            body: body.as_bytes().to_vec(),
        })
    }

    fn rate_limited_body(retry_after: &str) -> String {
        format!(
            r#"{{"data":null,"errors":[{{"message":"slow down","extensions":{{"code":"RATE_LIMIT_EXCEEDED","retryAfter":{retry_after}}}}}]}}"#
        )
    }

    #[test]
    fn a_wait_longer_than_the_cap_fails_as_rate_limited_without_retrying_early() {
        let page = r#"{"data":{"issues":{"nodes":[],"pageInfo":{"hasNextPage":false}}}}"#;
        // In the header of a 429, in the GraphQL error of a 200, in the body of a 429.
        for (first, asked) in [
            (answer_with_wait(429, Some(30), ""), 30),
            (answer_with_wait(200, None, &rate_limited_body("120")), 120),
            (
                answer_with_wait(429, Some(2), &rate_limited_body("\"45.5\"")),
                46,
            ),
        ] {
            let script = Scripted::new([answer(200, TOKEN), first, answer(200, page)]);
            let client = WizClient::new(&script, config_with(&[("max-retry-delay-s", "10")]));
            let err =
                run(client.query("{}".into(), crate::protocol::parse_issues_page)).unwrap_err();
            match &err {
                ConnectorError::RateLimited {
                    retry_after_seconds,
                    message,
                } => {
                    assert_eq!(*retry_after_seconds, Some(asked), "{message}");
                    assert!(message.contains("max-retry-delay-s (10 s)"), "{message}");
                }
                other => panic!("{other}"),
            }
            assert_eq!(script.posts.borrow().len(), 2, "no early retry");
            assert!(
                script
                    .sleeps
                    .borrow()
                    .iter()
                    .all(|s| *s < Duration::from_secs(1)),
                "no wait but the rate ceiling's: {:?}",
                script.sleeps.borrow()
            );
        }
    }

    #[test]
    fn a_wait_within_the_cap_is_kept_exactly() {
        let page = r#"{"data":{"issues":{"nodes":[],"pageInfo":{"hasNextPage":false}}}}"#;
        let script = Scripted::new([
            answer(200, TOKEN),
            answer_with_wait(200, Some(3), &rate_limited_body("7")),
            answer_with_wait(503, Some(4), ""),
            answer(200, page),
        ]);
        let client = WizClient::new(&script, config_with(&[("max-retry-delay-s", "10")]));
        assert!(run(client.query("{}".into(), crate::protocol::parse_issues_page)).is_ok());
        let sleeps = script.sleeps.borrow();
        let waits: Vec<_> = sleeps.iter().filter(|s| s.as_secs() >= 1).collect();
        assert_eq!(
            waits,
            [&Duration::from_secs(7), &Duration::from_secs(4)],
            "the longer of header and body, never shortened"
        );
    }

    /// Requests in flight beside the one Wiz throttled hold back too: a wait is for the
    /// client, not for one request.
    #[test]
    fn a_servers_wait_holds_back_every_request_of_the_client() {
        let script = Scripted::new([answer(200, TOKEN), answer(200, "{}")]);
        let client = WizClient::new(&script, config("3"));
        client.hold_requests_until(script.clock.now() + Duration::from_secs(9));
        assert_eq!(
            run(client.graphql_within("{}", &mut Attempts::default()))
                .unwrap()
                .status,
            200
        );
        assert_eq!(
            script.sleeps.borrow()[0],
            Duration::from_secs(9),
            "the first request waits for the hold"
        );
        assert!(script.clock.elapsed.get() >= Duration::from_secs(9));
    }

    #[test]
    fn the_request_timeout_bounds_the_whole_request() {
        let hanging = Scripted::hanging();
        let config = config_with(&[("max-attempts", "2"), ("request-timeout-s", "3")]);
        let client = WizClient::new(&hanging, config);
        let err = run(client.authenticate()).unwrap_err();
        assert!(
            matches!(err, ConnectorError::Transient(ref m) if m.contains("no complete answer within 3 s")),
            "{err}"
        );
        let timeouts = hanging
            .sleeps
            .borrow()
            .iter()
            .filter(|s| **s == Duration::from_secs(3))
            .count();
        assert_eq!(timeouts, 2, "each of the two tries timed out");
    }

    #[test]
    fn absurd_token_lifetimes_neither_panic_nor_overflow() {
        for expires_in in [
            "1e300",
            "18446744073709551615",
            "-5",
            "0",
            "\"soon\"",
            "null",
        ] {
            let token = format!(r#"{{"access_token":"t","expires_in":{expires_in}}}"#);
            let script = Scripted::new([answer(200, &token), answer(200, "{}")]);
            let client = WizClient::new(&script, config("1"));
            assert_eq!(
                run(client.graphql_within("{}", &mut Attempts::default()))
                    .unwrap()
                    .status,
                200,
                "{expires_in}"
            );
        }
    }
}
