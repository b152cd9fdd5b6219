//! What a plugin reports: assets, findings about them, and the batches they come in.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// A name the host does not know for an enumerated value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{name}`")]
pub struct UnknownName {
    /// What kind of value.
    pub what: &'static str,
    /// The name given.
    pub name: String,
}

macro_rules! named_enum {
    ($(#[$meta:meta])* $ty:ident: $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $ty { $($(#[$vmeta])* $variant),* }

        impl $ty {
            /// Every value, in order.
            pub const ALL: &[$ty] = &[$($ty::$variant),*];
            /// The stored and displayed name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = UnknownName;
            fn from_str(text: &str) -> Result<Self, UnknownName> {
                match text {
                    $($text => Ok(Self::$variant),)*
                    _ => Err(UnknownName { what: $what, name: text.to_string() }),
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use named_enum;

named_enum!(
    /// Normalised severity, most severe first (so sorting puts critical on top).
    Severity: "severity" {
        /// Critical.
        Critical = "critical",
        /// High.
        High = "high",
        /// Medium.
        Medium = "medium",
        /// Low.
        Low = "low",
        /// Informational.
        Info = "info",
    }
);

impl Severity {
    /// Its place in the listing order, 0 for critical: the stores' `severity_rank`.
    pub fn rank(self) -> i64 {
        Severity::ALL
            .iter()
            .position(|s| *s == self)
            .expect("every severity is listed") as i64
    }
}

named_enum!(
    /// Normalised assessment status.
    FindingStatus: "finding status" {
        /// The problem is present.
        Failed = "failed",
        /// The problem is gone.
        Passed = "passed",
        /// The problem is present and accepted at the source.
        AcceptedFailed = "accepted_failed",
    }
);

named_enum!(
    /// What kind of finding it is (contract 0.2; every 0.1 finding is an issue).
    FindingKind: "finding kind" {
        /// A risk or issue the source raised.
        Issue = "issue",
        /// A known vulnerability in a package or image.
        Vulnerability = "vulnerability",
        /// A configuration that breaks a rule or benchmark.
        Misconfiguration = "misconfiguration",
    }
);

/// A CVSS base score in tenths (9.8 is 98): CVSS scores have one decimal, and whole
/// numbers keep findings comparable and hashable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CvssScore(u8);

impl CvssScore {
    /// The score of `value` (0.0 to 10.0, rounded to one decimal), if it is one.
    pub fn new(value: f64) -> Option<Self> {
        (value.is_finite() && (0.0..=10.0).contains(&value))
            .then(|| CvssScore((value * 10.0).round() as u8))
    }

    /// As a number, 0.0 to 10.0.
    pub fn value(self) -> f64 {
        f64::from(self.0) / 10.0
    }
}

impl Serialize for CvssScore {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.value())
    }
}

impl<'de> serde::Deserialize<'de> for CvssScore {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(deserializer)?;
        CvssScore::new(value)
            .ok_or_else(|| serde::de::Error::custom(format!("{value} is not a CVSS score")))
    }
}

/// A CVSS score for one CVSS version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Cvss {
    /// The CVSS version (`3.1`, `4.0`).
    pub version: String,
    /// The base score, when the source gives one.
    #[schema(value_type = Option<f64>)]
    pub score: Option<CvssScore>,
    /// The vector string, when the source gives one.
    pub vector: Option<String>,
}

/// The package a vulnerability is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AffectedPackage {
    /// Its ecosystem (`npm`, `pip`, `maven`).
    pub ecosystem: String,
    /// Its name in the ecosystem.
    pub name: String,
}

/// What makes a finding a vulnerability; what the source leaves empty is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Vulnerability {
    /// CVE ids.
    pub cve_ids: Vec<String>,
    /// Other advisory ids (GHSA, vendor advisories).
    pub advisory_ids: Vec<String>,
    /// Scores, one per CVSS version given.
    pub cvss: Vec<Cvss>,
    /// The affected package.
    pub package: Option<AffectedPackage>,
    /// The version installed.
    pub installed_version: Option<String>,
    /// The affected versions, as the source writes the range.
    pub vulnerable_range: Option<String>,
    /// The first fixed version; absent while there is none.
    pub fixed_version: Option<String>,
}

/// A resource that findings are about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// The source's own id for it.
    pub source_id: String,
    /// Display name.
    pub name: String,
    /// Asset type.
    pub asset_type: String,
    /// Cloud platform as the source names it.
    pub cloud_platform: String,
    /// Cloud account id.
    pub cloud_account_id: Option<String>,
    /// Cloud account name.
    pub cloud_account_name: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// The cloud provider's id (ARN, Azure resource id, GCP resource name).
    pub provider_id: Option<String>,
    /// Labels, by key (a repeated key keeps its last value).
    pub tags: BTreeMap<String, String>,
    /// Status at the source.
    pub status: Option<String>,
    /// Technologies identified on it.
    pub technologies: Vec<String>,
    /// The source object as JSON.
    pub raw: String,
}

/// A security finding about one asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The source's own id for it.
    pub source_id: String,
    /// `source_id` of its asset.
    pub asset_source_id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Severity.
    pub severity: Severity,
    /// Status.
    pub status: FindingStatus,
    /// The status as the source names it.
    pub source_status: String,
    /// How to fix it.
    pub remediation: Option<String>,
    /// Rule id.
    pub rule_id: Option<String>,
    /// Rule name.
    pub rule_name: Option<String>,
    /// Created at the source.
    pub created_at: Option<DateTime<Utc>>,
    /// Updated at the source.
    pub updated_at: Option<DateTime<Utc>>,
    /// Status last changed at the source.
    pub status_changed_at: Option<DateTime<Utc>>,
    /// Resolved at the source.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Due.
    pub due_at: Option<DateTime<Utc>>,
    /// The source's projects it belongs to.
    pub project_ids: Vec<String>,
    /// Link into the source's UI.
    pub portal_url: Option<String>,
    /// The stream it belongs to (one of those the sync asked for).
    pub stream: String,
    /// What kind of finding it is.
    pub kind: FindingKind,
    /// For a vulnerability: its advisory, scores and package.
    pub vulnerability: Option<Vulnerability>,
    /// The source object as JSON.
    pub raw: String,
}

/// A record the edge could not read into the model (for example a time that is not
/// RFC 3339): it is dropped and counted, like any other rejected record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// `asset` or `finding`.
    pub kind: &'static str,
    /// Its source id, as sent.
    pub source_id: String,
    /// Why it was refused.
    pub reason: String,
}

/// One page of records, as a plugin emits it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// Assets, before the findings that point at them.
    pub assets: Vec<Asset>,
    /// Findings.
    pub findings: Vec<Finding>,
    /// Source ids of findings that left the source's scope; the host closes them.
    pub removed_findings: Vec<String>,
    /// Source ids of assets deleted at the source (contract 0.2).
    pub removed_assets: Vec<String>,
    /// Records already refused at the edge.
    pub rejected: Vec<Rejected>,
    /// Source ids of findings the host refused (screening fills it): not stored, but
    /// reported by the source, so a full sync must not close them as gone.
    pub refused_findings: Vec<String>,
}

impl Batch {
    /// How many records the plugin sent, refused ones included.
    pub fn records(&self) -> u64 {
        (self.assets.len()
            + self.findings.len()
            + self.removed_findings.len()
            + self.removed_assets.len()
            + self.rejected.len()) as u64
    }
}
