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
