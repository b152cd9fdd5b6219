//! What a connector hands the host: assets, findings and removals, one page at a time.
//! They mirror the contract's records one to one; the component layer converts them, so
//! a new field is added here, in the contract and in the host's model, and nowhere else.

use std::borrow::Cow;

/// Normalised severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Critical.
    Critical,
    /// High.
    High,
    /// Medium.
    Medium,
    /// Low.
    Low,
    /// Informational.
    Info,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    /// Its lower-case name (`critical`, …, `info`), as settings and logs write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }

    /// The severity a name means, whatever its case.
    pub fn parse(name: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

/// Normalised assessment status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingStatus {
    /// The problem is present.
    Failed,
    /// The problem is gone.
    Passed,
    /// The problem is present and accepted (dismissed or ignored at the source).
    AcceptedFailed,
}

/// What kind of finding it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FindingKind {
    /// A risk or issue the source raised.
    #[default]
    Issue,
    /// A known vulnerability in a package or image.
    Vulnerability,
    /// A configuration that breaks a rule or benchmark.
    Misconfiguration,
}

/// A CVSS score for one CVSS version.
#[derive(Debug, Clone, PartialEq)]
pub struct Cvss {
    /// The CVSS version (`3.1`, `4.0`).
    pub version: String,
    /// The base score, 0.0 to 10.0, when the source gives one.
    pub score: Option<f64>,
    /// The vector string, when the source gives one.
    pub vector: Option<String>,
}

/// The package a vulnerability is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffectedPackage {
    /// Its ecosystem as the source names it (`npm`, `pip`, `maven`).
    pub ecosystem: String,
    /// Its name within the ecosystem.
    pub name: String,
}

/// What makes a finding a vulnerability. What the source leaves empty stays absent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Vulnerability {
    /// CVE ids.
    pub cve_ids: Vec<String>,
    /// Other advisory ids (GHSA, …).
    pub advisory_ids: Vec<String>,
    /// One score per CVSS version given.
    pub cvss: Vec<Cvss>,
    /// The affected package.
    pub package: Option<AffectedPackage>,
    /// The version installed.
    pub installed_version: Option<String>,
    /// The versions affected, as the source writes the range.
    pub vulnerable_range: Option<String>,
    /// The first version that fixes it; absent while there is none.
    pub fixed_version: Option<String>,
}

/// A resource that findings are about. Its raw record may borrow the page it was read
/// from, until the batch is handed over.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Asset<'a> {
    /// The source's own id; unique within one connector's output.
    pub source_id: String,
    /// Display name.
    pub name: String,
    /// Its technology when known, else its kind.
    pub asset_type: String,
    /// The platform as the source names it (`AWS`, `GitHub`).
    pub cloud_platform: String,
    /// Account, subscription, project or organisation id.
    pub cloud_account_id: Option<String>,
    /// Its display name.
    pub cloud_account_name: Option<String>,
    /// Region, when it has one.
    pub region: Option<String>,
    /// The provider's id (an ARN, a resource id, a repository URL).
    pub provider_id: Option<String>,
    /// Labels as key/value pairs.
    pub tags: Vec<(String, String)>,
    /// Status as the source reports it.
    pub status: Option<String>,
    /// Technologies identified on it.
    pub technologies: Vec<String>,
    /// The source object as JSON: the source's own text where the connector has it,
    /// borrowed rather than copied (issue 27).
    pub raw: Cow<'a, str>,
}

/// A security finding about one asset. Its raw record may borrow the page it was read
/// from, until the batch is handed over.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding<'a> {
    /// The source's own id.
    pub source_id: String,
    /// `source_id` of the asset it concerns.
    pub asset_source_id: String,
    /// The stream it belongs to (one `sync` was asked for).
    pub stream: String,
    /// What kind of finding it is.
    pub kind: FindingKind,
    /// For a vulnerability: its advisory, scores and package.
    pub vulnerability: Option<Vulnerability>,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Normalised severity.
    pub severity: Severity,
    /// Normalised status.
    pub status: FindingStatus,
    /// Status as the source names it.
    pub source_status: String,
    /// What to do about it.
    pub remediation: Option<String>,
    /// Rule or advisory id.
    pub rule_id: Option<String>,
    /// Rule or advisory name.
    pub rule_name: Option<String>,
    /// Creation time, RFC 3339.
    pub created_at: Option<String>,
    /// Last update time.
    pub updated_at: Option<String>,
    /// Last status change time.
    pub status_changed_at: Option<String>,
    /// Resolution time.
    pub resolved_at: Option<String>,
    /// Due time.
    pub due_at: Option<String>,
    /// Project ids at the source.
    pub project_ids: Vec<String>,
    /// Link to it in the source's portal.
    pub portal_url: Option<String>,
    /// The source object as JSON: the source's own text where the connector has it,
    /// borrowed rather than copied (issue 27).
    pub raw: Cow<'a, str>,
}

/// One page of records, assets before the findings that point at them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch<'a> {
    /// Assets first seen in this page.
    pub assets: Vec<Asset<'a>>,
    /// Findings of this page.
    pub findings: Vec<Finding<'a>>,
    /// Ids of findings that left the scope; the host closes them.
    pub removed_findings: Vec<String>,
    /// Ids of assets deleted at the source; the host marks them removed and closes their
    /// open findings.
    pub removed_assets: Vec<String>,
}

impl Batch<'_> {
    /// The same records owning their raw text, for keeping past the page they borrow.
    pub fn into_owned(self) -> Batch<'static> {
        Batch {
            assets: self
                .assets
                .into_iter()
                .map(|a| Asset {
                    raw: Cow::Owned(a.raw.into_owned()),
                    ..a
                })
                .collect(),
            findings: self
                .findings
                .into_iter()
                .map(|f| Finding {
                    raw: Cow::Owned(f.raw.into_owned()),
                    ..f
                })
                .collect(),
            removed_findings: self.removed_findings,
            removed_assets: self.removed_assets,
        }
    }

    /// Whether it carries nothing.
    pub fn is_empty(&self) -> bool {
        self.assets.is_empty()
            && self.findings.is_empty()
            && self.removed_findings.is_empty()
            && self.removed_assets.is_empty()
    }
}

/// Log severity, as the contract's `log-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal progress.
    Info,
    /// Something odd that did not stop the run.
    Warn,
    /// Something failed.
    Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_read_their_own_names_in_any_case() {
        for severity in Severity::ALL {
            assert_eq!(Severity::parse(severity.as_str()), Some(severity));
            assert_eq!(
                Severity::parse(&severity.as_str().to_uppercase()),
                Some(severity)
            );
        }
        assert_eq!(Severity::parse("moderate"), None);
    }

    #[test]
    fn a_batch_with_only_removals_is_not_empty() {
        assert!(Batch::default().is_empty());
        let removal = Batch {
            removed_assets: vec!["repo-1".into()],
            ..Batch::default()
        };
        assert!(!removal.is_empty());
    }
}
