//! From alerts to records: each repository an asset, each alert a vulnerability finding.
//! What GitHub leaves empty (no CVE, no score, no fix yet) stays absent, never zero.

use crate::model::{Alert, Cvss, Repository};
use connector_sdk::records::Cvss as Score;
use connector_sdk::records::{
    AffectedPackage, Asset, Finding, FindingKind, FindingStatus, Severity, Vulnerability,
};

/// The stream alerts belong to.
pub const STREAM: &str = "dependabot-alerts";

/// The asset id of a repository: GitHub's id, which survives renames.
pub fn asset_id(repository: &Repository) -> String {
    repository.id.to_string()
}

/// The finding id of an alert: its repository's id and its number.
pub fn finding_id(repository: &Repository, alert: &Alert) -> String {
    format!("{}/{}", repository.id, alert.number)
}

/// A repository as an asset of `organization`.
pub fn asset(repository: &Repository, organization: &str) -> Asset<'static> {
    let visibility = match repository.private {
        Some(true) => "private",
        Some(false) => "public",
        None => "unknown",
    };
    Asset {
        source_id: asset_id(repository),
        name: repository.full_name.clone(),
        asset_type: "Repository".into(),
        cloud_platform: "GitHub".into(),
        cloud_account_id: Some(organization.to_string()),
        cloud_account_name: Some(organization.to_string()),
        region: None,
        provider_id: repository.html_url.clone(),
        tags: vec![("visibility".into(), visibility.into())],
        status: None,
        technologies: Vec::new(),
        raw: serde_json::to_string(repository).unwrap_or_default().into(),
    }
}

/// The normalised status of a state, with the state as GitHub names it (and why it was
/// dismissed); `None` for a state this connector does not know.
pub fn status(alert: &Alert) -> Option<(FindingStatus, String)> {
    let status = match alert.state.as_str() {
        "open" => FindingStatus::Failed,
        "fixed" => FindingStatus::Passed,
        "dismissed" | "auto_dismissed" => FindingStatus::AcceptedFailed,
        _ => return None,
    };
    let source = match &alert.dismissed_reason {
        Some(reason) if alert.state == "dismissed" => format!("dismissed ({reason})"),
        _ => alert.state.clone(),
    };
    Some((status, source))
}

/// A score GitHub gave: one with a vector; its version is the vector's.
fn score(cvss: Option<&Cvss>, fallback_version: &str) -> Option<Score> {
    let cvss = cvss?;
    let vector = cvss
        .vector_string
        .clone()
        .filter(|v| !v.trim().is_empty())?;
    let version = vector
        .strip_prefix("CVSS:")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or(fallback_version)
        .to_string();
    Some(Score {
        version,
        score: cvss.score,
        vector: Some(vector),
    })
}

fn non_empty(text: &Option<String>) -> Option<String> {
    text.clone().filter(|t| !t.trim().is_empty())
}

