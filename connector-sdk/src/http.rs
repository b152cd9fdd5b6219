//! An HTTP client for connectors over any [`Transport`] (wasi:http in the component, a
//! script in tests): a rate ceiling, a timeout on each request as a whole, and one budget
//! of attempts per logical request that every layer retrying on its behalf draws on
//! (network failures, throttling, server errors, and whatever the connector's protocol
//! adds, such as a fresh token or a GraphQL error), so tries add up instead of multiplying.
//! A wait the server asks for (`Retry-After`, or the connector's reading of its own rate
//! headers) is kept exactly, never shortened, and holds back every request of the client.

use crate::error::ConnectorError;
pub use crate::gate::BodyGate;
use crate::retry::{Backoff, RetryPolicy, jitter_unit};
use futures_util::future::{Either, select};
use std::cell::Cell;
use std::pin::pin;
use std::time::{Duration, Instant, SystemTime};

/// An HTTP method connectors use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
}

/// A request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The absolute URL.
    pub url: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body (empty for GET).
    pub body: Vec<u8>,
    /// Holds the answer's body back while closed ([`Request::read_when_open`]).
    pub body_gate: Option<BodyGate>,
}

impl Request {
    /// A GET of `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Request {
            method: Method::Get,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            body_gate: None,
        }
    }

    /// A POST of `body` to `url`.
    pub fn post(url: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Request {
            method: Method::Post,
            url: url.into(),
            headers: Vec::new(),
            body: body.into(),
            body_gate: None,
        }
    }

    /// The same request with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The same request, its answer's body read only while `gate` is open.
    pub fn read_when_open(mut self, gate: &BodyGate) -> Self {
        self.body_gate = Some(gate.clone());
        self
    }

    /// The first value of header `name`, whatever its case.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// An answer, read to the end.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// An answer with `status` and `body` and no headers.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// The same answer with one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// The first value of header `name`, whatever its case.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The wait its `Retry-After` header asks for ([`parse_retry_after`]).
    pub fn retry_after(&self, now: SystemTime) -> Option<u32> {
        parse_retry_after(self.header("retry-after")?, now)
    }

    /// The body as text, for error messages: lossy, and cut to `max` characters.
    pub fn body_excerpt(&self, max: usize) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let mut excerpt: String = text.chars().take(max).collect();
        if text.chars().count() > max {
            excerpt.push('…');
        }
        excerpt
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The wait a `Retry-After` value asks for, in whole seconds rounded up: a number of
/// seconds, or an HTTP date in any of the three forms HTTP allows, measured from `now`. A
/// date in the past means no wait; anything unreadable is ignored, as if absent.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<u32> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(u32::try_from(seconds).unwrap_or(u32::MAX));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(seconds_until(at, now))
}

/// Whole seconds from `now` until `at`, rounded up; zero when `at` has passed.
pub fn seconds_until(at: SystemTime, now: SystemTime) -> u32 {
    let wait = at.duration_since(now).unwrap_or_default();
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    u32::try_from(seconds).unwrap_or(u32::MAX)
}

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The host's sandbox refused to send it.
    Denied(String),
    /// DNS, connect, TLS or reset.
    Network(String),
    /// No answer in time.
    Timeout(String),
}

/// Sends requests and waits: wasi:http in the component, a script in tests.
pub trait Transport {
    /// Sends `request` and returns the whole answer, reading its body only once the
    /// request's [`BodyGate`] (if any) is open.
    fn send(&self, request: &Request) -> impl Future<Output = Result<Response, TransportError>>;

    /// Waits for `duration`.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()>;

    /// The time now, on the clock `sleep` waits by.
    fn now(&self) -> Instant {
        Instant::now()
    }

    /// The wall-clock time now, for dates servers send (`Retry-After`, rate-limit resets).
    fn wall_clock(&self) -> SystemTime {
        SystemTime::now()
    }
}

