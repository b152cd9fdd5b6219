//! `plugins`, `findings`, `finding show`, `assets` and `history`.

use super::context::{Context, read_file};
use super::table::{self, opt, opt_time, print_json};
use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use connector_host::model;
use connector_host::model::FindingOrder;
use connector_host::service::{
    AssetQuery, FindingFilterText, FindingQuery, StatusRequest, parse_since,
};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Integration name.
    name: String,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

/// `findings`: a list, or a subcommand.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct FindingsArgs {
    #[command(subcommand)]
    action: Option<FindingsAction>,
    #[command(flatten)]
    list: FindingsList,
}

#[derive(Debug, Subcommand)]
enum FindingsAction {
    /// Set a finding's status here. The source stays the truth: the next sync puts its
    /// status back.
    SetStatus {
        /// Finding id.
        id: String,
        /// New status.
        #[arg(value_enum)]
        status: Status,
        /// The integration, when several report the same id.
        #[arg(long)]
        integration: Option<String>,
        /// Why: recorded on the finding and in history with who and when.
        #[arg(long)]
        reason: String,
        /// Who to record [default: the OS user].
        #[arg(long)]
        by: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
enum Status {
    Failed,
    Passed,
    AcceptedFailed,
}

impl From<Severity> for model::Severity {
    fn from(s: Severity) -> Self {
        match s {
            Severity::Critical => model::Severity::Critical,
            Severity::High => model::Severity::High,
            Severity::Medium => model::Severity::Medium,
            Severity::Low => model::Severity::Low,
            Severity::Info => model::Severity::Info,
        }
    }
}

impl From<Status> for model::FindingStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Failed => model::FindingStatus::Failed,
            Status::Passed => model::FindingStatus::Passed,
            Status::AcceptedFailed => model::FindingStatus::AcceptedFailed,
        }
    }
}

