//! The example connector of `docs/writing-a-connector.md`: findings from a paged JSON
//! feed. The feed answers `GET feed-url` with
//! `{"items": [{"id", "asset": {"id", "name", "type"}, "title", "severity", "status",
//! "updated_at"}], "next": URL or null}`.
#![deny(missing_docs)]

use connector_sdk::http::{Request, Transport, assess_by_status};
use connector_sdk::paging::PageGuard;
use connector_sdk::records::{Asset, Batch, Finding, FindingKind, FindingStatus, Severity};
use connector_sdk::{
    Checklist, ConnectionFailure, Connector, ConnectorError, Description, Field, FieldKind, Host,
    Pages, Settings, Step, Stream, SyncSummary,
};
use serde::Deserialize;
use std::collections::HashSet;

/// The one stream it offers.
pub const STREAM: &str = "findings";

/// The feed connector.
pub struct Feed;

/// One page of the feed.
#[derive(Debug, Deserialize)]
struct Page {
    items: Vec<Item>,
    next: Option<String>,
}

/// One finding in the feed.
#[derive(Debug, Deserialize)]
struct Item {
    id: String,
    asset: FeedAsset,
    title: String,
    severity: String,
    status: String,
    updated_at: Option<String>,
}

/// The asset a finding is about.
#[derive(Debug, Deserialize)]
struct FeedAsset {
    id: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
}

/// GETs one page: the bearer token when there is one, retries as the SDK does by default.
async fn fetch<T: Transport>(
    client: &connector_sdk::http::Client<T>,
    settings: &Settings,
    url: &str,
) -> Result<Page, ConnectorError> {
    let mut request = Request::get(url).header("accept", "application/json");
    if let Some(token) = settings.text("token") {
        request = request.header("authorization", &format!("Bearer {token}"));
    }
    let response = client.send(&request, "the feed", assess_by_status).await?;
    match response.status {
        200 => serde_json::from_slice(&response.body)
            .map_err(|e| ConnectorError::Protocol(format!("the feed's page does not read ({e})"))),
        401 | 403 => Err(ConnectorError::Auth(format!(
            "the feed answered {}: check the token",
            response.status
        ))),
        404 => Err(ConnectorError::Config(
            "the feed answered 404: check feed-url".into(),
        )),
        s => Err(ConnectorError::Transient(format!(
            "the feed answered HTTP {s}"
        ))),
    }
}

fn client<T: Transport>(transport: T) -> connector_sdk::http::Client<T> {
    connector_sdk::http::Client::new(transport, Default::default())
}

/// An item as a finding and its asset, or why it cannot be one.
fn records(item: &Item) -> Result<(Asset<'static>, Finding<'static>), String> {
    let severity = Severity::parse(&item.severity)
        .ok_or_else(|| format!("unknown severity `{}`", item.severity))?;
    let status = match item.status.as_str() {
        "open" => FindingStatus::Failed,
        "resolved" => FindingStatus::Passed,
        "accepted" => FindingStatus::AcceptedFailed,
        other => return Err(format!("unknown status `{other}`")),
    };
    let asset = Asset {
        source_id: item.asset.id.clone(),
        name: item.asset.name.clone(),
        asset_type: item.asset.kind.clone(),
        cloud_platform: "Feed".into(),
        ..Asset::default()
    };
    let finding = Finding {
        source_id: item.id.clone(),
        asset_source_id: item.asset.id.clone(),
        stream: STREAM.into(),
        kind: FindingKind::Issue,
        vulnerability: None,
        title: item.title.clone(),
        description: String::new(),
        severity,
        status,
        source_status: item.status.clone(),
        remediation: None,
        rule_id: None,
        rule_name: None,
        created_at: None,
        updated_at: item.updated_at.clone(),
        status_changed_at: None,
        resolved_at: None,
        due_at: None,
        project_ids: Vec::new(),
        portal_url: None,
        raw: Default::default(),
    };
    Ok((asset, finding))
}

impl Connector for Feed {
    fn describe() -> Description {
        Description {
            name: "json-feed",
            version: env!("CARGO_PKG_VERSION"),
            fields: vec![
                Field::new(
                    "feed-url",
                    "Feed URL",
                    "Where the feed's first page is.",
                    FieldKind::Url,
                )
                .required(),
                Field::new(
                    "token",
                    "Token",
                    "Bearer token, if the feed needs one.",
                    FieldKind::Secret,
                ),
            ],
            streams: vec![Stream {
                name: STREAM,
                label: "Findings",
                description: "Every finding in the feed.",
                default_on: true,
            }],
            fixed_endpoints: Vec::new(),
        }
    }