impl<T: Transport> Transport for &T {
    fn send(&self, request: &Request) -> impl Future<Output = Result<Response, TransportError>> {
        (**self).send(request)
    }
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> {
        (**self).sleep(duration)
    }
    fn now(&self) -> Instant {
        (**self).now()
    }
    fn wall_clock(&self) -> SystemTime {
        (**self).wall_clock()
    }
}

/// How a client paces, bounds and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// Most requests started a second.
    pub max_requests_per_second: u32,
    /// Attempts per logical request, and the backoff between them.
    pub retry: RetryPolicy,
    /// Longest one request may take, its whole answer included.
    pub request_timeout: Duration,
    /// The settings that set `retry.max_delay` and `request_timeout`, named in the errors
    /// they cause so the operator knows what to change (for example `max-retry-delay-s`).
    pub setting_names: SettingNames,
}

/// The connector's names for the client's limits, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingNames {
    /// The setting of the longest wait between attempts.
    pub max_delay: &'static str,
    /// The setting of the request timeout.
    pub request_timeout: &'static str,
}

impl Default for SettingNames {
    fn default() -> Self {
        SettingNames {
            max_delay: "the longest wait allowed",
            request_timeout: "the request timeout",
        }
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            max_requests_per_second: 3,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(100),
            setting_names: SettingNames::default(),
        }
    }
}

/// The settings keys [`ClientOptions::from_settings`] reads, in the order a connector
/// usually declares them: a connector that offers these knobs declares them under these
/// keys (its own help text and ranges), and a missing one keeps the default.
pub const CLIENT_SETTINGS: [&str; 4] = [
    "max-requests-per-second",
    "max-attempts",
    "max-retry-delay-s",
    "request-timeout-s",
];

impl ClientOptions {
    /// The options the conventional settings ([`CLIENT_SETTINGS`]) give, each missing one
    /// at its default; errors name those settings.
    pub fn from_settings(settings: &crate::Settings) -> Result<Self, ConnectorError> {
        let defaults = ClientOptions::default();
        let [rate, attempts, delay, timeout] = CLIENT_SETTINGS;
        // The schema checked each number; a range below 1 is the connector's own choice.
        let number = |key: &str| -> Result<Option<u64>, ConnectorError> {
            match settings.text(key) {
                None => Ok(None),
                Some(_) => Ok(Some(settings.number(key)?.unsigned_abs())),
            }
        };
        let narrow = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(ClientOptions {
            max_requests_per_second: number(rate)?.map_or(defaults.max_requests_per_second, narrow),
            retry: RetryPolicy {
                max_attempts: number(attempts)?.map_or(defaults.retry.max_attempts, narrow),
                max_delay: number(delay)?.map_or(defaults.retry.max_delay, Duration::from_secs),
                ..defaults.retry
            },
            request_timeout: number(timeout)?.map_or(defaults.request_timeout, Duration::from_secs),
            setting_names: SettingNames {
                max_delay: delay,
                request_timeout: timeout,
            },
        })
    }
}

/// The failed tries of one logical request, shared by every layer that retries for it.
#[derive(Debug, Default)]
pub struct Attempts {
    failed: u32,
}

impl Attempts {
    /// How many tries failed so far.
    pub fn failed(&self) -> u32 {
        self.failed
    }
}

/// Whether a failed try may be followed by another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The wait is over; try again.
    Retry,
    /// The budget is spent; the last outcome stands.
    Spent,
    /// The server asked for a wait (seconds) longer than the policy allows.
    WaitTooLong(u32),
}

/// What an answer means for the request that got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assessment {
    /// It stands, whatever its status: the caller reads or classifies it.
    Done,
    /// Worth another try, after the wait the server asked for (seconds), if it did.
    Retry(Option<u32>),
}

/// Whether a status is worth another try: throttling and server-side failures.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504)
}

/// The usual reading of an answer: retry the retryable statuses, after `Retry-After`.
pub fn assess_by_status(response: &Response, now: SystemTime) -> Assessment {
    match retryable_status(response.status) {
        true => Assessment::Retry(response.retry_after(now)),
        false => Assessment::Done,
    }
}

