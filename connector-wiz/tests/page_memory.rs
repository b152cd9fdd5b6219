//! What an issues page costs while it waits for its inventory lookup: its body, and the
//! screened issues read in place from it, not copies of every node (issue 27: the guest's
//! heap was four to five times a page, and 500 running syncs held 1.5 GiB of it). The
//! bytes are counted by this test binary's allocator, so the bound holds on every machine.

use connector_wiz::mapping;
use connector_wiz::page::IssuesPage;
use connector_wiz::protocol::HttpResponse;
use serde_json::Value;
use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting the bytes live on the heap.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; only counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::SeqCst);
        // SAFETY: the caller's layout, as given.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: a block this allocator handed out, with its layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::SeqCst);
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: a block this allocator handed out, with its layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A page of `copies` times the current-shape fixture's issues, as Wiz would send it.
fn large_page(copies: usize) -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/wiz/synthetic_issues-v2_page_current-shape.json"
    );
    let mut page: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let nodes = page["data"]["issues"]["nodes"].as_array().unwrap().clone();
    let all: Vec<Value> = (0..copies).flat_map(|_| nodes.iter().cloned()).collect();
    page["data"]["issues"]["nodes"] = Value::Array(all);
    serde_json::to_vec(&page).unwrap()
}

#[test]
fn a_screened_page_holds_little_beside_its_body() {
    let body = large_page(100);
    let body_bytes = body.len();
    let response = HttpResponse {
        status: 200,
        retry_after: None,
        body,
    };
    let before = LIVE.load(Ordering::SeqCst);
    let page = IssuesPage::read(response).unwrap();
    let held = LIVE.load(Ordering::SeqCst) - before;

    let screened = page.get();
    assert_eq!(screened.issues, 600);
    assert_eq!(
        screened.candidates.len(),
        300,
        "three of six issues are pulled"
    );
    // Parsed copies of every node held 2.4 times the body; strings copied out of it, or
    // room kept for the issues that were skipped, pass half of it.
    assert!(
        held * 2 < body_bytes,
        "a screened page holds {held} bytes beside its {body_bytes}-byte body"
    );

    // What is built from the page borrows its text, until the host has copied it.
    let candidate = &screened.candidates[0];
    let finding = mapping::finding(candidate, "https://app.wiz.io");
    let asset = mapping::asset(candidate, None).unwrap();
    assert!(matches!(finding.raw, Cow::Borrowed(_)));
    assert!(matches!(asset.raw, Cow::Borrowed(_)));
    assert_eq!(finding.raw, candidate.raw);
    assert!(finding.raw.contains(&*asset.raw));
}
