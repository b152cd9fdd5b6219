//! Cursor bookkeeping for Relay pagination, refusing answers that would loop forever.

use crate::error::ConnectorError;
use crate::model::PageInfo;
use std::collections::HashSet;

/// Tracks the cursors seen in one paginated walk.
#[derive(Debug, Default)]
pub struct CursorGuard {
    seen: HashSet<String>,
}

impl CursorGuard {
    /// The cursor of the next page, `None` at the end. Fails on `hasNextPage` without a
    /// cursor and on a cursor seen before.
    pub fn next(&mut self, page: &PageInfo) -> Result<Option<String>, ConnectorError> {
        if !page.has_next_page {
            return Ok(None);
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
            g.next(&page(true, Some("a"))).unwrap().as_deref(),
            Some("a")
        );
        assert_eq!(
            g.next(&page(true, Some("b"))).unwrap().as_deref(),
            Some("b")
        );
        assert_eq!(g.next(&page(false, Some("c"))).unwrap(), None);
    }

    #[test]
    fn refuses_repeated_and_missing_cursors() {
        let mut g = CursorGuard::default();
        g.next(&page(true, Some("a"))).unwrap();
        assert!(
            g.next(&page(true, Some("a")))
                .unwrap_err()
                .to_string()
                .contains("repeated")
        );
        assert!(
            g.next(&page(true, None))
                .unwrap_err()
                .to_string()
                .contains("endCursor")
        );
        assert!(g.next(&page(true, Some(""))).is_err());
    }
}
