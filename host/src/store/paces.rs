//! The request pace of each destination, kept in the store when the operator sets a
//! ceiling per destination, so every worker sharing the store keeps to it together. It
//! is the same spacing as the in-process one ([`crate::plugin::budget`]): a second's
//! worth at once, then evenly spaced, by the store's clock.

use super::StoreError;
use super::sql::{Backend, Param, Session, StoredRow};
use async_trait::async_trait;
use std::time::Duration;

/// A destination's next turn, as the store booked it or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Booked: the request may go now.
    Now,
    /// Not yet: ask again after this long.
    After(Duration),
}

/// Turns at destinations, shared by every process on the store.
#[async_trait]
pub trait PaceStore: Send + Sync {
    /// Books a request to `destination` if its pace allows one now: requests are
    /// `interval` apart on average, and may run `burst` ahead of that spacing. A turn is
    /// booked only when it is taken, so a request given up while it waits for its turn
    /// books nothing (on SQLite, one given up while the booking itself runs may still
    /// book its turn: the blocking call finishes).
    async fn take_turn(
        &self,
        destination: &str,
        interval: Duration,
        burst: Duration,
    ) -> Result<Turn, StoreError>;
}

/// Microseconds, as the pace stores them.
fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

#[async_trait]
impl<B: Backend> PaceStore for B {
    async fn take_turn(
        &self,
        destination: &str,
        interval: Duration,
        burst: Duration,
    ) -> Result<Turn, StoreError> {
        let destination = Param::text(destination);
        let (interval, burst) = (Param::Int(micros(interval)), Param::Int(micros(burst)));
        self.write(Box::new(move |s| {
            Box::pin(async move {
                // A turn lost in a crash is harmless, and a worker stalled while it books
                // one must not hold every other worker's requests for long.
                s.bookkeeping(Duration::from_secs(2)).await?;
                // Due no later than `burst` from now: booked, and the pace moves on by one
                // interval from its due time (or from now, after a quiet spell); a
                // destination seen for the first time is booked at once.
                let booked = s
                    .execute(
                        "INSERT INTO destination_paces (destination, next_due_us) VALUES (?1, ?2 + ?3)
                         ON CONFLICT (destination) DO UPDATE
                         SET next_due_us = CASE WHEN destination_paces.next_due_us > ?2 THEN destination_paces.next_due_us ELSE ?2 END + ?3
                         WHERE destination_paces.next_due_us <= ?2 + ?4",
                        &[destination.clone(), Param::NowMicros, interval, burst.clone()],
                    )
                    .await?;
                if booked == 1 {
                    return Ok(Turn::Now);
                }
                let wait = s
                    .query_one(
                        "SELECT next_due_us - ?3 - ?2 FROM destination_paces WHERE destination = ?1",
                        &[destination, Param::NowMicros, burst],
                    )
                    .await?
                    .int(0)?;
                Ok(Turn::After(Duration::from_micros(
                    u64::try_from(wait).unwrap_or(0).max(1000),
                )))
            })
        }))
        .await
    }
}
