//! The sync: page through the alerts of the organization (or of each chosen repository)
//! by `Link`, hand each page to the host with a resume point, and remember the newest
//! change seen, so the next sync reads only what changed since.

use crate::api::{GithubApi, next_link};
use crate::mapping;
use crate::model::Alert;
use connector_sdk::http::Transport;
use connector_sdk::paging::PageGuard;
use connector_sdk::records::{Batch, LogLevel};
use connector_sdk::{ConnectorError, Host, Pages, SyncSummary};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::HashSet;

/// How far before the watermark an incremental sync reads again: a change GitHub stamped
/// a little late is not missed.
const OVERLAP_S: i64 = 300;

/// What a checkpoint holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    /// The newest `updated_at` read, for the next incremental sync.
    pub watermark: Option<String>,
    /// Where an unfinished full walk goes on.
    pub resume: Option<Resume>,
}

/// Where an unfinished walk goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    /// Which scope: the organization (0), or the index of a chosen repository.
    pub scope: usize,
    /// The next page's URL, as GitHub gave it.
    pub next: String,
}

impl SyncState {
    /// Reads a checkpoint.
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("unreadable checkpoint ({e})"))
    }

    fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The later of two RFC 3339 times (a time that does not parse loses).
fn later(a: Option<String>, b: Option<&str>) -> Option<String> {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    match (a, b.filter(|t| parse(t).is_some())) {
        (Some(a), Some(b)) if parse(b) > parse(&a) => Some(b.to_string()),
        (None, Some(b)) => Some(b.to_string()),
        (a, _) => a,
    }
}

/// Runs one sync.
pub async fn run<T: Transport, H: Host>(
    api: &GithubApi<T>,
    host: &mut H,
    state: Option<&str>,
) -> Result<SyncSummary, ConnectorError> {
    let mut pages = Pages::new(host);
    let state = match state.map(SyncState::parse) {
        None => SyncState::default(),
        Some(Ok(state)) => state,
        Some(Err(reason)) => {
            pages.log(
                LogLevel::Warn,
                &format!("ignoring the stored checkpoint: {reason}; running a full sync"),
            );
            SyncState::default()
        }
    };
    let prefix = format!("{}/", api.config().api_url);
    let resume = state.resume.clone().filter(|r| {
        // A resume point from other settings (another API URL) is not followed.
        r.next.starts_with(&prefix)
    });
    let scopes: Vec<Option<String>> = match api.config().repositories.is_empty() {
        true => vec![None],
        false => api
            .config()
            .repositories
            .iter()
            .cloned()
            .map(Some)
            .collect(),
    };
    let mut walk = Walk {
        emitted_repos: HashSet::new(),
        watermark: state.watermark.clone(),
        done: 0,
        unreadable: 0,
    };
    let full = resume.is_none() && state.watermark.is_none();
    match (&resume, &state.watermark) {
        (None, Some(watermark)) => {
            let cutoff = chrono::DateTime::parse_from_rfc3339(watermark)
                .map(|t| t.timestamp() - OVERLAP_S)
                .ok();
            for scope in &scopes {
                let first = api.alerts_url(scope.as_deref(), "desc");
                walk.pages(api, &mut pages, first, cutoff, None).await?;
            }
        }
        _ => {
            let start = resume.as_ref().map_or(0, |r| r.scope.min(scopes.len() - 1));
            for (index, scope) in scopes.iter().enumerate().skip(start) {
                let first = match &resume {
                    Some(r) if index == start => r.next.clone(),
                    _ => api.alerts_url(scope.as_deref(), "asc"),
                };
                walk.pages(api, &mut pages, first, None, Some(index))
                    .await?;
            }
        }
    }
    if walk.unreadable > 0 {
        pages.warn(format!(
            "{} alert(s) could not be read and were skipped (see the log)",
            walk.unreadable
        ));
    }
    let done = SyncState {
        watermark: walk.watermark.clone(),
        resume: None,
    };
    pages.deliver(Batch::default(), Some(&done.to_text()))?;
    Ok(pages.finish(full))
}

