//! The pages' templates (`host/templates/`) and the values they show.

use super::forms::FormField;
use crate::model::{CheckOutcome, InventoryAsset, StoredFinding};
use crate::service::TestReport;
use askama::Template;

/// What every page's frame shows: who is logged in, the CSRF token for the logout form,
/// and which section is open.
#[derive(Debug, Clone)]
pub struct Nav {
    /// User name.
    pub user: String,
    /// Role.
    pub role: String,
    /// Whether the user may change things (admin forms are shown).
    pub admin: bool,
    /// The session's CSRF token, for every form.
    pub csrf: String,
    /// `integrations`, `findings`, `assets` or `workers`.
    pub section: &'static str,
}

/// An error.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: String,
    pub detail: String,
    pub status: u16,
}

/// The login form.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub error: Option<String>,
}

/// An integration's card.
pub struct Card {
    pub name: String,
    pub connector: String,
    /// The plugin version it runs.
    pub version: String,
    pub last_status: String,
    pub last_time: String,
    pub next_sync: String,
    pub bar: String,
    pub counts: String,
}

/// A plugin's card: what can be added.
pub struct PluginCard {
    pub name: String,
    /// The newest version: what a new integration runs.
    pub version: String,
    /// Every version there is, oldest first.
    pub versions: Vec<String>,
}

/// Another version an integration can move to.
pub struct VersionChoice {
    pub version: String,
    /// "upgrade" or "roll back".
    pub move_name: &'static str,
}

/// Integrations: a card per integration and per plugin, with a search box.
#[derive(Template)]
#[template(path = "integrations.html")]
pub struct IntegrationsPage {
    pub nav: Nav,
    pub q: String,
    pub cards: Vec<Card>,
    pub plugins: Vec<PluginCard>,
    pub failed_plugins: Vec<String>,
}

/// A connection test's steps, as shown.
pub struct TestView {
    pub passed: bool,
    pub error: String,
    pub steps: Vec<StepView>,
}

/// One step.
pub struct StepView {
    pub name: String,
    pub outcome: String,
    pub detail: String,
}

impl From<&TestReport> for TestView {
    fn from(report: &TestReport) -> Self {
        TestView {
            passed: report.error.is_none(),
            error: report.error.clone().unwrap_or_default(),
            steps: report
                .steps
                .iter()
                .map(|s| StepView {
                    name: s.name.clone(),
                    outcome: match s.outcome {
                        CheckOutcome::Passed => "passed",
                        CheckOutcome::Failed => "failed",
                        CheckOutcome::Skipped => "skipped",
                    }
                    .into(),
                    detail: s.detail.clone(),
                })
                .collect(),
        }
    }
}

/// The configure form, new or edit.
#[derive(Template)]
#[template(path = "configure.html")]
pub struct ConfigurePage {
    pub nav: Nav,
    /// When auto syncs run (UTC), as `serve` was told.
    pub sync_time: String,
    pub is_new: bool,
    pub action: String,
    pub name: String,
    pub name_error: Option<String>,
    pub connector: String,
    pub fields: Vec<FormField>,
    pub auto_sync_days: u32,
    pub auto_sync_error: Option<String>,
    pub auto_onboard: bool,
    pub update_metadata: bool,
    /// The plugin's streams, checked as chosen (shown when it offers several).
    pub streams: Vec<StreamChoice>,
    pub streams_error: Option<String>,
    pub test: Option<TestView>,
    pub error: Option<String>,
}

/// A stream of the configure form.
pub struct StreamChoice {
    pub name: String,
    pub label: String,
    pub description: String,
    pub checked: bool,
}

/// A history row as shown.
pub struct HistoryView {
    /// What it was, as people say it (`Sync now`).
    pub action: String,
    pub started: String,
    pub finished: String,
    pub started_by: String,
    /// The status's id, for its style.
    pub status: String,
    /// The status as people say it.
    pub status_label: String,
    /// Findings new, updated, unchanged, closed, skipped; assets onboarded, updated:
    /// empty for a row that stores nothing (a test, a settings change).
    pub counts: Vec<String>,
    /// What a settings change changed.
    pub details: Option<String>,
    pub warnings: Vec<String>,
    pub error: String,
}

/// A running sync as shown.
pub struct ProgressView {
    pub done: u64,
    pub total: String,
    pub started_by: String,
}

