//! What the host accepts from a plugin, record by record. A record that breaks these rules
//! is dropped and counted; the rest of its batch is stored (the contract says so).

use crate::model::{Asset, Batch, Finding, Rejected};
use chrono::{DateTime, Datelike, Utc};

/// Longest id (source ids, rule ids, project ids).
pub const MAX_ID_BYTES: usize = 1024;
/// Longest short text (names, titles, types, statuses, URLs).
pub const MAX_SHORT_BYTES: usize = 8 * 1024;
/// Longest long text (descriptions, remediation).
pub const MAX_LONG_BYTES: usize = 1 << 20;
/// Longest raw source record.
pub const MAX_RAW_BYTES: usize = 4 << 20;
/// Most tags, technologies or project ids on one record.
pub const MAX_LIST_ITEMS: usize = 1000;

fn check(field: &str, value: &str, max: usize) -> Result<(), String> {
    if value.len() > max {
        return Err(format!(
            "`{field}` is {} bytes, over the {max}-byte limit",
            value.len()
        ));
    }
    // No database keeps it alike: PostgreSQL refuses it in text, SQLite cuts C strings at it.
    if value.contains('\0') {
        return Err(format!("`{field}` contains a NUL character"));
    }
    Ok(())
}

fn check_items(field: &str, items: &[String], max: usize) -> Result<(), String> {
    check_list(field, items.len())?;
    items.iter().try_for_each(|item| check(field, item, max))
}

fn check_id(field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("`{field}` is empty"));
    }
    check(field, value, MAX_ID_BYTES)
}

fn check_opt(field: &str, value: &Option<String>, max: usize) -> Result<(), String> {
    value.as_deref().map_or(Ok(()), |v| check(field, v, max))
}

/// Years a stored time may fall in: RFC 3339's four digits, which keep stored time texts
/// fixed-width (so they sort as the times do) and within what every backend can hold.
pub const TIME_YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

fn check_time(field: &str, value: Option<DateTime<Utc>>) -> Result<(), String> {
    match value {
        Some(t) if !TIME_YEARS.contains(&t.year()) => Err(format!(
            "`{field}` is in the year {}, outside {} to {}",
            t.year(),
            TIME_YEARS.start(),
            TIME_YEARS.end()
        )),
        _ => Ok(()),
    }
}

fn check_list(field: &str, len: usize) -> Result<(), String> {
    if len > MAX_LIST_ITEMS {
        return Err(format!(
            "`{field}` has {len} items, over the {MAX_LIST_ITEMS}-item limit"
        ));
    }
    Ok(())
}

/// Refuses a finding of a stream the sync did not ask for: a full sync of some streams
/// must never store (or keep open) another's.
fn in_streams(f: &Finding, streams: &[String]) -> Result<(), String> {
    match streams.contains(&f.stream) {
        true => Ok(()),
        false => Err(format!(
            "its stream `{}` is not one this sync asked for ({})",
            clip(&f.stream),
            streams.join(", ")
        )),
    }
}

/// Why an asset is refused, if it is.
pub fn asset(a: &Asset) -> Result<(), String> {
    check_id("source-id", &a.source_id)?;
    for (field, value) in [
        ("name", &a.name),
        ("asset-type", &a.asset_type),
        ("cloud-platform", &a.cloud_platform),
    ] {
        check(field, value, MAX_SHORT_BYTES)?;
    }
    for (field, value) in [
        ("cloud-account-id", &a.cloud_account_id),
        ("cloud-account-name", &a.cloud_account_name),
        ("region", &a.region),
        ("provider-id", &a.provider_id),
        ("status", &a.status),
    ] {
        check_opt(field, value, MAX_SHORT_BYTES)?;
    }
    check_list("tags", a.tags.len())?;
    check_items("technologies", &a.technologies, MAX_SHORT_BYTES)?;
    for (key, value) in &a.tags {
        check("tag", key, MAX_SHORT_BYTES)?;
        check("tag", value, MAX_SHORT_BYTES)?;
    }
    check("raw", &a.raw, MAX_RAW_BYTES)
}

