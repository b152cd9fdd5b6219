//! Sync Now, the status of a sync with its progress (also as a server-sent event
//! stream), and history.

use super::{Checked, DEFAULT_LIMIT};
use crate::service::{ErrorKind, HistoryPage, SyncStatus};
use crate::store::SyncRequested;
use crate::web::auth::{Admin, Caller};
use crate::web::problem::Problem;
use crate::web::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::time::Duration;

/// How often the event stream looks at a running sync.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// How to sync.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncNow {
    /// Read everything instead of the changes since the last sync.
    #[serde(default)]
    full: bool,
}

/// What a Sync Now request did, and where the integration's syncs stand after it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SyncAccepted {
    /// Queued for the first free worker, or joined the sync waiting or running.
    request: SyncRequested,
    /// Where the syncs stand.
    #[serde(flatten)]
    status: SyncStatus,
}

/// Asks for a sync (Sync Now): the first free worker runs it, and a second request while
/// one waits or runs joins it. Follow it with the status or the event stream.
#[utoipa::path(post, path = "/integrations/{name}/sync", params(("name" = String, Path, description = "Integration name")),
    request_body(content = Option<SyncNow>, description = "Optional; `{}` or no body syncs the changes"),
    responses(
    (status = 202, body = SyncAccepted),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
pub async fn start(
    admin: Admin,
    State(state): State<AppState>,
    Checked(Path(name)): Checked<Path<String>>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<SyncAccepted>), Problem> {
    // The body is optional: none (or `{}`) syncs the changes.
    let full = match body.iter().all(u8::is_ascii_whitespace) {
        true => false,
        false => {
            serde_json::from_slice::<SyncNow>(&body)
                .map_err(|e| Problem::invalid(format!("the body is not a sync request: {e}")))?
                .full
        }
    };
    let syncs = state.platform.syncs();
    let request = syncs.request(&name, &admin.user.name, full).await?;
    let status = syncs.status(&name).await?;
    Ok((StatusCode::ACCEPTED, Json(SyncAccepted { request, status })))
}

/// Cancels the integration's sync wherever it runs (it stops at its next batch, keeping
/// what it stored), and drops its queued Sync Now.
#[utoipa::path(delete, path = "/integrations/{name}/sync", params(("name" = String, Path, description = "Integration name")), responses(
    (status = 202, body = SyncStatus, description = "Asked to stop; it stops within seconds"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json", description = "No such integration, or nothing of it running or queued"),
))]
pub async fn cancel(
    _admin: Admin,
    State(state): State<AppState>,
    Checked(Path(name)): Checked<Path<String>>,
) -> Result<(StatusCode, Json<SyncStatus>), Problem> {
    let syncs = state.platform.syncs();
    if !syncs.cancel(&name).await? {
        return Err(Problem::new(
            ErrorKind::NotFound,
            format!("integration `{name}` has no sync running or queued"),
        ));
    }
    Ok((StatusCode::ACCEPTED, Json(syncs.status(&name).await?)))
}

/// Where the integration's syncs stand: the one running (on any worker) with its
/// progress, the Sync Now queued, and the newest in history.
#[utoipa::path(get, path = "/integrations/{name}/sync", params(("name" = String, Path, description = "Integration name")), responses(
    (status = 200, body = SyncStatus),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
pub async fn status(
    _caller: Caller,
    State(state): State<AppState>,
    Checked(Path(name)): Checked<Path<String>>,
) -> Result<Json<SyncStatus>, Problem> {
    Ok(Json(state.platform.syncs().status(&name).await?))
}

/// One server-sent event of a sync's stream, as the stream's schema describes it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Describes the stream; the events are written by `Event`.
pub struct SyncEvent {
    /// `progress`, `finished` or `error`.
    event: String,
    /// A [`SyncStatus`] as JSON (for `error`, the reason).
    data: String,
}

/// The sync's progress as server-sent events: `progress` (a [`SyncStatus`]) while it is
/// queued or runs, on whichever worker, then one `finished` (the [`SyncStatus`] with its
/// history row) and the end.
#[utoipa::path(get, path = "/integrations/{name}/sync/events", params(("name" = String, Path, description = "Integration name")), responses(
    (status = 200, content_type = "text/event-stream", body = SyncEvent, description = "`progress` events, then `finished`"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 429, body = Problem, content_type = "application/problem+json", description = "Too many event streams open"),
))]
pub async fn events(
    caller: Caller,
    State(state): State<AppState>,
    Checked(Path(name)): Checked<Path<String>>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    // A missing integration is a 404 now, not an empty stream.
    state.platform.syncs().status(&name).await?;
    // Held by the stream until it ends (with its sync) or its client leaves.
    let slot = state
        .streams
        .take(&caller)
        .map_err(|e| Problem::too_many_streams(e.to_string()))?;
    let stream = futures_util::stream::unfold(Some((state, name, true)), |step| async move {
        let (state, name, first) = step?;
        if !first {
            tokio::time::sleep(PROGRESS_INTERVAL).await;
        }
        let event = |kind: &str, status: &SyncStatus| {
            Event::default()
                .event(kind)
                .json_data(status)
                .unwrap_or_else(|_| Event::default().event(kind))
        };
        match state.platform.syncs().status(&name).await {
            Ok(status) if status.running.is_some() || status.queued.is_some() => {
                Some((Ok(event("progress", &status)), Some((state, name, false))))
            }
            Ok(status) => Some((Ok(event("finished", &status)), None)),
            Err(e) => Some((
                Ok(Event::default().event("error").data(e.to_string())),
                None,
            )),
        }
    });
    let stream = futures_util::StreamExt::map(stream, move |event| {
        let _held = &slot;
        event
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Which rows of a history.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Rows to pass over, newest first (default 0).
    #[param(minimum = 0)]
    offset: Option<u64>,
    /// Rows per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<usize>,
}

/// A page of the integration's history, newest first: tests, syncs and settings changes.
#[utoipa::path(get, path = "/integrations/{name}/history", params(("name" = String, Path, description = "Integration name"), HistoryParams), responses(
    (status = 200, body = HistoryPage),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
pub async fn history(
    _caller: Caller,
    State(state): State<AppState>,
    Checked(Path(name)): Checked<Path<String>>,
    Checked(Query(params)): Checked<Query<HistoryParams>>,
) -> Result<Json<HistoryPage>, Problem> {
    let page = state
        .platform
        .history()
        .page(
            &name,
            params.offset.unwrap_or(0),
            params.limit.unwrap_or(DEFAULT_LIMIT),
        )
        .await?;
    Ok(Json(page))
}
