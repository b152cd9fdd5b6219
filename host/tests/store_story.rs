//! One story of storage behaviour, told to both backends: every test below is a plain
//! async function over `Arc<dyn Store>`, instantiated once for SQLite and once for
//! PostgreSQL by `both_backends!`.

use chrono::{DateTime, Duration as TimeDelta, Utc};
use connector_host::import::ImportedAsset;
use connector_host::model::{
    Action, AffectedPackage, Asset, AssetFilter, Batch, Cvss, CvssScore, Finding, FindingFilter,
    FindingKind, FindingOrder, FindingSort, FindingStatus, InstalledPlugin, InventoryAsset,
    NewIntegration, NewSession, PluginPin, Policy, Role, RunCounts, RunEnd, RunStatus, Severity,
    StatusChange, StatusesMoved, StoredFinding, Vulnerability, Window, natural_key, parse_time,
};
use connector_host::policy::lease::{INTERRUPTED, abandoned, worker_id};
use connector_host::store::{
    BatchOutcome, CancelRequested, Checkpoint, ClaimKind, Fence, GROUP_SPAN, GroupFeed, GroupWrite,
    Installed, LeaseOutcome, Store, StoreError, StoreTarget, SyncRequested, Turn, WorkerInfo,
    open_store,
};
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// The backend under test and what keeps it alive.
enum Keep {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(postgres_fixture::TestDatabase),
}

async fn sqlite() -> (Arc<dyn Store>, Keep) {
    let dir = tempfile::tempdir().unwrap();
    let target = StoreTarget::parse(&dir.path().join("story.db").display().to_string()).unwrap();
    (open_store(&target).await.unwrap(), Keep::Sqlite(dir))
}

async fn postgres() -> Option<(Arc<dyn Store>, Keep)> {
    let db = postgres_fixture::database()?;
    let target = StoreTarget::parse(db.url()).unwrap();
    Some((open_store(&target).await.unwrap(), Keep::Postgres(db)))
}

macro_rules! both_backends {
    ($($story:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $story() {
                let (store, keep) = super::sqlite().await;
                super::$story(store, &keep).await;
            })*
        }
        mod on_postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $story() {
                let Some((store, keep)) = super::postgres().await else { return };
                super::$story(store, &keep).await;
            })*
        }
    };
}

both_backends!(
    integrations_are_named_unique_and_removable,
    plugin_builds_are_kept_once_per_version_and_pinned_only_when_kept,
    batches_are_idempotent_upserts_that_count_what_changed,
    findings_are_listed_by_severity_and_filtered,
    the_inventory_is_shared_by_canonical_key,
    auto_onboard_off_stores_only_what_the_inventory_has,
    imports_add_what_the_inventory_lacks,
    unseen_and_removed_findings_close_and_reopen,
    a_full_sync_of_some_streams_closes_only_their_unseen_findings,
    removed_assets_close_their_open_findings_until_they_return,
    local_statuses_last_until_restored,
    checkpoints_are_kept_per_integration,
    a_group_commits_its_batches_in_order_and_its_checkpoint_after_them,
    a_group_takes_what_is_queued_until_its_span_ends,
    leases_keep_one_run_per_integration,
    history_and_schedules_round_trip,
    a_newer_schema_is_refused_and_left_untouched,
    findings_page_by_cursor_and_count_by_severity,
    findings_are_searched_and_sorted_and_paged_both_ways,
    assets_are_listed_by_name_as_people_read_it,
    findings_sort_by_their_assets_name_which_follows_the_asset,
    users_and_sessions_keep_only_hashes_and_end_together,
    a_destinations_pace_is_booked_in_the_store_a_seconds_worth_at_once,
    a_sync_now_asked_for_a_due_auto_sync_is_claimed_once,
    vulnerabilities_keep_their_kind_and_details,
    due_auto_syncs_are_claimed_once_each_by_workers_claiming_at_once,
    a_claim_ends_by_rescheduling_and_giving_back_its_lease_at_once,
    a_dead_workers_claim_is_claimed_again_once_its_lease_lapses,
    auto_sync_schedules_follow_the_auto_sync_days,
    workers_register_beat_drain_and_stop,
    sync_now_requests_join_come_first_and_carry_progress_and_cancel,
    a_sync_now_a_dead_worker_claimed_but_never_started_is_claimed_again,
    the_database_keeps_one_active_run_per_integration,
);

fn new_integration(name: &str, policy: Policy) -> NewIntegration {
    NewIntegration {
        name: name.into(),
        connector: "wiz".into(),
        settings: vec![("api-url".into(), "https://api.example/graphql".into())],
        sealed_secrets: "v1:sealed-bytes".into(),
        policy,
        plugin: PluginPin {
            version: "0.1.0".into(),
            digest: "a".repeat(64),
        },
        streams: None,
    }
}

fn build(version: &str, digest: char) -> InstalledPlugin {
    InstalledPlugin {
        name: "wiz".into(),
        version: version.into(),
        digest: digest.to_string().repeat(64),
        contract_version: "0.2.0".into(),
        installed_at: Utc::now(),
    }
}

fn pin_of(build: &InstalledPlugin) -> PluginPin {
    PluginPin {
        version: build.version.clone(),
        digest: build.digest.clone(),
    }
}

async fn plugin_builds_are_kept_once_per_version_and_pinned_only_when_kept(
    store: Arc<dyn Store>,
    _keep: &Keep,
) {
    let (old, new) = (build("0.1.0", 'a'), build("0.2.0", 'b'));
    assert_eq!(
        store.install_plugin(&old, b"old component").await.unwrap(),
        Installed::New
    );
    assert_eq!(
        store.install_plugin(&old, b"old component").await.unwrap(),
        Installed::Already
    );
    // Another build under an installed version is refused, and the first one kept.
    let changed = build("0.1.0", 'c');
    assert_eq!(
        store.install_plugin(&changed, b"changed").await.unwrap(),
        Installed::Differs(old.digest.clone())
    );
    assert_eq!(
        store.plugin_component("wiz", "0.1.0").await.unwrap(),
        Some((old.digest.clone(), b"old component".to_vec()))
    );
    assert_eq!(store.plugin_component("wiz", "9.9.9").await.unwrap(), None);

    let prod = store
        .add_integration(&new_integration("prod", Policy::default()))
        .await
        .unwrap();
    assert_eq!(prod.plugin, Some(pin_of(&old)));
    // Not pinned to a build the store does not keep.
    assert!(
        !store
            .pin_plugin(prod.id, Some(&pin_of(&old)), &pin_of(&new), None)
            .await
            .unwrap()
    );
    store.install_plugin(&new, b"new component").await.unwrap();
    // Not moved by someone who saw another pin.
    assert!(
        !store
            .pin_plugin(prod.id, Some(&pin_of(&new)), &pin_of(&new), None)
            .await
            .unwrap()
    );
    let settings = vec![(
        "api-url".to_string(),
        "https://other.example/graphql".to_string(),
    )];
    assert!(
        store
            .pin_plugin(
                prod.id,
                Some(&pin_of(&old)),
                &pin_of(&new),
                Some((&settings, "v2:resealed"))
            )
            .await
            .unwrap()
    );
    let moved = store.integration("prod").await.unwrap();
    assert_eq!(moved.plugin, Some(pin_of(&new)));
    assert_eq!(moved.settings, settings);
    assert_eq!(moved.sealed_secrets, "v2:resealed");

    let listed: Vec<(String, String)> = store
        .installed_plugins()
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.version, p.digest))
        .collect();
    assert_eq!(
        listed,
        [
            ("0.1.0".to_string(), old.digest.clone()),
            ("0.2.0".to_string(), new.digest.clone())
        ]
    );
    // The build in use stays; the other goes.
    match store.remove_plugin("wiz", "0.2.0").await {
        Err(StoreError::InUse { users, .. }) => assert_eq!(users, ["prod"]),
        other => panic!("a build in use was removed: {other:?}"),
    }
    store.remove_plugin("wiz", "0.1.0").await.unwrap();
    assert!(matches!(
        store.remove_plugin("wiz", "0.1.0").await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.plugin_component("wiz", "0.1.0").await.unwrap(), None);
    store.remove_integration("prod").await.unwrap();
    store.remove_plugin("wiz", "0.2.0").await.unwrap();
}

