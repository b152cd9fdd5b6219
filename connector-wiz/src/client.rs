//! An authenticated Wiz API client over the SDK's HTTP client: it fetches a token, reuses
//! it until shortly before it expires, re-authenticates once when the API answers 401, and
//! retries transient GraphQL errors, all within the one budget of attempts the SDK keeps
//! per request (with its pacing, timeouts and `Retry-After`).

use crate::config::WizConfig;
use crate::protocol::{self, HttpResponse, Token};
use connector_sdk::ConnectorError;
use connector_sdk::http::{
    Assessment, Attempts, BodyGate, Client, Request, Transport, Verdict, retryable_status,
};
use std::cell::RefCell;
use std::time::{Duration, Instant};

/// Renew a token this long before it expires, so no request carries a stale one.
const TOKEN_RENEW_MARGIN: Duration = Duration::from_secs(60);

/// A Wiz API client that owns the token. Its methods take `&self`, so requests can run
/// concurrently (a page fetch beside an inventory lookup); the token lives in a cell, as
/// the connector runs on one thread.
pub struct WizClient<T> {
    http: Client<T>,
    config: WizConfig,
    token: RefCell<Option<(Token, Instant)>>,
}

impl<T: Transport> WizClient<T> {
    /// A client that will authenticate on first use.
    pub fn new(transport: T, config: WizConfig) -> Self {
        WizClient {
            http: Client::new(transport, config.client),
            token: RefCell::new(None),
            config,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &WizConfig {
        &self.config
    }

    /// The HTTP client underneath (its pacing and clocks).
    pub fn http(&self) -> &Client<T> {
        &self.http
    }

    /// POSTs `body`, retrying network failures, timeouts, 429 and 5xx within `attempts`,
    /// each after the longer of `Retry-After` and a GraphQL error's `retryAfter`.
    async fn post_with_retry(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &str,
        what: &str,
        attempts: &mut Attempts,
        gate: Option<&BodyGate>,
    ) -> Result<HttpResponse, ConnectorError> {
        let mut request = headers
            .iter()
            .fold(Request::post(url, body), |r, (name, value)| {
                r.header(name, value)
            });
        if let Some(gate) = gate {
            request = request.read_when_open(gate);
        }
        let assess =
            |response: &connector_sdk::http::Response, now| match retryable_status(response.status)
            {
                true => {
                    Assessment::Retry(protocol::wait_in(&response.body, response.retry_after(now)))
                }
                false => Assessment::Done,
            };
        let response = self
            .http
            .send_within(&request, what, attempts, assess)
            .await?;
        Ok(HttpResponse::read(
            response,
            self.http.transport().wall_clock(),
        ))
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
                None,
            )
            .await?;
        let token = protocol::parse_token_response(&response)?;
        // The lifetime is clamped to at most a day, so this cannot overflow.
        let lifetime = Duration::from_secs(token.expires_in);
        let renew_at = self.http.transport().now()
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
                .filter(|(_, renew_at)| fresh || self.http.transport().now() < *renew_at)
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
        gate: Option<&BodyGate>,
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
                .post_with_retry(&url, &headers, body, "the Wiz API", attempts, gate)
                .await?;
            if response.status != 401 || refreshed {
                return Ok(response);
            }
            // A stale token is a failed try too; the fresh one is fetched at once.
            refreshed = true;
            *self.token.borrow_mut() = None;
            if !self.http.spend(attempts) {
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
        parse: impl Fn(HttpResponse) -> Result<R, ConnectorError>,
    ) -> Result<R, ConnectorError> {
        self.query_held_by(None, body, parse).await
    }

    /// [`WizClient::query`], each answer read only while `gate` (if any) is open: the
    /// request goes out at once, and its answer waits outside the plugin until then.
    pub async fn query_held_by<R>(
        &self,
        gate: Option<&BodyGate>,
        body: String,
        parse: impl Fn(HttpResponse) -> Result<R, ConnectorError>,
    ) -> Result<R, ConnectorError> {
        let mut attempts = Attempts::default();
        loop {
            let response = self.graphql_within(&body, &mut attempts, gate).await?;
            let answered = response.status == 200;
            let parsed = parse(response);
            let retry_after = match &parsed {
                Err(ConnectorError::Transient(_)) if answered => None,
                Err(ConnectorError::RateLimited {
                    retry_after_seconds,
                    ..
                }) if answered => *retry_after_seconds,
                _ => return parsed,
            };
            match self.http.after_failure(&mut attempts, retry_after).await {
                Verdict::Retry => continue,
                Verdict::Spent => return parsed,
                Verdict::WaitTooLong(seconds) => {
                    return Err(self.http.wait_too_long("the Wiz API", seconds));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_sdk::http::{Response, TransportError};
    use connector_sdk::testkit::{ScriptedTransport as Scripted, block_on as run};

    fn answer(status: u16, body: &str) -> Result<Response, TransportError> {
        let response = Response::new(status, body);
        Ok(match status {
            429 => response.with_header("retry-after", "2"),
            _ => response,
        })
    }

    /// The URLs requested, in order.
    fn posts(script: &Scripted) -> Vec<String> {
        script.requests().into_iter().map(|r| r.url).collect()
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
        let response = run(client.graphql_within("{}", &mut Attempts::default(), None)).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(script.requests().len(), 5);
        let sleeps = script.sleeps();
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
            run(client.graphql_within("{}", &mut Attempts::default(), None))
                .unwrap()
                .status,
            503
        );
        assert_eq!(script.requests().len(), 3, "token + 2 attempts");
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
        script.push(answer(200, denied));
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
            run(client.graphql_within("{}", &mut Attempts::default(), None))
                .unwrap()
                .status,
            401,
            "a second 401 is left to the caller (auth error)"
        );
        assert_eq!(
            posts(&script)
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
        let posts = posts(&script);
        assert_eq!(posts.len(), 7, "{posts:?}");
        assert_eq!(
            posts.iter().filter(|u| !u.contains("oauth")).count(),
            3,
            "GraphQL tries"
        );
        assert_eq!(script.answers_left(), 1, "the budget stopped it");
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
            assert_eq!(script.requests().len(), 1 + 4, "token + 4 tries");
        }
    }

    fn answer_with_wait(
        status: u16,
        header: Option<u32>,
        body: &str,
    ) -> Result<Response, TransportError> {
        let response = Response::new(status, body);
        Ok(match header {
            Some(seconds) => response.with_header("retry-after", &seconds.to_string()),
            None => response,
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
            assert_eq!(script.requests().len(), 2, "no early retry");
            assert!(
                script.sleeps().iter().all(|s| *s < Duration::from_secs(1)),
                "no wait but the rate ceiling's: {:?}",
                script.sleeps()
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
        let sleeps = script.sleeps();
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
        client
            .http()
            .hold_requests_until(script.now() + Duration::from_secs(9));
        assert_eq!(
            run(client.graphql_within("{}", &mut Attempts::default(), None))
                .unwrap()
                .status,
            200
        );
        assert_eq!(
            script.sleeps()[0],
            Duration::from_secs(9),
            "the first request waits for the hold"
        );
        assert!(script.elapsed() >= Duration::from_secs(9));
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
            .sleeps()
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
                run(client.graphql_within("{}", &mut Attempts::default(), None))
                    .unwrap()
                    .status,
                200,
                "{expires_in}"
            );
        }
    }
}
