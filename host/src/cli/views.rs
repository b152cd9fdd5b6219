//! `plugins`, `findings`, `finding show`, `assets` and `history`.

use super::context::Context;
use super::table::{self, opt, print_json};
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use connector_host::inventory::parse_import;
use connector_host::plugin::contract::FieldKind;
use connector_host::store::{AssetFilter, FindingFilter, FindingRow, Storage};

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

fn value_name(v: impl ValueEnum) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
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
    #[arg(long, value_parser = parse_since)]
    since: Option<String>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_since(text: &str) -> Result<String, String> {
    let time = chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
        })
        .map_err(|_| format!("`{text}` is not a date (YYYY-MM-DD) or an RFC 3339 time"))?;
    Ok(time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
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

fn kind_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "text",
        FieldKind::Secret => "secret",
        FieldKind::Url => "url",
        FieldKind::List => "list",
        FieldKind::Number => "number",
        FieldKind::Bool => "bool",
    }
}

pub async fn plugins(ctx: &Context, json: bool) -> anyhow::Result<()> {
    let (_host, catalog) = ctx.plugins().await?;
    for (file, error) in &catalog.failed {
        eprintln!("warning: {} not loaded: {error}", file.display());
    }
    if catalog.plugins.is_empty() {
        bail!("no plugins loaded from the plugins folder");
    }
    if json {
        let rows: Vec<serde_json::Value> = catalog
            .plugins
            .iter()
            .map(|p| {
                let fields: Vec<serde_json::Value> = p
                    .info
                    .config_schema
                    .iter()
                    .map(|f| {
                        serde_json::json!({"key": f.key, "label": f.label, "help": f.help, "kind": kind_name(f.kind), "required": f.required,
                            "default": f.default_value, "min": f.min, "max": f.max})
                    })
                    .collect();
                serde_json::json!({"name": p.info.name, "version": p.info.version, "contract_version": p.info.contract_version,
                    "path": p.path.display().to_string(), "config_schema": fields})
            })
            .collect();
        return print_json(&rows);
    }
    for plugin in &catalog.plugins {
        let i = &plugin.info;
        println!(
            "{} {} (contract {}) from {}",
            i.name,
            i.version,
            i.contract_version,
            plugin.path.display()
        );
        let mut t = table::new(&["KEY", "KIND", "REQUIRED", "DEFAULT", "HELP"]);
        for f in &i.config_schema {
            let required = if f.required { "yes" } else { "no" };
            t.add_row(vec![
                f.key.clone(),
                kind_name(f.kind).into(),
                required.into(),
                opt(&f.default_value),
                f.help.clone(),
            ]);
        }
        println!("{t}");
    }
    Ok(())
}

/// The row id of the named integration, if a name is given.
fn integration_id(store: &dyn Storage, name: Option<&str>) -> anyhow::Result<Option<i64>> {
    Ok(match name {
        Some(name) => Some(store.integration(name)?.id),
        None => None,
    })
}

/// The one finding with `id`, in `integration` when given.
fn one_finding(
    store: &dyn Storage,
    id: &str,
    integration: Option<&str>,
) -> anyhow::Result<FindingRow> {
    let filter = FindingFilter {
        integration: integration_id(store, integration)?,
        id: Some(id.to_string()),
        ..Default::default()
    };
    let mut rows = store.findings(&filter)?;
    match rows.len() {
        0 => bail!("finding `{id}` not found"),
        1 => Ok(rows.remove(0)),
        _ => {
            let names: Vec<&str> = rows.iter().map(|r| r.integration.as_str()).collect();
            bail!(
                "finding `{id}` is reported by several integrations ({}); choose one with --integration",
                names.join(", ")
            )
        }
    }
}

