//! The Wiz simulator: a local server speaking Wiz's token endpoint and GraphQL API over
//! deterministic, realistic data, for the end-to-end tests, the demo and the benchmarks.
#![deny(missing_docs)]

pub mod data;
pub mod server;

pub use data::{Expected, Tenant};
pub use server::{SimConfig, router};

use std::net::SocketAddr;
use std::sync::Arc;

/// A simulator serving on a loopback port from its own thread; stops when dropped.
pub struct Simulator {
    addr: SocketAddr,
    sim: Arc<server::Sim>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Simulator {
    /// Starts a simulator on 127.0.0.1 with a free port.
    pub fn start(config: SimConfig) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (router, sim) = router(config);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("wiz-sim".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("simulator runtime");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("simulator listener");
                    let _ = axum::serve(listener, router)
                        .with_graceful_shutdown(async {
                            let _ = rx.await;
                        })
                        .await;
                });
            })?;
        Ok(Simulator {
            addr,
            sim,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token endpoint.
    pub fn auth_url(&self) -> String {
        format!("{}/oauth/token", self.base_url())
    }

    /// The API URL as a user would paste it (without `/graphql`).
    pub fn api_url(&self) -> String {
        self.base_url()
    }

    /// Request counters.
    pub fn stats(&self) -> &server::Stats {
        &self.sim.stats
    }

    /// Changes issue `index`'s status now, as a person would in Wiz (REJECTED is Wiz's
    /// "Ignore").
    pub fn set_issue_status(&self, index: u64, status: &str, resolution_reason: Option<&str>) {
        let at = chrono_like_now();
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
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The current time as RFC 3339 with microseconds, like Wiz's timestamps.
fn chrono_like_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    data::rfc3339_micros(now.as_secs(), now.subsec_micros())
}
