//! Turns at the SQLite file's write lock for other processes. SQLite keeps no queue for
//! its write lock: a process that finds it taken retries from its busy handler, and a
//! writer that begins its next transaction the moment it commits the last would keep the
//! lock for as long as it has writes queued. A long sync would then shut out every CLI
//! command and every `serve` sharing the file until it ends, or until their wait runs
//! out ("database is locked"). So the writer's connection, once it has held the lock
//! without a gap for a group's span ([`GROUP_SPAN`]), leaves it free for [`TURN`] before it
//! takes it again; and its busy handler retries each [`RETRY`], so that a turn is long
//! enough for another host's waiting writer to take the lock.

use crate::store::GROUP_SPAN;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long the writer leaves the lock free after a long hold. With [`RETRY`] a waiting
/// writer tries about three times in it, scheduling delays allowing. A group of a 100k
/// sync holds the lock about 250 ms, so this costs a busy sync about 1%.
pub(super) const TURN: Duration = Duration::from_millis(3);

/// How often the writer's busy handler tries again for a lock another process holds.
pub(super) const RETRY: Duration = Duration::from_millis(1);

/// How long the writer's busy handler tries before the call fails as "database is
/// locked": a sync's write must not fail because another process writes a lot, but a
/// lock held by a hung process must not hang every caller forever.
pub(super) const LOCK_WAIT: Duration = Duration::from_secs(60);

/// SQLite's busy handler for a connection that writes to the store (`tries` is how often
/// it has been called for this wait already): each [`RETRY`], for [`LOCK_WAIT`] of sleeps
/// (a little longer in all, with the tries themselves). SQLite's own busy timeout backs
/// off to a try each 100 ms, which would miss another writer's [`TURN`] nearly always.
pub fn retry_for_lock(tries: i32) -> bool {
    let tried_for = RETRY * u32::try_from(tries).unwrap_or(0);
    if tried_for >= LOCK_WAIT {
        return false;
    }
    std::thread::sleep(RETRY);
    true
}

/// The writer's hold on the lock: since when it has held it without a gap of a turn, and
/// when it last let it go.
#[derive(Default)]
pub(super) struct LockTurns(Mutex<Option<Hold>>);

#[derive(Clone, Copy)]
struct Hold {
    since: Instant,
    released: Instant,
}

impl LockTurns {
    /// Called before the writer's connection begins a call: how long to leave the lock
    /// free first.
    pub(super) fn pause_before_call(&self) -> Duration {
        let mut hold = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (pause, since) = pause_at(*hold, Instant::now());
        *hold = Some(Hold {
            since,
            // Held from the call's start; `released` is set again when it ends.
            released: since,
        });
        pause
    }

    /// Called as a call on the writer's connection ends.
    pub(super) fn call_ended(&self) {
        let mut hold = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(hold) = hold.as_mut() {
            hold.released = Instant::now();
        }
    }
}

/// For a call that begins at `now`, after `hold`: how long to pause first, and since when
/// the lock is then held without a gap.
fn pause_at(hold: Option<Hold>, now: Instant) -> (Duration, Instant) {
    let Some(Hold { since, released }) = hold else {
        return (Duration::ZERO, now);
    };
    let free_for = now.saturating_duration_since(released);
    if free_for >= TURN {
        (Duration::ZERO, now)
    } else if released.saturating_duration_since(since) >= GROUP_SPAN {
        let pause = TURN - free_for;
        (pause, now + pause)
    } else {
        (Duration::ZERO, since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_hold_of_a_span_is_followed_by_a_turn_and_a_shorter_one_is_not() {
        let start = Instant::now();
        // The first call pauses for nothing.
        assert_eq!(pause_at(None, start), (Duration::ZERO, start));
        // Held 100 ms, then called again 1 ms later: the hold goes on.
        let short = Hold {
            since: start,
            released: start + ms(100),
        };
        assert_eq!(pause_at(Some(short), start + ms(101)), (ms(0), start));
        // Held a span, then called again 1 ms later: the lock stays free for the rest of
        // a turn, and a new hold begins after it.
        let long = Hold {
            since: start,
            released: start + GROUP_SPAN,
        };
        let now = start + GROUP_SPAN + ms(1);
        assert_eq!(
            pause_at(Some(long), now),
            (TURN - ms(1), now + TURN - ms(1))
        );
        // Free for a turn already: no pause, and the hold begins anew.
        let later = start + GROUP_SPAN + TURN;
        assert_eq!(pause_at(Some(long), later), (ms(0), later));
    }

    #[test]
    fn the_busy_handler_gives_up_after_the_lock_wait() {
        let last = i32::try_from(LOCK_WAIT.as_millis() / RETRY.as_millis()).unwrap();
        assert!(!retry_for_lock(last));
        assert!(retry_for_lock(last - 1));
        assert!(retry_for_lock(0));
    }
}
