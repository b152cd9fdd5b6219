//! Bytes emitted and not yet stored, under a ceiling: each run has one of its own
//! (`EmitLimits::max_bytes_in_flight`), and all runs of a process share another
//! (`EmitLimits::max_bytes_in_flight_per_process`). Without the shared one, many runs at
//! once, all waiting for one store, could each queue all their batches in the host's
//! memory (heaptrack saw about 450 MiB of them among 500 syncs: BENCHMARKS.md, issue 27).

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Default ceiling on the bytes all runs of a process may have emitted but not stored, in
/// MiB: as much as one run may hold, so a single large sync is not slowed, and dozens of
/// pages for the store to work through, while hundreds of syncs at once hold no more than
/// this in the host. 256 put 500 syncs at 2,252 MiB, 64 at 2,008 (BENCHMARKS.md).
pub const DEFAULT_MAX_MIB_IN_FLIGHT_PER_PROCESS: u64 = 64;

/// A ceiling in KiB permits; a clone shares it.
#[derive(Debug, Clone)]
pub struct StoreBacklog {
    kib: Arc<Semaphore>,
    capacity: u32,
}

/// A batch's share of a ceiling, given back when dropped (once it is stored).
pub(crate) type BacklogShare = OwnedSemaphorePermit;

impl StoreBacklog {
    /// A ceiling of `max_bytes` (at least 1 KiB).
    pub fn new(max_bytes: u64) -> Self {
        let capacity = u32::try_from(max_bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .max(1);
        StoreBacklog {
            kib: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
        }
    }

    /// Takes `kib` of the ceiling, or all of it for a batch larger than the whole ceiling,
    /// waiting (first come, first served) while other batches hold it. `None` only if
    /// the ceiling was closed, which nothing does.
    pub(crate) async fn admit(&self, kib: u32) -> Option<BacklogShare> {
        let wanted = kib.min(self.capacity);
        self.kib.clone().acquire_many_owned(wanted).await.ok()
    }

    /// `share` grown or shrunk to `kib` (or the whole ceiling). Growing takes what is free
    /// at once; when that is not enough, the share is given back and `kib` waited for
    /// like any batch: a run never waits while holding part of the ceiling, so runs
    /// whose reservations fill it cannot wait on each other forever.
    pub(crate) async fn resize(&self, mut share: BacklogShare, kib: u32) -> Option<BacklogShare> {
        let wanted = kib.min(self.capacity) as usize;
        let held = share.num_permits();
        if wanted < held {
            drop(share.split(held - wanted));
        } else if wanted > held {
            match self
                .kib
                .clone()
                .try_acquire_many_owned((wanted - held) as u32)
            {
                Ok(more) => share.merge(more),
                Err(_) => {
                    drop(share);
                    return self.admit(kib).await;
                }
            }
        }
        Some(share)
    }

    /// Waits until `kib` more would be admitted at once. A run waits here after queuing a
    /// batch, so that its plugin builds the next one only when there is room for it: a
    /// batch lifted out of a plugin while the ceiling is full would wait in the host's
    /// memory, outside the ceiling.
    pub(crate) async fn wait_for_room(&self, kib: u32) {
        drop(self.admit(kib).await);
    }

    /// KiB free right now.
    #[cfg(test)]
    pub(crate) fn free_kib(&self) -> usize {
        self.kib.available_permits()
    }
}

impl Default for StoreBacklog {
    /// [`DEFAULT_MAX_MIB_IN_FLIGHT_PER_PROCESS`].
    fn default() -> Self {
        StoreBacklog::new(DEFAULT_MAX_MIB_IN_FLIGHT_PER_PROCESS << 20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_batch_waits_while_other_runs_hold_the_ceiling() {
        let backlog = StoreBacklog::new(1 << 20);
        let first = backlog.admit(700).await.unwrap();
        let mut second = Box::pin(backlog.admit(700));
        let waited = tokio::time::timeout(Duration::from_secs(3600), &mut second).await;
        assert!(
            waited.is_err(),
            "the second waits, however long the store takes"
        );
        // Room for another like the first is not there either, until it is stored.
        let room = tokio::time::timeout(Duration::from_secs(3600), backlog.wait_for_room(700));
        assert!(room.await.is_err());
        drop(first);
        let second = second.await.unwrap();
        assert_eq!(backlog.free_kib(), 1024 - 700);
        drop(second);
        // One larger than the whole ceiling takes all of it rather than waiting forever.
        let whole = backlog.admit(5000).await.unwrap();
        assert_eq!(backlog.free_kib(), 0);
        drop(whole);
        backlog.wait_for_room(1024).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_share_is_resized_and_growing_shares_never_wait_on_each_other() {
        let backlog = StoreBacklog::new(1 << 20);
        let share = backlog.admit(600).await.unwrap();
        // Smaller: the excess goes back at once.
        let share = backlog.resize(share, 200).await.unwrap();
        assert_eq!(backlog.free_kib(), 1024 - 200);
        // Larger, with room: taken at once.
        let share = backlog.resize(share, 500).await.unwrap();
        assert_eq!(backlog.free_kib(), 1024 - 500);
        drop(share);
        // Two runs whose shares fill the ceiling both grow: neither waits holding its
        // share, so the first gets the other's and the other waits its turn.
        let first = backlog.admit(512).await.unwrap();
        let second = backlog.admit(512).await.unwrap();
        let mut first_grows = Box::pin(backlog.resize(first, 700));
        let waited = tokio::time::timeout(Duration::from_secs(3600), &mut first_grows).await;
        assert!(waited.is_err(), "no room while the other holds its share");
        let mut second_grows = Box::pin(backlog.resize(second, 700));
        let waited = tokio::time::timeout(Duration::from_secs(3600), &mut second_grows).await;
        assert!(waited.is_err(), "the other waits behind the first");
        let first = tokio::time::timeout(Duration::from_secs(3600), &mut first_grows)
            .await
            .expect("the other gave its share back")
            .unwrap();
        assert_eq!(first.num_permits(), 700);
        drop(first);
        let share = second_grows.await.unwrap();
        assert_eq!(share.num_permits(), 700);
    }
}
