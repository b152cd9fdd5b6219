//! The rules an integration's name and settings must follow, whichever front end asks:
//! names that read the same everywhere, stored secrets that never follow a changed URL,
//! and URL settings the sandbox's policy would refuse, refused as they are entered.

use super::ServiceError;
use crate::model::FieldKind;
use crate::plugin::LoadedPlugin;
use crate::plugin::resolve::Resolver;
use crate::settings::{SettingError, Settings};
use std::collections::BTreeMap;

/// The longest integration name.
pub const MAX_NAME: usize = 64;

/// An integration name: 1 to [`MAX_NAME`] letters, digits, `-`, `_` and `.`, so that it
/// reads the same in a URL, a shell, a log line and a file name.
pub(super) fn check_name(name: &str) -> Result<(), ServiceError> {
    let fine = (1..=MAX_NAME).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    match fine {
        true => Ok(()),
        // Quoted escaped and cut short: the name may hold control characters or megabytes.
        false => Err(ServiceError::BadIntegrationName(
            name.chars()
                .take(MAX_NAME + 1)
                .collect::<String>()
                .escape_debug()
                .to_string(),
        )),
    }
}

/// Refuses a change of any URL setting (set, unset or back to its default) unless every
/// stored secret is entered again in the same request: a stored secret is only ever
/// sent to the URLs it was entered for.
pub(super) fn check_secrets_follow_urls(
    schema: &[crate::model::ConfigField],
    before: &Settings,
    after: &Settings,
    entered: &BTreeMap<String, String>,
) -> Result<(), ServiceError> {
    let urls: Vec<String> = schema
        .iter()
        .filter(|f| f.kind == FieldKind::Url && before.get(&f.key) != after.get(&f.key))
        .map(|f| f.key.clone())
        .collect();
    if urls.is_empty() {
        return Ok(());
    }
    let entered = |key: &str| entered.get(key).is_some_and(|v| !v.trim().is_empty());
    let secrets: Vec<String> = schema
        .iter()
        .filter(|f| after.is_secret(f) && after.get(&f.key).is_some() && !entered(&f.key))
        .map(|f| f.key.clone())
        .collect();
    match secrets.is_empty() {
        true => Ok(()),
        false => Err(ServiceError::SecretsNotReentered { urls, secrets }),
    }
}

/// The settings an integration would have, checked against its plugin and the sandbox's
/// policy: a URL setting whose host the policy would refuse at run time (a metadata or
/// link-local address, or a name that resolves to one) is refused now, with the
/// policy's reason, before any plugin call.
pub(super) async fn validate(
    plugin: &LoadedPlugin,
    resolver: &Resolver,
    values: BTreeMap<String, String>,
) -> Result<Settings, SettingError> {
    let schema = &plugin.info.config_schema;
    let settings = Settings::validate(schema, values)?;
    for field in schema.iter().filter(|f| f.kind == FieldKind::Url) {
        let Some(url) = settings
            .get(&field.key)
            .and_then(|v| url::Url::parse(v).ok())
        else {
            continue;
        };
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            continue;
        };
        if let Some(denied) = resolves_where_refused(resolver, host, port).await {
            return Err(SettingError {
                key: field.key.clone(),
                message: format!("refused by the host's sandbox policy: {denied}"),
            });
        }
    }
    Ok(settings)
}

/// How long a URL setting's host name may take to resolve when it is checked.
const RESOLVE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Why the policy would refuse `host` by what its name resolves to, if it would. A name
/// that does not resolve here and now is left to the run (and its own check).
async fn resolves_where_refused(
    resolver: &Resolver,
    host: &str,
    port: u16,
) -> Option<crate::plugin::policy::Denied> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return None; // An address is checked as written, by `Settings::validate`.
    }
    let addresses = tokio::time::timeout(RESOLVE_WAIT, resolver.lookup(bare, port))
        .await
        .ok()?
        .ok()?;
    crate::plugin::policy::check_resolved(bare, &addresses).err()
}

/// The host's own setting that chooses an integration's streams.
pub const STREAMS_KEY: &str = "streams";

/// Checks a choice of streams against what `plugin` offers: at least one, each offered,
/// none twice.
pub(super) fn check_streams(plugin: &LoadedPlugin, chosen: &[String]) -> Result<(), SettingError> {
    let info = &plugin.info;
    let offered: Vec<&str> = info.streams.iter().map(|s| s.name.as_str()).collect();
    let refuse = |message: String| SettingError {
        key: STREAMS_KEY.into(),
        message,
    };
    if chosen.is_empty() {
        return Err(refuse(format!(
            "choose at least one of {}",
            offered.join(", ")
        )));
    }
    for (i, name) in chosen.iter().enumerate() {
        if !offered.contains(&name.as_str()) {
            return Err(refuse(format!(
                "`{}` is not a stream of {} {}; it offers {}",
                name.escape_debug(),
                info.name,
                info.version,
                offered.join(", ")
            )));
        }
        if chosen[..i].contains(name) {
            return Err(refuse(format!("`{name}` is given twice")));
        }
    }
    Ok(())
}

/// The streams a sync of an integration pulls: its choice, else its plugin's defaults;
/// a choice the plugin (another version of it) no longer offers is refused.
pub(super) fn streams_to_pull(
    plugin: &LoadedPlugin,
    chosen: Option<&[String]>,
) -> Result<Vec<String>, SettingError> {
    match chosen {
        None => Ok(plugin.info.default_streams()),
        Some(chosen) => {
            check_streams(plugin, chosen)?;
            Ok(chosen.to_vec())
        }
    }
}
