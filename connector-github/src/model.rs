//! A Dependabot alert as GitHub's REST API returns it: only what the connector reads, every
//! field GitHub may leave out or null optional, so an alert missing one still reads.

use serde::Deserialize;

/// One alert.
#[derive(Debug, Deserialize)]
pub struct Alert {
    /// Its number, unique within its repository.
    pub number: u64,
    /// `open`, `fixed`, `dismissed` or `auto_dismissed`.
    pub state: String,
    /// The dependency it is about.
    pub dependency: Option<Dependency>,
    /// The advisory.
    pub security_advisory: Option<Advisory>,
    /// The vulnerable range and fix for this package.
    pub security_vulnerability: Option<SecurityVulnerability>,
    /// The alert's page on GitHub.
    pub html_url: Option<String>,
    /// When it was raised.
    pub created_at: Option<String>,
    /// When it last changed.
    pub updated_at: Option<String>,
    /// When it was dismissed.
    pub dismissed_at: Option<String>,
    /// Why (`fix_started`, `inaccurate`, `no_bandwidth`, `not_used`, `tolerable_risk`).
    pub dismissed_reason: Option<String>,
    /// When it was fixed.
    pub fixed_at: Option<String>,
    /// When it was dismissed automatically.
    pub auto_dismissed_at: Option<String>,
    /// The repository it is in.
    pub repository: Option<Repository>,
}

/// A dependency.
#[derive(Debug, Deserialize)]
pub struct Dependency {
    /// Its package.
    pub package: Option<Package>,
    /// The manifest it is declared in.
    pub manifest_path: Option<String>,
}

/// A package.
#[derive(Debug, Deserialize)]
pub struct Package {
    /// Its ecosystem (`npm`, `pip`, …).
    pub ecosystem: String,
    /// Its name.
    pub name: String,
}

/// An advisory.
#[derive(Debug, Deserialize)]
pub struct Advisory {
    /// The GitHub advisory id.
    pub ghsa_id: String,
    /// The CVE id, when there is one.
    pub cve_id: Option<String>,
    /// One line.
    pub summary: Option<String>,
    /// In full.
    pub description: Option<String>,
    /// `critical`, `high`, `medium` or `low`.
    pub severity: Option<String>,
    /// Every id it is known by.
    #[serde(default)]
    pub identifiers: Vec<Identifier>,
    /// Scores per CVSS version.
    pub cvss_severities: Option<CvssSeverities>,
}

/// An advisory id.
#[derive(Debug, Deserialize)]
pub struct Identifier {
    /// `GHSA` or `CVE`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The id.
    pub value: String,
}

/// Scores per CVSS version.
#[derive(Debug, Deserialize)]
pub struct CvssSeverities {
    /// CVSS 3.x.
    pub cvss_v3: Option<Cvss>,
    /// CVSS 4.0.
    pub cvss_v4: Option<Cvss>,
}

/// One score: GitHub sends a null vector and a score of 0 when it has none.
#[derive(Debug, Deserialize)]
pub struct Cvss {
    /// The vector, which names the version (`CVSS:3.1/…`).
    pub vector_string: Option<String>,
    /// The base score.
    pub score: Option<f64>,
}

/// The vulnerable range of the alert's package.
#[derive(Debug, Deserialize)]
pub struct SecurityVulnerability {
    /// The versions affected.
    pub vulnerable_version_range: Option<String>,
    /// The first fixed version, when there is one.
    pub first_patched_version: Option<Patched>,
}

/// A fixed version.
#[derive(Debug, Deserialize)]
pub struct Patched {
    /// The version.
    pub identifier: String,
}

/// A repository.
#[derive(Debug, Deserialize, serde::Serialize)]
pub struct Repository {
    /// GitHub's id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// `OWNER/NAME`.
    pub full_name: String,
    /// Its page.
    pub html_url: Option<String>,
    /// Whether it is private.
    pub private: Option<bool>,
}
