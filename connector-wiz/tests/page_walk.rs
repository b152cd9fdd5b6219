//! The order of the page walk (issue 27): the next page is always asked for before the
//! page before it is handed to the host, so the API's latency stays hidden. While the host
//! takes pages at once, pages are read ahead; while it makes the sync wait (and before it
//! has taken one), the next page's answer is read only after that hand-over, so a sync
//! queued behind other syncs holds one page in its memory, not two or three.

use connector_sdk::Host;
use connector_sdk::http::{Request, Transport};
use connector_sdk::records::{Batch, LogLevel};
use connector_sdk::testkit::{FakeHost, ScriptedTransport, block_on as run};
use connector_wiz::client::WizClient;
use connector_wiz::config::WizConfig;
use connector_wiz::sync::Sync;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

mod common;

const PAGES: u64 = 4;

fn is_issues_query(request: &Request) -> bool {
    String::from_utf8_lossy(&request.body).contains("issuesV2")
}

/// Wiz with `PAGES` pages of the current-shape fixture, chained by cursors `c1`, `c2`, …,
/// and an empty inventory; `read` counts the issues pages whose answer was read.
fn wiz(read: Rc<Cell<u64>>) -> ScriptedTransport {
    common::wiz_answering(move |mut page, variables| {
        let number = match variables["after"].as_str() {
            None => 1,
            Some(cursor) => cursor.trim_start_matches('c').parse::<u64>().unwrap() + 1,
        };
        read.set(read.get() + 1);
        page["data"]["issues"]["pageInfo"] = serde_json::json!({
            "hasNextPage": number < PAGES,
            "endCursor": format!("c{number}"),
        });
        page
    })
}

/// A host that notes, at each page handed to it, how many issues pages had been asked
/// for and how many answers read; each hand-over takes `takes` on the scripted clock.
struct Watching<'t> {
    inner: FakeHost,
    transport: &'t ScriptedTransport,
    read: Rc<Cell<u64>>,
    takes: Duration,
    at_each_page: Vec<(u64, u64)>,
}

impl Host for Watching<'_> {
    fn emit(&mut self, batch: Batch<'_>) -> bool {
        let asked = self
            .transport
            .requests()
            .iter()
            .filter(|r| is_issues_query(r))
            .count() as u64;
        self.at_each_page.push((asked, self.read.get()));
        run(self.transport.sleep(self.takes));
        self.inner.emit(batch)
    }

    fn checkpoint(&mut self, state: &str) {
        self.inner.checkpoint(state)
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        self.inner.log(level, message)
    }

    fn progress(&mut self, done: u64, total: Option<u64>) {
        self.inner.progress(done, total)
    }
}

/// (issues pages asked for, answers read) as each page was handed over, with a host
/// whose hand-overs take `takes`.
fn walk(takes: Duration) -> Vec<(u64, u64)> {
    let read = Rc::new(Cell::new(0));
    let transport = wiz(read.clone());
    let config = WizConfig::from_entries([
        ("api-url", "https://api.us17.app.wiz.io/graphql"),
        ("client-id", "id"),
        ("client-secret", "secret"),
        ("max-requests-per-second", "1000"),
    ])
    .unwrap();
    let mut host = Watching {
        inner: FakeHost::default(),
        transport: &transport,
        read,
        takes,
        at_each_page: Vec::new(),
    };
    run(Sync::new(WizClient::new(&transport, config), &mut host).run(None)).unwrap();
    assert_eq!(host.inner.batches().len() as u64, PAGES);
    host.at_each_page
}

#[test]
fn behind_a_slow_host_the_next_page_is_asked_for_early_but_read_after_the_hand_over() {
    let expected: Vec<(u64, u64)> = (1..=PAGES)
        .map(|page| ((page + 1).min(PAGES), page))
        .collect();
    assert_eq!(walk(Duration::from_secs(2)), expected);
}

#[test]
fn behind_a_host_that_takes_pages_at_once_pages_are_read_ahead() {
    // The first page's hand-over shows the host fast; from then on two pages may wait
    // for their lookup, so the second hand-over finds the third page read as well.
    assert_eq!(
        walk(Duration::from_millis(10)),
        [(2, 1), (4, 3), (4, 4), (4, 4)]
    );
}
