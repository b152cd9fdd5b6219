//! Gates that hold one request until the test lets it through: a sync the test catches
//! mid-run at a point it chose, however loaded the machine, instead of one it hopes is
//! still going.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The longest a gate holds a request if the test never opens it (a test that failed
/// before opening still lets the simulator shut down).
const LONGEST_HOLD: Duration = Duration::from_secs(300);

/// What the server and the test's handle share.
#[derive(Debug)]
pub(crate) struct GateState {
    /// Requests that reached the gate.
    reached: AtomicU64,
    open: tokio::sync::watch::Sender<bool>,
}

impl GateState {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(GateState {
            reached: AtomicU64::new(0),
            open: tokio::sync::watch::Sender::new(false),
        })
    }

    /// Holds the calling request until the gate opens (or [`LONGEST_HOLD`] passes).
    pub(crate) async fn pass(&self) {
        let mut open = self.open.subscribe();
        self.reached.fetch_add(1, Ordering::SeqCst);
        let _ = tokio::time::timeout(LONGEST_HOLD, open.wait_for(|o| *o)).await;
    }
}

/// The test's handle on a gate: see whether a request is held there, then open it.
/// Dropping the handle opens the gate.
#[derive(Debug)]
pub struct Gate(pub(crate) Arc<GateState>);

impl Gate {
    /// How many requests have reached the gate (held, or let through since).
    pub fn reached(&self) -> u64 {
        self.0.reached.load(Ordering::SeqCst)
    }

    /// Waits until a request is held at the gate; panics after `timeout`, naming `what`.
    pub fn wait_reached(&self, timeout: Duration, what: &str) {
        let deadline = Instant::now() + timeout;
        while self.reached() == 0 {
            assert!(
                Instant::now() < deadline,
                "no request reached the gate ({what}) within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Lets the held request, and any later one, through.
    pub fn open(&self) {
        self.0.open.send_replace(true);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.open();
    }
}