/// Why a finding is refused, if it is.
pub fn finding(f: &Finding) -> Result<(), String> {
    check_id("source-id", &f.source_id)?;
    check_id("asset-source-id", &f.asset_source_id)?;
    check("title", &f.title, MAX_SHORT_BYTES)?;
    check("source-status", &f.source_status, MAX_SHORT_BYTES)?;
    check("description", &f.description, MAX_LONG_BYTES)?;
    check_opt("remediation", &f.remediation, MAX_LONG_BYTES)?;
    check_opt("rule-id", &f.rule_id, MAX_ID_BYTES)?;
    check_opt("rule-name", &f.rule_name, MAX_SHORT_BYTES)?;
    check_opt("portal-url", &f.portal_url, MAX_SHORT_BYTES)?;
    check_items("project-ids", &f.project_ids, MAX_ID_BYTES)?;
    if let Some(v) = &f.vulnerability {
        vulnerability(v)?;
    }
    for (field, value) in [
        ("created-at", f.created_at),
        ("updated-at", f.updated_at),
        ("status-changed-at", f.status_changed_at),
        ("resolved-at", f.resolved_at),
        ("due-at", f.due_at),
    ] {
        check_time(field, value)?;
    }
    check("raw", &f.raw, MAX_RAW_BYTES)
}

/// Why a vulnerability's details are refused, if they are.
fn vulnerability(v: &crate::model::Vulnerability) -> Result<(), String> {
    check_items("cve-ids", &v.cve_ids, MAX_ID_BYTES)?;
    check_items("advisory-ids", &v.advisory_ids, MAX_ID_BYTES)?;
    check_list("cvss", v.cvss.len())?;
    for c in &v.cvss {
        check("cvss", &c.version, MAX_ID_BYTES)?;
        check_opt("cvss", &c.vector, MAX_SHORT_BYTES)?;
    }
    if let Some(p) = &v.package {
        check("package", &p.ecosystem, MAX_SHORT_BYTES)?;
        check("package", &p.name, MAX_SHORT_BYTES)?;
    }
    for (field, value) in [
        ("installed-version", &v.installed_version),
        ("vulnerable-range", &v.vulnerable_range),
        ("fixed-version", &v.fixed_version),
    ] {
        check_opt(field, value, MAX_SHORT_BYTES)?;
    }
    Ok(())
}

/// A batch with the records the contract forbids taken out.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Screened {
    /// What may be stored.
    pub batch: Batch,
    /// Assets dropped.
    pub assets_rejected: u64,
    /// Findings dropped.
    pub findings_rejected: u64,
    /// Why each was dropped (`asset `x`: …`), in order.
    pub reasons: Vec<String>,
    /// Portal links taken out of kept findings (`finding `x`: …`), in order.
    pub links_dropped: Vec<String>,
}

/// Why a portal link is not kept, if it is not: only `https` and `http` links are, so
/// that a link rendered in an `href` can never run script (`javascript:`, `data:`).
pub fn link(url: &str) -> Result<(), String> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "https" | "http") => Ok(()),
        Ok(u) => Err(format!(
            "portal link dropped: its scheme `{}` is not https or http",
            clip(u.scheme())
        )),
        Err(e) => Err(format!("portal link dropped: it is not a URL ({e})")),
    }
}

/// Takes out every record that breaks the rules, and those the edge already refused.
/// One bad record never costs the good ones.
pub fn screen(mut batch: Batch, streams: &[String]) -> Screened {
    let mut screened = Screened::default();
    let mut refused = Vec::new();
    for Rejected {
        kind,
        source_id,
        reason,
    } in std::mem::take(&mut batch.rejected)
    {
        screened.reject(kind, &source_id, &reason);
        if kind == "finding" {
            refused.push(source_id);
        }
    }
    // In place: records are large, and a batch carries thousands.
    batch.assets.retain(|a| {
        asset(a)
            .map_err(|problem| screened.reject("asset", &a.source_id, &problem))
            .is_ok()
    });
    for f in &mut batch.findings {
        if let Some(problem) = f.portal_url.as_deref().and_then(|u| link(u).err()) {
            f.portal_url = None;
            screened
                .links_dropped
                .push(format!("finding `{}`: {problem}", clip(&f.source_id)));
        }
    }
    batch.findings.retain(|f| {
        let problem = finding(f).and_then(|()| in_streams(f, streams)).err();
        if let Some(problem) = &problem {
            screened.reject("finding", &f.source_id, problem);
            refused.push(f.source_id.clone());
        }
        problem.is_none()
    });
    // A refused finding is still one the source reports: it is kept open, by its id when
    // that id is one a store can hold.
    refused.retain(|id| check_id("source-id", id).is_ok());
    batch.refused_findings = refused;
    batch.removed_findings.retain(|id| {
        check_id("removed-findings", id)
            .map_err(|problem| screened.reject("removal", id, &problem))
            .is_ok()
    });
    batch.removed_assets.retain(|id| {
        check_id("removed-assets", id)
            .map_err(|problem| screened.reject("removal", id, &problem))
            .is_ok()
    });
    screened.batch = batch;
    screened
}

