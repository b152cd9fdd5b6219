//! How many requests plugins may send: at most so many in flight per run, a request rate
//! per run (the per-integration ceiling, whatever the plugin's own pace), and, when the
//! operator sets one, a rate per destination that every run shares ([`DestinationPace`]:
//! every run of the fleet, through the store, in `serve` and the CLI).
//!
//! A SaaS source such as Wiz serves thousands of tenants from one API host and limits
//! each credential, so a ceiling per destination shared by every run would throttle
//! every customer of that host together: it is off unless the operator wants it (one
//! self-hosted source that many integrations share).

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Default most requests one run may have in flight.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 16;
/// Default requests a second one run may send, to all its destinations together: the top
/// of what Wiz integrations send (1 to 10 a second, most 3), so an integration at its own
/// pace is never held back, and a plugin that ignores its pace is.
pub const DEFAULT_PER_RUN_PER_SECOND: u32 = 10;

/// A pace per destination (`host:port`) that every run holding it keeps to together.
#[async_trait]
pub trait DestinationPace: Send + Sync + std::fmt::Debug {
    /// Waits until `destination` may be sent one more request, and books it then: a
    /// request given up while it waits books nothing.
    async fn take(&self, destination: &str);
}

/// The spacing of `per_second` requests a second (at least one): the interval between
/// two at an even pace, and how far ahead of it a request may go (a second's worth at
/// once).
pub fn spacing(per_second: u32) -> (Duration, Duration) {
    let per_second = per_second.max(1);
    let interval = Duration::from_secs(1) / per_second;
    (interval, interval * (per_second - 1))
}

/// The request rate each destination (`host:port`) allows, shared by every run of the
/// process. A destination may take up to a second's worth at once; beyond that, requests
/// are spaced evenly, in the order they asked. A slot is booked only when its request is
/// let through: a request dropped while it waits leaves nothing booked, so no plugin can
/// push a destination's pace into the future for the others.
#[derive(Debug)]
pub struct DestinationBudgets {
    interval: Duration,
    /// How far ahead of its even spacing a request may go: the burst.
    tolerance: Duration,
    /// Each destination's pace: when its next request would be due at an even pace,
    /// behind a fair lock that its waiters queue on in order.
    paces: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Instant>>>>,
}

impl DestinationBudgets {
    /// `per_second` requests a second to each destination (at least one).
    pub fn new(per_second: u32) -> Self {
        let (interval, tolerance) = spacing(per_second);
        DestinationBudgets {
            interval,
            tolerance,
            paces: Mutex::new(HashMap::new()),
        }
    }

    /// The fair lock that `destination`'s waiters queue on, in order.
    pub fn queue(&self, destination: &str) -> Arc<tokio::sync::Mutex<Instant>> {
        let mut paces = self.paces.lock().unwrap_or_else(PoisonError::into_inner);
        paces
            .entry(destination.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(Instant::now())))
            .clone()
    }

    /// Waits until `destination` may be sent one more request, and books it then.
    pub async fn take(&self, destination: &str) {
        let pace = self.queue(destination);
        // The first in line holds the pace while it waits for its turn; dropped meanwhile,
        // it lets the next one in with nothing booked.
        let mut next_due = pace.lock().await;
        let now = Instant::now();
        let due = (*next_due).max(now);
        tokio::time::sleep_until(due.checked_sub(self.tolerance).unwrap_or(now).max(now)).await;
        *next_due = due + self.interval;
    }
}

#[async_trait]
impl DestinationPace for DestinationBudgets {
    async fn take(&self, destination: &str) {
        DestinationBudgets::take(self, destination).await
    }
}

/// One run's share: its own in-flight cap and pace, and the destinations' pace when the
/// operator set one.
#[derive(Debug, Clone)]
pub struct RunBudget {
    in_flight: Arc<Semaphore>,
    /// The run's own pace, all destinations together.
    pace: Arc<DestinationBudgets>,
    destinations: Option<Arc<dyn DestinationPace>>,
}

/// The one pace of a run's own budget.
const THE_RUN: &str = "";

