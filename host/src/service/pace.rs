//! The ceiling per destination, when the operator sets one, kept through the store: every
//! process on the store (each `serve` worker, a CLI sync beside them) keeps to one pace
//! per destination together.

use crate::plugin::budget::{DestinationBudgets, DestinationPace, spacing};
use crate::store::{Store, Turn};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// How long a booking may take before the request is spaced by this process alone.
const BOOKING_WAIT: Duration = Duration::from_secs(5);

/// Each destination's pace, booked in the store. Within a process, a destination's
/// requests queue in the order they asked and only the first in line asks the store, so
/// a process adds one short write per request and waits without polling.
pub struct StorePace {
    store: Arc<dyn Store>,
    interval: Duration,
    burst: Duration,
    /// The process's queue per destination.
    queues: DestinationBudgets,
}

impl StorePace {
    /// `per_second` requests a second to each destination, across the fleet.
    pub fn new(store: Arc<dyn Store>, per_second: u32) -> Self {
        let (interval, burst) = spacing(per_second);
        StorePace {
            store,
            interval,
            burst,
            queues: DestinationBudgets::new(per_second),
        }
    }
}

impl std::fmt::Debug for StorePace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorePace")
            .field("interval", &self.interval)
            .field("burst", &self.burst)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl DestinationPace for StorePace {
    async fn take(&self, destination: &str) {
        let queue = self.queues.queue(destination);
        let _first_in_line = queue.lock().await;
        loop {
            let turn = self.store.take_turn(destination, self.interval, self.burst);
            match tokio::time::timeout(BOOKING_WAIT, turn).await {
                Ok(Ok(Turn::Now)) => return,
                Ok(Ok(Turn::After(wait))) => tokio::time::sleep(wait).await,
                failed => {
                    // The run stops at its next write if the store is gone; until then,
                    // this process's own spacing holds (each process's, so a fleet cut
                    // off from its store sends up to its size times the ceiling).
                    let error = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => format!("no answer within {BOOKING_WAIT:?}"),
                    };
                    tracing::warn!(
                        destination,
                        error,
                        "cannot book the destination's pace in the store; spacing this request by this process alone"
                    );
                    tokio::time::sleep(self.interval).await;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;
    use std::time::Instant;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_that_cannot_book_leaves_each_request_spaced_by_this_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pace.db");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        let pace = StorePace::new(store, 4);
        pace.take("api:443").await;
        // The bookings' table gone: every booking fails from now on.
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch("DROP TABLE destination_paces")
            .unwrap();
        let started = Instant::now();
        let two = tokio::time::timeout(Duration::from_secs(30), async {
            pace.take("api:443").await;
            pace.take("api:443").await;
        });
        assert!(two.await.is_ok(), "requests wait for no booking");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(2 * 250 - 20),
            "each request is still spaced by the pace: {took:?}"
        );
        assert!(took < BOOKING_WAIT, "nor waits for the store: {took:?}");
    }
}
