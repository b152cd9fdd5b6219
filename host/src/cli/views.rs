//! `plugins`, `findings`, `assets` and `history`.

use super::context::Context;
use super::table::{self, opt, print_json};
use clap::Args;
use connector_host::plugin::contract::FieldKind;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Integration name.
    name: String,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn plugins(ctx: &Context) -> anyhow::Result<()> {
    let (_host, catalog) = ctx.plugins().await?;
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
            let kind = match f.kind {
                FieldKind::Text => "text",
                FieldKind::Secret => "secret",
                FieldKind::Url => "url",
                FieldKind::List => "list",
                FieldKind::Number => "number",
                FieldKind::Bool => "bool",
            };
            t.add_row(vec![
                f.key.clone(),
                kind.into(),
                if f.required {
                    "yes".into()
                } else {
                    "no".into()
                },
                opt(&f.default_value),
                f.help.clone(),
            ]);
        }
        println!("{t}");
    }
    for (file, error) in &catalog.failed {
        eprintln!("warning: {} not loaded: {error}", file.display());
    }
    if catalog.plugins.is_empty() {
        anyhow::bail!("no plugins loaded from the plugins folder");
    }
    Ok(())
}

pub fn findings(ctx: &Context, args: ListArgs) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let rows = store.findings(store.integration(&args.name)?.id)?;
    if args.json {
        return print_json(&rows);
    }
    let mut t = table::new(&[
        "ID",
        "SEVERITY",
        "STATUS",
        "SOURCE STATUS",
        "TITLE",
        "ASSET",
    ]);
    for f in &rows {
        t.add_row(vec![
            f.id.clone(),
            f.severity.clone(),
            f.status.clone(),
            f.wiz_status.clone(),
            f.title.clone(),
            f.asset_id.clone(),
        ]);
    }
    println!("{t}\n{} finding(s)", rows.len());
    Ok(())
}

pub fn assets(ctx: &Context, args: ListArgs) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let rows = store.assets(store.integration(&args.name)?.id)?;
    if args.json {
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
            opt(&r.finished_at),
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
