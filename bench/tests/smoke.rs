//! The benchmark harness at tiny sizes, so it cannot rot: every scenario runs against the
//! real host and components, every metric lands in results.json, and the figures are
//! physically possible.

use std::path::PathBuf;
use std::process::Command;

/// An artefact the test suite's runner (`cargo xtask test`) builds and names.
fn built(var: &str) -> PathBuf {
    PathBuf::from(
        std::env::var(var)
            .unwrap_or_else(|_| panic!("{var} is not set; run the suite with `cargo xtask test`")),
    )
}

const METRICS: &[&str] = &[
    "sync_100k_wall_s",
    "sync_100k_findings_per_s",
    "sync_100k_cpu_s",
    "sync_100k_peak_rss_mib",
    "sync_10k_peak_rss_mib",
    "latency_wall_s",
    "latency_bound_s",
    "concurrent_50_wall_s",
    "concurrent_50_peak_rss_mib",
    "start_cold_ms",
    "start_cold_trace_ratio",
    "start_cold_trace_log_kib",
    "start_warm_ms",
    "instantiate_ms",
    "wasm_native_cpu_ratio",
    "console_store_findings",
    "console_findings_first_page_median_ms",
    "console_findings_first_page_p95_ms",
    "console_findings_filtered_page_p95_ms",
    "console_findings_api_page_p95_ms",
    "console_assets_first_page_p95_ms",
];

#[test]
fn smoke_run_writes_every_metric() {
    let out = tempfile::tempdir().unwrap();
    let plugins = built("TEST_PLUGINS_DIR");
    let status = Command::new(env!("CARGO_BIN_EXE_connector-bench"))
        .arg("--smoke")
        .arg("--host-bin")
        .arg(built("CONNECTOR_HOST_BIN"))
        .arg("--plugin")
        .arg(plugins.join("wiz.wasm"))
        .arg("--parse-page")
        .arg(built("BENCH_COMPONENT"))
        .arg("--out")
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(out.path().join("results.json")).unwrap();
    let results: serde_json::Value = serde_json::from_str(&text).unwrap();
    let value = |k: &str| {
        results[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{k} missing or not a number in {text}"))
    };
    for metric in METRICS {
        assert!(
            value(metric) > 0.0,
            "{metric} = {} in {text}",
            value(metric)
        );
    }
    // PostgreSQL is measured beside SQLite unless its tests are skipped on this machine.
    if std::env::var("CONNECTOR_HOST_SKIP_POSTGRES").as_deref() != Ok("1") {
        for metric in [
            "sync_100k_pg_wall_s",
            "sync_100k_pg_stored_per_s",
            "sync_100k_pg_peak_rss_mib",
            "sync_100k_pg_vs_sqlite_stored_ratio",
        ] {
            assert!(value(metric) > 0.0, "{metric} in {text}");
        }
    }
    // No sync beats the chain of requests the API forces.
    assert!(
        value("latency_wall_s") >= value("latency_bound_s"),
        "{text}"
    );
    // -vvv raises our own log only: a cold start's compile logs little.
    assert!(value("start_cold_trace_log_kib") < 1024.0, "{text}");
    // Peak memory cannot be below the baseline of an idle host.
    assert!(value("sync_100k_peak_rss_mib") > 5.0, "{text}");
    let findings = value("sync_100k_findings_read");
    assert!(findings > value("sync_100k_findings"), "{text}");
    let rate_times_wall = value("sync_100k_findings_per_s") * value("sync_100k_wall_s");
    assert!(
        (rate_times_wall - findings).abs() < 1e-6 * findings,
        "{text}"
    );
}
