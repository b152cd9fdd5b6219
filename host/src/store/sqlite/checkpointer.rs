//! Copies the WAL back into the database file (SQLite's checkpoint) on a thread and
//! connection of its own, so that the writer never stops to do it.
//!
//! Left to the writer, a checkpoint runs inside the commit that crosses the WAL's
//! threshold: the sync whose commit it is waits while megabytes of pages are read back
//! and written again, on the thread that is already the sync's bottleneck. Here the
//! writer only wakes this thread after its commits; the thread lets a burst of commits
//! settle ([`SETTLE`]) and copies what they wrote with a passive checkpoint, which never
//! waits for readers or writers and never blocks them. A 100k sync took 0.88 of the wall
//! time (BENCHMARKS.md, issue 27). The writer keeps an automatic checkpoint at a higher
//! threshold ([`super::WRITER_CHECKPOINT_PAGES`]) in case this thread falls behind.

use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::Duration;

/// How long the thread waits after a wake for more commits, so that a run of group
/// commits is copied in one checkpoint, not one each.
const SETTLE: Duration = Duration::from_millis(100);

/// The checkpointing thread of one store. Dropping the last handle ends the thread, which
/// closes its connection.
pub(super) struct Checkpointer {
    wake: SyncSender<()>,
}

impl Checkpointer {
    /// Starts the thread, with a connection of its own to the database at `path`.
    pub(super) fn start(path: &Path) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let conn = Connection::open(path)?;
        // Reading the schema opens the WAL, which a checkpoint needs. The connection
        // reads no rows: its page cache stays small.
        conn.execute_batch("PRAGMA cache_size = -256; SELECT count(*) FROM sqlite_schema;")?;
        // One pending wake is enough: every wake asks for the same thing.
        let (wake, woken) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || copy_when_woken(conn, woken))?;
        Ok(Checkpointer { wake })
    }

    /// Tells the thread that the writer committed; it never waits.
    pub(super) fn committed(&self) {
        match self.wake.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => {
                tracing::warn!("the SQLite checkpoint thread has stopped; the writer's own automatic checkpoints go on");
            }
        }
    }
}

fn copy_when_woken(conn: Connection, woken: Receiver<()>) {
    while woken.recv().is_ok() {
        std::thread::sleep(SETTLE);
        while woken.try_recv().is_ok() {}
        // Busy when another connection is checkpointing (another process on the same
        // file): that one copies the frames instead.
        let copied = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        });
        match copied {
            Ok((frames, copied)) => tracing::trace!(frames, copied, "checkpoint"),
            Err(e) => tracing::debug!(error = %e, "checkpoint skipped"),
        }
    }
}