impl RunBudget {
    /// A run that may have `max_in_flight` requests open and send `per_second` a second,
    /// paced by `destinations` too when given.
    pub fn new(
        max_in_flight: usize,
        per_second: u32,
        destinations: Option<Arc<dyn DestinationPace>>,
    ) -> Self {
        RunBudget {
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
            pace: Arc::new(DestinationBudgets::new(per_second)),
            destinations,
        }
    }

    /// Waits for a free slot of this run, then for the run's turn and `destination`'s.
    /// The request is in flight until the permit is dropped.
    pub async fn admit(&self, destination: &str) -> OwnedSemaphorePermit {
        let permit = self
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .expect("the run's semaphore is never closed");
        self.pace.take(THE_RUN).await;
        if let Some(destinations) = &self.destinations {
            destinations.take(destination).await;
        }
        permit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_destination_takes_a_seconds_burst_then_an_even_pace() {
        let budgets = DestinationBudgets::new(5);
        let start = Instant::now();
        for _ in 0..5 {
            budgets.take("api.example:443").await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst goes at once");
        for _ in 0..5 {
            budgets.take("api.example:443").await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        // Another destination has a budget of its own.
        budgets.take("auth.example:443").await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_dropped_while_waiting_book_nothing() {
        let budgets = Arc::new(DestinationBudgets::new(5));
        // Use up the burst, so that the next request must wait.
        for _ in 0..5 {
            budgets.take("auth.example:443").await;
        }
        let start = Instant::now();
        // A hostile guest starts 10,000 requests and drops each before it is sent.
        for _ in 0..10_000 {
            let dropped =
                tokio::time::timeout(Duration::ZERO, budgets.take("auth.example:443")).await;
            assert!(dropped.is_err(), "still waiting for its turn");
        }
        // Another run's request waits for the pace (200 ms), not for 10,000 phantom slots
        // (2,000 s).
        budgets.take("auth.example:443").await;
        let waited = start.elapsed();
        assert!(
            waited <= Duration::from_millis(200),
            "waited {waited:?} after the drops"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_are_let_through_in_the_order_they_asked() {
        let budgets = Arc::new(DestinationBudgets::new(2));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for i in 0..6 {
            let (budgets, order) = (budgets.clone(), order.clone());
            waiters.push(tokio::spawn(async move {
                budgets.take("h:1").await;
                order.lock().unwrap().push((i, Instant::now()));
            }));
            tokio::task::yield_now().await;
        }
        for w in waiters {
            w.await.unwrap();
        }
        let order = order.lock().unwrap();
        let ids: Vec<_> = order.iter().map(|(i, _)| *i).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4, 5]);
        let span = order[5].1 - order[0].1;
        assert_eq!(
            span,
            Duration::from_secs(2),
            "two at once, then two a second"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_is_paced_across_its_destinations_and_runs_apart() {
        let one = RunBudget::new(16, 4, None);
        let other = RunBudget::new(16, 4, None);
        let start = Instant::now();
        for host in ["a:1", "b:1", "a:1", "c:1"] {
            drop(one.admit(host).await);
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "a second's worth at once");
        drop(one.admit("d:1").await);
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(250),
            "then four a second, whatever the destination"
        );
        // Another run, to the same host: its own budget, not held by the first.
        let before = Instant::now();
        for _ in 0..4 {
            drop(other.admit("a:1").await);
        }
        assert_eq!(before.elapsed(), Duration::ZERO);
        // With a destination ceiling, runs share it.
        let shared: Arc<dyn DestinationPace> = Arc::new(DestinationBudgets::new(2));
        let (x, y) = (
            RunBudget::new(16, 100, Some(shared.clone())),
            RunBudget::new(16, 100, Some(shared)),
        );
        let before = Instant::now();
        drop(x.admit("api:443").await);
        drop(y.admit("api:443").await);
        drop(x.admit("api:443").await);
        assert_eq!(before.elapsed(), Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_waits_for_a_free_slot() {
        let budget = RunBudget::new(2, 1000, None);
        let first = budget.admit("h:1").await;
        let _second = budget.admit("h:1").await;
        let third = tokio::spawn({
            let budget = budget.clone();
            async move { budget.admit("h:1").await }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!third.is_finished(), "two are in flight");
        drop(first);
        let _admitted = third.await.unwrap();
    }
}
