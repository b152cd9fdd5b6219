//! Logging to stderr: `-v` raises our own targets, RUST_LOG overrides, colour only on a
//! terminal.

/// Log targets of our own: the host (library and binary share the crate name), the
/// lines plugins write through `log`, and the sandbox's record of outgoing requests.
const OWN_TARGETS: [&str; 3] = ["connector_host", "plugin", "sandbox"];

use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

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

/// Whether an event carries plugin data that must never be logged: wasmtime's generated
/// bindings trace every argument a plugin passes to a host import, and every result (a
/// request path, a header, a log line before it is scrubbed), inside a span named
/// `wit-bindgen import`. Any of it may hold a secret, so none of it is written, whatever
/// RUST_LOG asks; our own events inside such a call (the sandbox's) still are.
fn is_plugin_data<S>(meta: &tracing::Metadata<'_>, cx: &Context<'_, S>) -> bool
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let own = OWN_TARGETS.iter().any(|t| {
        meta.target()
            .strip_prefix(t)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    });
    meta.is_event()
        && !own
        && cx
            .lookup_current()
            .is_some_and(|span| span.scope().any(|s| s.name().starts_with("wit-bindgen")))
}

/// The subscriber: `filter` picks what is logged, plugin data never is, lines go to
/// `writer`.
fn subscriber<W>(
    filter: tracing_subscriber::EnvFilter,
    writer: W,
    colour: bool,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::{Layer as _, filter::dynamic_filter_fn, fmt};
    let lines = fmt::layer()
        .with_writer(writer)
        .with_ansi(colour)
        .with_target(false)
        .with_filter(dynamic_filter_fn(|meta, cx| !is_plugin_data(meta, cx)));
    tracing_subscriber::registry().with(filter).with(lines)
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
    // Both fail only when logging was set up already, which leaves that one in place.
    let _ = tracing::subscriber::set_global_default(subscriber(filter, std::io::stderr, colour));
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
    fn what_a_plugin_passes_to_an_import_is_never_logged() {
        use std::sync::{Arc, Mutex};
        let written = Arc::new(Mutex::new(Vec::<u8>::new()));
        let writer = {
            let sink = written.clone();
            move || Capture(sink.clone())
        };
        let everything = || tracing_subscriber::EnvFilter::new("trace");
        tracing::subscriber::with_default(subscriber(everything(), writer.clone(), false), || {
            let call = tracing::trace_span!("wit-bindgen import", function = "set-path");
            let _inside = call.enter();
            tracing::trace!(target: "wasmtime_wasi_http::p2::bindings", path = "/hunter22", "call");
            tracing::debug!(target: "sandbox", "request leaves the sandbox");
        });
        tracing::subscriber::with_default(
            subscriber(everything(), writer, false),
            || tracing::trace!(target: "wasmtime_wasi_http::p2", "outside a call"),
        );
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("hunter22"), "{text}");
        assert!(text.contains("request leaves the sandbox"), "{text}");
        assert!(text.contains("outside a call"), "{text}");
    }

    /// Collects what a subscriber writes.
    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
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