/// A client over `T`. Its methods take `&self`, so requests can run side by side on one
/// thread; the pacing lives in cells.
pub struct Client<T> {
    transport: T,
    options: ClientOptions,
    retries: Cell<u32>,
    /// The earliest start of the next request under the rate ceiling or a server's wait.
    next_slot: Cell<Option<Instant>>,
}

impl<T: Transport> Client<T> {
    /// A client sending through `transport`.
    pub fn new(transport: T, options: ClientOptions) -> Self {
        Client {
            transport,
            options,
            retries: Cell::new(0),
            next_slot: Cell::new(None),
        }
    }

    /// Its transport (for its clocks).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Its options.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Sends `request` as one logical request with a budget of its own: see
    /// [`Client::send_within`].
    pub async fn send(
        &self,
        request: &Request,
        what: &str,
        assess: impl Fn(&Response, SystemTime) -> Assessment,
    ) -> Result<Response, ConnectorError> {
        self.send_within(request, what, &mut Attempts::default(), assess)
            .await
    }

    /// Sends `request`, retrying network failures, timeouts and the answers `assess`
    /// calls retryable within `attempts`; the last outcome is returned when they run out.
    /// `what` names the endpoint in errors ("the GitHub API").
    pub async fn send_within(
        &self,
        request: &Request,
        what: &str,
        attempts: &mut Attempts,
        assess: impl Fn(&Response, SystemTime) -> Assessment,
    ) -> Result<Response, ConnectorError> {
        loop {
            let outcome = self.send_once(request).await;
            let retry_after = match &outcome {
                Ok(response) => match assess(response, self.transport.wall_clock()) {
                    Assessment::Done => return Ok(outcome.expect("an answer")),
                    Assessment::Retry(wait) => wait,
                },
                Err(TransportError::Network(_) | TransportError::Timeout(_)) => None,
                Err(TransportError::Denied(_)) => {
                    return outcome.map_err(|e| transport_error(e, what, &request.url));
                }
            };
            match self.after_failure(attempts, retry_after).await {
                Verdict::Retry => continue,
                Verdict::Spent => {
                    return outcome.map_err(|e| transport_error(e, what, &request.url));
                }
                Verdict::WaitTooLong(seconds) => return Err(self.wait_too_long(what, seconds)),
            }
        }
    }

    /// One try under the rate ceiling, bounded as a whole by the request timeout: a body
    /// that trickles in byte by byte times out like a server that never answers. An
    /// answer the connector holds back ([`BodyGate`]) is not late: when the timeout ends
    /// with its gate closed, the body gets a whole timeout again from the gate's opening.
    pub async fn send_once(&self, request: &Request) -> Result<Response, TransportError> {
        self.pace().await;
        let timeout = self.options.request_timeout;
        let send = pin!(self.transport.send(request));
        let timer = async {
            self.transport.sleep(timeout).await;
            if let Some(gate) = request.body_gate.as_ref().filter(|g| !g.is_open()) {
                gate.opened().await;
                self.transport.sleep(timeout).await;
            }
        };
        match select(send, pin!(timer)).await {
            Either::Left((outcome, _)) => outcome,
            Either::Right(_) => Err(TransportError::Timeout(format!(
                "no complete answer within {} s ({})",
                timeout.as_secs(),
                self.options.setting_names.request_timeout
            ))),
        }
    }