#[derive(Debug, Args)]
struct FindingsList {
    /// Integration name [default: all integrations].
    name: Option<String>,
    /// Only these severities (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    severity: Vec<Severity>,
    /// Only these statuses (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    status: Vec<Status>,
    /// Only findings on this asset id.
    #[arg(long)]
    asset: Option<String>,
    /// Only findings whose status changed since this date or time (UTC, e.g. 2026-05-01).
    #[arg(long, value_parser = since)]
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only findings whose title or rule name holds each of these words (any part of a
    /// word, ignoring case).
    #[arg(long, value_name = "WORDS")]
    search: Option<String>,
    /// The order: severity (the default), title, asset, status or changed; `-changed` reverses.
    #[arg(long, value_parser = sort, allow_hyphen_values = true)]
    sort: Option<FindingOrder>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

fn since(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    parse_since(text).map_err(|e| e.to_string())
}

fn sort(text: &str) -> Result<FindingOrder, String> {
    let parsed = FindingQuery::parse(&FindingFilterText {
        sort: Some(text.to_string()),
        ..Default::default()
    });
    parsed.map(|q| q.order).map_err(|e| e.to_string())
}

/// `finding show`.
#[derive(Debug, Subcommand)]
pub enum FindingCommand {
    /// A finding's details: remediation and the source's raw record.
    Show {
        /// Finding id.
        id: String,
        /// The integration, when several report the same id.
        #[arg(long)]
        integration: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `assets`: a list, or `assets import FILE`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AssetsArgs {
    #[command(subcommand)]
    action: Option<AssetsAction>,
    #[command(flatten)]
    list: AssetsList,
}

#[derive(Debug, Subcommand)]
enum AssetsAction {
    /// Add assets known from elsewhere: a JSON array of objects, or CSV with a header, with
    /// provider_id (required), name, asset_type, cloud_platform, region, account_id and
    /// tags (an object in JSON; k=v;k=v in CSV). A bad row stops the whole import.
    Import {
        /// The file.
        file: std::path::PathBuf,
    },
}

#[derive(Debug, Args)]
struct AssetsList {
    /// Integration name [default: the whole inventory].
    name: Option<String>,
    /// Only this asset type.
    #[arg(long = "type")]
    asset_type: Option<String>,
    /// Only this cloud platform (AWS, Azure, GCP, …).
    #[arg(long)]
    cloud: Option<String>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn findings(ctx: &Context, args: FindingsArgs) -> anyhow::Result<()> {
    let platform = ctx.platform().await?;
    if let Some(FindingsAction::SetStatus {
        id,
        status,
        integration,
        reason,
        by,
    }) = args.action
    {
        let request = StatusRequest {
            status: status.into(),
            reason,
            by: by.unwrap_or_else(super::context::os_user),
        };
        let set = platform
            .findings()
            .set_status(&id, integration.as_deref(), request)
            .await?;
        println!("finding {id}: status set to {}", set.status);
        eprintln!(
            "warning: `{}` is the source of truth for status; the next sync of `{}` sets it back to the source's status ({}). Change it at the source to keep it.",
            set.integration.connector, set.integration.name, set.finding.source_status
        );
        return Ok(());
    }
    let list = args.list;
    let json = list.json;
    let found = platform
        .findings()
        .list(FindingQuery {
            integration: list.name,
            severities: list.severity.into_iter().map(Into::into).collect(),
            statuses: list.status.into_iter().map(Into::into).collect(),
            asset: list.asset,
            inventory: None,
            since: list.since,
            words: (list.search.iter())
                .flat_map(|w| w.split_whitespace().map(String::from))
                .collect(),
            order: list.sort.unwrap_or_default(),
        })
        .await?;
    if json {
        return print_json(&found.findings);
    }
    let mut t = table::new(&[
        "ID",
        "SEVERITY",
        "STATUS",
        "SOURCE STATUS",
        "TITLE",
        "ASSET",
        "INTEGRATION",
    ]);
    for f in &found.findings {
        t.add_row(vec![
            f.id.clone(),
            f.severity.to_string(),
            f.status.to_string(),
            f.source_status.clone(),
            f.title.clone(),
            f.asset_id.clone(),
            f.integration.clone(),
        ]);
    }
    let counts: Vec<String> = found
        .by_severity
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    table::print(&t);
    println!(
        "{} finding(s){}{}",
        found.findings.len(),
        if counts.is_empty() { "" } else { " — " },
        counts.join(", ")
    );
    Ok(())
}

pub async fn finding(ctx: &Context, cmd: FindingCommand) -> anyhow::Result<()> {
    let FindingCommand::Show {
        id,
        integration,
        json,
    } = cmd;
    let platform = ctx.platform().await?;
    let detail = platform
        .findings()
        .show(&id, integration.as_deref())
        .await?;
    let (row, raw) = (detail.finding, detail.raw);
    if json {
        let mut value = serde_json::to_value(&row)?;
        value["raw"] = raw;
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let mut t = table::new(&["FIELD", "VALUE"]);
    let fields: Vec<(&str, String)> = vec![
        ("id", row.id.clone()),
        ("integration", row.integration.clone()),
        ("title", row.title.clone()),
        ("severity", row.severity.to_string()),
        (
            "status",
            format!("{} (source: {})", row.status, row.source_status),
        ),
        ("asset", row.asset_id.clone()),
        (
            "rule",
            format!("{} {}", opt(&row.rule_id), opt(&row.rule_name))
                .trim()
                .to_string(),
        ),
        ("created", opt_time(&row.created_at)),
        ("status changed", opt_time(&row.status_changed_at)),
        ("resolved", opt_time(&row.resolved_at)),
        ("due", opt_time(&row.due_at)),
        ("projects", row.project_ids.join(", ")),
        ("link", opt(&row.portal_url)),
    ];
    for (k, v) in fields {
        t.add_row(vec![k.to_string(), v]);
    }
    table::print(&t);
    println!(
        "\nDescription\n{}\n\nRemediation\n{}\n\nSource record\n{}",
        table::safe(&row.description),
        table::safe(
            row.remediation
                .as_deref()
                .unwrap_or("(none given by the source)")
        ),
        serde_json::to_string_pretty(&raw)?
    );
    Ok(())
}

pub async fn assets(ctx: &Context, args: AssetsArgs) -> anyhow::Result<()> {
    let platform = ctx.platform().await?;
    if let Some(AssetsAction::Import { file }) = args.action {
        let text = read_file(&file)?;
        let (added, present) = platform
            .inventory()
            .import(&text)
            .await
            .with_context(|| format!("{} not imported", file.display()))?;
        println!(
            "imported {added} asset(s) from {}; {present} already in the inventory",
            file.display()
        );
        return Ok(());
    }
    let list = args.list;
    let json = list.json;
    let rows = platform
        .inventory()
        .list(AssetQuery {
            integration: list.name,
            asset_type: list.asset_type,
            cloud: list.cloud,
        })
        .await?;
    if json {
        return print_json(&rows);
    }
    let mut t = table::new(&[
        "ID",
        "NAME",
        "TYPE",
        "CLOUD",
        "ACCOUNT",
        "REGION",
        "PROVIDER ID",
        "INTEGRATIONS",
    ]);
    for a in &rows {
        t.add_row(vec![
            a.id.clone(),
            a.name.clone(),
            a.asset_type.clone(),
            a.cloud_platform.clone(),
            opt(&a.cloud_account_id),
            opt(&a.region),
            opt(&a.provider_id),
            a.integrations.join(", "),
        ]);
    }
    table::print(&t);
    println!("{} asset(s)", rows.len());
    Ok(())
}

pub async fn history(ctx: &Context, args: ListArgs) -> anyhow::Result<()> {
    let platform = ctx.platform().await?;
    let rows = platform.history().list(&args.name).await?;
    if args.json {
        return print_json(&rows);
    }
    let mut t = table::new(&[
        "ACTION",
        "STARTED",
        "FINISHED",
        "BY",
        "STATUS",
        "ASSETS +/~",
        "FINDINGS +/~/=/skip",
        "NOTES",
    ]);
    for r in &rows {
        let c = &r.counts;
        let note = r
            .error
            .clone()
            .or_else(|| r.details.clone())
            .unwrap_or_else(|| r.warnings.join("; "));
        t.add_row(vec![
            r.action.as_str().to_string(),
            table::time(&r.started_at),
            opt_time(&r.finished_at),
            r.started_by.clone(),
            r.status.as_str().to_string(),
            format!("{}/{}", c.assets_onboarded, c.assets_updated),
            format!(
                "{}/{}/{}/{}",
                c.findings_new, c.findings_updated, c.findings_unchanged, c.findings_skipped
            ),
            note,
        ]);
    }
    table::print(&t);
    Ok(())
}