    async fn test_connection<T: Transport>(
        settings: &Settings,
        transport: T,
    ) -> Result<Vec<Step>, ConnectionFailure> {
        let mut checks = Checklist::new(&["feed"]);
        let url = match settings.url("feed-url") {
            Ok(url) => url,
            Err(e) => return Err(checks.failed("feed", e)),
        };
        match fetch(&client(transport), settings, url.as_str()).await {
            Ok(page) => checks.passed(
                "feed",
                format!(
                    "the feed answers ({} items on its first page)",
                    page.items.len()
                ),
            ),
            Err(e) => return Err(checks.failed("feed", e)),
        }
        Ok(checks.done())
    }

    async fn sync<T: Transport, H: Host>(
        settings: &Settings,
        _streams: &[String],
        state: Option<&str>,
        transport: T,
        host: &mut H,
    ) -> Result<SyncSummary, ConnectorError> {
        let client = client(transport);
        let mut pages = Pages::new(host);
        // The checkpoint is the next page's URL; without one the walk starts over.
        let first = settings.url("feed-url")?.to_string();
        let mut url = state.map(str::to_string).unwrap_or(first);
        let full = state.is_none();
        let (mut guard, mut assets) = (PageGuard::default(), HashSet::new());
        loop {
            let page = fetch(&client, settings, &url).await?;
            let mut batch = Batch::default();
            for item in &page.items {
                match records(item) {
                    Ok((asset, finding)) => {
                        if assets.insert(asset.source_id.clone()) {
                            batch.assets.push(asset);
                        }
                        batch.findings.push(finding);
                    }
                    Err(reason) => {
                        pages.skipped(1);
                        pages.warn(format!("item {}: {reason}", item.id));
                    }
                }
            }
            let next = guard.next(
                page.next.is_some(),
                page.next.as_deref(),
                page.items.len(),
                "`next`",
            )?;
            pages.deliver(batch, next.as_deref())?;
            match next {
                Some(next) => url = next,
                None => return Ok(pages.finish(full)),
            }
        }
    }
}

#[cfg(feature = "component")]
connector_sdk::export_connector!(Feed);

#[cfg(test)]
mod tests {
    use super::*;
    use connector_sdk::http::Response;
    use connector_sdk::testkit::{FakeHost, ScriptedTransport, block_on};

    fn settings() -> Settings {
        let fields = Feed::describe().fields;
        Settings::parse(
            &fields,
            [("feed-url", "https://feed.test/p1"), ("token", "t0k3n")],
        )
        .unwrap()
    }

    fn page(
        items: &str,
        next: Option<&str>,
    ) -> Result<Response, connector_sdk::http::TransportError> {
        let next = next.map_or("null".to_string(), |n| format!("\"{n}\""));
        Ok(Response::new(
            200,
            format!(r#"{{"items": [{items}], "next": {next}}}"#),
        ))
    }

    const ITEM: &str = r#"{"id": "f1", "asset": {"id": "a1", "name": "web", "type": "host"}, "title": "t", "severity": "high", "status": "open", "updated_at": null}"#;

    #[test]
    fn a_full_sync_hands_over_each_page_then_its_checkpoint() {
        let second = ITEM.replace("f1", "f2").replace("high", "bogus");
        let feed = ScriptedTransport::new([
            page(ITEM, Some("https://feed.test/p2")),
            page(&second, None),
        ]);
        let mut host = FakeHost::default();
        let summary = block_on(Feed::sync(&settings(), &[], None, &feed, &mut host)).unwrap();
        assert!(summary.full);
        assert_eq!(
            (summary.assets, summary.findings, summary.skipped),
            (1, 1, 1)
        );
        assert_eq!(host.checkpoints(), ["https://feed.test/p2"]);
        let requests = feed.requests();
        assert_eq!(
            requests[0].header_value("authorization"),
            Some("Bearer t0k3n")
        );
        assert_eq!(requests[1].url, "https://feed.test/p2");
    }

    #[test]
    fn a_feed_that_repeats_its_next_page_is_stopped() {
        let feed = ScriptedTransport::new([
            page(ITEM, Some("https://feed.test/p2")),
            page(ITEM, Some("https://feed.test/p2")),
        ]);
        let error = block_on(Feed::sync(
            &settings(),
            &[],
            None,
            &feed,
            &mut FakeHost::default(),
        ))
        .unwrap_err();
        assert!(
            matches!(error, ConnectorError::Protocol(ref m) if m.contains("repeated")),
            "{error}"
        );
    }

    #[test]
    fn a_refused_token_fails_the_test_at_its_step() {
        let feed = ScriptedTransport::new([Ok(Response::new(401, ""))]);
        let failure = block_on(Feed::test_connection(&settings(), &feed)).unwrap_err();
        assert!(matches!(failure.error, ConnectorError::Auth(_)));
        assert_eq!(failure.steps[0].name, "feed");
    }
}