fn asset(id: &str, provider: Option<&str>) -> Asset {
    Asset {
        source_id: id.into(),
        name: format!("asset {id}"),
        asset_type: "Virtual Machine".into(),
        cloud_platform: "AWS".into(),
        cloud_account_id: Some("123456789012".into()),
        cloud_account_name: Some("prod".into()),
        region: Some("eu-west-1".into()),
        provider_id: provider.map(Into::into),
        tags: [("env".to_string(), "prod".to_string())].into(),
        status: Some("Active".into()),
        technologies: vec!["Linux".into()],
        raw: format!(r#"{{"id":"{id}","ünïcode":"✓"}}"#),
    }
}

fn finding(id: &str, asset: &str, severity: Severity) -> Finding {
    Finding {
        source_id: id.into(),
        asset_source_id: asset.into(),
        title: format!("finding {id}"),
        description: "It is open.".into(),
        severity,
        status: FindingStatus::Failed,
        source_status: "OPEN".into(),
        remediation: Some("Close it.".into()),
        rule_id: Some("rule-1".into()),
        rule_name: Some("Open things".into()),
        created_at: parse_time("2026-05-01T10:00:00.123456Z"),
        updated_at: parse_time("2026-05-02T10:00:00Z"),
        status_changed_at: None,
        resolved_at: None,
        due_at: parse_time("2026-06-01T00:00:00+02:00"),
        project_ids: vec!["p1".into(), "p2".into()],
        portal_url: Some("https://app.example/issues/1".into()),
        stream: "issues".into(),
        kind: FindingKind::Issue,
        vulnerability: None,
        raw: format!(r#"{{"id":"{id}"}}"#),
    }
}

/// Every asset `filter` lists, read a page of two at a time: the pages must join up
/// without a gap or a repeat, and add up to the count.
async fn all_assets(store: &Arc<dyn Store>, filter: &AssetFilter) -> Vec<InventoryAsset> {
    let mut all: Vec<InventoryAsset> = Vec::new();
    let mut after = None;
    loop {
        let page = store.asset_page(filter, after.as_ref(), 2).await.unwrap();
        assert!(page.assets.len() <= 2);
        all.extend(page.assets);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let whole = store.asset_page(filter, None, 1000).await.unwrap();
    assert_eq!(whole.next, None);
    assert_eq!(all, whole.assets, "pages join up in listing order");
    assert_eq!(store.asset_count(filter).await.unwrap(), all.len() as u64);
    all
}

async fn run_of(store: &Arc<dyn Store>, integration: i64) -> i64 {
    store
        .start_run(integration, Action::SyncNow, "story")
        .await
        .unwrap()
}

/// The writer's lease on `integration`, taken (again) now: its fence.
async fn lease(store: &Arc<dyn Store>, integration: i64) -> Fence {
    match store
        .acquire_lease(integration, "story-writer", Duration::from_secs(3600))
        .await
        .unwrap()
    {
        LeaseOutcome::Acquired { fence, .. } => fence,
        held => panic!("the story's writer holds every lease: {held:?}"),
    }
}

/// Batches and the checkpoint after them, as a run queues them.
#[derive(Debug, Clone, Default)]
struct WriteGroup {
    batches: Vec<Batch>,
    checkpoint: Option<(String, i64)>,
}

/// What a group of a [`WriteGroup`]'s writes did.
#[derive(Debug)]
struct Written {
    batches: Vec<BatchOutcome>,
    checkpoint_stale: bool,
}

/// A run's queue holding some writes, all ready, and keeping what the store says of
/// each batch it took back.
struct Queued {
    writes: std::collections::VecDeque<GroupWrite>,
    /// Ready again as soon as taken, until the instant given (then the queue is empty).
    again: Option<(GroupWrite, std::time::Instant)>,
    written: Arc<std::sync::Mutex<Vec<BatchOutcome>>>,
}

impl GroupFeed for Queued {
    fn next(&mut self, _wait: Duration) -> BoxFuture<'_, Option<GroupWrite>> {
        let next = self.writes.pop_front().or_else(|| match &self.again {
            Some((write, until)) if std::time::Instant::now() < *until => Some(write.clone()),
            _ => None,
        });
        Box::pin(std::future::ready(next))
    }

    fn written(&mut self, _batch: Batch, outcome: BatchOutcome) {
        self.written.lock().unwrap().push(outcome);
    }
}

/// Writes `group` in one transaction, as a sync's writer does when they are all queued.
async fn write_group(
    store: &Arc<dyn Store>,
    integration: i64,
    run: i64,
    policy: Policy,
    group: WriteGroup,
    fence: Fence,
) -> Result<Written, StoreError> {
    let mut writes: std::collections::VecDeque<GroupWrite> =
        group.batches.into_iter().map(GroupWrite::Batch).collect();
    writes.extend(
        group
            .checkpoint
            .map(|(state, generation)| GroupWrite::Checkpoint(state, generation)),
    );
    let queued = writes.len();
    let written = Arc::new(std::sync::Mutex::new(Vec::new()));
    let feed = Queued {
        writes,
        again: None,
        written: written.clone(),
    };
    let outcome = store
        .write_group(integration, run, policy, Box::new(feed), fence)
        .await?;
    assert_eq!(outcome.writes, queued, "one group takes all that is queued");
    let batches = std::mem::take(&mut *written.lock().unwrap());
    Ok(Written {
        batches,
        checkpoint_stale: outcome.checkpoint_stale,
    })
}

/// Writes `batch` alone, as a group of one.
async fn write_one(
    store: &Arc<dyn Store>,
    integration: i64,
    run: i64,
    policy: Policy,
    batch: Batch,
    fence: Fence,
) -> Result<BatchOutcome, StoreError> {
    let group = WriteGroup {
        batches: vec![batch],
        checkpoint: None,
    };
    let mut outcome = write_group(store, integration, run, policy, group, fence).await?;
    Ok(outcome.batches.remove(0))
}

/// Stores a checkpoint alone, as a group without batches; whether it was stored.
async fn save_checkpoint(
    store: &Arc<dyn Store>,
    integration: i64,
    state: &str,
    generation: i64,
    fence: Fence,
) -> Result<bool, StoreError> {
    let group = WriteGroup {
        batches: Vec::new(),
        checkpoint: Some((state.to_string(), generation)),
    };
    let outcome = write_group(store, integration, 0, Policy::default(), group, fence).await?;
    Ok(!outcome.checkpoint_stale)
}

async fn write(
    store: &Arc<dyn Store>,
    integration: i64,
    run: i64,
    policy: Policy,
    batch: Batch,
) -> RunCounts {
    let fence = lease(store, integration).await;
    write_one(store, integration, run, policy, batch, fence)
        .await
        .unwrap()
        .counts
}

async fn integrations_are_named_unique_and_removable(store: Arc<dyn Store>, _: &Keep) {
    let added = store
        .add_integration(&new_integration("w", Policy::default()))
        .await
        .unwrap();
    assert_eq!(store.integration("w").await.unwrap(), added);
    assert!((Utc::now() - added.created_at) < TimeDelta::seconds(60));
    let twice = store
        .add_integration(&new_integration("w", Policy::default()))
        .await;
    assert!(
        matches!(twice, Err(StoreError::Conflict { .. })),
        "{twice:?}"
    );
    let policy = Policy {
        auto_sync_days: 7,
        auto_onboard: false,
        update_metadata: true,
    };
    let settings = vec![("api-url".to_string(), "https://other.example".to_string())];
    let streams = vec!["issues".to_string(), "secrets".to_string()];
    store
        .update_integration(added.id, &settings, "v1:other", &policy, Some(&streams))
        .await
        .unwrap();
    let updated = store.integration("w").await.unwrap();
    assert_eq!(
        (
            updated.settings,
            updated.sealed_secrets,
            updated.policy,
            updated.streams
        ),
        (settings.clone(), "v1:other".into(), policy, Some(streams))
    );
    store
        .update_integration(added.id, &settings, "v1:other", &policy, None)
        .await
        .unwrap();
    assert_eq!(
        store.integration("w").await.unwrap().streams,
        None,
        "back to the defaults"
    );
    store
        .add_integration(&new_integration("a", Policy::default()))
        .await
        .unwrap();
    let names: Vec<String> = store
        .integrations()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["a", "w"]);
    store.remove_integration("w").await.unwrap();
    assert!(matches!(
        store.integration("w").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.remove_integration("w").await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn batches_are_idempotent_upserts_that_count_what_changed(store: Arc<dyn Store>, _: &Keep) {
    let w = store
        .add_integration(&new_integration("w", Policy::default()))
        .await
        .unwrap();
    let batch = Batch {
        assets: vec![
            asset("a1", Some("arn:aws:ec2:eu-west-1:1:instance/i-1")),
            asset("a2", None),
        ],
        findings: vec![
            finding("f1", "a1", Severity::High),
            finding("f2", "a2", Severity::Low),
        ],
        ..Default::default()
    };
    let run = run_of(&store, w.id).await;
    let first = write(&store, w.id, run, w.policy, batch.clone()).await;
    assert_eq!((first.assets_onboarded, first.findings_new), (2, 2));
    let stored = store.findings(&FindingFilter::default()).await.unwrap();
    let again = write(&store, w.id, run, w.policy, batch.clone()).await;
    assert_eq!(
        again,
        RunCounts {
            findings_unchanged: 2,
            ..Default::default()
        },
        "the same batch twice changes nothing"
    );
    assert_eq!(
        store.findings(&FindingFilter::default()).await.unwrap(),
        stored
    );
    let mut changed = batch.clone();
    changed.findings[0].title = "renamed".into();
    let third = write(&store, w.id, run, w.policy, changed).await;
    assert_eq!((third.findings_updated, third.findings_unchanged), (1, 1));
    let f1 = &store
        .findings(&FindingFilter {
            id: Some("f1".into()),
            ..Default::default()
        })
        .await
        .unwrap()[0];
    assert_eq!(f1.title, "renamed");
    assert_eq!(
        f1.created_at,
        parse_time("2026-05-01T10:00:00.123456Z"),
        "times to the microsecond"
    );
    assert_eq!(
        f1.due_at,
        parse_time("2026-05-31T22:00:00Z"),
        "times in UTC"
    );
    assert_eq!(f1.project_ids, ["p1", "p2"]);
    assert_eq!(
        store.finding_raw(w.id, "f1").await.unwrap(),
        r#"{"id":"f1"}"#
    );
    assert!(matches!(
        store.finding_raw(w.id, "nope").await,
        Err(StoreError::NotFound { .. })
    ));
    // A finding about an asset nobody linked is not stored, and says so.
    let orphan = Batch {
        findings: vec![finding("f9", "a9", Severity::Info)],
        ..Default::default()
    };
    let outcome = write_one(
        &store,
        w.id,
        run,
        w.policy,
        orphan,
        lease(&store, w.id).await,
    )
    .await
    .unwrap();
    assert_eq!(outcome.counts.findings_skipped, 1);
    assert_eq!(outcome.unlinked, vec![("f9".to_string(), "a9".to_string())]);
}

async fn findings_are_listed_by_severity_and_filtered(store: Arc<dyn Store>, _: &Keep) {
    let w = store
        .add_integration(&new_integration("w", Policy::default()))
        .await
        .unwrap();
    let run = run_of(&store, w.id).await;
    let mut late = finding("f-late", "a1", Severity::Medium);
    late.status_changed_at = parse_time("2026-07-01T00:00:00Z");
    let batch = Batch {
        assets: vec![asset("a1", None), asset("a2", None)],
        findings: vec![
            finding("f-low", "a1", Severity::Low),
            finding("f-crit", "a2", Severity::Critical),
            late,
            finding("f-info", "a1", Severity::Info),
        ],
        ..Default::default()
    };
    write(&store, w.id, run, w.policy, batch).await;
    let ids = |rows: Vec<connector_host::model::StoredFinding>| -> Vec<String> {
        rows.into_iter().map(|f| f.id).collect()
    };
    assert_eq!(
        ids(store.findings(&FindingFilter::default()).await.unwrap()),
        ["f-crit", "f-late", "f-low", "f-info"]
    );
    // Each row names its asset as the inventory has it.
    let named: Vec<(String, Option<String>, Option<String>)> = store
        .findings(&FindingFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.id, f.asset_name, f.asset_type))
        .take(1)
        .collect();
    assert_eq!(
        named,
        [(
            "f-crit".to_string(),
            Some("asset a2".to_string()),
            Some("Virtual Machine".to_string())
        )]
    );
    let filter = FindingFilter {
        severities: vec![Severity::Low, Severity::Info],
        asset: Some("a1".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(store.findings(&filter).await.unwrap()),
        ["f-low", "f-info"]
    );
    let since = FindingFilter {
        since: parse_time("2026-06-15T00:00:00Z"),
        ..Default::default()
    };
    assert_eq!(ids(store.findings(&since).await.unwrap()), ["f-late"]);
    let passed = FindingFilter {
        statuses: vec![FindingStatus::Passed],
        integration: Some(w.id),
        ..Default::default()
    };
    assert!(store.findings(&passed).await.unwrap().is_empty());
}

async fn findings_page_by_cursor_and_count_by_severity(store: Arc<dyn Store>, _: &Keep) {
    let mut ids_in_order = Vec::new();
    for name in ["b", "a"] {
        let integration = store
            .add_integration(&new_integration(name, Policy::default()))
            .await
            .unwrap();
        let run = run_of(&store, integration.id).await;
        let severities = [Severity::Low, Severity::Critical, Severity::High];
        let batch = Batch {
            assets: vec![asset("a1", None)],
            // Ids whose sorted order differs from the order they are stored in.
            findings: (0..7)
                .rev()
                .map(|i| {
                    finding(
                        &format!("{}-{i}", ["a", "B"][i % 2]),
                        "a1",
                        severities[i % 3],
                    )
                })
                .collect(),
            ..Default::default()
        };
        write(&store, integration.id, run, integration.policy, batch).await;
    }
    let everything = store.findings(&FindingFilter::default()).await.unwrap();
    assert_eq!(everything.len(), 14);
    // Most severe first, then by integration (the order they were added), then in the
    // order they were stored.
    for pair in everything.windows(2) {
        assert!(pair[0].severity <= pair[1].severity);
    }
    let first_critical: Vec<&str> = everything[..2].iter().map(|f| f.id.as_str()).collect();
    assert_eq!(everything[0].integration, "b");
    assert_eq!(
        first_critical,
        ["a-4", "B-1"],
        "stored in the order 6, 5, … 0"
    );
    ids_in_order.extend(
        everything
            .iter()
            .map(|f| (f.integration.clone(), f.id.clone())),
    );

    let by_severity = FindingOrder::default();
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .finding_page(&FindingFilter::default(), by_severity, after.as_ref(), 3)
            .await
            .unwrap();
        assert!(page.findings.len() <= 3);
        paged.extend(
            page.findings
                .iter()
                .map(|f| (f.integration.clone(), f.id.clone())),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, ids_in_order, "pages join into the whole listing");
    let exact = store
        .finding_page(&FindingFilter::default(), by_severity, None, 14)
        .await
        .unwrap();
    assert_eq!(
        (exact.findings.len(), exact.next),
        (14, None),
        "no empty last page"
    );

    let counts = store
        .finding_counts(&FindingFilter::default())
        .await
        .unwrap();
    assert_eq!(
        counts,
        [
            (Severity::Critical, 4),
            (Severity::High, 4),
            (Severity::Low, 6)
        ]
    );
    let highs = FindingFilter {
        severities: vec![Severity::High],
        ..Default::default()
    };
    assert_eq!(
        store.finding_counts(&highs).await.unwrap(),
        [(Severity::High, 4)]
    );
    let none = FindingFilter {
        statuses: vec![FindingStatus::Passed],
        ..Default::default()
    };
    assert!(store.finding_counts(&none).await.unwrap().is_empty());
}

/// Every finding `filter` matches in `order`, read forward three at a time, then back from
/// the end three at a time: both walks must give the same findings without a gap or a
/// repeat, and the same as one page holding them all.
async fn walk_both_ways(
    store: &Arc<dyn Store>,
    filter: &FindingFilter,
    order: FindingOrder,
) -> Vec<StoredFinding> {
    let whole = store.finding_page(filter, order, None, 1000).await.unwrap();
    assert_eq!((whole.next.as_ref(), whole.previous.as_ref()), (None, None));
    let (mut forward, mut pages, mut at) = (Vec::new(), Vec::new(), None);
    loop {
        let page = store
            .finding_page(filter, order, at.as_ref(), 3)
            .await
            .unwrap();
        assert_eq!(
            page.previous.is_some(),
            at.is_some(),
            "{order}: a way back after the first page"
        );
        forward.extend(page.findings.iter().cloned());
        pages.push(page.findings.clone());
        match page.next {
            Some(next) => at = Some(next),
            None => break,
        }
    }
    assert_eq!(
        forward, whole.findings,
        "{order}: forward pages join into the whole"
    );
    // Back from the last page, page by page, to the first.
    let mut at = store
        .finding_page(filter, order, at.as_ref(), 3)
        .await
        .unwrap()
        .previous;
    for expected in pages.iter().rev().skip(1) {
        let back = at.expect("a page before");
        assert!(back.backward);
        let page = store
            .finding_page(filter, order, Some(&back), 3)
            .await
            .unwrap();
        assert_eq!(&page.findings, expected, "{order}: back the same way");
        assert!(page.next.is_some(), "{order}: a way forward again");
        at = page.previous;
    }
    assert!(at.is_none(), "{order}: nothing before the first page");
    whole.findings
}

async fn findings_are_searched_and_sorted_and_paged_both_ways(store: Arc<dyn Store>, _: &Keep) {
    let titles = [
        (
            "f1",
            "Crypto-mining on host 12",
            Severity::High,
            "Mining rule",
        ),
        ("f2", "crypto wallet exposed", Severity::Critical, "Secrets"),
        ("f3", "Open port 2", Severity::Low, "Ports"),
        ("f4", "Open port 10", Severity::Low, "Ports"),
        (
            "f5",
            "Admin 100% exposed",
            Severity::Medium,
            "Admins \"quoted\"",
        ),
        ("f6", "admin_role unused", Severity::Info, "IAM"),
        ("f7", "Bucket is public", Severity::High, "Storage"),
    ];
    let mut stored = Vec::new();
    for name in ["one", "two"] {
        let integration = store
            .add_integration(&new_integration(name, Policy::default()))
            .await
            .unwrap();
        let run = run_of(&store, integration.id).await;
        let findings = titles
            .iter()
            .enumerate()
            .map(|(i, (id, title, severity, rule))| Finding {
                title: title.to_string(),
                rule_name: Some(rule.to_string()),
                status: [FindingStatus::Failed, FindingStatus::Passed][i % 2],
                status_changed_at: parse_time(&format!(
                    "2026-05-{:02}T08:00:00Z",
                    10 + (i * 3) % 7
                )),
                ..finding(id, "a1", *severity)
            })
            .collect();
        let batch = Batch {
            assets: vec![asset("a1", None)],
            findings,
            ..Default::default()
        };
        write(&store, integration.id, run, integration.policy, batch).await;
        stored.push((integration, run));
    }
    let search = |words: &[&str]| FindingFilter {
        words: words.iter().map(|w| w.to_string()).collect(),
        ..Default::default()
    };
    let ids = |found: Vec<StoredFinding>| -> Vec<String> {
        let mut ids: Vec<String> = found
            .into_iter()
            .map(|f| format!("{}/{}", f.integration, f.id))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let found = |words: &'static [&'static str]| {
        let store = store.clone();
        async move { ids(store.findings(&search(words)).await.unwrap()) }
    };
    let both = |list: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = ["one", "two"]
            .iter()
            .flat_map(|i| list.iter().map(move |id| format!("{i}/{id}")))
            .collect();
        all.sort();
        all
    };
    assert_eq!(
        found(&["crypto"]).await,
        both(&["f1", "f2"]),
        "ignoring case"
    );
    assert_eq!(
        found(&["RYPT"]).await,
        both(&["f1", "f2"]),
        "any part of a word"
    );
    assert_eq!(
        found(&["crypto", "12"]).await,
        both(&["f1"]),
        "every word, short ones too"
    );
    assert_eq!(found(&["port", "1"]).await, both(&["f4"]));
    assert_eq!(found(&["secrets"]).await, both(&["f2"]), "rule names too");
    assert_eq!(
        found(&["100%"]).await,
        both(&["f5"]),
        "% is a character, not a wildcard"
    );
    assert_eq!(found(&["n_r"]).await, both(&["f6"]), "_ is a character too");
    assert_eq!(
        found(&["\"quoted\""]).await,
        both(&["f5"]),
        "quotes are characters"
    );
    assert_eq!(found(&["nothing-like-this"]).await, Vec::<String>::new());
    let counted: u64 = (store.finding_counts(&search(&["crypto"])).await.unwrap())
        .iter()
        .map(|(_, n)| n)
        .sum();
    assert_eq!(counted, 4, "counts search alike");

    // A title changed at the source is found by its new words only.
    let (one, run) = &stored[0];
    let renamed = Batch {
        findings: vec![Finding {
            title: "Renamed entirely".into(),
            ..finding("f7", "a1", Severity::High)
        }],
        ..Default::default()
    };
    write(&store, one.id, *run, one.policy, renamed).await;
    assert_eq!(found(&["renamed"]).await, ["one/f7"]);
    assert_eq!(found(&["bucket"]).await, ["two/f7"]);
    // A finding removed with its integration leaves the search.
    store.remove_integration("two").await.unwrap();
    assert_eq!(found(&["crypto"]).await, ["one/f1", "one/f2"]);

    for by in [
        FindingSort::Severity,
        FindingSort::Title,
        FindingSort::Status,
        FindingSort::Changed,
    ] {
        let up = FindingOrder {
            by,
            descending: false,
        };
        let down = FindingOrder {
            by,
            descending: true,
        };
        let ascending = walk_both_ways(&store, &FindingFilter::default(), up).await;
        let descending = walk_both_ways(&store, &FindingFilter::default(), down).await;
        assert_eq!(ascending.len(), 7);
        let mut reversed = ascending.clone();
        reversed.reverse();
        assert_eq!(
            descending, reversed,
            "{by}: descending is ascending backwards"
        );
        let key = |f: &StoredFinding| match by {
            FindingSort::Severity => format!("{}", f.severity as u8),
            FindingSort::Title => f.title.to_lowercase(),
            FindingSort::Asset => natural_key(f.asset_name.as_deref().unwrap_or_default()),
            FindingSort::Status => f.status.to_string(),
            FindingSort::Changed => f.status_changed_at.or(f.created_at).unwrap().to_rfc3339(),
        };
        for pair in ascending.windows(2) {
            assert!(
                key(&pair[0]) <= key(&pair[1]),
                "{by}: {:?} before {:?}",
                pair[0].title,
                pair[1].title
            );
        }
    }
    let titles: Vec<String> = walk_both_ways(
        &store,
        &FindingFilter::default(),
        FindingOrder {
            by: FindingSort::Title,
            descending: false,
        },
    )
    .await
    .into_iter()
    .map(|f| f.title)
    .collect();
    assert_eq!(
        titles,
        [
            "Admin 100% exposed",
            "admin_role unused",
            "crypto wallet exposed",
            "Crypto-mining on host 12",
            "Open port 10",
            "Open port 2",
            "Renamed entirely"
        ],
        "ignoring case, character by character"
    );
    // Search and sort together, paged both ways.
    let searched = walk_both_ways(
        &store,
        &search(&["port"]),
        FindingOrder {
            by: FindingSort::Title,
            descending: true,
        },
    )
    .await;
    let searched: Vec<&str> = searched.iter().map(|f| f.title.as_str()).collect();
    assert_eq!(searched, ["Open port 2", "Open port 10"]);
}

async fn assets_are_listed_by_name_as_people_read_it(store: Arc<dyn Store>, _: &Keep) {
    let w = store
        .add_integration(&new_integration("w", Policy::default()))
        .await
        .unwrap();
    let run = run_of(&store, w.id).await;
    let names = ["role-113", "Role-12", "role-9", "db", "role-12b"];
    let assets = (names.iter().enumerate())
        .map(|(i, name)| Asset {
            name: name.to_string(),
            ..asset(&format!("a{i}"), None)
        })
        .collect();
    let batch = Batch {
        assets,
        ..Default::default()
    };
    write(&store, w.id, run, w.policy, batch).await;
    for filter in [
        AssetFilter::default(),
        AssetFilter {
            integration: Some(w.id),
            ..Default::default()
        },
    ] {
        let listed: Vec<String> = all_assets(&store, &filter)
            .await
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(listed, ["db", "role-9", "Role-12", "role-12b", "role-113"]);
    }
    // Renamed at the source (Update Metadata on), an asset moves to its new place.
    let renamed = Batch {
        assets: vec![Asset {
            name: "role-10".into(),
            ..asset("a0", None)
        }],
        ..Default::default()
    };
    let policy = Policy {
        update_metadata: true,
        ..w.policy
    };
    write(&store, w.id, run, policy, renamed).await;
    let listed: Vec<String> = all_assets(&store, &AssetFilter::default())
        .await
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(listed, ["db", "role-9", "role-10", "Role-12", "role-12b"]);
    // The filters' choices: the values present, sorted.
    let (types, clouds) = store.asset_values().await.unwrap();
    assert_eq!(
        (types, clouds),
        (vec!["Virtual Machine".to_string()], vec!["AWS".to_string()])
    );
}

async fn findings_sort_by_their_assets_name_which_follows_the_asset(
    store: Arc<dyn Store>,
    _: &Keep,
) {
    let w = store
        .add_integration(&new_integration("w", Policy::default()))
        .await
        .unwrap();
    let run = run_of(&store, w.id).await;
    let named = |id: &str, name: &str| Asset {
        name: name.into(),
        ..asset(id, None)
    };
    let batch = Batch {
        assets: vec![named("a1", "vm-10"), named("a2", "VM-9"), named("a3", "db")],
        findings: ["a1", "a2", "a3", "a1", "a2"]
            .iter()
            .enumerate()
            .map(|(i, a)| finding(&format!("f{i}"), a, Severity::High))
            .collect(),
        ..Default::default()
    };
    write(&store, w.id, run, w.policy, batch).await;
    let by_asset = FindingOrder {
        by: FindingSort::Asset,
        descending: false,
    };
    let assets = |found: Vec<StoredFinding>| -> Vec<String> {
        found
            .into_iter()
            .map(|f| f.asset_name.unwrap_or_else(|| format!("({})", f.asset_id)))
            .collect()
    };
    let sorted = walk_both_ways(&store, &FindingFilter::default(), by_asset).await;
    assert_eq!(
        assets(sorted),
        ["db", "VM-9", "VM-9", "vm-10", "vm-10"],
        "names as people read them"
    );
    // An entry renamed at the source (Update Metadata on) moves its findings.
    let renamed = Batch {
        assets: vec![named("a3", "web-1")],
        ..Default::default()
    };
    let policy = Policy {
        update_metadata: true,
        ..w.policy
    };
    write(&store, w.id, run, policy, renamed).await;
    let sorted = walk_both_ways(&store, &FindingFilter::default(), by_asset).await;
    assert_eq!(assets(sorted), ["VM-9", "VM-9", "vm-10", "vm-10", "web-1"]);
    // An asset that turns out to be another inventory entry (its provider id now
    // known) moves its findings to that entry's name, without Update Metadata.
    let moved = Batch {
        assets: vec![Asset {
            name: "zz-moved".into(),
            ..asset(
                "a2",
                Some("arn:aws:ec2:eu-west-1:123456789012:instance/i-moved"),
            )
        }],
        ..Default::default()
    };
    write(&store, w.id, run, w.policy, moved.clone()).await;
    let sorted = walk_both_ways(&store, &FindingFilter::default(), by_asset).await;
    assert_eq!(
        assets(sorted),
        ["vm-10", "vm-10", "web-1", "zz-moved", "zz-moved"]
    );
    // New findings on assets this batch does not link: one stored earlier and absent,
    // one sent again unchanged. Each sorts by its asset's stored entry.
    let later = Batch {
        findings: vec![
            finding("f5", "a1", Severity::High),
            finding("f6", "a2", Severity::High),
        ],
        ..moved
    };
    write(&store, w.id, run, w.policy, later).await;
    let sorted = walk_both_ways(&store, &FindingFilter::default(), by_asset).await;
    assert_eq!(
        assets(sorted),
        [
            "vm-10", "vm-10", "vm-10", "web-1", "zz-moved", "zz-moved", "zz-moved"
        ]
    );
}

async fn users_and_sessions_keep_only_hashes_and_end_together(store: Arc<dyn Store>, _: &Keep) {
    let (admin_hash, viewer_hash) = ([1u8; 32], [2u8; 32]);
    let admin = store
        .add_user("admin", Role::Admin, &admin_hash)
        .await
        .unwrap();
    assert_eq!(admin.role, Role::Admin);
    store
        .add_user("vera", Role::Viewer, &viewer_hash)
        .await
        .unwrap();
    assert!(matches!(
        store.add_user("vera", Role::Admin, &[3u8; 32]).await,
        Err(StoreError::Conflict { .. })
    ));
    let names: Vec<String> = store
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["admin", "vera"]);
    assert_eq!(
        store
            .user_by_token(&viewer_hash)
            .await
            .unwrap()
            .map(|u| u.role),
        Some(Role::Viewer)
    );
    assert_eq!(store.user_by_token(&[9u8; 32]).await.unwrap(), None);

    let now = Utc::now();
    let session = |id: u8, user: &str, expires: chrono::DateTime<Utc>| NewSession {
        id_hash: vec![id; 32],
        user: user.into(),
        csrf: format!("csrf-{id}"),
        expires_at: connector_host::model::to_stored_precision(expires),
    };
    store
        .create_session(&session(10, "vera", now + TimeDelta::hours(1)), now)
        .await
        .unwrap();
    store
        .create_session(
            &session(11, "vera", now - TimeDelta::hours(1)),
            now - TimeDelta::hours(2),
        )
        .await
        .unwrap();
    store
        .create_session(&session(12, "admin", now + TimeDelta::hours(1)), now)
        .await
        .unwrap();
    let live = store.session(&[10u8; 32], now).await.unwrap().unwrap();
    assert_eq!(
        (live.user.name.as_str(), live.csrf.as_str()),
        ("vera", "csrf-10")
    );
    assert_eq!(
        store.session(&[11u8; 32], now).await.unwrap(),
        None,
        "expired"
    );
    assert!(matches!(
        store.create_session(&session(13, "nobody", now), now).await,
        Err(StoreError::NotFound { .. })
    ));

    // A new token ends the user's sessions, and only the user's.
    store.set_user_token("vera", &[4u8; 32]).await.unwrap();
    assert_eq!(store.session(&[10u8; 32], now).await.unwrap(), None);
    assert_eq!(store.user_by_token(&viewer_hash).await.unwrap(), None);
    assert!(store.session(&[12u8; 32], now).await.unwrap().is_some());
    store.delete_session(&[12u8; 32]).await.unwrap();
    assert_eq!(store.session(&[12u8; 32], now).await.unwrap(), None);

    store
        .create_session(&session(14, "vera", now + TimeDelta::hours(1)), now)
        .await
        .unwrap();
    store.remove_user("vera").await.unwrap();
    assert_eq!(store.session(&[14u8; 32], now).await.unwrap(), None);
    assert!(matches!(
        store.remove_user("vera").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.set_user_token("vera", &[5u8; 32]).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn the_inventory_is_shared_by_canonical_key(store: Arc<dyn Store>, _: &Keep) {
    let arn = "arn:aws:s3:::shared-bucket";
    let one = store
        .add_integration(&new_integration("one", Policy::default()))
        .await
        .unwrap();
    let two = store
        .add_integration(&new_integration(
            "two",
            Policy {
                update_metadata: true,
                ..Policy::default()
            },
        ))
        .await
        .unwrap();
    let run = run_of(&store, one.id).await;
    let c1 = write(
        &store,
        one.id,
        run,
        one.policy,
        Batch {
            assets: vec![asset("x-1", Some(arn)), asset("x-2", None)],
            findings: vec![
                finding("f-1", "x-1", Severity::High),
                finding("f-2", "x-2", Severity::Low),
            ],
            ..Default::default()
        },
    )
    .await;
    let mut renamed = asset("y-9", Some(arn));
    renamed.name = "renamed by two".into();
    let run = run_of(&store, two.id).await;
    let c2 = write(
        &store,
        two.id,
        run,
        two.policy,
        Batch {
            assets: vec![renamed],
            findings: vec![finding("g-1", "y-9", Severity::Critical)],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        (c1.assets_onboarded, c2.assets_onboarded, c2.assets_updated),
        (2, 0, 1)
    );
    // An inventory asset's findings, whichever integration reported them.
    let on_shared = FindingFilter {
        inventory: Some(format!("aws:{arn}")),
        ..Default::default()
    };
    let mut ids: Vec<String> = store
        .findings(&on_shared)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["f-1", "g-1"]);
    let inventory: Vec<_> = all_assets(&store, &AssetFilter::default())
        .await
        .into_iter()
        .filter(|a| a.provider_id.is_some())
        .collect();
    assert_eq!(inventory.len(), 1, "one resource, one inventory entry");
    assert_eq!(inventory[0].canonical_key, format!("aws:{arn}"));
    assert_eq!(inventory[0].integrations, ["one", "two"]);
    assert_eq!(
        inventory[0].name, "renamed by two",
        "update-metadata overwrote it"
    );
    assert_eq!(inventory[0].tags["env"], "prod");
    let of_two = all_assets(
        &store,
        &AssetFilter {
            integration: Some(two.id),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(of_two[0].id, "y-9", "listed by the integration's own id");
    let none = AssetFilter {
        cloud: Some("gcp".into()),
        ..Default::default()
    };
    assert!(all_assets(&store, &none).await.is_empty());
    let aws = AssetFilter {
        cloud: Some("aws".into()),
        asset_type: Some("virtual machine".into()),
        ..Default::default()
    };
    assert_eq!(
        all_assets(&store, &aws).await.len(),
        2,
        "case-insensitive filters"
    );
}

async fn auto_onboard_off_stores_only_what_the_inventory_has(store: Arc<dyn Store>, _: &Keep) {
    let policy = Policy {
        auto_onboard: false,
        ..Policy::default()
    };
    let w = store
        .add_integration(&new_integration("w", policy))
        .await
        .unwrap();
    store
        .import_assets(vec![ImportedAsset {
            provider_id: "arn:aws:s3:::known".into(),
            name: "known".into(),
            ..Default::default()
        }])
        .await
        .unwrap();
    let run = run_of(&store, w.id).await;
    let counts = write(
        &store,
        w.id,
        run,
        policy,
        Batch {
            assets: vec![
                asset("k", Some("arn:aws:s3:::known")),
                asset("u", Some("arn:aws:s3:::unknown")),
            ],
            findings: vec![
                finding("on-known", "k", Severity::High),
                finding("on-unknown", "u", Severity::High),
            ],
            ..Default::default()
        },
    )
    .await;
    assert_eq!((counts.assets_onboarded, counts.assets_skipped), (0, 1));
    assert_eq!((counts.findings_new, counts.findings_skipped), (1, 1));
    let stored: Vec<String> = store
        .findings(&FindingFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(stored, ["on-known"]);
    assert_eq!(
        all_assets(&store, &AssetFilter::default()).await[0].name,
        "known",
        "metadata kept"
    );
}

async fn imports_add_what_the_inventory_lacks(store: Arc<dyn Store>, _: &Keep) {
    let row = |id: &str| ImportedAsset {
        provider_id: id.into(),
        name: id.into(),
        cloud_platform: "AWS".into(),
        ..Default::default()
    };
    assert_eq!(
        store
            .import_assets(vec![
                row("arn:aws:s3:::a"),
                row("arn:aws:s3:::b"),
                row("arn:aws:s3:::a")
            ])
            .await
            .unwrap(),
        (2, 1)
    );
    assert_eq!(
        store
            .import_assets(vec![row("arn:aws:s3:::b"), row("arn:aws:s3:::c")])
            .await
            .unwrap(),
        (1, 1)
    );
    let names: Vec<String> = all_assets(&store, &AssetFilter::default())
        .await
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(
        names,
        ["arn:aws:s3:::a", "arn:aws:s3:::b", "arn:aws:s3:::c"]
    );
}

/// A resource two integrations report.
const SHARED: &str = "arn:aws:s3:::shared";

async fn removed_assets_close_their_open_findings_until_they_return(
    store: Arc<dyn Store>,
    _: &Keep,
) {
    let w = store
        .add_integration(&new_integration("w", Policy::default()))
        .await
        .unwrap();
    let other = store
        .add_integration(&new_integration("other", Policy::default()))
        .await
        .unwrap();
    let all = Batch {
        assets: vec![asset("a", Some(SHARED)), asset("b", None)],
        findings: vec![
            finding("f1", "a", Severity::High),
            finding("f2", "a", Severity::Low),
            finding("f3", "b", Severity::High),
        ],
        ..Default::default()
    };
    write(
        &store,
        w.id,
        run_of(&store, w.id).await,
        w.policy,
        all.clone(),
    )
    .await;
    // Another integration reports the same resource (one inventory entry, two links).
    let theirs = Batch {
        assets: vec![asset("a", Some(SHARED))],
        findings: vec![finding("t1", "a", Severity::High)],
        ..Default::default()
    };
    write(
        &store,
        other.id,
        run_of(&store, other.id).await,
        other.policy,
        theirs,
    )
    .await;
    let removal = Batch {
        removed_assets: vec!["a".into(), "never-stored".into()],
        ..Default::default()
    };
    let counts = write(
        &store,
        w.id,
        run_of(&store, w.id).await,
        w.policy,
        removal.clone(),
    )
    .await;
    assert_eq!(counts.findings_closed, 2, "a's two open findings");
    let closed = FindingFilter {
        statuses: vec![FindingStatus::Passed],
        ..Default::default()
    };
    let rows = store.findings(&closed).await.unwrap();
    assert_eq!(
        rows.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
        ["f1", "f2"]
    );
    assert!(
        rows.iter()
            .all(|f| f.closed_reason.as_deref() == Some("removed_at_source"))
    );
    let removed = |integration: Option<i64>| {
        let store = store.clone();
        async move {
            let filter = AssetFilter {
                integration,
                ..Default::default()
            };
            let mut listed: Vec<(String, bool)> = all_assets(&store, &filter)
                .await
                .into_iter()
                .map(|a| (a.name, a.removed))
                .collect();
            listed.sort();
            listed
        }
    };
    let w_assets = removed(Some(w.id)).await;
    assert!(
        w_assets.iter().filter(|(_, r)| *r).count() == 1 && w_assets.len() == 2,
        "w lists a as removed, b not: {w_assets:?}"
    );
    assert!(
        removed(Some(other.id)).await.iter().all(|(_, r)| !r),
        "the other integration's link is not removed"
    );
    assert!(
        removed(None).await.iter().all(|(_, r)| !r),
        "the inventory entry stays while another source still reports it"
    );
    let again = write(
        &store,
        w.id,
        run_of(&store, w.id).await,
        w.policy,
        removal.clone(),
    )
    .await;
    assert_eq!(again.findings_closed, 0, "removing twice closes nothing");
    // Once every source that reported it removed it, the inventory says so.
    write(
        &store,
        other.id,
        run_of(&store, other.id).await,
        other.policy,
        removal,
    )
    .await;
    let inventory = removed(None).await;
    assert_eq!(
        inventory.iter().filter(|(_, r)| *r).count(),
        1,
        "{inventory:?}"
    );
    // The source reports the asset again: its findings reopen with it.
    let back = write(&store, w.id, run_of(&store, w.id).await, w.policy, all).await;
    assert_eq!(back.findings_updated, 2, "f1 and f2 come back");
    assert!(
        removed(Some(w.id)).await.iter().all(|(_, r)| !r),
        "a reported again is no longer removed"
    );
    let still_closed: Vec<String> = store
        .findings(&closed)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(
        still_closed,
        ["t1"],
        "only the other source's stays removed"
    );
}

fn issues() -> Vec<String> {
    vec!["issues".into()]
}

async fn a_full_sync_of_some_streams_closes_only_their_unseen_findings(
    store: Arc<dyn Store>,
    _: &Keep,
) {
    let w = store
        .add_integration(&new_integration("w", Policy::default()))
        .await
        .unwrap();
    let of_stream = |id: &str, stream: &str| Finding {
        stream: stream.into(),
        ..finding(id, "a", Severity::High)
    };
    let first = run_of(&store, w.id).await;
    let both = Batch {
        assets: vec![asset("a", None)],
        findings: vec![of_stream("i1", "issues"), of_stream("s1", "secrets")],
        ..Default::default()
    };
    write(&store, w.id, first, w.policy, both).await;
    // A full sync of `issues` alone saw nothing: the secret it did not pull stays open.
    let second = run_of(&store, w.id).await;
    assert_eq!(
        store
            .close_unseen(w.id, second, &issues(), lease(&store, w.id).await)
            .await
            .unwrap(),
        1
    );
    let open = FindingFilter {
        statuses: vec![FindingStatus::Failed],
        ..Default::default()
    };
    let still_open: Vec<String> = store
        .findings(&open)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(still_open, ["s1"]);
    let streams = vec!["issues".to_string(), "secrets".to_string()];
    assert_eq!(
        store
            .close_unseen(w.id, second, &streams, lease(&store, w.id).await)
            .await
            .unwrap(),
        1
    );
    assert!(store.findings(&open).await.unwrap().is_empty());
}

async fn unseen_and_removed_findings_close_and_reopen(store: Arc<dyn Store>, _: &Keep) {
    let w = store
        .add_integration(&new_integration("w", Policy::default()))
        .await
        .unwrap();
    let all = Batch {
        assets: vec![asset("a", None)],
        findings: ["f1", "f2", "f3"]
            .iter()
            .map(|id| finding(id, "a", Severity::High))
            .collect(),
        ..Default::default()
    };
    let first = run_of(&store, w.id).await;
    write(&store, w.id, first, w.policy, all.clone()).await;
    let second = run_of(&store, w.id).await;
    let mut fewer = all.clone();
    fewer.findings.truncate(2);
    fewer.removed_findings = vec!["f2".into(), "never-stored".into()];
    let counts = write(&store, w.id, second, w.policy, fewer).await;
    assert_eq!(
        counts.findings_closed, 1,
        "only a stored open finding counts"
    );
    assert_eq!(
        store
            .close_unseen(w.id, second, &issues(), lease(&store, w.id).await)
            .await
            .unwrap(),
        1,
        "f3 was not seen"
    );
    assert_eq!(
        store
            .close_unseen(w.id, second, &issues(), lease(&store, w.id).await)
            .await
            .unwrap(),
        0,
        "closing twice closes nothing"
    );
    let closed = FindingFilter {
        statuses: vec![FindingStatus::Passed],
        ..Default::default()
    };
    let rows = store.findings(&closed).await.unwrap();
    assert_eq!(
        rows.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
        ["f2", "f3"]
    );
    assert!(
        rows.iter()
            .all(|f| f.closed_reason.as_deref() == Some("removed_at_source"))
    );
    let third = run_of(&store, w.id).await;
    let back = write(&store, w.id, third, w.policy, all.clone()).await;
    assert_eq!(
        (back.findings_updated, back.findings_unchanged),
        (2, 1),
        "closed ones come back"
    );
    assert!(store.findings(&closed).await.unwrap().is_empty());
    let reopened = store.findings(&FindingFilter::default()).await.unwrap();
    assert_eq!(reopened.len(), 3);
    assert!(
        reopened.iter().all(|f| f.closed_reason.is_none()),
        "a finding that came back keeps no reason it was closed for"
    );
    // A finding the host refused this time (screening put its id aside) is still
    // reported by the source: the full sync's end does not close it.
    let fourth = run_of(&store, w.id).await;
    let mut refused = all.clone();
    refused.findings.retain(|f| f.source_id != "f1");
    refused.refused_findings = vec!["f1".into()];
    write(&store, w.id, fourth, w.policy, refused).await;
    assert_eq!(
        store
            .close_unseen(w.id, fourth, &issues(), lease(&store, w.id).await)
            .await
            .unwrap(),
        0
    );
    assert!(
        store.findings(&closed).await.unwrap().is_empty(),
        "f1 stays open"
    );
    // Findings that came back close again when the source stops reporting them.
    let fifth = run_of(&store, w.id).await;
    let mut one = all.clone();
    one.findings.truncate(1);
    write(&store, w.id, fifth, w.policy, one).await;
    assert_eq!(
        store
            .close_unseen(w.id, fifth, &issues(), lease(&store, w.id).await)
            .await
            .unwrap(),
        2,
        "f2 and f3 were not seen again"
    );
}

async fn local_statuses_last_until_restored(store: Arc<dyn Store>, _: &Keep) {
    let w = store
        .add_integration(&new_integration("w", Policy::default()))
        .await
        .unwrap();
    let run = run_of(&store, w.id).await;
    write(
        &store,
        w.id,
        run,
        w.policy,
        Batch {
            assets: vec![asset("a", None)],
            findings: vec![finding("f", "a", Severity::High)],
            ..Default::default()
        },
    )
    .await;
    let change = |status: FindingStatus, reason: &str| StatusChange {
        status,
        by: "ana".into(),
        reason: reason.into(),
    };
    let one = |id: &str| FindingFilter {
        integration: Some(w.id),
        id: Some(id.into()),
        ..Default::default()
    };
    let moved = store
        .set_finding_statuses(
            &one("f"),
            &change(FindingStatus::AcceptedFailed, "risk accepted"),
        )
        .await
        .unwrap();
    assert_eq!(
        moved,
        [StatusesMoved {
            integration: w.id,
            from: FindingStatus::Failed,
            count: 1
        }]
    );
    let row = &store.findings(&FindingFilter::default()).await.unwrap()[0];
    assert_eq!(
        (row.status, row.source_status.as_str()),
        (FindingStatus::AcceptedFailed, "OPEN")
    );
    // The same status again moves nothing and records nothing; an unknown id neither.
    let again = (store
        .set_finding_statuses(&one("f"), &change(FindingStatus::AcceptedFailed, "again")))
    .await
    .unwrap();
    assert!(again.is_empty());
    let none = (store.set_finding_statuses(&one("nope"), &change(FindingStatus::Passed, "x")))
        .await
        .unwrap();
    assert!(none.is_empty());
    let recorded = store.status_changes(w.id, "f").await.unwrap();
    assert_eq!(recorded.len(), 1);
    let r = &recorded[0];
    assert_eq!(
        (r.by.as_str(), r.from, r.to, r.reason.as_str()),
        (
            "ana",
            FindingStatus::Failed,
            FindingStatus::AcceptedFailed,
            "risk accepted"
        )
    );
    assert!(
        (Utc::now() - r.at).num_seconds().abs() < 60,
        "when: {}",
        r.at
    );
    assert_eq!(
        store
            .restore_reported_statuses(w.id, lease(&store, w.id).await)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .restore_reported_statuses(w.id, lease(&store, w.id).await)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.findings(&FindingFilter::default()).await.unwrap()[0].status,
        FindingStatus::Failed
    );
    assert_eq!(
        store.status_changes(w.id, "f").await.unwrap().len(),
        1,
        "the record stays when the source's status comes back"
    );
}

async fn checkpoints_are_kept_per_integration(store: Arc<dyn Store>, _: &Keep) {
    let one = store
        .add_integration(&new_integration("one", Policy::default()))
        .await
        .unwrap();
    let two = store
        .add_integration(&new_integration("two", Policy::default()))
        .await
        .unwrap();
    let state = |id| {
        let store = store.clone();
        async move { store.checkpoint(id).await.unwrap().state }
    };
    assert_eq!(
        store.checkpoint(one.id).await.unwrap(),
        Checkpoint::default()
    );
    for cursor in [r#"{"cursor":"a"}"#, r#"{"cursor":"b"}"#] {
        assert!(
            save_checkpoint(&store, one.id, cursor, 0, lease(&store, one.id).await)
                .await
                .unwrap()
        );
    }
    assert!(
        save_checkpoint(&store, two.id, "other", 0, lease(&store, two.id).await)
            .await
            .unwrap()
    );
    assert_eq!(state(one.id).await.as_deref(), Some(r#"{"cursor":"b"}"#));

    // A settings change clears the checkpoint and moves its generation on: a run that
    // started before it cannot store its checkpoint after it.
    store.clear_checkpoint(one.id).await.unwrap();
    let cleared = store.checkpoint(one.id).await.unwrap();
    assert_eq!(
        cleared,
        Checkpoint {
            state: None,
            generation: 1
        }
    );
    assert!(
        !save_checkpoint(&store, one.id, "stale", 0, lease(&store, one.id).await)
            .await
            .unwrap()
    );
    assert_eq!(state(one.id).await, None);
    assert!(
        save_checkpoint(&store, one.id, "fresh", 1, lease(&store, one.id).await)
            .await
            .unwrap()
    );
    assert_eq!(state(one.id).await.as_deref(), Some("fresh"));
    // Clearing an integration that never had one starts its generations too.
    let three = store
        .add_integration(&new_integration("three", Policy::default()))
        .await
        .unwrap();
    store.clear_checkpoint(three.id).await.unwrap();
    assert!(
        !save_checkpoint(&store, three.id, "stale", 0, lease(&store, three.id).await)
            .await
            .unwrap()
    );
    assert_eq!(store.checkpoint(three.id).await.unwrap().generation, 1);
    assert_eq!(state(two.id).await.as_deref(), Some("other"));
}

async fn a_group_commits_its_batches_in_order_and_its_checkpoint_after_them(
    store: Arc<dyn Store>,
    _: &Keep,
) {
    let w = store
        .add_integration(&new_integration("w", Policy::default()))
        .await
        .unwrap();
    let run = run_of(&store, w.id).await;
    let only = |assets: Vec<Asset>, findings: Vec<Finding>| Batch {
        assets,
        findings,
        ..Default::default()
    };
    // The second batch's finding names the first batch's asset, and the third repeats
    // the first batch's finding: each batch sees those before it in the same group.
    let group = WriteGroup {
        batches: vec![
            only(
                vec![asset("a1", None)],
                vec![finding("f1", "a1", Severity::High)],
            ),
            only(vec![], vec![finding("f2", "a1", Severity::Low)]),
            only(vec![], vec![finding("f1", "a1", Severity::High)]),
        ],
        checkpoint: Some((r#"{"cursor":"c3"}"#.into(), 0)),
    };
    let fence = lease(&store, w.id).await;
    let outcome = write_group(&store, w.id, run, w.policy, group.clone(), fence)
        .await
        .unwrap();
    let counts: Vec<RunCounts> = outcome.batches.iter().map(|b| b.counts).collect();
    assert_eq!(
        counts,
        vec![
            RunCounts {
                assets_onboarded: 1,
                findings_new: 1,
                ..Default::default()
            },
            RunCounts {
                findings_new: 1,
                ..Default::default()
            },
            RunCounts {
                findings_unchanged: 1,
                ..Default::default()
            },
        ],
        "one outcome per batch, in order"
    );
    assert!(outcome.batches.iter().all(|b| b.unlinked.is_empty()));
    assert!(!outcome.checkpoint_stale);
    assert_eq!(
        store.checkpoint(w.id).await.unwrap().state.as_deref(),
        Some(r#"{"cursor":"c3"}"#)
    );
    assert_eq!(
        store
            .findings(&FindingFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );

    // After a settings change the batches are still stored, but not the stale checkpoint.
    store.clear_checkpoint(w.id).await.unwrap();
    let later = WriteGroup {
        batches: vec![only(vec![], vec![finding("f3", "a1", Severity::Info)])],
        checkpoint: Some((r#"{"cursor":"c4"}"#.into(), 0)),
    };
    let fence = lease(&store, w.id).await;
    let outcome = write_group(&store, w.id, run, w.policy, later, fence)
        .await
        .unwrap();
    assert!(outcome.checkpoint_stale);
    assert_eq!(outcome.batches[0].counts.findings_new, 1);
    assert_eq!(store.checkpoint(w.id).await.unwrap().state, None);

    // A group whose lease was taken over stores nothing of it, batches nor checkpoint.
    let mut taken = group;
    taken.batches[0].findings[0].title = "never stored".into();
    assert!(matches!(
        write_group(&store, w.id, run, w.policy, taken, Fence(0)).await,
        Err(StoreError::LeaseLost)
    ));
    let f1 = store
        .findings(&FindingFilter {
            id: Some("f1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(f1[0].title, "finding f1");
    assert_eq!(store.checkpoint(w.id).await.unwrap().state, None);
}

/// A group goes on taking what its run has queued while it writes, and stops once its
/// span has passed however much more is ready: another sync waits for the store that
/// long at most.
async fn a_group_takes_what_is_queued_until_its_span_ends(store: Arc<dyn Store>, _: &Keep) {
    let w = store
        .add_integration(&new_integration("w", Policy::default()))
        .await
        .unwrap();
    let run = run_of(&store, w.id).await;
    let batch = Batch {
        assets: vec![asset("a1", None)],
        findings: vec![finding("f1", "a1", Severity::High)],
        ..Default::default()
    };
    let written = Arc::new(std::sync::Mutex::new(Vec::new()));
    // Checkpoints stay ready for twenty spans: far longer than a group may take them.
    let started = std::time::Instant::now();
    let feed = Queued {
        writes: [GroupWrite::Batch(batch)].into(),
        again: Some((
            GroupWrite::Checkpoint(r#"{"cursor":"again"}"#.into(), 0),
            started + 20 * GROUP_SPAN,
        )),
        written: written.clone(),
    };
    let fence = lease(&store, w.id).await;
    let outcome = store
        .write_group(w.id, run, w.policy, Box::new(feed), fence)
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(
        took >= GROUP_SPAN && took < 20 * GROUP_SPAN,
        "the group took writes for {took:?}"
    );
    assert!(outcome.writes > 2, "{outcome:?}");
    assert_eq!(written.lock().unwrap()[0].counts.findings_new, 1);
    assert_eq!(
        store.checkpoint(w.id).await.unwrap().state.as_deref(),
        Some(r#"{"cursor":"again"}"#)
    );
}

/// A run whose plugin always has a checkpoint ready after a millisecond, and which notes
/// how long each ask of the group would have waited.
struct Asking {
    asked: Arc<std::sync::Mutex<Vec<Duration>>>,
    until: std::time::Instant,
}

impl GroupFeed for Asking {
    fn next(&mut self, wait: Duration) -> BoxFuture<'_, Option<GroupWrite>> {
        self.asked.lock().unwrap().push(wait);
        std::thread::sleep(Duration::from_millis(1));
        let ready = std::time::Instant::now() < self.until;
        Box::pin(std::future::ready(ready.then(|| {
            GroupWrite::Checkpoint(r#"{"cursor":"again"}"#.into(), 0)
        })))
    }

    fn written(&mut self, _batch: Batch, _outcome: BatchOutcome) {}
}

/// Once another write waits for SQLite's one writer connection, a group takes only what
/// its run has queued already: it no longer waits for the plugin's next write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_waits_for_its_plugin_only_while_no_other_write_waits() {
    let (store, _keep) = sqlite().await;
    let w = store
        .add_integration(&new_integration("w", Policy::default()))
        .await
        .unwrap();
    let run = run_of(&store, w.id).await;
    let fence = lease(&store, w.id).await;
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let feed = Asking {
        asked: asked.clone(),
        until: std::time::Instant::now() + 20 * GROUP_SPAN,
    };
    let group = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .write_group(w.id, run, w.policy, Box::new(feed), fence)
                .await
        }
    });
    // Once the group asks for writes it holds the store, for its span: this write waits.
    while asked.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    store.clear_checkpoint(w.id).await.unwrap();
    group.await.unwrap().unwrap();
    let asked = asked.lock().unwrap();
    let first_unwaited = asked
        .iter()
        .position(Duration::is_zero)
        .expect("once a write waited, the group asks without waiting");
    assert!(
        first_unwaited > 0 && asked[..first_unwaited].iter().all(|w| !w.is_zero()),
        "{asked:?}"
    );
}

async fn leases_keep_one_run_per_integration(store: Arc<dyn Store>, _: &Keep) {
    let w = store
        .add_integration(&new_integration("w", Policy::default()))
        .await
        .unwrap();
    let far = "far-host/42/1";
    let me = worker_id();
    let LeaseOutcome::Acquired {
        interrupted_runs: 0,
        fence: far_fence,
    } = store
        .acquire_lease(w.id, far, Duration::from_secs(600))
        .await
        .unwrap()
    else {
        panic!("a free lease is taken")
    };
    let left_running = run_of(&store, w.id).await;
    assert_eq!(
        store
            .acquire_lease(w.id, &me, Duration::from_secs(60))
            .await
            .unwrap(),
        LeaseOutcome::HeldBy(far.into())
    );
    assert_eq!(abandoned_now(&store).await, 0, "its lease is live");
    assert!(
        store
            .renew_lease(w.id, far_fence, Duration::from_millis(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .renew_lease(w.id, Fence(far_fence.0 ^ 1), Duration::from_secs(60))
            .await
            .unwrap(),
        "not ours"
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let LeaseOutcome::Acquired {
        interrupted_runs: 1,
        fence: my_fence,
    } = store
        .acquire_lease(w.id, &me, Duration::from_secs(60))
        .await
        .unwrap()
    else {
        panic!("a lapsed lease is taken over, failing the run it left")
    };
    // Fencing: the run that stalled past its lease writes nothing after the takeover.
    let batch = || Batch {
        assets: vec![asset("a1", None)],
        ..Default::default()
    };
    assert_ne!(far_fence, my_fence);
    assert!(matches!(
        write_one(&store, w.id, left_running, w.policy, batch(), far_fence).await,
        Err(StoreError::LeaseLost)
    ));
    assert!(matches!(
        save_checkpoint(&store, w.id, "stale", 0, far_fence).await,
        Err(StoreError::LeaseLost)
    ));
    assert_eq!(store.checkpoint(w.id).await.unwrap(), Checkpoint::default());
    let taker = run_of(&store, w.id).await;
    let stored = write_one(&store, w.id, taker, w.policy, batch(), my_fence)
        .await
        .unwrap();
    assert_eq!(
        stored.counts.assets_onboarded, 1,
        "nothing of the stale write was kept"
    );
    assert!(
        save_checkpoint(&store, w.id, "taker's", 0, my_fence)
            .await
            .unwrap()
    );
    assert!(matches!(
        write_one(&store, w.id, taker, w.policy, batch(), Fence(0)).await,
        Err(StoreError::LeaseLost)
    ));
    // Nor does it close, restore or finish anything: its end is the taker's to write.
    assert!(matches!(
        store.close_unseen(w.id, left_running, &[], far_fence).await,
        Err(StoreError::LeaseLost)
    ));
    assert!(matches!(
        store.restore_reported_statuses(w.id, far_fence).await,
        Err(StoreError::LeaseLost)
    ));
    assert!(matches!(
        store
            .finish_run(
                left_running,
                &RunEnd::bare(RunStatus::Succeeded, None),
                Some(far_fence)
            )
            .await,
        Err(StoreError::LeaseLost)
    ));
    assert!(
        !store
            .renew_lease(w.id, far_fence, Duration::from_secs(60))
            .await
            .unwrap(),
        "a lease taken over is not renewed"
    );
    assert_eq!(
        store
            .close_unseen(w.id, taker, &[], my_fence)
            .await
            .unwrap(),
        0
    );
    store
        .finish_run(
            taker,
            &RunEnd::bare(RunStatus::Succeeded, None),
            Some(my_fence),
        )
        .await
        .unwrap();
    let history = store.history(w.id, Window::ALL).await.unwrap();
    assert_eq!(history[0].status, RunStatus::Succeeded, "the taker's run");
    assert_eq!(history[1].id, left_running);
    let history = &history[1..];
    assert_eq!(history[0].status, RunStatus::Failed);
    assert!(history[0].error.as_deref().unwrap().contains("interrupted"));
    store.release_lease(w.id, far_fence).await.unwrap();
    assert_eq!(
        store
            .acquire_lease(w.id, far, Duration::from_secs(60))
            .await
            .unwrap(),
        LeaseOutcome::HeldBy(me.clone()),
        "releasing another's lease does nothing"
    );
    store.release_lease(w.id, my_fence).await.unwrap();
    run_of(&store, w.id).await;
    assert_eq!(
        abandoned_now(&store).await,
        1,
        "a running run without a lease was abandoned"
    );
}

/// Fails the runs nobody runs any more, as serve does when it starts; how many.
async fn abandoned_now(store: &Arc<dyn Store>) -> u64 {
    let running = store.running_runs().await.unwrap();
    let gone = abandoned(&running);
    store.fail_runs(&gone, INTERRUPTED).await.unwrap()
}

async fn history_and_schedules_round_trip(store: Arc<dyn Store>, _: &Keep) {
    let w = store
        .add_integration(&new_integration("w", Policy::default()))
        .await
        .unwrap();
    let run = run_of(&store, w.id).await;
    let end = RunEnd {
        status: RunStatus::SucceededWithWarnings,
        counts: RunCounts {
            assets_onboarded: 3,
            findings_new: 5,
            findings_skipped: 2,
            findings_closed: 1,
            ..Default::default()
        },
        warnings: vec!["2 record(s) rejected".into()],
        error: None,
        details: Some("full sync".into()),
    };
    store.finish_run(run, &end, None).await.unwrap();
    store
        .record_run(
            w.id,
            Action::ConfigChange,
            "alice",
            &RunEnd::bare(RunStatus::Succeeded, None),
            Some("changed: page-size"),
        )
        .await
        .unwrap();
    let history = store.history(w.id, Window::ALL).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        (
            history[0].action,
            history[0].started_by.as_str(),
            history[0].details.as_deref()
        ),
        (Action::ConfigChange, "alice", Some("changed: page-size"))
    );
    assert_eq!(history[0].started_at, history[0].finished_at.unwrap());
    let sync = &history[1];
    assert_eq!(
        (
            sync.status,
            sync.counts,
            sync.warnings.clone(),
            sync.details.clone()
        ),
        (end.status, end.counts, end.warnings, end.details)
    );
    assert!(sync.finished_at.unwrap() >= sync.started_at);
    assert_eq!(store.history_count(w.id).await.unwrap(), 2);
    let second = store
        .history(
            w.id,
            Window {
                offset: 1,
                limit: 5,
            },
        )
        .await
        .unwrap();
    assert_eq!(second, history[1..], "a window passes over the newest");
    let newest = Window {
        offset: 0,
        limit: 1,
    };
    assert_eq!(store.history(w.id, newest).await.unwrap(), history[..1]);
    assert_eq!(
        store.last_sync(w.id).await.unwrap().as_ref(),
        Some(sync),
        "the settings change after it is no sync"
    );
    let other = store
        .add_integration(&new_integration("never-synced", Policy::default()))
        .await
        .unwrap();
    assert_eq!(store.last_sync(other.id).await.unwrap(), None);
    assert_eq!(store.history_count(other.id).await.unwrap(), 0);
    assert_eq!(store.next_due(w.id).await.unwrap(), None);
    let due = parse_time("2026-12-02T01:15:00Z").unwrap();
    let daily = store
        .add_integration(&new_integration("daily", auto_daily()))
        .await
        .unwrap();
    assert_eq!(store.schedule_new(due).await.unwrap(), ["daily"]);
    assert_eq!(store.next_due(daily.id).await.unwrap(), Some(due));
}

async fn a_newer_schema_is_refused_and_left_untouched(store: Arc<dyn Store>, keep: &Keep) {
    store
        .add_integration(&new_integration("w", Policy::default()))
        .await
        .unwrap();
    drop(store);
    let (target, before) = match keep {
        Keep::Sqlite(dir) => {
            let path = dir.path().join("story.db");
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", 99).unwrap();
            conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")
                .unwrap();
            drop(conn);
            (
                StoreTarget::parse(&path.display().to_string()).unwrap(),
                std::fs::read(&path).unwrap(),
            )
        }
        Keep::Postgres(db) => {
            db.execute("UPDATE connector_host_schema SET version = 99")
                .unwrap();
            (StoreTarget::parse(db.url()).unwrap(), Vec::new())
        }
    };
    let refused = open_store(&target)
        .await
        .err()
        .expect("a newer schema is refused");
    assert!(
        matches!(refused, StoreError::TooNew { found: 99, .. }),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("upgrade connector-host"),
        "{refused}"
    );
    match keep {
        Keep::Sqlite(dir) => assert_eq!(
            std::fs::read(dir.path().join("story.db")).unwrap(),
            before,
            "not a byte changed"
        ),
        Keep::Postgres(db) => {
            assert_eq!(
                db.texts("SELECT version::text FROM connector_host_schema")
                    .unwrap(),
                ["99"]
            );
            assert_eq!(db.texts("SELECT name FROM integrations").unwrap(), ["w"]);
        }
    }
}

async fn vulnerabilities_keep_their_kind_and_details(store: Arc<dyn Store>, _: &Keep) {
    let w = store
        .add_integration(&new_integration("w", Policy::default()))
        .await
        .unwrap();
    let run = run_of(&store, w.id).await;
    let details = Vulnerability {
        cve_ids: vec!["CVE-2024-1234".into()],
        advisory_ids: vec!["GHSA-abcd-efgh-ijkl".into()],
        cvss: vec![
            Cvss {
                version: "3.1".into(),
                score: CvssScore::new(9.8),
                vector: Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".into()),
            },
            // A version the source names without a score: absent, never zero.
            Cvss {
                version: "4.0".into(),
                score: None,
                vector: None,
            },
        ],
        package: Some(AffectedPackage {
            ecosystem: "npm".into(),
            name: "lodash".into(),
        }),
        installed_version: None,
        vulnerable_range: Some("< 4.17.21".into()),
        fixed_version: Some("4.17.21".into()),
    };
    let mut vulnerable = finding("ghsa-1", "a1", Severity::Critical);
    vulnerable.kind = FindingKind::Vulnerability;
    vulnerable.vulnerability = Some(details.clone());
    let batch = Batch {
        assets: vec![asset("a1", None)],
        findings: vec![vulnerable.clone(), finding("issue-1", "a1", Severity::Low)],
        ..Default::default()
    };
    write(&store, w.id, run, w.policy, batch).await;
    let stored = store.findings(&FindingFilter::default()).await.unwrap();
    assert_eq!(stored[0].id, "ghsa-1");
    assert_eq!(stored[0].kind, FindingKind::Vulnerability);
    assert_eq!(stored[0].vulnerability.as_ref(), Some(&details));
    assert_eq!(stored[1].kind, FindingKind::Issue);
    assert_eq!(stored[1].vulnerability, None);
    // The details are part of what a finding is: a change to them is an update.
    let mut fixed = vulnerable;
    fixed.vulnerability.as_mut().unwrap().fixed_version = Some("4.17.22".into());
    let counts = write(
        &store,
        w.id,
        run,
        w.policy,
        Batch {
            assets: vec![asset("a1", None)],
            findings: vec![fixed],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(counts.findings_updated, 1, "{counts:?}");
}

fn auto_daily() -> Policy {
    Policy {
        auto_sync_days: 1,
        ..Policy::default()
    }
}

const CLAIM_TTL: Duration = Duration::from_secs(600);

/// `n` integrations with a daily auto sync, all first due at `due`.
async fn due_integrations(store: &Arc<dyn Store>, n: usize, due: DateTime<Utc>) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let added = store
            .add_integration(&new_integration(&format!("tenant-{i:02}"), auto_daily()))
            .await
            .unwrap();
        ids.push(added.id);
    }
    let mut scheduled = store.schedule_new(due).await.unwrap();
    scheduled.sort();
    assert_eq!(scheduled.len(), n, "each new schedule is set once");
    assert!(
        store.schedule_new(due).await.unwrap().is_empty(),
        "and only once"
    );
    ids
}

async fn due_auto_syncs_are_claimed_once_each_by_workers_claiming_at_once(
    store: Arc<dyn Store>,
    _: &Keep,
) {
    let due = parse_time("2030-01-01T01:15:00Z").unwrap();
    let ids = due_integrations(&store, 30, due).await;
    let early = store
        .claim_due("early", due - TimeDelta::seconds(1), 100, CLAIM_TTL)
        .await
        .unwrap();
    assert!(
        early.is_empty(),
        "nothing is due before its time: {early:?}"
    );
    // Three workers claim at once, a few at a time, until nothing is left.
    let workers = ["w1", "w2", "w3"].map(|worker| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut claimed = Vec::new();
            loop {
                let claims = store.claim_due(worker, due, 4, CLAIM_TTL).await.unwrap();
                if claims.is_empty() {
                    return claimed;
                }
                claimed.extend(claims.into_iter().map(|c| (worker, c)));
                tokio::task::yield_now().await;
            }
        })
    });
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    let mut integrations: Vec<i64> = all.iter().map(|(_, c)| c.integration).collect();
    integrations.sort();
    assert_eq!(integrations, ids, "every due sync claimed exactly once");
    for (worker, claim) in &all {
        assert_eq!(claim.kind, ClaimKind::Auto { failures: 0 });
        assert_eq!(claim.interrupted_runs, 0);
        assert!(claim.name.starts_with("tenant-"), "{claim:?}");
        // The claim holds the lease: a run started now names its worker.
        let run = run_of(&store, claim.integration).await;
        let history = store.history(claim.integration, Window::ALL).await.unwrap();
        assert_eq!(
            (history[0].id, history[0].worker.as_deref()),
            (run, Some(*worker))
        );
        assert_eq!(
            store
                .acquire_lease(claim.integration, "someone-else", CLAIM_TTL)
                .await
                .unwrap(),
            LeaseOutcome::HeldBy(worker.to_string())
        );
    }
    let later = store
        .claim_due("w4", due + TimeDelta::hours(1), 100, CLAIM_TTL)
        .await
        .unwrap();
    assert!(
        later.is_empty(),
        "a claimed sync is not claimed again while its lease lives"
    );
}

async fn a_claim_ends_by_rescheduling_and_giving_back_its_lease_at_once(
    store: Arc<dyn Store>,
    _: &Keep,
) {
    let due = parse_time("2030-01-01T01:15:00Z").unwrap();
    let ids = due_integrations(&store, 2, due).await;
    let claims = store.claim_due("w1", due, 10, CLAIM_TTL).await.unwrap();
    assert_eq!(claims.len(), 2);
    let (first, second) = (&claims[0], &claims[1]);
    // The first failed transiently twice now: it is due again in an hour.
    let retry = due + TimeDelta::hours(1);
    store
        .end_claim(first.integration, first.fence, retry, 2)
        .await
        .unwrap();
    assert_eq!(
        store.next_due(first.integration).await.unwrap(),
        Some(retry)
    );
    // A claim whose lease is gone changes nothing: its taker decides.
    store
        .end_claim(second.integration, Fence(second.fence.0 ^ 1), due, 9)
        .await
        .unwrap();
    assert!(matches!(
        store.acquire_lease(second.integration, "w2", CLAIM_TTL).await.unwrap(),
        LeaseOutcome::HeldBy(h) if h == "w1"
    ));
    assert!(
        store
            .claim_due("w2", retry - TimeDelta::seconds(1), 10, CLAIM_TTL)
            .await
            .unwrap()
            .is_empty(),
        "the retry is not due yet, and the other is still held"
    );
    let again = store.claim_due("w2", retry, 10, CLAIM_TTL).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].integration, &again[0].kind),
        (ids[0], &ClaimKind::Auto { failures: 2 }),
        "any worker retries it, knowing how often it failed"
    );
}

async fn a_dead_workers_claim_is_claimed_again_once_its_lease_lapses(
    store: Arc<dyn Store>,
    _: &Keep,
) {
    let due = parse_time("2030-01-01T01:15:00Z").unwrap();
    let ids = due_integrations(&store, 1, due).await;
    let short = Duration::from_millis(300);
    let dead = store.claim_due("dead", due, 10, short).await.unwrap();
    assert_eq!(dead.len(), 1);
    let left_running = run_of(&store, ids[0]).await;
    assert!(
        store
            .claim_due("taker", due, 10, CLAIM_TTL)
            .await
            .unwrap()
            .is_empty(),
        "not while the lease lives"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Its due time moved only as far as its lease: by any worker's time after the
    // lease, the sync is due again.
    let far = parse_time("2031-01-01T00:00:00Z").unwrap();
    let taken = store.claim_due("taker", far, 10, CLAIM_TTL).await.unwrap();
    assert_eq!(taken.len(), 1, "claimed again once the lease lapsed");
    assert_eq!(taken[0].interrupted_runs, 1);
    assert_ne!(taken[0].fence, dead[0].fence);
    let history = store.history(ids[0], Window::ALL).await.unwrap();
    assert_eq!(history[0].id, left_running);
    assert_eq!(history[0].status, RunStatus::Failed);
    assert_eq!(history[0].error.as_deref(), Some(INTERRUPTED));
    assert_eq!(history[0].worker.as_deref(), Some("dead"));
    assert!(matches!(
        store
            .finish_run(
                left_running,
                &RunEnd::bare(RunStatus::Succeeded, None),
                Some(dead[0].fence)
            )
            .await,
        Err(StoreError::LeaseLost)
    ));
}

async fn auto_sync_schedules_follow_the_auto_sync_days(store: Arc<dyn Store>, _: &Keep) {
    let manual = store
        .add_integration(&new_integration("manual", Policy::default()))
        .await
        .unwrap();
    let first = parse_time("2030-01-01T01:15:00Z").unwrap();
    assert!(
        store.schedule_new(first).await.unwrap().is_empty(),
        "auto sync is off"
    );
    let set = |days| {
        let (store, manual) = (store.clone(), manual.clone());
        async move {
            let policy = Policy {
                auto_sync_days: days,
                ..Policy::default()
            };
            store
                .update_integration(
                    manual.id,
                    &manual.settings,
                    &manual.sealed_secrets,
                    &policy,
                    None,
                )
                .await
                .unwrap();
        }
    };
    set(2).await;
    assert_eq!(store.schedule_new(first).await.unwrap(), ["manual"]);
    assert_eq!(store.next_due(manual.id).await.unwrap(), Some(first));
    set(3).await;
    assert_eq!(
        store.next_due(manual.id).await.unwrap(),
        Some(first),
        "another frequency keeps the due time"
    );
    set(0).await;
    assert_eq!(store.next_due(manual.id).await.unwrap(), None);
    assert!(
        store
            .claim_due("w", first, 10, CLAIM_TTL)
            .await
            .unwrap()
            .is_empty(),
        "off is never due"
    );
    set(1).await;
    let later = first + TimeDelta::days(5);
    assert_eq!(
        store.schedule_new(later).await.unwrap(),
        ["manual"],
        "turned on again, it waits for the next slot, not the old due time"
    );
}

async fn workers_register_beat_drain_and_stop(store: Arc<dyn Store>, _: &Keep) {
    let w = store
        .add_integration(&new_integration("w", auto_daily()))
        .await
        .unwrap();
    let info = |id: &str| WorkerInfo {
        id: id.into(),
        host: "box".into(),
        pid: 42,
        version: "1.2.3".into(),
        lease_ttl: Duration::from_secs(90),
    };
    store.register_worker(&info("one")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    store.register_worker(&info("two")).await.unwrap();
    assert!(store.heartbeat("one").await.unwrap());
    assert!(!store.heartbeat("nobody").await.unwrap());
    let LeaseOutcome::Acquired { .. } = store.acquire_lease(w.id, "one", CLAIM_TTL).await.unwrap()
    else {
        panic!("a free lease is taken")
    };
    let workers = store.workers().await.unwrap();
    let ids: Vec<&str> = workers.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(ids, ["two", "one"], "newest first");
    let one = &workers[1];
    assert_eq!(
        (one.host.as_str(), one.pid, one.version.as_str()),
        ("box", 42, "1.2.3")
    );
    assert_eq!(one.running, ["w"]);
    assert!(one.heartbeat_age_s < 60.0, "{one:?}");
    assert!(!one.draining && one.stopped_at.is_none());
    assert!(workers[0].running.is_empty());
    store.drain_worker("one").await.unwrap();
    assert!(store.workers().await.unwrap()[1].draining);
    store.stop_worker("one").await.unwrap();
    let one = store.workers().await.unwrap().remove(1);
    assert!(
        one.stopped_at.is_some() && one.running.is_empty(),
        "{one:?}"
    );
    assert!(
        matches!(
            store.acquire_lease(w.id, "two", CLAIM_TTL).await.unwrap(),
            LeaseOutcome::Acquired { .. }
        ),
        "a stopped worker's leases are given back"
    );
}

async fn the_database_keeps_one_active_run_per_integration(store: Arc<dyn Store>, _: &Keep) {
    let w = store
        .add_integration(&new_integration("w", Policy::default()))
        .await
        .unwrap();
    let running = run_of(&store, w.id).await;
    assert!(
        matches!(
            store.start_run(w.id, Action::AutoSync, "story").await,
            Err(StoreError::Conflict { .. })
        ),
        "a second active run is refused, whatever the leases say"
    );
    // A connection test is no sync: it runs beside one.
    let test = store
        .start_run(w.id, Action::TestConnection, "story")
        .await
        .unwrap();
    assert_eq!(
        store.running_sync(w.id).await.unwrap().map(|r| r.run),
        Some(running),
        "the running sync, not the test"
    );
    // Nor is it a sync that a lease's taker or the sweep fails as interrupted.
    assert!(
        store
            .running_runs()
            .await
            .unwrap()
            .iter()
            .all(|r| r.run != test),
        "a test is not swept"
    );
    let LeaseOutcome::Acquired {
        interrupted_runs, ..
    } = store.acquire_lease(w.id, "taker", CLAIM_TTL).await.unwrap()
    else {
        panic!("a free lease is taken")
    };
    assert_eq!(interrupted_runs, 1, "the sync left running, not the test");
    store
        .finish_run(test, &RunEnd::bare(RunStatus::Succeeded, None), None)
        .await
        .unwrap();
    let history = store.history(w.id, Window::ALL).await.unwrap();
    assert_eq!(history[0].id, test);
    assert_eq!(
        history[0].status,
        RunStatus::Succeeded,
        "the test ended as it ran"
    );
    assert_eq!(
        history[1].status,
        RunStatus::Failed,
        "the sync was interrupted"
    );
    run_of(&store, w.id).await;
}

async fn sync_now_requests_join_come_first_and_carry_progress_and_cancel(
    store: Arc<dyn Store>,
    _: &Keep,
) {
    let due = parse_time("2030-01-01T01:15:00Z").unwrap();
    let auto = due_integrations(&store, 1, due).await;
    let b = store
        .add_integration(&new_integration("b", Policy::default()))
        .await
        .unwrap();
    assert_eq!(
        store.request_sync(b.id, "alice", false).await.unwrap(),
        SyncRequested::Queued
    );
    assert_eq!(
        store.request_sync(b.id, "bob", true).await.unwrap(),
        SyncRequested::JoinedQueued,
        "a second request joins the first"
    );
    let queued = store.queued_sync(b.id).await.unwrap().unwrap();
    assert_eq!(
        (queued.requested_by.as_str(), queued.full),
        ("alice", true),
        "asked for by the first, full since one asked for that"
    );
    // A worker with room for one takes the person waiting before the due auto sync.
    let claims = store.claim_due("w", due, 1, CLAIM_TTL).await.unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(
        (claims[0].integration, &claims[0].kind),
        (
            b.id,
            &ClaimKind::Now {
                requested_by: "alice".into(),
                full: true
            }
        )
    );
    // Claimed, it is shown starting on its worker until its run opens: never neither
    // queued nor running.
    let starting = store.queued_sync(b.id).await.unwrap().unwrap();
    assert_eq!(
        (
            starting.requested_by.as_str(),
            starting.starting_on.as_deref()
        ),
        ("alice", Some("w"))
    );
    assert_eq!(store.running_sync(b.id).await.unwrap(), None);
    assert_eq!(
        store.request_sync(b.id, "carol", false).await.unwrap(),
        SyncRequested::JoinedRunning,
        "claimed, it is as good as running"
    );
    assert!(
        store
            .claim_due("w2", due - TimeDelta::seconds(1), 5, CLAIM_TTL)
            .await
            .unwrap()
            .iter()
            .all(|c| c.integration != b.id),
        "no other worker claims the request while the lease lives"
    );
    let started = store
        .start_requested_sync(b.id, claims[0].fence, "alice")
        .await
        .unwrap();
    assert!(!started.withdrawn);
    let run = started.run;
    assert_eq!(store.queued_sync(b.id).await.unwrap(), None);
    let running = store.running_sync(b.id).await.unwrap().unwrap();
    assert_eq!(
        (
            running.run,
            running.done,
            running.total,
            running.worker.as_deref()
        ),
        (run, 0, None, Some("w"))
    );
    assert!(!store.report_progress(run, 5, Some(10)).await.unwrap());
    let running = store.running_sync(b.id).await.unwrap().unwrap();
    assert_eq!((running.done, running.total), (5, Some(10)));
    // Cancel, from any worker: the run learns it at its next report.
    assert_eq!(
        store.request_cancel(b.id).await.unwrap(),
        CancelRequested {
            running: true,
            queued: false
        }
    );
    assert!(store.report_progress(run, 6, Some(10)).await.unwrap());
    store
        .finish_run(
            run,
            &RunEnd::bare(RunStatus::Cancelled, None),
            Some(claims[0].fence),
        )
        .await
        .unwrap();
    store
        .end_requested_claim(b.id, claims[0].fence)
        .await
        .unwrap();
    assert_eq!(store.running_sync(b.id).await.unwrap(), None);
    assert_eq!(
        store.request_cancel(b.id).await.unwrap(),
        CancelRequested::default(),
        "nothing to cancel"
    );
    // Cancelled between its claim and its start: the run opens withdrawn, to stop.
    store.request_sync(b.id, "erin", false).await.unwrap();
    let claim = store.claim_due("w", due, 1, CLAIM_TTL).await.unwrap();
    assert_eq!(claim[0].integration, b.id);
    assert_eq!(
        store.request_cancel(b.id).await.unwrap(),
        CancelRequested {
            running: false,
            queued: true
        }
    );
    let started = store
        .start_requested_sync(b.id, claim[0].fence, "erin")
        .await
        .unwrap();
    assert!(started.withdrawn, "its request was cancelled");
    store
        .finish_run(
            started.run,
            &RunEnd::bare(RunStatus::Cancelled, None),
            Some(claim[0].fence),
        )
        .await
        .unwrap();
    store
        .end_requested_claim(b.id, claim[0].fence)
        .await
        .unwrap();
    // One whose run could not open: ending the claim drops its request, answered.
    store.request_sync(b.id, "frank", false).await.unwrap();
    let claim = store.claim_due("w", due, 1, CLAIM_TTL).await.unwrap();
    assert_eq!(claim[0].integration, b.id);
    store
        .end_requested_claim(b.id, claim[0].fence)
        .await
        .unwrap();
    assert_eq!(store.queued_sync(b.id).await.unwrap(), None);
    assert_eq!(
        store.request_sync(b.id, "dave", false).await.unwrap(),
        SyncRequested::Queued
    );
    assert_eq!(
        store.request_cancel(b.id).await.unwrap(),
        CancelRequested {
            running: false,
            queued: true
        },
        "a queued request is dropped"
    );
    assert!(
        store
            .claim_due("w", due - TimeDelta::seconds(1), 5, CLAIM_TTL)
            .await
            .unwrap()
            .is_empty(),
        "nothing queued, nothing due"
    );
    let left = store.claim_due("w", due, 5, CLAIM_TTL).await.unwrap();
    assert_eq!(left.iter().map(|c| c.integration).collect::<Vec<_>>(), auto);
}

async fn a_sync_now_a_dead_worker_claimed_but_never_started_is_claimed_again(
    store: Arc<dyn Store>,
    _: &Keep,
) {
    let due = parse_time("2030-01-01T01:15:00Z").unwrap();
    let b = store
        .add_integration(&new_integration("b", Policy::default()))
        .await
        .unwrap();
    store.request_sync(b.id, "alice", true).await.unwrap();
    let short = Duration::from_millis(300);
    let dead = store.claim_due("dead", due, 1, short).await.unwrap();
    assert_eq!(dead.len(), 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let queued = store.queued_sync(b.id).await.unwrap().unwrap();
    assert_eq!(
        (queued.requested_by.as_str(), queued.starting_on),
        ("alice", None),
        "waiting again once the lease lapsed"
    );
    let taken = store.claim_due("taker", due, 1, CLAIM_TTL).await.unwrap();
    assert_eq!(
        taken.iter().map(|c| &c.kind).collect::<Vec<_>>(),
        [&ClaimKind::Now {
            requested_by: "alice".into(),
            full: true
        }]
    );
    assert_ne!(taken[0].fence, dead[0].fence);
    // The stalled worker's late start opens nothing, and its late end leaves the
    // taker's claim and request alone.
    assert!(matches!(
        store
            .start_requested_sync(b.id, dead[0].fence, "alice")
            .await,
        Err(StoreError::LeaseLost)
    ));
    store
        .end_requested_claim(b.id, dead[0].fence)
        .await
        .unwrap();
    let starting = store.queued_sync(b.id).await.unwrap().unwrap();
    assert_eq!(starting.starting_on.as_deref(), Some("taker"));
    let started = store
        .start_requested_sync(b.id, taken[0].fence, "alice")
        .await
        .unwrap();
    assert!(
        !started.withdrawn,
        "the taker's request is there for its run"
    );
}

async fn a_destinations_pace_is_booked_in_the_store_a_seconds_worth_at_once(
    store: Arc<dyn Store>,
    _: &Keep,
) {
    // Two a second, from any process on the store: a second's worth (the burst) at once.
    let (interval, burst) = (Duration::from_millis(500), Duration::from_millis(500));
    for _ in 0..2 {
        let turn = store.take_turn("api:443", interval, burst).await.unwrap();
        assert_eq!(turn, Turn::Now);
    }
    let Turn::After(wait) = store.take_turn("api:443", interval, burst).await.unwrap() else {
        panic!("a third request at once is past the ceiling");
    };
    assert!(
        wait > Duration::from_millis(300) && wait <= Duration::from_millis(500),
        "the next turn is one interval after the burst: {wait:?}"
    );
    // Asking again books nothing: the turn does not move further away.
    let Turn::After(again) = store.take_turn("api:443", interval, burst).await.unwrap() else {
        panic!("still past the ceiling");
    };
    assert!(again <= wait, "{again:?} after {wait:?}");
    // Another destination keeps a pace of its own.
    let other = store.take_turn("auth:443", interval, burst).await.unwrap();
    assert_eq!(other, Turn::Now);
    // Once the wait is over, the turn is taken.
    tokio::time::sleep(again).await;
    let turn = store.take_turn("api:443", interval, burst).await.unwrap();
    assert_eq!(turn, Turn::Now);
}

async fn a_sync_now_asked_for_a_due_auto_sync_is_claimed_once(store: Arc<dyn Store>, _: &Keep) {
    let due = parse_time("2030-01-01T01:15:00Z").unwrap();
    let ids = due_integrations(&store, 1, due).await;
    store.request_sync(ids[0], "alice", true).await.unwrap();
    // Both the request and the schedule name the integration: one claim, one lease.
    let claims = store.claim_due("w", due, 4, CLAIM_TTL).await.unwrap();
    assert_eq!(claims.len(), 1, "one claim: {claims:?}");
    assert!(
        matches!(&claims[0].kind, ClaimKind::Now { requested_by, full: true } if requested_by == "alice"),
        "the person's request: {claims:?}"
    );
    // The claim's lease is the one its run writes under.
    let renewed = store
        .renew_lease(ids[0], claims[0].fence, CLAIM_TTL)
        .await
        .unwrap();
    assert!(renewed, "the claim's fence holds the lease");
}