/// One integration: settings, Test Connection, Sync Now with progress, history.
#[derive(Template)]
#[template(path = "integration.html")]
pub struct IntegrationPage {
    pub nav: Nav,
    pub name: String,
    pub connector: String,
    /// The plugin version it runs.
    pub version: String,
    /// The other versions there are.
    pub other_versions: Vec<VersionChoice>,
    pub settings: Vec<(String, String)>,
    pub policy: Vec<(String, String)>,
    pub notice: Option<String>,
    pub test: Option<TestView>,
    pub running: Option<ProgressView>,
    /// The Sync Now that waits for a free worker or starts on one, if there is one.
    pub queued: Option<crate::store::QueuedSync>,
    pub bar: String,
    pub timeline: String,
    pub history: Vec<HistoryView>,
    pub page: usize,
    pub pages: usize,
}

/// A finding's row in the list.
pub struct FindingRow {
    pub finding: StoredFinding,
    pub changed: String,
}

/// A column header of a table that sorts.
pub struct SortHeader {
    pub label: &'static str,
    /// The same view sorted by this column, when it sorts.
    pub link: Option<String>,
    /// `aria-sort`: ascending, descending or none.
    pub state: &'static str,
}

/// A filter choice: a checkbox.
pub struct Choice {
    pub value: String,
    pub checked: bool,
}

/// The Finding View.
#[derive(Template)]
#[template(path = "findings.html")]
pub struct FindingsPage {
    pub nav: Nav,
    pub integrations: Vec<Choice>,
    pub severities: Vec<Choice>,
    pub statuses: Vec<Choice>,
    pub asset: String,
    /// The inventory asset (canonical key) the list is limited to, if any.
    pub inventory: String,
    pub since: String,
    /// The words searched for.
    pub search: String,
    /// The sort as the URL gives it, kept by the filter form.
    pub sort: String,
    /// The page sizes offered, and whether each is the one shown.
    pub page_sizes: Vec<(usize, bool)>,
    /// The table's column headers.
    pub headers: Vec<SortHeader>,
    pub counts: Vec<(String, u64)>,
    pub total: u64,
    /// Which findings of how many the page shows ("51–100 of 159"), when any.
    pub range: Option<String>,
    pub bar: String,
    pub rows: Vec<FindingRow>,
    pub next: Option<String>,
    pub previous: Option<String>,
    pub first: Option<String>,
    /// The export of what the filters match, as CSV.
    pub export: String,
    /// The asset the view is limited to, named.
    pub asset_card: Option<crate::model::InventoryAsset>,
    /// The filters as they came, for the bulk status form to go back to.
    pub filter_fields: Vec<(String, String)>,
    /// Said after statuses were set.
    pub notice: Option<String>,
}

/// One finding in detail.
#[derive(Template)]
#[template(path = "finding.html")]
pub struct FindingPage {
    pub nav: Nav,
    pub finding: StoredFinding,
    pub dates: Vec<(String, String)>,
    pub raw: String,
    pub notice: Option<String>,
    /// The statuses set here, with their times as shown.
    pub changes: Vec<(String, crate::model::StatusChangeRecord)>,
}

/// A worker as the Workers page shows it.
pub struct WorkerLine {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    /// `active`, `draining`, `stopped` or `lost`.
    pub state: &'static str,
    /// Its last heartbeat, and how long ago.
    pub heartbeat: String,
    pub started: String,
    /// The integrations it runs.
    pub running: Vec<String>,
}

/// The workers sharing the store.
#[derive(Template)]
#[template(path = "workers.html")]
pub struct WorkersPage {
    pub nav: Nav,
    pub workers: Vec<WorkerLine>,
}

/// The Asset View.
#[derive(Template)]
#[template(path = "assets.html")]
pub struct AssetsPage {
    pub nav: Nav,
    pub integrations: Vec<Choice>,
    /// The asset types present, the one filtered on chosen.
    pub types: Vec<Choice>,
    /// The cloud platforms present, likewise.
    pub clouds: Vec<Choice>,
    /// How many match in all.
    pub total: u64,
    /// This page of them.
    pub assets: Vec<InventoryAsset>,
    /// The link to the next page, when there is one.
    pub next: Option<String>,
    /// The link back to the first page, when this is not it.
    pub first: Option<String>,
    /// The export of what the filters match, as CSV.
    pub export: String,
}
