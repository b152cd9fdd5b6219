//! An issues page as it arrived: its body, with each issue screened where it is in it.
//! The findings and assets built from the page borrow the body until they are handed to
//! the host, so a page waiting for its inventory lookup costs the guest about its own
//! size, not the four to five times that parsed copies of every node cost (issue 27).

use crate::mapping::{self, Candidate, SkipReason};
use crate::model::{PageInfo, Text};
use crate::protocol::{self, HttpResponse};
use connector_sdk::ConnectorError;
use std::collections::BTreeMap;
use yoke::{Yoke, Yokeable};

/// What a page's issues came to, borrowing the page's body.
#[derive(Debug, Yokeable)]
pub struct ScreenedPage<'a> {
    /// Issues that passed the rules that need only the issue, in page order.
    pub candidates: Vec<Candidate<'a>>,
    /// Issues whose resource was deleted: the host closes their findings.
    pub removed: Vec<Text<'a>>,
    /// Issues not pulled, counted by [`SkipReason::label`].
    pub skipped: BTreeMap<&'static str, u64>,
    /// The latest status change among the page's issues, for the incremental watermark.
    pub latest_change: Option<Text<'a>>,
    /// How many issues the page had.
    pub issues: usize,
    /// Paging state.
    pub page_info: PageInfo,
    /// Total across all pages (asked on the first page only).
    pub total_count: Option<u64>,
}

/// An issues page: the answer's body, and the page screened in place.
pub struct IssuesPage(Yoke<ScreenedPage<'static>, Box<HttpResponse>>);

impl IssuesPage {
    /// Reads a GraphQL answer of the issues query and screens its issues. `Err` on an
    /// answer that is an error, or any issue that is malformed.
    pub fn read(response: HttpResponse) -> Result<Self, ConnectorError> {
        Yoke::try_attach_to_cart(Box::new(response), |response| screen_page(response))
            .map(IssuesPage)
    }

    /// The screened page.
    pub fn get(&self) -> &ScreenedPage<'_> {
        self.0.get()
    }
}

impl std::fmt::Debug for IssuesPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

fn screen_page(response: &HttpResponse) -> Result<ScreenedPage<'_>, ConnectorError> {
    let connection = protocol::issues_connection(response)?;
    let mut page = ScreenedPage {
        candidates: Vec::with_capacity(connection.nodes.len()),
        removed: Vec::new(),
        skipped: BTreeMap::new(),
        latest_change: None,
        issues: connection.nodes.len(),
        page_info: connection.page_info,
        total_count: connection.total_count,
    };
    for node in connection.nodes {
        let issue = mapping::screen(node)?;
        if let Some(at) = issue
            .status_changed_at
            .filter(|at| page.latest_change.as_ref().is_none_or(|m| **at > **m))
        {
            page.latest_change = Some(at);
        }
        match issue.outcome {
            Ok(candidate) => page.candidates.push(candidate),
            Err(reason) => {
                if reason == SkipReason::DeletedResource {
                    page.removed.push(issue.id);
                }
                *page.skipped.entry(reason.label()).or_default() += 1;
            }
        }
    }
    // Room was made for every issue; the skipped ones' share is given back while the
    // page waits.
    page.candidates.shrink_to_fit();
    Ok(page)
}
