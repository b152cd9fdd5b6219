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
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter(verbose)));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
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
}