    /// Records a failed try and, when another is allowed, waits for it: jittered
    /// exponential backoff, or exactly the wait the server asked for, for every request
    /// of this client (requests in flight side by side hold back too).
    pub async fn after_failure(
        &self,
        attempts: &mut Attempts,
        retry_after: Option<u32>,
    ) -> Verdict {
        if !self.spend(attempts) {
            return Verdict::Spent;
        }
        self.retries.set(self.retries.get() + 1);
        let jitter = jitter_unit(self.retries.get());
        match self
            .options
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

    /// Counts a failed try without waiting; whether the budget allows another.
    pub fn spend(&self, attempts: &mut Attempts) -> bool {
        attempts.failed += 1;
        attempts.failed < self.options.retry.max_attempts
    }

    /// The error for a server that asked to wait longer than the policy allows.
    pub fn wait_too_long(&self, what: &str, seconds: u32) -> ConnectorError {
        ConnectorError::RateLimited {
            retry_after_seconds: Some(seconds),
            message: format!(
                "{what} asked to wait {seconds} s before trying again, longer than {} ({} s)",
                self.options.setting_names.max_delay,
                self.options.retry.max_delay.as_secs()
            ),
        }
    }

    /// Starts no request before `until`.
    pub fn hold_requests_until(&self, until: Instant) {
        if self.next_slot.get().is_none_or(|slot| slot < until) {
            self.next_slot.set(Some(until));
        }
    }

    /// Waits so that requests start at most `max_requests_per_second` a second, each at
    /// least 1/rate after the one before (measured from when they really started), and
    /// none before a hold ends. Concurrent requests take turns.
    async fn pace(&self) {
        // 2% over 1/rate, so that no one-second window ever holds rate + 1 starts, even
        // with the clock read a little apart from where the request leaves.
        let gap = Duration::from_secs(1) * 102 / 100 / self.options.max_requests_per_second.max(1);
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
}

/// A transport failure as a typed error that names the endpoint: a refusal by the host's
/// policy is a setting to fix, the rest may pass.
pub fn transport_error(error: TransportError, what: &str, url: &str) -> ConnectorError {
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
    use crate::testkit::{ScriptedTransport, block_on};

    fn options(attempts: u32) -> ClientOptions {
        ClientOptions {
            max_requests_per_second: 100,
            retry: RetryPolicy {
                max_attempts: attempts,
                max_delay: Duration::from_secs(10),
                ..RetryPolicy::default()
            },
            request_timeout: Duration::from_secs(3),
            setting_names: SettingNames::default(),
        }
    }

    fn status(code: u16) -> Result<Response, TransportError> {
        Ok(Response::new(code, ""))
    }

    #[test]
    fn transient_answers_are_retried_and_retry_after_is_kept_exactly() {
        let script = ScriptedTransport::new([
            status(500),
            Ok(Response::new(429, "").with_header("Retry-After", "2")),
            Err(TransportError::Network("reset".into())),
            status(200),
        ]);
        let client = Client::new(&script, options(4));
        let answer = block_on(client.send(
            &Request::get("https://api.test/x"),
            "the API",
            assess_by_status,
        ));
        assert_eq!(answer.unwrap().status, 200);
        assert_eq!(script.requests().len(), 4);
        assert!(
            script.sleeps().contains(&Duration::from_secs(2)),
            "{:?}",
            script.sleeps()
        );
    }

    #[test]
    fn attempts_are_bounded_and_the_last_answer_stands() {
        let script = ScriptedTransport::new([status(503), status(503), status(200)]);
        let client = Client::new(&script, options(2));
        let answer = block_on(client.send(
            &Request::get("https://api.test/x"),
            "the API",
            assess_by_status,
        ));
        assert_eq!(answer.unwrap().status, 503);
        assert_eq!(script.requests().len(), 2);
    }

    #[test]
    fn a_refusal_is_a_setting_to_fix_and_is_not_retried() {
        let script = ScriptedTransport::new([Err(TransportError::Denied("not allowed".into()))]);
        let client = Client::new(&script, options(5));
        let error = block_on(client.send(
            &Request::get("https://evil.test/"),
            "the API",
            assess_by_status,
        ))
        .unwrap_err();
        assert!(
            matches!(error, ConnectorError::Config(ref m) if m.contains("the host refused the request to the API at https://evil.test/")),
            "{error}"
        );
        assert_eq!(script.requests().len(), 1);
    }

    #[test]
    fn a_wait_longer_than_allowed_fails_as_rate_limited_without_an_early_retry() {
        let script = ScriptedTransport::new([
            Ok(Response::new(429, "").with_header("retry-after", "30")),
            status(200),
        ]);
        let client = Client::new(&script, options(5));
        let error = block_on(client.send(
            &Request::get("https://api.test/x"),
            "the API",
            assess_by_status,
        ))
        .unwrap_err();
        assert!(
            matches!(
                error,
                ConnectorError::RateLimited {
                    retry_after_seconds: Some(30),
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(script.requests().len(), 1);
    }

    #[test]
    fn retry_after_reads_seconds_and_the_three_http_date_forms() {
        // 2015-10-21T07:28:00Z is 1,445,412,480 s after the epoch.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after(" 120 ", now), Some(120));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(30)
        );
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:28:45 GMT", now),
            Some(45)
        );
        assert_eq!(parse_retry_after("Wed Oct 21 07:29:00 2015", now), Some(60));
        let earlier = now - Duration::from_millis(500);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", earlier),
            Some(31),
            "rounded up, never shortened"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(0)
        );
        assert_eq!(parse_retry_after("99999999999", now), Some(u32::MAX));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn an_answer_held_back_by_its_gate_is_read_once_it_opens_and_is_not_late() {
        let script = ScriptedTransport::new([status(200)]);
        let client = Client::new(&script, options(1));
        let gate = BodyGate::default();
        gate.set_open(false);
        let request = Request::get("https://api.test/x").read_when_open(&gate);
        let mut send = std::pin::pin!(client.send_once(&request));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        for _ in 0..10 {
            // The scripted clock runs through the whole timeout at once: still no error.
            assert!(send.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(script.requests().len(), 1, "the request went out at once");
        assert_eq!(script.answers_left(), 1, "its answer was not read");
        gate.set_open(true);
        match send.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(answer) => assert_eq!(answer.unwrap().status, 200),
            std::task::Poll::Pending => panic!("the answer is read once the gate opens"),
        }
    }

    #[test]
    fn the_timeout_bounds_each_whole_try() {
        let hanging = ScriptedTransport::hanging();
        let client = Client::new(&hanging, options(2));
        let error = block_on(client.send(
            &Request::get("https://api.test/x"),
            "the API",
            assess_by_status,
        ))
        .unwrap_err();
        assert!(
            matches!(error, ConnectorError::Transient(ref m) if m.contains("no complete answer within 3 s")),
            "{error}"
        );
        let timeouts = hanging
            .sleeps()
            .iter()
            .filter(|s| **s == Duration::from_secs(3))
            .count();
        assert_eq!(timeouts, 2);
    }

    #[test]
    fn the_conventional_settings_set_the_options_and_name_themselves_in_errors() {
        use crate::schema::{Field, FieldKind};
        let fields = [
            Field::new("max-attempts", "", "", FieldKind::Number).default_value("2"),
            Field::new("request-timeout-s", "", "", FieldKind::Number).default_value("7"),
        ];
        let settings = crate::Settings::parse(&fields, []).unwrap();
        let options = ClientOptions::from_settings(&settings).unwrap();
        assert_eq!(options.retry.max_attempts, 2);
        assert_eq!(options.request_timeout, Duration::from_secs(7));
        assert_eq!(
            options.max_requests_per_second, 3,
            "undeclared: the default"
        );
        assert_eq!(options.setting_names.request_timeout, "request-timeout-s");
    }

    #[test]
    fn requests_are_paced_under_the_ceiling() {
        let script = ScriptedTransport::new([status(200), status(200), status(200)]);
        let client = Client::new(
            &script,
            ClientOptions {
                max_requests_per_second: 2,
                ..options(1)
            },
        );
        for _ in 0..3 {
            block_on(client.send(
                &Request::get("https://api.test/x"),
                "the API",
                assess_by_status,
            ))
            .unwrap();
        }
        let starts = script.request_times();
        assert!(
            starts
                .windows(2)
                .all(|w| w[1] - w[0] >= Duration::from_millis(500)),
            "{starts:?}"
        );
    }
}
