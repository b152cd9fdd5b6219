//! Logging to stderr: `-v` raises our own targets, RUST_LOG overrides, colour only on a
//! terminal.

/// Log targets of our own: the host (library and binary share the crate name), the
/// lines plugins write through `log`, and the sandbox's record of outgoing requests.
const OWN_TARGETS: [&str; 3] = ["connector_host", "plugin", "sandbox"];

/// The log filter for `-v` repeated `verbose` times: our own targets at the chosen level,
/// everything else (wasmtime, Cranelift, hyper, …) at warn, whose traces would otherwise
/// run to gigabytes while a plugin compiles.
fn default_filter(verbose: u8) -> String {
    let level = match verbose {
        0 => return "warn".into(),
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    std::iter::once("warn".to_string())
        .chain(OWN_TARGETS.iter().map(|t| format!("{t}={level}")))
        .collect::<Vec<_>>()
        .join(",")
}

/// Sets up logging to stderr: `-v` levels, or RUST_LOG when set; colours only on a
/// terminal (and never with NO_COLOR set).
pub fn init(verbose: u8) {
    use std::io::IsTerminal as _;
    use tracing_log::AsLog as _;
    use tracing_subscriber::EnvFilter;
    let from_env = EnvFilter::try_from_default_env().ok();
    // Libraries that log through the `log` crate (Cranelift above all) test one global
    // level before they build a record, and the bridge into tracing filters only after.
    // That level stays at warn unless RUST_LOG asks for more: our own crates log through
    // tracing, and a compile at -vvv then costs what it costs without.
    let log_level = from_env
        .as_ref()
        .and_then(EnvFilter::max_level_hint)
        .unwrap_or(tracing::level_filters::LevelFilter::WARN);
    let filter = from_env.unwrap_or_else(|| EnvFilter::new(default_filter(verbose)));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .finish();
    // Both fail only when logging was set up already, which leaves that one in place.
    let _ = tracing::subscriber::set_global_default(subscriber);
    let _ = tracing_log::LogTracer::builder()
        .with_max_level(log_level.as_log())
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_raises_our_targets_only() {
        assert_eq!(default_filter(0), "warn");
        assert_eq!(
            default_filter(1),
            "warn,connector_host=info,plugin=info,sandbox=info"
        );
        assert_eq!(
            default_filter(7),
            "warn,connector_host=trace,plugin=trace,sandbox=trace"
        );
        for v in 0..4 {
            assert!(tracing_subscriber::EnvFilter::try_new(default_filter(v)).is_ok());
        }
    }

    #[test]
    fn libraries_stay_at_warn_at_every_verbosity() {
        use tracing::Level;
        use tracing_subscriber::layer::SubscriberExt as _;
        for verbose in 0..4u8 {
            let filter = tracing_subscriber::EnvFilter::new(default_filter(verbose));
            let subscriber = tracing_subscriber::registry().with(filter);
            tracing::subscriber::with_default(subscriber, || {
                assert!(!tracing::enabled!(target: "cranelift_codegen::machinst", Level::INFO));
                assert!(!tracing::enabled!(target: "wasmtime_wasi_http", Level::DEBUG));
                assert!(tracing::enabled!(target: "wasmtime", Level::WARN));
                assert_eq!(
                    tracing::enabled!(target: "connector_host::runner", Level::DEBUG),
                    verbose >= 2,
                    "-v x{verbose}"
                );
                assert_eq!(
                    tracing::enabled!(target: "plugin", Level::INFO),
                    verbose >= 1,
                    "-v x{verbose}"
                );
                assert_eq!(
                    tracing::enabled!(target: "sandbox", Level::TRACE),
                    verbose >= 3,
                    "-v x{verbose}"
                );
            });
        }
    }
}
