//! The workers sharing the store: their heartbeats, states and what each runs.

use super::{nav, time, to_page};
use crate::web::console::views::{WorkerLine, WorkersPage};
use crate::web::console::{Page, Viewer};
use crate::web::state::AppState;
use axum::extract::State;
use axum::response::Response;

pub async fn list(viewer: Viewer, State(state): State<AppState>) -> Response {
    let workers = match state.platform.workers().list().await {
        Ok(workers) => workers,
        Err(e) => return to_page(e),
    };
    Page::render(&WorkersPage {
        nav: nav(&viewer, "workers"),
        workers: workers
            .into_iter()
            .map(|w| WorkerLine {
                state: w.state.as_str(),
                heartbeat: time(&w.row.heartbeat_at),
                started: time(&w.row.started_at),
                id: w.row.id,
                host: w.row.host,
                pid: w.row.pid,
                version: w.row.version,
                running: w.row.running,
            })
            .collect(),
    })
}
