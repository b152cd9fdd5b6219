//! A file to download, streamed as it is produced: an export of any size goes out a page
//! at a time, the same way from the console and the API.

use crate::service::{ExportFormat, ServiceError};
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::Stream;

/// `chunks` of `format` as a download named `{name}.csv` or `{name}.json`. A failure
/// after the first chunk ends the body early: the client sees a cut download, never a
/// half page of HTML.
pub fn download(
    chunks: impl Stream<Item = Result<Bytes, ServiceError>> + Send + 'static,
    format: ExportFormat,
    name: &'static str,
) -> Response {
    let (content_type, extension) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Json => ("application/json", "json"),
    };
    let disposition = format!("attachment; filename=\"{name}.{extension}\"");
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(chunks),
    )
        .into_response()
}
