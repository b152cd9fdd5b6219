//! `wiz-sim`: run the Wiz simulator on a local port until interrupted.

use clap::Parser;

/// A local stand-in for a Wiz tenant: OAuth token endpoint and GraphQL API.
#[derive(Debug, Parser)]
#[command(name = "wiz-sim", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8089")]
    listen: std::net::SocketAddr,
    /// Number of issues in the tenant.
    #[arg(long, default_value_t = 1200)]
    issues: u64,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    token_lifetime_s: u64,
    /// Delay added to every GraphQL answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = wiz_sim::SimConfig::new(args.seed, args.issues);
    config.token_lifetime = std::time::Duration::from_secs(args.token_lifetime_s);
    config.latency = std::time::Duration::from_millis(args.latency_ms);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let mut banner = format!(
        "wiz-sim listening on http://{} ({} issues, seed {})\n",
        listener.local_addr()?,
        args.issues,
        args.seed
    );
    for account in &config.accounts {
        banner.push_str(&format!(
            "  account {} / {} scopes [{}]\n",
            account.client_id,
            account.client_secret,
            account.scopes.join(", ")
        ));
    }
    // A closed stdout must not stop the server.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), banner.as_bytes());
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let (router, _sim) = wiz_sim::router(config);
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