impl Screened {
    /// Counts a dropped record (a removal is no record, only its reason is kept).
    fn reject(&mut self, kind: &str, id: &str, problem: &str) {
        match kind {
            "asset" => self.assets_rejected += 1,
            "finding" => self.findings_rejected += 1,
            _ => {}
        }
        self.reasons
            .push(format!("{kind} `{}`: {problem}", clip(id)));
    }
}

/// An id short enough to quote in a message.
pub fn clip(id: &str) -> String {
    if id.len() <= 80 {
        id.to_string()
    } else {
        format!("{}…", &id[..id.floor_char_boundary(80)])
    }
}

/// The in-memory header of one string.
const STRING: usize = std::mem::size_of::<String>();

/// The text of an optional string.
fn opt_len(v: &Option<String>) -> usize {
    v.as_ref().map_or(0, String::len)
}

/// The text of a list's items, and a string header each.
fn items_len(v: &[String]) -> usize {
    v.iter().map(|i| i.len() + STRING).sum()
}

/// What a vulnerability's details hold: their text, and a header per list item.
fn vulnerability_bytes(v: &crate::model::Vulnerability) -> usize {
    std::mem::size_of::<crate::model::Vulnerability>()
        + items_len(&v.cve_ids)
        + items_len(&v.advisory_ids)
        + v.cvss
            .iter()
            .map(|c| {
                std::mem::size_of::<crate::model::Cvss>() + c.version.len() + opt_len(&c.vector)
            })
            .sum::<usize>()
        + v.package
            .as_ref()
            .map_or(0, |p| p.ecosystem.len() + p.name.len())
        + opt_len(&v.installed_version)
        + opt_len(&v.vulnerable_range)
        + opt_len(&v.fixed_version)
}

