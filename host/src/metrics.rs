//! What a `serve` worker tells Prometheus at `/metrics`: its own counts (runs by status,
//! run durations, records stored, claims, lease takeovers, syncs running), and what the
//! store says of the fleet when scraped (due syncs waiting for a worker, workers by
//! state). Counters are this process's since it started, as Prometheus expects; the
//! fleet's totals are the sum over its workers.

use crate::model::{RunCounts, RunStatus};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

/// A run's status, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

/// A kind of record, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

/// A worker state, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

/// This worker's metrics.
pub struct Metrics {
    registry: Registry,
    runs: Family<StatusLabel, Counter>,
    run_seconds: Histogram,
    plugin_memory: Histogram,
    records: Family<KindLabel, Counter>,
    claims: Counter,
    takeovers: Counter,
    running: Gauge,
    queue_depth: Gauge,
    workers: Family<StateLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("connector");
        let runs = Family::<StatusLabel, Counter>::default();
        registry.register("runs", "Syncs this worker ended, by status", runs.clone());
        // 1 s to about 9 h.
        let run_seconds = Histogram::new(exponential_buckets(1.0, 2.0, 16));
        registry.register(
            "run_duration_seconds",
            "How long this worker's syncs ran",
            run_seconds.clone(),
        );
        // 1 MiB to 2 GiB.
        let plugin_memory = Histogram::new(exponential_buckets(1048576.0, 2.0, 12));
        registry.register_with_unit(
            "plugin_memory",
            "The plugin's linear memory at the end of each of this worker's syncs: its peak, most of what a running sync costs",
            prometheus_client::registry::Unit::Bytes,
            plugin_memory.clone(),
        );
        let records = Family::<KindLabel, Counter>::default();
        registry.register(
            "records_stored",
            "Assets and findings this worker's syncs stored (new or changed)",
            records.clone(),
        );
        let claims = Counter::default();
        registry.register(
            "claims",
            "Due auto syncs this worker claimed",
            claims.clone(),
        );
        let takeovers = Counter::default();
        registry.register(
            "lease_takeovers",
            "Claims that took over a sync a stopped worker left running",
            takeovers.clone(),
        );
        let running = Gauge::default();
        registry.register(
            "syncs_running",
            "Syncs running on this worker",
            running.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Auto syncs due and not running, fleet-wide, when scraped",
            queue_depth.clone(),
        );
        let workers = Family::<StateLabel, Gauge>::default();
        registry.register(
            "workers",
            "Workers the store lists, by state, when scraped",
            workers.clone(),
        );
        Metrics {
            registry,
            runs,
            run_seconds,
            plugin_memory,
            records,
            claims,
            takeovers,
            running,
            queue_depth,
            workers,
        }
    }
}

impl Metrics {
    /// A sync started on this worker.
    pub fn run_started(&self) {
        self.running.inc();
    }

    /// A sync that started here ended with `status` after `took`, having stored `counts`.
    pub fn run_ended(&self, status: RunStatus, took: Duration, counts: &RunCounts) {
        self.running.dec();
        self.runs
            .get_or_create(&StatusLabel {
                status: status.as_str().into(),
            })
            .inc();
        self.run_seconds.observe(took.as_secs_f64());
        let assets = counts.assets_onboarded + counts.assets_updated;
        let findings = counts.findings_new + counts.findings_updated;
        self.records
            .get_or_create(&KindLabel { kind: "asset" })
            .inc_by(assets);
        self.records
            .get_or_create(&KindLabel { kind: "finding" })
            .inc_by(findings);
    }

    /// A sync's plugin returned holding `bytes` of linear memory.
    pub fn plugin_memory(&self, bytes: u64) {
        self.plugin_memory.observe(bytes as f64);
    }

    /// A sync that started here could not finish (its store failed, its lease was lost).
    pub fn run_aborted(&self) {
        self.running.dec();
    }

    /// This worker claimed `claims` due syncs, `takeovers` of them left by a stopped worker.
    pub fn claimed(&self, claims: u64, takeovers: u64) {
        self.claims.inc_by(claims);
        self.takeovers.inc_by(takeovers);
    }

    /// The text exposition, with the fleet's gauges as the store gives them now: `due`
    /// syncs waiting, and `workers` as (state, how many).
    pub fn render(&self, due: u64, workers: &[(String, u64)]) -> String {
        self.queue_depth.set(i64::try_from(due).unwrap_or(i64::MAX));
        self.workers.clear();
        for (state, n) in workers {
            self.workers
                .get_or_create(&StateLabel {
                    state: state.clone(),
                })
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_counts_runs_records_claims_and_the_fleet() {
        let metrics = Metrics::default();
        metrics.run_started();
        metrics.run_started();
        let counts = RunCounts {
            assets_onboarded: 2,
            findings_new: 5,
            findings_updated: 1,
            findings_unchanged: 7,
            ..Default::default()
        };
        metrics.run_ended(RunStatus::Succeeded, Duration::from_secs(3), &counts);
        metrics.plugin_memory(3 << 20);
        metrics.claimed(3, 1);
        let text = metrics.render(4, &[("active".into(), 2), ("lost".into(), 1)]);
        for line in [
            "connector_runs_total{status=\"succeeded\"} 1",
            "connector_run_duration_seconds_count 1",
            "connector_plugin_memory_bytes_count 1",
            "connector_plugin_memory_bytes_bucket{le=\"4194304.0\"} 1",
            "connector_plugin_memory_bytes_bucket{le=\"2097152.0\"} 0",
            "connector_records_stored_total{kind=\"finding\"} 6",
            "connector_records_stored_total{kind=\"asset\"} 2",
            "connector_claims_total 3",
            "connector_lease_takeovers_total 1",
            "connector_syncs_running 1",
            "connector_queue_depth 4",
            "connector_workers{state=\"active\"} 2",
            "connector_workers{state=\"lost\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
        // A state no worker is in any more is not reported as still holding some.
        let text = metrics.render(0, &[("active".into(), 2)]);
        assert!(!text.contains("state=\"lost\""), "{text}");
    }
}
