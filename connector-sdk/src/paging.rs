//! A guard over one paginated walk, whatever carries the cursor (a GraphQL `endCursor`, a
//! REST `Link: <…>; rel="next"` URL): it refuses answers that would page forever.

use crate::error::ConnectorError;
use std::collections::HashSet;

/// Empty pages in a row, each claiming another follows, after which a walk stops. A few
/// happen when items vanish between requests or a page holds only what the credentials
/// may not see; more means a server that pages forever with fresh cursors, which the
/// repeated-cursor check cannot see. Each costs a request, so five stay cheap.
pub const MAX_EMPTY_PAGES_IN_A_ROW: u32 = 5;

/// The cursors seen in one walk.
#[derive(Debug, Default)]
pub struct PageGuard {
    seen: HashSet<String>,
    empty_in_a_row: u32,
}

impl PageGuard {
    /// The cursor of the page after one of `items` items: `None` at the end (no next page
    /// announced). `what` names the cursor in errors (for example "`pageInfo.endCursor`"
    /// or "the `Link` header's next URL"). Fails when a next page is announced without a
    /// cursor, when a cursor repeats, and after too many empty pages in a row.
    pub fn next(
        &mut self,
        has_next: bool,
        cursor: Option<&str>,
        items: usize,
        what: &str,
    ) -> Result<Option<String>, ConnectorError> {
        if !has_next {
            return Ok(None);
        }
        self.empty_in_a_row = match items {
            0 => self.empty_in_a_row + 1,
            _ => 0,
        };
        if self.empty_in_a_row >= MAX_EMPTY_PAGES_IN_A_ROW {
            return Err(ConnectorError::Protocol(format!(
                "{MAX_EMPTY_PAGES_IN_A_ROW} empty pages in a row each said another page follows; stopping to avoid paging forever"
            )));
        }
        let cursor = cursor.filter(|c| !c.is_empty()).ok_or_else(|| {
            ConnectorError::Protocol(format!("a next page was announced but {what} is missing"))
        })?;
        if !self.seen.insert(cursor.to_string()) {
            return Err(ConnectorError::Protocol(format!(
                "{what} repeated an earlier one ({cursor}); stopping to avoid a loop"
            )));
        }
        Ok(Some(cursor.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHAT: &str = "the cursor";

    #[test]
    fn walks_and_ends() {
        let mut g = PageGuard::default();
        assert_eq!(
            g.next(true, Some("a"), 5, WHAT).unwrap().as_deref(),
            Some("a")
        );
        assert_eq!(
            g.next(true, Some("b"), 5, WHAT).unwrap().as_deref(),
            Some("b")
        );
        assert_eq!(g.next(false, Some("c"), 0, WHAT).unwrap(), None);
    }

    #[test]
    fn refuses_repeated_and_missing_cursors() {
        let mut g = PageGuard::default();
        g.next(true, Some("a"), 1, WHAT).unwrap();
        let repeated = g.next(true, Some("a"), 1, WHAT).unwrap_err().to_string();
        assert!(
            repeated.contains("the cursor repeated an earlier one (a)"),
            "{repeated}"
        );
        let missing = g.next(true, None, 1, WHAT).unwrap_err().to_string();
        assert!(missing.contains("the cursor is missing"), "{missing}");
        assert!(g.next(true, Some(""), 1, WHAT).is_err());
    }

    #[test]
    fn stops_empty_pages_with_fresh_cursors_but_tolerates_a_few() {
        let mut g = PageGuard::default();
        // Four empty pages, then items again: the count starts over.
        for (i, items) in [0, 0, 0, 0, 3, 0, 0, 0, 0].into_iter().enumerate() {
            assert!(g.next(true, Some(&format!("c{i}")), items, WHAT).is_ok());
        }
        let err = g.next(true, Some("c9"), 0, WHAT).unwrap_err();
        assert!(err.to_string().contains("5 empty pages in a row"), "{err}");
        // An empty last page is how a walk ends, not a loop.
        let mut g = PageGuard::default();
        assert_eq!(g.next(false, None, 0, WHAT).unwrap(), None);
    }
}
