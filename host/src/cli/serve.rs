//! `serve`: the auto-sync scheduler and the HTTP API, until SIGINT or SIGTERM.

use super::context::Context;
use anyhow::Context as _;
use clap::Args;
use connector_host::clock::{Clock, FileClock};
use connector_host::schedule::{DEFAULT_SYNC_TIME, SyncTime};
use connector_host::scheduler::{Scheduler, SchedulerConfig};
use connector_host::web::{self, Exposure, WebConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Time of day of auto syncs, HH:MM UTC.
    #[arg(long, default_value = DEFAULT_SYNC_TIME, value_parser = clap::value_parser!(SyncTime))]
    sync_time: SyncTime,
    /// Syncs running at once across all integrations [default: the CPU count]. A sync
    /// waiting on a slow API holds memory (a few MiB) but no thread, so this may go well
    /// past the cores for latency-bound tenants; at most 4096.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    max_concurrent_syncs: Option<u32>,
    /// Minutes before retrying an auto sync that failed transiently (network, throttling,
    /// server errors); the wait doubles per retry. Auth, permission and config failures wait
    /// for the next slot.
    #[arg(long, default_value_t = 15.0, value_parser = retry_minutes)]
    retry_after_minutes: f64,
    /// Retries of a transiently failed auto sync before it waits for the next slot.
    #[arg(long, default_value_t = 3)]
    max_retries: u32,
    /// Read "now" from this file (an RFC 3339 time) instead of the system clock; for tests.
    #[arg(long, hide = true)]
    clock_file: Option<PathBuf>,
    /// How often to look for due syncs, in milliseconds.
    #[arg(long, hide = true, default_value_t = 1000)]
    poll_interval_ms: u64,
    /// Address of the HTTP API (and console).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Run the scheduler alone, without the HTTP API.
    #[arg(long, conflicts_with_all = ["listen", "insecure_http", "tls_cert"])]
    no_http: bool,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, requires = "tls_key", value_name = "PEM")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert", value_name = "PEM")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a public address (every interface included). Without it,
    /// such an address is refused: tokens and cookies would cross the network in clear.
    #[arg(long, conflicts_with = "tls_cert")]
    insecure_http: bool,
    /// Hours a console login lasts.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..=720))]
    session_hours: u64,
    /// Most HTTP connections open at once; more wait until one closes. Kept below the
    /// process's file-descriptor limit (raised to its hard limit at start), so plugins'
    /// connections and the database always have descriptors left.
    #[arg(long, default_value_t = web::DEFAULT_MAX_CONNECTIONS as u64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,
    /// A reverse proxy whose forwarded headers are believed: an address or CIDR block,
    /// repeatable. Requests from it count by the client address it forwards, and a
    /// forwarded `https` counts as TLS (Secure cookie, HSTS). Without it, those headers
    /// are ignored.
    #[arg(long = "trusted-proxy", value_name = "CIDR", value_parser = web::parse_trusted_proxy)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// The one header the trusted proxies put the client in: `x-forwarded-for` (with
    /// `X-Forwarded-Proto`) or RFC 7239 `forwarded`. The other is ignored, so a client
    /// cannot add it.
    #[arg(long, value_enum, default_value_t = web::ProxyHeader::XForwardedFor)]
    proxy_header: web::ProxyHeader,
    /// Serve `/metrics` for Prometheus, without credentials, on this address too (on the
    /// main listener it wants a user's token). Only for a network the scraper alone
    /// reaches: the counts name no integration, but anyone there can read them.
    #[arg(long, value_name = "ADDRESS")]
    metrics_listen: Option<SocketAddr>,
    /// Milliseconds a failed login waits before it is answered.
    #[arg(long, hide = true, default_value_t = 1000)]
    failed_login_delay_ms: u64,
}