/// What one run has read so far.
struct Walk {
    emitted_repos: HashSet<u64>,
    watermark: Option<String>,
    done: u64,
    unreadable: u64,
}

impl Walk {
    /// Walks pages from `first`. With a `cutoff` (epoch seconds; an incremental read,
    /// newest first) it stops after the first page that reaches older alerts; with a
    /// `scope` it stores a resume point after each page.
    async fn pages<T: Transport, H: Host>(
        &mut self,
        api: &GithubApi<T>,
        pages: &mut Pages<'_, H>,
        first: String,
        cutoff: Option<i64>,
        scope: Option<usize>,
    ) -> Result<(), ConnectorError> {
        let prefix = format!("{}/", api.config().api_url);
        let mut guard = PageGuard::default();
        let mut url = first;
        let mut number = 0u64;
        loop {
            number += 1;
            let what = format!("Dependabot alerts page {number}");
            let response = api.get(&url, &what).await?;
            let raws: Vec<Box<RawValue>> = serde_json::from_slice(&response.body).map_err(|e| {
                ConnectorError::Protocol(format!("{what}: not a JSON list of alerts ({e})"))
            })?;
            let mut batch = Batch::default();
            let mut reached_cutoff = false;
            for raw in &raws {
                let alert: Alert = match serde_json::from_str(raw.get()) {
                    Ok(alert) => alert,
                    Err(e) => {
                        self.skip(pages, &format!("{what}: an alert does not read ({e})"));
                        continue;
                    }
                };
                let updated = alert.updated_at.as_deref();
                if let (Some(cutoff), Some(at)) = (cutoff, updated)
                    && chrono::DateTime::parse_from_rfc3339(at)
                        .is_ok_and(|t| t.timestamp() < cutoff)
                {
                    reached_cutoff = true;
                }
                match mapping::finding(&alert, raw.get()) {
                    Ok(finding) => {
                        self.watermark = later(self.watermark.take(), updated);
                        let repository = alert.repository.as_ref().expect("mapped alerts name one");
                        if self.emitted_repos.insert(repository.id) {
                            batch
                                .assets
                                .push(mapping::asset(repository, &api.config().organization));
                        }
                        batch.findings.push(finding);
                    }
                    Err(reason) => {
                        self.skip(pages, &format!("{what}: alert {}: {reason}", alert.number))
                    }
                }
            }
            self.done += raws.len() as u64;
            let next = next_link(&response);
            if let Some(n) = &next
                && !n.starts_with(&prefix)
            {
                return Err(ConnectorError::Protocol(format!(
                    "{what}: the next page is at {n}, outside {prefix}; not following it with the token"
                )));
            }
            let next = guard.next(
                next.is_some(),
                next.as_deref(),
                raws.len(),
                "the `Link` header's next URL",
            )?;
            let next = next.filter(|_| !reached_cutoff);
            let resume = match (scope, &next) {
                (Some(scope), Some(next)) => Some(
                    SyncState {
                        watermark: self.watermark.clone(),
                        resume: Some(Resume {
                            scope,
                            next: next.clone(),
                        }),
                    }
                    .to_text(),
                ),
                _ => None,
            };
            pages.deliver(batch, resume.as_deref())?;
            pages.progress(self.done, None);
            match next {
                Some(next) => url = next,
                None => return Ok(()),
            }
        }
    }

    fn skip<H: Host>(&mut self, pages: &mut Pages<'_, H>, reason: &str) {
        self.unreadable += 1;
        pages.skipped(1);
        pages.log(LogLevel::Warn, reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_later_time_wins_and_garbage_never_does() {
        let t = |s: &str| Some(s.to_string());
        assert_eq!(
            later(t("2025-01-02T00:00:00Z"), Some("2025-01-01T00:00:00Z")),
            t("2025-01-02T00:00:00Z")
        );
        assert_eq!(
            later(t("2025-01-01T00:00:00Z"), Some("2025-01-02T00:00:00Z")),
            t("2025-01-02T00:00:00Z")
        );
        assert_eq!(later(None, Some("yesterday")), None);
        assert_eq!(
            later(None, Some("2025-01-01T00:00:00Z")),
            t("2025-01-01T00:00:00Z")
        );
    }
}
