//! The service layer that every front end calls, driven as a library with the real Wiz
//! component in the real plugin host against the simulator: what the CLI cannot show
//! from outside a running sync (its status and progress, cancelling it).

use crate::harness::{FULL_SECRET, Host};
use connector_host::model::{Action, RunStatus};
use connector_host::plugin::Limits;
use connector_host::runner::EmitLimits;
use connector_host::service::{
    AddIntegration, Platform, PluginSource, PolicyChange, ServiceError, SyncRequest,
};
use connector_host::store::{StoreTarget, open_store};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use wiz_sim::{SimConfig, Simulator};

async fn platform(host: &Host) -> Platform {
    let store = open_store(&StoreTarget::parse(&host.db_arg()).unwrap())
        .await
        .unwrap();
    let plugins = host.built_plugins();
    Platform::new(
        store,
        host.dir().join("host.key"),
        PluginSource {
            cache_dir: plugins.parent().unwrap().join("compiled-plugins-test"),
            folder: plugins,
            limits: Limits::default(),
            resolver: Default::default(),
        },
        EmitLimits::default(),
    )
}

fn request(cancel: &Arc<AtomicBool>) -> SyncRequest {
    SyncRequest {
        claimed: None,
        action: Action::SyncNow,
        started_by: "service-test".into(),
        full: false,
        progress: None,
        cancel: cancel.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_sync_reports_progress_and_stops_when_cancelled() {
    let sim = Simulator::start(SimConfig::new(71, 400)).unwrap();
    let host = Host::new();
    let platform = Arc::new(platform(&host).await);
    let values = [
        ("api-url", sim.api_url()),
        ("auth-url", sim.auth_url()),
        ("client-id", "sim-client".to_string()),
        ("client-secret", FULL_SECRET.to_string()),
        ("page-size", "20".to_string()),
        ("max-requests-per-second", "100".to_string()),
    ];
    let added = platform
        .integrations()
        .add(AddIntegration {
            name: "w".into(),
            connector: "wiz".into(),
            version: None,
            streams: None,
            values: values
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            policy: PolicyChange::default(),
            test: true,
            started_by: "service-test".into(),
        })
        .await
        .unwrap();
    assert!(added.test.unwrap().error.is_none());
    let view = platform.integrations().show("w").await.unwrap();
    let secret = view
        .settings
        .iter()
        .find(|s| s.key == "client-secret")
        .unwrap();
    assert!(secret.set && secret.secret && secret.value.is_none());
    assert_eq!(secret.shown(), "********");

    // The sync is held at its third issue page until the test has seen it run.
    let gate = sim.hold_issue_page(3);
    let cancel = Arc::new(AtomicBool::new(false));
    let running = {
        let (platform, cancel) = (platform.clone(), cancel.clone());
        tokio::spawn(async move { platform.syncs().run("w", request(&cancel)).await })
    };
    let mut progressed = false;
    for _ in 0..2400 {
        let status = platform.syncs().status("w").await.unwrap();
        if gate.reached() > 0 && status.running.as_ref().is_some_and(|s| s.done > 0) {
            assert_eq!(status.last.unwrap().status, RunStatus::Running);
            progressed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(progressed, "the status shows the sync's progress");
    let second = platform.syncs().run("w", request(&Arc::default())).await;
    assert!(
        matches!(second, Err(ServiceError::AlreadyRunning { .. })),
        "{second:?}"
    );
    assert!(platform.syncs().cancel("w").await.unwrap());
    gate.open();
    let outcome = running.await.unwrap().unwrap();
    assert_eq!(outcome.status, RunStatus::Cancelled);
    let status = platform.syncs().status("w").await.unwrap();
    assert!(status.running.is_none());
    assert_eq!(status.last.unwrap().status, RunStatus::Cancelled);
    assert!(
        !platform.syncs().cancel("w").await.unwrap(),
        "nothing runs now"
    );
    let kept = platform.findings().list(Default::default()).await.unwrap();
    assert!(!kept.findings.is_empty(), "the committed batches are kept");

    // The next sync resumes and finishes.
    let done = platform
        .syncs()
        .run("w", request(&Arc::default()))
        .await
        .unwrap();
    assert_eq!(done.status, RunStatus::Succeeded, "{done:?}");

    // A Sync Now a worker took from the queue is shown starting on it until its run
    // opens; cancelled in between, its run opens only to stop, and says so in history.
    platform.syncs().request("w", "alice", false).await.unwrap();
    let store = platform.store();
    let now = store.now().await.unwrap();
    let claims = store
        .claim_due(platform.worker(), now, 1, platform.lease_ttl())
        .await
        .unwrap();
    assert_eq!(claims.len(), 1);
    let starting = platform.syncs().status("w").await.unwrap().queued.unwrap();
    assert_eq!(starting.starting_on.as_deref(), Some(platform.worker()));
    assert!(platform.syncs().cancel("w").await.unwrap());
    let claimed = SyncRequest {
        claimed: Some(claims[0].fence),
        started_by: "alice".into(),
        ..request(&Arc::default())
    };
    let withdrawn = platform.syncs().run("w", claimed).await.unwrap();
    assert_eq!(withdrawn.status, RunStatus::Cancelled, "{withdrawn:?}");
    store
        .end_requested_claim(claims[0].integration, claims[0].fence)
        .await
        .unwrap();
    let status = platform.syncs().status("w").await.unwrap();
    assert_eq!((status.running, status.queued), (None, None));
    assert_eq!(status.last.unwrap().status, RunStatus::Cancelled);
}
