//! The simulators: Wiz (its token endpoint and GraphQL API) and GitHub (an organization's
//! Dependabot alerts over REST), local servers over deterministic, realistic data, for the
//! end-to-end tests, the demo and the benchmarks.
#![deny(missing_docs)]

pub mod background;
pub mod data;
pub mod faults;
pub mod gate;
pub mod github;
pub mod server;

pub use data::{Expected, Tenant};
pub use server::{SimConfig, router};

use std::sync::Arc;

/// A simulator serving on a loopback port from its own thread; stops when dropped.
pub struct Simulator {
    server: background::Background,
    sim: Arc<server::Sim>,
}

impl Simulator {
    /// Starts a simulator on 127.0.0.1 with a free port.
    pub fn start(config: SimConfig) -> std::io::Result<Self> {
        let (router, sim) = router(config);
        Ok(Simulator {
            server: background::Background::serve("wiz-sim", router)?,
            sim,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The token endpoint.
    pub fn auth_url(&self) -> String {
        format!("{}/oauth/token", self.base_url())
    }

    /// The API URL as a user would paste it (without `/graphql`).
    pub fn api_url(&self) -> String {
        self.base_url()
    }

    /// The generated tenant (before any change made through this handle).
    pub fn tenant(&self) -> Tenant {
        *self.sim.live().tenant()
    }

    /// Request counters.
    pub fn stats(&self) -> &server::Stats {
        &self.sim.stats
    }

    /// Changes issue `index`'s status now, as a person would in Wiz (REJECTED is Wiz's
    /// "Ignore").
    pub fn set_issue_status(&self, index: u64, status: &str, resolution_reason: Option<&str>) {
        let at = now_rfc3339();
        let change = server::StatusChange {
            status: status.into(),
            resolution_reason: resolution_reason.map(Into::into),
            at,
        };
        self.sim
            .changes
            .lock()
            .expect("changes")
            .insert(index, change);
    }

    /// Adds `count` new open issues, changed now; returns their indices.
    pub fn add_issues(&self, count: u64) -> std::ops::Range<u64> {
        let start = self.sim.config_issues()
            + self
                .sim
                .added
                .fetch_add(count, std::sync::atomic::Ordering::Relaxed);
        for index in start..start + count {
            self.set_issue_status(index, "OPEN", None);
        }
        start..start + count
    }

    /// Deletes resource `index`: the inventory marks it deleted and Wiz resolves its issues
    /// with OBJECT_DELETED, now.
    pub fn delete_resource(&self, index: u64) {
        self.sim.deleted.lock().expect("deleted").insert(index);
        let issues =
            self.sim.config_issues() + self.sim.added.load(std::sync::atomic::Ordering::Relaxed);
        let tenant = *self.sim.live().tenant();
        for i in (0..issues).filter(|i| tenant.issue(*i).resource == index) {
            self.set_issue_status(i, "RESOLVED", Some("OBJECT_DELETED"));
        }
    }

    /// Rewrites the description of issue `index`'s rule, as a rule author would in Wiz
    /// (no status change, so only a full sync reads it again).
    pub fn set_description(&self, index: u64, description: &str) {
        self.sim
            .descriptions
            .lock()
            .expect("descriptions")
            .insert(index, description.to_string());
    }

    /// Removes issues from the API altogether, without a status change (as retention does).
    pub fn purge_issues(&self, indices: std::ops::Range<u64>) {
        self.sim.purged.lock().expect("purged").extend(indices);
    }

    /// Replaces the faults to inject; their request count starts again at 1.
    pub fn set_faults(&self, rules: Vec<faults::FaultRule>) {
        self.sim.set_faults(rules);
    }

    /// Holds the `n`th issue page requested from now (1-based, retries counted) until the
    /// returned gate opens or is dropped: the pages before it are answered, so a test
    /// knows what a sync has read when it acts on it.
    pub fn hold_issue_page(&self, n: u64) -> gate::Gate {
        gate::Gate(self.sim.hold_issue_page(n))
    }

    /// Sets the delay added to every GraphQL answer.
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.sim.latency_ms.store(
            latency.as_millis() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

/// The `connector-host` arguments that add a Wiz integration named `name` on `api_url`
/// and `auth_url` with these credentials (given on the command line: tests only). Callers
/// append their own settings and flags.
pub fn add_wiz_args(
    name: &str,
    api_url: &str,
    auth_url: &str,
    client_id: &str,
    secret: &str,
) -> Vec<String> {
    [
        "integration",
        "add",
        name,
        "--connector",
        "wiz",
        "--set",
        &format!("api-url={api_url}"),
        "--set",
        &format!("auth-url={auth_url}"),
        "--set",
        &format!("client-id={client_id}"),
        "--secret",
        &format!("client-secret={secret}"),
    ]
    .map(String::from)
    .to_vec()
}

/// The value of the unlabelled sample `name` in a Prometheus exposition (`/metrics`),
/// as the benchmarks and the tests read a host's metrics.
pub fn metric_sample(exposition: &str, name: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// The current time as RFC 3339 with microseconds, like Wiz's timestamps.
fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    data::rfc3339_micros(now.as_secs(), now.subsec_micros())
}