/// An alert as a finding, or why it cannot be one (a state or severity this connector
/// does not know, or no repository).
pub fn finding<'a>(alert: &Alert, raw: &'a str) -> Result<Finding<'a>, String> {
    let repository = alert
        .repository
        .as_ref()
        .ok_or("the alert names no repository")?;
    let advisory = alert
        .security_advisory
        .as_ref()
        .ok_or("the alert has no security advisory")?;
    let (status, source_status) =
        status(alert).ok_or_else(|| format!("unknown state `{}`", alert.state))?;
    let severity = advisory
        .severity
        .as_deref()
        .and_then(Severity::parse)
        .ok_or_else(|| format!("unknown severity {:?}", advisory.severity))?;
    let package = alert
        .dependency
        .as_ref()
        .and_then(|d| d.package.as_ref())
        .map(|p| AffectedPackage {
            ecosystem: p.ecosystem.clone(),
            name: p.name.clone(),
        });
    let vulnerable = alert.security_vulnerability.as_ref();
    let fixed_version = vulnerable
        .and_then(|v| v.first_patched_version.as_ref())
        .map(|p| p.identifier.clone())
        .filter(|v| !v.trim().is_empty());
    let mut cve_ids: Vec<String> = advisory.cve_id.iter().cloned().collect();
    for id in advisory.identifiers.iter().filter(|i| i.kind == "CVE") {
        if !cve_ids.contains(&id.value) {
            cve_ids.push(id.value.clone());
        }
    }
    let cvss = advisory
        .cvss_severities
        .as_ref()
        .map(|s| {
            [
                score(s.cvss_v3.as_ref(), "3"),
                score(s.cvss_v4.as_ref(), "4.0"),
            ]
            .into_iter()
            .flatten()
            .collect()
        })
        .unwrap_or_default();
    let remediation = match (&package, &fixed_version) {
        (Some(p), Some(v)) => Some(format!("Upgrade {} to {v} or later.", p.name)),
        _ => None,
    };
    let closed_at = match alert.state.as_str() {
        "fixed" => non_empty(&alert.fixed_at),
        "dismissed" => non_empty(&alert.dismissed_at),
        "auto_dismissed" => non_empty(&alert.auto_dismissed_at),
        _ => None,
    };
    let summary = non_empty(&advisory.summary).unwrap_or_else(|| advisory.ghsa_id.clone());
    Ok(Finding {
        source_id: finding_id(repository, alert),
        asset_source_id: asset_id(repository),
        stream: STREAM.into(),
        kind: FindingKind::Vulnerability,
        vulnerability: Some(Vulnerability {
            cve_ids,
            advisory_ids: vec![advisory.ghsa_id.clone()],
            cvss,
            package,
            installed_version: None,
            vulnerable_range: vulnerable.and_then(|v| non_empty(&v.vulnerable_version_range)),
            fixed_version,
        }),
        title: summary.clone(),
        description: non_empty(&advisory.description).unwrap_or_default(),
        severity,
        status,
        source_status,
        remediation,
        rule_id: Some(advisory.ghsa_id.clone()),
        rule_name: Some(summary),
        created_at: non_empty(&alert.created_at),
        updated_at: non_empty(&alert.updated_at),
        status_changed_at: closed_at.clone().or_else(|| non_empty(&alert.created_at)),
        resolved_at: closed_at,
        due_at: None,
        project_ids: Vec::new(),
        portal_url: non_empty(&alert.html_url),
        raw: raw.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(json: &str) -> Alert {
        serde_json::from_str(json).unwrap()
    }

    const OPEN: &str = r#"{
        "number": 7, "state": "open",
        "dependency": {"package": {"ecosystem": "npm", "name": "lodash"}, "manifest_path": "package-lock.json"},
        "security_advisory": {"ghsa_id": "GHSA-aaaa-bbbb-cccc", "cve_id": "CVE-2024-1234", "summary": "Prototype pollution",
          "description": "d", "severity": "high", "identifiers": [{"type": "GHSA", "value": "GHSA-aaaa-bbbb-cccc"}, {"type": "CVE", "value": "CVE-2024-1234"}],
          "cvss_severities": {"cvss_v3": {"vector_string": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N", "score": 9.1},
                              "cvss_v4": {"vector_string": null, "score": 0.0}}},
        "security_vulnerability": {"vulnerable_version_range": "< 4.17.21", "first_patched_version": {"identifier": "4.17.21"}},
        "html_url": "https://github.com/acme/web/security/dependabot/7",
        "created_at": "2025-02-01T10:00:00Z", "updated_at": "2025-02-03T10:00:00Z",
        "dismissed_at": null, "dismissed_reason": null, "fixed_at": null, "auto_dismissed_at": null,
        "repository": {"id": 42, "name": "web", "full_name": "acme/web", "html_url": "https://github.com/acme/web", "private": true}
    }"#;

    #[test]
    fn an_alert_is_a_vulnerability_with_its_advisory_score_and_fix() {
        let f = finding(&alert(OPEN), OPEN).unwrap();
        assert_eq!(
            (f.source_id.as_str(), f.asset_source_id.as_str()),
            ("42/7", "42")
        );
        assert_eq!(f.kind, FindingKind::Vulnerability);
        assert_eq!(
            (f.severity, f.status),
            (Severity::High, FindingStatus::Failed)
        );
        assert_eq!(
            f.remediation.as_deref(),
            Some("Upgrade lodash to 4.17.21 or later.")
        );
        let v = f.vulnerability.unwrap();
        assert_eq!(
            v.cve_ids,
            ["CVE-2024-1234"],
            "the CVE once, from both places"
        );
        assert_eq!(
            v.cvss.len(),
            1,
            "a null v4 vector is no score: {:?}",
            v.cvss
        );
        assert_eq!(
            (v.cvss[0].version.as_str(), v.cvss[0].score),
            ("3.1", Some(9.1))
        );
        assert_eq!(v.vulnerable_range.as_deref(), Some("< 4.17.21"));
    }

    #[test]
    fn what_github_leaves_empty_stays_absent() {
        let bare = OPEN
            .replace(r#""cve_id": "CVE-2024-1234""#, r#""cve_id": null"#)
            .replace(r#", {"type": "CVE", "value": "CVE-2024-1234"}"#, "")
            .replace(
                r#""vector_string": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N", "score": 9.1"#,
                r#""vector_string": null, "score": 0.0"#,
            )
            .replace(r#"{"identifier": "4.17.21"}"#, "null");
        let f = finding(&alert(&bare), &bare).unwrap();
        let v = f.vulnerability.unwrap();
        assert!(v.cve_ids.is_empty() && v.cvss.is_empty() && v.fixed_version.is_none());
        assert_eq!(f.remediation, None);
    }

    #[test]
    fn states_map_and_a_dismissal_keeps_its_reason() {
        for (state, reason, status, source) in [
            ("fixed", "null", FindingStatus::Passed, "fixed"),
            (
                "dismissed",
                r#""tolerable_risk""#,
                FindingStatus::AcceptedFailed,
                "dismissed (tolerable_risk)",
            ),
            (
                "auto_dismissed",
                "null",
                FindingStatus::AcceptedFailed,
                "auto_dismissed",
            ),
        ] {
            let json = OPEN
                .replace(r#""state": "open""#, &format!(r#""state": "{state}""#))
                .replace(
                    r#""dismissed_reason": null"#,
                    &format!(r#""dismissed_reason": {reason}"#),
                );
            let f = finding(&alert(&json), &json).unwrap();
            assert_eq!((f.status, f.source_status.as_str()), (status, source));
        }
        let unknown = OPEN.replace(r#""state": "open""#, r#""state": "snoozed""#);
        assert!(
            finding(&alert(&unknown), &unknown)
                .unwrap_err()
                .contains("snoozed")
        );
    }
}