pub fn findings(ctx: &Context, args: FindingsArgs) -> anyhow::Result<()> {
    let mut store = ctx.store()?;
    if let Some(FindingsAction::SetStatus {
        id,
        status,
        integration,
    }) = args.action
    {
        let row = one_finding(store.as_ref(), &id, integration.as_deref())?;
        let integration = store.integration(&row.integration)?;
        store.set_finding_status(integration.id, &id, &value_name(status))?;
        println!("finding {id}: status set to {}", value_name(status));
        eprintln!(
            "warning: `{}` is the source of truth for status; the next sync of `{}` sets it back to the source's status ({}). Change it at the source to keep it.",
            integration.connector, integration.name, row.source_status
        );
        return Ok(());
    }
    let list = args.list;
    let filter = FindingFilter {
        integration: integration_id(store.as_ref(), list.name.as_deref())?,
        severities: list.severity.into_iter().map(value_name).collect(),
        statuses: list.status.into_iter().map(value_name).collect(),
        asset: list.asset,
        since: list.since,
        ..Default::default()
    };
    let rows = store.findings(&filter)?;
    if list.json {
        return print_json(&rows);
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
    for f in &rows {
        t.add_row(vec![
            f.id.clone(),
            f.severity.clone(),
            f.status.clone(),
            f.source_status.clone(),
            f.title.clone(),
            f.asset_id.clone(),
            f.integration.clone(),
        ]);
    }
    let counts: Vec<String> = ["critical", "high", "medium", "low", "info"]
        .iter()
        .map(|s| (s, rows.iter().filter(|f| f.severity == *s).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    println!(
        "{t}\n{} finding(s){}{}",
        rows.len(),
        if counts.is_empty() { "" } else { " — " },
        counts.join(", ")
    );
    Ok(())
}

pub fn finding(ctx: &Context, cmd: FindingCommand) -> anyhow::Result<()> {
    let FindingCommand::Show {
        id,
        integration,
        json,
    } = cmd;
    let store = ctx.store()?;
    let row = one_finding(store.as_ref(), &id, integration.as_deref())?;
    let raw_text = store.finding_raw(store.integration(&row.integration)?.id, &id)?;
    let raw: serde_json::Value =
        serde_json::from_str(&raw_text).unwrap_or(serde_json::Value::String(raw_text));
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
        ("severity", row.severity.clone()),
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
        ("created", opt(&row.created_at)),
        ("status changed", opt(&row.status_changed_at)),
        ("resolved", opt(&row.resolved_at)),
        ("due", opt(&row.due_at)),
        ("projects", row.project_ids.join(", ")),
        ("link", opt(&row.portal_url)),
    ];
    for (k, v) in fields {
        t.add_row(vec![k.to_string(), v]);
    }
    println!(
        "{t}\n\nDescription\n{}\n\nRemediation\n{}\n\nSource record\n{}",
        row.description,
        row.remediation
            .as_deref()
            .unwrap_or("(none given by the source)"),
        serde_json::to_string_pretty(&raw)?
    );
    Ok(())
}

pub fn assets(ctx: &Context, args: AssetsArgs) -> anyhow::Result<()> {
    let mut store = ctx.store()?;
    if let Some(AssetsAction::Import { file }) = args.action {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let assets =
            parse_import(&text).with_context(|| format!("{} not imported", file.display()))?;
        let (added, present) = store.import_assets(&assets)?;
        println!(
            "imported {added} asset(s) from {}; {present} already in the inventory",
            file.display()
        );
        return Ok(());
    }
    let list = args.list;
    let filter = AssetFilter {
        integration: integration_id(store.as_ref(), list.name.as_deref())?,
        asset_type: list.asset_type,
        cloud: list.cloud,
    };
    let rows = store.assets(&filter)?;
    if list.json {
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
    println!("{t}\n{} asset(s)", rows.len());
    Ok(())
}

pub fn history(ctx: &Context, args: ListArgs) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let rows = store.history(store.integration(&args.name)?.id)?;
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
            r.started_at.clone(),
            r.finished_at.clone().unwrap_or_default(),
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
    println!("{t}");
    Ok(())
}
