//! Holding answers back: a connector that asks for its next page early (so that the API's
//! latency is hidden) need not hold that page in memory too while the host is slow to take
//! the page before it. A request sent under a [`BodyGate`] goes out at once, but its
//! answer's body is read only while the gate is open; until then it waits outside the
//! plugin, in the host's connection (issue 27: a page's body is most of what a waiting
//! sync costs).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// Lets the answers of the requests sent under it be read, or holds them back. Open when
/// made; clones share one gate.
#[derive(Clone, Default)]
pub struct BodyGate(Rc<State>);

#[derive(Default)]
struct State {
    closed: Cell<bool>,
    waiting: RefCell<Vec<Waker>>,
}

impl BodyGate {
    /// Opens the gate (waking every answer held back) or closes it (holding back the
    /// answers not yet being read; one already being read goes on).
    pub fn set_open(&self, open: bool) {
        self.0.closed.set(!open);
        if open {
            for waker in self.0.waiting.take() {
                waker.wake();
            }
        }
    }

    /// Whether answers may be read now.
    pub fn is_open(&self) -> bool {
        !self.0.closed.get()
    }

    /// Waits until the gate is open.
    pub async fn opened(&self) {
        poll_fn(|cx| match self.is_open() {
            true => Poll::Ready(()),
            false => {
                let mut waiting = self.0.waiting.borrow_mut();
                if !waiting.iter().any(|w| w.will_wake(cx.waker())) {
                    waiting.push(cx.waker().clone());
                }
                Poll::Pending
            }
        })
        .await
    }
}

impl std::fmt::Debug for BodyGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyGate")
            .field("open", &self.is_open())
            .finish()
    }
}

/// Two requests are alike under the same gate, not under two gates that happen to be in
/// the same state.
impl PartialEq for BodyGate {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for BodyGate {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Wake};

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_closed_gate_holds_its_waiter_until_opened_and_wakes_it_once() {
        let gate = BodyGate::default();
        assert!(gate.is_open(), "a new gate is open");
        gate.set_open(false);
        let woken = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut opened = pin!(gate.opened());
        assert!(opened.as_mut().poll(&mut cx).is_pending());
        assert!(opened.as_mut().poll(&mut cx).is_pending());
        assert_eq!(woken.0.load(Ordering::SeqCst), 0);
        gate.clone().set_open(true);
        assert_eq!(woken.0.load(Ordering::SeqCst), 1, "one waker, woken once");
        assert!(opened.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn gates_are_equal_only_to_their_clones() {
        let gate = BodyGate::default();
        assert_eq!(gate, gate.clone());
        assert_ne!(gate, BodyGate::default());
    }
}