/// How many bytes a batch carries, for the per-run byte ceiling: every text and list
/// item, eight bytes a time, and a little for each record's own weight.
pub fn batch_bytes(b: &Batch) -> u64 {
    // What the host holds: each record's own struct, each string's text, and for every
    // list item or map entry its string headers (a record of empty strings still costs).
    let (opt, items) = (opt_len, items_len);
    let assets: usize = b
        .assets
        .iter()
        .map(|a| {
            a.source_id.len()
                + a.name.len()
                + a.asset_type.len()
                + a.cloud_platform.len()
                + opt(&a.cloud_account_id)
                + opt(&a.cloud_account_name)
                + opt(&a.region)
                + opt(&a.provider_id)
                + opt(&a.status)
                + a.tags
                    .iter()
                    .map(|(k, v)| k.len() + v.len() + 2 * STRING)
                    .sum::<usize>()
                + items(&a.technologies)
                + a.raw.len()
                + std::mem::size_of::<crate::model::Asset>()
        })
        .sum();
    let findings: usize = b
        .findings
        .iter()
        .map(|f| {
            f.source_id.len()
                + f.asset_source_id.len()
                + f.title.len()
                + f.description.len()
                + f.source_status.len()
                + opt(&f.remediation)
                + opt(&f.rule_id)
                + opt(&f.rule_name)
                + opt(&f.portal_url)
                + items(&f.project_ids)
                + f.vulnerability.as_ref().map_or(0, vulnerability_bytes)
                + f.raw.len()
                + f.stream.len()
                + std::mem::size_of::<Finding>()
        })
        .sum();
    (assets + findings + items(&b.removed_findings) + items(&b.removed_assets)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Screens `batch` as a sync of the one stream `issues` does.
    fn screen(batch: Batch) -> Screened {
        super::screen(batch, &["issues".to_string()])
    }

    #[test]
    fn a_finding_of_a_stream_the_sync_did_not_ask_for_is_refused() {
        let mut other = good_finding();
        other.source_id = "f2".into();
        other.stream = "secrets".into();
        let screened = super::screen(
            Batch {
                findings: vec![good_finding(), other],
                ..Default::default()
            },
            &["issues".to_string(), "alerts".to_string()],
        );
        assert_eq!(screened.batch.findings.len(), 1);
        assert_eq!(screened.findings_rejected, 1);
        assert!(
            screened.reasons[0]
                .contains("stream `secrets` is not one this sync asked for (issues, alerts)"),
            "{:?}",
            screened.reasons
        );
    }
    use crate::model::{FindingStatus, Severity};

    fn good_finding() -> Finding {
        Finding {
            source_id: "f1".into(),
            asset_source_id: "a1".into(),
            title: "t".into(),
            description: "d".into(),
            severity: Severity::High,
            status: FindingStatus::Failed,
            source_status: "OPEN".into(),
            remediation: None,
            rule_id: None,
            rule_name: None,
            created_at: None,
            updated_at: None,
            status_changed_at: None,
            resolved_at: None,
            due_at: None,
            project_ids: vec![],
            portal_url: None,
            stream: "issues".into(),
            kind: crate::model::FindingKind::Issue,
            vulnerability: None,
            raw: "{}".into(),
        }
    }

    #[test]
    fn findings_are_checked_field_by_field() {
        assert!(finding(&good_finding()).is_ok());
        let mut f = good_finding();
        f.source_id = " ".into();
        assert_eq!(finding(&f).unwrap_err(), "`source-id` is empty");
        let mut f = good_finding();
        f.title = "x".repeat(MAX_SHORT_BYTES + 1);
        assert!(finding(&f).unwrap_err().contains("`title`"));
        let mut f = good_finding();
        f.project_ids = vec!["p".into(); MAX_LIST_ITEMS + 1];
        assert!(finding(&f).unwrap_err().contains("project-ids"));
        let mut f = good_finding();
        f.raw = "x".repeat(MAX_RAW_BYTES + 1);
        assert!(finding(&f).unwrap_err().contains("`raw`"));
        let mut f = good_finding();
        f.description = "a\0b".into();
        assert_eq!(
            finding(&f).unwrap_err(),
            "`description` contains a NUL character"
        );
        let mut f = good_finding();
        f.project_ids = vec!["x".repeat(MAX_SHORT_BYTES + 1)];
        assert!(finding(&f).unwrap_err().contains("`project-ids`"));
    }

    #[test]
    fn times_must_fall_in_four_digit_years() {
        let at = |text: &str| crate::model::parse_time(text).unwrap();
        let mut f = good_finding();
        f.created_at = Some(at("0001-01-01T00:00:00Z"));
        f.due_at = Some(at("9999-12-31T23:59:59.999999Z"));
        assert!(finding(&f).is_ok());
        let mut f = good_finding();
        f.resolved_at = Some(DateTime::from_timestamp(-62_167_219_200, 0).unwrap());
        assert_eq!(
            finding(&f).unwrap_err(),
            "`resolved-at` is in the year 0, outside 1 to 9999"
        );
        let mut f = good_finding();
        f.status_changed_at = Some(DateTime::from_timestamp(253_402_300_800, 0).unwrap());
        assert!(
            finding(&f)
                .unwrap_err()
                .contains("`status-changed-at` is in the year 10000")
        );
    }

    #[test]
    fn assets_are_checked_in_their_lists_and_tags_too() {
        let good = Asset {
            source_id: "a1".into(),
            name: "n".into(),
            asset_type: "VM".into(),
            cloud_platform: "AWS".into(),
            cloud_account_id: None,
            cloud_account_name: None,
            region: None,
            provider_id: None,
            status: None,
            tags: [("env".to_string(), "prod".to_string())].into(),
            technologies: vec!["nginx".into()],
            raw: "{}".into(),
        };
        assert!(asset(&good).is_ok());
        let mut a = good.clone();
        a.technologies.push("x".repeat(MAX_SHORT_BYTES + 1));
        assert!(asset(&a).unwrap_err().contains("`technologies`"));
        let mut a = good.clone();
        a.tags.insert("k".into(), "v\0".into());
        assert_eq!(asset(&a).unwrap_err(), "`tag` contains a NUL character");
        let mut a = good.clone();
        a.tags = (0..=MAX_LIST_ITEMS)
            .map(|i| (i.to_string(), "v".into()))
            .collect();
        assert!(asset(&a).unwrap_err().contains("`tags` has 1001 items"));
        let bare = batch_bytes(&Batch {
            assets: vec![good.clone()],
            ..Default::default()
        });
        let mut a = good;
        a.tags.insert("k".repeat(100), "v".repeat(200));
        a.technologies.push("t".repeat(300));
        let heavier = batch_bytes(&Batch {
            assets: vec![a],
            ..Default::default()
        });
        // The text, and the string headers of one tag entry and one technology.
        assert_eq!(
            heavier - bare,
            600 + 3 * std::mem::size_of::<String>() as u64
        );
    }

    #[test]
    fn only_https_and_http_portal_links_are_kept() {
        let with_link = |url: &str| Finding {
            portal_url: Some(url.into()),
            ..good_finding()
        };
        let bad = [
            "javascript:alert(document.cookie)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "file:///etc/passwd",
            "not a link",
        ];
        let good = [
            "https://app.wiz.io/issues#~(issue~'1)",
            "http://portal.local/x",
        ];
        let batch = Batch {
            findings: bad.iter().chain(&good).map(|u| with_link(u)).collect(),
            ..Default::default()
        };
        let screened = screen(batch);
        let kept: Vec<Option<&str>> = screened
            .batch
            .findings
            .iter()
            .map(|f| f.portal_url.as_deref())
            .collect();
        let mut expected = vec![None; bad.len()];
        expected.extend(good.iter().map(|u| Some(*u)));
        assert_eq!(kept, expected, "the findings stay, their bad links go");
        assert_eq!(screened.links_dropped.len(), bad.len());
        assert!(
            screened.links_dropped[0].contains("`javascript` is not https or http"),
            "{:?}",
            screened.links_dropped
        );
        assert_eq!(screened.findings_rejected, 0);
    }

    #[test]
    fn screening_keeps_the_good_records_and_says_why_the_bad_went() {
        let mut empty_id = good_finding();
        empty_id.source_id = String::new();
        let batch = Batch {
            findings: vec![good_finding(), empty_id],
            removed_findings: vec!["gone".into(), " ".into()],
            rejected: vec![Rejected {
                kind: "finding",
                source_id: "f9".into(),
                reason: "`created-at` is not an RFC 3339 time".into(),
            }],
            ..Default::default()
        };
        let screened = screen(batch);
        assert_eq!(screened.batch.findings, vec![good_finding()]);
        assert_eq!(screened.batch.removed_findings, vec!["gone".to_string()]);
        assert_eq!(
            (screened.assets_rejected, screened.findings_rejected),
            (0, 2)
        );
        assert_eq!(
            screened.reasons,
            vec![
                "finding `f9`: `created-at` is not an RFC 3339 time".to_string(),
                "finding ``: `source-id` is empty".to_string(),
                "removal ` `: `removed-findings` is empty".to_string()
            ]
        );
        assert!(screened.batch.rejected.is_empty());
    }

    #[test]
    fn ids_are_held_to_the_id_limit_and_bad_removals_are_reported() {
        let long_id = "x".repeat(MAX_ID_BYTES + 1);
        let mut f = good_finding();
        f.rule_id = Some(long_id.clone());
        assert!(finding(&f).unwrap_err().contains("`rule-id`"));
        let mut f = good_finding();
        f.project_ids = vec!["p1".into(), long_id.clone()];
        assert!(finding(&f).unwrap_err().contains("`project-ids`"));
        let screened = screen(Batch {
            removed_findings: vec!["gone".into(), long_id, "bad\0id".into()],
            ..Default::default()
        });
        assert_eq!(screened.batch.removed_findings, ["gone"]);
        assert_eq!(screened.reasons.len(), 2, "{:?}", screened.reasons);
        assert!(screened.reasons[1].contains("NUL"));
        assert_eq!(screened.findings_rejected, 0, "a removal is not a finding");
        let screened = screen(Batch {
            removed_assets: vec!["repo-1".into(), "x".repeat(2000), " ".into()],
            ..Default::default()
        });
        assert_eq!(screened.batch.removed_assets, ["repo-1"]);
        assert_eq!(screened.reasons.len(), 2, "{:?}", screened.reasons);
        assert!(
            screened.reasons[0].contains("`removed-assets`"),
            "{:?}",
            screened.reasons
        );
    }

    #[test]
    fn the_byte_ceiling_counts_every_field() {
        let bare = batch_bytes(&Batch {
            findings: vec![good_finding()],
            ..Default::default()
        });
        let mut f = good_finding();
        f.project_ids = vec!["p".repeat(500)];
        f.rule_name = Some("r".repeat(300));
        let heavier = batch_bytes(&Batch {
            findings: vec![f],
            removed_findings: vec!["z".repeat(200)],
            ..Default::default()
        });
        // The text, and the string headers of one project id and one removal.
        assert_eq!(
            heavier - bare,
            1000 + 2 * std::mem::size_of::<String>() as u64
        );
        // A record of empty strings still costs its own size.
        let empty = batch_bytes(&Batch {
            assets: vec![Asset {
                source_id: String::new(),
                name: String::new(),
                asset_type: String::new(),
                cloud_platform: String::new(),
                cloud_account_id: None,
                cloud_account_name: None,
                region: None,
                provider_id: None,
                status: None,
                tags: Default::default(),
                technologies: vec![],
                raw: String::new(),
            }],
            ..Default::default()
        });
        assert!(empty >= std::mem::size_of::<Asset>() as u64);
    }
}
