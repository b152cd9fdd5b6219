//! What a connector's native unit tests need: a transport that answers from a script and
//! records every request, on a clock that only its sleeps move (so tests neither wait nor
//! spin), and a host that records what a sync hands it.

use crate::host::Host;
use crate::http::{Request, Response, Transport, TransportError};
use crate::records::{Batch, LogLevel};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

/// Runs a future whose waits are all scripted to completion, on this thread. It panics if
/// the future is still pending after many polls: something waits on a real event.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..100_000 {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
    }
    panic!("the future never finished: it waits on something the test kit does not script")
}

/// How a scripted transport answers.
type Answer = Result<Response, TransportError>;

/// Answers a request by what it asks.
type Rule = Box<dyn Fn(&Request) -> Answer>;

/// Answers requests from a queue (or by a rule), recording each request, when it was
/// sent and every sleep.
pub struct ScriptedTransport {
    answers: RefCell<VecDeque<Answer>>,
    rule: Option<Rule>,
    hang: bool,
    requests: RefCell<Vec<(Instant, Request)>>,
    sleeps: RefCell<Vec<Duration>>,
    start: Instant,
    elapsed: Cell<Duration>,
    wall_start: SystemTime,
}

impl ScriptedTransport {
    /// A transport answering with `answers`, in order; a request past the end panics.
    pub fn new(answers: impl IntoIterator<Item = Answer>) -> Self {
        ScriptedTransport {
            answers: RefCell::new(answers.into_iter().collect()),
            rule: None,
            hang: false,
            requests: RefCell::default(),
            sleeps: RefCell::default(),
            start: Instant::now(),
            elapsed: Cell::new(Duration::ZERO),
            wall_start: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        }
    }

    /// A transport answering each request with `rule`, once the queued answers are used.
    pub fn answering(rule: impl Fn(&Request) -> Answer + 'static) -> Self {
        ScriptedTransport {
            rule: Some(Box::new(rule)),
            ..ScriptedTransport::new([])
        }
    }

    /// A transport whose requests never complete, like a body that trickles forever.
    pub fn hanging() -> Self {
        ScriptedTransport {
            hang: true,
            ..ScriptedTransport::new([])
        }
    }

    /// Queues one more answer.
    pub fn push(&self, answer: Answer) {
        self.answers.borrow_mut().push_back(answer);
    }

    /// The requests sent, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests
            .borrow()
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// When each request was sent, on the scripted clock.
    pub fn request_times(&self) -> Vec<Duration> {
        self.requests
            .borrow()
            .iter()
            .map(|(at, _)| *at - self.start)
            .collect()
    }

    /// Every sleep, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps.borrow().clone()
    }

    /// Scripted time passed (the sum of the sleeps that moved the clock).
    pub fn elapsed(&self) -> Duration {
        self.elapsed.get()
    }

    /// How many queued answers are left.
    pub fn answers_left(&self) -> usize {
        self.answers.borrow().len()
    }
}

impl Transport for ScriptedTransport {
    async fn send(&self, request: &Request) -> Result<Response, TransportError> {
        self.requests
            .borrow_mut()
            .push((self.now(), request.clone()));
        if self.hang {
            return std::future::pending().await;
        }
        // Answered once the connector reads the body: a queued answer goes to the
        // request whose body is read first.
        if let Some(gate) = &request.body_gate {
            gate.opened().await;
        }
        let queued = self.answers.borrow_mut().pop_front();
        match (queued, &self.rule) {
            (Some(answer), _) => answer,
            (None, Some(rule)) => rule(request),
            (None, None) => panic!("no scripted answer for {} {}", method(request), request.url),
        }
    }

    async fn sleep(&self, duration: Duration) {
        self.sleeps.borrow_mut().push(duration);
        self.elapsed.set(self.elapsed.get() + duration);
    }

    fn now(&self) -> Instant {
        self.start + self.elapsed.get()
    }

    fn wall_clock(&self) -> SystemTime {
        self.wall_start + self.elapsed.get()
    }
}

fn method(request: &Request) -> &'static str {
    match request.method {
        crate::http::Method::Get => "GET",
        crate::http::Method::Post => "POST",
    }
}

/// One thing a sync did to the host.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A page.
    Emit(Batch<'static>),
    /// A resume point.
    Checkpoint(String),
    /// A log line.
    Log(LogLevel, String),
}

/// A host that records what a sync hands it, optionally saying stop after some pages.
#[derive(Debug, Default)]
pub struct FakeHost {
    events: Vec<Event>,
    stop_after: Option<usize>,
}

impl FakeHost {
    /// A host that takes `pages` pages and then says stop.
    pub fn stopping_after(pages: usize) -> Self {
        FakeHost {
            stop_after: Some(pages),
            ..FakeHost::default()
        }
    }

    /// Everything, in order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The pages taken.
    pub fn batches(&self) -> Vec<&Batch<'static>> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Emit(b) => Some(b),
                _ => None,
            })
            .collect()
    }

    /// The resume points stored.
    pub fn checkpoints(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Checkpoint(s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The log lines.
    pub fn logs(&self) -> Vec<(LogLevel, &str)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Log(level, m) => Some((*level, m.as_str())),
                _ => None,
            })
            .collect()
    }
}

impl Host for FakeHost {
    fn emit(&mut self, batch: Batch<'_>) -> bool {
        if self.stop_after.is_some_and(|n| self.batches().len() >= n) {
            return false;
        }
        self.events.push(Event::Emit(batch.into_owned()));
        true
    }

    fn checkpoint(&mut self, state: &str) {
        self.events.push(Event::Checkpoint(state.to_string()));
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        self.events.push(Event::Log(level, message.to_string()));
    }

    /// Progress is for people watching; a test checks what was emitted.
    fn progress(&mut self, _: u64, _: Option<u64>) {}
}
