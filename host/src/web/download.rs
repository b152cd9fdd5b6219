//! A file to download, streamed as it is produced: an export of any size goes out a page
//! at a time, the same way from the console and the API.

use crate::service::ServiceError;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::Stream;

/// `chunks` as a download of `content_type` named `filename`. A failure after the first
/// chunk ends the body early: the client sees a cut download, never a half page of HTML.
pub fn download(
    chunks: impl Stream<Item = Result<Bytes, ServiceError>> + Send + 'static,
    content_type: &'static str,
    filename: &'static str,
) -> Response {
    let disposition = format!("attachment; filename=\"{filename}\"");
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(chunks),
    )
        .into_response()
}
