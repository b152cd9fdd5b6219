//! Statuses set here: on one finding, on a selection, or on every finding a query
//! matches. Each change needs a reason and is recorded on the finding (who, when, from
//! what, to what, why) and in its integration's history. The source stays the truth: the
//! next sync puts the source's status back.

use super::ServiceError;
use super::findings::{FindingQuery, Findings};
use crate::model::{
    Action, FindingFilter, FindingStatus, Integration, RunEnd, RunStatus, StatusChange,
    StatusesMoved, StoredFinding,
};
use std::collections::BTreeMap;

/// The longest reason kept, in characters.
pub const MAX_REASON: usize = 500;

/// A status to set, by whom and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRequest {
    /// The status.
    pub status: FindingStatus,
    /// Why: required, as every change is recorded with it.
    pub reason: String,
    /// Who asks: a user's name.
    pub by: String,
}

/// Which findings a status is set on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These, each by integration name and source id.
    These(Vec<(String, String)>),
    /// Every finding the query matches.
    Matching(FindingQuery),
}

/// What setting a status on one finding did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    /// The finding, before the change.
    pub finding: StoredFinding,
    /// Its integration.
    pub integration: Integration,
    /// The status set.
    pub status: FindingStatus,
}

/// What setting a status on several findings did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusesSet {
    /// The status set.
    pub status: FindingStatus,
    /// How many findings changed (those that had it already did not).
    pub changed: u64,
    /// The integrations whose findings changed, by name: the next sync of each puts the
    /// source's statuses back.
    pub integrations: Vec<String>,
}

/// The reason, trimmed, or why it cannot be kept.
fn checked_reason(reason: &str) -> Result<String, ServiceError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ServiceError::BadReason(
            "give a reason: every status change is recorded with why it was made".into(),
        ));
    }
    if reason.chars().count() > MAX_REASON {
        return Err(ServiceError::BadReason(format!(
            "a reason holds at most {MAX_REASON} characters"
        )));
    }
    if reason.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ServiceError::BadReason(
            "a reason is text: no control characters".into(),
        ));
    }
    Ok(reason.to_string())
}

/// The history line of the changes `moved` made in one integration.
fn history_line(moved: &[StatusesMoved], status: FindingStatus, reason: &str) -> String {
    let total: u64 = moved.iter().map(|m| m.count).sum();
    let from: Vec<String> = moved
        .iter()
        .map(|m| format!("{} from {}", m.count, m.from))
        .collect();
    let findings = if total == 1 { "finding" } else { "findings" };
    format!(
        "status of {total} {findings} set to {status} ({}); reason: {reason}",
        from.join(", ")
    )
}

impl Findings<'_> {
    /// Sets one finding's status here.
    pub async fn set_status(
        &self,
        id: &str,
        integration: Option<&str>,
        request: StatusRequest,
    ) -> Result<StatusSet, ServiceError> {
        let finding = self.one(id, integration).await?;
        let owner = (self.platform.store())
            .integration(&finding.integration)
            .await?;
        let filter = FindingFilter {
            integration: Some(owner.id),
            id: Some(finding.id.clone()),
            ..Default::default()
        };
        let status = request.status;
        self.change(&[filter], request).await?;
        Ok(StatusSet {
            finding,
            integration: owner,
            status,
        })
    }

    /// Sets the status of every finding `selection` names or matches.
    pub async fn set_statuses(
        &self,
        selection: Selection,
        request: StatusRequest,
    ) -> Result<StatusesSet, ServiceError> {
        let filters = match selection {
            Selection::Matching(query) => vec![self.filter(query).await?],
            Selection::These(keys) => {
                if keys.is_empty() {
                    return Err(ServiceError::NothingChosen);
                }
                // Each integration named once, however many of its findings are chosen.
                let mut ids: BTreeMap<String, Option<i64>> = BTreeMap::new();
                let mut filters = Vec::new();
                for (integration, id) in keys {
                    let integration = match ids.get(&integration) {
                        Some(known) => *known,
                        None => {
                            let found = self.integration_id(Some(&integration)).await?;
                            ids.insert(integration, found);
                            found
                        }
                    };
                    filters.push(FindingFilter {
                        integration,
                        id: Some(id),
                        ..Default::default()
                    });
                }
                filters
            }
        };
        let status = request.status;
        let moved = self.change(&filters, request).await?;
        let integrations = (self.platform.store().integrations().await?)
            .into_iter()
            .filter(|i| moved.contains_key(&i.id))
            .map(|i| i.name)
            .collect();
        Ok(StatusesSet {
            status,
            changed: moved.values().flatten().map(|m| m.count).sum(),
            integrations,
        })
    }

    /// Sets the status on what each of `filters` matches, then writes one history row
    /// per integration that changed. What moved, by integration.
    async fn change(
        &self,
        filters: &[FindingFilter],
        request: StatusRequest,
    ) -> Result<BTreeMap<i64, Vec<StatusesMoved>>, ServiceError> {
        let change = StatusChange {
            status: request.status,
            reason: checked_reason(&request.reason)?,
            by: request.by,
        };
        let store = self.platform.store();
        let mut moved: BTreeMap<i64, Vec<StatusesMoved>> = BTreeMap::new();
        for filter in filters {
            for m in store.set_finding_statuses(filter, &change).await? {
                let rows = moved.entry(m.integration).or_default();
                match rows.iter_mut().find(|r| r.from == m.from) {
                    Some(row) => row.count += m.count,
                    None => rows.push(m),
                }
            }
        }
        for (integration, rows) in &moved {
            let line = history_line(rows, change.status, &change.reason);
            store
                .record_run(
                    *integration,
                    Action::StatusChange,
                    &change.by,
                    &RunEnd::bare(RunStatus::Succeeded, None),
                    Some(&line),
                )
                .await?;
        }
        Ok(moved)
    }
}

/// The warning after a status change: the source stays the truth.
pub fn status_warning(integrations: &[String]) -> String {
    let names: Vec<String> = integrations.iter().map(|i| format!("`{i}`")).collect();
    format!(
        "the next sync of {} puts the source's status back",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_required_short_and_plain() {
        assert!(checked_reason("  ").is_err());
        assert!(checked_reason(&"x".repeat(MAX_REASON + 1)).is_err());
        assert!(checked_reason("bad\u{7}bell").is_err());
        assert_eq!(
            checked_reason("  accepted by the CISO\n").unwrap(),
            "accepted by the CISO"
        );
    }

    #[test]
    fn the_history_line_says_how_many_from_what_to_what_and_why() {
        let moved = [
            StatusesMoved {
                integration: 1,
                from: FindingStatus::Failed,
                count: 9,
            },
            StatusesMoved {
                integration: 1,
                from: FindingStatus::Passed,
                count: 1,
            },
        ];
        assert_eq!(
            history_line(&moved, FindingStatus::AcceptedFailed, "risk accepted"),
            "status of 10 findings set to accepted_failed (9 from failed, 1 from passed); reason: risk accepted"
        );
    }
}
