//! Cursor bookkeeping for Relay pagination, refusing answers that would loop forever.

use crate::error::ConnectorError;
use crate::model::PageInfo;
use std::collections::HashSet;

/// Empty pages in a row, each claiming another follows, after which a walk stops. A few
/// can happen when items vanish between requests or a page holds only what the service
/// account may not see; more means a server that pages forever with fresh cursors, which
/// the repeated-cursor check cannot see. Each costs a request, so five stay cheap.
pub const MAX_EMPTY_PAGES_IN_A_ROW: u32 = 5;

/// Tracks the cursors seen in one paginated walk.
#[derive(Debug, Default)]
pub struct CursorGuard {
    seen: HashSet<String>,
    empty_in_a_row: u32,
}

impl CursorGuard {
    /// The cursor of the page after one of `nodes` items, `None` at the end. Fails on
    /// `hasNextPage` without a cursor, on a cursor seen before, and on too many empty
    /// pages in a row.
    pub fn next(
        &mut self,
        page: &PageInfo,
        nodes: usize,
    ) -> Result<Option<String>, ConnectorError> {
        if !page.has_next_page {
            return Ok(None);
        }
        self.empty_in_a_row = if nodes == 0 {
            self.empty_in_a_row + 1
        } else {
            0
        };
        if self.empty_in_a_row >= MAX_EMPTY_PAGES_IN_A_ROW {
            return Err(ConnectorError::Protocol(format!(
                "{MAX_EMPTY_PAGES_IN_A_ROW} empty pages in a row each said another page follows; stopping to avoid paging forever"
            )));
        }
        let cursor = page
            .end_cursor
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                ConnectorError::Protocol(
                    "`pageInfo.hasNextPage` is true but `endCursor` is missing".into(),
                )
            })?;
        if !self.seen.insert(cursor.clone()) {
            return Err(ConnectorError::Protocol(format!(
                "`pageInfo.endCursor` repeated an earlier cursor ({cursor}); stopping to avoid a loop"
            )));
        }
        Ok(Some(cursor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(has_next_page: bool, end_cursor: Option<&str>) -> PageInfo {
        PageInfo {
            has_next_page,
            end_cursor: end_cursor.map(str::to_string),
        }
    }

    #[test]
    fn walks_and_ends() {
        let mut g = CursorGuard::default();
        assert_eq!(
            g.next(&page(true, Some("a")), 5).unwrap().as_deref(),
            Some("a")
        );
        assert_eq!(
            g.next(&page(true, Some("b")), 5).unwrap().as_deref(),
            Some("b")
        );
        assert_eq!(g.next(&page(false, Some("c")), 0).unwrap(), None);
    }

    #[test]
    fn refuses_repeated_and_missing_cursors() {
        let mut g = CursorGuard::default();
        g.next(&page(true, Some("a")), 1).unwrap();
        assert!(
            g.next(&page(true, Some("a")), 1)
                .unwrap_err()
                .to_string()
                .contains("repeated")
        );
        assert!(
            g.next(&page(true, None), 1)
                .unwrap_err()
                .to_string()
                .contains("endCursor")
        );
        assert!(g.next(&page(true, Some("")), 1).is_err());
    }

    #[test]
    fn stops_empty_pages_with_fresh_cursors_but_tolerates_a_few() {
        let mut g = CursorGuard::default();
        // Four empty pages, then items again: the count starts over.
        for (i, nodes) in [0, 0, 0, 0, 3, 0, 0, 0, 0].into_iter().enumerate() {
            assert!(g.next(&page(true, Some(&format!("c{i}"))), nodes).is_ok());
        }
        let err = g.next(&page(true, Some("c9")), 0).unwrap_err();
        assert!(err.to_string().contains("5 empty pages in a row"), "{err}");
        // An empty last page is how a walk ends, not a loop.
        let mut g = CursorGuard::default();
        assert_eq!(g.next(&page(false, None), 0).unwrap(), None);
    }
}
