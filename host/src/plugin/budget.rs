//! How many requests plugins may send: at most so many in flight per run, and a request
//! rate per destination that every run of this process shares. Two integrations on one
//! Wiz tenant then cannot together send more than the tenant's budget, however each
//! plugin paces itself; and one run's flood waits its turn instead of crowding out the
//! others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Default most requests one run may have in flight.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 16;
/// Default requests a second to one destination, across all runs: the top of what Wiz
/// integrations send (1 to 10 a second, most 3), so one integration at its own pace is
/// never held back.
pub const DEFAULT_PER_HOST_PER_SECOND: u32 = 10;

/// The request rate each destination (`host:port`) allows, shared by every run of the
/// process. A destination may take up to a second's worth at once; beyond that, requests
/// are spaced evenly, in the order they asked.
#[derive(Debug)]
pub struct DestinationBudgets {
    interval: Duration,
    /// How far ahead of its even spacing a request may go: the burst.
    tolerance: Duration,
    /// When each destination's next request would be due at an even pace.
    next_due: Mutex<HashMap<String, Instant>>,
}

impl DestinationBudgets {
    /// `per_second` requests a second to each destination (at least one).
    pub fn new(per_second: u32) -> Self {
        let per_second = per_second.max(1);
        let interval = Duration::from_secs(1) / per_second;
        DestinationBudgets {
            interval,
            tolerance: interval * (per_second - 1),
            next_due: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until `destination` may be sent one more request.
    pub async fn take(&self, destination: &str) {
        let send_at = {
            let mut next_due = self.next_due.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let due = next_due.get(destination).copied().unwrap_or(now).max(now);
            next_due.insert(destination.to_string(), due + self.interval);
            due.checked_sub(self.tolerance).unwrap_or(now).max(now)
        };
        tokio::time::sleep_until(send_at).await;
    }
}

/// One run's share: its own in-flight cap, and the process's destination budgets.
#[derive(Debug, Clone)]
pub struct RunBudget {
    in_flight: Arc<Semaphore>,
    destinations: Arc<DestinationBudgets>,
}

impl RunBudget {
    /// A run that may have `max_in_flight` requests open, paced by `destinations`.
    pub fn new(max_in_flight: usize, destinations: Arc<DestinationBudgets>) -> Self {
        RunBudget {
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
            destinations,
        }
    }

    /// Waits for a free slot of this run, then for `destination`'s turn. The request is
    /// in flight until the permit is dropped.
    pub async fn admit(&self, destination: &str) -> OwnedSemaphorePermit {
        let permit = self
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .expect("the run's semaphore is never closed");
        self.destinations.take(destination).await;
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
    async fn a_run_waits_for_a_free_slot() {
        let budget = RunBudget::new(2, Arc::new(DestinationBudgets::new(1000)));
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