pub async fn serve(ctx: &Context, args: ServeArgs) -> anyhow::Result<()> {
    // The store first, so a wrong --db fails before plugins compile.
    let platform = Arc::new(ctx.platform().await?.with_sync_time(args.sync_time));
    platform.key().await?;
    let (_, failed) = platform.plugin_versions().list_with_failures().await?;
    for (file, error) in &failed {
        eprintln!("warning: {} not loaded: {error}", file.display());
    }
    // Due times come from the store's clock, the one every worker agrees on.
    let clock = args
        .clock_file
        .map(|path| Arc::new(FileClock(path)) as Arc<dyn Clock>);
    let max_concurrent = args
        .max_concurrent_syncs
        .map(|n| n as usize)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let stop = Arc::new(stop);
    let http = match args.no_http {
        true => None,
        false => {
            super::users::bootstrap_admin(&platform).await?;
            // The certificate first: a wrong file is the operator's to fix before anything binds.
            let tls = match (&args.tls_cert, &args.tls_key) {
                (Some(cert), Some(key)) => Some(web::server_config(cert, key)?),
                _ => None,
            };
            if tls.is_none() {
                warn_of_plain_http(args.listen, args.insecure_http)?;
            }
            let pending = match tls {
                Some(_) => web::TLS_PENDING_CONNECTIONS,
                None => 0,
            };
            let limits = web::ConnectionLimits {
                max_connections: connection_cap(args.max_connections as usize, pending),
                ..Default::default()
            };
            let listener = tokio::net::TcpListener::bind(args.listen)
                .await
                .with_context(|| format!("cannot listen on {}", args.listen))?;
            let address = listener.local_addr()?;
            let router = web::router(
                platform.clone(),
                WebConfig {
                    session_lifetime: Duration::from_secs(args.session_hours * 3600),
                    https: tls.is_some(),
                    failed_login_delay: Duration::from_millis(args.failed_login_delay_ms),
                    trusted_proxies: args.trusted_proxies.clone(),
                    proxy_header: args.proxy_header,
                },
            );
            let mut stopped = stopped.clone();
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            let scheme = if tls.is_some() { "https" } else { "http" };
            eprintln!(
                "serve: console on {scheme}://{address}/, HTTP API on {scheme}://{address}/api/v1/"
            );
            Some(match tls {
                Some(config) => {
                    let listener = web::TlsListener::new(listener, config)?;
                    tokio::spawn(web::serve(listener, router, shutdown, limits))
                }
                None => tokio::spawn(web::serve(listener, router, shutdown, limits)),
            })
        }
    };
    let metrics = match args.metrics_listen {
        None => None,
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address} for metrics"))?;
            eprintln!(
                "serve: metrics on http://{}/metrics",
                listener.local_addr()?
            );
            let router = web::metrics_router(platform.clone());
            let mut stopped = stopped.clone();
            Some(tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    })
                    .await
            }))
        }
    };
    let scheduler = Scheduler {
        platform,
        clock,
        config: SchedulerConfig {
            sync_time: args.sync_time,
            max_concurrent,
            poll: Duration::from_millis(args.poll_interval_ms.max(10)),
            retry_delay: Duration::from_secs_f64(args.retry_after_minutes * 60.0),
            max_retries: args.max_retries,
        },
    };
    eprintln!(
        "serve: auto syncs at {} UTC, at most {max_concurrent} at once; stop with Ctrl-C or SIGTERM",
        args.sync_time
    );
    let mut scheduler_stopped = stopped.clone();
    let signal = {
        let stop = stop.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        })
    };
    let scheduled = scheduler
        .run(async move {
            let _ = scheduler_stopped.wait_for(|s| *s).await;
        })
        .await;
    signal.abort();
    let _ = stop.send(true);
    if let Some(metrics) = metrics {
        metrics.await?.context("the metrics listener failed")?;
    }
    if let Some(http) = http {
        // The scheduler stopped on the signal (or failed): stop serving as well.
        let _ = stop.send(true);
        http.await?.context("the HTTP server failed")?;
    }
    scheduled?;
    eprintln!("serve: stopped");
    Ok(())
}

/// File descriptors kept for everything but HTTP connections: plugins' connections, the
/// database, compiled plugins, logs.
const RESERVED_DESCRIPTORS: u64 = 256;

/// Raises the file-descriptor limit to its hard limit and returns the connection cap:
/// `wanted`, or less when the limit leaves no room for it beside the reserve and the
/// `pending` connections a TLS listener may hold before they are served.
fn connection_cap(wanted: usize, pending: usize) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return wanted;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        limit.rlim_cur
    };
    let reserved = RESERVED_DESCRIPTORS + pending as u64;
    let room = usize::try_from(soft.saturating_sub(reserved).max(16)).unwrap_or(usize::MAX);
    if wanted > room {
        eprintln!(
            "warning: at most {room} HTTP connections at once, not {wanted}: the file-descriptor limit is {soft}"
        );
    }
    wanted.min(room)
}

/// The longest first retry delay, in minutes: a day. Auto syncs come daily at most.
const MAX_RETRY_MINUTES: f64 = 24.0 * 60.0;

/// `--retry-after-minutes`: a finite number of minutes from 0 to a day.
fn retry_minutes(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(minutes) if (0.0..=MAX_RETRY_MINUTES).contains(&minutes) => Ok(minutes),
        _ => Err(format!(
            "`{text}` is not a number of minutes from 0 to {MAX_RETRY_MINUTES}"
        )),
    }
}

/// Warns of plain HTTP off loopback; refuses it on a public address unless asked for.
fn warn_of_plain_http(listen: SocketAddr, insecure_http: bool) -> anyhow::Result<()> {
    match Exposure::of(listen.ip()) {
        Exposure::Loopback => {}
        Exposure::Private => eprintln!(
            "warning: serving plain HTTP on {listen}: tokens and cookies cross the network in clear; pass --tls-cert and --tls-key"
        ),
        Exposure::Public if !insecure_http => anyhow::bail!(
            "refusing plain HTTP on the public address {listen}: pass --tls-cert and --tls-key, listen on 127.0.0.1 behind a TLS proxy, or pass --insecure-http"
        ),
        Exposure::Public => eprintln!(
            "warning: serving plain HTTP on the public address {listen} (--insecure-http)"
        ),
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
